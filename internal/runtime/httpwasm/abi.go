package httpwasm

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/tetratelabs/wazero/api"
)

// hostModule is the module whose functions an http-wasm guest imports.
const hostModule = "http_handler"

// Header and body kinds, and feature flags, of the interface.
const (
	kindRequest          = 0
	kindResponse         = 1
	kindRequestTrailers  = 2
	kindResponseTrailers = 3

	// featureBufferRequest and featureBufferResponse are always on: a
	// request is read whole before the guest runs, and the response is
	// the guest's own, sent after it returns. Trailers are not supported.
	featureBufferRequest  = 1
	featureBufferResponse = 2
	supportedFeatures     = featureBufferRequest | featureBufferResponse
)

// Log levels of the interface.
const (
	logDebug = -1
	logInfo  = 0
	logWarn  = 1
	logError = 2
)

// exchange is one request and the response the guest builds: what the
// host functions read and write during one call of handle_request and
// handle_response.
type exchange struct {
	method, uri, proto, addr string
	reqHeader                http.Header
	reqBody                  []byte
	reqRead                  int  // read_body's position in reqBody
	reqWritten               bool // write_body replaced reqBody

	status     int
	respHeader http.Header
	respBody   []byte
	respRead   int // read_body's position in respBody
	// maxResponse caps respBody; a write past it sets tooLarge and is
	// dropped.
	maxResponse int64
	tooLarge    bool
	features    uint32
}

type exchangeKey struct{}

// exchangeOf is the exchange of the call in progress, or nil outside a
// request (in the guest's start function).
func exchangeOf(ctx context.Context) *exchange {
	x, _ := ctx.Value(exchangeKey{}).(*exchange)
	return x
}

// abiError is what a host function panics with when the guest broke the
// interface's rules; wazero ends the call with it, and the host discards
// the instance as a trap.
type abiError struct{ msg string }

func (e *abiError) Error() string { return "http-wasm: " + e.msg }

func fail(format string, args ...any) { panic(&abiError{fmt.Sprintf(format, args...)}) }

// request is the exchange of the call in progress; a function that needs
// one traps outside a request.
func request(ctx context.Context, fn string) *exchange {
	x := exchangeOf(ctx)
	if x == nil {
		fail("%s called outside handle_request and handle_response", fn)
	}
	return x
}

// read reads guest memory, trapping on a range outside it.
func read(m api.Module, ptr, n uint32) []byte {
	b, ok := m.Memory().Read(ptr, n)
	if !ok {
		fail("memory [%d, %d) is out of range", ptr, uint64(ptr)+uint64(n))
	}
	return b
}

// writeIfFits writes v at buf if it is at most limit bytes, and returns
// its length either way, as every getter of the interface does.
func writeIfFits(m api.Module, buf, limit uint32, v []byte) uint32 {
	if uint64(len(v)) <= uint64(limit) && len(v) > 0 {
		if !m.Memory().Write(buf, v) {
			fail("memory [%d, %d) is out of range", buf, uint64(buf)+uint64(len(v)))
		}
	}
	return uint32(len(v))
}

// countLen writes the NUL-terminated sequence of vs if it fits and
// returns count<<32 | length.
func countLen(m api.Module, buf, limit uint32, vs []string) uint64 {
	if len(vs) == 0 {
		return 0
	}
	var seq []byte
	for _, v := range vs {
		seq = append(append(seq, v...), 0)
	}
	n := writeIfFits(m, buf, limit, seq)
	return uint64(len(vs))<<32 | uint64(n)
}

// header is the header of kind; trailers are empty, and writing them traps.
func (x *exchange) header(kind uint32, write bool) http.Header {
	switch kind {
	case kindRequest:
		return x.reqHeader
	case kindResponse:
		return x.respHeader
	case kindRequestTrailers, kindResponseTrailers:
		if write {
			fail("trailers are not supported")
		}
		return nil
	}
	fail("unknown header kind %d", kind)
	return nil
}

// hostFunc is one function of the host module.
type hostFunc struct {
	name            string
	params, results []api.ValueType
	fn              api.GoModuleFunc
}

