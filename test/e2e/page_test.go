package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// The plugin manager page, driven in Chromium as an operator would.

// Window sizes the page is checked at.
const (
	wideWidth, wideHeight     = 1280, 900
	narrowWidth, narrowHeight = 400, 860
)

// writeArchive saves an archive for the browser to upload.
func writeArchive(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// uploadInBrowser chooses an archive on the install page and sends it.
func (b *browser) uploadInBrowser(path string) {
	b.t.Helper()
	b.goTo("#/install", "#view-install")
	b.step("choose "+filepath.Base(path), chromedp.SetUploadFiles(chromedp.CSS("#upload-file"), []string{path}))
	b.waitText("the chosen file", "#upload-chosen", regexpQuote(filepath.Base(path)))
	b.click(`#install-upload button[type="submit"]`)
}

// goTo moves to another view of the page, as a link in the page does: a
// navigation by the browser itself would end the page's connections,
// event stream included.
func (b *browser) goTo(fragment, view string) {
	b.t.Helper()
	f, _ := json.Marshal(fragment)
	v, _ := json.Marshal(view)
	b.step("go to "+fragment, chromedp.Evaluate[chromedp.Void](fmt.Sprintf("location.hash = %s", f)))
	b.waitFor(fragment, fmt.Sprintf("!document.querySelector(%s).hidden", v))
}

// liveThroughout fails the test unless the page's first event stream is
// still the one open: never dropped (it would say so now) nor replaced
// (a second one would have been opened).
func (b *browser) liveThroughout() {
	b.t.Helper()
	if n, state := b.streams(), b.text("#stream-status"); n != 1 || state != "Live" {
		b.t.Errorf("the page opened %d event streams and says %q; want 1, live throughout", n, state)
	}
}

// streams counts the event streams the page has opened.
func (b *browser) streams() int {
	n := 0
	for _, u := range b.requested() {
		if strings.Contains(u, "/api/plugins/events?ticket=") {
			n++
		}
	}
	return n
}

func regexpQuote(s string) string {
	var out strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`\.+*?()|[]{}^$`, r) {
			out.WriteByte('\\')
		}
		out.WriteRune(r)
	}
	return out.String()
}

// pluginState is the state the server reports for a plugin.
func (s *server) pluginState(id string) string {
	s.t.Helper()
	r := s.api("GET", "/api/plugins/"+id, nil)
	state, _ := r.body["state"].(string)
	return state
}

