// Package native loads plugins built with -buildmode=plugin into the host
// process.
//
// Go cannot unload a plugin: once opened, its code stays mapped until the
// process exits. The loader therefore opens each distinct file content once,
// keyed by its digest, and hands out fresh instances from NewPlugin for every
// later load of the same content. Before Go's loader sees a file, its build
// info is checked against the host's so that a mismatch is reported by name
// (module, flag or toolchain) rather than as a failed load.
//
// Opening a plugin runs its packages' init functions, on the goroutine that
// calls plugin.Open. The loader contains them as far as Go allows: a panic
// is recovered and reported as an *InitPanicError, and an open that has not
// returned within the timeout is reported as an *InitTimeoutError while it
// goes on in the background, holding no lock of the loader's. Go's plugin
// package releases its own lock before it runs a plugin's init functions,
// so a hanging init blocks later opens of that one file only; the loader
// never opens a file again once its init panicked, and makes later opens
// of a file whose init is still running wait for it, each up to the
// timeout. What Go does not allow cannot be contained: an init that never
// returns keeps its goroutine for the life of the process, and one that
// exits the process, exhausts its stack or panics on a goroutine of its own
// ends the server. Native plugins are code an admin chose to trust.
package native

import (
	"context"
	"fmt"
	"plugin"
	"reflect"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/kubestellar/ksplugins/internal/pinned"
	"github.com/kubestellar/ksplugins/internal/runtime"
	"github.com/kubestellar/ksplugins/internal/toolchain"
	"github.com/kubestellar/ksplugins/sdk"
)

// DefaultOpenTimeout bounds how long Open waits for a plugin's package
// initialisation when the caller's context allows longer.
const DefaultOpenTimeout = 30 * time.Second

// symbols is an opened plugin, as the loader uses it.
type symbols interface {
	Lookup(name string) (plugin.Symbol, error)
}

// Loader opens native plugin files. It is safe for concurrent use.
type Loader struct {
	pins    pinned.Dir
	target  toolchain.Target
	timeout time.Duration
	// open and check are plugin.Open and the target's file check; tests
	// replace them to stand for plugins that panic or hang.
	open  func(path string) (symbols, error)
	check func(path string) error

	mu     sync.Mutex
	opened map[string]*opening // by file digest
}

// opening is one file's plugin.Open, finished or under way.
type opening struct {
	done chan struct{} // closed when the open returned or panicked
	f    sdk.NewPluginFunc
	err  error
}

// NewLoader returns a Loader that keeps the files it opens under dir, each
// named by its digest, and checks them against target. It removes copies
// left half-written by a process that was killed while making one.
func NewLoader(dir string, target toolchain.Target) *Loader {
	return &Loader{
		pins:    pinned.New(dir, ".so"),
		target:  target,
		timeout: DefaultOpenTimeout,
		open:    func(path string) (symbols, error) { return plugin.Open(path) },
		check:   target.CheckFile,
		opened:  map[string]*opening{},
	}
}

// Open loads the plugin file at path, whose content has the given digest
// ("sha256:<hex>"), and returns its constructor. It waits for the plugin's
// init functions until ctx ends or DefaultOpenTimeout passes, whichever is
// first. Giving up does not stop them (nothing can): a later open of the
// same content waits for the same initialisation again rather than
// starting another.
func (l *Loader) Open(ctx context.Context, path, digest string) (sdk.NewPluginFunc, error) {
	l.mu.Lock()
	o, ok := l.opened[digest]
	l.mu.Unlock()
	if !ok {
		// The checks and the copy can fail for passing reasons (a missing
		// file), so they are not remembered; only Go's open is.
		if err := l.check(path); err != nil {
			return nil, &runtime.OpenError{Path: path, Err: err}
		}
		// Go remembers plugins by file name and by plugin path: a file
		// changed in place would come back as the old plugin. A copy named
		// by digest keeps "same name" meaning "same content".
		file, err := l.pins.KeepFile(path, digest)
		if err != nil {
			return nil, &runtime.OpenError{Path: path, Err: err}
		}
		l.mu.Lock()
		if o, ok = l.opened[digest]; !ok {
			o = &opening{done: make(chan struct{})}
			l.opened[digest] = o
			go l.run(o, file, digest)
		}
		l.mu.Unlock()
	}
	timer := time.NewTimer(l.timeout)
	defer timer.Stop()
	select {
	case <-o.done:
	case <-timer.C:
		return nil, &runtime.OpenError{Path: path, Err: &InitTimeoutError{After: l.timeout}}
	case <-ctx.Done():
		return nil, &runtime.OpenError{Path: path, Err: fmt.Errorf("waiting for the plugin's init functions: %w", ctx.Err())}
	}
	if o.err != nil {
		return nil, &runtime.OpenError{Path: path, Err: o.err}
	}
	return o.f, nil
}