// hostFuncs are the functions of the host module, for p's guest.
func (p *Plugin) hostFuncs() []hostFunc {
	i32, i64 := api.ValueTypeI32, api.ValueTypeI64
	u32 := func(v uint64) uint32 { return uint32(v) }
	return []hostFunc{
		{"enable_features", []api.ValueType{i32}, []api.ValueType{i32}, func(ctx context.Context, _ api.Module, s []uint64) {
			if x := exchangeOf(ctx); x != nil {
				x.features |= u32(s[0]) & supportedFeatures
			}
			s[0] = supportedFeatures
		}},
		{"get_config", []api.ValueType{i32, i32}, []api.ValueType{i32}, func(_ context.Context, m api.Module, s []uint64) {
			var cfg []byte
			if c := p.config.Load(); c != nil {
				cfg = *c
			}
			s[0] = uint64(writeIfFits(m, u32(s[0]), u32(s[1]), cfg))
		}},
		{"log_enabled", []api.ValueType{i32}, []api.ValueType{i32}, func(ctx context.Context, _ api.Module, s []uint64) {
			level := slogLevel(int32(u32(s[0])))
			s[0] = 0
			if p.log.Enabled(ctx, level) {
				s[0] = 1
			}
		}},
		{"log", []api.ValueType{i32, i32, i32}, nil, func(ctx context.Context, m api.Module, s []uint64) {
			msg, ok := m.Memory().Read(u32(s[1]), u32(s[2]))
			if !ok {
				return // a failed log is ignored, as the interface asks
			}
			// Copy no more than the gate keeps, and enough past it for
			// the gate to see the line was cut.
			msg = msg[:min(len(msg), p.output.Limits().MaxLineBytes+utf8.UTFMax)]
			if line, _, ok := p.output.Line(string(msg)); ok {
				p.log.Log(ctx, slogLevel(int32(u32(s[0]))), line, "stream", "guest")
			}
		}},
		{"get_method", []api.ValueType{i32, i32}, []api.ValueType{i32}, func(ctx context.Context, m api.Module, s []uint64) {
			s[0] = uint64(writeIfFits(m, u32(s[0]), u32(s[1]), []byte(request(ctx, "get_method").method)))
		}},
		{"set_method", []api.ValueType{i32, i32}, nil, func(ctx context.Context, m api.Module, s []uint64) {
			request(ctx, "set_method").method = string(read(m, u32(s[0]), u32(s[1])))
		}},
		{"get_uri", []api.ValueType{i32, i32}, []api.ValueType{i32}, func(ctx context.Context, m api.Module, s []uint64) {
			s[0] = uint64(writeIfFits(m, u32(s[0]), u32(s[1]), []byte(request(ctx, "get_uri").uri)))
		}},
		{"set_uri", []api.ValueType{i32, i32}, nil, func(ctx context.Context, m api.Module, s []uint64) {
			request(ctx, "set_uri").uri = string(read(m, u32(s[0]), u32(s[1])))
		}},
		{"get_protocol_version", []api.ValueType{i32, i32}, []api.ValueType{i32}, func(ctx context.Context, m api.Module, s []uint64) {
			s[0] = uint64(writeIfFits(m, u32(s[0]), u32(s[1]), []byte(request(ctx, "get_protocol_version").proto)))
		}},
		{"get_source_addr", []api.ValueType{i32, i32}, []api.ValueType{i32}, func(ctx context.Context, m api.Module, s []uint64) {
			s[0] = uint64(writeIfFits(m, u32(s[0]), u32(s[1]), []byte(request(ctx, "get_source_addr").addr)))
		}},
		{"get_header_names", []api.ValueType{i32, i32, i32}, []api.ValueType{i64}, func(ctx context.Context, m api.Module, s []uint64) {
			h := request(ctx, "get_header_names").header(u32(s[0]), false)
			names := make([]string, 0, len(h))
			for k := range h {
				names = append(names, strings.ToLower(k))
			}
			slices.Sort(names)
			s[0] = countLen(m, u32(s[1]), u32(s[2]), names)
		}},
		{"get_header_values", []api.ValueType{i32, i32, i32, i32, i32}, []api.ValueType{i64}, func(ctx context.Context, m api.Module, s []uint64) {
			h := request(ctx, "get_header_values").header(u32(s[0]), false)
			name := string(read(m, u32(s[1]), u32(s[2])))
			s[0] = countLen(m, u32(s[3]), u32(s[4]), h.Values(name))
		}},
		{"set_header_value", []api.ValueType{i32, i32, i32, i32, i32}, nil, func(ctx context.Context, m api.Module, s []uint64) {
			h := request(ctx, "set_header_value").header(u32(s[0]), true)
			h.Set(string(read(m, u32(s[1]), u32(s[2]))), string(read(m, u32(s[3]), u32(s[4]))))
		}},
		{"add_header_value", []api.ValueType{i32, i32, i32, i32, i32}, nil, func(ctx context.Context, m api.Module, s []uint64) {
			h := request(ctx, "add_header_value").header(u32(s[0]), true)
			h.Add(string(read(m, u32(s[1]), u32(s[2]))), string(read(m, u32(s[3]), u32(s[4]))))
		}},
		{"remove_header", []api.ValueType{i32, i32, i32}, nil, func(ctx context.Context, m api.Module, s []uint64) {
			h := request(ctx, "remove_header").header(u32(s[0]), true)
			h.Del(string(read(m, u32(s[1]), u32(s[2]))))
		}},
		{"read_body", []api.ValueType{i32, i32, i32}, []api.ValueType{i64}, func(ctx context.Context, m api.Module, s []uint64) {
			x := request(ctx, "read_body")
			buf, limit := u32(s[1]), u32(s[2])
			if limit == 0 {
				fail("read_body with a zero buf_limit")
			}
			body, pos := x.reqBody, &x.reqRead
			switch u32(s[0]) {
			case kindRequest:
			case kindResponse:
				body, pos = x.respBody, &x.respRead
			default:
				fail("unknown body kind %d", u32(s[0]))
			}
			rest := body[*pos:]
			n := min(len(rest), int(limit))
			if n > 0 && !m.Memory().Write(buf, rest[:n]) {
				fail("memory [%d, %d) is out of range", buf, uint64(buf)+uint64(n))
			}
			*pos += n
			var eof uint64
			if *pos == len(body) {
				eof = 1
			}
			s[0] = eof<<32 | uint64(n)
		}},
		{"write_body", []api.ValueType{i32, i32, i32}, nil, func(ctx context.Context, m api.Module, s []uint64) {
			x := request(ctx, "write_body")
			b := read(m, u32(s[1]), u32(s[2]))
			switch u32(s[0]) {
			case kindRequest:
				// The first write replaces the body; later ones append.
				if !x.reqWritten {
					x.reqBody, x.reqRead, x.reqWritten = nil, 0, true
				}
				x.reqBody = append(x.reqBody, b...)
			case kindResponse:
				if int64(len(x.respBody))+int64(len(b)) > x.maxResponse {
					x.tooLarge = true
					return
				}
				x.respBody = append(x.respBody, b...)
			default:
				fail("unknown body kind %d", u32(s[0]))
			}
		}},
		{"get_status_code", nil, []api.ValueType{i32}, func(ctx context.Context, _ api.Module, s []uint64) {
			s[0] = uint64(request(ctx, "get_status_code").status)
		}},
		{"set_status_code", []api.ValueType{i32}, nil, func(ctx context.Context, _ api.Module, s []uint64) {
			// No informational status: the guest's answer is final.
			code := int32(u32(s[0]))
			if code < 200 || code > 999 {
				fail("status code %d is not the status of a final response", code)
			}
			request(ctx, "set_status_code").status = int(code)
		}},
	}
}

// slogLevel maps the interface's log levels to slog's.
func slogLevel(l int32) slog.Level {
	switch {
	case l <= logDebug:
		return slog.LevelDebug
	case l == logInfo:
		return slog.LevelInfo
	case l == logWarn:
		return slog.LevelWarn
	}
	return slog.LevelError
}

// instantiateHost instantiates the host module in p's wazero runtime.
func (p *Plugin) instantiateHost(ctx context.Context) error {
	b := p.rt.NewHostModuleBuilder(hostModule)
	for _, f := range p.hostFuncs() {
		b = b.NewFunctionBuilder().WithGoModuleFunction(f.fn, f.params, f.results).Export(f.name)
	}
	_, err := b.Instantiate(ctx)
	return err
}
