//go:build wasip1

package wasmguest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"unsafe"

	"github.com/gin-gonic/gin"

	"github.com/kubestellar/ksplugins/sdk"
	"github.com/kubestellar/ksplugins/sdk/wasmguest/abi"
)

// current is the one plugin of this module. The exports below are plain
// functions called by the host, so the state they share has to live at
// package level; it is set once by Serve, during the module's _initialize.
var current *guest

func init() {
	gin.SetMode(gin.ReleaseMode)
	t := hostTransport{}
	http.DefaultTransport = t
	http.DefaultClient.Transport = t
}

// Serve makes newPlugin's plugin the one this module serves. newPlugin is
// the plugin's NewPlugin: func() sdk.KubestellarPlugin, the seed-era
// func() interface{} returning one, or any other function without arguments
// whose single result implements sdk.KubestellarPlugin. Serve panics on
// anything else, and when called twice, so a broken build fails at start
// with a message rather than at the first request.
func Serve(newPlugin any) {
	if current != nil {
		panic("wasmguest: Serve called twice")
	}
	current = newGuest(construct(newPlugin))
}

func construct(newPlugin any) sdk.KubestellarPlugin {
	var v any
	switch f := newPlugin.(type) {
	case func() sdk.KubestellarPlugin:
		v = f()
	case sdk.NewPluginFunc:
		v = f()
	case func() interface{}:
		v = f()
	default:
		rv := reflect.ValueOf(newPlugin)
		if !rv.IsValid() || rv.Kind() != reflect.Func || rv.IsNil() || rv.Type().NumIn() != 0 || rv.Type().NumOut() != 1 {
			panic(fmt.Sprintf("wasmguest: Serve needs the plugin's NewPlugin, a func() sdk.KubestellarPlugin; got %T", newPlugin))
		}
		v = rv.Call(nil)[0].Interface()
	}
	p, ok := v.(sdk.KubestellarPlugin)
	if !ok || p == nil {
		panic(fmt.Sprintf("wasmguest: NewPlugin returned %T, which does not implement sdk.KubestellarPlugin", v))
	}
	return p
}

// guest is the state behind the exports.
type guest struct {
	plugin sdk.KubestellarPlugin
	engine *gin.Engine // built on the first request

	in  []byte // the last ksp_alloc buffer
	out []byte // the last ksp_call result

	// Reused for every request.
	req     http.Request
	url     url.URL
	header  http.Header
	body    bytes.Reader
	bodyRC  io.ReadCloser
	w       responseWriter
	dec     abi.Decoder
	maxResp int
	// endpoints, when the host sent them, replace GetMetadata's.
	endpoints []sdk.EndpointConfig
	turns     turns
	// calls: the plugin calls other plugins (sdk.PluginCallerUser), so
	// each request's context carries the number the host gave it.
	calls bool
}

func newGuest(p sdk.KubestellarPlugin) *guest {
	g := &guest{plugin: p, header: make(http.Header), maxResp: 4 << 20}
	g.bodyRC = io.NopCloser(&g.body)
	g.w.header = make(http.Header)
	return g
}

func mustGuest() *guest {
	if current == nil {
		panic("wasmguest: the plugin never called wasmguest.Serve (is the generated wasm_main.go missing?)")
	}
	return current
}

func ptrOf(b []byte) uint32 {
	if len(b) == 0 {
		return 0
	}
	return uint32(uintptr(unsafe.Pointer(unsafe.SliceData(b))))
}

//go:wasmexport ksp_alloc
func kspAlloc(size uint32) uint32 {
	g := mustGuest()
	g.in = make([]byte, max(size, 1))
	return ptrOf(g.in)
}

