package e2e

import (
	"path/filepath"
	"testing"
	"time"
)

// TestWarmUp: a server whose build cache never built for the sandboxed
// tier readies it after its start, as an operation of kind warm-up that
// the API and the page's system view report while it runs and once done;
// a server started with the warm-up off says it did none.
func TestWarmUp(t *testing.T) {
	f := setup(t)
	s := startServerWith(t, f, filepath.Join(t.TempDir(), "data"), t.TempDir(), "KSPLUGINS_WARM_UP=true")
	b := newBrowser(t, wideWidth, wideHeight)
	b.signIn(s.url, s.token)
	b.goTo("#/system", "#view-system")
	// Running or already done, depending on the build cache of the machine.
	b.waitText("the warm-up", "#warm-up", "Warming up for|Ready: warmed up in")

	var (
		r  reply
		op map[string]any
	)
	for deadline := time.Now().Add(10 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		r = s.api("GET", "/api/plugins/system/warm-up", nil)
		if st := r.body["state"]; r.status != 200 || (st != "running" && st != "waiting") || time.Now().After(deadline) {
			break
		}
	}
	op, _ = r.body["operation"].(map[string]any)
	steps, _ := op["steps"].([]any)
	if r.status != 200 || r.body["state"] != "succeeded" || op["kind"] != "warm-up" || op["state"] != "succeeded" || len(steps) != 1 {
		t.Fatalf("the warm-up: %s; want one succeeded step", r)
	}
	if st := steps[0].(map[string]any); st["name"] != "building" || st["state"] != "done" {
		t.Errorf("its step: %v", st)
	}
	t.Logf("warm-up: %v to %v", op["created_at"], op["finished_at"])
	b.waitText("the warm-up done", "#warm-up", "Ready: warmed up in")
	b.accessible("system view with the warm-up")
	b.noProblems()

	off := startServer(t, f) // KSPLUGINS_WARM_UP=false, as every test server
	if r := off.api("GET", "/api/plugins/system/warm-up", nil); r.status != 200 || r.body["state"] != "off" || r.body["operation"] != nil {
		t.Errorf("warm-up off: %s; want state off", r)
	}
	b2 := newBrowser(t, wideWidth, wideHeight)
	b2.signIn(off.url, off.token)
	b2.goTo("#/system", "#view-system")
	b2.waitText("no warm-up", "#warm-up", "Not warmed up by this server")
	b2.noProblems()
}
