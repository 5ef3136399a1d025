package httpwasm

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/kubestellar/ksplugins/internal/httpwasmtest"
)

// BenchmarkRequest serves a GET through a gin engine into an httptest
// recorder, as the sandboxed tier's BenchmarkRequest (package
// internal/runtime/wasm) does with its Go guest: as-hello is the
// AssemblyScript guest's /hello, wat-echo the WebAssembly text guest's
// /echo. boundary is handle_request alone on the AssemblyScript guest,
// without the host's gin and recorder.
func BenchmarkRequest(b *testing.B) {
	b.Run("as-hello", func(b *testing.B) {
		p := open(b, httpwasmtest.HelloAS(b), "http-wasm-hello-as")
		benchServe(b, p, "/hello?name=bench")
	})
	b.Run("wat-echo", func(b *testing.B) {
		p := open(b, httpwasmtest.EchoWAT(b), "http-wasm-wat")
		benchServe(b, p, "/echo")
	})
	b.Run("boundary", func(b *testing.B) {
		p := open(b, httpwasmtest.HelloAS(b), "http-wasm-hello-as")
		in := <-p.free
		defer func() { p.free <- in }()
		b.ReportAllocs()
		for b.Loop() {
			x := &exchange{method: http.MethodGet, uri: "/hello?name=bench", proto: "HTTP/1.1", reqHeader: http.Header{"Accept": {"*/*"}},
				status: http.StatusOK, respHeader: http.Header{}, maxResponse: p.limits.MaxResponseBytes}
			if err := p.handle(in, x); err != nil || x.status != http.StatusOK {
				b.Fatal(err, x.status)
			}
		}
	})
}

func benchServe(b *testing.B, p *Plugin, target string) {
	e := router(p)
	req := httptest.NewRequest(http.MethodGet, target, nil)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		e.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatal(w.Code, w.Body.String())
		}
	}
}
