package install

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"

	"github.com/kubestellar/ksplugins/internal/build"
	"github.com/kubestellar/ksplugins/internal/manifest"
	"github.com/kubestellar/ksplugins/internal/runtime/wasmmodule"
)

// prebuiltModule finds the module of a plugin folder that holds a
// WebAssembly module ready to run rather than Go source to build: one .wasm
// file at its top beside plugin.yaml, and no go.mod or .go file (a Go
// plugin's folder may hold a stray build of itself, which is not what it
// asks to run). ok is false for any other folder.
func prebuiltModule(dir string) (path string, ok bool, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", false, fmt.Errorf("reading plugin folder %s: %w", dir, err)
	}
	var modules []string
	for _, e := range entries {
		name := e.Name()
		switch {
		case name == "go.mod", strings.HasSuffix(name, ".go"):
			return "", false, nil
		case strings.HasSuffix(name, ".wasm") && e.Type().IsRegular():
			modules = append(modules, name)
		}
	}
	switch len(modules) {
	case 0:
		return "", false, nil
	case 1:
		return filepath.Join(dir, modules[0]), true, nil
	}
	return "", false, fmt.Errorf("%w: plugin folder %s holds %d WebAssembly modules (%s) and no Go source: it must hold one",
		ErrBadSource, dir, len(modules), strings.Join(modules, ", "))
}

// prebuiltTier is the tier of the module of a folder that holds one
// (prebuiltModule), for the building step to name; build reports any
// failure to read it.
func prebuiltTier(dir string) (apiv1.Tier, bool) {
	path, ok, err := prebuiltModule(dir)
	if err != nil || !ok {
		return "", false
	}
	tier, err := moduleTier(path)
	return tier, err == nil
}

// moduleTier is the tier whose interface the module at path exports; a
// module that exports none is a *wasmmodule.ABIError.
func moduleTier(path string) (apiv1.Tier, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	m, err := wasmmodule.Read(b)
	if err != nil {
		return "", fmt.Errorf("%w: %s: %v", ErrBadSource, path, err)
	}
	tier, err := m.Classify()
	if err != nil {
		return "", fmt.Errorf("load %s: %w", path, err)
	}
	return tier, nil
}

// fileTier is the tier of a prebuilt file: a .wasm file's by the
// interface it exports, native otherwise.
func fileTier(path string) (apiv1.Tier, error) {
	if strings.HasSuffix(path, ".wasm") {
		return moduleTier(path)
	}
	return apiv1.TierNative, nil
}

// build builds the plugin folder dir for tier, or, for a folder that holds
// a prebuilt module (prebuiltModule), takes the module as it is, in the
// tier whose interface it exports, with the folder's plugin.yaml.
func (i *Installer) build(ctx context.Context, dir string, tier apiv1.Tier, trust build.Trust) (*build.Artifact, error) {
	path, ok, err := prebuiltModule(dir)
	if err != nil {
		return nil, err
	}
	if !ok {
		return i.opts.Builder.Build(ctx, dir, tier, trust)
	}
	md, warnings, err := manifest.ParseFile(filepath.Join(dir, "plugin.yaml"))
	if err != nil {
		return nil, err
	}
	if tier, err = moduleTier(path); err != nil {
		return nil, err
	}
	digest, err := build.FileDigest(path)
	if err != nil {
		return nil, fmt.Errorf("hashing %s: %w", path, err)
	}
	return &build.Artifact{Tier: tier, Path: path, Digest: digest, Manifest: md, Warnings: warnings}, nil
}
