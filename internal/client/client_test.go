package client

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"
)

const testToken = "s3cret"

// writeErr writes the API's error shape.
func writeErr(w http.ResponseWriter, status int, code, message string, details any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": code, "message": message, "details": details}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// fakeAPI is a minimal stand-in for the management API: it checks the
// token like the real one and answers the shapes the client decodes.
func fakeAPI(t *testing.T, routes map[string]http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(fakeHandler(routes))
	t.Cleanup(srv.Close)
	return srv
}

// fakeHandler is fakeAPI's handler.
func fakeHandler(routes map[string]http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+testToken {
			writeErr(w, http.StatusUnauthorized, "unauthorized", "invalid token", nil)
			return
		}
		h, ok := routes[r.Method+" "+r.URL.Path]
		if !ok {
			writeErr(w, http.StatusNotFound, "not_found", "no route "+r.URL.Path, nil)
			return
		}
		h(w, r)
	})
}

// roundTripFunc is an http.RoundTripper made of a function.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// inProcess is an HTTP client that hands each request straight to h, with
// no network between: in a testing/synctest bubble, a connection's
// goroutine waiting on its socket would keep the fake clock from moving.
func inProcess(h http.Handler) *http.Client {
	return &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		return rec.Result(), nil
	})}
}

func TestErrors(t *testing.T) {
	srv := fakeAPI(t, map[string]http.HandlerFunc{
		"GET /api/plugins/missing": func(w http.ResponseWriter, _ *http.Request) {
			writeErr(w, http.StatusNotFound, "plugin_not_found", "plugin not found: missing", nil)
		},
		"GET /api/plugins/broken": func(w http.ResponseWriter, _ *http.Request) {
			writeErr(w, http.StatusUnprocessableEntity, "build_failed", "build x: a.go:1:2: boom",
				map[string]any{"diagnostics": []string{"a.go:1:2: boom"}, "output": "..."})
		},
		"GET /api/plugins/proxy": func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusBadGateway)
			io.WriteString(w, "upstream unavailable\n")
		},
		"GET /api/plugins/html": func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, "<html>oops</html>")
		},
		"GET /api/plugins/empty": func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusServiceUnavailable)
		},
	})
	tests := []struct {
		name    string
		token   string
		id      string
		want    APIError
		diags   []string
		wantMsg string
	}{
		{name: "bad token", token: "wrong", id: "missing", want: APIError{Status: 401, Code: "unauthorized", Message: "invalid token"}},
		{name: "no token", token: "", id: "missing", want: APIError{Status: 401, Code: "unauthorized", Message: "invalid token"}},
		{name: "api error", token: testToken, id: "missing", want: APIError{Status: 404, Code: "plugin_not_found", Message: "plugin not found: missing"}},
		{name: "details", token: testToken, id: "broken", want: APIError{Status: 422, Code: "build_failed", Message: "build x: a.go:1:2: boom"}, diags: []string{"a.go:1:2: boom"}},
		{name: "raw body", token: testToken, id: "proxy", want: APIError{Status: 502, Message: "upstream unavailable"}},
		{name: "html body", token: testToken, id: "html", want: APIError{Status: 500, Message: "HTTP 500 Internal Server Error"}},
		{name: "empty body", token: testToken, id: "empty", want: APIError{Status: 503, Message: "HTTP 503 Service Unavailable"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(srv.URL+"/", tt.token, srv.Client()).Get(context.Background(), tt.id)
			var got *APIError
			if !errors.As(err, &got) {
				t.Fatalf("err = %v (%T), want *APIError", err, err)
			}
			if got.Status != tt.want.Status || got.Code != tt.want.Code || got.Message != tt.want.Message {
				t.Errorf("got {%d %q %q}, want {%d %q %q}", got.Status, got.Code, got.Message, tt.want.Status, tt.want.Code, tt.want.Message)
			}
			if err.Error() != tt.want.Message {
				t.Errorf("Error() = %q, want %q", err.Error(), tt.want.Message)
			}
			if d := got.Diagnostics(); !reflect.DeepEqual(d, tt.diags) && (len(d) != 0 || len(tt.diags) != 0) {
				t.Errorf("Diagnostics() = %q, want %q", d, tt.diags)
			}
		})
	}
}

