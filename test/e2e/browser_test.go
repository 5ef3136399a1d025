package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// The browser tests drive the plugin manager page in a real headless
// Chromium, against a real server process, with real plugins.

// Time limits for the browser: generous, since a busy two-core machine
// builds plugins while the page waits.
const (
	// stepTimeout bounds one browser action or wait.
	stepTimeout = 90 * time.Second
	// browserStartTimeout bounds Chromium's start.
	browserStartTimeout = 60 * time.Second
)

// chromium finds the browser: $KSPLUGINS_CHROMIUM, Debian's
// /usr/bin/chromium, or a Chromium or Chrome on the PATH.
func chromium() (string, error) {
	if p := os.Getenv("KSPLUGINS_CHROMIUM"); p != "" {
		return p, nil
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium", nil
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("no Chromium found (set KSPLUGINS_CHROMIUM, or run `make test-deps`, which installs Debian's chromium)")
}

// browser is one headless Chromium with one tab.
type browser struct {
	t     *testing.T
	ctx   context.Context
	shots string // where screenshots go
	n     int    // screenshots taken

	mu       sync.Mutex
	problems []string // exceptions and errors the page logged
	requests []string // the URL of every request the page sent
}

// newBrowser starts Chromium with a fresh profile and a window of the given
// size. The flags keep it off the network: no sync, updates, QUIC or
// background fetches, which on a closed network only fail and slow it down.
func newBrowser(t *testing.T, width, height int) *browser {
	t.Helper()
	path, err := chromium()
	if err != nil {
		// As with the cluster test's binaries: `make test` installs what is
		// needed, a plain `go test` without it skips, and CI must not.
		if os.Getenv("CI") != "" {
			t.Fatalf("the browser tests need Chromium: %v", err)
		}
		t.Skipf("the browser tests need Chromium: %v", err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(width, height),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	// Registered after TempDir, so it runs first: Chromium is gone before
	// its profile folder is removed.
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	b := &browser{t: t, ctx: ctx, shots: screenshotDir(t)}
	start, cancelStart := context.WithTimeout(ctx, browserStartTimeout)
	defer cancelStart()
	// The first Do starts the browser; its context must outlive this call,
	// so the time limit is enforced by a watchdog rather than by ctx.
	done := make(chan error, 1)
	go func() { done <- chromedp.Do(ctx) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("start Chromium: %v", err)
		}
	case <-start.Done():
		t.Fatalf("Chromium did not start within %s", browserStartTimeout)
	}
	err = chromedp.Listen(ctx, func(ev any) {
		// Called in the tab's event loop: record and return.
		if e, ok := ev.(*network.EventRequestWillBeSent); ok && e.Request != nil {
			b.mu.Lock()
			b.requests = append(b.requests, e.Request.URL)
			b.mu.Unlock()
		}
	})
	if err != nil {
		t.Fatalf("listen to the tab: %v", err)
	}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.IsException() || m.Type == chromedp.ConsoleError {
				b.mu.Lock()
				b.problems = append(b.problems, fmt.Sprintf("%s:%d %s", m.URL, m.Line+1, m))
				b.mu.Unlock()
			}
		}
	}()
	return b
}

// screenshotDir is where a test's screenshots go: under -outputdir with
// `go test -artifacts`, else test/output/browser/<test> in the repository
// (emptied first, so that it holds this run's only).
func screenshotDir(t *testing.T) string {
	if f := flag.Lookup("test.artifacts"); f != nil && f.Value.String() == "true" {
		return t.ArtifactDir()
	}
	dir := filepath.Join(shared.root, "test", "output", "browser", t.Name())
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// step runs actions within stepTimeout; a failure takes a screenshot and
// ends the test.
func (b *browser) step(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.fail("%s: %v", what, err)
	}
}

// fail saves a screenshot of the page as it is, then fails the test.
func (b *browser) fail(format string, args ...any) {
	b.t.Helper()
	b.shot("failure")
	b.t.Fatalf(format+"\npage text:\n%s", append(args, b.text("body"))...)
}

// shot saves a full-page PNG screenshot named after the step.
func (b *browser) shot(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return
	}
	b.n++
	path := filepath.Join(b.shots, fmt.Sprintf("%02d-%s.png", b.n, name))
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Errorf("save screenshot: %v", err)
	}
}

// eval runs a JavaScript expression and decodes its value into T.
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.fail("evaluate %s: %v", expr, err)
	}
	return v
}

// text is the visible text of the first element matching a CSS selector, or
// "" if there is none.
func (b *browser) text(sel string) string {
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	q, _ := json.Marshal(sel)
	v, _ := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`document.querySelector(%s)?.innerText ?? ""`, q)))
	return v
}

// waitFor waits until the JavaScript condition holds in the page.
func (b *browser) waitFor(what, cond string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[bool](fmt.Sprintf("Boolean(%s)", cond),
		chromedp.WithPollingTimeout(stepTimeout), chromedp.WithPollingInterval(100*time.Millisecond)))
	if err != nil {
		b.fail("waiting for %s: %v", what, err)
	}
}

// waitText waits until the element's text matches the pattern.
func (b *browser) waitText(what, sel, pattern string) {
	b.t.Helper()
	q, _ := json.Marshal(sel)
	re, _ := json.Marshal(pattern)
	b.waitFor(what, fmt.Sprintf(`new RegExp(%s).test(document.querySelector(%s)?.innerText ?? "")`, re, q))
}

