package events

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// quietBus returns a bus that logs nowhere.
func quietBus(opts Options) *Bus {
	opts.Logger = slog.New(slog.DiscardHandler)
	return NewBus(opts)
}

// ids returns the IDs of events.
func ids(events []Event) []uint64 {
	out := make([]uint64, 0, len(events))
	for _, e := range events {
		out = append(out, e.ID)
	}
	return out
}

// span returns the IDs from..to inclusive (nil when from > to).
func span(from, to uint64) []uint64 {
	var out []uint64
	for id := from; id <= to; id++ {
		out = append(out, id)
	}
	return out
}

func equalIDs(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestPublishAssignsIDAndTime(t *testing.T) {
	b := quietBus(Options{})
	if got := b.LastID(); got != 0 {
		t.Fatalf("LastID of empty bus = %d, want 0", got)
	}
	before := time.Now()
	var prev uint64
	for i := range 100 {
		e := b.Publish(Event{Type: Loaded, Message: fmt.Sprint(i)})
		if e.ID != prev+1 {
			t.Fatalf("event %d: ID = %d, want %d", i, e.ID, prev+1)
		}
		prev = e.ID
		if e.Time.IsZero() || e.Time.Location() != time.UTC {
			t.Fatalf("event %d: Time = %v, want set and UTC", i, e.Time)
		}
		if e.Time.Before(before.Add(-time.Second)) || e.Time.After(time.Now().Add(time.Second)) {
			t.Fatalf("event %d: Time = %v, not now", i, e.Time)
		}
	}
	if got := b.LastID(); got != 100 {
		t.Fatalf("LastID = %d, want 100", got)
	}

	given := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	if e := b.Publish(Event{Type: Loaded, Time: given}); !e.Time.Equal(given) {
		t.Fatalf("Publish replaced a given Time: got %v, want %v", e.Time, given)
	}
}

func TestPublishCopiesDetails(t *testing.T) {
	b := quietBus(Options{})
	d := map[string]any{"k": "before"}
	b.Publish(Event{Type: ConfigChanged, Details: d})
	d["k"] = "after"
	if got := b.Since(0)[0].Details["k"]; got != "before" {
		t.Fatalf("stored Details changed with the caller's map: k = %v", got)
	}
}

func TestRingAndQueries(t *testing.T) {
	base := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	at := func(id uint64) time.Time { return base.Add(time.Duration(id) * time.Minute) }

	tests := []struct {
		name      string
		capacity  int
		published uint64
		afterID   uint64
		wantSince []uint64
		afterTime time.Time
		wantTime  []uint64
	}{
		{name: "empty", capacity: 3, published: 0, afterID: 0, wantSince: nil, afterTime: base, wantTime: nil},
		{name: "below capacity from start", capacity: 5, published: 3, afterID: 0, wantSince: span(1, 3), afterTime: at(0), wantTime: span(1, 3)},
		{name: "exactly full", capacity: 3, published: 3, afterID: 1, wantSince: span(2, 3), afterTime: at(1), wantTime: span(2, 3)},
		{name: "evicted, afterID before ring", capacity: 3, published: 5, afterID: 0, wantSince: span(3, 5), afterTime: at(0), wantTime: span(3, 5)},
		{name: "evicted, afterID just before oldest", capacity: 3, published: 5, afterID: 2, wantSince: span(3, 5), afterTime: at(2), wantTime: span(3, 5)},
		{name: "afterID is oldest", capacity: 3, published: 5, afterID: 3, wantSince: span(4, 5), afterTime: at(3), wantTime: span(4, 5)},
		{name: "afterID is newest", capacity: 3, published: 5, afterID: 5, wantSince: nil, afterTime: at(5), wantTime: nil},
		{name: "afterID beyond newest", capacity: 3, published: 5, afterID: 9, wantSince: nil, afterTime: at(9), wantTime: nil},
		{name: "wrapped many times", capacity: 4, published: 1001, afterID: 999, wantSince: span(1000, 1001), afterTime: at(999), wantTime: span(1000, 1001)},
		{name: "capacity one", capacity: 1, published: 7, afterID: 0, wantSince: span(7, 7), afterTime: at(6).Add(time.Second), wantTime: span(7, 7)},
		{name: "time between events", capacity: 10, published: 5, afterID: 4, wantSince: span(5, 5), afterTime: at(2).Add(time.Second), wantTime: span(3, 5)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := quietBus(Options{Capacity: tt.capacity})
			for id := uint64(1); id <= tt.published; id++ {
				b.Publish(Event{Type: Progress, Time: at(id)})
			}
			if got := b.LastID(); got != tt.published {
				t.Errorf("LastID = %d, want %d", got, tt.published)
			}
			if got := ids(b.Since(tt.afterID)); !equalIDs(got, tt.wantSince) {
				t.Errorf("Since(%d) = %v, want %v", tt.afterID, got, tt.wantSince)
			}
			if got := ids(b.SinceTime(tt.afterTime)); !equalIDs(got, tt.wantTime) {
				t.Errorf("SinceTime(%v) = %v, want %v", tt.afterTime, got, tt.wantTime)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	b := NewBus(Options{})
	if b.capacity != defaultCapacity || b.buffer != defaultBuffer || b.heartbeat != defaultHeartbeat {
		t.Fatalf("defaults = %d/%d/%v, want %d/%d/%v",
			b.capacity, b.buffer, b.heartbeat, defaultCapacity, defaultBuffer, defaultHeartbeat)
	}
	b = quietBus(Options{})
	for range defaultCapacity + 10 {
		b.Publish(Event{Type: Progress})
	}
	if got := len(b.Since(0)); got != defaultCapacity {
		t.Fatalf("ring holds %d events, want %d", got, defaultCapacity)
	}
}

func TestSubscribeReplayThenLive(t *testing.T) {
	b := quietBus(Options{Capacity: 10, Buffer: 4})
	for range 5 {
		b.Publish(Event{Type: Loaded})
	}
	s := b.Subscribe(2)
	defer s.Close()
	if s.Missed() {
		t.Fatal("Missed() = true with afterID inside the ring")
	}
	for range 3 {
		b.Publish(Event{Type: Loaded})
	}
	var got []uint64
	for len(got) < 6 {
		got = append(got, (<-s.C()).ID)
	}
	if want := span(3, 8); !equalIDs(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestSubscribeReplayLargerThanBuffer(t *testing.T) {
	b := quietBus(Options{Capacity: 100, Buffer: 2})
	for range 50 {
		b.Publish(Event{Type: Loaded})
	}
	s := b.Subscribe(0)
	defer s.Close()
	b.Publish(Event{Type: Loaded})
	if s.Dropped() {
		t.Fatal("subscriber dropped because of its own replay")
	}
	for want := uint64(1); want <= 51; want++ {
		if e := <-s.C(); e.ID != want {
			t.Fatalf("got ID %d, want %d", e.ID, want)
		}
	}
}

// TestSubscribeConcurrentNoGap subscribes while a publisher is running and
// checks that each subscriber sees a contiguous sequence from afterID+1.
func TestSubscribeConcurrentNoGap(t *testing.T) {
	const total = 10000
	b := quietBus(Options{Capacity: total, Buffer: total})
	marks := []uint64{1, 1000, 5000, 9000}
	reached := make(chan struct{}, len(marks))

	var wg sync.WaitGroup
	wg.Go(func() {
		next := 0
		for range total {
			e := b.Publish(Event{Type: Progress})
			if next < len(marks) && e.ID == marks[next] {
				reached <- struct{}{}
				next++
			}
		}
	})

	var subs []*Subscription
	var afters []uint64
	for i := range marks {
		<-reached
		after := b.LastID()
		// Alternate between resuming from a little back and going live.
		if i%2 == 0 && after > 50 {
			after -= 50
		}
		afters = append(afters, after)
		subs = append(subs, b.Subscribe(after))
	}
	wg.Wait()

	for i, s := range subs {
		if s.Missed() {
			t.Errorf("subscriber %d: Missed() = true", i)
		}
		want := afters[i] + 1
		for want <= total {
			e, ok := <-s.C()
			if !ok {
				t.Fatalf("subscriber %d: channel closed at ID %d (dropped=%v)", i, want, s.Dropped())
			}
			if e.ID != want {
				t.Fatalf("subscriber %d (after %d): got ID %d, want %d", i, afters[i], e.ID, want)
			}
			want++
		}
		s.Close()
	}
}

func TestSlowSubscriberDropped(t *testing.T) {
	const buffer = 8
	b := quietBus(Options{Capacity: 16, Buffer: buffer})
	stuck := b.Subscribe(b.LastID())
	healthy := b.Subscribe(b.LastID())
	defer healthy.Close()

	// 100000 events with a stuck subscriber: finishing at all shows that
	// Publish does not block. The healthy subscriber keeps up and keeps
	// getting every event.
	const total = 100000
	for i := range total {
		e := b.Publish(Event{Type: Progress})
		if i < buffer && stuck.Dropped() {
			t.Fatalf("dropped at event %d, before its buffer of %d was full", e.ID, buffer)
		}
		if got := <-healthy.C(); got.ID != e.ID {
			t.Fatalf("healthy subscriber: got ID %d, want %d", got.ID, e.ID)
		}
	}
	if !stuck.Dropped() {
		t.Fatal("stuck subscriber not dropped")
	}
	if healthy.Dropped() {
		t.Fatal("healthy subscriber dropped")
	}
	// What it had buffered is still delivered, then the channel is closed.
	n := 0
	for e := range stuck.C() {
		n++
		if e.ID != uint64(n) {
			t.Fatalf("stuck subscriber: got ID %d, want %d", e.ID, n)
		}
	}
	if n != buffer {
		t.Fatalf("stuck subscriber received %d events, want %d", n, buffer)
	}
	stuck.Close() // no-op after a drop
}

func TestPublishNeverBlocks(t *testing.T) {
	b := quietBus(Options{Capacity: 64, Buffer: 1})
	subs := make([]*Subscription, 10)
	for i := range subs {
		subs[i] = b.Subscribe(0)
	}
	for range 100000 {
		b.Publish(Event{Type: Progress})
	}
	for i, s := range subs {
		if !s.Dropped() {
			t.Errorf("subscriber %d not dropped", i)
		}
	}
}

func TestMissed(t *testing.T) {
	tests := []struct {
		name      string
		published int
		afterID   uint64
		want      bool
	}{
		{name: "empty bus, from start", published: 0, afterID: 0, want: false},
		{name: "empty bus, unknown id", published: 0, afterID: 3, want: true},
		{name: "nothing evicted", published: 4, afterID: 0, want: false},
		{name: "evicted, from start", published: 10, afterID: 0, want: true},
		{name: "evicted, afterID before oldest", published: 10, afterID: 5, want: true},
		{name: "afterID just before oldest", published: 10, afterID: 6, want: false},
		{name: "afterID newest", published: 10, afterID: 10, want: false},
		{name: "afterID from the future", published: 10, afterID: 11, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := quietBus(Options{Capacity: 4})
			for range tt.published {
				b.Publish(Event{Type: Loaded})
			}
			s := b.Subscribe(tt.afterID)
			defer s.Close()
			if got := s.Missed(); got != tt.want {
				t.Fatalf("Missed() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCloseIdempotentAndConcurrent(t *testing.T) {
	b := quietBus(Options{Capacity: 16, Buffer: 4})
	stop := make(chan struct{})
	var pub sync.WaitGroup
	pub.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				b.Publish(Event{Type: Progress})
			}
		}
	})

	var wg sync.WaitGroup
	for range 50 {
		s := b.Subscribe(b.LastID())
		for range 3 {
			wg.Go(s.Close)
		}
		wg.Go(func() {
			for range s.C() {
			}
		})
	}
	wg.Wait()
	close(stop)
	pub.Wait()

	b.mu.Lock()
	n := len(b.subs)
	b.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d subscriptions still registered after Close", n)
	}
}

func TestCloseClosesChannel(t *testing.T) {
	b := quietBus(Options{})
	s := b.Subscribe(0)
	s.Close()
	s.Close()
	select {
	case _, ok := <-s.C():
		if ok {
			t.Fatal("received an event after Close")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("channel not closed by Close")
	}
	if s.Dropped() {
		t.Fatal("Dropped() = true after Close")
	}
	b.Publish(Event{Type: Loaded}) // must not panic on the closed channel
}

func TestLogging(t *testing.T) {
	tests := []struct {
		name      string
		event     Event
		wantLevel string
		want      map[string]any
		absent    []string
	}{
		{
			name:      "info with plugin and details",
			event:     Event{Type: Loaded, PluginID: "cluster-info", Actor: "admin", Message: "plugin loaded", Details: map[string]any{"version": "1.2.0", "took_ms": 42}},
			wantLevel: "INFO",
			want: map[string]any{
				"msg": "plugin loaded", "event_id": 1.0, "event_type": "loaded",
				"plugin_id": "cluster-info", "actor": "admin", "version": "1.2.0", "took_ms": 42.0,
			},
		},
		{
			name:      "error at warn",
			event:     Event{Type: Error, PluginID: "p", Actor: "system", Message: "OnLoad failed"},
			wantLevel: "WARN",
			want:      map[string]any{"event_type": "error", "plugin_id": "p", "actor": "system"},
		},
		{
			name:      "no plugin id",
			event:     Event{Type: StateChanged, Actor: "system", Message: "host ready"},
			wantLevel: "INFO",
			want:      map[string]any{"event_type": "state_changed"},
			absent:    []string{"plugin_id"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			b := NewBus(Options{Logger: slog.New(slog.NewJSONHandler(&buf, nil))})
			b.Publish(tt.event)
			var line map[string]any
			if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
				t.Fatalf("log output %q: %v", buf.String(), err)
			}
			if line["level"] != tt.wantLevel {
				t.Errorf("level = %v, want %s", line["level"], tt.wantLevel)
			}
			for k, v := range tt.want {
				if line[k] != v {
					t.Errorf("%s = %v (%T), want %v", k, line[k], line[k], v)
				}
			}
			for _, k := range tt.absent {
				if _, ok := line[k]; ok {
					t.Errorf("%s present, want absent: %s", k, buf.String())
				}
			}
		})
	}
}

// frame is one parsed SSE frame.
type frame struct {
	raw      string
	id       string
	hasID    bool
	event    string
	data     string
	retry    string
	comments []string
}

// readFrame reads one SSE frame (lines up to a blank line), strictly.
func readFrame(br *bufio.Reader) (frame, error) {
	var f frame
	var raw strings.Builder
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return f, err
		}
		raw.WriteString(line)
		line = strings.TrimSuffix(line, "\n")
		if line == "" {
			if raw.Len() == 1 {
				return f, fmt.Errorf("frame starts with a blank line")
			}
			f.raw = raw.String()
			return f, nil
		}
		if c, ok := strings.CutPrefix(line, ":"); ok {
			f.comments = append(f.comments, strings.TrimSpace(c))
			continue
		}
		k, v, ok := strings.Cut(line, ": ")
		if !ok {
			return f, fmt.Errorf("malformed line %q", line)
		}
		switch k {
		case "id":
			f.id, f.hasID = v, true
		case "event":
			f.event = v
		case "data":
			f.data = v
		case "retry":
			f.retry = v
		default:
			return f, fmt.Errorf("unknown field in %q", line)
		}
	}
}

// stream is a client connected to an SSE endpoint.
type stream struct {
	t      *testing.T
	br     *bufio.Reader
	resp   *http.Response
	cancel context.CancelFunc
}

// next returns the next frame that is not a heartbeat.
func (s *stream) next() frame {
	s.t.Helper()
	for {
		f, err := readFrame(s.br)
		if err != nil {
			s.t.Fatalf("read frame: %v", err)
		}
		if len(f.comments) > 0 && !f.hasID && f.event == "" && f.data == "" && f.retry == "" {
			continue
		}
		return f
	}
}

// nextEvent returns the next event frame and its decoded data.
func (s *stream) nextEvent() (frame, Event) {
	s.t.Helper()
	f := s.next()
	var e Event
	if err := json.Unmarshal([]byte(f.data), &e); err != nil {
		s.t.Fatalf("frame %q: data is not an Event: %v", f.raw, err)
	}
	return f, e
}

// sseServer serves b.ServeSSE and reports each handler return on returned.
type sseServer struct {
	url      string
	client   *http.Client
	returned chan struct{}
}

func newSSEServer(t *testing.T, b *Bus, filter func(Event) bool) *sseServer {
	t.Helper()
	returned := make(chan struct{}, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() { returned <- struct{}{} }()
		b.ServeSSE(w, r, filter)
	}))
	t.Cleanup(srv.Close)
	return &sseServer{url: srv.URL, client: srv.Client(), returned: returned}
}

// open connects to path (relative to the server) with an optional
// Last-Event-ID, and checks the response headers and the retry frame.
func (srv *sseServer) open(t *testing.T, path, lastID string) *stream {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := srv.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d, want 200", resp.StatusCode)
	}
	for k, v := range map[string]string{
		"Content-Type":      "text/event-stream",
		"Cache-Control":     "no-cache",
		"Connection":        "keep-alive",
		"X-Accel-Buffering": "no",
	} {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	s := &stream{t: t, br: bufio.NewReader(resp.Body), resp: resp, cancel: cancel}
	f, err := readFrame(s.br)
	if err != nil {
		t.Fatalf("read retry frame: %v", err)
	}
	if f.raw != "retry: 2000\n\n" {
		t.Fatalf("first frame = %q, want the retry line", f.raw)
	}
	return s
}

// waitReturned waits for one handler return.
func (srv *sseServer) waitReturned(t *testing.T) {
	t.Helper()
	select {
	case <-srv.returned:
	case <-time.After(10 * time.Second):
		t.Fatal("handler did not return")
	}
}

func TestServeSSEFraming(t *testing.T) {
	b := quietBus(Options{})
	b.Publish(Event{Type: Loaded, Message: "before connect"}) // not sent: live only
	srv := newSSEServer(t, b, nil)
	s := srv.open(t, "/", "")

	published := []Event{
		b.Publish(Event{Type: Loaded, PluginID: "a", Actor: "admin", Message: "loaded a", Details: map[string]any{"version": "1.0.0"}}),
		b.Publish(Event{Type: HealthChanged, PluginID: "a", Message: "healthy"}),
		b.Publish(Event{Type: Error, PluginID: "b", Message: "boom"}),
	}
	for _, want := range published {
		f, got := s.nextEvent()
		data, err := json.Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		if wantRaw := fmt.Sprintf("id: %d\nevent: %s\ndata: %s\n\n", want.ID, want.Type, data); f.raw != wantRaw {
			t.Fatalf("frame = %q, want %q", f.raw, wantRaw)
		}
		if got.ID != want.ID || got.Type != want.Type || got.PluginID != want.PluginID ||
			got.Message != want.Message || !got.Time.Equal(want.Time) {
			t.Fatalf("decoded %+v, want %+v", got, want)
		}
	}
}

func TestServeSSEResume(t *testing.T) {
	b := quietBus(Options{})
	srv := newSSEServer(t, b, nil)
	for range 10 {
		b.Publish(Event{Type: Progress})
	}

	tests := []struct {
		name   string
		path   string
		header string
	}{
		{name: "Last-Event-ID header", path: "/", header: "4"},
		{name: "last_event_id query", path: "/?last_event_id=4"},
		{name: "header wins over query", path: "/?last_event_id=1", header: "4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := srv.open(t, tt.path, tt.header)
			for want := uint64(5); want <= 10; want++ {
				if f, e := s.nextEvent(); e.ID != want || f.id != fmt.Sprint(want) {
					t.Fatalf("got id %q / %d, want %d", f.id, e.ID, want)
				}
			}
			s.cancel()
			srv.waitReturned(t)
		})
	}

	// A reconnect resumes exactly after the last event the client saw,
	// including events published while it was away.
	s := srv.open(t, "/", "")
	b.Publish(Event{Type: Progress})
	f, e := s.nextEvent()
	if e.ID != 11 {
		t.Fatalf("live event ID = %d, want 11", e.ID)
	}
	s.cancel()
	srv.waitReturned(t)
	b.Publish(Event{Type: Progress})
	b.Publish(Event{Type: Progress})
	s = srv.open(t, "/", f.id)
	for want := uint64(12); want <= 13; want++ {
		if _, e := s.nextEvent(); e.ID != want {
			t.Fatalf("after reconnect: ID = %d, want %d", e.ID, want)
		}
	}
}