func TestCalls(t *testing.T) {
	var (
		mu   sync.Mutex
		seen []string
	)
	echo := func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.RequestURI()+" "+strings.TrimSpace(string(body)))
		mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"id": "p", "stats": map[string]any{"requests": uint64(18446744073709551615)}})
	}
	routes := map[string]http.HandlerFunc{}
	for _, r := range []string{
		"POST /api/plugins/load", "GET /api/plugins", "GET /api/plugins/a b", "DELETE /api/plugins/p",
		"POST /api/plugins/p/reload", "POST /api/plugins/p/enable", "POST /api/plugins/p/disable",
		"POST /api/plugins/p/update", "GET /api/plugins/p/status", "GET /api/plugins/p/configuration",
		"PUT /api/plugins/p/configuration", "GET /api/plugins/cache/info", "DELETE /api/plugins/cache",
		"GET /api/plugins/events",
	} {
		routes[r] = echo
	}
	c := New(fakeAPI(t, routes).URL, testToken, nil)
	ctx := context.Background()
	calls := []struct {
		call func() error
		want string
	}{
		{func() error {
			_, err := c.Install(ctx, apiv1.LoadRequest{Source: "/abs/hello", Version: "1.0.0"})
			return err
		}, `POST /api/plugins/load {"source":"/abs/hello","version":"1.0.0"}`},
		{func() error { _, err := c.List(ctx); return err }, "GET /api/plugins "},
		{func() error { _, err := c.Get(ctx, "a b"); return err }, "GET /api/plugins/a%20b "},
		{func() error { _, err := c.Unload(ctx, "p"); return err }, "DELETE /api/plugins/p "},
		{func() error { _, err := c.Reload(ctx, "p"); return err }, "POST /api/plugins/p/reload "},
		{func() error { _, err := c.Enable(ctx, "p"); return err }, "POST /api/plugins/p/enable "},
		{func() error { _, err := c.Disable(ctx, "p"); return err }, "POST /api/plugins/p/disable "},
		{func() error { _, err := c.Update(ctx, "p", "v2"); return err }, `POST /api/plugins/p/update {"version":"v2"}`},
		{func() error {
			st, err := c.Status(ctx, "p")
			if err == nil && st.Stats.Requests != 18446744073709551615 {
				t.Errorf("requests = %d, want every digit kept", st.Stats.Requests)
			}
			return err
		}, "GET /api/plugins/p/status "},
		{func() error { _, err := c.Config(ctx, "p"); return err }, "GET /api/plugins/p/configuration "},
		{func() error { _, err := c.SetConfig(ctx, "p", apiv1.ConfigValues{"n": 2}); return err }, `PUT /api/plugins/p/configuration {"n":2}`},
		{func() error { _, err := c.SetConfig(ctx, "p", nil); return err }, `PUT /api/plugins/p/configuration {}`},
		{func() error { _, err := c.CacheInfo(ctx); return err }, "GET /api/plugins/cache/info "},
		{func() error { _, err := c.PurgeCache(ctx); return err }, "DELETE /api/plugins/cache "},
		{func() error { _, err := c.Events(ctx, 7); return err }, "GET /api/plugins/events?since=7 "},
	}
	for _, tt := range calls {
		mu.Lock()
		seen = nil
		mu.Unlock()
		if err := tt.call(); err != nil {
			t.Fatalf("%s: %v", tt.want, err)
		}
		mu.Lock()
		if len(seen) != 1 || seen[0] != tt.want {
			t.Errorf("sent %q, want %q", seen, tt.want)
		}
		mu.Unlock()
	}
	if _, err := c.Get(ctx, ""); err == nil {
		t.Error("Get with no id: want an error")
	}
}

