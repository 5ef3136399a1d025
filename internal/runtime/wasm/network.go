package wasm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tetratelabs/wazero/api"

	"github.com/kubestellar/ksplugins/sdk"
	"github.com/kubestellar/ksplugins/sdk/wasmguest/abi"
)

// defaultHTTPTimeout bounds a granted outbound request when the operator
// gave no client of their own.
const defaultHTTPTimeout = 10 * time.Second

// instantiateHostModule provides the imports of package wasmguest: the
// only ways out of the sandbox are an HTTP request the host performs and a
// call to another plugin the host makes.
func (p *Plugin) instantiateHostModule(ctx context.Context) error {
	_, err := p.rt.NewHostModuleBuilder(abi.ImportModule).
		NewFunctionBuilder().
		WithGoModuleFunction(framed(abi.ImportHTTPDo, p.doHTTP),
			[]api.ValueType{api.ValueTypeI32, api.ValueTypeI32}, []api.ValueType{api.ValueTypeI64}).
		WithParameterNames("ptr", "size").
		Export(abi.ImportHTTPDo).
		NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(p.hostHTTPResult),
			[]api.ValueType{api.ValueTypeI32}, nil).
		WithParameterNames("ptr").
		Export(abi.ImportHTTPResult).
		NewFunctionBuilder().
		WithGoModuleFunction(framed(abi.ImportHTTPOpen, p.openHTTP),
			[]api.ValueType{api.ValueTypeI32, api.ValueTypeI32}, []api.ValueType{api.ValueTypeI64}).
		WithParameterNames("ptr", "size").
		Export(abi.ImportHTTPOpen).
		NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(p.hostHTTPRead),
			[]api.ValueType{api.ValueTypeI32, api.ValueTypeI32, api.ValueTypeI32}, []api.ValueType{api.ValueTypeI64}).
		WithParameterNames("stream", "ptr", "size").
		Export(abi.ImportHTTPRead).
		NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(p.hostHTTPClose),
			[]api.ValueType{api.ValueTypeI32}, nil).
		WithParameterNames("stream").
		Export(abi.ImportHTTPClose).
		NewFunctionBuilder().
		WithGoModuleFunction(framed(abi.ImportPluginCall, p.callPlugin),
			[]api.ValueType{api.ValueTypeI32, api.ValueTypeI32}, []api.ValueType{api.ValueTypeI64}).
		WithParameterNames("ptr", "size").
		Export(abi.ImportPluginCall).
		Instantiate(ctx)
	return err
}

// callingInstance is the instance whose call into the guest made the host
// call fn: host functions exist only for the length of a call.
func callingInstance(ctx context.Context, fn string) *instance {
	in, _ := ctx.Value(instanceKey{}).(*instance)
	if in == nil {
		panic(fn + " called outside a call")
	}
	return in
}

// requestFrame is the request frame a guest passed to fn as (ptr, size).
func requestFrame(mod api.Module, stack []uint64, fn string) []byte {
	frame, ok := mod.Memory().Read(uint32(stack[0]), uint32(stack[1]))
	if !ok {
		panic(fn + ": request frame outside memory")
	}
	return frame
}

// framed makes serve the host function fn, which the guest calls with a
// request frame in its memory as (ptr, size): serve answers the frame for
// the calling instance with an outcome frame, which the host keeps for
// http_result, returning its length.
func framed(fn string, serve func(ctx context.Context, in *instance, frame []byte) []byte) api.GoModuleFunc {
	return func(ctx context.Context, mod api.Module, stack []uint64) {
		in := callingInstance(ctx, fn)
		in.pending = serve(ctx, in, requestFrame(mod, stack, fn))
		stack[0] = uint64(len(in.pending))
	}
}

// hostHTTPResult copies the pending outcome into the guest's buffer.
func (p *Plugin) hostHTTPResult(ctx context.Context, mod api.Module, stack []uint64) {
	in := callingInstance(ctx, "http_result")
	if !mod.Memory().Write(uint32(stack[0]), in.pending) {
		panic("http_result: buffer outside memory")
	}
	in.pending = nil
}

func refusal(msg string) []byte {
	return abi.AppendString([]byte{0}, msg)
}

