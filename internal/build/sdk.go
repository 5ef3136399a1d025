package build

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"

	"golang.org/x/mod/modfile"
)

const (
	// compatModule is the seed-era module plugins may import.
	compatModule = "github.com/kubestellar/ui"
	// compatDir is where the compat package's source lives in the SDK tree.
	compatDir = "sdk/compat/dynamic_plugins"
)

// sdkTree is what every build of one SDK source shares: its digest, part
// of every build key, and the compat module written out once.
type sdkTree struct {
	// Digest identifies the source; it is part of every build key.
	Digest string
	// CompatDir holds the generated module github.com/kubestellar/ui.
	CompatDir string
	// HostModule is the host's module path and GoVersion its go line.
	HostModule, GoVersion string
}

// digestFS hashes every file of fsys, names and contents, in walk order
// (lexical, so stable).
func digestFS(fsys fs.FS) (string, error) {
	h := sha256.New()
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", p, len(data))
		h.Write(data)
		return nil
	})
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// writeSDK writes src under root/sdk/<digest> unless it is already there.
// It writes to a temporary folder and renames it, so a reader never sees a
// half-written tree.
func writeSDK(root string, src fs.FS) (*sdkTree, error) {
	digest, err := digestFS(src)
	if err != nil {
		return nil, fmt.Errorf("hash SDK source: %w", err)
	}
	gomod, err := fs.ReadFile(src, "go.mod")
	if err != nil {
		return nil, fmt.Errorf("read SDK go.mod: %w", err)
	}
	mf, err := modfile.ParseLax("go.mod", gomod, nil)
	if err != nil || mf.Module == nil || mf.Go == nil {
		return nil, fmt.Errorf("parse SDK go.mod: %v", err)
	}
	dir := filepath.Join(root, "sdk", digest[:16])
	tree := &sdkTree{
		Digest:     digest,
		CompatDir:  filepath.Join(dir, "compat"),
		HostModule: mf.Module.Mod.Path,
		GoVersion:  mf.Go.Version,
	}
	err = installTree(dir, func(tmp string) error {
		// No requirement on the host module: the build module is the host
		// module, so compat's imports of it resolve to the build's own
		// packages.
		compatGoMod := fmt.Sprintf("module %s\n\ngo %s\n", compatModule, tree.GoVersion)
		compatPkg, err := fs.Sub(src, compatDir)
		if err != nil {
			return err
		}
		if err := os.CopyFS(filepath.Join(tmp, "compat", path.Base(compatDir)), compatPkg); err != nil {
			return fmt.Errorf("write compat source: %w", err)
		}
		return os.WriteFile(filepath.Join(tmp, "compat", "go.mod"), []byte(compatGoMod), 0o644)
	})
	if err != nil {
		return nil, fmt.Errorf("install SDK source: %w", err)
	}
	return tree, nil
}

// WriteModule writes src, the SDK source a binary carries (go.mod, go.sum
// and sdk/), as a module under root/<digest>, unless it is there already,
// and returns that folder. A plugin written outside a checkout of this
// repository replaces the SDK module with it, so that it builds and tests
// against exactly the SDK of the binary that made it, with nothing to
// fetch.
func WriteModule(root string, src fs.FS) (string, error) {
	digest, err := digestFS(src)
	if err != nil {
		return "", fmt.Errorf("hash SDK source: %w", err)
	}
	dir := filepath.Join(root, digest[:16])
	if err := installTree(dir, func(tmp string) error { return os.CopyFS(tmp, src) }); err != nil {
		return "", fmt.Errorf("write SDK module: %w", err)
	}
	return dir, nil
}

// installTree makes dir, unless it exists, by filling a temporary folder
// beside it and renaming that: a reader never sees a half-written tree,
// and of two processes writing the same tree the second keeps the first's.
func installTree(dir string, fill func(tmp string) error) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".tmp-sdk-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := fill(tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, dir); err != nil {
		if _, statErr := os.Stat(dir); statErr == nil {
			return nil // another process wrote the same tree first
		}
		return err
	}
	return nil
}
