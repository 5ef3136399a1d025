package jwt

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Defaults for RemoteOptions.
const (
	// DefaultRefreshInterval is how often Run fetches the keys again, so
	// that keys the provider removes stop being trusted.
	DefaultRefreshInterval = 15 * time.Minute
	// DefaultMinFetchInterval is the least time between two fetches made
	// because a token named an unknown kid: a flood of made-up kids costs
	// the provider one request per interval, not one per token.
	DefaultMinFetchInterval = 30 * time.Second
	// DefaultFetchTimeout bounds one fetch of a discovery or JWKS document.
	DefaultFetchTimeout = 10 * time.Second
)

// maxDocumentBytes bounds a discovery or JWKS document; real ones are a few
// kilobytes.
const maxDocumentBytes = 1 << 20

// discoveryPath is where an OpenID Connect issuer publishes its metadata
// (OpenID Connect Discovery 1.0, section 4).
const discoveryPath = "/.well-known/openid-configuration"

// CheckFetchURL reports whether keys may be fetched from raw: an absolute
// https URL, or plain http to a loopback address (for a provider on the
// same machine, or in tests). Anything else could let a network attacker
// substitute their own keys.
func CheckFetchURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("parse %q: %w", raw, err)
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return fmt.Errorf("%q: scheme must be https", raw)
	}
	if u.Host == "" || u.User != nil || u.Fragment != "" {
		return fmt.Errorf("%q must be an absolute URL without user information or fragment", raw)
	}
	if u.Scheme == "http" {
		host := u.Hostname()
		if ip := net.ParseIP(host); (ip == nil || !ip.IsLoopback()) && host != "localhost" {
			return fmt.Errorf("%q: plain http is allowed only to a loopback address; use https", raw)
		}
	}
	return nil
}

// RemoteOptions configures NewRemoteKeys. Exactly one of JWKSURL and Issuer
// is set.
type RemoteOptions struct {
	// JWKSURL is where the JWKS document is fetched from.
	JWKSURL string
	// Issuer is an OpenID Connect issuer: its discovery document, at
	// Issuer + "/.well-known/openid-configuration", names the JWKS URL.
	// The document's issuer must equal Issuer.
	Issuer string
	// RefreshInterval is the period of Run's fetches; zero means
	// DefaultRefreshInterval.
	RefreshInterval time.Duration
	// MinFetchInterval is the least time between fetches caused by an
	// unknown kid (Run's periodic fetches do not count); zero means
	// DefaultMinFetchInterval.
	MinFetchInterval time.Duration
	// Logger receives failed periodic fetches; nil means slog.Default().
	Logger *slog.Logger
}

// RemoteKeys holds the RS256 keys of a JWKS URL, fetched when first needed,
// every RefreshInterval while Run runs, and again (at most once per
// MinFetchInterval) when a token names a kid it does not know, which is
// how a provider's key rotation reaches us. A key the provider removes is
// forgotten at the next fetch. It is safe for concurrent use.
type RemoteKeys struct {
	jwksURL  string
	issuer   string
	refresh  time.Duration
	minFetch time.Duration
	client   *http.Client
	log      *slog.Logger

	// fetching is a one-slot semaphore: one fetch at a time, and waiters
	// can give up when their context ends.
	fetching chan struct{}

	mu   sync.RWMutex
	keys map[string]*rsa.PublicKey
	// lastKidFetch is when the last fetch for an unknown kid started,
	// whether it succeeded or not. Run's fetches leave it alone: they are
	// bounded by the timer, and must not delay a rotation's first token.
	lastKidFetch time.Time
}

// NewRemoteKeys checks o and returns keys that fetch nothing yet: the first
// token, or Run, fetches them.
func NewRemoteKeys(o RemoteOptions) (*RemoteKeys, error) {
	if (o.JWKSURL == "") == (o.Issuer == "") {
		return nil, errors.New("jwt: remote keys need exactly one of a JWKS URL and an OIDC issuer")
	}
	for _, u := range []string{o.JWKSURL, o.Issuer} {
		if u == "" {
			continue
		}
		if err := CheckFetchURL(u); err != nil {
			return nil, fmt.Errorf("jwt: %w", err)
		}
	}
	r := &RemoteKeys{
		jwksURL:  o.JWKSURL,
		issuer:   o.Issuer,
		refresh:  o.RefreshInterval,
		minFetch: o.MinFetchInterval,
		log:      o.Logger,
		fetching: make(chan struct{}, 1),
	}
	if r.refresh <= 0 {
		r.refresh = DefaultRefreshInterval
	}
	if r.minFetch <= 0 {
		r.minFetch = DefaultMinFetchInterval
	}
	if r.log == nil {
		r.log = slog.Default()
	}
	r.client = &http.Client{
		Timeout: DefaultFetchTimeout,
		// A redirect must not lead from https to plain http elsewhere.
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 {
				return errors.New("too many redirects")
			}
			return CheckFetchURL(req.URL.String())
		},
	}
	return r, nil
}