func TestServeSSEFilter(t *testing.T) {
	b := quietBus(Options{})
	srv := newSSEServer(t, b, func(e Event) bool { return e.PluginID == "keep" })
	s := srv.open(t, "/", "")
	for i := range 20 {
		id := "drop"
		if i%3 == 0 {
			id = "keep"
		}
		b.Publish(Event{Type: Progress, PluginID: id, Message: fmt.Sprint(i)})
	}
	for i := 0; i < 20; i += 3 {
		_, e := s.nextEvent()
		if e.PluginID != "keep" || e.Message != fmt.Sprint(i) {
			t.Fatalf("got %+v, want plugin keep message %d", e, i)
		}
	}
}

func TestServeSSEReturnsOnDisconnect(t *testing.T) {
	b := quietBus(Options{})
	srv := newSSEServer(t, b, nil)
	s := srv.open(t, "/", "")
	b.Publish(Event{Type: Loaded})
	s.nextEvent()
	s.cancel()
	srv.waitReturned(t)

	b.mu.Lock()
	n := len(b.subs)
	b.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d subscriptions left after the handler returned", n)
	}
}

func TestServeSSEHeartbeat(t *testing.T) {
	b := quietBus(Options{Heartbeat: 20 * time.Millisecond})
	srv := newSSEServer(t, b, nil)
	s := srv.open(t, "/", "")
	f, err := readFrame(s.br)
	if err != nil {
		t.Fatal(err)
	}
	if f.raw != ": ping\n\n" {
		t.Fatalf("frame = %q, want a ping comment", f.raw)
	}
	// Events still flow between pings.
	b.Publish(Event{Type: Enabled})
	if _, e := s.nextEvent(); e.Type != Enabled {
		t.Fatalf("got %v, want enabled", e.Type)
	}
}

