// Package native loads plugins built with -buildmode=plugin into the host
// process.
//
// Go cannot unload a plugin: once opened, its code stays mapped until the
// process exits. The loader therefore opens each distinct file content once,
// keyed by its digest, and hands out fresh instances from NewPlugin for every
// later load of the same content. Before Go's loader sees a file, its build
// info is checked against the host's so that a mismatch is reported by name
// (module, flag or toolchain) rather than as a failed load.
package native

import (
	"fmt"
	"os"
	"path/filepath"
	"plugin"
	"reflect"
	"strings"
	"sync"

	"github.com/kubestellar/ksplugins/internal/fsatomic"
	"github.com/kubestellar/ksplugins/internal/toolchain"
	"github.com/kubestellar/ksplugins/sdk"
)

// Loader opens native plugin files. It is safe for concurrent use.
type Loader struct {
	dir    string
	target toolchain.Target

	mu     sync.Mutex
	opened map[string]sdk.NewPluginFunc // by file digest
}

// NewLoader returns a Loader that keeps the files it opens under dir, each
// named by its digest, and checks them against target.
func NewLoader(dir string, target toolchain.Target) *Loader {
	return &Loader{dir: dir, target: target, opened: map[string]sdk.NewPluginFunc{}}
}

// Open loads the plugin file at path, whose content has the given digest
// ("sha256:<hex>"), and returns its constructor.
func (l *Loader) Open(path, digest string) (sdk.NewPluginFunc, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if f, ok := l.opened[digest]; ok {
		return f, nil
	}
	if err := l.target.CheckFile(path); err != nil {
		return nil, &OpenError{Path: path, Err: err}
	}
	// Go remembers plugins by file name and by plugin path: a file changed in
	// place would come back as the old plugin. A copy named by digest keeps
	// "same name" meaning "same content".
	pinned, err := l.pin(path, digest)
	if err != nil {
		return nil, &OpenError{Path: path, Err: err}
	}
	p, err := plugin.Open(pinned)
	if err != nil {
		msg := err.Error()
		if strings.Contains(msg, "different version of package") {
			return nil, &OpenError{Path: path, Err: fmt.Errorf("%w (a plugin with packages of its own can be loaded once per process: restart the host to load a changed version)", err)}
		}
		return nil, &OpenError{Path: path, Err: err}
	}
	sym, err := p.Lookup(sdk.PluginSymbol)
	if err != nil {
		return nil, &OpenError{Path: path, Err: fmt.Errorf("plugin does not export %s: %w", sdk.PluginSymbol, err)}
	}
	f, err := constructor(sym)
	if err != nil {
		return nil, &OpenError{Path: path, Err: err}
	}
	l.opened[digest] = f
	return f, nil
}

// Pinned returns the loader's own copy of the plugin file with digest, if it
// has one: the copy outlives the file it was made from, so a restart can
// load the same code again without its source.
func (l *Loader) Pinned(digest string) (string, bool) {
	path := l.pinnedPath(digest)
	if _, err := os.Stat(path); err != nil {
		return "", false
	}
	return path, true
}

func (l *Loader) pinnedPath(digest string) string {
	return filepath.Join(l.dir, strings.TrimPrefix(digest, "sha256:")+".so")
}

func (l *Loader) pin(path, digest string) (string, error) {
	dst := l.pinnedPath(digest)
	if _, err := os.Stat(dst); err == nil {
		return dst, nil
	}
	if err := fsatomic.CopyFile(path, dst); err != nil {
		return "", err
	}
	return dst, nil
}

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

// OpenError is a file that cannot be loaded as a plugin.
type OpenError struct {
	Path string
	Err  error
}

func (e *OpenError) Error() string { return fmt.Sprintf("open %s: %v", e.Path, e.Err) }

func (e *OpenError) Unwrap() error { return e.Err }

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
