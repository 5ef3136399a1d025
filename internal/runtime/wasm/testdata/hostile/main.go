// Command hostile is a plugin that misbehaves on request, for the sandbox's
// tests. Its constructor has the seed-era signature, func() interface{}.
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/gin-gonic/gin/binding"
	"github.com/gin-gonic/gin/render"

	"github.com/kubestellar/ksplugins/sdk"
	"github.com/kubestellar/ksplugins/sdk/kubeconfig"
)

// Hostile embeds sdk.Base and logs every lifecycle call on standard output.
type Hostile struct {
	sdk.Base
	kube  sdk.Kubernetes
	count int
	sick  bool
	keep  [][]byte
	ticks atomic.Int64
	stop  chan struct{}
	// watched is how the background watch (GET /kube?bg=1) ended.
	watched string
	plugins sdk.PluginCaller
	// kept is the context of the request GET /call?keep=1 served.
	kept context.Context
}

// msgpackRecord has fields of the kinds the msgpack codec has generated
// fast paths for: slices and maps of built-in types.
type msgpackRecord struct {
	Ints  []int
	Names []string
	Flags map[string]bool
	Sizes map[string]int64
}

// NewPlugin has the seed-era signature on purpose.
func NewPlugin() interface{} { return &Hostile{} }

func (p *Hostile) event(name string) { fmt.Println("lifecycle " + name) }

// GetMetadata lists the misbehaviours.
func (p *Hostile) GetMetadata() sdk.PluginMetadata {
	eps := []sdk.EndpointConfig{}
	for _, e := range []string{"loop", "alloc", "panic", "big", "readfile", "writefile", "fetch", "state", "sick", "spew", "args", "kube", "tick", "spin", "call"} {
		eps = append(eps, sdk.EndpointConfig{Path: "/" + e, Method: "GET", Handler: e})
	}
	eps = append(eps, sdk.EndpointConfig{Path: "/echo", Method: "POST", Handler: "echo"},
		sdk.EndpointConfig{Path: "/external", Method: "POST", Handler: "external"},
		sdk.EndpointConfig{Path: "/msgpack", Method: "POST", Handler: "msgpack"})
	return sdk.PluginMetadata{ID: "hostile", Name: "Hostile", Version: "1.0.0", Endpoints: eps}
}

