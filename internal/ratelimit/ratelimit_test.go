package ratelimit

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a clock the tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// drain calls Allow until it refuses and returns how many calls it allowed
// and the refusal's retryAfter.
func drain(t *testing.T, l *Limiter, key string, limit Limit) (allowed int, retryAfter time.Duration) {
	t.Helper()
	for range 1_000_000 {
		ok, retry := l.Allow(key, limit)
		if !ok {
			return allowed, retry
		}
		if retry != 0 {
			t.Fatalf("allowed call returned retryAfter %v", retry)
		}
		allowed++
	}
	t.Fatalf("%q under %+v never refused", key, limit)
	return 0, 0
}

func TestBurstThenRefusal(t *testing.T) {
	tests := []struct {
		limit     Limit
		wantBurst int
		wantRetry time.Duration
	}{
		{Limit{Rate: 5, Window: time.Second}, 5, 200 * time.Millisecond},
		{Limit{Rate: 5, Window: time.Second, Burst: 2}, 2, 200 * time.Millisecond},
		{Limit{Rate: 10, Window: time.Second, Burst: 30}, 30, 100 * time.Millisecond},
		{Limit{Rate: 3, Window: time.Second, Burst: 1}, 1, 333333334 * time.Nanosecond}, // rounded up
		{Limit{Rate: 1, Window: time.Minute}, 1, time.Minute},
		{Limit{Rate: 2_000_000_000, Window: time.Second, Burst: 1}, 1, time.Nanosecond},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%+v", tt.limit), func(t *testing.T) {
			l := New(newFakeClock().Now)
			allowed, retry := drain(t, l, "k", tt.limit)
			if allowed != tt.wantBurst || retry != tt.wantRetry {
				t.Errorf("allowed %d, retryAfter %v; want %d, %v", allowed, retry, tt.wantBurst, tt.wantRetry)
			}
			// Refused calls take nothing: asking again changes nothing.
			if ok, again := l.Allow("k", tt.limit); ok || again != retry {
				t.Errorf("second refusal: %v, %v; want false, %v", ok, again, retry)
			}
		})
	}
}

func TestRefill(t *testing.T) {
	type step struct {
		advance   time.Duration
		want      int           // calls allowed after advancing
		wantRetry time.Duration // retryAfter of the refusal that follows
	}
	tests := []struct {
		name  string
		limit Limit
		steps []step
	}{
		{
			name:  "10 per second",
			limit: Limit{Rate: 10, Window: time.Second},
			steps: []step{
				{0, 10, 100 * time.Millisecond},
				{100 * time.Millisecond, 1, 100 * time.Millisecond},
				{250 * time.Millisecond, 2, 50 * time.Millisecond}, // half a token carries over
				{49 * time.Millisecond, 0, time.Millisecond},
				{time.Millisecond, 1, 100 * time.Millisecond},
				{10 * time.Second, 10, 100 * time.Millisecond}, // capped at burst
				{time.Second, 10, 100 * time.Millisecond},
			},
		},
		{
			name:  "3 per second is exact",
			limit: Limit{Rate: 3, Window: time.Second, Burst: 3},
			steps: []step{
				{0, 3, 333333334},
				{333333333, 0, 1},
				{1, 1, 333333333},
				{time.Second - 333333334, 2, 333333334}, // a whole second after draining: 3 tokens
			},
		},
		{
			name:  "burst above rate",
			limit: Limit{Rate: 1, Window: time.Second, Burst: 5},
			steps: []step{
				{0, 5, time.Second},
				{3 * time.Second, 3, time.Second},
				{time.Hour, 5, time.Second},
			},
		},
		{
			name:  "large window",
			limit: Limit{Rate: 999_983, Window: 24 * time.Hour, Burst: 5},
			steps: []step{
				{0, 5, 86401469}, // 86400s/999983 rounded up
				{200 * 365 * 24 * time.Hour, 5, 86401469}, // d*Rate overflows 64 bits
			},
		},
		{
			name:  "clock steps back",
			limit: Limit{Rate: 1, Window: time.Second},
			steps: []step{
				{0, 1, time.Second},
				{-time.Hour, 0, time.Second},
				{time.Second, 0, time.Second}, // still before the last refill
				{time.Hour, 1, time.Second},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			l := New(clock.Now)
			for i, s := range tt.steps {
				clock.Advance(s.advance)
				got, retry := drain(t, l, "k", tt.limit)
				if got != s.want || retry != s.wantRetry {
					t.Fatalf("step %d (+%v): allowed %d, retryAfter %v; want %d, %v", i, s.advance, got, retry, s.want, s.wantRetry)
				}
			}
		})
	}
}