// TestPagePluginLifecycle: an operator with the admin token uploads a ZIP
// and watches it become active, calls its endpoint with "try it", disables
// and enables it, changes its configuration, sees its traffic charted and
// its events arrive, and unloads it.
func TestPagePluginLifecycle(t *testing.T) {
	f := setup(t)
	s := startServer(t, f)
	b := newBrowser(t, wideWidth, wideHeight)
	archive := writeArchive(t, "hello.zip", makeZip(t, pluginFiles(t, f, "hello/")))

	b.step("open the page", chromedp.Navigate(s.url+"/"))
	b.waitFor("the sign-in form", `!document.querySelector("#view-login").hidden`)
	if loc := eval[string](b, "location.pathname"); loc != "/ui/" {
		t.Fatalf("/ led to %s; want /ui/", loc)
	}
	b.accessible("sign-in")
	b.shot("sign-in")
	b.typeInto("#login-token", "not-the-token\n")
	b.waitText("the refusal", "#login-error", "refused this token: invalid token")
	b.signIn(s.url+"/", s.token)
	if got := b.text("#who-role"); got != "admin" {
		t.Fatalf("role shown: %q", got)
	}
	b.waitText("the empty state", "#plugins-empty", "No plugins are installed yet")
	b.accessible("empty list")
	b.shot("empty")

	// Upload and watch the install's steps.
	b.uploadInBrowser(archive)
	b.waitFor("the install to finish", `document.querySelector('#progress-result [data-installed="my-plugin"]')`)
	for _, step := range []string{"uploading", "fetching", "validating", "building", "loading"} {
		if state := eval[string](b, fmt.Sprintf(`document.querySelector('#progress-steps [data-step="%s"]')?.dataset.state ?? "missing"`, step)); state != "done" {
			b.fail("step %s is %s; want done", step, state)
		}
	}
	if v := eval[float64](b, `document.querySelector("#progress-bar").value`); v != 100 {
		b.fail("progress bar at %v; want 100", v)
	}
	b.accessible("install")
	b.shot("installed")
	if got := s.pluginState(helloID); got != "active" {
		t.Fatalf("server says %s is %q", helloID, got)
	}

	// The list shows it, without a reload.
	b.click(`a[data-nav="plugins"]`)
	row := `tr[data-plugin-id="my-plugin"]`
	b.waitText("the plugin in the list", row+` [data-col="state"]`, "^active$")
	if src := b.text(row + ` [data-col="source"]`); !strings.HasPrefix(src, "upload ") {
		t.Fatalf("source column: %q", src)
	}
	b.accessible("list")
	b.shot("list")

	// Detail: try the GET endpoint.
	b.click(row + ` [data-col="id"] a`)
	b.waitText("the detail", "#detail-title", "My Plugin")
	b.click(`[data-try="GET /hello"] button`)
	b.waitText("the endpoint's answer", `[data-try-result="GET /hello"] pre`, `"message": "Hello from plugin!"`)
	if status := b.text(`[data-try-result="GET /hello"] [data-status]`); !strings.HasPrefix(status, "200 OK") {
		t.Fatalf("try it status: %q", status)
	}
	b.accessible("detail")
	b.shot("try-it")

	// Disable: Escape declines, the dialog's button confirms.
	head := "#view-detail .detail-head"
	b.click(head + ` button[data-action="disable"]`)
	b.waitFor("the confirmation dialog", `document.querySelector("#confirm").open`)
	b.shot("confirm-disable")
	b.step("decline with Escape", chromedp.KeyEvent(kb.Escape))
	b.waitFor("the dialog to close", `!document.querySelector("#confirm").open`)
	if got := s.pluginState(helloID); got != "active" {
		t.Fatalf("declined, yet the plugin is %q", got)
	}
	b.click(head + ` button[data-action="disable"]`)
	b.confirmDialog()
	b.waitFor("disabled", `document.querySelector('#view-detail .detail-head [data-state]').dataset.state === "disabled"`)
	b.waitText("the result", "#notices", "Disabled my-plugin")
	want(t, "hello while disabled", s.endpoint("GET", helloID, "/hello"), 503, "plugin_disabled")
	b.click(`[data-try="GET /hello"] button`)
	b.waitText("the 503 in try it", `[data-try-result="GET /hello"] [data-status]`, "^503")
	b.shot("disabled")
	b.click(head + ` button[data-action="enable"]`)
	b.waitFor("enabled", `document.querySelector('#view-detail .detail-head [data-state]').dataset.state === "active"`)
	want(t, "hello after enable", s.endpoint("GET", helloID, "/hello"), 200, "")

	// Configure, and see the plugin use it at once.
	b.setValue("#cfg-greeting", "")
	b.typeInto("#cfg-greeting", "Howdy")
	b.click(`#view-detail [data-config] button[type="submit"]`)
	b.waitText("the configuration applied", "#notices", "Configuration of my-plugin applied")
	if r := s.api("GET", "/api/plugins/"+helloID+"/configuration", nil); r.body["configuration"].(map[string]any)["greeting"] != "Howdy" {
		t.Fatalf("configuration on the server: %s", r)
	}
	b.typeInto(`[data-try="GET /greet/:name"] input[name="name"]`, "ada")
	b.click(`[data-try="GET /greet/:name"] button`)
	b.waitText("the configured greeting", `[data-try-result="GET /greet/:name"] pre`, `"Howdy, ada!"`)

	// The events arrived live, and the traffic shows in the chart once the
	// server has sampled it.
	for _, typ := range []string{"disabled", "enabled", "config_changed"} {
		b.waitFor(typ+" in recent events", fmt.Sprintf(`document.querySelector('#view-detail li[data-event-type="%s"]')`, typ))
	}
	b.waitFor("requests in the chart", `(() => {
		const fig = document.querySelector('[data-chart="Requests per second"]');
		return fig && fig.querySelector("polyline") && !/peak 0\/s/.test(fig.querySelector("[data-summary]").textContent);
	})()`)
	b.shot("configured")

	// Unload: the detail says it is gone, the list is empty again.
	b.click(head + ` button[data-action="unload"]`)
	b.confirmDialog()
	b.waitFor("the plugin gone", `document.querySelector("#view-detail [data-gone]")`)
	want(t, "hello after unload", s.endpoint("GET", helloID, "/hello"), 404, "plugin_not_found")
	b.click(`a[data-nav="plugins"]`)
	b.waitText("the empty state again", "#plugins-empty", "No plugins are installed yet")
	b.shot("unloaded")
	b.liveThroughout()
	b.noProblems(`plugin-endpoints/my-plugin/hello.*503`)
}