// GetHandlers maps the endpoints.
func (p *Hostile) GetHandlers() map[string]gin.HandlerFunc {
	return map[string]gin.HandlerFunc{
		"loop": func(c *gin.Context) {
			for n := 0; ; n++ {
				if n < 0 {
					break
				}
			}
			c.String(http.StatusOK, "unreachable")
		},
		// alloc allocates and touches chunk_mb MiB (default 64) at a time
		// and keeps it all, until the sandbox's memory limit stops it.
		"alloc": func(c *gin.Context) {
			chunk := 64
			if n, err := strconv.Atoi(c.Query("chunk_mb")); err == nil && n > 0 {
				chunk = n
			}
			for {
				b := make([]byte, chunk<<20)
				for i := 0; i < len(b); i += 4096 {
					b[i] = 1
				}
				p.keep = append(p.keep, b)
				if len(p.keep)*chunk%64 == 0 {
					fmt.Printf("holding %d MiB\n", len(p.keep)*chunk)
				}
			}
		},
		"panic": func(c *gin.Context) { panic("hostile: asked to panic") },
		"big": func(c *gin.Context) {
			n, _ := strconv.Atoi(c.Query("n"))
			c.Data(http.StatusOK, "application/octet-stream", []byte(strings.Repeat("x", n)))
		},
		"readfile": func(c *gin.Context) {
			b, err := os.ReadFile(c.Query("path"))
			if err != nil {
				c.String(http.StatusOK, "error: %v", err)
				return
			}
			c.String(http.StatusOK, "content: %s", b)
		},
		"writefile": func(c *gin.Context) {
			if err := os.WriteFile("/data/x", []byte("written in the sandbox"), 0o600); err != nil {
				c.String(http.StatusOK, "error: %v", err)
				return
			}
			b, err := os.ReadFile("/data/x")
			if err != nil {
				c.String(http.StatusOK, "error: %v", err)
				return
			}
			c.String(http.StatusOK, "content: %s", b)
		},
		"fetch": func(c *gin.Context) {
			res, err := http.Get(c.Query("url"))
			if err != nil {
				c.String(http.StatusOK, "error: %v", err)
				return
			}
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)
			c.String(http.StatusOK, "status %d: %s", res.StatusCode, b)
		},
		"state": func(c *gin.Context) {
			if ms, _ := strconv.Atoi(c.Query("ms")); ms > 0 {
				time.Sleep(time.Duration(ms) * time.Millisecond)
			}
			p.count++
			c.String(http.StatusOK, strconv.Itoa(p.count))
		},
		"sick": func(c *gin.Context) {
			p.sick = c.Query("on") == "1"
			c.Status(http.StatusNoContent)
		},
		"spew": func(c *gin.Context) {
			n, _ := strconv.Atoi(c.Query("n"))
			size, _ := strconv.Atoi(c.Query("size"))
			line := strings.Repeat("s", size)
			for i := range n {
				fmt.Printf("spew %d %s\n", i, line)
			}
			c.Status(http.StatusNoContent)
		},
		"args": func(c *gin.Context) { c.String(http.StatusOK, strings.Join(os.Args, " ")) },
		// tick answers how many times the ticker ticked. start=1 starts a
		// goroutine that ticks every 20 ms, n times (forever when n is 0
		// or absent), as an operation polling in the background would;
		// stop=1 ends it.
		"tick": func(c *gin.Context) {
			if c.Query("start") == "1" {
				n, _ := strconv.Atoi(c.Query("n"))
				p.stop = make(chan struct{})
				go func(stop chan struct{}) {
					for i := 0; n == 0 || i < n; i++ {
						select {
						case <-stop:
							return
						case <-time.After(20 * time.Millisecond):
						}
						p.ticks.Add(1)
					}
				}(p.stop)
				c.String(http.StatusAccepted, "started")
				return
			}
			if c.Query("stop") == "1" && p.stop != nil {
				close(p.stop)
				p.stop = nil
			}
			c.String(http.StatusOK, strconv.FormatInt(p.ticks.Load(), 10))
		},
		// spin starts a goroutine that never yields: the wasm Go runtime
		// cannot preempt it, so whichever call runs it next never returns.
		"spin": func(c *gin.Context) {
			go func() {
				for n := 0; ; n++ {
					if n < 0 {
						break
					}
				}
			}()
			c.String(http.StatusAccepted, "spinning")
		},
		// kube GETs path from context through its Kubernetes access; with
		// lines=n it answers the first n lines of the body and leaves the
		// body open, for the host to close; with reader=1 another goroutine
		// reads them, as client-go's watch does. With bg=1 a goroutine
		// opens it in the background and counts lines until the stream
		// ends; report=1 answers how it ended.
		"kube": func(c *gin.Context) {
			if p.kube == nil {
				c.String(http.StatusOK, "no Kubernetes access")
				return
			}
			if c.Query("report") == "1" {
				c.String(http.StatusOK, p.watched)
				return
			}
			if c.Query("bg") == "1" {
				tr, path := p.kube.Transport(c.Query("context")), c.Query("path")
				go func() {
					req, _ := http.NewRequest(http.MethodGet, "http://"+sdk.KubernetesHost+path, nil)
					res, err := tr.RoundTrip(req)
					if err != nil {
						p.watched = "error: " + err.Error()
						return
					}
					defer res.Body.Close()
					r := bufio.NewReader(res.Body)
					for n := 0; ; n++ {
						if _, err := r.ReadString('\n'); err != nil {
							p.watched = fmt.Sprintf("%d lines, then: %v", n, err)
							return
						}
					}
				}()
				c.String(http.StatusAccepted, "watching")
				return
			}
			req, err := http.NewRequestWithContext(c.Request.Context(), http.MethodGet, "http://"+sdk.KubernetesHost+c.Query("path"), nil)
			if err != nil {
				c.String(http.StatusOK, "error: %v", err)
				return
			}
			res, err := p.kube.Transport(c.Query("context")).RoundTrip(req)
			if err != nil {
				c.String(http.StatusOK, "error: %v", err)
				return
			}
			if n, _ := strconv.Atoi(c.Query("lines")); n > 0 && c.Query("reader") == "1" {
				lines := make(chan string)
				go func() {
					r := bufio.NewReader(res.Body)
					for {
						l, err := r.ReadString('\n')
						if err != nil {
							close(lines)
							return
						}
						lines <- strings.TrimSuffix(l, "\n")
					}
				}()
				var got []string
				for len(got) < n {
					select {
					case l, ok := <-lines:
						if !ok {
							c.String(http.StatusOK, "error after %q: the stream ended", got)
							return
						}
						got = append(got, l)
					case <-time.After(2 * time.Second):
						c.String(http.StatusOK, "error after %q: no line", got)
						return
					}
				}
				c.String(http.StatusOK, "status %d: %s", res.StatusCode, strings.Join(got, ","))
				return
			}
			if n, _ := strconv.Atoi(c.Query("lines")); n > 0 {
				r := bufio.NewReader(res.Body)
				var lines []string
				for range n {
					l, err := r.ReadString('\n')
					if err != nil {
						c.String(http.StatusOK, "error after %q: %v", lines, err)
						return
					}
					lines = append(lines, strings.TrimSuffix(l, "\n"))
				}
				c.String(http.StatusOK, "status %d: %s", res.StatusCode, strings.Join(lines, ","))
				return
			}
			defer res.Body.Close()
			b, err := io.ReadAll(res.Body)
			if err != nil {
				c.String(http.StatusOK, "error: %v", err)
				return
			}
			c.String(http.StatusOK, "contexts %v status %d: %s", p.kube.Contexts(), res.StatusCode, b)
		},
		// external hands the body, a kubeconfig, to External for the
		// context ?context= and answers the name it gave, or which typed
		// error it returned.
		"external": func(c *gin.Context) {
			if p.kube == nil {
				c.String(http.StatusOK, "no Kubernetes access")
				return
			}
			b, err := io.ReadAll(c.Request.Body)
			if err != nil {
				c.String(http.StatusInternalServerError, err.Error())
				return
			}
			name, err := p.kube.External(b, c.Query("context"))
			var refused *kubeconfig.RefusedError
			var invalid *kubeconfig.InvalidError
			switch {
			case err == nil:
				c.String(http.StatusOK, "context %s", name)
			case errors.Is(err, sdk.ErrExternalNotGranted):
				c.String(http.StatusOK, "not granted: %v", err)
			case errors.As(err, &refused):
				c.String(http.StatusOK, "refused %s: %v", refused.Field, err)
			case errors.As(err, &invalid):
				c.String(http.StatusOK, "invalid %s: %v", invalid.Field, err)
			case errors.Is(err, kubeconfig.ErrNoContext):
				c.String(http.StatusOK, "no context: %v", err)
			default:
				c.String(http.StatusOK, "other: %v", err)
			}
		},
		// call calls plugin at path with method and, when size is given, a
		// body of that many bytes, under the request's context, or with
		// stale=1 under the one kept by an earlier keep=1, or with
		// timeout_ms under a deadline of its own. It answers 200 and what
		// the plugin answered, or 502 and which error the call returned.
		"call": func(c *gin.Context) {
			if p.plugins == nil {
				c.String(http.StatusOK, "no plugin caller")
				return
			}
			ctx := c.Request.Context()
			switch {
			case c.Query("keep") == "1":
				p.kept = ctx
			case c.Query("stale") == "1":
				ctx = p.kept
			}
			if ms, _ := strconv.Atoi(c.Query("timeout_ms")); ms > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, time.Duration(ms)*time.Millisecond)
				defer cancel()
			}
			var body io.Reader
			if n, _ := strconv.Atoi(c.Query("size")); n > 0 {
				body = strings.NewReader(strings.Repeat("b", n))
			}
			res, err := p.plugins.CallPlugin(ctx, c.Query("plugin"), c.DefaultQuery("method", http.MethodGet), c.Query("path"), body)
			if err != nil {
				c.JSON(http.StatusBadGateway, gin.H{"error": err.Error(),
					"undeclared":  errors.Is(err, sdk.ErrUndeclaredDependency),
					"unavailable": errors.Is(err, sdk.ErrDependencyUnavailable),
					"timeout":     errors.Is(err, context.DeadlineExceeded),
					"over":        errors.Is(err, context.Canceled)})
				return
			}
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)
			c.JSON(http.StatusOK, gin.H{"status": res.StatusCode, "answer": string(b), "header": res.Header.Get("X-Answer")})
		},
		"echo": func(c *gin.Context) {
			b, err := io.ReadAll(c.Request.Body)
			if err != nil {
				c.String(http.StatusInternalServerError, err.Error())
				return
			}
			c.Header("X-Echo-Query", c.Query("q"))
			c.Data(http.StatusOK, c.ContentType(), b)
		},
		// msgpack reads a msgpackRecord through gin's msgpack binding and
		// writes it back through its msgpack rendering, with the codec the
		// sandboxed build leaves the generated fast paths out of.
		"msgpack": func(c *gin.Context) {
			var v msgpackRecord
			if err := c.ShouldBindWith(&v, binding.MsgPack); err != nil {
				c.String(http.StatusBadRequest, err.Error())
				return
			}
			c.Render(http.StatusOK, render.MsgPack{Data: v})
		},
	}
}

