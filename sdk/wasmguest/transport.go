//go:build wasip1

package wasmguest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"unsafe"

	"github.com/kubestellar/ksplugins/sdk/wasmguest/abi"
)

//go:wasmimport ksplugins http_do
func hostHTTPDo(ptr unsafe.Pointer, size uint32) uint64

//go:wasmimport ksplugins http_result
func hostHTTPResult(ptr unsafe.Pointer)

// hostTransport sends a plugin's outbound HTTP requests through the host,
// the only way out of the sandbox. The host decides whether the plugin may
// reach the URL at all; a refusal comes back as the round trip's error.
type hostTransport struct{}

// RoundTrip implements http.RoundTripper.
func (hostTransport) RoundTrip(req *http.Request) (*http.Response, error) {
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
	frame := abi.AppendString(nil, req.Method)
	frame = abi.AppendString(frame, req.URL.String())
	frame = abi.AppendHeader(frame, req.Header)
	frame = abi.AppendBytes(frame, body)

	n := hostHTTPDo(unsafe.Pointer(unsafe.SliceData(frame)), uint32(len(frame)))
	if n == 0 {
		return nil, errors.New("the host returned no outcome")
	}
	out := make([]byte, n)
	hostHTTPResult(unsafe.Pointer(unsafe.SliceData(out)))

	d := abi.NewDecoder(out)
	if d.Byte() == 0 {
		msg := d.String()
		if d.Err() != nil {
			msg = "the host's outcome is malformed"
		}
		return nil, errors.New(msg)
	}
	status := int(d.U32())
	header := d.Header(nil)
	respBody := d.Bytes()
	if err := d.Err(); err != nil {
		return nil, fmt.Errorf("the host's outcome is malformed: %w", err)
	}
	return &http.Response{
		Status:        fmt.Sprintf("%d %s", status, http.StatusText(status)),
		StatusCode:    status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        http.Header(header),
		Body:          io.NopCloser(bytes.NewReader(respBody)),
		ContentLength: int64(len(respBody)),
		Request:       req,
	}, nil
}
