//go:build wasip1

package wasmguest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"runtime"
	"strconv"
	"unsafe"

	"github.com/kubestellar/ksplugins/sdk"
	"github.com/kubestellar/ksplugins/sdk/wasmguest/abi"
)

//go:wasmimport ksplugins http_do
func hostHTTPDo(ptr unsafe.Pointer, size uint32) uint64

//go:wasmimport ksplugins http_result
func hostHTTPResult(ptr unsafe.Pointer)

//go:wasmimport ksplugins http_open
func hostHTTPOpen(ptr unsafe.Pointer, size uint32) uint64

//go:wasmimport ksplugins http_read
func hostHTTPRead(stream uint32, ptr unsafe.Pointer, size uint32) int64

//go:wasmimport ksplugins http_close
func hostHTTPClose(stream uint32)

// hostTransport sends a plugin's outbound HTTP requests through the host,
// the only way out of the sandbox. The host decides whether the plugin may
// reach the URL at all; a refusal comes back as the round trip's error.
type hostTransport struct{}

// RoundTrip implements http.RoundTripper.
func (hostTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	return roundTrip(req, nil, false)
}

// kubeRoute sends a request to the host's Kubernetes mediation
// (sdk.KubernetesHost) for a context, whatever host its URL names.
type kubeRoute struct {
	context string
}

// roundTrip sends req through the host, or, with kube, to the host's
// Kubernetes mediation; req itself is left as it is. With stream, the host
// keeps the response body open and the guest reads it as it arrives
// (http_open); otherwise the outcome carries the whole body.
func roundTrip(req *http.Request, kube *kubeRoute, stream bool) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("reading the request body: %w", err)
		}
		body = b
	}
	if req.URL == nil {
		return nil, errors.New("http: nil Request.URL")
	}
	// The frame is made here, not from a clone of req with its URL and
	// header changed: a plugin working on Kubernetes sends one request per
	// client-go call, and inside the sandbox every copy costs.
	u, field, value := req.URL, "", ""
	if kube != nil {
		to := *req.URL
		to.Scheme, to.Host = "http", sdk.KubernetesHost
		u, field, value = &to, abi.HeaderKubeContext, kube.context
	}
	frame := abi.AppendString(make([]byte, 0, 512+len(body)), req.Method)
	frame = abi.AppendString(frame, u.String())
	frame = abi.AppendHeaderSet(frame, req.Header, field, value)
	frame = abi.AppendBytes(frame, body)

	var n uint64
	if stream {
		n = hostHTTPOpen(unsafe.Pointer(unsafe.SliceData(frame)), uint32(len(frame)))
	} else {
		n = hostHTTPDo(unsafe.Pointer(unsafe.SliceData(frame)), uint32(len(frame)))
	}
	d, ok, err := takeOutcome(n)
	if err != nil {
		return nil, err
	}
	if ok == 0 {
		return nil, errors.New(failure(d))
	}
	res, err := readResponse(d, stream)
	if err != nil {
		return nil, err
	}
	res.Request = req
	return res, nil
}

// errNoOutcome is a host call that framed no outcome.
var errNoOutcome = errors.New("the host returned no outcome")

// takeOutcome fetches with http_result the outcome a host call framed in n
// bytes (http_do, http_open and plugin_call leave theirs alike) and reads
// its first byte, which says whether the call succeeded.
func takeOutcome(n uint64) (d *abi.Decoder, kind byte, err error) {
	if n == 0 {
		return nil, 0, errNoOutcome
	}
	out := make([]byte, n)
	hostHTTPResult(unsafe.Pointer(unsafe.SliceData(out)))
	d = abi.NewDecoder(out)
	return d, d.Byte(), nil
}

// failure reads the message of an outcome that says the call failed.
func failure(d *abi.Decoder) string {
	msg := d.String()
	if d.Err() != nil {
		return "the host's outcome is malformed"
	}
	return msg
}

// readResponse reads the rest of an ok outcome: status, header block and
// the body, or, with stream, the id of the stream the host holds it in.
func readResponse(d *abi.Decoder, stream bool) (*http.Response, error) {
	status := int(d.U32())
	header := d.Header(nil)
	res := &http.Response{
		Status:     strconv.Itoa(status) + " " + http.StatusText(status),
		StatusCode: status,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     http.Header(header),
	}
	if stream {
		id := d.U32()
		if err := d.Err(); err != nil {
			return nil, fmt.Errorf("the host's outcome is malformed: %w", err)
		}
		res.Body = &hostStream{id: id}
		res.ContentLength = -1
		return res, nil
	}
	respBody := d.Bytes()
	if err := d.Err(); err != nil {
		return nil, fmt.Errorf("the host's outcome is malformed: %w", err)
	}
	res.Body = io.NopCloser(bytes.NewReader(respBody))
	res.ContentLength = int64(len(respBody))
	return res, nil
}

// hostStream is a response body the host holds open. A read waits in the
// host, which stops the whole guest, every goroutine, until bytes arrive;
// the call's timeout bounds the wait.
type hostStream struct {
	id     uint32
	closed bool
}

// Read implements io.Reader.
func (s *hostStream) Read(p []byte) (int, error) {
	if s.closed {
		return 0, errors.New("read on a closed response body")
	}
	if len(p) == 0 {
		return 0, nil
	}
	// Let every other goroutine run first: a watch's reader that just
	// delivered an event would otherwise wait in the host for the next one
	// before the goroutine given the event could act on it.
	runtime.Gosched()
	n := hostHTTPRead(s.id, unsafe.Pointer(unsafe.SliceData(p)), uint32(min(len(p), math.MaxUint32)))
	switch {
	case n > 0:
		return int(n), nil
	case n == 0:
		return 0, io.EOF
	}
	return 0, errors.New("the host's response stream failed (closed, timed out or over the response limit)")
}

// Close implements io.Closer.
func (s *hostStream) Close() error {
	if !s.closed {
		s.closed = true
		hostHTTPClose(s.id)
	}
	return nil
}
