// Package build turns a plugin folder into a native plugin (.so) that the
// running host can load, and keeps the results in a content-addressed cache.
//
// Go loads a plugin only when every package it shares with the host is
// identical: same toolchain, same code-generation flags, same module
// versions, same source file paths. So a build does not happen in the
// plugin's own module, where Go's version selection could differ from the
// host's, but inside a copy of the host module itself, carried in the
// binary (ksplugins.SDKSource): the plugin's package main is copied to a
// folder of that module named after the build key, the plugin's own
// requirements are added to the copy's go.mod, its own packages (if it has
// a go.mod) are provided by a replace directive, and the seed-era compat
// module likewise. The host's flags are repeated. Every content gets its
// own package path, hence its own plugin path, which Go requires to load a
// changed plugin into a process that loaded an older one.
//
// The cache key covers everything that decides the output: the plugin's
// files, the SDK source, the toolchain, and the host's settings and module
// versions. The same key is never built twice, even by concurrent callers.
package build

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"go/build"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/semver"

	"github.com/kubestellar/ksplugins/internal/manifest"
	"github.com/kubestellar/ksplugins/internal/toolchain"
	"github.com/kubestellar/ksplugins/sdk"
)

// DefaultTimeout bounds one build when Options.Timeout is zero.
const DefaultTimeout = 5 * time.Minute

// Options configures a Builder.
type Options struct {
	// CacheDir holds built artifacts and the SDK source. Required.
	CacheDir string
	// GoCmd is the go command; default "go" from PATH. Its version must be
	// the host's.
	GoCmd string
	// SDK is the SDK source to build against (ksplugins.SDKSource()).
	SDK fs.FS
	// Target is the host's build configuration (toolchain.Host()).
	Target toolchain.Target
	// Timeout bounds one build, including build.sh; default DefaultTimeout.
	Timeout time.Duration
	// Logger receives progress; default slog.Default().
	Logger *slog.Logger
}

// Builder builds plugin folders into native plugins. It is safe for
// concurrent use.
type Builder struct {
	opts Options

	mu       sync.Mutex
	sdk      *sdkTree
	inflight map[string]*call
	goOK     bool
	stats    Stats
}

// Stats counts the builder's work since it started.
type Stats struct {
	// Builds ran the compiler; Failures of them failed.
	Builds   uint64 `json:"builds"`
	Failures uint64 `json:"failures"`
	// Hits found the artifact already in the cache.
	Hits uint64 `json:"hits"`
	// Shared waited for an identical build already running.
	Shared uint64 `json:"shared"`
	// Tampered found a cache entry modified and rebuilt it.
	Tampered uint64 `json:"tampered"`
}

// Stats returns the builder's counters.
func (b *Builder) Stats() Stats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stats
}

func (b *Builder) count(f func(*Stats)) {
	b.mu.Lock()
	f(&b.stats)
	b.mu.Unlock()
}

type call struct {
	done chan struct{}
	art  *Artifact
	err  error
}

// Artifact is a built native plugin in the cache.
type Artifact struct {
	// Key is the digest of the build's inputs.
	Key string `json:"key"`
	// Path is the .so file.
	Path string `json:"path"`
	// Digest is "sha256:" and the hex SHA-256 of the .so file.
	Digest string `json:"digest"`
	// Manifest is the plugin's plugin.yaml.
	Manifest *sdk.PluginMetadata `json:"manifest"`
	// Warnings are the manifest's warnings.
	Warnings []manifest.Problem `json:"warnings,omitempty"`
	// BuiltAt is when the artifact was built; Duration how long it took.
	BuiltAt  time.Time     `json:"built_at"`
	Duration time.Duration `json:"duration"`
	// Cached reports that this call found the artifact already built.
	Cached bool `json:"-"`
}

// Error is a failed build, with the compiler's diagnostics.
type Error struct {
	// Dir is the plugin folder.
	Dir string
	// Diagnostics are the compiler's "file:line:col: message" lines.
	Diagnostics []string
	// Output is the build's whole output, trimmed.
	Output string
	// Err is the underlying failure.
	Err error
}