// click clicks the first element matching a CSS selector, once visible.
// The page redraws parts of itself as events arrive; an element replaced
// between being found and being clicked is looked up again.
func (b *browser) click(sel string) {
	b.t.Helper()
	deadline := time.Now().Add(stepTimeout)
	for {
		ctx, cancel := context.WithDeadline(b.ctx, deadline)
		err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(sel)))
		cancel()
		if err == nil {
			return
		}
		if !strings.Contains(err.Error(), "node") || time.Now().After(deadline) {
			b.fail("click %s: %v", sel, err)
		}
	}
}

// setValue sets a form field's value as typing or choosing would, with an
// input event.
func (b *browser) setValue(sel, value string) {
	b.t.Helper()
	q, _ := json.Marshal(sel)
	v, _ := json.Marshal(value)
	b.waitFor(sel, fmt.Sprintf("document.querySelector(%s)", q))
	b.step("set "+sel, chromedp.Evaluate[chromedp.Void](fmt.Sprintf(
		`(() => { const el = document.querySelector(%s); el.value = %s; el.dispatchEvent(new Event("input", {bubbles: true})); })()`, q, v)))
}

// typeInto types text into a field from the keyboard, after what it holds
// ("\n" is Enter). The field is focused in the page and the keys go to the
// focused element: chromedp's SendKeys reads the node's attributes without
// its lock, a data race when the page changes them meanwhile.
func (b *browser) typeInto(sel, text string) {
	b.t.Helper()
	q, _ := json.Marshal(sel)
	// Only a shown element takes the focus; keys sent before would be lost.
	b.waitFor(sel+" focused", fmt.Sprintf(
		"(() => { const el = document.querySelector(%s); el?.focus(); return el && document.activeElement === el; })()", q))
	b.step("type into "+sel, chromedp.KeyEvent(text))
}

// confirmDialog accepts the confirmation dialog.
func (b *browser) confirmDialog() {
	b.t.Helper()
	b.waitFor("the confirmation dialog", `document.querySelector("#confirm").open`)
	b.click("#confirm-ok")
	b.waitFor("the dialog to close, accepted", `!document.querySelector("#confirm").open && document.querySelector("#confirm").returnValue === "ok"`)
}

// signIn opens the page and signs in with token, by keyboard.
func (b *browser) signIn(url, token string) {
	b.t.Helper()
	b.step("open the page", chromedp.Navigate(url))
	b.waitFor("the sign-in form", `!document.querySelector("#view-login").hidden`)
	b.typeInto("#login-token", token+"\n")
	b.waitFor("signed in", `!document.querySelector("#who").hidden && document.querySelector("#stream-status").dataset.state === "live"`)
}

// noProblems fails the test if the page logged an exception or error.
// Expected failures (a refused token, a failed install) are answered by the
// API, not thrown, so they do not count; Chromium logs the failed requests
// of those, so the test names them by pattern. The page's first question,
// whoami without a token (does the server need one?), is always excused.
func (b *browser) noProblems(excused ...string) {
	b.t.Helper()
	excused = append(excused, `/api/plugins/whoami.*401`)
	b.mu.Lock()
	defer b.mu.Unlock()
next:
	for _, p := range b.problems {
		for _, e := range excused {
			if regexp.MustCompile(e).MatchString(p) {
				continue next
			}
		}
		b.t.Errorf("the page logged: %s", p)
	}
}

// accessibilityCheck finds, in the visible page: form fields without a
// label, buttons and links without a name, and text whose contrast with its
// background is below 4.5:1 (WCAG AA for body text).
const accessibilityCheck = `(() => {
  const problems = [];
  const visible = (el) => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden';
  const describe = (el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + (el.className && typeof el.className === 'string' ? '.' + el.className.split(' ').join('.') : '');
  for (const el of document.querySelectorAll('input, select, textarea')) {
    if (!visible(el) && el.type !== 'file') continue;
    const named = el.labels?.length || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby');
    if (!named) problems.push('no label: ' + describe(el));
  }
  for (const el of document.querySelectorAll('button, a[href]')) {
    if (!visible(el)) continue;
    if (!(el.innerText.trim() || el.getAttribute('aria-label'))) problems.push('no name: ' + describe(el));
  }
  const rgb = (s) => (s.match(/[\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0.9)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const seen = new Set();
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!n.textContent.trim() || seen.has(el) || !visible(el) || el.closest('svg, .visually-hidden, [disabled], :disabled')) continue;
    seen.add(el);
    const fg = rgb(getComputedStyle(el).color).slice(0, 3);
    const [a, b] = [lum(fg), lum(background(el))];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < 4.5) problems.push('contrast ' + ratio.toFixed(2) + ': ' + describe(el) + ' "' + n.textContent.trim().slice(0, 30) + '"');
  }
  return problems;
})()`

// accessible fails the test if the visible page has accessibility problems.
func (b *browser) accessible(where string) {
	b.t.Helper()
	if problems := eval[[]string](b, accessibilityCheck); len(problems) > 0 {
		b.fail("%s: accessibility problems:\n%s", where, strings.Join(problems, "\n"))
	}
}

// requested returns the URLs the page has requested so far.
func (b *browser) requested() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.requests...)
}
