// Package abi is the contract between a sandboxed plugin (the guest, built
// with package wasmguest) and the host that runs it (internal/runtime/wasm).
// Both sides import it so that an operation code or a frame layout cannot
// drift between them; plugin authors never need it.
//
// # Exports (guest)
//
//	ksp_alloc(size u32) -> ptr u32
//
// returns a guest buffer of at least size bytes for the host to write the
// next call's input into. The guest keeps it referenced until the next
// ksp_alloc, so the host may reuse it for every call that fits.
//
//	ksp_call(op u32, ptr u32, size u32) -> u64
//
// runs one operation on input[ptr:ptr+size] (ptr must be the last
// ksp_alloc buffer, or size 0) and returns resultPtr<<32 | resultLen. The
// result stays valid until the next ksp_call. Once the host has called
// ksp_background (below), the guest sets [ResultBackground] in the length
// word of every result whose call left background work: goroutines beyond
// the baseline. Results are never that long, and an older host, which never
// calls ksp_background, never sees the flag. Every operation but OpHandle
// answers a JSON [Envelope]; OpHandle answers a response frame (below),
// because it is the hot path and JSON with base64 bodies costs more than the
// rest of the call.
//
//	ksp_background(budget_ms u32) -> i32
//
// is a background turn: the guest's goroutines other than the caller's run
// for up to budget_ms milliseconds (the export's own goroutine sleeps in
// short steps meanwhile) and it returns 1 when background work remains, 0
// when none does. It returns early once no goroutine beyond the baseline is
// left: the goroutines alive at the first ksp_background call, which the
// host makes with budget 0 right after OpSetup, before any lifecycle
// method, so the baseline is what package initialisation left running
// (library daemons such as klog's flush goroutine). Goroutines a plugin
// starts in its lifecycle methods or handlers are background work until
// they end. The export is optional: a module built without it gets no
// turns, and its goroutines run only while a call does.
//
// # Imports (host module "ksplugins")
//
//	http_do(ptr u32, size u32) -> u64
//
// performs the outbound HTTP request framed in guest memory and returns the
// length of its framed outcome, which the host keeps until
//
//	http_result(ptr u32)
//
// copies it into a guest buffer of that length.
//
//	http_open(ptr u32, size u32) -> u64
//
// is http_do for a response read as it arrives (a Kubernetes watch; other
// requests are refused): its outcome, fetched with http_result, carries a
// stream id instead of the body.
//
//	http_read(stream u32, ptr u32, size u32) -> i64
//
// waits for the stream's next bytes and copies up to size of them to ptr:
// the count, 0 at the end of the body, -1 when the stream failed, is
// unknown or passed the response limit (the body limit, counted over the
// whole stream).
//
//	http_close(stream u32)
//
// closes a stream. The host closes every stream still open when the
// ksp_call or ksp_background turn that opened it returns: a stream lives
// within one call.
//
//	plugin_call(ptr u32, size u32) -> u64
//
// calls an endpoint of another plugin (sdk.PluginCaller) with the call
// frame in guest memory and returns the length of its framed outcome,
// fetched with http_result as http_do's is. See [CallOK].
//
// # Frames
//
// All integers are little-endian u32; a string or byte slice is its u32
// length then its bytes; a header block is u32 key count, then per key the
// key, u32 value count and the values.
//
//	request  (OpHandle input):  method, path, raw query, host, remote addr, header block, body,
//	                            u32 request id (see [CallOK]; older hosts end the frame at the body)
//	response (OpHandle result): u8 kind, then
//	                            kind 1 (response): u32 status, header block, body
//	                            kind 2 (too large): nothing; the body passed the limit set by OpSetup
//	                            kind 0 (error):    message
//	outbound (http_do input):   method, URL, header block, body
//	outcome  (http_do result):  u8 ok, then ok 1: u32 status, header block, body; ok 0: message
//	outcome  (http_open result): as http_do's, with u32 stream id in place of the body
//	call     (plugin_call input): u32 request id, u32 timeout ms (0: none), plugin id, method, path, body
//	outcome  (plugin_call result): u8 kind, then kind CallOK: u32 status, header block, body;
//	                               any other kind: message
//
// # Kubernetes
//
// OpKubernetes gives the guest the contexts it may reach, as a JSON list of
// names; the host sends it before Validate on every instance of a plugin
// the host gave Kubernetes access (sdk.KubernetesUser). An http_do request
// whose URL's host is sdk.KubernetesHost is not sent to the network: the
// host serves it through its Kubernetes mediation for the context named by
// the [HeaderKubeContext] header (which it removes), whatever the network
// grant. http_do buffers the response, so it refuses a watch ([IsWatch]);
// the guest opens those with http_open. A request that carries
// [HeaderKubeExternal] is sdk.Kubernetes.External instead, answered by the
// host itself ([ExternalRequest], [ExternalResult]).
package abi

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
)

