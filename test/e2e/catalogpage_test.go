package e2e

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// hostileDescription is an entry's README that would run script if the
// page made HTML of it.
const hostileDescription = "# Hello\n\nAnswers a **greeting**.\n\n" +
	"<script>window.pwned = 'script'</script>\n\n" +
	"<img src=x onerror=\"window.pwned = 'img'\">\n\n" +
	"- [the docs](https://example.com/docs)\n- [a trap](javascript:window.pwned='link')\n"

// pageSamples is how many more entries the page's catalog lists, so that
// it takes two of the page's pages.
const pageSamples = 11

// TestCatalogPage: an admin adds a signed catalog on the page (and a
// catalog with the wrong key, refused with the reason, then removed),
// searches and filters it, opens an entry whose description tries to run
// script, installs it and follows its progress, finds it in the plugins
// list, and once the publisher adds a version and the catalogs are
// refreshed, sees the update offered in the list and installs it.
func TestCatalogPage(t *testing.T) {
	f := setup(t)
	c := newCatalogWorld(t, f)
	c.description, c.samples = hostileDescription, pageSamples
	c.release(t, [2]string{"1.0.0", c.v1})
	s := startServer(t, f)
	s.configure(map[string]any{"repository_base_url": c.git.URL})
	b := newBrowser(t, wideWidth, wideHeight)
	b.signIn(s.url+"/", s.token)

	// No catalog yet: the view says so, and an admin adds one.
	b.click(`a[data-nav="catalog"]`)
	b.waitText("the empty catalog", "#catalog-entries", "No catalog is configured")
	addCatalog := func(name, key string) {
		b.setValue("#catalog-name", name)
		b.setValue("#catalog-location", catalogRepoURL)
		b.setValue("#catalog-ref", "main")
		b.setValue("#catalog-keys", key)
		b.click(`#catalog-add button[type="submit"]`)
		b.waitText("the catalog added", "#notices", "Catalog "+regexpQuote(name)+" added")
	}
	addCatalog("main", c.pub)
	card := func(id string) string {
		return fmt.Sprintf(`document.querySelector('#catalog-entries [data-entry-id="%s"]')`, id)
	}
	b.waitFor("the catalog's entries", card(helloID)+" && "+card("netcheck"))
	b.waitText("the catalog read", `[data-catalog="main"]`, fmt.Sprintf("%d plugins", 2+pageSamples))

	// A catalog whose key did not sign it is refused whole, saying why.
	other, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	addCatalog("wrong-key", "ed25519:"+base64.StdEncoding.EncodeToString(other))
	b.waitText("the refusal", `[data-catalog-error="wrong-key"]`, "signature")
	b.accessible("catalog")
	b.shot("catalogs")
	b.click(`button[data-remove-catalog="wrong-key"]`)
	b.confirmDialog()
	b.waitText("the catalog removed", "#notices", "Catalog wrong-key removed")
	b.waitFor("the refused catalog gone", `!document.querySelector('[data-catalog="wrong-key"]')`)
	if r := s.api("GET", "/api/plugins/system/configuration", nil); len(r.body["catalogs"].([]any)) != 1 {
		t.Fatalf("catalogs configured: %s", r)
	}

	// Pages, search, a category, a tier.
	only := func(what, id string) {
		b.waitFor(what, fmt.Sprintf(`[...document.querySelectorAll("#catalog-entries [data-entry-id]")].map((e) => e.dataset.entryId).join() === %q`, id))
	}
	b.waitText("the first of two pages", "#catalog-count", fmt.Sprintf("%d plugins · page 1 of 2", 2+pageSamples))
	b.click(`#catalog-pages button[data-page="next"]`)
	only("the second page", fmt.Sprintf("sample-%02d", pageSamples))
	b.click(`#catalog-pages button[data-page="previous"]`)
	b.waitFor("the first page again", card(helloID))
	b.typeInto("#catalog-q", "network")
	only("the search's match", "netcheck")
	b.setValue("#catalog-q", "")
	b.click(`#catalog-chips button[data-category="examples"]`)
	only("the category's entries", helloID)
	b.waitFor("the chip pressed", `document.querySelector('#catalog-chips [data-category="examples"]').getAttribute("aria-pressed") === "true"`)
	b.click(`#catalog-chips button[data-category=""]`)
	b.setValue("#catalog-tier", "native")
	only("the tier's entries", helloID)
	b.setValue("#catalog-tier", "")
	b.waitFor("every entry again", card(helloID)+" && "+card("netcheck"))
	b.shot("searched")

	// The entry: its description is text and structure, never script.
	b.click(fmt.Sprintf(`#catalog-entries [data-entry-id="%s"] h2 a`, helloID))
	b.waitText("the entry", "#entry-title", "^Hello")
	readme := `#view-entry [data-readme]`
	b.waitText("the description", readme+" h3", "^Hello$")
	b.waitText("the description's emphasis", readme+" strong", "^greeting$")
	if got := eval[string](b, `[...document.querySelectorAll("#view-entry [data-readme] a")].map((a) => a.href).join()`); got != "https://example.com/docs" {
		b.fail("links in the description: %q; want only the https one", got)
	}
	if n := eval[int](b, `document.querySelectorAll("#view-entry [data-readme] script, #view-entry [data-readme] img, #view-entry img:not(.entry-icon)").length`); n != 0 {
		b.fail("the description made %d script or image elements", n)
	}
	for _, text := range []string{"<script>window.pwned = 'script'</script>", `<img src=x onerror="window.pwned = 'img'">`, "a trap"} {
		if !strings.Contains(b.text(readme), text) {
			b.fail("the description does not show %q as text", text)
		}
	}
	entry := s.api("GET", "/api/plugins/catalog/"+helloID, nil)
	want(t, "the entry", entry, 200, "")
	digest := entry.body["versions"].([]any)[0].(map[string]any)["digest"].(string)
	b.waitText("the version's digest", `#view-entry tr[data-version="1.0.0"] .digest`, "^"+regexpQuote(digest)+"$")
	b.accessible("entry")
	b.shot("entry")

	// Install, followed live.
	b.click(`#view-entry button[data-entry-action="install"]`)
	done := `#view-entry [data-progress] [data-installed="%s"][data-version="%s"]`
	b.waitFor("the install to finish", fmt.Sprintf(`document.querySelector('%s')`, fmt.Sprintf(done, helloID, "1.0.0")))
	for _, step := range []string{"fetching", "validating", "building", "loading"} {
		if state := eval[string](b, fmt.Sprintf(`document.querySelector('#view-entry [data-progress] [data-step="%s"]')?.dataset.state ?? "missing"`, step)); state != "done" {
			b.fail("step %s is %s; want done", step, state)
		}
	}
	b.waitFor("the entry installed", `document.querySelector('#view-entry [data-badge="installed"]')`)
	b.accessible("installed")
	b.shot("installed")
	if r := s.endpoint("GET", helloID, "/hello"); r.body["message"] != "Hello from plugin!" {
		t.Fatalf("1.0.0 answers: %s", r)
	}

	// In the plugins list, without a reload, and nothing to update yet.
	b.click(`a[data-nav="plugins"]`)
	row := fmt.Sprintf(`tr[data-plugin-id="%s"]`, helloID)
	b.waitText("the plugin in the list", row+` [data-col="state"]`, "^active$")
	b.waitText("its version", row+` [data-col="version"]`, "^1\\.0\\.0$")

	// The publisher adds 1.1.0; a refresh shows the update in the list.
	c.release(t, [2]string{"1.0.0", c.v1}, [2]string{"1.1.0", c.v2})
	b.click(`a[data-nav="catalog"]`)
	b.click("#catalog-refresh")
	b.waitText("the refresh said", "#notices", "Catalogs refreshed")
	b.waitFor("the update on the card", fmt.Sprintf(`%s?.querySelector('[data-badge="update"]')`, card(helloID)))
	b.click(`a[data-nav="plugins"]`)
	b.waitText("the update offered", row+` [data-badge="update"]`, "update available: 1\\.1\\.0")
	b.accessible("update offered")
	b.shot("update-offered")
	b.click(row + ` button[data-action="catalog-update"]`)
	b.confirmDialog()
	b.waitFor("the update to finish", fmt.Sprintf(`document.querySelector('%s')`, fmt.Sprintf(done, helloID, "1.1.0")))
	b.waitText("the update said", "#view-entry [data-progress] h2", "^Updated$")
	b.shot("updated")
	if r := s.endpoint("GET", helloID, "/hello"); r.body["message"] != "Hello from 1.1!" {
		t.Fatalf("after the update: %s", r)
	}
	b.click(`a[data-nav="plugins"]`)
	b.waitText("the new version in the list", row+` [data-col="version"]`, "^1\\.1\\.0$")
	if eval[bool](b, fmt.Sprintf(`document.querySelector('%s [data-badge="update"]') !== null`, row)) {
		b.fail("an update is still offered after it")
	}
	if pwned := eval[bool](b, `"pwned" in window`); pwned {
		t.Fatal("the description's script ran")
	}
	b.liveThroughout()

	// A viewer browses the catalog but changes nothing.
	r := s.api("POST", "/api/plugins/tokens", map[string]any{"name": "catalog-viewer", "role": "viewer"})
	want(t, "viewer token", r, 201, "")
	b.click("#sign-out")
	b.signIn(s.url+"/", r.body["secret"].(string))
	b.goTo("#/catalog", "#view-catalog")
	b.waitFor("the catalog's entries", card(helloID)+" && "+card("netcheck"))
	if got := eval[string](b, `[!document.querySelector("#catalog-refresh").hidden, !document.querySelector("#catalog-add").hidden,
		document.querySelectorAll("[data-remove-catalog]").length].join()`); got != "false,false,0" {
		b.fail("a viewer sees refresh, add, remove: %s", got)
	}
	b.goTo("#/catalog/"+helloID, "#view-entry")
	b.waitText("the entry", "#entry-title", "^Hello")
	if n := eval[int](b, `document.querySelectorAll("#view-entry [data-entry-action]").length`); n != 0 {
		b.fail("a viewer is offered %d install or update buttons", n)
	}
	b.accessible("viewer")

	// A narrow window: the entry and the catalog fit it.
	b.step("narrow the window", chromedp.EmulateViewport(narrowWidth, narrowHeight))
	for _, view := range [][3]string{
		{"#/catalog/" + helloID, "#view-entry", "#view-entry [data-readme]"},
		{"#/catalog", "#view-catalog", "#catalog-entries [data-entry-id]"},
	} {
		b.goTo(view[0], view[1])
		b.waitFor("the view drawn", fmt.Sprintf(`document.querySelector('%s')`, view[2]))
		if over := eval[bool](b, `document.documentElement.scrollWidth > window.innerWidth`); over {
			b.fail("%s is wider than a %d px window", view[0], narrowWidth)
		}
	}
	b.shot("narrow")
	b.noProblems()
}
