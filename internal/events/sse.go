package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// SSE protocol details.
const (
	// sseRetry is sent first so that clients reconnect quickly.
	sseRetry = "retry: 2000\n\n"
	// ssePing is the heartbeat comment.
	ssePing = ": ping\n\n"
	// sseReset tells a client that it missed events and must reload.
	sseReset = "event: reset\ndata: {\"message\":\"events were missed; reload state\"}\n\n"
	// sseWriteTimeout bounds each write to the client, so that a client
	// that stops reading (with a full TCP window) cannot hold the handler
	// forever, and a server-wide WriteTimeout does not cut a healthy stream.
	sseWriteTimeout = 30 * time.Second
)

// ServeSSE streams events to an HTTP client as Server-Sent Events until the
// request's context ends or the bus drops the subscription for being slow;
// either way the client (EventSource) reconnects and resumes.
//
// It resumes after the Last-Event-ID request header, or the last_event_id
// query parameter (for a first connection, which cannot set headers), when
// given; otherwise it starts with live events only. A Last-Event-ID that is
// not a decimal number gets 400. If the events after it were already
// evicted, the client first gets an event of type "reset" (with no id, so
// the client's last ID stays put) telling it to reload its state.
//
// If filter is non-nil, only the events for which it returns true are sent.
// If w cannot flush, the client gets 500: buffered events would never
// arrive.
func (b *Bus) ServeSSE(w http.ResponseWriter, r *http.Request, filter func(Event) bool) {
	afterID, resume, err := lastEventID(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}

	rc := http.NewResponseController(w)
	sseHeaders := [...][2]string{
		{"Content-Type", "text/event-stream"},
		{"Cache-Control", "no-cache"},
		{"Connection", "keep-alive"},
		{"X-Accel-Buffering", "no"},
	}
	h := w.Header()
	for _, kv := range sseHeaders {
		h.Set(kv[0], kv[1])
	}
	// Flushing now both sends the headers and tells whether w can stream.
	_ = rc.SetWriteDeadline(time.Now().Add(sseWriteTimeout)) // unsupported is fine
	if err := rc.Flush(); err != nil {
		if errors.Is(err, http.ErrNotSupported) {
			for _, kv := range sseHeaders {
				h.Del(kv[0])
			}
			http.Error(w, "event streaming is not supported by this connection", http.StatusInternalServerError)
		}
		return // otherwise the client is gone
	}

	var sub *Subscription
	if resume {
		sub = b.Subscribe(afterID)
	} else {
		sub = b.subscribeLive()
	}
	defer sub.Close()

	s := &sseStream{w: w, rc: rc}
	defer s.finish()

	if !s.send(sseRetry) {
		return
	}
	if sub.Missed() && !s.send(sseReset) {
		return
	}

	ticker := time.NewTicker(b.heartbeat)
	defer ticker.Stop()
	ctx := r.Context()
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-sub.C():
			if !ok {
				return // dropped for being slow
			}
			if filter != nil && !filter(e) {
				continue
			}
			frame, ok := b.sseFrame(e)
			if ok && !s.send(frame) {
				return
			}
			// The stream is busy, so a ping would be noise.
			ticker.Reset(b.heartbeat)
		case <-ticker.C:
			if !s.send(ssePing) {
				return
			}
		}
	}
}

// lastEventID returns the ID a client asks to resume after, and whether it
// asked at all. The header wins over the query parameter, since a browser
// sets the header on its own when it reconnects to the original URL.
func lastEventID(r *http.Request) (id uint64, ok bool, err error) {
	v := r.Header.Get("Last-Event-ID")
	if v == "" {
		v = r.URL.Query().Get("last_event_id")
	}
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false, nil
	}
	id, err = strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("bad Last-Event-ID %q: want a decimal event id", v)
	}
	return id, true, nil
}

// sseFrame renders e as one SSE event. It reports false when e cannot be
// encoded at all, in which case it is skipped (and logged).
func (b *Bus) sseFrame(e Event) (string, bool) {
	data, err := json.Marshal(e)
	if err != nil && e.Details != nil {
		// Details are free-form; keep the rest of the event rather than
		// losing it all to one value JSON cannot carry.
		e.Details = map[string]any{"error": "details cannot be encoded as JSON: " + err.Error()}
		data, err = json.Marshal(e)
	}
	if err != nil {
		b.warn("event cannot be encoded for the event stream; skipped",
			slog.Uint64("event_id", e.ID), slog.Any("error", err))
		return "", false
	}
	// An event type is one line of the frame; a line break in it would
	// forge fields.
	typ := string(e.Type)
	if strings.ContainsAny(typ, "\r\n") {
		typ = strings.NewReplacer("\r", "", "\n", "").Replace(typ)
	}
	return fmt.Sprintf("id: %d\nevent: %s\ndata: %s\n\n", e.ID, typ, data), true
}

// warn logs a problem of the bus itself.
func (b *Bus) warn(msg string, attrs ...slog.Attr) {
	l := b.logger
	if l == nil {
		l = slog.Default()
	}
	l.LogAttrs(context.Background(), slog.LevelWarn, msg, attrs...)
}

// sseStream writes SSE frames, each bounded in time and flushed at once.
type sseStream struct {
	w      io.Writer
	rc     *http.ResponseController
	broken bool
}

// send writes and flushes one frame, reporting whether the client got it.
func (s *sseStream) send(frame string) bool {
	_ = s.rc.SetWriteDeadline(time.Now().Add(sseWriteTimeout))
	if _, err := io.WriteString(s.w, frame); err != nil {
		s.broken = true
		return false
	}
	if err := s.rc.Flush(); err != nil {
		s.broken = true
		return false
	}
	return true
}

// finish clears the write deadline on a healthy connection, so that a
// kept-alive connection's next request does not inherit it.
func (s *sseStream) finish() {
	if !s.broken {
		_ = s.rc.SetWriteDeadline(time.Time{})
	}
}