func (e *Error) Error() string {
	if len(e.Diagnostics) > 0 {
		return fmt.Sprintf("build %s: %s", e.Dir, strings.Join(e.Diagnostics, "; "))
	}
	return fmt.Sprintf("build %s: %v", e.Dir, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// New returns a Builder.
func New(opts Options) (*Builder, error) {
	if opts.CacheDir == "" {
		return nil, errors.New("build: CacheDir is required")
	}
	if opts.SDK == nil {
		return nil, errors.New("build: SDK source is required")
	}
	if opts.GoCmd == "" {
		opts.GoCmd = "go"
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	abs, err := filepath.Abs(opts.CacheDir)
	if err != nil {
		return nil, err
	}
	opts.CacheDir = abs
	return &Builder{opts: opts, inflight: map[string]*call{}}, nil
}

// Build builds the plugin folder dir, or returns the cached artifact for the
// same inputs.
func (b *Builder) Build(ctx context.Context, dir string) (*Artifact, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	md, warnings, err := manifest.ParseFile(filepath.Join(dir, "plugin.yaml"))
	if err != nil {
		return nil, err
	}
	tree, err := b.prepare(ctx)
	if err != nil {
		return nil, err
	}
	key, err := b.key(tree, dir)
	if err != nil {
		return nil, fmt.Errorf("build %s: hash inputs: %w", dir, err)
	}

	b.mu.Lock()
	if c, ok := b.inflight[key]; ok {
		b.stats.Shared++
		b.mu.Unlock()
		select {
		case <-c.done:
			return c.art, c.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	c := &call{done: make(chan struct{})}
	b.inflight[key] = c
	b.mu.Unlock()

	c.art, c.err = b.buildOnce(ctx, tree, dir, key, md, warnings)
	b.mu.Lock()
	delete(b.inflight, key)
	b.mu.Unlock()
	close(c.done)
	return c.art, c.err
}

// prepare writes the SDK tree and checks the go command once.
func (b *Builder) prepare(ctx context.Context) (*sdkTree, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.goOK {
		out, err := exec.CommandContext(ctx, b.opts.GoCmd, "env", "GOVERSION").Output()
		if err != nil {
			return nil, fmt.Errorf("build: run %s: %w", b.opts.GoCmd, err)
		}
		if v := strings.TrimSpace(string(out)); v != b.opts.Target.GoVersion {
			return nil, &toolchain.MismatchError{What: "go version", Plugin: v, Host: b.opts.Target.GoVersion}
		}
		b.goOK = true
	}
	if b.sdk == nil {
		tree, err := writeSDK(b.opts.CacheDir, b.opts.SDK)
		if err != nil {
			return nil, fmt.Errorf("build: %w", err)
		}
		b.sdk = tree
	}
	return b.sdk, nil
}

// key hashes the build's inputs.
func (b *Builder) key(tree *sdkTree, dir string) (string, error) {
	h := sha256.New()
	t := b.opts.Target
	fmt.Fprintf(h, "native\x00%s\x00%s\x00%s\x00", t.GoVersion, tree.Digest, strings.Join(b.opts.Target.BuildFlags(), " "))
	for _, kv := range sortedPairs(t.Settings) {
		fmt.Fprintf(h, "%s\x00", kv)
	}
	for _, kv := range sortedPairs(t.Deps) {
		fmt.Fprintf(h, "%s\x00", kv)
	}
	sum, err := TreeDigest(dir)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(h, "%s\x00", sum)
	return hex.EncodeToString(h.Sum(nil)), nil
}

// TreeDigest is "sha256:" and the digest of a plugin folder's files as the
// build sees them (hidden files and built plugins left out): the same files
// give the same digest on any machine, so it can be checksummed and signed.
func TreeDigest(dir string) (string, error) {
	sum, err := digestFS(pluginFS{os.DirFS(dir)})
	if err != nil {
		return "", fmt.Errorf("hash %s: %w", dir, err)
	}
	return "sha256:" + sum, nil
}

func sortedPairs(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// pluginFS hides what is not a build input: hidden files and folders (.git)
// and built plugins.
type pluginFS struct{ fs.FS }

func (p pluginFS) ReadDir(name string) ([]fs.DirEntry, error) {
	entries, err := fs.ReadDir(p.FS, name)
	var kept []fs.DirEntry
	for _, e := range entries {
		if skipped(e.Name()) || !(e.IsDir() || e.Type().IsRegular()) {
			continue
		}
		kept = append(kept, e)
	}
	return kept, err
}

func skipped(name string) bool {
	return strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".so")
}

// artifactDir is where the artifact with key lives.
func (b *Builder) artifactDir(key string) string {
	return filepath.Join(b.opts.CacheDir, "native", key[:2], key)
}

// TamperedError is a cache entry whose file no longer has its recorded digest.
type TamperedError struct {
	Key, Path, Want, Got string
}

func (e *TamperedError) Error() string {
	return fmt.Sprintf("cached artifact %s has digest %s, recorded %s: the cache was modified", e.Path, e.Got, e.Want)
}

// Lookup returns the cached artifact for key, if it is there and intact.
func (b *Builder) Lookup(key string) (*Artifact, error) {
	dir := b.artifactDir(key)
	data, err := os.ReadFile(filepath.Join(dir, "artifact.json"))
	if err != nil {
		return nil, err
	}
	var art Artifact
	if err := json.Unmarshal(data, &art); err != nil {
		return nil, fmt.Errorf("read artifact %s: %w", key, err)
	}
	art.Path = filepath.Join(dir, "plugin.so")
	digest, err := FileDigest(art.Path)
	if err != nil {
		return nil, err
	}
	if digest != art.Digest {
		return nil, &TamperedError{Key: key, Path: art.Path, Want: art.Digest, Got: digest}
	}
	art.Cached = true
	now := time.Now()
	_ = os.Chtimes(filepath.Join(dir, "artifact.json"), now, now) // least recently used goes first
	return &art, nil
}

func (b *Builder) buildOnce(ctx context.Context, tree *sdkTree, dir, key string, md *sdk.PluginMetadata, warnings []manifest.Problem) (*Artifact, error) {
	log := b.opts.Logger.With("plugin_id", md.ID, "dir", dir)
	if art, err := b.Lookup(key); err == nil {
		log.Debug("build cache hit", "key", key)
		b.count(func(s *Stats) { s.Hits++ })
		return art, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		log.Warn("build cache entry unusable; rebuilding", "key", key, "err", err)
		b.count(func(s *Stats) { s.Tampered++ })
		if err := os.RemoveAll(b.artifactDir(key)); err != nil {
			return nil, fmt.Errorf("build %s: remove bad cache entry: %w", dir, err)
		}
	}

	start := time.Now()
	log.Info("building native plugin", "key", key[:12])
	work := filepath.Join(b.opts.CacheDir, "work")
	if err := os.MkdirAll(work, 0o755); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(work, md.ID+"-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)

	pkgDir, notes, err := b.prepareModule(tmp, dir, tree, key)
	if err != nil {
		return nil, fmt.Errorf("build %s: %w", dir, err)
	}
	for _, n := range notes {
		log.Warn("plugin requirement differs from the host's", "note", n)
		warnings = append(warnings, manifest.Problem{Field: "go.mod", Message: n})
	}
	out := filepath.Join(tmp, "plugin.so")
	ctx, cancel := context.WithTimeout(ctx, b.opts.Timeout)
	defer cancel()
	b.count(func(s *Stats) { s.Builds++ })
	if err := b.compile(ctx, pkgDir, out); err != nil {
		b.count(func(s *Stats) { s.Failures++ })
		if be := (*Error)(nil); errors.As(err, &be) {
			be.Dir = dir
		}
		return nil, err
	}
	if err := b.opts.Target.CheckFile(out); err != nil {
		return nil, fmt.Errorf("build %s: built plugin does not match the host: %w", dir, err)
	}

	digest, err := FileDigest(out)
	if err != nil {
		return nil, err
	}
	art := &Artifact{Key: key, Digest: digest, Manifest: md, Warnings: warnings, BuiltAt: start.UTC(), Duration: time.Since(start)}
	if err := b.install(tmp, out, art); err != nil {
		return nil, fmt.Errorf("build %s: store artifact: %w", dir, err)
	}
	log.Info("built native plugin", "key", key[:12], "duration", art.Duration.Round(time.Millisecond))
	return art, nil
}

// install moves a finished build into the cache under its key.
func (b *Builder) install(tmp, so string, art *Artifact) error {
	stage := filepath.Join(tmp, "artifact")
	if err := os.Mkdir(stage, 0o755); err != nil {
		return err
	}
	if err := os.Rename(so, filepath.Join(stage, "plugin.so")); err != nil {
		return err
	}
	meta, err := json.MarshalIndent(art, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(stage, "artifact.json"), meta, 0o644); err != nil {
		return err
	}
	final := b.artifactDir(art.Key)
	if err := os.MkdirAll(filepath.Dir(final), 0o755); err != nil {
		return err
	}
	if err := os.Rename(stage, final); err != nil && !errors.Is(err, fs.ErrExist) && !errors.Is(err, syscall.ENOTEMPTY) {
		return err
	}
	art.Path = filepath.Join(final, "plugin.so")
	return nil
}

// prepareModule lays out the build: a copy of the host module under
// tmp/host with the plugin's package main in a folder named after the key,
// and the plugin's own module, if it has one, under tmp/module. It returns
// the package folder, and notes on plugin requirements that differ from
// the host's.
func (b *Builder) prepareModule(tmp, dir string, tree *sdkTree, key string) (string, []string, error) {
	hostDir := filepath.Join(tmp, "host")
	if err := os.CopyFS(hostDir, b.opts.SDK); err != nil {
		return "", nil, fmt.Errorf("copy SDK source: %w", err)
	}
	pkgDir := filepath.Join(hostDir, "plugin_"+key[:12])
	if err := os.CopyFS(pkgDir, mainPackageFS{pluginFS{os.DirFS(dir)}}); err != nil {
		return "", nil, fmt.Errorf("copy source: %w", err)
	}
	hostMod, err := os.ReadFile(filepath.Join(hostDir, "go.mod"))
	if err != nil {
		return "", nil, err
	}
	mf, err := modfile.Parse("go.mod", hostMod, nil)
	if err != nil {
		return "", nil, fmt.Errorf("SDK go.mod: %w", err)
	}
	if err := mf.AddRequire(compatModule, "v0.0.0"); err != nil {
		return "", nil, err
	}
	if err := mf.AddReplace(compatModule, "", tree.CompatDir, ""); err != nil {
		return "", nil, err
	}
	var notes []string
	sums, err := os.ReadFile(filepath.Join(hostDir, "go.sum"))
	if err != nil {
		return "", nil, err
	}
	pluginMod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return "", nil, err
	default:
		modDir := filepath.Join(tmp, "module")
		if err := os.CopyFS(modDir, pluginFS{os.DirFS(dir)}); err != nil {
			return "", nil, fmt.Errorf("copy source: %w", err)
		}
		if notes, err = mergeGoMod(mf, pluginMod, dir, modDir, tree.HostModule, b.opts.Target.Deps); err != nil {
			return "", nil, err
		}
		if pluginSums, err := os.ReadFile(filepath.Join(dir, "go.sum")); err == nil {
			sums = append(append(sums, '\n'), pluginSums...)
		}
	}
	mf.Cleanup()
	data, err := mf.Format()
	if err != nil {
		return "", nil, err
	}
	if err := os.WriteFile(filepath.Join(hostDir, "go.mod"), data, 0o644); err != nil {
		return "", nil, err
	}
	return pkgDir, notes, os.WriteFile(filepath.Join(hostDir, "go.sum"), sums, 0o644)
}

// mainPackageFS hides a plugin's go.mod and go.sum: its package main
// becomes a package of the build module.
type mainPackageFS struct{ fs.ReadDirFS }

func (m mainPackageFS) ReadDir(name string) ([]fs.DirEntry, error) {
	entries, err := m.ReadDirFS.ReadDir(name)
	if name != "." {
		return entries, err
	}
	return slices.DeleteFunc(entries, func(e fs.DirEntry) bool { return e.Name() == "go.mod" || e.Name() == "go.sum" }), err
}

// mergeGoMod adds a plugin's go.mod to the build module's: its
// requirements (the SDK's and compat's aside, which the build provides),
// its own module replaced by its copy in modDir so its packages resolve,
// and its replacements, relative ones anchored at its original folder.
// It returns a note for each shared module the plugin wants at a version
// other than the host's: a higher one will fail the build's check, by name.
func mergeGoMod(mf *modfile.File, data []byte, origDir, modDir, hostModule string, hostDeps map[string]string) ([]string, error) {
	pf, err := modfile.Parse("go.mod", data, nil)
	if err != nil {
		return nil, fmt.Errorf("go.mod: %w", err)
	}
	var notes []string
	required := map[string]string{}
	for _, r := range mf.Require {
		required[r.Mod.Path] = r.Mod.Version
	}
	for _, r := range pf.Require {
		p, v := r.Mod.Path, r.Mod.Version
		if p == hostModule || p == compatModule {
			continue
		}
		if hv := hostDeps[p]; semver.IsValid(hv) && semver.Compare(v, hv) > 0 {
			notes = append(notes, fmt.Sprintf("go.mod requires %s %s, newer than the host's %s", p, v, hv))
		}
		if have, ok := required[p]; ok && semver.Compare(have, v) >= 0 {
			continue
		}
		if err := mf.AddRequire(p, v); err != nil {
			return nil, err
		}
	}
	if pf.Module != nil && pf.Module.Mod.Path != hostModule {
		if err := mf.AddRequire(pf.Module.Mod.Path, "v0.0.0"); err != nil {
			return nil, err
		}
		if err := mf.AddReplace(pf.Module.Mod.Path, "", modDir, ""); err != nil {
			return nil, err
		}
	}
	for _, r := range pf.Replace {
		if r.Old.Path == hostModule || r.Old.Path == compatModule {
			continue
		}
		target := r.New.Path
		if r.New.Version == "" && !filepath.IsAbs(target) {
			target = filepath.Join(origDir, target)
		}
		if err := mf.AddReplace(r.Old.Path, r.Old.Version, target, r.New.Version); err != nil {
			return nil, err
		}
	}
	return notes, nil
}

var diagnostic = regexp.MustCompile(`^(\S+\.go):\d+(:\d+)?: .+`)

// compile runs build.sh when the plugin has one, else go build, in the
// plugin's package folder of the build module.
func (b *Builder) compile(ctx context.Context, pkgDir, out string) error {
	env := b.env(out)
	var cmd *exec.Cmd
	if _, err := os.Stat(filepath.Join(pkgDir, "build.sh")); err == nil {
		cmd = exec.CommandContext(ctx, "bash", "build.sh")
	} else {
		if err := checkMain(pkgDir, b.opts.Target); err != nil {
			return &Error{Err: err}
		}
		args := append([]string{"build", "-buildmode=plugin", "-o", out}, b.opts.Target.BuildFlags()...)
		cmd = exec.CommandContext(ctx, b.opts.GoCmd, append(args, ".")...)
	}
	cmd.Dir = pkgDir
	cmd.Env = env
	// Run in its own process group so a timeout stops everything it started.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var output strings.Builder
	cmd.Stdout = &limitedWriter{w: &output, n: 1 << 20}
	cmd.Stderr = cmd.Stdout
	err := cmd.Run()
	if ctx.Err() == context.DeadlineExceeded {
		err = fmt.Errorf("timed out after %s", b.opts.Timeout)
	}
	if err == nil {
		if _, statErr := os.Stat(out); statErr != nil {
			err = fmt.Errorf("build.sh finished without writing $PLUGIN_OUTPUT (%s)", out)
		}
	}
	if err != nil {
		text := strings.TrimSpace(output.String())
		be := &Error{Output: text, Err: err}
		for _, line := range strings.Split(text, "\n") {
			if diagnostic.MatchString(line) {
				be.Diagnostics = append(be.Diagnostics, strings.TrimPrefix(line, "./"))
			}
		}
		return be
	}
	return nil
}

// env is the build's whole environment: only what the go command needs,
// nothing else of the server's.
func (b *Builder) env(out string) []string {
	env := []string{
		"GOWORK=off",
		"GOFLAGS=-buildvcs=false -mod=readonly",
		"GOTOOLCHAIN=local",
		"PLUGIN_OUTPUT=" + out,
		"KSPLUGINS_BUILD_FLAGS=" + strings.Join(b.opts.Target.BuildFlags(), " "),
	}
	env = append(env, b.opts.Target.Env()...)
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "GOPATH", "GOCACHE", "GOMODCACHE", "GOPROXY", "GOSUMDB", "GONOSUMDB", "GOPRIVATE", "GONOPROXY", "GOINSECURE", "CC", "CXX", "GOROOT"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// checkMain makes sure dir holds a package main, honouring build
// constraints as the host's build would, so that a wrong package is a clear
// error rather than the linker's.
func checkMain(dir string, t toolchain.Target) error {
	ctx := build.Default
	ctx.CgoEnabled = true
	if tags := t.Settings["-tags"]; tags != "" {
		ctx.BuildTags = strings.Split(tags, ",")
	}
	pkg, err := ctx.ImportDir(dir, 0)
	if err != nil {
		return fmt.Errorf("read plugin package: %w", err)
	}
	if pkg.Name != "main" {
		return fmt.Errorf("plugin package is %q; a plugin must be package main with func NewPlugin", pkg.Name)
	}
	return nil
}

// FileDigest returns "sha256:" and the hex SHA-256 of a file.
func FileDigest(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// limitedWriter keeps the first n bytes and drops the rest, so a runaway
// build cannot fill memory.
type limitedWriter struct {
	w io.Writer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if l.n > 0 {
		k := min(len(p), l.n)
		l.n -= k
		if _, err := l.w.Write(p[:k]); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}