// SetKubernetes implements sdk.KubernetesUser.
func (p *Hostile) SetKubernetes(k sdk.Kubernetes) { p.kube = k }

// SetPluginCaller implements sdk.PluginCallerUser.
func (p *Hostile) SetPluginCaller(c sdk.PluginCaller) { p.plugins = c }

// ValidateRequest refuses requests carrying X-Refuse.
func (p *Hostile) ValidateRequest(c *gin.Context) error {
	if v := c.GetHeader("X-Refuse"); v != "" {
		return errors.New("refused: " + v)
	}
	return nil
}

// Health fails after GET /sick?on=1.
func (p *Hostile) Health() error {
	if p.sick {
		return errors.New("hostile: sick on demand")
	}
	return nil
}

// Validate logs.
func (p *Hostile) Validate() error { p.event("validate"); return nil }

// Initialize logs and keeps the configuration.
func (p *Hostile) Initialize(cfg map[string]interface{}) error {
	p.event("initialize " + fmt.Sprint(cfg["mode"]))
	return p.Base.Initialize(cfg)
}

// OnLoad logs.
func (p *Hostile) OnLoad() error { p.event("onload"); return nil }

// OnConfigChange logs.
func (p *Hostile) OnConfigChange(cfg map[string]interface{}) error {
	p.event("configchange " + fmt.Sprint(cfg["mode"]))
	return p.Base.OnConfigChange(cfg)
}

// GetMetrics reports the counter.
func (p *Hostile) GetMetrics() map[string]interface{} {
	return map[string]interface{}{"count": p.count}
}

// GetPermissions asks for one permission.
func (p *Hostile) GetPermissions() []string { return []string{"clusters:read"} }

// OnUnload logs.
func (p *Hostile) OnUnload() error { p.event("onunload"); return nil }

// Cleanup logs.
func (p *Hostile) Cleanup() error { p.event("cleanup"); return nil }