func TestServeSSEReset(t *testing.T) {
	b := quietBus(Options{Capacity: 4})
	for range 10 {
		b.Publish(Event{Type: Progress})
	}
	srv := newSSEServer(t, b, nil)

	tests := []struct {
		name    string
		lastID  string
		wantIDs []uint64
	}{
		{name: "evicted", lastID: "2", wantIDs: span(7, 10)},
		{name: "unknown to this bus", lastID: "99", wantIDs: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := srv.open(t, "/", tt.lastID)
			f := s.next()
			want := "event: reset\ndata: {\"message\":\"events were missed; reload state\"}\n\n"
			if f.raw != want {
				t.Fatalf("frame = %q, want %q", f.raw, want)
			}
			for _, id := range tt.wantIDs {
				if _, e := s.nextEvent(); e.ID != id {
					t.Fatalf("ID = %d, want %d", e.ID, id)
				}
			}
			s.cancel()
			srv.waitReturned(t)
		})
	}

	// No reset when nothing was missed.
	s := srv.open(t, "/", "7")
	if f, e := s.nextEvent(); f.event != string(Progress) || e.ID != 8 {
		t.Fatalf("got %q id %d, want progress 8", f.event, e.ID)
	}
}

func TestServeSSEBadLastEventID(t *testing.T) {
	b := quietBus(Options{})
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodGet, "/?last_event_id=abc", nil)
	b.ServeSSE(w, r, nil)
	if w.Code != http.StatusBadRequest {
		t.Fatalf("status = %d, want 400", w.Code)
	}
}

