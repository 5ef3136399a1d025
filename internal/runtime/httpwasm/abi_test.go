package httpwasm

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/kubestellar/ksplugins/internal/pluginlog"
)

// memoryModule is a module that exports one page of memory and nothing
// else: the guest side of a host function call.
var memoryModule = []byte{
	0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00,
	0x05, 0x03, 0x01, 0x00, 0x01, // memory: one, no maximum, one page
	0x07, 0x0a, 0x01, 0x06, 'm', 'e', 'm', 'o', 'r', 'y', 0x02, 0x00, // export "memory"
}

// guestMemory instantiates memoryModule for a host function to read and
// write.
func guestMemory(t *testing.T) api.Module {
	t.Helper()
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	t.Cleanup(func() { _ = rt.Close(ctx) })
	m, err := rt.Instantiate(ctx, memoryModule)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestHostFunctions(t *testing.T) {
	const buf = 100 // where results are written
	const in = 400  // where inputs are placed
	tests := []struct {
		name string
		fn   string
		x    *exchange // nil: outside a request
		// mem is placed at in before the call.
		mem   string
		stack []uint64
		// want is stack[0] after the call, when the function has a result.
		want uint64
		// wantMem is what the call left at buf.
		wantMem string
		// check inspects the exchange after the call.
		check func(t *testing.T, x *exchange)
		// traps: the call must panic.
		traps bool
	}{
		{name: "get_method", fn: "get_method", x: &exchange{method: "POST"}, stack: []uint64{buf, 16}, want: 4, wantMem: "POST"},
		{name: "get_method too small writes nothing", fn: "get_method", x: &exchange{method: "POST"}, stack: []uint64{buf, 3}, want: 4, wantMem: "\x00\x00\x00\x00"},
		{name: "get_uri with query", fn: "get_uri", x: &exchange{uri: "/a/b?c=d"}, stack: []uint64{buf, 64}, want: 8, wantMem: "/a/b?c=d"},
		{name: "get_protocol_version", fn: "get_protocol_version", x: &exchange{proto: "HTTP/1.1"}, stack: []uint64{buf, 64}, want: 8, wantMem: "HTTP/1.1"},
		{name: "get_source_addr", fn: "get_source_addr", x: &exchange{addr: "192.0.2.1:4"}, stack: []uint64{buf, 64}, want: 11, wantMem: "192.0.2.1:4"},
		{name: "get_method outside a request traps", fn: "get_method", stack: []uint64{buf, 16}, traps: true},
		{name: "get_uri past memory traps", fn: "get_uri", x: &exchange{uri: "/x"}, stack: []uint64{65535, 64}, traps: true},
		{name: "header names lowercase and sorted", fn: "get_header_names",
			x:     &exchange{reqHeader: http.Header{"X-B": {"1"}, "Accept": {"2"}}},
			stack: []uint64{kindRequest, buf, 64}, want: 2<<32 | 11, wantMem: "accept\x00x-b\x00"},
		{name: "header names of trailers are empty", fn: "get_header_names",
			x: &exchange{}, stack: []uint64{kindResponseTrailers, buf, 64}, want: 0},
		{name: "header values, every one, case-insensitive", fn: "get_header_values",
			x:   &exchange{respHeader: http.Header{"Set-Cookie": {"a=b", "c=d"}}},
			mem: "set-cookie", stack: []uint64{kindResponse, in, 10, buf, 64}, want: 2<<32 | 8, wantMem: "a=b\x00c=d\x00"},
		{name: "header values too long for the buffer", fn: "get_header_values",
			x:   &exchange{reqHeader: http.Header{"Etag": {"01234567"}}},
			mem: "ETag", stack: []uint64{kindRequest, in, 4, buf, 8}, want: 1<<32 | 9, wantMem: "\x00"},
		{name: "missing header", fn: "get_header_values",
			x: &exchange{reqHeader: http.Header{}}, mem: "ETag", stack: []uint64{kindRequest, in, 4, buf, 8}, want: 0},
		{name: "set_header_value replaces", fn: "set_header_value",
			x:   &exchange{respHeader: http.Header{"Etag": {"old", "older"}}},
			mem: "ETag1", stack: []uint64{kindResponse, in, 4, in + 4, 1},
			check: func(t *testing.T, x *exchange) {
				if got := x.respHeader.Values("Etag"); len(got) != 1 || got[0] != "1" {
					t.Errorf("Etag = %q, want [1]", got)
				}
			}},
		{name: "add_header_value adds", fn: "add_header_value",
			x:   &exchange{reqHeader: http.Header{"Accept": {"a"}}},
			mem: "acceptb", stack: []uint64{kindRequest, in, 6, in + 6, 1},
			check: func(t *testing.T, x *exchange) {
				if got := x.reqHeader.Values("Accept"); len(got) != 2 || got[1] != "b" {
					t.Errorf("Accept = %q, want [a b]", got)
				}
			}},
		{name: "remove_header", fn: "remove_header",
			x:   &exchange{respHeader: http.Header{"Etag": {"1"}}},
			mem: "etag", stack: []uint64{kindResponse, in, 4},
			check: func(t *testing.T, x *exchange) {
				if _, ok := x.respHeader["Etag"]; ok {
					t.Error("Etag is still set")
				}
			}},
		{name: "setting a trailer traps", fn: "set_header_value", x: &exchange{},
			mem: "ab", stack: []uint64{kindResponseTrailers, in, 1, in + 1, 1}, traps: true},
		{name: "unknown header kind traps", fn: "get_header_names", x: &exchange{}, stack: []uint64{9, buf, 8}, traps: true},
		{name: "read_body part", fn: "read_body", x: &exchange{reqBody: []byte("hello")},
			stack: []uint64{kindRequest, buf, 3}, want: 3, wantMem: "hel",
			check: func(t *testing.T, x *exchange) {
				if x.reqRead != 3 {
					t.Errorf("read position %d, want 3", x.reqRead)
				}
			}},
		{name: "read_body rest is EOF", fn: "read_body", x: &exchange{reqBody: []byte("hello"), reqRead: 3},
			stack: []uint64{kindRequest, buf, 64}, want: 1<<32 | 2, wantMem: "lo"},
		{name: "read_body of an empty body", fn: "read_body", x: &exchange{},
			stack: []uint64{kindRequest, buf, 64}, want: 1 << 32},
		{name: "read_body of the response the guest wrote", fn: "read_body", x: &exchange{respBody: []byte("out")},
			stack: []uint64{kindResponse, buf, 64}, want: 1<<32 | 3, wantMem: "out"},
		{name: "read_body with no room traps", fn: "read_body", x: &exchange{reqBody: []byte("x")},
			stack: []uint64{kindRequest, buf, 0}, traps: true},
		{name: "write_body appends to the response", fn: "write_body",
			x: &exchange{respBody: []byte("ab"), maxResponse: 10}, mem: "cd", stack: []uint64{kindResponse, in, 2},
			check: func(t *testing.T, x *exchange) {
				if string(x.respBody) != "abcd" || x.tooLarge {
					t.Errorf("response body %q, too large %v", x.respBody, x.tooLarge)
				}
			}},
		{name: "write_body past the limit is dropped", fn: "write_body",
			x: &exchange{respBody: []byte("ab"), maxResponse: 3}, mem: "cd", stack: []uint64{kindResponse, in, 2},
			check: func(t *testing.T, x *exchange) {
				if string(x.respBody) != "ab" || !x.tooLarge {
					t.Errorf("response body %q, too large %v", x.respBody, x.tooLarge)
				}
			}},
		{name: "write_body replaces the request body once", fn: "write_body",
			x: &exchange{reqBody: []byte("old"), reqRead: 1}, mem: "new", stack: []uint64{kindRequest, in, 3},
			check: func(t *testing.T, x *exchange) {
				if string(x.reqBody) != "new" || x.reqRead != 0 {
					t.Errorf("request body %q read from %d", x.reqBody, x.reqRead)
				}
			}},
		{name: "set_status_code", fn: "set_status_code", x: &exchange{status: 200}, stack: []uint64{418},
			check: func(t *testing.T, x *exchange) {
				if x.status != 418 {
					t.Errorf("status %d", x.status)
				}
			}},
		{name: "set_status_code out of range traps", fn: "set_status_code", x: &exchange{}, stack: []uint64{42}, traps: true},
		{name: "set_status_code informational traps", fn: "set_status_code", x: &exchange{}, stack: []uint64{101}, traps: true},
		{name: "get_status_code", fn: "get_status_code", x: &exchange{status: 201}, stack: []uint64{0}, want: 201},
		{name: "enable_features has no trailers", fn: "enable_features", x: &exchange{}, stack: []uint64{7}, want: 3,
			check: func(t *testing.T, x *exchange) {
				if x.features != 3 {
					t.Errorf("features %d, want 3", x.features)
				}
			}},
		{name: "enable_features before a request", fn: "enable_features", stack: []uint64{1}, want: 3},
		{name: "get_config before a request", fn: "get_config", stack: []uint64{buf, 64}, want: 9, wantMem: `{"a":"b"}`},
		{name: "log_enabled info", fn: "log_enabled", stack: []uint64{logInfo}, want: 1},
		{name: "log_enabled debug", fn: "log_enabled", stack: []uint64{uint64(uint32(0xffffffff))}, want: 0},
	}
	var logs bytes.Buffer
	p := &Plugin{id: "t", log: slog.New(slog.NewTextHandler(&logs, nil)), output: pluginlog.NewGate(pluginlog.DefaultLimits(), nil)}
	if err := p.setConfig(map[string]any{"a": "b"}); err != nil {
		t.Fatal(err)
	}
	fns := map[string]api.GoModuleFunc{}
	results := map[string]bool{}
	for _, f := range p.hostFuncs() {
		fns[f.name], results[f.name] = f.fn, len(f.results) > 0
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := guestMemory(t)
			m.Memory().Write(in, []byte(tt.mem))
			ctx := context.Background()
			if tt.x != nil {
				ctx = context.WithValue(ctx, exchangeKey{}, tt.x)
			}
			fn, ok := fns[tt.fn]
			if !ok {
				t.Fatalf("no host function %s", tt.fn)
			}
			stack := append([]uint64(nil), tt.stack...)
			trapped := func() (trapped bool) {
				defer func() {
					if r := recover(); r != nil {
						if _, ok := r.(*abiError); !ok {
							t.Errorf("panicked with %v, want an *abiError", r)
						}
						trapped = true
					}
				}()
				fn(ctx, m, stack)
				return false
			}()
			if trapped != tt.traps {
				t.Fatalf("trapped %v, want %v", trapped, tt.traps)
			}
			if tt.traps {
				return
			}
			if results[tt.fn] && stack[0] != tt.want {
				t.Errorf("result %#x, want %#x", stack[0], tt.want)
			}
			if tt.wantMem != "" {
				got, _ := m.Memory().Read(buf, uint32(len(tt.wantMem)))
				if string(got) != tt.wantMem {
					t.Errorf("memory at %d: %q, want %q", buf, got, tt.wantMem)
				}
			}
			if tt.check != nil {
				tt.check(t, tt.x)
			}
		})
	}

	t.Run("log", func(t *testing.T) {
		m := guestMemory(t)
		m.Memory().Write(in, []byte("from the guest"))
		fns["log"](context.Background(), m, []uint64{logWarn, in, 14})
		if !bytes.Contains(logs.Bytes(), []byte("level=WARN msg=\"from the guest\"")) {
			t.Errorf("logs: %s", logs.String())
		}
		// A message outside memory is ignored, not a trap.
		fns["log"](context.Background(), m, []uint64{logInfo, 65535, 14})

		// A line longer than the gate keeps is cut, and counted.
		var cut bytes.Buffer
		limits := pluginlog.DefaultLimits()
		limits.MaxLineBytes = 8
		q := &Plugin{id: "t", log: slog.New(slog.NewTextHandler(&cut, nil)), output: pluginlog.NewGate(limits, nil)}
		for _, f := range q.hostFuncs() {
			if f.name == "log" {
				f.fn(context.Background(), m, []uint64{logInfo, in, 14})
			}
		}
		if !bytes.Contains(cut.Bytes(), []byte(`msg="from the"`)) || q.output.Stats().Truncated != 1 {
			t.Errorf("cut line: %s (truncated %d)", cut.String(), q.output.Stats().Truncated)
		}
	})
}

func TestSlogLevel(t *testing.T) {
	for level, want := range map[int32]slog.Level{-5: slog.LevelDebug, -1: slog.LevelDebug, 0: slog.LevelInfo, 1: slog.LevelWarn, 2: slog.LevelError, 3: slog.LevelError} {
		if got := slogLevel(level); got != want {
			t.Errorf("slogLevel(%d) = %v, want %v", level, got, want)
		}
	}
}
