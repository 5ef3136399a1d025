package wasm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubestellar/ksplugins/sdk"
	"github.com/kubestellar/ksplugins/sdk/wasmguest/abi"
)

// callerKey marks the context of a request served in the tests, standing
// for what the host's gateway keeps of the caller there.
type callerKey struct{}

// fakeCaller stands for the host's caller: "dep" answers what it was asked
// and which caller's context the call carried, "slow" waits for the end of
// the call, "big" answers bytes bytes; any other plugin is undeclared.
type fakeCaller struct {
	bytes int
	mu    sync.Mutex
	calls int
	ended error // how the last call's context ended, for "slow"
}

func (f *fakeCaller) CallPlugin(ctx context.Context, id, method, path string, body io.Reader) (*http.Response, error) {
	f.mu.Lock()
	f.calls++
	f.mu.Unlock()
	w := httptest.NewRecorder()
	switch id {
	case "dep":
		var b []byte
		if body != nil {
			b, _ = io.ReadAll(body)
		}
		caller, _ := ctx.Value(callerKey{}).(string)
		w.Header().Set("X-Answer", caller)
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, "%s %s %d bytes", method, path, len(b))
	case "slow":
		<-ctx.Done()
		f.mu.Lock()
		f.ended = ctx.Err()
		f.mu.Unlock()
		return nil, fmt.Errorf("plugin hostile calls plugin slow: %w", ctx.Err())
	case "big":
		w.WriteString(strings.Repeat("x", f.bytes))
	default:
		return nil, fmt.Errorf("plugin hostile calls plugin %s: %w", id, sdk.ErrUndeclaredDependency)
	}
	return w.Result(), nil
}

// callAnswer is what the hostile guest's GET /call answers.
type callAnswer struct {
	Status                                 int
	Answer, Header, Error                  string
	Undeclared, Unavailable, Timeout, Over bool
}

