package api

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubestellar/ksplugins/internal/auth"
)

// clock is a settable time for ticket expiry.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// issue asks for a ticket with bearer and returns its secret.
func issue(t *testing.T, h http.Handler, bearer string) string {
	t.Helper()
	r := do(h, "POST", "/api/plugins/events/ticket", "", "Bearer "+bearer)
	secret, _ := r.body["ticket"].(string)
	if r.status != 201 || len(secret) < 40 || r.body["url"] != "/api/plugins/events?ticket="+secret {
		t.Fatalf("issue ticket: %d %s", r.status, r.raw)
	}
	return secret
}

// TestEventTickets: a ticket opens the event stream once, soon, as whoever
// asked for it, and nothing else.
func TestEventTickets(t *testing.T) {
	s, h := newServer(t)
	clk := &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	s.tickets = newTickets(clk.Now)
	viewer := roleToken(t, s, auth.Viewer)
	const listing = "/api/plugins/events?since=0&ticket="

	cases := []struct {
		name string
		// use spends the ticket; it returns the status and error code seen.
		use        func(ticket string) result
		wantStatus int
	}{
		{"opens the event list", func(tk string) result { return do(h, "GET", listing+tk, "", "") }, 200},
		{"once only", func(tk string) result {
			do(h, "GET", listing+tk, "", "")
			return do(h, "GET", listing+tk, "", "")
		}, 401},
		{"not after it expires", func(tk string) result {
			clk.advance(ticketTTL)
			return do(h, "GET", listing+tk, "", "")
		}, 401},
		{"used just before it expires", func(tk string) result {
			clk.advance(ticketTTL - time.Second)
			return do(h, "GET", listing+tk, "", "")
		}, 200},
		{"not a made-up one", func(string) result { return do(h, "GET", listing+"made-up", "", "") }, 401},
		{"not the plugin list", func(tk string) result { return do(h, "GET", "/api/plugins?ticket="+tk, "", "") }, 401},
		{"not whoami", func(tk string) result { return do(h, "GET", "/api/plugins/whoami?ticket="+tk, "", "") }, 401},
		{"not another ticket", func(tk string) result { return do(h, "POST", "/api/plugins/events/ticket?ticket="+tk, "", "") }, 401},
		{"not a change", func(tk string) result { return do(h, "DELETE", "/api/plugins/cache?ticket="+tk, "", "") }, 401},
		{"a wrong bearer token is not rescued by it", func(tk string) result { return do(h, "GET", listing+tk, "", "Bearer wrong") }, 401},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := c.use(issue(t, h, viewer))
			if r.status != c.wantStatus {
				t.Fatalf("got %d %s; want %d", r.status, r.raw, c.wantStatus)
			}
			if c.wantStatus == 401 && (r.code() != "unauthorized" || r.raw == "") {
				t.Fatalf("refusal: %s", r.raw)
			}
		})
	}
}

// TestEventTicketOpensStream opens the real stream with a ticket, as
// EventSource does, and checks who the stream was opened as.
func TestEventTicketOpensStream(t *testing.T) {
	s, h := newServer(t)
	srv := httptest.NewServer(h)
	defer srv.Close()
	secret := issue(t, h, roleToken(t, s, auth.Operator))

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/api/plugins/events?ticket="+secret, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	first, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || !strings.HasPrefix(first, "retry:") {
		t.Fatalf("first line %q, %v", first, err)
	}
	// The ticket is spent: opening the stream again needs another.
	again, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/api/plugins/events?ticket="+secret, nil)
	resp2, err := http.DefaultClient.Do(again)
	if err != nil {
		t.Fatal(err)
	}
	resp2.Body.Close()
	if resp2.StatusCode != 401 {
		t.Fatalf("second use: %d", resp2.StatusCode)
	}
}

func TestTicketsBounded(t *testing.T) {
	clk := &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	tk := newTickets(clk.Now)
	for range maxTickets {
		if _, _, err := tk.issue(auth.Identity{Name: "v", Role: auth.Viewer}); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := tk.issue(auth.Identity{}); err == nil {
		t.Fatal("a ticket beyond the bound was issued")
	}
	// Expired tickets make room.
	clk.advance(ticketTTL)
	secret, _, err := tk.issue(auth.Identity{Name: "v", Role: auth.Viewer})
	if err != nil {
		t.Fatal(err)
	}
	if id, ok := tk.redeem(secret); !ok || id.Name != "v" || id.Via != "ticket" {
		t.Fatalf("redeem: %+v %v", id, ok)
	}
}

// TestWhoamiAllowed: whoami lists exactly the actions the role may take,
// from the table that enforces them.
func TestWhoamiAllowed(t *testing.T) {
	s, h := newServer(t)
	cases := []struct {
		role         string
		bearer       string
		allowed, not []string
	}{
		{auth.Viewer, roleToken(t, s, auth.Viewer), []string{"list", "events-ticket", "plugin-metrics"}, []string{"enable", "configure", "unload", "upload"}},
		{auth.Operator, roleToken(t, s, auth.Operator), []string{"enable", "disable", "reload", "configure"}, []string{"unload", "upload", "update", "configure-system", "cache-purge"}},
		{auth.Admin, token, []string{"unload", "upload", "update", "configure-system", "cache-purge"}, nil},
	}
	for _, c := range cases {
		t.Run(c.role, func(t *testing.T) {
			r := do(h, "GET", "/api/plugins/whoami", "", "Bearer "+c.bearer)
			if r.status != 200 || r.body["role"] != c.role {
				t.Fatalf("whoami: %s", r.raw)
			}
			var got []string
			for _, a := range r.body["allowed"].([]any) {
				got = append(got, a.(string))
			}
			for _, a := range c.allowed {
				if !slices.Contains(got, a) {
					t.Errorf("%s may %s; allowed lists %v", c.role, a, got)
				}
			}
			for _, a := range c.not {
				if slices.Contains(got, a) {
					t.Errorf("%s may not %s; allowed lists it", c.role, a)
				}
			}
		})
	}
}

// TestPage: the server serves the plugin manager page and sends a browser
// opening it there.
func TestPage(t *testing.T) {
	_, h := newServer(t)
	cases := []struct {
		method, path string
		status       int
		location     string
	}{
		{"GET", "/", 302, "/ui/"},
		{"GET", "/ui", 301, "/ui/"},
		{"GET", "/ui/", 200, ""},
		{"HEAD", "/ui/", 200, ""},
		{"GET", "/ui/no-such-file.js", 404, ""},
		{"POST", "/ui/", 405, ""},
	}
	for _, c := range cases {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			req := httptest.NewRequest(c.method, c.path, nil)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != c.status || rec.Header().Get("Location") != c.location {
				t.Fatalf("got %d to %q; want %d to %q", rec.Code, rec.Header().Get("Location"), c.status, c.location)
			}
			if c.status == 200 && !strings.Contains(rec.Header().Get("Content-Security-Policy"), "default-src 'none'") {
				t.Fatalf("no content security policy: %v", rec.Header())
			}
		})
	}
}

func TestPluginMetricsUnknown(t *testing.T) {
	_, h := newServer(t)
	if r := do(h, "GET", "/api/plugins/absent/metrics", "", "Bearer "+token); r.status != 404 || r.code() != "plugin_not_found" {
		t.Fatalf("got %d %s", r.status, r.raw)
	}
}