func TestKeysIndependent(t *testing.T) {
	l := New(newFakeClock().Now)
	slow := Limit{Rate: 1, Window: time.Minute}
	fast := Limit{Rate: 100, Window: time.Second}
	if n, _ := drain(t, l, "GET /plugins|10.0.0.1", slow); n != 1 {
		t.Fatalf("first client allowed %d, want 1", n)
	}
	if n, _ := drain(t, l, "GET /plugins|10.0.0.2", slow); n != 1 {
		t.Errorf("second client allowed %d, want 1", n)
	}
	if n, _ := drain(t, l, "GET /health|10.0.0.1", fast); n != 100 {
		t.Errorf("other endpoint allowed %d, want 100", n)
	}
}

func TestLimitChange(t *testing.T) {
	clock := newFakeClock()
	l := New(clock.Now)
	big := Limit{Rate: 10, Window: time.Second}
	small := Limit{Rate: 2, Window: time.Second}
	for range 5 {
		l.Allow("k", big)
	}
	// Five tokens left; the smaller burst caps them at two.
	if n, retry := drain(t, l, "k", small); n != 2 || retry != 500*time.Millisecond {
		t.Fatalf("after lowering: allowed %d, retryAfter %v; want 2, 500ms", n, retry)
	}
	// Raising the limit again grants nothing at once, then refills faster.
	if n, retry := drain(t, l, "k", big); n != 0 || retry != 100*time.Millisecond {
		t.Fatalf("after raising: allowed %d, retryAfter %v; want 0, 100ms", n, retry)
	}
	clock.Advance(300 * time.Millisecond)
	if n, _ := drain(t, l, "k", big); n != 3 {
		t.Fatalf("300ms after raising: allowed %d, want 3", n)
	}

	// A partial token keeps its share of the window across a change.
	clock.Advance(500 * time.Millisecond) // five tokens under big
	l.Allow("k", Limit{Rate: 1, Window: time.Second, Burst: 1})
	clock.Advance(500 * time.Millisecond) // half a token
	if ok, retry := l.Allow("k", Limit{Rate: 1, Window: 2 * time.Second, Burst: 1}); ok || retry != time.Second {
		t.Fatalf("half a token into a 2s window: %v, %v; want false, 1s", ok, retry)
	}
}

func TestConcurrent(t *testing.T) {
	clock := newFakeClock()
	l := New(clock.Now)
	limit := Limit{Rate: 100, Window: time.Second, Burst: 50}
	const (
		workers = 32
		calls   = 500
		tick    = time.Millisecond
	)
	var allowed, ticks atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range calls {
				if ok, _ := l.Allow("shared", limit); ok {
					allowed.Add(1)
				}
				l.Allow(fmt.Sprint("own-", w), limit)
				if w%4 == 0 && i%10 == 0 {
					clock.Advance(tick)
					ticks.Add(1)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Duration(ticks.Load()) * tick
	bound := int64(limit.Burst) + int64(elapsed)*int64(limit.Rate)/int64(limit.Window)
	if got := allowed.Load(); got > bound || got < int64(limit.Burst) {
		t.Errorf("allowed %d over %v; want between %d and %d", got, elapsed, limit.Burst, bound)
	}
}

func TestConcurrentEviction(t *testing.T) {
	clock := newFakeClock()
	l := New(clock.Now)
	l.MaxKeys = 8
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := range 500 {
				l.Allow(fmt.Sprintf("client-%d-%d", w, i%32), Limit{Rate: 1 + w, Window: time.Second})
				if i%50 == 0 {
					clock.Advance(time.Second)
				}
			}
		})
	}
	wg.Wait()
	if n := len(l.buckets); n > l.MaxKeys || n != l.lru.Len() {
		t.Errorf("%d buckets, %d in LRU list; MaxKeys %d", n, l.lru.Len(), l.MaxKeys)
	}
}