func TestUpload(t *testing.T) {
	archive := filepath.Join(t.TempDir(), "hello.tar.gz")
	content := strings.Repeat("archive bytes ", 300_000) // ~4 MB
	if err := os.WriteFile(archive, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	type part struct{ name, file string }
	var (
		mu    sync.Mutex
		parts []part
		query string
	)
	srv := fakeAPI(t, map[string]http.HandlerFunc{
		"POST /api/plugins/upload": func(w http.ResponseWriter, r *http.Request) {
			if r.ContentLength != -1 {
				t.Errorf("ContentLength = %d, want -1: a streamed body", r.ContentLength)
			}
			mr, err := r.MultipartReader()
			if err != nil {
				writeErr(w, 400, "invalid_request", err.Error(), nil)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			parts, query = nil, r.URL.RawQuery
			for {
				p, err := mr.NextPart()
				if err == io.EOF {
					break
				}
				if err != nil {
					writeErr(w, 400, "invalid_request", err.Error(), nil)
					return
				}
				data, _ := io.ReadAll(p)
				if p.FormName() == "plugin" && string(data) != content {
					t.Errorf("plugin part: got %d bytes, want the file's %d", len(data), len(content))
					data = nil
				}
				parts = append(parts, part{p.FormName() + "=" + map[bool]string{true: "<archive>", false: string(data)}[p.FormName() == "plugin"], p.FileName()})
			}
			switch r.URL.Query().Get("async") {
			case "true":
				writeJSON(w, http.StatusAccepted, map[string]any{"id": "op-1", "state": "running", "steps": []any{}})
			default:
				writeJSON(w, http.StatusCreated, map[string]any{"id": "abc", "digest": "sha256:00"})
			}
		},
	})
	c := New(srv.URL, testToken, srv.Client())
	ctx := context.Background()

	tests := []struct {
		name      string
		run       func() error
		wantParts []part
		wantQuery string
	}{
		{
			name: "keep, with checksum and signature",
			run: func() error {
				res, err := c.StoreUpload(ctx, archive, "sha256:ab", "c2ln")
				if err == nil && (res.ID != "abc" || res.Digest != "sha256:00") {
					t.Errorf("answer = %v", res)
				}
				return err
			},
			wantParts: []part{{"checksum=sha256:ab", ""}, {"signature=c2ln", ""}, {"plugin=<archive>", "hello.tar.gz"}},
			wantQuery: "install=false",
		},
		{
			name:      "install",
			run:       func() error { _, err := c.Upload(ctx, archive, "", ""); return err },
			wantParts: []part{{"plugin=<archive>", "hello.tar.gz"}},
		},
		{
			name: "async",
			run: func() error {
				op, err := c.UploadAsync(ctx, archive, "", "")
				if err == nil && (op.ID != "op-1" || op.State != apiv1.OpRunning) {
					t.Errorf("operation = %+v", op)
				}
				return err
			},
			wantParts: []part{{"plugin=<archive>", "hello.tar.gz"}},
			wantQuery: "async=true",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.run(); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if !reflect.DeepEqual(parts, tt.wantParts) || query != tt.wantQuery {
				t.Errorf("parts %q query %q, want %q query %q", parts, query, tt.wantParts, tt.wantQuery)
			}
		})
	}

	t.Run("missing file", func(t *testing.T) {
		if _, err := c.Upload(ctx, filepath.Join(t.TempDir(), "nope.zip"), "", ""); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("err = %v, want not exist", err)
		}
	})

	t.Run("refused before the body is read", func(t *testing.T) {
		srv := fakeAPI(t, map[string]http.HandlerFunc{
			"POST /api/plugins/upload": func(w http.ResponseWriter, _ *http.Request) {
				writeErr(w, http.StatusRequestEntityTooLarge, "policy_refused", "the upload is larger than the 10 bytes allowed", map[string]any{"rule": "max_plugin_size"})
			},
		})
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_, err := New(srv.URL, testToken, srv.Client()).Upload(ctx, archive, "", "")
		var apiErr *APIError
		if errors.As(err, &apiErr) {
			if apiErr.Status != http.StatusRequestEntityTooLarge || apiErr.Code != "policy_refused" {
				t.Errorf("err = %+v", apiErr)
			}
		} else if err == nil || ctx.Err() != nil {
			// The transport may also report the broken upload itself; it
			// must not hang or succeed.
			t.Errorf("err = %v, want the refusal", err)
		}
	})
}

