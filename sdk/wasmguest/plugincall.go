//go:build wasip1

package wasmguest

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"time"
	"unsafe"

	"github.com/kubestellar/ksplugins/sdk"
	"github.com/kubestellar/ksplugins/sdk/wasmguest/abi"
)

//go:wasmimport ksplugins plugin_call
func hostPluginCall(ptr unsafe.Pointer, size uint32) uint64

// requestKey carries, in the context of a request the plugin serves, the
// number the host gave that request: all the guest knows of its caller,
// whose credentials the host keeps.
type requestKey struct{}

// pluginCaller is the guest's sdk.PluginCaller: each call goes to the
// host (plugin_call), which checks it and makes it with the rights of the
// caller of the request whose context it is given.
type pluginCaller struct{}

var _ sdk.PluginCaller = pluginCaller{}

// CallPlugin implements sdk.PluginCaller. The whole guest waits for the
// answer.
func (pluginCaller) CallPlugin(ctx context.Context, id, method, path string, body io.Reader) (*http.Response, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("call plugin %s: %w", id, err)
	}
	var b []byte
	if body != nil {
		var err error
		if b, err = io.ReadAll(body); err != nil {
			return nil, fmt.Errorf("call plugin %s: reading the request body: %w", id, err)
		}
	}
	request, _ := ctx.Value(requestKey{}).(uint32)
	var timeout uint32
	if deadline, ok := ctx.Deadline(); ok {
		left := time.Until(deadline)
		if left <= 0 {
			return nil, fmt.Errorf("call plugin %s: %w", id, context.DeadlineExceeded)
		}
		timeout = uint32(min(left.Milliseconds()+1, math.MaxUint32))
	}
	frame := abi.AppendU32(make([]byte, 0, 64+len(id)+len(path)+len(b)), request)
	frame = abi.AppendU32(frame, timeout)
	frame = abi.AppendString(frame, id)
	frame = abi.AppendString(frame, method)
	frame = abi.AppendString(frame, path)
	frame = abi.AppendBytes(frame, b)
	n := hostPluginCall(unsafe.Pointer(unsafe.SliceData(frame)), uint32(len(frame)))
	d, kind, err := takeOutcome(n)
	if err != nil {
		return nil, fmt.Errorf("call plugin %s: %w", id, err)
	}
	if kind != abi.CallOK {
		return nil, &callError{kind: kind, msg: failure(d)}
	}
	res, err := readResponse(d, false)
	if err != nil {
		return nil, fmt.Errorf("call plugin %s: %w", id, err)
	}
	return res, nil
}

// callError is a call the host could not make, as the host described it,
// matching the same errors a native plugin's call fails with.
type callError struct {
	kind byte
	msg  string
}

func (e *callError) Error() string { return e.msg }

func (e *callError) Unwrap() error {
	switch e.kind {
	case abi.CallUndeclared:
		return sdk.ErrUndeclaredDependency
	case abi.CallUnavailable:
		return sdk.ErrDependencyUnavailable
	case abi.CallTimeout:
		return context.DeadlineExceeded
	case abi.CallOver:
		return context.Canceled
	}
	return nil
}