func TestMaxKeys(t *testing.T) {
	tests := []struct {
		maxKeys, want int
	}{
		{maxKeys: 100, want: 100},
		{maxKeys: 1, want: 1},
		{maxKeys: 0, want: DefaultMaxKeys},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.maxKeys), func(t *testing.T) {
			l := New(newFakeClock().Now)
			l.MaxKeys = tt.maxKeys
			limit := Limit{Rate: 1, Window: time.Hour}
			l.Allow("keep", limit)
			for i := range tt.want + 500 {
				l.Allow("keep", limit) // keeps "keep" recently used
				l.Allow(fmt.Sprint("client-", i), limit)
			}
			if len(l.buckets) != tt.want || l.lru.Len() != tt.want {
				t.Fatalf("%d buckets (%d listed), want %d", len(l.buckets), l.lru.Len(), tt.want)
			}
			if _, ok := l.buckets[fmt.Sprint("client-", tt.want+499)]; !ok {
				t.Error("newest key was dropped")
			}
			if _, ok := l.buckets["client-0"]; ok {
				t.Error("oldest key was kept")
			}
			if tt.want > 1 {
				if _, ok := l.buckets["keep"]; !ok {
					t.Error("recently used key was dropped")
				}
			}
		})
	}
}

func TestIdleEviction(t *testing.T) {
	clock := newFakeClock()
	l := New(clock.Now)
	second := Limit{Rate: 1, Window: time.Second}
	for i := range 50 {
		l.Allow(fmt.Sprint("idle-", i), second)
	}
	deep := Limit{Rate: 1, Window: time.Second, Burst: 100} // needs 100s to refill
	for range 100 {
		l.Allow("deep", deep)
	}
	hourly := Limit{Rate: 1, Window: time.Hour}
	l.Allow("hourly", hourly)

	clock.Advance(10*time.Second - 1)
	l.Allow("probe", second)
	if n := len(l.buckets); n != 53 {
		t.Fatalf("just under 10 windows: %d buckets, want 53", n)
	}
	clock.Advance(1)
	l.Allow("probe", second)
	// The idle one-second buckets go; "deep" has refilled only 10 of 100
	// tokens, and in LRU order it shields "hourly" and "probe" after it.
	if n := len(l.buckets); n != 3 {
		t.Fatalf("at 10 windows: %d buckets, want 3: %v", n, keys(l))
	}
	clock.Advance(90 * time.Second) // "deep" full again
	l.Allow("probe", second)
	if _, ok := l.buckets["deep"]; ok {
		t.Errorf("refilled idle bucket kept: %v", keys(l))
	}
	if _, ok := l.buckets["hourly"]; !ok {
		t.Errorf("bucket idle for under 10 of its windows dropped: %v", keys(l))
	}
	// An evicted bucket comes back full, which is what it would have been.
	if n, _ := drain(t, l, "idle-0", second); n != 1 {
		t.Errorf("re-created bucket allowed %d, want 1", n)
	}
}

func keys(l *Limiter) []string {
	var ks []string
	for e := l.lru.Front(); e != nil; e = e.Next() {
		ks = append(ks, e.Value.(*bucket).key)
	}
	return ks
}

func TestInvalidLimitPanics(t *testing.T) {
	for _, limit := range []Limit{
		{},
		{Rate: 0, Window: time.Second},
		{Rate: -1, Window: time.Second},
		{Rate: 1, Window: 0},
		{Rate: 1, Window: -time.Second},
		{Rate: 1, Window: time.Second, Burst: -1},
	} {
		t.Run(fmt.Sprintf("%+v", limit), func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("Allow did not panic")
				}
			}()
			New(nil).Allow("k", limit)
		})
	}
}

func TestRealClock(t *testing.T) {
	l := New(nil)
	limit := Limit{Rate: 2, Window: time.Hour}
	if n, retry := drain(t, l, "k", limit); n != 2 || retry <= 0 || retry > 30*time.Minute {
		t.Errorf("allowed %d, retryAfter %v; want 2, (0, 30m]", n, retry)
	}
}

func TestExtremeLimits(t *testing.T) {
	clock := newFakeClock()
	l := New(clock.Now)
	huge := Limit{Rate: math.MaxInt, Window: 1, Burst: 3}
	drain(t, l, "k", huge)
	clock.Advance(math.MaxInt64)
	if n, _ := drain(t, l, "k", huge); n != 3 {
		t.Errorf("after a long idle at a huge rate: allowed %d, want 3", n)
	}
	slow := Limit{Rate: 1, Window: math.MaxInt64}
	if n, retry := drain(t, l, "slow", slow); n != 1 || retry != math.MaxInt64 {
		t.Errorf("slowest limit: allowed %d, retryAfter %v", n, retry)
	}
}
