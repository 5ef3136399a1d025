package api

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kubestellar/ksplugins/internal/auth"
)

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
	// Requests are served in this goroutine (do), so the clock needs no lock.
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s.tickets = newTickets(func() time.Time { return now })
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
			now = now.Add(ticketTTL)
			return do(h, "GET", listing+tk, "", "")
		}, 401},
		{"used just before it expires", func(tk string) result {
			now = now.Add(ticketTTL - time.Second)
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
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tk := newTickets(func() time.Time { return now })
	for range maxTickets {
		if _, _, err := tk.issue(auth.Identity{Name: "v", Role: auth.Viewer}); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := tk.issue(auth.Identity{}); err == nil {
		t.Fatal("a ticket beyond the bound was issued")
	}
	// Expired tickets make room.
	now = now.Add(ticketTTL)
	secret, _, err := tk.issue(auth.Identity{Name: "v", Role: auth.Viewer})
	if err != nil {
		t.Fatal(err)
	}
	if id, ok := tk.redeem(secret); !ok || id.Name != "v" || id.Via != "ticket" {
		t.Fatalf("redeem: %+v %v", id, ok)
	}
}
