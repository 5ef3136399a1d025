package host

import (
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzRouter sends arbitrary methods and paths to a plugin's router: every
// answer is one the host can give, and the host never panics.
func FuzzRouter(f *testing.F) {
	for _, seed := range [][2]string{
		{"GET", "/hello"}, {"PUT", "/items/x1"}, {"POST", "/hello"}, {"GET", "/items/"},
		{"GET", "/../../etc/passwd"}, {"DELETE", "//items//x"}, {"GET", "/hello?x=%zz"}, {"PATCH", "/items/%00"},
	} {
		f.Add(seed[0], seed[1])
	}
	host := newTestHost(f)
	add(f, host, &testPlugin{id: "demo", reply: "hi", block: closedChan()})
	f.Fuzz(func(t *testing.T, method, path string) {
		if method == "" || strings.ContainsAny(method, " \t\r\n()<>@,;:\\\"/[]?={}") || len(method) > 16 {
			return // not an HTTP method token: the server refuses it before routing
		}
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/", nil)
		req.Method = method
		req.URL.Path = "/" + strings.TrimPrefix(path, "/")
		host.ServeEndpoint(rec, req, "demo", req.URL.Path)
		switch rec.Code {
		case 200, 400, 404, 405, 500:
		default:
			t.Fatalf("%s %q: status %d", method, path, rec.Code)
		}
		if rec.Code != 200 && !strings.Contains(rec.Body.String(), `"error"`) {
			t.Fatalf("%s %q: %d without the error shape: %s", method, path, rec.Code, rec.Body.String())
		}
	})
}

func closedChan() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}
