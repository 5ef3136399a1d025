package api

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"
	"github.com/kubestellar/ksplugins/internal/apierr"
	"github.com/kubestellar/ksplugins/internal/auth"
)

// A browser's EventSource cannot send an Authorization header, so the
// plugin manager page trades its token for a ticket and puts the ticket in
// the event stream's URL. A ticket opens the event stream once, within
// ticketTTL, as the identity that asked for it, and is good for nothing
// else: one that leaks through a URL (browser history, a proxy's log) is
// already spent or about to expire, and was never more than read access.
const (
	// ticketTTL is how long a ticket may wait to be used.
	ticketTTL = 30 * time.Second
	// maxTickets bounds the unused tickets held in memory.
	maxTickets = 1024
	// ticketParam is the query parameter that carries a ticket.
	ticketParam = "ticket"
	// eventsPath is the one route a ticket opens.
	eventsPath = "/api/plugins/events"
)

// errTooManyTickets: the bound on unused tickets is reached.
var errTooManyTickets = errors.New("too many unused event stream tickets; use or let expire those already issued")

// ticket is an issued ticket: who it stands for, and until when.
type ticket struct {
	id      auth.Identity
	expires time.Time
}

// tickets holds the unused tickets, by the SHA-256 of their secret so the
// secrets themselves are not kept.
type tickets struct {
	now func() time.Time

	mu     sync.Mutex
	byHash map[[sha256.Size]byte]ticket
}

func newTickets(now func() time.Time) *tickets {
	return &tickets{now: now, byHash: map[[sha256.Size]byte]ticket{}}
}

// issue returns a new ticket's secret for id, and when it expires.
func (t *tickets) issue(id auth.Identity) (string, time.Time, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", time.Time{}, err
	}
	secret := base64.RawURLEncoding.EncodeToString(raw)
	now := t.now()
	expires := now.Add(ticketTTL)
	t.mu.Lock()
	defer t.mu.Unlock()
	for h, tk := range t.byHash {
		if !now.Before(tk.expires) {
			delete(t.byHash, h)
		}
	}
	if len(t.byHash) >= maxTickets {
		return "", time.Time{}, errTooManyTickets
	}
	t.byHash[sha256.Sum256([]byte(secret))] = ticket{id: id, expires: expires}
	return secret, expires, nil
}

// redeem spends a ticket, returning the identity it stands for; false if
// it is unknown, spent or expired.
func (t *tickets) redeem(secret string) (auth.Identity, bool) {
	h := sha256.Sum256([]byte(secret))
	t.mu.Lock()
	tk, ok := t.byHash[h]
	delete(t.byHash, h)
	t.mu.Unlock()
	if !ok || !t.now().Before(tk.expires) {
		return auth.Identity{}, false
	}
	tk.id.Via = "ticket"
	return tk.id, true
}

// issueTicket answers a ticket for the caller's identity.
func (s *Server) issueTicket(c *gin.Context) {
	id, _ := auth.FromContext(c.Request.Context())
	secret, expires, err := s.tickets.issue(id)
	if errors.Is(err, errTooManyTickets) {
		apierr.Write(c.Writer, http.StatusServiceUnavailable, "too_many_tickets", err.Error(), nil)
		return
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusCreated, apiv1.Ticket{
		Ticket:           secret,
		ExpiresAt:        expires.UTC(),
		ExpiresInSeconds: ticketTTL.Seconds(),
		URL:              eventsPath + "?" + ticketParam + "=" + secret,
	})
}

// ticketIdentity returns the identity of the ticket a request to the event
// stream carries: (zero, false, nil) when it carries none or is another
// route, an error when the ticket is not good.
func (s *Server) ticketIdentity(c *gin.Context) (auth.Identity, bool, error) {
	secret, ok := c.GetQuery(ticketParam)
	if !ok || c.Request.Method != http.MethodGet || c.FullPath() != eventsPath {
		return auth.Identity{}, false, nil
	}
	id, ok := s.tickets.redeem(secret)
	if !ok {
		return auth.Identity{}, false, errors.New("ticket: unknown, used or expired; ask POST " + eventsPath + "/ticket for another")
	}
	return id, true, nil
}
