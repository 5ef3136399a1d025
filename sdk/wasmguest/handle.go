//go:build wasip1

package wasmguest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"

	"github.com/gin-gonic/gin"

	"github.com/kubestellar/ksplugins/sdk/router"
	"github.com/kubestellar/ksplugins/sdk/wasmguest/abi"
)

// handle serves one request frame with the plugin's gin engine and leaves
// the response frame in g.out.
func (g *guest) handle(in []byte) {
	if g.engine == nil {
		e, err := g.buildEngine()
		if err != nil {
			g.fail(err.Error())
			return
		}
		g.engine = e
	}
	d := &g.dec
	d.Reset(in)
	method := internMethod(d.Bytes())
	g.url = url.URL{}
	g.url.Path = d.String()
	g.url.RawQuery = d.String()
	host := d.String()
	remote := d.String()
	clear(g.header)
	g.header = d.Header(g.header)
	body := d.Bytes()
	var request uint32
	if len(d.Rest()) >= 4 { // a host from before plugin calls ends at the body
		request = d.U32()
	}
	if err := d.Err(); err != nil {
		g.fail("decoding the request: " + err.Error())
		return
	}
	g.body.Reset(body)
	g.req = http.Request{
		Method:        method,
		URL:           &g.url,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        g.header,
		Body:          g.bodyRC,
		ContentLength: int64(len(body)),
		Host:          host,
		RemoteAddr:    remote,
		RequestURI:    requestURI(g.url.Path, g.url.RawQuery),
	}
	g.w.reset(g.out[:0], g.maxResp)
	req := &g.req
	if g.calls && request != 0 {
		// A copy, which the plugin may keep: the context names this
		// request, and a call made with it once the request is answered
		// is refused rather than made for whichever request is current.
		req = g.req.WithContext(context.WithValue(context.Background(), requestKey{}, request))
	}
	g.engine.ServeHTTP(&g.w, req)
	g.out = g.w.finish()
}

// requestURI approximates what the client sent, for handlers that log it:
// the host passes the decoded path, so this is not byte-for-byte the
// original, as url.URL.RequestURI would not be either.
func requestURI(path, query string) string {
	if query == "" {
		return path
	}
	return path + "?" + query
}

// buildEngine routes the plugin's endpoints to its handlers, exactly as the
// host's own router does for native plugins.
func (g *guest) buildEngine() (*gin.Engine, error) {
	p := g.plugin
	meta := p.GetMetadata()
	endpoints := g.endpoints
	if len(endpoints) == 0 {
		endpoints = meta.Endpoints
	}
	return router.New(p, endpoints, p.GetHandlers(), router.Options{Name: "plugin " + meta.ID})
}

// internMethod avoids allocating the common method names.
func internMethod(b []byte) string {
	switch string(b) {
	case http.MethodGet:
		return http.MethodGet
	case http.MethodPost:
		return http.MethodPost
	case http.MethodPut:
		return http.MethodPut
	case http.MethodDelete:
		return http.MethodDelete
	case http.MethodPatch:
		return http.MethodPatch
	case http.MethodHead:
		return http.MethodHead
	case http.MethodOptions:
		return http.MethodOptions
	}
	return string(b)
}

// errResponseTooLarge is what a handler's Write returns once the body passed
// the host's limit: the host answers 502 whatever comes next, so the
// handler may as well stop.
var errResponseTooLarge = errors.New("wasmguest: response body exceeds the sandbox's limit")

// responseWriter writes the response frame directly: the header block when
// the status is written (later header changes are ignored, as with
// net/http), then the body.
type responseWriter struct {
	header      http.Header
	buf         []byte
	lenAt       int // offset of the body length
	max         int
	wroteHeader bool
	tooLarge    bool
}

func (w *responseWriter) reset(buf []byte, max int) {
	clear(w.header)
	w.buf, w.lenAt, w.max = buf, 0, max
	w.wroteHeader, w.tooLarge = false, false
}

// Header implements http.ResponseWriter.
func (w *responseWriter) Header() http.Header { return w.header }

// WriteHeader implements http.ResponseWriter: it freezes the header block
// into the frame.
func (w *responseWriter) WriteHeader(status int) {
	if w.wroteHeader {
		return
	}
	if status < 100 || status > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", status))
	}
	if status < 200 {
		return // informational responses do not cross the boundary
	}
	w.wroteHeader = true
	w.buf = append(w.buf[:0], abi.KindResponse)
	w.buf = abi.AppendU32(w.buf, uint32(status))
	w.buf = abi.AppendHeader(w.buf, w.header)
	w.lenAt = len(w.buf)
	w.buf = abi.AppendU32(w.buf, 0)
}

// Write implements http.ResponseWriter, refusing bytes past the host's limit.
func (w *responseWriter) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		if w.header.Get("Content-Type") == "" {
			w.header.Set("Content-Type", http.DetectContentType(p))
		}
		w.WriteHeader(http.StatusOK)
	}
	if w.tooLarge {
		return 0, errResponseTooLarge
	}
	if len(w.buf)-w.lenAt-4+len(p) > w.max {
		w.tooLarge = true
		return 0, errResponseTooLarge
	}
	w.buf = append(w.buf, p...)
	return len(p), nil
}

// WriteString lets io.WriteString and gin's string renderers skip a copy.
func (w *responseWriter) WriteString(s string) (int, error) {
	if !w.wroteHeader || w.tooLarge || len(w.buf)-w.lenAt-4+len(s) > w.max {
		return w.Write([]byte(s))
	}
	w.buf = append(w.buf, s...)
	return len(s), nil
}

// Flush is accepted and does nothing: the response crosses the boundary
// whole when the handler returns.
func (w *responseWriter) Flush() {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
}

// CloseNotify never fires: the host, not the guest, sees the client go.
func (w *responseWriter) CloseNotify() <-chan bool { return nil }

// Hijack is refused: there is no connection inside the sandbox.
func (w *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return nil, nil, http.ErrNotSupported
}

// finish completes the frame and returns it.
func (w *responseWriter) finish() []byte {
	if w.tooLarge {
		return append(w.buf[:0], abi.KindTooLarge)
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	abi.PutU32(w.buf, w.lenAt, uint32(len(w.buf)-w.lenAt-4))
	return w.buf
}