// TestPluginCall has a sandboxed plugin call others through the host's
// caller: the call carries the context of the request being served, and
// only while it is served; the errors the caller returns reach the guest
// as the same errors; request and answer bodies keep the sandbox's
// limits; and a call ends with the guest's deadline or its own.
func TestPluginCall(t *testing.T) {
	r := newRuntime(t)
	const limit = 64 << 10
	p := load(t, r, fixtures.hostile, Options{ID: "hostile",
		Limits: Limits{Timeout: time.Second, MaxRequestBytes: limit, MaxResponseBytes: limit}})
	f := &fakeCaller{bytes: limit + 1}
	p.SetPluginCaller(f)
	start(t, p, nil)
	e := router(t, p)
	call := func(t *testing.T, caller, query string) (int, callAnswer) {
		t.Helper()
		req := httptest.NewRequest(http.MethodGet, "/call?"+query, nil)
		req = req.WithContext(context.WithValue(req.Context(), callerKey{}, caller))
		w := httptest.NewRecorder()
		e.ServeHTTP(w, req)
		var a callAnswer
		if w.Code == http.StatusOK || w.Code == http.StatusBadGateway {
			if err := json.Unmarshal(w.Body.Bytes(), &a); err != nil {
				t.Fatalf("GET /call?%s: %d %s", query, w.Code, w.Body)
			}
		}
		return w.Code, a
	}

	tests := []struct {
		name, query string
		status      int
		check       func(callAnswer) bool
	}{
		{"declared, with the caller's context", "plugin=dep&path=/clusters&method=POST&size=10", 200,
			func(a callAnswer) bool {
				return a.Status == 201 && a.Answer == "POST /clusters 10 bytes" && a.Header == "alice"
			}},
		{"undeclared", "plugin=other&path=/x", 502,
			func(a callAnswer) bool { return a.Undeclared && strings.Contains(a.Error, "not a declared dependency") }},
		{"a request body over the limit", fmt.Sprintf("plugin=dep&path=/x&size=%d", limit+1), 502,
			func(a callAnswer) bool { return strings.Contains(a.Error, "exceeds the plugin's limit") }},
		{"an answer over the limit", "plugin=big&path=/x", 502,
			func(a callAnswer) bool { return strings.Contains(a.Error, "response body exceeds the plugin's limit") }},
		{"the guest's own deadline", "plugin=slow&path=/x&timeout_ms=50", 502,
			func(a callAnswer) bool { return a.Timeout }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, a := call(t, "alice", tt.query)
			if status != tt.status || !tt.check(a) {
				t.Errorf("GET /call?%s = %d %+v", tt.query, status, a)
			}
		})
	}

	t.Run("a request that is over", func(t *testing.T) {
		if status, a := call(t, "alice", "keep=1&plugin=dep&path=/x"); status != 200 || a.Header != "alice" {
			t.Fatalf("the first request: %d %+v", status, a)
		}
		f.mu.Lock()
		before := f.calls
		f.mu.Unlock()
		status, a := call(t, "bob", "stale=1&plugin=dep&path=/x")
		if status != 502 || !a.Over {
			t.Errorf("a call with the context of a request answered before = %d %+v, want refused", status, a)
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.calls != before {
			t.Error("the caller was called for a request that is over")
		}
	})

	t.Run("the sandbox's deadline", func(t *testing.T) {
		began := time.Now()
		req := httptest.NewRequest(http.MethodGet, "/call?plugin=slow&path=/x", nil)
		w := httptest.NewRecorder()
		e.ServeHTTP(w, req)
		// The guest may still answer with the call's error before it is
		// stopped, or be stopped first: either way, within its timeout.
		timedOut := w.Code == http.StatusGatewayTimeout ||
			w.Code == http.StatusBadGateway && strings.Contains(w.Body.String(), `"timeout":true`)
		if !timedOut || time.Since(began) > 3*time.Second {
			t.Errorf("a call past the plugin's timeout = %d %s after %s, want it timed out", w.Code, w.Body, time.Since(began))
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		// The call's context ends with its deadline, or is canceled as the
		// stopped guest's request is abandoned, whichever comes first on a
		// busy machine: either way it does not outlive the timeout.
		if f.ended != context.DeadlineExceeded && f.ended != context.Canceled {
			t.Errorf("the caller's context ended with %v, want it ended by the timeout", f.ended)
		}
	})
}

// TestPluginCallWithoutCaller: a guest whose host gave no caller gets
// sdk.ErrDependencyUnavailable.
func TestPluginCallWithoutCaller(t *testing.T) {
	r := newRuntime(t)
	p := load(t, r, fixtures.hostile, Options{ID: "hostile"})
	start(t, p, nil)
	w := do(router(t, p), http.MethodGet, "/call?plugin=dep&path=/x", nil)
	var a callAnswer
	if err := json.Unmarshal(w.Body.Bytes(), &a); err != nil || w.Code != 502 || !a.Unavailable {
		t.Errorf("GET /call = %d %s", w.Code, w.Body)
	}
}

// TestCallKind: a failed call's outcome kind, including a call canceled as
// its deadline passed, which timed out whichever timer ended it.
func TestCallKind(t *testing.T) {
	past, cancelPast := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancelPast()
	future, cancelFuture := context.WithTimeout(context.Background(), time.Hour)
	defer cancelFuture()
	tests := []struct {
		name string
		ctx  context.Context
		err  error
		want byte
	}{
		{"undeclared", future, fmt.Errorf("call: %w", sdk.ErrUndeclaredDependency), abi.CallUndeclared},
		{"unavailable", future, fmt.Errorf("call: %w", sdk.ErrDependencyUnavailable), abi.CallUnavailable},
		{"its deadline", past, fmt.Errorf("call: %w", context.DeadlineExceeded), abi.CallTimeout},
		{"canceled as its deadline passed", past, fmt.Errorf("call: %w", context.Canceled), abi.CallTimeout},
		{"canceled before its deadline", future, fmt.Errorf("call: %w", context.Canceled), abi.CallOver},
		{"canceled without a deadline", context.Background(), context.Canceled, abi.CallOver},
		{"any other error", future, errors.New("refused"), abi.CallFailed},
	}
	for _, tt := range tests {
		if got := callKind(tt.ctx, tt.err); got != tt.want {
			t.Errorf("%s: callKind = %d, want %d", tt.name, got, tt.want)
		}
	}
}
