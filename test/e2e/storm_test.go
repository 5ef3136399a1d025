package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The storm's size: rounds, each ending in a SIGKILL at a random moment of
// its storm, and the clients that change the plugins concurrently.
const (
	stormRounds   = 5
	stormMinRun   = 2 * time.Second
	stormMaxRun   = 8 * time.Second
	stormClients  = 4
	stormAbsent   = "absent"
	stormNoValue  = "-"
	fieldPresence = 0
	fieldEnabled  = 1
	fieldConfig   = 2
)

var stormFields = [3]string{"presence", "enabled", "configuration"}

// stormValue is what the API can report of one plugin: whether it is
// there, whether it is enabled, and its effective configuration as
// canonical JSON. An absent plugin has no enabled flag and no
// configuration.
type stormValue [3]string

func absentValue() stormValue { return stormValue{stormAbsent, stormNoValue, stormNoValue} }

// stormWrite is one operation of the storm as the checker sees it: when it
// was sent and answered, the fields its answer reported (acked), and the
// fields it would change if it took effect without an answer (intent).
type stormWrite struct {
	op             string
	sent, answered time.Time
	status         int
	acked          [3]bool
	ackedValue     stormValue
	intent         [3]bool
	intentValue    stormValue
}

// stormHistory records every operation on one plugin during one round.
type stormHistory struct {
	mu     sync.Mutex
	writes []*stormWrite
}

func (h *stormHistory) add(w *stormWrite) {
	h.mu.Lock()
	h.writes = append(h.writes, w)
	h.mu.Unlock()
}

// count adds the round's operations sent before the kill to the tally:
// how many, and how many were answered before it.
func (h *stormHistory) count(tally *stormTally, killedAt time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, w := range h.writes {
		if w.sent.After(killedAt) {
			continue
		}
		tally.ops.Add(1)
		if !w.answered.IsZero() && w.answered.Before(killedAt) {
			tally.answered.Add(1)
		} else {
			tally.inflight.Add(1)
		}
	}
}

// candidates returns the values a field may have after the kill, each with
// an operation that could have left it.
//
// The rule: changes to one plugin are linearizable, so the field's final
// value was written by the last operation, in that order, that took
// effect. An answered operation is a write of what its answer reported (a
// read, such as GET or a 404, writes the value that was there). An
// operation answered before the kill took effect; one sent but not
// answered by then may or may not have, and counts only for what it would
// change. The last write is either an unanswered one, or an answered one
// that no other answered write started after. With no answered write at
// all, the value the round started with stands too.
func (h *stormHistory) candidates(field int, initial string, killedAt time.Time) map[string]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string]string{}
	var answered []*stormWrite
	for _, w := range h.writes {
		if w.sent.After(killedAt) {
			continue // sent to a dead server: it cannot have taken effect
		}
		if !w.answered.IsZero() && w.answered.Before(killedAt) {
			if w.acked[field] {
				answered = append(answered, w)
			}
			continue
		}
		if w.intent[field] {
			out[w.intentValue[field]] = w.op + " (unanswered at the kill)"
		}
	}
	if len(answered) == 0 {
		out[initial] = "the round's start"
	}
	for _, w := range answered {
		last := true
		for _, o := range answered {
			if o.sent.After(w.answered) {
				last = false
				break
			}
		}
		if last {
			out[w.ackedValue[field]] = fmt.Sprintf("%s answered %d", w.op, w.status)
		}
	}
	return out
}

// stormPlugin is one plugin the storm works on.
type stormPlugin struct {
	id, dir  string
	defaults string // the effective configuration right after a load
}

// stormClient sends the storm's requests; a transport error is returned,
// not fatal, since the server is killed under it.
type stormClient struct {
	http  *http.Client
	url   string
	token string
}

func (c stormClient) do(ctx context.Context, method, path string, body any) (int, map[string]any, error) {
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.url+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, err
	}
	var m map[string]any
	_ = json.Unmarshal(data, &m)
	return resp.StatusCode, m, nil
}

// canonical renders a configuration as JSON with sorted keys.
func canonical(cfg any) string {
	if cfg == nil {
		cfg = map[string]any{}
	}
	data, err := json.Marshal(cfg)
	if err != nil {
		return fmt.Sprintf("unencodable %v", cfg)
	}
	return string(data)
}

// infoValue reads a plugin's reported state from its Info, or false when
// the plugin is between states (loading, unloading) and the report says
// nothing settled.
func infoValue(body map[string]any) (stormValue, bool) {
	state, _ := body["state"].(string)
	if state != "active" && state != "disabled" {
		return stormValue{}, false
	}
	return stormValue{"present", fmt.Sprint(body["enabled"] == true), canonical(body["configuration"])}, true
}

func isNotFound(status int, body map[string]any) bool {
	e, _ := body["error"].(map[string]any)
	return status == http.StatusNotFound && e["code"] == "plugin_not_found"
}