// Names of the exports and imports crossing the boundary.
const (
	ExportAlloc      = "ksp_alloc"
	ExportCall       = "ksp_call"
	ExportBackground = "ksp_background"
	ExportInitialize = "_initialize"
	ExportMemory     = "memory"

	ImportModule     = "ksplugins"
	ImportHTTPDo     = "http_do"
	ImportHTTPResult = "http_result"
	ImportHTTPOpen   = "http_open"
	ImportHTTPRead   = "http_read"
	ImportHTTPClose  = "http_close"
	ImportPluginCall = "plugin_call"
)

// HeaderKubeContext names the kubeconfig context of an http_do request to
// sdk.KubernetesHost. The guest's sdk.Kubernetes transport sets it; the
// host removes it before mediation.
const HeaderKubeContext = "X-Ksplugins-Kube-Context"

// Operation codes of ksp_call. OpSetup comes first on every instance; the
// others mirror sdk.KubestellarPlugin.
const (
	// OpSetup's input is u32 max response body bytes (past it the guest
	// stops buffering a response and answers kind 2), then optionally the
	// JSON list of endpoints the host routes by: a plugin folder's
	// plugin.yaml may declare endpoints its GetMetadata leaves out, and
	// both sides must route alike.
	OpSetup uint32 = iota
	OpMetadata
	OpValidate
	OpInitialize // input: configuration JSON
	OpOnLoad
	OpHandle // input: request frame
	OpHealth
	OpStatus
	OpMetrics
	OpConfigChange // input: configuration JSON
	OpPermissions
	OpOnUnload
	OpCleanup
	// OpKubernetes's input is the JSON list of contexts the plugin may
	// reach; the guest hands the plugin an sdk.Kubernetes over them when it
	// is an sdk.KubernetesUser. Added after OpCleanup so that the codes of
	// older guests keep their meaning; such a guest answers it with an
	// error, which the host logs and ignores.
	OpKubernetes
)

// ResultBackground is the bit of ksp_call's result (in its length word)
// that says the call left background work; see ksp_background. A result
// length never reaches it: the guest never returns more than MaxResult
// bytes.
const ResultBackground uint64 = 1 << 31

// MaxResult is the most bytes a ksp_call result may have.
const MaxResult = 1<<31 - 1

// Response frame kinds.
const (
	KindError    byte = 0
	KindResponse byte = 1
	KindTooLarge byte = 2
)

// Envelope is the JSON result of every operation but OpHandle.
type Envelope struct {
	// OK is false when the plugin's method returned an error or panicked.
	OK bool `json:"ok"`
	// Error is that error's message.
	Error string `json:"error,omitempty"`
	// Data is the operation's value, absent for operations that only
	// succeed or fail.
	Data any `json:"data,omitempty"`
}

// Result is an Envelope as the host reads it, its data left to decode
// into the operation's own type.
type Result struct {
	OK    bool            `json:"ok"`
	Error string          `json:"error"`
	Data  json.RawMessage `json:"data"`
}

// ErrShort reports a frame that ends before its fields do.
var ErrShort = errors.New("abi: truncated frame")

// AppendU32 appends v.
func AppendU32(b []byte, v uint32) []byte { return binary.LittleEndian.AppendUint32(b, v) }

