// Package pluginlog bounds what plugins write to the server's log.
//
// A plugin's output is plugin-controlled data, and a plugin endpoint may be
// called by anyone: without a bound, a caller can make a chatty (or hostile)
// plugin fill the server's disk through its log. Every line a plugin writes
// therefore passes a Gate, one per plugin, shared by all its instances and
// kept across reloads:
//
//   - a line longer than Limits.MaxLineBytes keeps its first MaxLineBytes
//     bytes; the rest is discarded and the record carries truncated_bytes;
//   - a token bucket admits Limits.LinesPerSecond lines a second on average,
//     and bursts of Limits.Burst; lines beyond it are dropped and counted;
//   - when a gate starts dropping it reports it once (Change.Dropping), and
//     again when the plugin is back within its limit (see quietPeriod), so a
//     flood costs two log lines, not one per dropped line.
//
// Only output that passes through the host can be bounded: the sandboxed
// tier's standard output and error, and the error messages its guest
// returns. A native plugin runs in the server's own process and may write to
// os.Stderr or through package log directly; that is not intercepted, as
// native code is trusted (only an admin may load it) and could bypass any
// wrapper anyway.
package pluginlog

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"
	"github.com/kubestellar/ksplugins/internal/ratelimit"
)

// quietPeriod is how long a dropping gate must go without dropping a line
// before the next admitted line ends the episode. Without it a plugin
// logging just above its rate would start and stop dropping many times a
// second, and each change is itself a log line.
const quietPeriod = 10 * time.Second

// Limits bound one plugin's log output: the management API's, so that the
// system configuration carries them as they are enforced.
type Limits = apiv1.PluginLogLimits

// DefaultLimits are 100 lines a second, bursts of 1000, 8 KiB a line: at
// most about 1 MB of plugin output a second per plugin, and far more than a
// plugin that logs for people to read needs.
func DefaultLimits() Limits {
	return Limits{LinesPerSecond: 100, Burst: 1000, MaxLineBytes: 8 << 10}
}

// withDefaults replaces the fields of l that describe no limit with
// DefaultLimits', so a Gate is never unbounded by mistake.
func withDefaults(l Limits) Limits {
	d := DefaultLimits()
	if l.LinesPerSecond <= 0 {
		l.LinesPerSecond = d.LinesPerSecond
	}
	if l.Burst <= 0 {
		l.Burst = d.Burst
	}
	if l.MaxLineBytes <= 0 {
		l.MaxLineBytes = d.MaxLineBytes
	}
	return l
}

// Change reports that a gate started or stopped dropping lines.
type Change struct {
	// Dropping is true when the gate started dropping, false when it
	// stopped.
	Dropping bool
	// Dropped is, when Dropping is false, how many lines the episode that
	// just ended dropped.
	Dropped uint64
	// Limits are the limits in force.
	Limits Limits
}

// Stats are one gate's counters, in the management API's shape.
type Stats = apiv1.LogStats

// Gate admits one plugin's lines within its limits. It is safe for
// concurrent use; make one with NewGate.
type Gate struct {
	onChange func(Change)
	now      func() time.Time
	bucket   *ratelimit.Limiter

	mu       sync.Mutex
	limits   Limits
	dropping bool
	lastDrop time.Time
	episode  uint64 // lines dropped in the current episode

	logged, dropped, truncated atomic.Uint64
}

// NewGate returns a gate with limits (zero fields take DefaultLimits'),
// which calls onChange, if not nil, when it starts or stops dropping lines.
// onChange runs on the goroutine of the plugin's write: it must not block,
// and must not write through the same gate.
func NewGate(limits Limits, onChange func(Change)) *Gate {
	return newGate(limits, onChange, time.Now)
}

func newGate(limits Limits, onChange func(Change), now func() time.Time) *Gate {
	return &Gate{onChange: onChange, now: now, bucket: ratelimit.New(now), limits: withDefaults(limits)}
}

// SetLimits changes the gate's limits from now on. A lower rate never
// grants extra lines: the bucket keeps its level, capped at the new burst.
func (g *Gate) SetLimits(limits Limits) {
	g.mu.Lock()
	g.limits = withDefaults(limits)
	g.mu.Unlock()
}

// Limits returns the limits in force.
func (g *Gate) Limits() Limits {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.limits
}

// Stats returns the gate's counters.
func (g *Gate) Stats() Stats {
	g.mu.Lock()
	dropping := g.dropping
	g.mu.Unlock()
	return Stats{Logged: g.logged.Load(), Dropped: g.dropped.Load(), Truncated: g.truncated.Load(), Dropping: dropping}
}