// noFlush hides every optional interface of the ResponseWriter it wraps.
type noFlush struct{ http.ResponseWriter }

func TestServeSSENotFlushable(t *testing.T) {
	b := quietBus(Options{})
	rec := httptest.NewRecorder()
	b.ServeSSE(noFlush{rec}, httptest.NewRequest(http.MethodGet, "/", nil), nil)
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("status = %d, want 500", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("Content-Type = %q, want text/plain", ct)
	}
	if rec.Header().Get("X-Accel-Buffering") != "" {
		t.Fatal("SSE headers left on the error response")
	}
	b.mu.Lock()
	n := len(b.subs)
	b.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d subscriptions left", n)
	}
}

// stuckWriter is a flushable ResponseWriter whose writes wait for release.
type stuckWriter struct {
	header  http.Header
	writing chan struct{} // closed on the first write
	once    sync.Once
	release chan struct{}
}

func (w *stuckWriter) Header() http.Header { return w.header }
func (w *stuckWriter) WriteHeader(int)     {}
func (w *stuckWriter) Flush()              {}
func (w *stuckWriter) Write(p []byte) (int, error) {
	w.once.Do(func() { close(w.writing) })
	<-w.release
	return len(p), nil
}

// TestServeSSEReturnsWhenDropped checks that a handler stuck writing to a
// slow client gets its subscription dropped, and returns once unstuck.
func TestServeSSEReturnsWhenDropped(t *testing.T) {
	b := quietBus(Options{Buffer: 2})
	w := &stuckWriter{header: http.Header{}, writing: make(chan struct{}), release: make(chan struct{})}
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.ServeSSE(w, httptest.NewRequest(http.MethodGet, "/", nil), nil)
	}()
	<-w.writing // subscribed, and stuck writing the retry line
	for range 10 {
		b.Publish(Event{Type: Progress})
	}
	close(w.release)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("handler did not return after being dropped")
	}
}