//go:wasmexport ksp_call
func kspCall(op, ptr, size uint32) uint64 {
	g := mustGuest()
	var in []byte
	if size > 0 {
		if ptr != ptrOf(g.in) || int(size) > len(g.in) {
			msg := fmt.Sprintf("input %#x+%d is not the buffer from ksp_alloc", ptr, size)
			if op == abi.OpHandle {
				g.fail(msg)
			} else {
				g.envelope(abi.Envelope{Error: msg})
			}
			return g.result()
		}
		in = g.in[:size]
	}
	if op == abi.OpHandle {
		g.handle(in)
		if len(g.out) > abi.MaxResult {
			g.out = append(g.out[:0], abi.KindTooLarge)
		}
	} else {
		g.lifecycle(op, in)
		if len(g.out) > abi.MaxResult {
			g.envelope(abi.Envelope{Error: fmt.Sprintf("the result is over %d bytes", abi.MaxResult)})
		}
	}
	return g.result()
}

// lifecycle runs every operation but OpHandle and answers an envelope. A
// panic becomes the operation's error: the host decides what to do with a
// plugin that cannot start, and a readable message helps the operator more
// than a dead instance.
func (g *guest) lifecycle(op uint32, in []byte) {
	env := abi.Envelope{OK: true}
	func() {
		defer func() {
			if r := recover(); r != nil {
				env = abi.Envelope{Error: fmt.Sprintf("panic: %v", r)}
			}
		}()
		data, err := g.dispatch(op, in)
		if err != nil {
			env = abi.Envelope{Error: err.Error()}
			return
		}
		env.Data = data
	}()
	g.envelope(env)
}

func (g *guest) envelope(env abi.Envelope) {
	b, err := json.Marshal(env)
	if err != nil {
		b, _ = json.Marshal(abi.Envelope{Error: "encoding the result: " + err.Error()})
	}
	g.out = append(g.out[:0], b...)
}

func (g *guest) dispatch(op uint32, in []byte) (any, error) {
	p := g.plugin
	switch op {
	case abi.OpSetup:
		d := abi.NewDecoder(in)
		n := d.U32()
		if err := d.Err(); err != nil {
			return nil, err
		}
		g.maxResp = int(n)
		if rest := d.Rest(); len(rest) > 0 {
			if err := json.Unmarshal(rest, &g.endpoints); err != nil {
				return nil, fmt.Errorf("decoding the endpoints: %w", err)
			}
		}
		// Before any lifecycle method, as the host does for a native
		// plugin; the host decides at each call what the plugin may call.
		if pc, ok := p.(sdk.PluginCallerUser); ok && !g.calls {
			pc.SetPluginCaller(pluginCaller{})
			g.calls = true
		}
		return nil, nil
	case abi.OpMetadata:
		return p.GetMetadata(), nil
	case abi.OpValidate:
		return nil, p.Validate()
	case abi.OpInitialize, abi.OpConfigChange:
		var cfg map[string]interface{}
		if len(in) > 0 {
			if err := json.Unmarshal(in, &cfg); err != nil {
				return nil, fmt.Errorf("decoding the configuration: %w", err)
			}
		}
		if op == abi.OpInitialize {
			return nil, p.Initialize(cfg)
		}
		return nil, p.OnConfigChange(cfg)
	case abi.OpOnLoad:
		return nil, p.OnLoad()
	case abi.OpHealth:
		return nil, p.Health()
	case abi.OpStatus:
		return p.GetStatus(), nil
	case abi.OpMetrics:
		return p.GetMetrics(), nil
	case abi.OpPermissions:
		return p.GetPermissions(), nil
	case abi.OpOnUnload:
		return nil, p.OnUnload()
	case abi.OpCleanup:
		return nil, p.Cleanup()
	case abi.OpKubernetes:
		var contexts []string
		if err := json.Unmarshal(in, &contexts); err != nil {
			return nil, fmt.Errorf("decoding the Kubernetes contexts: %w", err)
		}
		if ku, ok := p.(sdk.KubernetesUser); ok {
			ku.SetKubernetes(&kubernetes{contexts: contexts})
		}
		return nil, nil
	}
	return nil, fmt.Errorf("unknown operation %d", op)
}

// fail answers an OpHandle with an error frame.
func (g *guest) fail(msg string) {
	g.out = append(g.out[:0], abi.KindError)
	g.out = abi.AppendString(g.out, msg)
}
