package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// loadUIExample loads a copy of the example plugin with a UI component,
// with the probe page of testdata/uiprobe added to its ui/ folder as a
// second component; it returns the copy's folder.
func loadUIExample(t *testing.T, f fixture, s *server) string {
	t.Helper()
	dir := copyPlugin(t, filepath.Join(f.root, "plugins/examples/primes-chart"))
	for _, name := range []string{"probe.html", "probe.js"} {
		data, err := os.ReadFile(filepath.Join(f.root, "test/e2e/testdata/uiprobe", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "ui", name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	edit(t, filepath.Join(dir, "plugin.yaml"), "\nconfiguration:\n", ""+
		"  - {name: probe, route: /probe, component: Probe, entry: probe.html, title: Probe}\n"+
		"  - {name: probe-page, route: /probe-page, component: Probe, entry: probe.html, slot: page, title: Probe page}\n"+
		"  - {name: probe-card, route: /probe-card, component: Probe, entry: probe.html, slot: card, title: Probe card}\n"+
		"\nconfiguration:\n")
	want(t, "load", s.api("POST", "/api/plugins/load", map[string]any{"source": dir}), 201, "")
	return dir
}

// TestPluginUIFiles: a plugin's UI files are served from its artifact with
// the policy that sandboxes them, nothing outside its ui/ folder is, and
// a UI file opened on its own (not framed) still runs in an opaque origin.
func TestPluginUIFiles(t *testing.T) {
	f := setup(t)
	data := t.TempDir()
	s := startServerAt(t, f, data)
	dir := loadUIExample(t, f, s)

	cases := []struct {
		path   string
		status int
	}{
		{"/plugins-ui/primes-chart/index.html", 200},
		{"/plugins-ui/primes-chart/chart.js", 200},
		{"/plugins-ui/bridge-v1.js", 200},
		{"/plugins-ui/primes-chart/plugin.yaml", 404},
		{"/plugins-ui/primes-chart/%2e%2e/plugin.yaml", 404},
		{"/plugins-ui/primes-chart/..%2fplugin.yaml", 404},
		{"/plugins-ui/primes-chart/main.go", 404},
		{"/plugins-ui/boundary/index.html", 404},
	}
	for _, c := range cases {
		resp, err := http.Get(s.url + c.path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Errorf("%s: %d, want %d", c.path, resp.StatusCode, c.status)
		}
		csp := resp.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "sandbox allow-scripts") || !strings.Contains(csp, "connect-src 'none'") || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: policy %q, nosniff %q", c.path, csp, resp.Header.Get("X-Content-Type-Options"))
		}
		if resp.Header.Get("Set-Cookie") != "" {
			t.Errorf("%s sets a cookie", c.path)
		}
	}
	info := s.api("GET", "/api/plugins/primes-chart", nil)
	if !strings.Contains(info.raw, `"ui_digest":"sha256:`) {
		t.Errorf("the plugin's artifact records no digest of its UI files: %s", info)
	}

	// After a restart, with the plugin's folder gone, its UI files come
	// from its artifact's cache entry, the same files.
	index := s.call("GET", "/plugins-ui/primes-chart/index.html", nil, false)
	s.kill()
	if err := os.Rename(dir, dir+".gone"); err != nil {
		t.Fatal(err)
	}
	s = startServerAt(t, f, data)
	if again := s.call("GET", "/plugins-ui/primes-chart/index.html", nil, false); again.status != 200 || again.raw != index.raw {
		t.Fatalf("index.html after a restart without the plugin's folder: %s", again)
	}
	if again := s.api("GET", "/api/plugins/primes-chart", nil); again.body["artifact"].(map[string]any)["ui_digest"] != info.body["artifact"].(map[string]any)["ui_digest"] {
		t.Fatalf("the UI digest changed with a restart: %s, was %s", again, info)
	}

	b := newBrowser(t, 1280, 800)
	b.signIn(s.url+"/ui/", s.token)
	b.step("open a UI file on its own", chromedp.Navigate(s.url+"/plugins-ui/primes-chart/index.html"))
	b.waitFor("the file", `document.readyState === "complete"`)
	if origin := eval[string](b, `window.origin`); origin != "null" {
		t.Fatalf("a UI file opened on its own runs in origin %q, want an opaque one", origin)
	}
}

// TestPluginUIExtension: in Chromium, the example plugin's UI components
// are shown at each extension point (a card above the plugin list, a tab
// of its detail view, a page of its own in the navigation), each in a
// sandboxed frame; through the bridge they call their own endpoint and
// show the result, and read who is signed in. Everything else a component
// tries is refused: the page's DOM, its storage (where the token is), the
// management API through the bridge (by path tricks, undeclared
// endpoints, another version of the messages) and directly, navigating
// the page away. A reload of the plugin brings its new UI files into the
// open page.
func TestPluginUIExtension(t *testing.T) {
	f := setup(t)
	s := startServer(t, f)
	dir := loadUIExample(t, f, s)

	b := newBrowser(t, 1280, 800)
	b.signIn(s.url+"/ui/", s.token)
	// The probes report to the page in messages, again whenever asked; the
	// test keeps them.
	b.step("listen for reports", chromedp.Evaluate[chromedp.Void](
		`window.addEventListener("message", (e) => { if (e.data && e.data.probe) (window.probes ??= []).push(e.data.probe); })`))

	// The card, above the plugin list.
	b.waitFor("the cards", `document.querySelectorAll("#plugin-cards iframe").length === 2`)
	if cards := eval[string](b, `[...document.querySelectorAll("#plugin-cards h2")].map((h) => h.textContent).join(" | ")`); cards != "Primes found Primes chart | Probe card Primes chart" {
		t.Fatalf("the cards: %q", cards)
	}
	checkFrame(t, b, "primes-chart/total", "/plugins-ui/primes-chart/total.html")
	checkProbe(t, s, awaitProbe(b, "card", "v1"))
	b.accessible("the plugin list with cards")
	b.shot("card")

	// The tab of the detail view.
	b.goTo("#/plugins/primes-chart", "#view-detail")
	b.waitFor("the extensions section", `!document.querySelector('[data-section="extensions"]').hidden`)
	checkFrame(t, b, "primes-chart/chart", "/plugins-ui/primes-chart/index.html")
	if tab := eval[string](b, `document.querySelector('[role="tab"][aria-selected="true"]').textContent`); !strings.Contains(tab, "Primes per block") {
		t.Fatalf("the tab shown first is %q", tab)
	}
	b.accessible("the detail view with extensions")
	b.shot("extension")
	b.click(`[data-extension-tab="probe"]`)
	checkProbe(t, s, awaitProbe(b, "detail-tab", "v1"))
	// The tabs from the keyboard: one tab stop, the arrows move.
	b.typeInto(`[role="tab"][aria-selected="true"]`, kb.ArrowLeft)
	b.waitFor("the first tab, chosen by keyboard", `document.activeElement?.dataset.extensionTab === "chart" && document.activeElement.getAttribute("aria-selected") === "true"`)
	checkFrame(t, b, "primes-chart/chart", "/plugins-ui/primes-chart/index.html")

	// The page of its own.
	b.click(`#nav a[data-nav="ext/primes-chart/chart-page"]`)
	b.waitFor("the page", `!document.querySelector("#view-extension").hidden`)
	checkFrame(t, b, "primes-chart/chart-page", "/plugins-ui/primes-chart/index.html")
	b.click(`#nav a[data-nav="ext/primes-chart/probe-page"]`)
	checkProbe(t, s, awaitProbe(b, "page", "v1"))

	// A new version of its UI files, then a reload: the open page frames
	// the new ones.
	edit(t, filepath.Join(dir, "ui", "probe.js"), "var MARKER = 'v1';", "var MARKER = 'v2';")
	want(t, "reload", s.api("POST", "/api/plugins/primes-chart/reload", nil), 200, "")
	awaitProbe(b, "page", "v2")
	if frames := eval[int](b, `document.querySelectorAll("#view-extension iframe.extension").length`); frames != 1 {
		t.Fatalf("%d frames after the reload, want 1", frames)
	}
	b.noProblems()
}

// checkFrame fails the test unless the page shows the frame of component
// key ("<plugin>/<name>") of src, sandboxed to scripts only.
func checkFrame(t *testing.T, b *browser, key, src string) {
	t.Helper()
	frame := eval[map[string]string](b, fmt.Sprintf(`(() => { const f = [...document.querySelectorAll("iframe")].find((f) => f.dataset.extension === %q && f.checkVisibility());
		return f ? {sandbox: f.getAttribute("sandbox"), src: f.getAttribute("src")} : {}; })()`, key))
	if frame["sandbox"] != "allow-scripts" || frame["src"] != src {
		t.Fatalf("component %s: frame %v; want one with sandbox=allow-scripts of %s", key, frame, src)
	}
}

// awaitProbe waits for the report of the probe at slot, of the version
// marker, asking the page's frames for their reports until it comes.
func awaitProbe(b *browser, slot, marker string) map[string]string {
	b.t.Helper()
	find := fmt.Sprintf(`(window.probes ?? []).findLast((p) => p.slot === %q && p.marker === %q)`, slot, marker)
	b.waitFor("the report of the probe at "+slot+" "+marker, fmt.Sprintf(
		`(() => { for (const f of document.querySelectorAll("iframe.extension")) f.contentWindow.postMessage({probeAsk: true}, "*"); return %s; })()`, find))
	raw := eval[string](b, "JSON.stringify("+find+")")
	var got map[string]string
	if err := json.Unmarshal([]byte(raw), &got); err != nil {
		b.t.Fatalf("report %s: %v", raw, err)
	}
	return got
}

// checkProbe fails the test unless the probe's report shows everything it
// tried refused but its own endpoint, the context and the chart.
func checkProbe(t *testing.T, s *server, got map[string]string) {
	t.Helper()
	t.Logf("the probe at %s reported %v", got["slot"], got)
	refused := map[string]string{
		"parentDocument":       "refused: SecurityError",
		"topDocument":          "refused: SecurityError",
		"parentSessionStorage": "refused: SecurityError",
		"parentLocalStorage":   "refused: SecurityError",
		"ownSessionStorage":    "refused: SecurityError",
		"ownLocalStorage":      "refused: SecurityError",
		"cookie":               "refused: SecurityError",
		"fetchApi":             "refused: TypeError",
		"fetchOwnEndpoint":     "refused: TypeError",
		"bridgeDotDot":         "refused: not_this_plugin",
		"bridgeEscapedDots":    "refused: not_this_plugin",
		"bridgeOtherPlugin":    "refused: not_this_plugin",
		"bridgeUndeclared":     "refused: not_declared",
		"bridgeManagement":     "refused: not_declared",
		"bridgeAbsolute":       "refused: bad_path",
		"bridgeUnknownType":    "refused: unknown_type",
		"bridgeOldVersion":     "refused: unsupported_version",
		"bridgeNavigateAway":   "refused: bad_target",
		"bridgeNavigateScript": "refused: bad_target",
	}
	for k, w := range refused {
		if got[k] != w {
			t.Errorf("%s at %s: %q, want %q", k, got["slot"], got[k], w)
		}
	}
	if got["origin"] != "null" {
		t.Errorf("the component runs in origin %q, want an opaque one", got["origin"])
	}
	if !strings.HasPrefix(got["bridgeOwn"], `allowed: 200 {"block_size":100,"counts":[25,21,16,16,17,14,16,14,15,14]`) {
		t.Errorf("its own endpoint through the bridge: %q", got["bridgeOwn"])
	}
	if got["context"] != "allowed: 1 primes-chart admin admin" {
		t.Errorf("context: %q", got["context"])
	}
	if want := "168 primes below 1000, per block of 100: 25, 21, 16, 16, 17, 14, 16, 14, 15, 14"; got["chart"] != want {
		t.Errorf("the example's chart says %q, want %q", got["chart"], want)
	}
	for k, v := range got {
		if strings.Contains(v, s.token) {
			t.Errorf("the token reached the component: %s = %q", k, v)
		}
	}
}

// TestPluginUISandboxedTier: a plugin built for the sandboxed tier serves
// its UI files as a native one does: they travel with the build, not the
// code.
func TestPluginUISandboxedTier(t *testing.T) {
	f := setup(t)
	s := startServer(t, f)
	dir := copyPlugin(t, filepath.Join(f.root, "plugins/examples/primes-chart"))
	edit(t, filepath.Join(dir, "plugin.yaml"), "\nconfiguration:\n", "\nsecurity:\n  sandboxed: true\n\nconfiguration:\n")
	want(t, "load", s.api("POST", "/api/plugins/load", map[string]any{"source": dir}), 201, "")
	if info := s.api("GET", "/api/plugins/primes-chart", nil); info.body["tier"] != "sandboxed" || !strings.Contains(info.raw, `"ui_digest":"sha256:`) {
		t.Fatalf("want a sandboxed plugin with UI files: %s", info)
	}
	want(t, "its endpoint", s.endpoint("GET", "primes-chart", "/series"), 200, "")
	want(t, "its card", s.call("GET", "/plugins-ui/primes-chart/total.html", nil, false), 200, "")
}
