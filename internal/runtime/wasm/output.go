package wasm

import (
	"log/slog"
	"strings"
	"sync"

	"github.com/kubestellar/ksplugins/internal/pluginlog"
)

// What a guest writes to its standard output and error is plugin-controlled
// text, written at the rate the plugin's callers choose: it reaches the log
// only through the plugin's pluginlog.Gate, which caps each line's length
// and the lines a second, and counts what it drops.

// outputGate is the gate a plugin's output passes: the host's, or, when it
// gave none, one of the plugin's own with the default limits, which warns
// on log when it starts dropping.
func outputGate(g *pluginlog.Gate, log *slog.Logger) *pluginlog.Gate {
	if g != nil {
		return g
	}
	return pluginlog.NewGate(pluginlog.DefaultLimits(), func(c pluginlog.Change) {
		if c.Dropping {
			log.Warn("the plugin writes more than its log limit; its lines are dropped", "limits", pluginlog.Describe(c.Limits))
			return
		}
		log.Info("the plugin writes within its log limit again", "dropped", c.Dropped)
	})
}

// lineLog logs what a guest writes to one standard stream, a record per
// line, through the plugin's gate. It also remembers the guest's last
// panic, for error messages, even when the gate dropped that line.
type lineLog struct {
	w *pluginlog.Writer

	mu    sync.Mutex
	fatal string // the last "panic:" or "fatal error:" line
}

func newLineLog(gate *pluginlog.Gate, log *slog.Logger, stream string) *lineLog {
	l := &lineLog{}
	l.w = gate.Writer(log, stream, l.seen)
	return l
}

// Write implements io.Writer.
func (l *lineLog) Write(b []byte) (int, error) {
	return l.w.Write(b)
}

func (l *lineLog) seen(line string) {
	if strings.HasPrefix(line, "panic: ") || strings.HasPrefix(line, "fatal error: ") {
		l.mu.Lock()
		l.fatal = line
		l.mu.Unlock()
	}
}

func (l *lineLog) flush() {
	l.w.Flush()
}

// lastWords is the guest's last panic or fatal error, for error messages.
func (l *lineLog) lastWords() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fatal == "" {
		return ""
	}
	return " (" + l.fatal + ")"
}

// logError logs an error message the guest returned for a request, through
// the plugin's gate: the message is the plugin's text, as its output is.
func (p *Plugin) logError(method, path, msg string) {
	line, cut, ok := p.output.Line(msg)
	if !ok {
		return
	}
	if cut > 0 {
		p.log.Error("the plugin could not serve a request", "method", method, "path", path, "err", line, "truncated_bytes", cut)
		return
	}
	p.log.Error("the plugin could not serve a request", "method", method, "path", path, "err", line)
}
