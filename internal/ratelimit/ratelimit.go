// Package ratelimit keeps token buckets keyed by string, so that an HTTP
// server can cap requests per endpoint, per client, or per both (by
// building the key from both), and tell refused clients when to retry.
//
// Bucket arithmetic is exact: a bucket refills Rate tokens per Window to
// the nanosecond, with no floating-point drift, whatever the Rate and
// Window.
package ratelimit

import (
	"container/list"
	"fmt"
	"math/bits"
	"sync"
	"time"
)

// DefaultMaxKeys is the number of buckets a Limiter keeps when MaxKeys is
// zero.
const DefaultMaxKeys = 10000

// idleWindows is how many windows a bucket must go untouched before it may
// be evicted.
const idleWindows = 10

// Limit is a bucket's shape: Rate tokens per Window, with Burst capacity
// (Burst 0 means Rate). A bucket starts full, so a new key may make Burst
// requests at once and then Rate per Window.
type Limit struct {
	Rate   int
	Window time.Duration
	Burst  int
}

// burst returns the bucket capacity l describes.
func (l Limit) burst() int64 {
	if l.Burst == 0 {
		return int64(l.Rate)
	}
	return int64(l.Burst)
}

// Limiter holds a token bucket per key. It is safe for concurrent use.
//
// Memory is bounded two ways. A bucket untouched for 10 windows, and full
// again by then, is dropped lazily by later calls; dropping it loses
// nothing, since a new bucket starts full. And at most MaxKeys buckets are
// kept: beyond that the least recently used one is dropped even if not
// full, which hands its key a fresh bucket. Keys derived from client input
// should therefore be bounded in number (say, client addresses, not
// arbitrary headers), or a flood of new keys resets everyone's bucket.
type Limiter struct {
	// MaxKeys bounds the number of buckets kept; 0 means DefaultMaxKeys.
	// Set it before the Limiter is first used.
	MaxKeys int

	now func() time.Time

	mu      sync.Mutex
	buckets map[string]*list.Element // values are *bucket
	lru     list.List                // most recently used at the front
}

// bucket is one key's token bucket. Its level is tokens whole tokens plus
// frac/Window of a token, with frac in [0, Window): refilling for d
// nanoseconds adds d*Rate to frac, carrying into tokens each time frac
// reaches Window. Keeping the remainder as an integer is what makes the
// arithmetic exact.
type bucket struct {
	key    string
	limit  Limit
	tokens int64
	frac   int64
	last   time.Time // when the level was last brought up to date
	used   time.Time // when Allow last asked for this key
}

// New returns a Limiter that reads the time from now, or from time.Now if
// now is nil; tests pass a fake clock.
func New(now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{now: now, buckets: make(map[string]*list.Element)}
}

// Allow takes one token from key's bucket under limit; it reports whether
// the request may proceed and, if not, how long until a token is available,
// for a Retry-After header. Refused requests take nothing.
//
// The bucket for a key is created by its first call. If a later call passes
// a different limit, the bucket keeps its level (capped at the new burst)
// and refills at the new rate from then on: changing a limit never grants
// extra tokens.
//
// Allow panics if limit.Rate or limit.Window is not positive, or
// limit.Burst is negative, as those describe no bucket.
func (l *Limiter) Allow(key string, limit Limit) (ok bool, retryAfter time.Duration) {
	if limit.Rate <= 0 || limit.Window <= 0 || limit.Burst < 0 {
		panic(fmt.Sprintf("ratelimit: invalid limit %+v", limit))
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.evictIdle(now)

	var b *bucket
	if e, found := l.buckets[key]; found {
		l.lru.MoveToFront(e)
		b = e.Value.(*bucket)
		b.used = now
		b.refill(now)
		if b.limit != limit {
			b.reshape(limit)
		}
	} else {
		l.makeRoom()
		b = &bucket{key: key, limit: limit, tokens: limit.burst(), last: now, used: now}
		l.buckets[key] = l.lru.PushFront(b)
	}

	if b.tokens > 0 {
		b.tokens--
		return true, 0
	}
	return false, b.untilNext()
}

// evictIdle drops buckets, oldest first, that have gone untouched for
// idleWindows windows and have refilled completely. It stops at the first
// bucket it must keep, so each call does work only for buckets it drops.
func (l *Limiter) evictIdle(now time.Time) {
	for e := l.lru.Back(); e != nil; e = l.lru.Back() {
		b := e.Value.(*bucket)
		idle := now.Sub(b.used)
		if idle/idleWindows < b.limit.Window { // no overflow, unlike Window*idleWindows
			return
		}
		b.refill(now) // harmless if b stays: refilling in steps is exact
		if b.tokens < b.limit.burst() {
			return
		}
		l.remove(e)
	}
}

// makeRoom drops least recently used buckets until there is room for one
// more.
func (l *Limiter) makeRoom() {
	max := l.MaxKeys
	if max <= 0 {
		max = DefaultMaxKeys
	}
	for len(l.buckets) >= max {
		l.remove(l.lru.Back())
	}
}

func (l *Limiter) remove(e *list.Element) {
	delete(l.buckets, e.Value.(*bucket).key)
	l.lru.Remove(e)
}

// refill brings b's level up to date at now. If the clock has stepped back
// (time.Now's monotonic reading never does, but other clocks may), nothing
// refills until it passes b.last again, so clock jumps never grant tokens.
func (b *bucket) refill(now time.Time) {
	d := now.Sub(b.last)
	if d <= 0 {
		return
	}
	b.last = now
	burst := b.limit.burst()
	if b.tokens >= burst {
		b.frac = 0
		return
	}
	// frac + d*Rate, in 128 bits since a long idle time at a high rate
	// overflows 64.
	hi, lo := bits.Mul64(uint64(d), uint64(b.limit.Rate))
	var carry uint64
	lo, carry = bits.Add64(lo, uint64(b.frac), 0)
	hi += carry
	window := uint64(b.limit.Window)
	if hi >= window { // the quotient needs over 64 bits: far more than a refill
		b.tokens, b.frac = burst, 0
		return
	}
	whole, rem := bits.Div64(hi, lo, window)
	if whole >= uint64(burst-b.tokens) {
		b.tokens, b.frac = burst, 0
		return
	}
	b.tokens += int64(whole)
	b.frac = int64(rem)
}

// reshape switches b, just refilled, to limit. The partial token carries
// over in proportion to the new window.
func (b *bucket) reshape(limit Limit) {
	// frac < old Window, so frac*new Window / old Window fits 64 bits.
	hi, lo := bits.Mul64(uint64(b.frac), uint64(limit.Window))
	q, _ := bits.Div64(hi, lo, uint64(b.limit.Window))
	b.frac = int64(q)
	b.limit = limit
	if burst := limit.burst(); b.tokens >= burst {
		b.tokens, b.frac = burst, 0
	}
}

// untilNext returns how long an empty b takes to gain a whole token: the
// missing Window-frac, at Rate per nanosecond, rounded up so that a client
// retrying after it is not refused again.
func (b *bucket) untilNext() time.Duration {
	missing := int64(b.limit.Window) - b.frac
	rate := int64(b.limit.Rate)
	wait := missing / rate
	if missing%rate != 0 {
		wait++
	}
	return time.Duration(wait)
}
