package httpwasm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/kubestellar/ksplugins/internal/apierr"
	"github.com/kubestellar/ksplugins/internal/runtime/wasm"
)

// serveHTTP hands one request to an instance. c.Request.URL is the
// plugin-relative one (the host's dispatcher sets it so), and is the URI
// the guest reads.
func (p *Plugin) serveHTTP(c *gin.Context) {
	r := c.Request
	p.requests.Add(1)
	limit := p.limits.MaxRequestBytes
	if r.ContentLength > limit {
		p.tooLarge(c, r.ContentLength)
		return
	}
	var body []byte
	if r.Body != nil && r.Body != http.NoBody {
		var err error
		body, err = io.ReadAll(io.LimitReader(r.Body, limit+1))
		if err != nil {
			apierr.Write(c.Writer, http.StatusBadRequest, "invalid_request", "reading the request body: "+err.Error(), nil)
			return
		}
		if int64(len(body)) > limit {
			p.tooLarge(c, int64(len(body)))
			return
		}
	}
	x := &exchange{
		method: r.Method, uri: r.URL.RequestURI(), proto: r.Proto, addr: r.RemoteAddr,
		reqHeader: r.Header.Clone(), reqBody: body,
		status: http.StatusOK, respHeader: http.Header{}, maxResponse: p.limits.MaxResponseBytes,
	}
	if x.reqHeader == nil {
		x.reqHeader = http.Header{}
	}

	in, err := p.acquire(r.Context())
	if err != nil {
		if errors.Is(err, wasm.ErrClosed) {
			apierr.Write(c.Writer, http.StatusServiceUnavailable, "plugin_unavailable", err.Error(), nil)
			return
		}
		apierr.Write(c.Writer, http.StatusServiceUnavailable, "sandbox_busy", err.Error(), nil)
		return
	}
	if err := p.handle(in, x); err != nil {
		p.lost(in, fmt.Errorf("serving %s %s: %w", r.Method, r.URL.Path, err))
		switch {
		case errors.Is(err, wasm.ErrTimeout):
			p.timeouts.Add(1)
			apierr.Write(c.Writer, http.StatusGatewayTimeout, "plugin_timeout",
				fmt.Sprintf("the plugin did not answer within %s; its instance was restarted", p.limits.Timeout), nil)
		case errors.Is(err, wasm.ErrClosed):
			apierr.Write(c.Writer, http.StatusServiceUnavailable, "plugin_unavailable", err.Error(), nil)
		default:
			p.crashes.Add(1)
			apierr.Write(c.Writer, http.StatusInternalServerError, "plugin_crashed",
				"the plugin crashed while handling the request; its instance was restarted", nil)
		}
		return
	}
	p.put(in)
	if x.tooLarge {
		apierr.Write(c.Writer, http.StatusBadGateway, "response_too_large",
			fmt.Sprintf("the plugin's response body exceeds the limit of %d bytes", p.limits.MaxResponseBytes), nil)
		return
	}
	h := c.Writer.Header()
	for k, v := range x.respHeader {
		h[k] = v
	}
	// The host frames the body it sends.
	h.Del("Content-Length")
	h.Del("Transfer-Encoding")
	c.Writer.WriteHeader(x.status)
	if len(x.respBody) > 0 {
		_, _ = c.Writer.Write(x.respBody)
	} else {
		c.Writer.WriteHeaderNow()
	}
}

// handle calls handle_request and, when the guest asks for the next
// handler, handle_response at once: a plugin endpoint has none. The error
// wraps wasm.ErrTimeout, wasm.ErrClosed or wasm.ErrCrashed; the instance
// is then unusable.
func (p *Plugin) handle(in *instance, x *exchange) error {
	p.calls.RLock()
	defer p.calls.RUnlock()
	if p.ctx.Err() != nil {
		return fmt.Errorf("plugin %s: %w", p.id, wasm.ErrClosed)
	}
	ctx, cancel := context.WithTimeout(p.ctx, p.limits.Timeout)
	defer cancel()
	ctx = context.WithValue(ctx, exchangeKey{}, x)
	in.callCtx = ctx
	defer func() { in.callCtx = nil }()
	res, err := in.handleRequest.Call(ctx)
	if err == nil && len(res) == 1 && uint32(res[0])&1 == 1 {
		_, err = in.handleResponse.Call(ctx, res[0]>>32, 0)
	}
	switch {
	case err == nil:
		return nil
	case p.ctx.Err() != nil:
		return fmt.Errorf("plugin %s: %w", p.id, wasm.ErrClosed)
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("plugin %s: %w after %s", p.id, wasm.ErrTimeout, p.limits.Timeout)
	}
	return fmt.Errorf("plugin %s: %w: %w", p.id, wasm.ErrCrashed, err)
}

func (p *Plugin) tooLarge(c *gin.Context, n int64) {
	apierr.Write(c.Writer, http.StatusRequestEntityTooLarge, "request_too_large",
		fmt.Sprintf("the request body (at least %d bytes) exceeds the plugin's limit of %d bytes", n, p.limits.MaxRequestBytes), nil)
}