func TestWaitOperation(t *testing.T) {
	step := func(name, state string) map[string]any {
		s := map[string]any{"name": name, "state": state, "started_at": "2026-01-01T00:00:00Z"}
		if state != "running" {
			s["finished_at"] = "2026-01-01T00:00:03.2Z"
		}
		return s
	}
	running := func(steps ...map[string]any) map[string]any {
		return map[string]any{"id": "op-1", "kind": "install", "state": "running", "steps": steps}
	}
	tests := []struct {
		name      string
		polls     []map[string]any
		wantSteps []string
		wantErr   *APIError
	}{
		{
			name: "succeeded",
			polls: []map[string]any{
				running(step("fetching", "running")),
				running(step("fetching", "done"), step("validating", "done"), step("building", "running")),
				{"id": "op-1", "state": "succeeded", "plugin_id": "my-plugin",
					"steps":  []any{step("fetching", "done"), step("validating", "done"), step("building", "done"), step("loading", "done")},
					"result": map[string]any{"id": "my-plugin", "version": "1.0.0", "state": "active"}},
			},
			wantSteps: []string{"fetching running", "fetching done", "validating done", "building running", "building done", "loading done"},
		},
		{
			name: "failed",
			polls: []map[string]any{
				running(step("fetching", "done"), step("validating", "done"), step("building", "running")),
				{"id": "op-1", "state": "failed", "status": 422,
					"steps": []any{step("fetching", "done"), step("validating", "done"), step("building", "failed")},
					"error": map[string]any{"code": "build_failed", "message": "build x: a.go:1:1: bad", "details": map[string]any{"diagnostics": []string{"a.go:1:1: bad"}}}},
			},
			wantSteps: []string{"fetching done", "validating done", "building running", "building failed"},
			wantErr:   &APIError{Status: 422, Code: "build_failed", Message: "build x: a.go:1:1: bad"},
		},
	}
	// Each case runs on synctest's fake clock, so the time between polls
	// is measured exactly, and without waiting for it.
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				n := 0
				api := inProcess(fakeHandler(map[string]http.HandlerFunc{
					"GET /api/plugins/operations/op-1": func(w http.ResponseWriter, _ *http.Request) {
						writeJSON(w, http.StatusOK, tt.polls[min(n, len(tt.polls)-1)])
						n++
					},
				}))
				var got []string
				start := time.Now()
				op, err := New("http://ksplugins.test", testToken, api).WaitOperation(context.Background(), "op-1", func(s apiv1.Step) {
					got = append(got, s.Name+" "+s.State)
				})
				if elapsed, want := time.Since(start), time.Duration(len(tt.polls)-1)*PollInterval; elapsed != want || n != len(tt.polls) {
					t.Errorf("%d polls in %v, want %d in %v: one poll at once, then one every %v", n, elapsed, len(tt.polls), want, PollInterval)
				}
				if !reflect.DeepEqual(got, tt.wantSteps) {
					t.Errorf("steps %q, want %q", got, tt.wantSteps)
				}
				if op == nil {
					t.Fatalf("op = nil, err = %v", err)
				}
				if tt.wantErr == nil {
					if err != nil || op.Result == nil || op.Result.ID != "my-plugin" || op.PluginID != "my-plugin" {
						t.Errorf("op %+v, err %v", op, err)
					}
					return
				}
				var apiErr *APIError
				if !errors.As(err, &apiErr) || apiErr.Status != tt.wantErr.Status || apiErr.Code != tt.wantErr.Code || apiErr.Message != tt.wantErr.Message {
					t.Fatalf("err = %#v, want %#v", err, tt.wantErr)
				}
				if d := apiErr.Diagnostics(); len(d) != 1 || d[0] != "a.go:1:1: bad" {
					t.Errorf("diagnostics = %q", d)
				}
			})
		})
	}

	t.Run("context ends first", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			polls := 0
			api := inProcess(fakeHandler(map[string]http.HandlerFunc{
				"GET /api/plugins/operations/op-1": func(w http.ResponseWriter, _ *http.Request) {
					polls++
					writeJSON(w, http.StatusOK, running(step("building", "running")))
				},
			}))
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			start := time.Now()
			if _, err := New("http://ksplugins.test", testToken, api).WaitOperation(ctx, "op-1", nil); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("err = %v, want the context's", err)
			}
			if elapsed := time.Since(start); elapsed != 300*time.Millisecond || polls != 2 {
				t.Errorf("returned after %v and %d polls; want the context's 300ms, after polls at 0 and %v", elapsed, polls, PollInterval)
			}
		})
	})

	t.Run("unknown operation", func(t *testing.T) {
		srv := fakeAPI(t, nil)
		_, err := New(srv.URL, testToken, srv.Client()).WaitOperation(context.Background(), "op-x", nil)
		var apiErr *APIError
		if !errors.As(err, &apiErr) || apiErr.Status != http.StatusNotFound {
			t.Errorf("err = %v, want 404", err)
		}
	})
}

func TestStreamEvents(t *testing.T) {
	srv := fakeAPI(t, map[string]http.HandlerFunc{
		"GET /api/plugins/events": func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Has("since") || r.Header.Get("Accept") != "text/event-stream" {
				t.Errorf("query %q accept %q", r.URL.RawQuery, r.Header.Get("Accept"))
			}
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, "retry: 2000\n\nid: 1\nevent: loaded\ndata: {\"id\":1}\n\n")
		},
	})
	var lines []string
	err := New(srv.URL, testToken, srv.Client()).StreamEvents(context.Background(), func(l string) error {
		lines = append(lines, l)
		return nil
	})
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("err = %v, want io.ErrUnexpectedEOF when the server ends the stream", err)
	}
	want := []string{"retry: 2000", "", "id: 1", "event: loaded", `data: {"id":1}`, ""}
	if !reflect.DeepEqual(lines, want) {
		t.Errorf("lines %q, want %q", lines, want)
	}
}
