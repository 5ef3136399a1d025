package wasm

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"

	"github.com/gin-gonic/gin"

	"github.com/kubestellar/ksplugins/internal/apierr"
	"github.com/kubestellar/ksplugins/sdk/wasmguest/abi"
)

// maxPooledFrame is the largest frame buffer kept for reuse; larger ones,
// from large bodies, are left to the garbage collector.
const maxPooledFrame = 256 << 10

// serveHTTP forwards one request to an instance. c.Request.URL.Path must be
// the plugin-relative path (the host's dispatcher sets it so).
func (p *Plugin) serveHTTP(c *gin.Context) {
	r := c.Request
	bufp := p.bufs.Get().(*[]byte)
	defer func() {
		if cap(*bufp) <= maxPooledFrame {
			p.bufs.Put(bufp)
		}
	}()
	limit := p.limits.MaxRequestBytes
	if r.ContentLength > limit {
		p.tooLarge(c, r.ContentLength)
		return
	}
	buf := abi.AppendString((*bufp)[:0], r.Method)
	buf = abi.AppendString(buf, r.URL.Path)
	buf = abi.AppendString(buf, r.URL.RawQuery)
	buf = abi.AppendString(buf, r.Host)
	buf = abi.AppendString(buf, r.RemoteAddr)
	buf = abi.AppendHeader(buf, r.Header)
	lenAt := len(buf)
	buf = abi.AppendU32(buf, 0)
	if r.Body != nil && r.Body != http.NoBody {
		var n int64
		var err error
		buf, n, err = appendBody(buf, r.Body, limit)
		*bufp = buf
		if err != nil {
			apierr.Write(c.Writer, http.StatusBadRequest, "invalid_request", "reading the request body: "+err.Error(), nil)
			return
		}
		if n > limit {
			p.tooLarge(c, n)
			return
		}
		abi.PutU32(buf, lenAt, uint32(n))
	}
	*bufp = buf

	in, err := p.acquire(r.Context(), true)
	if err != nil {
		if errors.Is(err, ErrClosed) {
			apierr.Write(c.Writer, http.StatusServiceUnavailable, "plugin_unavailable", err.Error(), nil)
			return
		}
		apierr.Write(c.Writer, http.StatusServiceUnavailable, "sandbox_busy", err.Error(), nil)
		return
	}
	// The request's number ends the frame; its context, with what the
	// host learned of the caller, stays here for the guest's calls to
	// other plugins.
	id, done := in.serve(r.Context())
	buf = abi.AppendU32(buf, id)
	*bufp = buf
	res, err := in.invoke(p.ctx, abi.OpHandle, buf)
	done()
	if err != nil {
		p.lost(in, fmt.Errorf("serving %s %s: %w", r.Method, r.URL.Path, err))
		switch {
		case errors.Is(err, ErrTimeout):
			apierr.Write(c.Writer, http.StatusGatewayTimeout, "plugin_timeout",
				fmt.Sprintf("the plugin did not answer within %s; its instance was restarted", p.limits.Timeout), nil)
		case errors.Is(err, ErrClosed):
			apierr.Write(c.Writer, http.StatusServiceUnavailable, "plugin_unavailable", err.Error(), nil)
		default:
			apierr.Write(c.Writer, http.StatusInternalServerError, "plugin_crashed",
				"the plugin crashed while handling the request; its instance was restarted", nil)
		}
		return
	}

	// Copy what is needed out of guest memory, then give the instance back
	// before writing to a client that may be slow.
	d := abi.NewDecoder(res)
	kind := d.Byte()
	var status int
	var body []byte
	switch kind {
	case abi.KindResponse:
		status = int(d.U32())
		d.Header(c.Writer.Header())
		view := d.Bytes()
		if d.Err() == nil && int64(len(view)) <= p.limits.MaxResponseBytes {
			body = append(buf[:0], view...)
			*bufp = body
		}
		if int64(len(view)) > p.limits.MaxResponseBytes {
			kind = abi.KindTooLarge
		}
	case abi.KindError:
		msg := d.String()
		p.release(in)
		p.logError(r.Method, r.URL.Path, msg)
		apierr.Write(c.Writer, http.StatusInternalServerError, "plugin_error", msg, nil)
		return
	}
	if err := d.Err(); err != nil || kind > abi.KindTooLarge || (kind == abi.KindResponse && (status < 200 || status > 999)) {
		in.close()
		p.lost(in, fmt.Errorf("plugin %s: %w: malformed response frame", p.id, ErrCrashed))
		clear(c.Writer.Header())
		apierr.Write(c.Writer, http.StatusInternalServerError, "plugin_crashed",
			"the plugin answered a malformed response; its instance was restarted", nil)
		return
	}
	p.release(in)
	if kind == abi.KindTooLarge {
		clear(c.Writer.Header())
		apierr.Write(c.Writer, http.StatusBadGateway, "response_too_large",
			fmt.Sprintf("the plugin's response body exceeds the limit of %d bytes", p.limits.MaxResponseBytes), nil)
		return
	}
	c.Writer.WriteHeader(status)
	if len(body) > 0 {
		_, _ = c.Writer.Write(body)
	} else {
		c.Writer.WriteHeaderNow()
	}
}

func (p *Plugin) tooLarge(c *gin.Context, n int64) {
	apierr.Write(c.Writer, http.StatusRequestEntityTooLarge, "request_too_large",
		fmt.Sprintf("the request body (at least %d bytes) exceeds the plugin's limit of %d bytes", n, p.limits.MaxRequestBytes), nil)
}

// appendBody appends at most limit+1 bytes of r to buf and returns how many
// it read, so a body over the limit is detected without reading it all.
func appendBody(buf []byte, r io.Reader, limit int64) ([]byte, int64, error) {
	var n int64
	for n <= limit {
		if len(buf) == cap(buf) {
			grow := max(4096, min(int64(cap(buf)), limit+1-n))
			buf = slices.Grow(buf, int(grow))
		}
		room := min(int64(cap(buf)-len(buf)), limit+1-n)
		m, err := r.Read(buf[len(buf) : len(buf)+int(room)])
		buf = buf[:len(buf)+m]
		n += int64(m)
		if err == io.EOF {
			return buf, n, nil
		}
		if err != nil {
			return buf, n, err
		}
	}
	return buf, n, nil
}