// run opens the pinned file for o. A failure other than a panic is
// forgotten once reported, so that a later open tries again (Go's plugin
// package remembers the failures that must not be retried); a panic is
// remembered for ever, because Go's plugin package then waits for ever for
// the init that panicked and a second open of the file would never return.
func (l *Loader) run(o *opening, pinned, digest string) {
	defer close(o.done)
	defer func() {
		if v := recover(); v != nil {
			o.f, o.err = nil, &InitPanicError{Value: v, Stack: string(debug.Stack())}
		}
	}()
	o.f, o.err = l.openFile(pinned)
	if o.err != nil {
		l.mu.Lock()
		if l.opened[digest] == o {
			delete(l.opened, digest)
		}
		l.mu.Unlock()
	}
}

// openFile opens a plugin file and finds its constructor.
func (l *Loader) openFile(path string) (sdk.NewPluginFunc, error) {
	p, err := l.open(path)
	if err != nil {
		if strings.Contains(err.Error(), "different version of package") {
			return nil, fmt.Errorf("%w (a plugin with packages of its own can be loaded once per process: restart the host to load a changed version)", err)
		}
		return nil, err
	}
	sym, err := p.Lookup(sdk.PluginSymbol)
	if err != nil {
		return nil, fmt.Errorf("plugin does not export %s: %w", sdk.PluginSymbol, err)
	}
	return constructor(sym)
}

// Pinned returns the loader's own copy of the plugin file with digest, if it
// has one: the copy outlives the file it was made from, so a restart can
// load the same code again without its source.
func (l *Loader) Pinned(digest string) (string, bool) { return l.pins.Lookup(digest) }

// constructor accepts the shapes NewPlugin takes in the wild: the SDK's
// func() KubestellarPlugin (as a func or a variable), and the seed-era
// func() interface{} whose result must implement KubestellarPlugin.
func constructor(sym plugin.Symbol) (sdk.NewPluginFunc, error) {
	switch f := sym.(type) {
	case func() sdk.KubestellarPlugin:
		return f, nil
	case *func() sdk.KubestellarPlugin:
		return *f, nil
	case *sdk.NewPluginFunc:
		return *f, nil
	case func() interface{}:
		return func() sdk.KubestellarPlugin {
			v := f()
			p, ok := v.(sdk.KubestellarPlugin)
			if !ok {
				panic(&NotAPluginError{Type: reflect.TypeOf(v)})
			}
			return p
		}, nil
	}
	return nil, fmt.Errorf("%s has type %T; want func() sdk.KubestellarPlugin (or func() interface{} returning one)", sdk.PluginSymbol, sym)
}

// InitPanicError is a plugin whose package initialisation panicked while it
// was opened. The file cannot be opened again until the process restarts.
type InitPanicError struct {
	// Value is what the init function panicked with.
	Value any
	// Stack is the goroutine's stack at the panic.
	Stack string
}

func (e *InitPanicError) Error() string {
	return fmt.Sprintf("the plugin's init functions panicked: %v", e.Value)
}

// InitTimeoutError is a plugin whose package initialisation had not
// finished when the loader stopped waiting. It goes on in the background.
type InitTimeoutError struct {
	After time.Duration
}

func (e *InitTimeoutError) Error() string {
	return fmt.Sprintf("the plugin's init functions did not return within %s; they go on running in the server, and a later load of the same file waits for them again", e.After)
}

// Is makes an InitTimeoutError match context.DeadlineExceeded.
func (e *InitTimeoutError) Is(target error) bool { return target == context.DeadlineExceeded }

// NotAPluginError is what a seed-era NewPlugin returned instead of a plugin.
type NotAPluginError struct {
	Type reflect.Type
}

func (e *NotAPluginError) Error() string {
	if e.Type == nil {
		return sdk.PluginSymbol + " returned nil"
	}
	pluginType := reflect.TypeFor[sdk.KubestellarPlugin]()
	for i := range pluginType.NumMethod() {
		m := pluginType.Method(i)
		if _, ok := e.Type.MethodByName(m.Name); !ok {
			return fmt.Sprintf("%s returned %s, which does not implement KubestellarPlugin (missing method %s)", sdk.PluginSymbol, e.Type, m.Name)
		}
	}
	return fmt.Sprintf("%s returned %s, which does not implement KubestellarPlugin", sdk.PluginSymbol, e.Type)
}