// Admit takes one line from the bucket and reports whether it may be
// logged; a refused line is counted as dropped.
func (g *Gate) Admit() bool {
	g.mu.Lock()
	lim := g.limits
	ok, _ := g.bucket.Allow("", ratelimit.Limit{Rate: lim.LinesPerSecond, Window: time.Second, Burst: lim.Burst})
	var change *Change
	now := g.now()
	switch {
	case !ok:
		g.dropped.Add(1)
		g.episode++
		g.lastDrop = now
		if !g.dropping {
			g.dropping = true
			change = &Change{Dropping: true, Limits: lim}
		}
	case g.dropping && now.Sub(g.lastDrop) >= quietPeriod:
		g.dropping = false
		change = &Change{Dropping: false, Dropped: g.episode, Limits: lim}
		g.episode = 0
	}
	if ok {
		g.logged.Add(1)
	}
	g.mu.Unlock()
	if change != nil && g.onChange != nil {
		g.onChange(*change)
	}
	return ok
}

// Line cuts s at the gate's MaxLineBytes and admits it: it returns the
// line to log, how many bytes were cut from it, and whether to log it at
// all. It is for messages that arrive whole, such as an error a plugin
// returns; streams go through a Writer.
func (g *Gate) Line(s string) (line string, cut int, ok bool) {
	line, cut = truncate(s, g.Limits().MaxLineBytes)
	if !g.Admit() {
		return "", 0, false
	}
	if cut > 0 {
		g.truncated.Add(1)
	}
	return line, cut, true
}

// truncate returns s cut to at most limit bytes, at a character boundary,
// and how many bytes were cut.
func truncate(s string, limit int) (string, int) {
	if len(s) <= limit {
		return s, 0
	}
	kept := trimPartialRune(s[:limit])
	return kept, len(s) - len(kept)
}

// trimPartialRune drops an incomplete UTF-8 sequence at the end of s, left
// there by cutting a line at a byte count.
func trimPartialRune(s string) string {
	for i := 0; i < utf8.UTFMax && len(s) > 0; i++ {
		r, size := utf8.DecodeLastRuneInString(s)
		if r != utf8.RuneError || size != 1 {
			break
		}
		s = s[:len(s)-1]
	}
	return s
}

// Writer returns an io.Writer for one output stream of the plugin: it cuts
// what is written into lines and logs each line the gate admits as one
// Info record on log, with the attribute stream. seen, if not nil, is
// called with every complete line, admitted or not (already cut at
// MaxLineBytes), before it is logged; the sandbox uses it to keep a guest's
// last panic for error messages even when the log dropped it.
func (g *Gate) Writer(log *slog.Logger, stream string, seen func(line string)) *Writer {
	return &Writer{gate: g, log: log, stream: stream, seen: seen}
}

// Writer logs a plugin's output stream through its Gate. Memory is bounded
// too: at most MaxLineBytes of a line are held, however long it is. Call
// Flush when the stream ends, to log a last line without a newline.
type Writer struct {
	gate   *Gate
	log    *slog.Logger
	stream string
	seen   func(string)

	mu   sync.Mutex
	buf  []byte // the current line, up to MaxLineBytes
	over int    // bytes of the current line beyond MaxLineBytes, discarded
}

// Write implements io.Writer. It never fails: output the log refuses is
// dropped, not reported to the plugin.
func (w *Writer) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(b)
	limit := w.gate.Limits().MaxLineBytes
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		part := b
		if i >= 0 {
			part = b[:i]
		}
		room := max(0, limit-len(w.buf))
		if len(part) > room {
			w.over += len(part) - room
			part = part[:room]
		}
		w.buf = append(w.buf, part...)
		if i < 0 {
			break
		}
		w.emit()
		b = b[i+1:]
	}
	return n, nil
}

// Flush logs what was written after the last newline, if anything.
func (w *Writer) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 || w.over > 0 {
		w.emit()
	}
}

// emit logs the current line, if admitted, and starts a new one.
func (w *Writer) emit() {
	s := string(w.buf)
	over := w.over
	w.buf, w.over = w.buf[:0], 0
	if over > 0 {
		kept := trimPartialRune(s)
		over += len(s) - len(kept)
		s = kept
	} else {
		s = strings.TrimSuffix(s, "\r")
	}
	if w.seen != nil {
		w.seen(s)
	}
	if !w.gate.Admit() {
		return
	}
	if over > 0 {
		w.gate.truncated.Add(1)
		w.log.Info(s, "stream", w.stream, "truncated_bytes", over)
		return
	}
	w.log.Info(s, "stream", w.stream)
}

// Describe describes l, for messages: "100 lines/s, bursts of 1000, 8192
// bytes a line".
func Describe(l Limits) string {
	return fmt.Sprintf("%d lines/s, bursts of %d, %d bytes a line", l.LinesPerSecond, l.Burst, l.MaxLineBytes)
}