// Run fetches the keys now and then every RefreshInterval until ctx ends.
// A failed fetch is logged and the keys already held are kept, so a
// provider's short outage does not lock everyone out.
func (r *RemoteKeys) Run(ctx context.Context) {
	t := time.NewTicker(r.refresh)
	defer t.Stop()
	for {
		if err := r.Refresh(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("JWT keys not refreshed; keeping the ones held", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Refresh fetches the keys now and, if that succeeds, replaces the ones
// held.
func (r *RemoteKeys) Refresh(ctx context.Context) error {
	select {
	case r.fetching <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-r.fetching }()
	return r.fetchLocked(ctx)
}

// fetchLocked fetches and stores the keys; the caller holds r.fetching.
func (r *RemoteKeys) fetchLocked(ctx context.Context) error {
	jwksURL := r.jwksURL
	if r.issuer != "" {
		var err error
		if jwksURL, err = r.discover(ctx); err != nil {
			return err
		}
	}
	data, err := r.get(ctx, jwksURL)
	if err != nil {
		return err
	}
	keys, err := LoadJWKS(data)
	if err != nil {
		return fmt.Errorf("%s: %w", jwksURL, err)
	}
	r.mu.Lock()
	r.keys = keys
	r.mu.Unlock()
	return nil
}

// discover returns the jwks_uri of r.issuer's discovery document.
func (r *RemoteKeys) discover(ctx context.Context) (string, error) {
	where := strings.TrimSuffix(r.issuer, "/") + discoveryPath
	data, err := r.get(ctx, where)
	if err != nil {
		return "", err
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return "", fmt.Errorf("jwt: parse %s: %w", where, err)
	}
	// OpenID Connect Discovery 1.0, section 4.3: the document speaks for
	// the issuer it names, which must be the one we asked.
	if doc.Issuer != r.issuer {
		return "", fmt.Errorf("jwt: %s names issuer %q, want %q", where, doc.Issuer, r.issuer)
	}
	if err := CheckFetchURL(doc.JWKSURI); err != nil {
		return "", fmt.Errorf("jwt: %s: jwks_uri %w", where, err)
	}
	return doc.JWKSURI, nil
}

// get returns the body of a 200 answer to a GET of u.
func (r *RemoteKeys) get(ctx context.Context, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("jwt: fetch %s: %w", u, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("jwt: fetch %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("jwt: fetch %s: %s", u, resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxDocumentBytes+1))
	if err != nil {
		return nil, fmt.Errorf("jwt: fetch %s: %w", u, err)
	}
	if len(data) > maxDocumentBytes {
		return nil, fmt.Errorf("jwt: fetch %s: document over %d bytes", u, maxDocumentBytes)
	}
	return data, nil
}

// lookup returns the key held under kid, or nil.
func (r *RemoteKeys) lookup(kid string) *rsa.PublicKey {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.keys[kid]
}

// key returns the key under kid, fetching the keys again first if it is
// not held and the last fetch for an unknown kid is at least
// MinFetchInterval old. It returns
// nil if there is no such key, or the fetch failed or ctx ended.
func (r *RemoteKeys) key(ctx context.Context, kid string) *rsa.PublicKey {
	if k := r.lookup(kid); k != nil {
		return k
	}
	select {
	case r.fetching <- struct{}{}:
	case <-ctx.Done():
		return nil
	}
	defer func() { <-r.fetching }()
	// Someone may have fetched while we waited: look again before
	// deciding whether another fetch is due.
	if k := r.lookup(kid); k != nil {
		return k
	}
	r.mu.Lock()
	due := r.lastKidFetch.IsZero() || time.Since(r.lastKidFetch) >= r.minFetch
	if due {
		r.lastKidFetch = time.Now()
	}
	r.mu.Unlock()
	if !due {
		return nil
	}
	if err := r.fetchLocked(ctx); err != nil {
		r.log.Warn("JWT keys not fetched for an unknown kid", "kid", kid, "err", err)
		return nil
	}
	return r.lookup(kid)
}