// TestPageLiveHealth installs a plugin from a path on the server, and sees
// its health change on the page as it happens, from the event stream; the
// event stream is opened with a ticket, never with the token. Actions work
// while events redraw the page. At a narrow width the list still fits the
// window.
func TestPageLiveHealth(t *testing.T) {
	f := setup(t)
	s := startServer(t, f)
	b := newBrowser(t, wideWidth, wideHeight)
	dir := copyPlugin(t, filepath.Join(f.root, "test/e2e/testdata/plugins/flaky"))

	b.signIn(s.url+"/", s.token)
	b.goTo("#/install", "#view-install")
	b.typeInto("#local-path", dir)
	b.click(`#install-local button[type="submit"]`)
	b.waitFor("the install to finish", `document.querySelector('#progress-result [data-installed="flaky"]')`)

	b.goTo("#/plugins/flaky", "#view-detail")
	health := `document.querySelector('#view-detail .detail-head [data-health]')?.dataset.health`
	b.waitFor("healthy", health+` === "healthy"`)
	want(t, "make it sick", s.endpoint("POST", "flaky", "/sick"), 200, "")
	// Degraded lasts two checks, which a busy machine may not show in the
	// badge; the recent events keep each change.
	b.waitFor("unhealthy, live", health+` === "unhealthy"`)
	for _, to := range []string{"degraded", "unhealthy"} {
		b.waitText("the change to "+to+" in recent events", `#view-detail [data-body="events"]`, "plugin flaky is "+to)
	}
	b.waitText("the health error", "[data-health-error]", "told to be sick")
	if n := eval[int](b, `document.querySelectorAll('#view-detail .history li.fail').length`); n < 3 {
		b.fail("health history shows %d failed checks; want at least 3", n)
	}
	b.shot("unhealthy")
	want(t, "make it well", s.endpoint("POST", "flaky", "/well"), 200, "")
	b.waitFor("healthy again, live", health+` === "healthy"`)
	b.waitFor("the health change in recent events", `document.querySelector('#view-detail li[data-event-type="health_changed"]')`)

	// While health events keep redrawing the page, every click still
	// counts and every confirmation answers its own question.
	stop := make(chan struct{})
	flipped := make(chan struct{})
	go func() {
		defer close(flipped)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(700 * time.Millisecond):
			}
			path := []string{"/sick", "/well"}[i%2]
			resp, err := http.Post(s.url+"/api/plugin-endpoints/flaky"+path, "", nil)
			if err != nil {
				return
			}
			resp.Body.Close()
		}
	}()
	head := "#view-detail .detail-head"
	state := `document.querySelector('#view-detail .detail-head [data-state]').dataset.state`
	for range 3 {
		b.click(head + ` button[data-action="disable"]`)
		b.waitFor("the confirmation dialog", `document.querySelector("#confirm").open`)
		b.step("decline with Escape", chromedp.KeyEvent(kb.Escape))
		b.waitFor("the dialog to close", `!document.querySelector("#confirm").open`)
		b.click(head + ` button[data-action="disable"]`)
		b.confirmDialog()
		b.waitFor("disabled", state+` === "disabled"`)
		b.click(head + ` button[data-action="enable"]`)
		b.waitFor("enabled", state+` === "active"`)
	}
	close(stop)
	<-flipped

	// All of it came through one event stream, opened once with a
	// single-use ticket (a reconnection would have reloaded the list, and
	// hidden whether the changes came live); the token never went into a
	// URL.
	b.liveThroughout()
	for _, u := range b.requested() {
		if strings.Contains(u, s.token) {
			t.Errorf("the token is in a URL: %s", u)
		}
	}

	b.step("narrow the window", chromedp.EmulateViewport(narrowWidth, narrowHeight))
	b.goTo("#/plugins", "#view-plugins")
	b.waitText("the list", `tr[data-plugin-id="flaky"] [data-col="id"]`, "^flaky$")
	if over := eval[bool](b, `document.documentElement.scrollWidth > window.innerWidth`); over {
		b.fail("the page is wider than a %d px window", narrowWidth)
	}
	b.accessible("narrow list")
	b.shot("narrow")
	b.noProblems()
}

