package wasm

import (
	"context"
	"fmt"
	"io"

	"github.com/tetratelabs/wazero/api"

	"github.com/kubestellar/ksplugins/sdk/wasmguest/abi"
)

// maxStreamRead bounds one http_read copy, whatever buffer the guest
// offers.
const maxStreamRead = 64 << 10

// maxOpenStreams bounds the streams one instance holds open at once; an
// http_open past it is refused. Each holds a connection to the API
// server, and a stream lives within one call, so a plugin needs a few.
const maxOpenStreams = 16

// stream is a response body the guest reads as it arrives.
type stream struct {
	body io.ReadCloser
	left int64 // bytes the guest may still read: the response limit
	buf  []byte
}

// streams are an instance's open response bodies, by the id the guest
// reads them with. Only the instance's call uses them, one at a time.
type streams struct {
	next uint32
	open map[uint32]*stream
}

// full reports whether maxOpenStreams are open: no other may be added.
func (s *streams) full() bool { return len(s.open) >= maxOpenStreams }

// add keeps body open for the guest to read and returns its id. The caller
// has checked that s is not full, before it made the request.
func (s *streams) add(body io.ReadCloser, limit int64) uint32 {
	if s.open == nil {
		s.open = map[uint32]*stream{}
	}
	s.next++
	s.open[s.next] = &stream{body: body, left: limit}
	return s.next
}

func (s *streams) close(id uint32) {
	if st, ok := s.open[id]; ok {
		_ = st.body.Close()
		delete(s.open, id)
	}
}

func (s *streams) closeAll() {
	for id := range s.open {
		s.close(id)
	}
}

// openHTTP is http_open, http_do for a response the guest reads as it
// arrives: the outcome carries a stream id instead of the body. Only
// Kubernetes requests stream (a watch); the body is read with http_read.
func (p *Plugin) openHTTP(ctx context.Context, in *instance, frame []byte) []byte {
	req, refused := p.decodeRequest(frame)
	if refused != nil {
		return refused
	}
	if !req.kube {
		return refusal("only Kubernetes requests stream")
	}
	// Checked before the request is made: a stream refused afterwards
	// would have cost the API server a watch for nothing.
	if in.streams.full() {
		return refusal(fmt.Sprintf("%d response streams are open already", maxOpenStreams))
	}
	if in.streamCtx != nil {
		ctx = in.streamCtx
	}
	res, refused := p.roundTripKube(ctx, req)
	if refused != nil {
		return refused
	}
	id := in.streams.add(res.Body, p.limits.MaxResponseBytes)
	out := abi.AppendU32([]byte{1}, uint32(res.StatusCode))
	out = abi.AppendHeader(out, res.Header)
	return abi.AppendU32(out, id)
}

// hostHTTPRead copies what has arrived of a stream, at least one byte,
// into the guest's buffer, waiting for it if need be; it returns the count,
// 0 at the end of the body and -1 when the stream failed, is unknown or
// passed the response limit.
func (p *Plugin) hostHTTPRead(ctx context.Context, mod api.Module, stack []uint64) {
	in := callingInstance(ctx, "http_read")
	id, ptr, size := uint32(stack[0]), uint32(stack[1]), uint32(stack[2])
	st := in.streams.open[id]
	if st == nil {
		stack[0] = api.EncodeI64(-1)
		return
	}
	n := min(int64(size), maxStreamRead, st.left+1)
	if n == 0 {
		stack[0] = 0
		return
	}
	if int64(len(st.buf)) < n {
		st.buf = make([]byte, n)
	}
	var got int
	var err error
	for got == 0 && err == nil { // a Read may return nothing and no error
		got, err = st.body.Read(st.buf[:n])
	}
	if got > 0 {
		st.left -= int64(got)
		if st.left < 0 {
			p.log.Warn("a streamed response passed the plugin's limit", "limit", p.limits.MaxResponseBytes)
			in.streams.close(id)
			stack[0] = api.EncodeI64(-1)
			return
		}
		if !mod.Memory().Write(ptr, st.buf[:got]) {
			panic("http_read: buffer outside memory")
		}
		stack[0] = api.EncodeI64(int64(got))
		return
	}
	if err == io.EOF {
		stack[0] = 0
		return
	}
	stack[0] = api.EncodeI64(-1)
}

// hostHTTPClose closes a stream; closing an unknown one does nothing.
func (p *Plugin) hostHTTPClose(ctx context.Context, _ api.Module, stack []uint64) {
	in := callingInstance(ctx, "http_close")
	in.streams.close(uint32(stack[0]))
}