// outbound is a decoded http_do or http_open request.
type outbound struct {
	method string
	url    *url.URL
	header http.Header
	body   []byte
	// kube: addressed to sdk.KubernetesHost, served by the mediation.
	kube bool
}

// decodeRequest reads a request frame and applies what every request must
// meet: the network grant, unless it is for Kubernetes, and the request
// body limit. A refusal is returned as the guest's outcome.
func (p *Plugin) decodeRequest(frame []byte) (outbound, []byte) {
	d := abi.NewDecoder(frame)
	method := d.String()
	rawURL := d.String()
	header := http.Header(d.Header(nil))
	body := d.Bytes()
	if err := d.Err(); err != nil {
		return outbound{}, refusal("malformed request: " + err.Error())
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return outbound{}, refusal(err.Error())
	}
	kube := strings.EqualFold(u.Hostname(), sdk.KubernetesHost)
	if !kube && !p.grants.Network {
		return outbound{}, refusal("network access not granted")
	}
	if int64(len(body)) > p.limits.MaxRequestBytes {
		return outbound{}, refusal(fmt.Sprintf("request body of %d bytes exceeds the plugin's limit of %d bytes", len(body), p.limits.MaxRequestBytes))
	}
	header.Del("Host")
	return outbound{method: method, url: u, header: header, body: body, kube: kube}, nil
}

// request is o as an http.Request under ctx. The body is copied: a
// transport may still read it after the round trip returns, when the guest
// is running again and may reuse that memory.
func (o outbound) request(ctx context.Context) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, o.method, o.url.String(), bytes.NewReader(bytes.Clone(o.body)))
	if err != nil {
		return nil, err
	}
	req.Header = o.header
	return req, nil
}

// doHTTP performs one outbound request (http_do): through the host's
// Kubernetes mediation when it is addressed to sdk.KubernetesHost,
// otherwise over the network if the grants allow it. A refusal is an
// outcome, not a trap: the plugin's http.Get returns it as an error.
func (p *Plugin) doHTTP(ctx context.Context, _ *instance, frame []byte) []byte {
	o, refused := p.decodeRequest(frame)
	if refused != nil {
		return refused
	}
	if o.kube {
		// The response is buffered whole, so a watch, which never ends, is
		// refused rather than left to run into the call's timeout; the
		// guest's Kubernetes transport opens watches with http_open.
		if abi.IsWatch(o.url) {
			return refusal("a watch needs a streamed response: use the transport of the plugin's sdk.Kubernetes")
		}
		res, refused := p.roundTripKube(ctx, o)
		if refused != nil {
			return refused
		}
		return p.outcome(res)
	}
	if err := p.allowed(o.url); err != nil {
		return refusal(err.Error())
	}
	req, err := o.request(ctx)
	if err != nil {
		return refusal(err.Error())
	}
	res, err := p.client.Do(req)
	if err != nil {
		return refusal(err.Error())
	}
	return p.outcome(res)
}

// roundTripKube serves a request to sdk.KubernetesHost through the host's
// Kubernetes access for the context the guest named, without the network
// grant: what the plugin may do there is the Kubernetes grant's to decide.
func (p *Plugin) roundTripKube(ctx context.Context, o outbound) (*http.Response, []byte) {
	if o.header.Get(abi.HeaderKubeExternal) != "" {
		// Answered here, whatever the path: it is a call, not a request
		// for a cluster.
		return externalCall(p.kubernetes(), o), nil
	}
	kctx := o.header.Get(abi.HeaderKubeContext)
	o.header.Del(abi.HeaderKubeContext)
	k := p.kubernetes()
	if k == nil {
		return nil, forbidden(kctx)
	}
	req, err := o.request(ctx)
	if err != nil {
		return nil, refusal(err.Error())
	}
	res, err := k.Transport(kctx).RoundTrip(req)
	if err != nil {
		return nil, refusal(fmt.Sprintf("Kubernetes context %q: %v", kctx, err))
	}
	return res, nil
}

