package pluginlog

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a fake time source that tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// record is one log record a test handler kept.
type record struct {
	msg   string
	attrs map[string]any
}

// recorder is a slog.Handler that keeps every record.
type recorder struct {
	mu      sync.Mutex
	records []record
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *recorder) WithGroup(string) slog.Handler            { return r }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	attrs := map[string]any{}
	rec.Attrs(func(a slog.Attr) bool {
		attrs[a.Key] = a.Value.Any()
		return true
	})
	r.mu.Lock()
	r.records = append(r.records, record{msg: rec.Message, attrs: attrs})
	r.mu.Unlock()
	return nil
}

func (r *recorder) all() []record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]record(nil), r.records...)
}

// step is a number of lines written at once, then a wait.
type step struct {
	lines int
	wait  time.Duration
}

func TestGateRate(t *testing.T) {
	tests := []struct {
		name string
		// steps: lines written at once, then how long to wait.
		steps        []step
		wantLogged   uint64
		wantDropped  uint64
		wantChanges  []Change
		wantDropping bool
	}{
		{
			name:       "within the burst",
			steps:      []step{{10, 0}},
			wantLogged: 10,
		},
		{
			name:         "past the burst, one warning",
			steps:        []step{{25, 0}},
			wantLogged:   10,
			wantDropped:  15,
			wantChanges:  []Change{{Dropping: true}},
			wantDropping: true,
		},
		{
			name: "refills at the rate",
			// 10 at once, then a second later 5 more come back (rate 5/s).
			steps:        []step{{10, time.Second}, {8, 0}},
			wantLogged:   15,
			wantDropped:  3,
			wantChanges:  []Change{{Dropping: true}},
			wantDropping: true,
		},
		{
			name: "a sustained flood warns once",
			steps: func() []step {
				var s []step
				for range 30 {
					s = append(s, step{100, 200 * time.Millisecond})
				}
				return s
			}(),
			// burst 10, then 5/s for the 6 s the flood lasts (the last
			// wait comes after the last write).
			wantLogged:   10 + 29,
			wantDropped:  3000 - 39,
			wantChanges:  []Change{{Dropping: true}},
			wantDropping: true,
		},
		{
			name: "the end of an episode is told once, after a quiet spell",
			steps: []step{
				{20, 5 * time.Second}, // 10 dropped; not quiet long enough yet
				{1, 5 * time.Second},  // admitted, still the same episode
				{1, 0},                // admitted, 10 s after the last drop
				{1, 0},
			},
			wantLogged:  13,
			wantDropped: 10,
			wantChanges: []Change{{Dropping: true}, {Dropping: false, Dropped: 10}},
		},
	}
	lim := Limits{LinesPerSecond: 5, Burst: 10, MaxLineBytes: 64}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClock()
			var changes []Change
			g := newGate(lim, func(ch Change) { changes = append(changes, ch) }, c.now)
			for _, s := range tt.steps {
				for range s.lines {
					g.Admit()
				}
				c.advance(s.wait)
			}
			st := g.Stats()
			if st.Logged != tt.wantLogged || st.Dropped != tt.wantDropped || st.Dropping != tt.wantDropping {
				t.Errorf("stats %+v; want logged %d, dropped %d, dropping %v", st, tt.wantLogged, tt.wantDropped, tt.wantDropping)
			}
			if len(changes) != len(tt.wantChanges) {
				t.Fatalf("changes %+v; want %+v", changes, tt.wantChanges)
			}
			for i, ch := range changes {
				w := tt.wantChanges[i]
				if ch.Dropping != w.Dropping || ch.Dropped != w.Dropped || ch.Limits != lim {
					t.Errorf("change %d: %+v; want %+v with the limits", i, ch, w)
				}
			}
		})
	}
}