// TestServeSSEUnencodableDetails checks that an event whose details JSON
// cannot carry is still sent, without them.
func TestServeSSEUnencodableDetails(t *testing.T) {
	b := quietBus(Options{})
	srv := newSSEServer(t, b, nil)
	s := srv.open(t, "/", "")
	b.Publish(Event{Type: Error, Message: "odd", Details: map[string]any{"f": func() {}}})
	b.Publish(Event{Type: Loaded})
	_, e := s.nextEvent()
	if e.ID != 1 || e.Message != "odd" || e.Details["error"] == nil {
		t.Fatalf("got %+v, want event 1 with a details error", e)
	}
	if _, e := s.nextEvent(); e.ID != 2 {
		t.Fatalf("got ID %d, want 2", e.ID)
	}
}

// TestServeSSETypeCannotForgeFields checks that a line break in an event
// type cannot inject fields into the frame.
func TestServeSSETypeCannotForgeFields(t *testing.T) {
	b := quietBus(Options{})
	srv := newSSEServer(t, b, nil)
	s := srv.open(t, "/", "")
	b.Publish(Event{Type: "x\nid: 99\r\n"})
	f, e := s.nextEvent()
	if f.id != "1" || f.event != "xid: 99" || e.ID != 1 {
		t.Fatalf("frame = %q, want id 1 and the type on one line", f.raw)
	}
}
