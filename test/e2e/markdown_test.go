package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/chromedp/chromedp"
)

// awaitEval runs a JavaScript expression whose value is a promise, and
// decodes what it resolves to into T.
func awaitEval[T any](b *browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		b.fail("evaluate %s: %v", expr, err)
	}
	return v
}

// renderMarkdown renders a Markdown text with the page's own renderer, in
// the page, and answers the nodes it made as compact markup (text quoted
// as it is, elements with their href, start and data-lang only), after
// putting them into the document: anything that could run would run.
const renderMarkdown = `import('./markdown.js').then((md) => {
  const show = (n) => {
    if (n.nodeType === Node.TEXT_NODE) return n.textContent;
    const tag = n.tagName.toLowerCase();
    const attrs = ['href', 'start', 'data-lang'].filter((a) => n.hasAttribute(a)).map((a) => ' ' + a + '=' + n.getAttribute(a)).join('');
    return '<' + tag + attrs + '>' + [...n.childNodes].map(show).join('') + '</' + tag + '>';
  };
  const box = document.createElement('div');
  box.id = 'markdown-probe';
  box.append(...md.render(%s));
  document.body.replaceChildren(box);
  return [...box.childNodes].map(show).join('');
})`

// TestPageMarkdown renders catalog descriptions with the page's Markdown
// renderer in Chromium: each construct becomes the elements it names, and
// HTML, script and links to anything but http(s) stay inert text.
func TestPageMarkdown(t *testing.T) {
	f := setup(t)
	s := startServer(t, f)
	b := newBrowser(t, wideWidth, wideHeight)
	b.step("open the page", chromedp.Navigate(s.url+"/"))
	b.waitFor("the sign-in form", `!document.querySelector("#view-login").hidden`)

	cases := []struct {
		name, in, want string
	}{
		{"headings under the page's own", "# One\n## Two *em*\n###### Six",
			"<h3>One</h3><h4>Two <em>em</em></h4><h6>Six</h6>"},
		{"paragraphs", "one\nline\n\nanother",
			"<p>one\nline</p><p>another</p>"},
		{"emphasis", "**b** *i* __b__ _i_ snake_case_name \\*not\\*",
			"<p><strong>b</strong> <em>i</em> <strong>b</strong> <em>i</em> snake_case_name *not*</p>"},
		{"code", "a `x <b>y</b>` b\n\n```go\nfunc main() {}\n<script>\n```",
			"<p>a <code>x <b>y</b></code> b</p><pre data-lang=go><code>func main() {}\n<script></code></pre>"},
		{"lists", "- one\n- two\n  - two.a\n- three\n\n3. c\n4. d",
			"<ul><li>one</li><li>two<ul><li>two.a</li></ul></li><li>three</li></ul><ol start=3><li>c</li><li>d</li></ol>"},
		{"quote and rule", "> said **so**\n\n---",
			"<blockquote><p>said <strong>so</strong></p></blockquote><hr></hr>"},
		{"links", "[site](https://example.com/a?b=1 \"t\") <http://example.org> ![logo](https://example.com/l.png)",
			"<p><a href=https://example.com/a?b=1>site</a> <a href=http://example.org/>http://example.org</a> <a href=https://example.com/l.png>Image: logo</a></p>"},
		{"links to anything else are text", "[js](javascript:alert(1)) [rel](/api/plugins) [data](data:text/html;base64,PHNjcmlwdD4=) <javascript:alert(1)>",
			"<p><span>js</span> <span>rel</span> <span>data</span> <span>javascript:alert(1)</span></p>"},
		{"html is text", "<script>window.pwned=1</script>\n<img src=x onerror=\"window.pwned=2\">",
			"<p><script>window.pwned=1</script>\n<img src=x onerror=\"window.pwned=2\"></p>"},
	}
	for _, c := range cases {
		in, _ := json.Marshal(c.in)
		got := awaitEval[string](b, fmt.Sprintf(renderMarkdown, in))
		if got != c.want {
			t.Errorf("%s: %q rendered\n%s\nwant\n%s", c.name, c.in, got, c.want)
		}
	}
	// Emphasis that never closes and brackets that never end, as long as a
	// description may be: rendered in linear time, not by the square.
	took := awaitEval[float64](b, `(async () => {
		const md = await import('./markdown.js');
		const start = performance.now();
		md.render('*a '.repeat(md.MAX_CHARS / 3));
		md.render('['.repeat(md.MAX_CHARS));
		return performance.now() - start;
	})()`)
	if took > 3000 {
		t.Errorf("a hostile description took %.0f ms to render", took)
	}
	if pwned := eval[bool](b, `"pwned" in window || document.querySelector("#markdown-probe img, #markdown-probe script") !== null`); pwned {
		t.Fatal("markup in a description ran or became elements")
	}
	b.noProblems()
}
