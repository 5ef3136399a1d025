package e2e

import (
	"strconv"
	"testing"
	"time"
)

// TestSandboxBackground: in a real server, a sandboxed plugin's goroutine
// goes on after the request that started it returned, with no further
// requests; a background goroutine that never yields gets its instance
// replaced, which is an error event, and the plugin serves on.
func TestSandboxBackground(t *testing.T) {
	f := setup(t)
	s := startServer(t, f)
	dir := hostilePlugin(t, f, `id: hostile
name: Hostile
version: 1.0.0
description: works in the background
author: e2e
endpoints:
  - {path: /tick, method: GET, handler: tick}
  - {path: /spin, method: GET, handler: spin}
  - {path: /state, method: GET, handler: state}
security:
  sandboxed: true
sandbox:
  timeout_ms: 1000
`)
	want(t, "load hostile", s.api("POST", "/api/plugins/load", map[string]any{"source": dir}), 201, "")

	want(t, "start the ticker", s.endpoint("GET", "hostile", "/tick?start=1"), 202, "")
	time.Sleep(600 * time.Millisecond)
	r := s.endpoint("GET", "hostile", "/tick")
	if n, err := strconv.Atoi(r.raw); r.status != 200 || err != nil || n < 2 {
		t.Fatalf("ticks 600 ms after the start, without requests: %s; want at least 2", r)
	}

	want(t, "spin", s.endpoint("GET", "hostile", "/spin"), 202, "")
	deadline := time.Now().Add(15 * time.Second)
	for replaced := false; !replaced; {
		if time.Now().After(deadline) {
			t.Fatalf("no instance_replaced event; events: %v", s.events("hostile"))
		}
		time.Sleep(100 * time.Millisecond)
		for _, e := range s.events("hostile") {
			d, _ := e["details"].(map[string]any)
			replaced = replaced || (e["type"] == "error" && d["reason"] == "instance_replaced")
		}
	}
	if r := s.endpoint("GET", "hostile", "/state"); r.status != 200 || r.raw != "1" {
		t.Fatalf("/state from the replacement: %s; want 200 1", r)
	}
	want(t, "unload", s.api("DELETE", "/api/plugins/hostile", nil), 200, "")
}