// TestPageBadUploads uploads archives that cannot be installed, and reads
// the precise error on the page: the extractor's rule, the manifest's field,
// the compiler's line.
func TestPageBadUploads(t *testing.T) {
	f := setup(t)
	s := startServer(t, f)
	b := newBrowser(t, wideWidth, wideHeight)
	b.signIn(s.url+"/", s.token)

	good := pluginFiles(t, f, "")
	withEntry := func(e archiveEntry) []archiveEntry { return append(append([]archiveEntry{}, good...), e) }
	source := readFile(t, filepath.Join(f.root, "plugins/examples/hello/main.go"))
	const working = `gin.H{"message": "Hello from plugin!"}`
	line := bytes.Count(source[:bytes.Index(source, []byte(working))], []byte("\n")) + 1
	broken := bytes.Replace(source, []byte(working), []byte("undefinedGreeting"), 1)
	var brokenFiles []archiveEntry
	for _, e := range good {
		if e.name == "main.go" {
			e.body = broken
		}
		brokenFiles = append(brokenFiles, e)
	}
	badManifest := []archiveEntry{
		{name: "plugin.yaml", body: []byte("id: my-plugin\nname: Bad\nversion: 1.0.0\nendpoints:\n  - path: /hello\n    method: FETCH\n    handler: HelloHandler\n")},
		{name: "main.go", body: source},
	}

	cases := []struct {
		name    string
		archive []byte
		code    string
		texts   []string // each must appear in the error shown
	}{
		{"traversal", makeZip(t, withEntry(archiveEntry{name: "../../evil.go", body: []byte("package evil")})),
			"invalid_archive", []string{"path_traversal", "../../evil.go"}},
		{"invalid manifest", makeZip(t, badManifest),
			"invalid_manifest", []string{"endpoints[0].method"}},
		{"compile error", makeZip(t, brokenFiles),
			"build_failed", []string{fmt.Sprintf("main.go:%d:", line), "undefined: undefinedGreeting"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b.t = t
			b.uploadInBrowser(writeArchive(t, strings.ReplaceAll(c.name, " ", "-")+".zip", c.archive))
			box := fmt.Sprintf(`#progress-result .error-box[data-code="%s"]`, c.code)
			b.waitFor(c.code+" shown", fmt.Sprintf(`document.querySelector('%s')`, box))
			shown := b.text(box)
			for _, want := range c.texts {
				if !strings.Contains(shown, want) {
					b.fail("the error shown lacks %q:\n%s", want, shown)
				}
			}
			b.waitText("the title", "#progress-title", "Install failed")
			b.accessible(c.name)
			b.shot(strings.ReplaceAll(c.name, " ", "-"))
		})
	}
	b.t = t
	if r := s.api("GET", "/api/plugins", nil); r.body["count"] != float64(0) {
		t.Fatalf("a bad archive was installed: %s", r)
	}
	b.liveThroughout()
	b.noProblems(`/api/plugins/upload.*(400|422)`)
}