// stormTally counts what the storm did.
type stormTally struct {
	ops, answered, inflight, serverErrors, unexpected, inconsistencies atomic.Int64
	byStatus                                                           sync.Map // "op status" → *atomic.Int64

	mu       sync.Mutex
	examples []string // the first few 5xx and unexpected answers
}

// note keeps an example of a bad answer for the report.
func (t *stormTally) note(op string, status int, body map[string]any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.examples) < 10 {
		t.examples = append(t.examples, fmt.Sprintf("%s: %d %v", op, status, body))
	}
}

func (t *stormTally) count(op string, status int) {
	v, _ := t.byStatus.LoadOrStore(fmt.Sprintf("%s %d", op, status), new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

func (t *stormTally) statuses() string {
	var out []string
	t.byStatus.Range(func(k, v any) bool {
		out = append(out, fmt.Sprintf("%s×%d", k, v.(*atomic.Int64).Load()))
		return true
	})
	slices.Sort(out)
	return strings.Join(out, ", ")
}

// TestStormKill has several clients load, unload, reload, enable, disable,
// configure and read the same two plugins at once (now and then as the
// reported race: reload, unload 10 ms later, reload 20 ms after that),
// kills the server with
// SIGKILL at a random moment, restarts it on the same data folder, and
// checks that it comes back in exactly the state the API last reported:
// every change that was answered before the kill survives it; a change
// that was not answered may or may not have happened. No request may
// answer 500, and an operation that lost a race is refused cleanly (404
// for a plugin that is gone, 409 for a conflict). Five rounds, five kills.
func TestStormKill(t *testing.T) {
	f := setup(t)
	data := t.TempDir()
	plugins := []*stormPlugin{
		{id: helloID, dir: copyPlugin(t, filepath.Join(f.root, "plugins/examples/hello"))},
		{id: "flaky", dir: copyPlugin(t, filepath.Join(f.root, "test/e2e/testdata/plugins/flaky"))},
	}
	s := startServerAt(t, f, data)
	for _, p := range plugins {
		r := s.api("POST", "/api/plugins/load", map[string]any{"source": p.dir})
		want(t, "load "+p.id, r, 201, "")
		p.defaults = canonical(r.body["configuration"])
	}

	var tally stormTally
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	for round := 1; round <= stormRounds; round++ {
		initial := map[string]stormValue{}
		for _, p := range plugins {
			initial[p.id] = s.reported(t, p.id)
		}
		hist := map[string]*stormHistory{}
		for _, p := range plugins {
			hist[p.id] = &stormHistory{}
		}
		client := stormClient{http: &http.Client{Timeout: 30 * time.Second}, url: s.url, token: s.token}
		ctx, stop := context.WithCancel(context.Background())
		var killed atomic.Bool
		var wg sync.WaitGroup
		for c := range stormClients {
			wg.Add(1)
			seed := rng.Uint64()
			go func() {
				defer wg.Done()
				r := rand.New(rand.NewPCG(seed, uint64(c)))
				for ctx.Err() == nil {
					p := plugins[r.IntN(len(plugins))]
					kind := r.IntN(stormKinds + 1)
					if kind < stormKinds {
						w, err := stormOp(ctx, client, p, kind, r, &tally)
						hist[p.id].add(w)
						if err != nil && !killed.Load() {
							t.Errorf("round %d: %s got no answer before the kill: %v", round, w.op, err)
						}
						continue
					}
					// The reported race: reload, unload 10 ms later,
					// reload 20 ms after that.
					var seq sync.WaitGroup
					for i, step := range []struct {
						kind  int
						delay time.Duration
					}{{stormReload, 0}, {stormUnload, 10 * time.Millisecond}, {stormReload, 30 * time.Millisecond}} {
						seq.Add(1)
						sr := rand.New(rand.NewPCG(r.Uint64(), uint64(i)))
						go func() {
							defer seq.Done()
							time.Sleep(step.delay)
							w, err := stormOp(ctx, client, p, step.kind, sr, &tally)
							hist[p.id].add(w)
							if err != nil && !killed.Load() {
								t.Errorf("round %d: %s got no answer before the kill: %v", round, w.op, err)
							}
						}()
					}
					seq.Wait()
				}
			}()
		}
		run := stormMinRun + time.Duration(rng.Int64N(int64(stormMaxRun-stormMinRun)))
		time.Sleep(run)
		killedAt := time.Now()
		killed.Store(true)
		s.kill()
		stop()
		wg.Wait()

		s = startServerAt(t, f, data)
		for _, p := range plugins {
			hist[p.id].count(&tally, killedAt)
			after := s.reported(t, p.id)
			for field := range stormFields {
				cands := hist[p.id].candidates(field, initial[p.id][field], killedAt)
				if _, ok := cands[after[field]]; !ok {
					tally.inconsistencies.Add(1)
					t.Errorf("round %d (killed after %s): %s's %s is %q after the restart; the API last reported one of %v",
						round, run.Round(time.Millisecond), p.id, stormFields[field], after[field], cands)
				}
			}
		}
		t.Logf("round %d: killed after %s; restarted with %v", round, run.Round(time.Millisecond), s.summary(t, plugins))
	}
	t.Logf("storm: %d operations in %d rounds (%d answered, %d unanswered at a kill); %d answered 5xx, %d unexpected answers, %d inconsistencies after restarts",
		tally.ops.Load(), stormRounds, tally.answered.Load(), tally.inflight.Load(), tally.serverErrors.Load(), tally.unexpected.Load(), tally.inconsistencies.Load())
	t.Logf("answers: %s", tally.statuses())
	if tally.serverErrors.Load() > 0 || tally.unexpected.Load() > 0 {
		t.Errorf("%d answers were 5xx and %d were unexpected; a change that loses a race must answer 404 or 409; for example:\n%s",
			tally.serverErrors.Load(), tally.unexpected.Load(), strings.Join(tally.examples, "\n"))
	}
}

// The kinds of operation stormOp runs.
const (
	stormLoad = iota
	stormUnload
	stormReload
	stormEnable
	stormDisable
	stormConfigure
	stormGet
	stormKinds
)

// stormOp runs one operation of the given kind on p and returns what the checker
// needs to know of it, and the error if it got no answer (once the server
// is killed, that is expected).
func stormOp(ctx context.Context, c stormClient, p *stormPlugin, kind int, r *rand.Rand, tally *stormTally) (*stormWrite, error) {
	base := "/api/plugins/" + p.id
	w := &stormWrite{sent: time.Now()}
	var (
		method, path string
		body         any
		ok           []int // the answers this operation may give, besides a 404
	)
	all := [3]bool{true, true, true}
	switch kind {
	case stormLoad:
		w.op, method, path, body, ok = "load", "POST", "/api/plugins/load", map[string]any{"source": p.dir}, []int{201, 409}
		w.intent, w.intentValue = all, stormValue{"present", "true", p.defaults}
	case stormUnload:
		w.op, method, path, ok = "unload", "DELETE", base, []int{200}
		w.intent, w.intentValue = all, absentValue()
	case stormReload:
		w.op, method, path, ok = "reload", "POST", base+"/reload", []int{200}
	case stormEnable:
		w.op, method, path, ok = "enable", "POST", base+"/enable", []int{200}
		w.intent[fieldEnabled], w.intentValue[fieldEnabled] = true, "true"
	case stormDisable:
		w.op, method, path, ok = "disable", "POST", base+"/disable", []int{200}
		w.intent[fieldEnabled], w.intentValue[fieldEnabled] = true, "false"
	case stormConfigure:
		cfg := map[string]any{"greeting": fmt.Sprintf("Hi %d", r.IntN(1000))}
		w.op, method, path, body, ok = "configure", "PUT", base+"/configuration", cfg, []int{200}
		w.intent[fieldConfig], w.intentValue[fieldConfig] = true, canonical(cfg)
	default:
		w.op, method, path, ok = "get", "GET", base, []int{200}
	}
	w.op += " " + p.id
	status, answer, err := c.do(ctx, method, path, body)
	if err != nil {
		return w, err
	}
	w.answered, w.status = time.Now(), status
	tally.count(strings.Fields(w.op)[0], status)
	switch {
	case status >= 500:
		tally.serverErrors.Add(1)
		tally.note(w.op, status, answer)
	case isNotFound(status, answer):
		w.acked, w.ackedValue = all, absentValue()
	case !slices.Contains(ok, status):
		tally.unexpected.Add(1)
		tally.note(w.op, status, answer)
	case status == 409:
	case strings.HasPrefix(w.op, "unload"):
		w.acked, w.ackedValue = all, absentValue()
	case strings.HasPrefix(w.op, "configure"):
		w.acked[fieldPresence], w.ackedValue[fieldPresence] = true, "present"
		w.acked[fieldConfig], w.ackedValue[fieldConfig] = true, canonical(answer["configuration"])
	default: // load, reload, enable, disable, get: the plugin's Info
		if v, settled := infoValue(answer); settled {
			w.acked, w.ackedValue = all, v
		}
	}
	return w, nil
}

// reported returns what the API reports of a plugin now.
func (s *server) reported(t *testing.T, id string) stormValue {
	t.Helper()
	r := s.api("GET", "/api/plugins/"+id, nil)
	if isNotFound(r.status, r.body) {
		return absentValue()
	}
	v, settled := infoValue(r.body)
	if r.status != 200 || !settled {
		t.Fatalf("%s after a restart: %s", id, r)
	}
	return v
}

// summary describes the plugins' states for the log.
func (s *server) summary(t *testing.T, plugins []*stormPlugin) string {
	var parts []string
	for _, p := range plugins {
		v := s.reported(t, p.id)
		parts = append(parts, p.id+"="+strings.Join(v[:], "/"))
	}
	return strings.Join(parts, " ")
}
