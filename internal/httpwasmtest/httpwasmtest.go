// Package httpwasmtest builds the example http-wasm guests from their
// source for tests, with the compilers scripts/test-deps.sh installs from
// npm, AssemblyScript's asc and wabt's wat2wasm, and with the go command.
//
// The tools are looked for in KSPLUGINS_NODE_TOOLS (a folder holding
// node_modules), else in the cache folder test-deps.sh installs them to.
// Without them a test that needs a guest is skipped, unless
// KSPLUGINS_REQUIRE_NODE_TOOLS=1 or CI is set, when it fails instead: `make
// test` sets the first, so that a machine without the tools cannot pass by
// skipping.
package httpwasmtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Environment variables that steer the package.
const (
	// ToolsEnv names the folder whose node_modules holds the compilers.
	ToolsEnv = "KSPLUGINS_NODE_TOOLS"
	// RequireEnv, set to 1, turns missing tools into a failure.
	RequireEnv = "KSPLUGINS_REQUIRE_NODE_TOOLS"
)

// buildTimeout bounds one compilation; asc takes a few seconds.
const buildTimeout = 2 * time.Minute

// ToolsDir is the folder whose node_modules/.bin holds asc and wat2wasm.
func ToolsDir() string {
	if d := os.Getenv(ToolsEnv); d != "" {
		return d
	}
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "ksplugins", "node")
}

// tool is the path of a compiler, or an error saying how to install it.
func tool(name string) (string, error) {
	if _, err := exec.LookPath("node"); err != nil {
		return "", fmt.Errorf("node is not installed (run scripts/test-deps.sh): %w", err)
	}
	p := filepath.Join(ToolsDir(), "node_modules", ".bin", name)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("%s is not installed in %s (run scripts/test-deps.sh, or set %s): %w", name, ToolsDir(), ToolsEnv, err)
	}
	return p, nil
}

// need returns the compiler, or skips t, or fails it when the tools are
// required.
func need(t testing.TB, name string) string {
	t.Helper()
	p, err := tool(name)
	if err != nil {
		if os.Getenv(RequireEnv) == "1" || os.Getenv("CI") != "" {
			t.Fatalf("building an http-wasm guest: %v", err)
		}
		t.Skipf("building an http-wasm guest: %v", err)
	}
	return p
}

// AssemblyScript compiles the AssemblyScript file entry into a module in
// t's temporary folder and returns its path.
func AssemblyScript(t testing.TB, entry string) string {
	t.Helper()
	asc := need(t, "asc")
	out := filepath.Join(t.TempDir(), "guest.wasm")
	// abort= drops AssemblyScript's env.abort import: a failed assertion
	// traps instead, and the guest imports http_handler alone.
	run(t, asc, entry, "-o", out, "--runtime", "incremental", "-O", "--use", "abort=")
	return out
}

// Text assembles the WebAssembly text file src into a module in t's
// temporary folder and returns its path.
func Text(t testing.TB, src string) string {
	t.Helper()
	wat2wasm := need(t, "wat2wasm")
	out := filepath.Join(t.TempDir(), "guest.wasm")
	run(t, wat2wasm, src, "-o", out)
	return out
}

func run(t testing.TB, name string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("%w after %s", err, buildTimeout)
		}
		t.Fatalf("%s %v: %v\n%s", filepath.Base(name), args, err, out.String())
	}
}

// Go builds the package in dir (a path from the repository's root) with
// the go command, GOOS=wasip1 GOARCH=wasm -buildmode=c-shared, into a
// module in t's temporary folder and returns its path. It needs nothing
// from npm.
func Go(t testing.TB, dir string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "guest.wasm")
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildmode=c-shared", "-o", out, "./"+filepath.ToSlash(dir))
	cmd.Dir = Root(t)
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", dir, err, b)
	}
	return out
}

// Root is the repository's root, found from the working directory up.
func Root(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "plugins", "examples")); err == nil {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				return dir
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no repository root above the working directory")
		}
		dir = parent
	}
}

// HelloAS builds plugins/examples/http-wasm-hello-as.
func HelloAS(t testing.TB) string {
	t.Helper()
	return AssemblyScript(t, filepath.Join(Root(t), "plugins", "examples", "http-wasm-hello-as", "assembly", "index.ts"))
}

// EchoWAT builds plugins/examples/http-wasm-wat.
func EchoWAT(t testing.TB) string {
	t.Helper()
	return Text(t, filepath.Join(Root(t), "plugins", "examples", "http-wasm-wat", "handler.wat"))
}