// TestPageRoles signs in with a viewer's, an operator's and the admin's
// token in turn: each sees only the actions its role allows, the token is
// kept for the browser session only, and the admin edits the policy and
// gets a refused value back with its field.
func TestPageRoles(t *testing.T) {
	f := setup(t)
	s := startServer(t, f)
	for _, dir := range []string{"plugins/examples/hello", "test/e2e/testdata/plugins/flaky"} {
		want(t, "load "+dir, s.api("POST", "/api/plugins/load", map[string]any{"source": copyPlugin(t, filepath.Join(f.root, dir))}), 201, "")
	}
	secrets := map[string]string{"admin": s.token}
	for _, role := range []string{"viewer", "operator"} {
		r := s.api("POST", "/api/plugins/tokens", map[string]any{"name": role + "-page", "role": role})
		want(t, "token "+role, r, 201, "")
		secrets[role] = r.body["secret"].(string)
	}
	b := newBrowser(t, wideWidth, wideHeight)
	row := `tr[data-plugin-id="my-plugin"]`
	actions := `[...document.querySelectorAll('tr[data-plugin-id="my-plugin"] button[data-action]')].map(b => b.dataset.action).join(",")`
	cases := []struct {
		role, actions     string
		install, editable bool
	}{
		{"viewer", "", false, false},
		{"operator", "disable,reload", false, false},
		{"admin", "disable,reload,unload", true, true},
	}
	for _, c := range cases {
		b.signIn(s.url+"/", secrets[c.role])
		b.waitText("the plugin", row+` [data-col="state"]`, "active")
		if got := eval[string](b, actions); got != c.actions {
			b.fail("%s sees actions %q; want %q", c.role, got, c.actions)
		}
		if got := eval[bool](b, `!document.querySelector('a[data-nav="install"]').hidden`); got != c.install {
			b.fail("%s sees Install: %v", c.role, got)
		}
		if got := eval[string](b, `sessionStorage.getItem("ksplugins.token") + "|" + localStorage.length`); got != secrets[c.role]+"|0" {
			b.fail("token storage: %q", got)
		}
		b.goTo("#/system", "#view-system")
		b.waitFor("the policy", `document.querySelector("#policy-form").dataset.loaded === "true" && document.querySelector('[name="security_mode"]').value === "normal"`)
		b.waitText("the totals", `[data-total="plugins"]`, "^2$")
		if got := eval[bool](b, `!document.querySelector("#policy-fields").disabled && !document.querySelector("#cache-purge").hidden`); got != c.editable {
			b.fail("%s can edit the policy and purge: %v", c.role, got)
		}
		b.accessible(c.role + " system view")
		b.shot(c.role)
		if c.role != "admin" {
			b.click("#sign-out")
			b.waitFor("signed out", `!document.querySelector("#view-login").hidden && sessionStorage.length === 0`)
		}
	}

	// Filter and sort the list.
	b.goTo("#/plugins", "#view-plugins")
	ids := `[...document.querySelectorAll("#plugins-body tr")].map(r => r.dataset.pluginId).join(",")`
	b.waitFor("both plugins", ids+` === "flaky,my-plugin"`)
	b.typeInto("#filter-text", "fla")
	b.waitFor("only flaky", ids+` === "flaky"`)
	b.setValue("#filter-text", "")
	b.waitFor("both again", ids+` === "flaky,my-plugin"`)
	b.click(`th[data-sort="id"] button`)
	b.waitFor("sorted by id, descending", ids+` === "my-plugin,flaky" && document.querySelector('th[data-sort="id"]').getAttribute("aria-sort") === "descending"`)
	b.setValue("#filter-state", "disabled")
	b.waitText("nothing disabled", "#plugins-count", "0 of 2 plugins match the filters")
	b.shot("filtered")

	// The token survives a reload of the tab, and the address opens the
	// view it names.
	b.goTo("#/plugins/my-plugin", "#view-detail")
	b.step("reload", chromedp.Reload())
	b.waitFor("still signed in", `!document.querySelector("#who").hidden`)
	b.waitText("the plugin, after a reload", "#detail-title", "My Plugin")

	// A value the server refuses comes back to its field; a good one is saved.
	b.goTo("#/system", "#view-system")
	b.waitFor("the policy", `document.querySelector("#policy-form").dataset.loaded === "true" && document.querySelector('[name="security_mode"]').value === "normal"`)
	b.setValue(`[name="max_plugin_size"]`, "100")
	b.click("#policy-save")
	b.waitText("the field's error", "#p-max_plugin_size-error", "must be between 1024")
	b.shot("policy-refused")
	b.setValue(`[name="max_plugin_size"]`, "52428800")
	b.setValue(`[name="security_mode"]`, "permissive")
	b.click("#policy-save")
	b.waitText("saved", "#notices", "Policy saved")
	r := s.api("GET", "/api/plugins/system/configuration", nil)
	if r.body["security_mode"] != "permissive" || r.body["max_plugin_size"] != float64(52428800) {
		t.Fatalf("configuration on the server: %s", r)
	}
	b.noProblems(`/api/plugins/system/configuration.*400`)
}

// TestPageReconnects restarts the server under the page: the page says it
// is disconnected, reconnects by itself with a new ticket, says so, and is
// live again.
func TestPageReconnects(t *testing.T) {
	f := setup(t)
	data := t.TempDir()
	s := startServerAt(t, f, data)
	b := newBrowser(t, wideWidth, wideHeight)
	b.signIn(s.url+"/", s.token)
	status := `document.querySelector("#stream-status")`

	s.kill()
	b.waitFor("the disconnection said", status+`.dataset.state === "reconnecting"`)
	b.shot("disconnected")
	s2 := startServerOn(t, f, strings.TrimPrefix(s.url, "http://"), data, f.cacheDir)
	b.waitFor("live again", status+`.dataset.state === "live"`)
	b.waitText("the reconnection said", "#stream-status", "reconnected")

	// Live for real: a plugin installed now appears without a reload.
	want(t, "load hello", s2.api("POST", "/api/plugins/load", map[string]any{"source": copyPlugin(t, filepath.Join(f.root, "plugins/examples/hello"))}), 201, "")
	b.waitText("the new plugin", `tr[data-plugin-id="my-plugin"] [data-col="state"]`, "active")
	b.shot("reconnected")
	b.noProblems(`ERR_CONNECTION_REFUSED|ERR_EMPTY_RESPONSE|ERR_INCOMPLETE_CHUNKED_ENCODING|events`)
}