// AppendString appends s with its length.
func AppendString(b []byte, s string) []byte {
	b = AppendU32(b, uint32(len(s)))
	return append(b, s...)
}

// AppendBytes appends p with its length.
func AppendBytes(b []byte, p []byte) []byte {
	b = AppendU32(b, uint32(len(p)))
	return append(b, p...)
}

// AppendHeader appends a header block.
func AppendHeader(b []byte, h map[string][]string) []byte {
	return AppendHeaderSet(b, h, "", "")
}

// AppendHeaderSet appends a header block of h and, unless key is empty,
// one more field key: value after h's. A reader keeps the last of a
// repeated name, so the field replaces h's of the same name as
// http.Header.Set would, without copying h.
func AppendHeaderSet(b []byte, h map[string][]string, key, value string) []byte {
	n := len(h)
	if key != "" {
		n++
	}
	b = AppendU32(b, uint32(n))
	for k, vs := range h {
		b = AppendString(b, k)
		b = AppendU32(b, uint32(len(vs)))
		for _, v := range vs {
			b = AppendString(b, v)
		}
	}
	if key != "" {
		b = AppendString(b, key)
		b = AppendU32(b, 1)
		b = AppendString(b, value)
	}
	return b
}

// PutU32 overwrites the u32 at b[off:], for lengths known only after the
// bytes they count were appended.
func PutU32(b []byte, off int, v uint32) { binary.LittleEndian.PutUint32(b[off:], v) }

// Decoder reads a frame. The first error sticks: later reads return zero
// values and Err reports it, so a caller checks once at the end.
type Decoder struct {
	b   []byte
	off int
	err error
}

// NewDecoder reads b, which it does not copy.
func NewDecoder(b []byte) *Decoder { return &Decoder{b: b} }

// Reset makes d read b from the start.
func (d *Decoder) Reset(b []byte) { d.b, d.off, d.err = b, 0, nil }

// Err is the first error met, if any.
func (d *Decoder) Err() error { return d.err }

// Byte reads one byte.
func (d *Decoder) Byte() byte {
	if d.err != nil || d.off+1 > len(d.b) {
		d.fail()
		return 0
	}
	v := d.b[d.off]
	d.off++
	return v
}

// U32 reads a u32.
func (d *Decoder) U32() uint32 {
	if d.err != nil || d.off+4 > len(d.b) {
		d.fail()
		return 0
	}
	v := binary.LittleEndian.Uint32(d.b[d.off:])
	d.off += 4
	return v
}

// Bytes reads a length-prefixed byte slice, which aliases the frame.
func (d *Decoder) Bytes() []byte {
	n := d.U32()
	if d.err != nil || uint64(d.off)+uint64(n) > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	v := d.b[d.off : d.off+int(n) : d.off+int(n)]
	d.off += int(n)
	return v
}

// String reads a length-prefixed string (a copy).
func (d *Decoder) String() string { return string(d.Bytes()) }

// Header reads a header block into h, replacing the keys it holds, and
// returns h; a nil h is allocated.
func (d *Decoder) Header(h map[string][]string) map[string][]string {
	n := d.U32()
	if h == nil {
		h = make(map[string][]string, min(n, 64))
	}
	for i := uint32(0); i < n && d.err == nil; i++ {
		k := d.String()
		c := d.U32()
		if d.err != nil || uint64(c)*4 > uint64(len(d.b)-d.off) {
			d.fail() // each value needs at least its length
			break
		}
		vs := make([]string, c)
		for j := range vs {
			vs[j] = d.String()
		}
		h[k] = vs
	}
	return h
}

// Rest returns what has not been read.
func (d *Decoder) Rest() []byte { return d.b[d.off:] }

func (d *Decoder) fail() {
	if d.err == nil {
		d.err = ErrShort
	}
	d.off = len(d.b)
}

// Pack joins a result pointer and length as ksp_call and http_do return them.
func Pack(ptr, size uint32) uint64 { return uint64(ptr)<<32 | uint64(size) }

// Unpack splits what Pack joined.
func Unpack(v uint64) (ptr, size uint32) { return uint32(v >> 32), uint32(v & math.MaxUint32) }