// externalCall answers the guest's sdk.Kubernetes.External: it hands the
// kubeconfig to k, the plugin's own access, which keeps the credentials in
// the host, and answers the context name or the error, described so that
// the guest gives the plugin the same typed errors as a native plugin gets.
func externalCall(k sdk.Kubernetes, o outbound) *http.Response {
	var res abi.ExternalResult
	var req abi.ExternalRequest
	switch {
	case o.method != http.MethodPost:
		res.Error = &abi.ExternalError{Kind: abi.ExternalOther, Message: "an External call is a POST"}
	case json.Unmarshal(o.body, &req) != nil:
		res.Error = &abi.ExternalError{Kind: abi.ExternalOther, Message: "an External call's body is not an abi.ExternalRequest"}
	case k == nil:
		// The host gave the plugin no Kubernetes access at all.
		res.Error = abi.NewExternalError(sdk.ErrExternalNotGranted)
	default:
		name, err := k.External(req.Kubeconfig, req.Context)
		if err != nil {
			res.Error = abi.NewExternalError(err)
		}
		res.Context = name
	}
	body, _ := json.Marshal(res) // strings only: always encodes
	return &http.Response{
		StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)),
	}
}

// forbidden is the outcome of a Kubernetes request from a plugin the host
// gave no Kubernetes access: the API server's 403 Status, so client-go
// reports Forbidden as it does for a request outside a grant.
func forbidden(kctx string) []byte {
	status, _ := json.Marshal(map[string]any{
		"kind": "Status", "apiVersion": "v1", "metadata": map[string]any{},
		"status": "Failure", "reason": "Forbidden", "code": http.StatusForbidden,
		"message": fmt.Sprintf("the plugin has no Kubernetes access (context %q)", kctx),
	})
	out := abi.AppendU32([]byte{1}, http.StatusForbidden)
	out = abi.AppendHeader(out, http.Header{"Content-Type": {"application/json"}})
	return abi.AppendBytes(out, status)
}

// outcome frames a response for the guest, its body within the plugin's
// response limit, and closes the body.
func (p *Plugin) outcome(res *http.Response) []byte {
	defer res.Body.Close()
	limit := p.limits.MaxResponseBytes
	rb, err := io.ReadAll(io.LimitReader(res.Body, limit+1))
	if err != nil {
		return refusal("reading the response body: " + err.Error())
	}
	if int64(len(rb)) > limit {
		return refusal(fmt.Sprintf("response body exceeds the plugin's limit of %d bytes", limit))
	}
	out := make([]byte, 0, 64+len(rb))
	out = append(out, 1)
	out = abi.AppendU32(out, uint32(res.StatusCode))
	out = abi.AppendHeader(out, res.Header)
	return abi.AppendBytes(out, rb)
}

// allowed applies the network grant to one URL, the first request's or a
// redirect's.
func (p *Plugin) allowed(u *url.URL) error {
	if !p.grants.Network {
		return errors.New("network access not granted")
	}
	port := u.Port()
	switch u.Scheme {
	case "http":
		if port == "" {
			port = "80"
		}
	case "https":
		if port == "" {
			port = "443"
		}
	default:
		return fmt.Errorf("scheme %q is not allowed: only http and https", u.Scheme)
	}
	host := strings.ToLower(u.Hostname())
	for _, entry := range p.grants.AllowedHosts {
		eh, ep := splitHostPort(entry)
		if eh == host && (ep == "" || ep == port) {
			return nil
		}
	}
	return fmt.Errorf("host %s is not in the plugin's allowed hosts", u.Host)
}

// splitHostPort splits an AllowedHosts entry: "host", "host:port",
// "[v6]", "[v6]:port" or a bare IPv6 address.
func splitHostPort(entry string) (host, port string) {
	entry = strings.ToLower(strings.TrimSpace(entry))
	if h, p, err := net.SplitHostPort(entry); err == nil {
		return h, p
	}
	return strings.TrimSuffix(strings.TrimPrefix(entry, "["), "]"), ""
}

// guardedClient is the operator's client (or a default one) with a redirect
// policy that applies AllowedHosts to every hop, so an allowed host cannot
// redirect the plugin anywhere else.
func (p *Plugin) guardedClient(c *http.Client) *http.Client {
	var cl http.Client
	if c != nil {
		cl = *c
	} else {
		cl.Timeout = defaultHTTPTimeout
	}
	next := cl.CheckRedirect
	cl.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if err := p.allowed(req.URL); err != nil {
			return fmt.Errorf("redirect refused: %w", err)
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
	return &cl
}