// TestPageRepository installs from a GitHub URL at a tag (served by a real
// git server on 127.0.0.1 standing in for GitHub), then updates it to a
// branch, and to a version that does not exist, from the page.
func TestPageRepository(t *testing.T) {
	f := setup(t)
	hr := newHelloRepository(t, f)
	s := startServer(t, f)
	s.configure(map[string]any{"repository_base_url": hr.git.URL})
	b := newBrowser(t, wideWidth, wideHeight)
	b.signIn(s.url+"/", s.token)

	b.goTo("#/install", "#view-install")
	b.typeInto("#git-url", "https://github.com/kubestellar/hello-plugin")
	b.typeInto("#git-version", "v1.0.0")
	b.click(`#install-git button[type="submit"]`)
	b.waitFor("the install to finish", `document.querySelector('#progress-result [data-installed="my-plugin"]')`)
	b.goTo("#/plugins", "#view-plugins")
	b.waitText("the source with its commit", `tr[data-plugin-id="my-plugin"] [data-col="source"]`,
		regexpQuote("github.com/kubestellar/hello-plugin @ v1.0.0 ("+hr.tag[:12]+")"))
	b.shot("from-repository")

	// Update asks for the version; Enter in the field confirms.
	b.goTo("#/plugins/my-plugin", "#view-detail")
	b.click(`#view-detail .detail-head button[data-action="update"]`)
	b.waitFor("the version asked for", `document.querySelector("#confirm").open && !document.querySelector("#confirm-input").hidden`)
	b.typeInto("#confirm-value", "feature\n")
	b.waitText("the update said", "#notices", "Updated my-plugin to feature")
	if r := s.api("GET", "/api/plugins/"+helloID, nil); pin(r) != hr.feature {
		t.Fatalf("after the update: %s", r)
	}
	b.click(`[data-try="GET /hello"] button`)
	b.waitText("the new version's answer", `[data-try-result="GET /hello"] pre`, "Hello from the branch!")

	b.click(`#view-detail .detail-head button[data-action="update"]`)
	b.waitFor("the version asked for", `document.querySelector("#confirm").open`)
	b.typeInto("#confirm-value", "no-such-version\n")
	b.waitFor("the refusal", `document.querySelector('#notices .error-box[data-code="version_not_found"]')`)
	b.shot("update-refused")
	if r := s.endpoint("GET", helloID, "/hello"); r.body["message"] != "Hello from the branch!" {
		t.Fatalf("a failed update must keep the running version: %s", r)
	}
	// The failed update's "error" event did not end the event stream.
	b.liveThroughout()
	b.noProblems(`/api/plugins/my-plugin/update.*400`)
}

// TestPageDependencies shows, on a plugin's detail, the plugins it
// depends on, satisfied or not, and the plugins that depend on it.
func TestPageDependencies(t *testing.T) {
	f := setup(t)
	s := startServer(t, f)
	b := newBrowser(t, wideWidth, wideHeight)
	for _, dir := range []string{"inventory", "inventoryreport"} {
		src := copyPlugin(t, filepath.Join(f.root, "test/e2e/testdata/plugins", dir))
		want(t, "install "+dir, s.api("POST", "/api/plugins/load", map[string]any{"source": src}), 201, "")
	}
	b.signIn(s.url+"/", s.token)
	b.goTo("#/plugins/inventory-report", "#view-detail")
	b.waitText("the satisfied dependency", `#view-detail [data-dependency="cluster-inventory"][data-satisfied="true"]`, `>=1\.2 <2 satisfied by 1\.4\.0`)
	b.goTo("#/plugins/cluster-inventory", "#view-detail")
	b.waitText("the dependant", `#view-detail [data-dependants] a`, "^inventory-report$")
	b.shot("dependencies")

	want(t, "forced unload", s.api("DELETE", "/api/plugins/cluster-inventory?force=true", nil), 200, "")
	b.goTo("#/plugins/inventory-report", "#view-detail")
	b.waitText("the unmet dependency", `#view-detail [data-dependency="cluster-inventory"][data-satisfied="false"]`, "not satisfied: not installed")
	b.waitFor("degraded", `document.querySelector('#view-detail .detail-head [data-state]')?.dataset.state === "degraded"`)
	b.noProblems()
}
