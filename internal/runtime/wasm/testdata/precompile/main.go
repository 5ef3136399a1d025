// Command precompile fills a wazero compilation cache with modules, for the
// package's tests: under -race, wazero's compiler (Go code, instrumented) is
// about ten times slower than the compiled guest code it produces, which is
// the same either way. The tests run this once, without -race, so that their
// Loads read the cache as a warm host would.
//
// Usage: precompile CACHE_DIR MODULE.wasm...
//
// Build it with -ldflags=-X=github.com/tetratelabs/wazero/internal/version.version=dev:
// test binaries carry no module versions, so wazero files their cache under
// "dev", and this program must file it under the same name.
package main

import (
	"context"
	"fmt"
	"os"
	"sync"

	"github.com/tetratelabs/wazero"

	"github.com/kubestellar/ksplugins/internal/runtime/wasm/interrupt"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: precompile CACHE_DIR MODULE.wasm...")
		os.Exit(2)
	}
	ctx := context.Background()
	cache, err := wazero.NewCompilationCacheWithDir(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// The runtime configuration must match the host's wherever it changes
	// the module's cache key, and the module must be instrumented as the
	// host instruments it: the key is the digest of what is compiled.
	cfg := wazero.NewRuntimeConfig().
		WithCompilationCache(cache).
		WithDebugInfoEnabled(false)
	var wg sync.WaitGroup
	errs := make([]error, len(os.Args)-2)
	for i, path := range os.Args[2:] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, err := os.ReadFile(path)
			if err == nil {
				b, err = interrupt.Instrument(b)
			}
			if err != nil {
				errs[i] = fmt.Errorf("%s: %w", path, err)
				return
			}
			rt := wazero.NewRuntimeWithConfig(ctx, cfg)
			defer rt.Close(ctx)
			if _, err := rt.CompileModule(ctx, b); err != nil {
				errs[i] = fmt.Errorf("%s: %w", path, err)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	if err := cache.Close(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