func TestGateDefaults(t *testing.T) {
	g := NewGate(Limits{}, nil)
	if g.Limits() != DefaultLimits() {
		t.Fatalf("zero limits became %+v; want the defaults %+v", g.Limits(), DefaultLimits())
	}
	g.SetLimits(Limits{LinesPerSecond: 1, Burst: 2})
	if got := g.Limits(); got.LinesPerSecond != 1 || got.Burst != 2 || got.MaxLineBytes != DefaultLimits().MaxLineBytes {
		t.Fatalf("after SetLimits: %+v", got)
	}
	n := 0
	for range 5 {
		if g.Admit() {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("admitted %d of 5 with a burst of 2", n)
	}
}

func TestWriter(t *testing.T) {
	long := strings.Repeat("x", 100)
	tests := []struct {
		name   string
		writes []string
		flush  bool
		want   []record // msg and the attributes that matter
		seen   []string
	}{
		{
			name:   "one line a write",
			writes: []string{"hello\n", "world\n"},
			want:   []record{{msg: "hello"}, {msg: "world"}},
		},
		{
			name:   "lines across writes",
			writes: []string{"hel", "lo\nwo", "rld\n\n"},
			want:   []record{{msg: "hello"}, {msg: "world"}, {msg: ""}},
		},
		{
			name:   "carriage returns",
			writes: []string{"dos\r\n"},
			want:   []record{{msg: "dos"}},
		},
		{
			name:   "a long line is cut and marked",
			writes: []string{long[:30], long[30:] + "\nnext\n"},
			want:   []record{{msg: long[:16], attrs: map[string]any{"truncated_bytes": int64(84)}}, {msg: "next"}},
		},
		{
			name:   "cut at a character boundary",
			writes: []string{"aaaaaaaaaaaaaaaé\n"}, // é is 2 bytes, at bytes 16-17
			want:   []record{{msg: "aaaaaaaaaaaaaaa", attrs: map[string]any{"truncated_bytes": int64(2)}}},
		},
		{
			name:   "flush logs the last line",
			writes: []string{"done\nno newline"},
			flush:  true,
			want:   []record{{msg: "done"}, {msg: "no newline"}},
		},
		{
			name:   "without flush a partial line waits",
			writes: []string{"partial"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			g := NewGate(Limits{LinesPerSecond: 100, Burst: 100, MaxLineBytes: 16}, nil)
			w := g.Writer(slog.New(rec), "stdout", nil)
			for _, s := range tt.writes {
				if n, err := w.Write([]byte(s)); n != len(s) || err != nil {
					t.Fatalf("Write(%q) = %d, %v", s, n, err)
				}
			}
			if tt.flush {
				w.Flush()
			}
			got := rec.all()
			if len(got) != len(tt.want) {
				t.Fatalf("records %+v; want %+v", got, tt.want)
			}
			for i, r := range got {
				if r.msg != tt.want[i].msg || r.attrs["stream"] != "stdout" {
					t.Errorf("record %d: %+v; want message %q on stdout", i, r, tt.want[i].msg)
				}
				for k, v := range tt.want[i].attrs {
					if r.attrs[k] != v {
						t.Errorf("record %d: %s = %v; want %v", i, k, r.attrs[k], v)
					}
				}
				if _, cut := r.attrs["truncated_bytes"]; cut != (tt.want[i].attrs != nil) {
					t.Errorf("record %d: truncated_bytes present %v", i, cut)
				}
			}
		})
	}
}

// TestWriterBounded writes a flood, and one huge line, and checks what
// reaches the log and what the writer holds.
func TestWriterBounded(t *testing.T) {
	rec := &recorder{}
	c := newClock()
	var changes []Change
	g := newGate(Limits{LinesPerSecond: 10, Burst: 20, MaxLineBytes: 1024}, func(ch Change) { changes = append(changes, ch) }, c.now)
	var seen []string
	w := g.Writer(slog.New(rec), "stderr", func(s string) { seen = append(seen, s) })

	line := []byte(strings.Repeat("y", 4096) + "\n")
	for range 1000 {
		w.Write(line)
	}
	huge := []byte(strings.Repeat("z", 1<<20))
	for range 64 { // 64 MiB without a newline
		w.Write(huge)
	}
	if cap(w.buf) > 4096 {
		t.Fatalf("the writer holds %d bytes for one line; want at most about MaxLineBytes", cap(w.buf))
	}
	w.Write([]byte("\n")) // ends the huge line, dropped: the bucket is empty
	c.advance(time.Minute)
	w.Write([]byte("panic: boom\n"))
	w.Flush()

	got := rec.all()
	if len(got) != 21 {
		t.Fatalf("%d records reached the log; want the burst of 20 and one after the wait", len(got))
	}
	for _, r := range got[:20] {
		if len(r.msg) != 1024 || r.attrs["truncated_bytes"] != int64(4096-1024) {
			t.Fatalf("a cut line: %d bytes, truncated_bytes %v", len(r.msg), r.attrs["truncated_bytes"])
		}
	}
	if got[20].msg != "panic: boom" {
		t.Fatalf("last record %q", got[20].msg)
	}
	st := g.Stats()
	// 1000 long lines and the huge one: 20 logged, 981 dropped; then the
	// panic line, after the bucket refilled.
	if st.Logged != 21 || st.Dropped != 981 || st.Truncated != 20 {
		t.Fatalf("stats %+v; want 21 logged, 981 dropped, 20 truncated", st)
	}
	if len(seen) != 1002 || seen[1001] != "panic: boom" {
		t.Fatalf("seen %d lines, last %q; want every line", len(seen), seen[len(seen)-1])
	}
	// The panic line came after a quiet minute: the episode is over.
	if len(changes) != 2 || !changes[0].Dropping || changes[1].Dropping || changes[1].Dropped != 981 {
		t.Fatalf("changes %+v; want the start of dropping, then its end after 981 lines", changes)
	}
}

func TestLine(t *testing.T) {
	g := NewGate(Limits{LinesPerSecond: 1, Burst: 1, MaxLineBytes: 4}, nil)
	line, cut, ok := g.Line("abcdefg")
	if line != "abcd" || cut != 3 || !ok {
		t.Fatalf("Line = %q, %d, %v", line, cut, ok)
	}
	if _, _, ok := g.Line("x"); ok {
		t.Fatal("a second line within the second was admitted with a burst of 1")
	}
	if st := g.Stats(); st.Logged != 1 || st.Dropped != 1 || st.Truncated != 1 {
		t.Fatalf("stats %+v", st)
	}
}
