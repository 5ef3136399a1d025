package install

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"

	"github.com/kubestellar/ksplugins/internal/build"
	"github.com/kubestellar/ksplugins/internal/config"
	"github.com/kubestellar/ksplugins/internal/runtime"
	"github.com/kubestellar/ksplugins/internal/store"
	"github.com/kubestellar/ksplugins/sdk"
)

func TestLocalSource(t *testing.T) {
	dir := t.TempDir()
	folder := filepath.Join(dir, "plugin")
	bare := filepath.Join(dir, "bare")
	for _, d := range []string{folder, bare} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{
		filepath.Join(folder, "plugin.yaml"): "id: x\n",
		filepath.Join(dir, "p.so"):           "",
		filepath.Join(dir, "p.wasm"):         "",
		filepath.Join(dir, "p.txt"):          "",
	}
	for name, content := range files {
		if err := os.WriteFile(name, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name, source string
		kind         apiv1.SourceKind // "" when refused
	}{
		{"folder with plugin.yaml", folder, apiv1.SourceFolder},
		{"folder without plugin.yaml", bare, ""},
		{"native file", filepath.Join(dir, "p.so"), apiv1.SourceFile},
		{"sandboxed file", filepath.Join(dir, "p.wasm"), apiv1.SourceFile},
		{"other file", filepath.Join(dir, "p.txt"), ""},
		{"missing", filepath.Join(dir, "nope"), ""},
		{"empty", "  ", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, err := localSource(Request{LoadRequest: apiv1.LoadRequest{Source: tt.source, Version: "1.0.0"}})
			if tt.kind == "" {
				if !errors.Is(err, ErrBadSource) {
					t.Fatalf("err = %v; want ErrBadSource", err)
				}
				return
			}
			if err != nil || src.Kind != tt.kind || !filepath.IsAbs(src.Location) || src.Version != "1.0.0" {
				t.Fatalf("localSource = %+v, %v; want kind %s, an absolute location and the version", src, err, tt.kind)
			}
		})
	}
}

func TestIsRepository(t *testing.T) {
	tests := map[string]bool{
		"https://github.com/o/r":  true,
		"github.com/o/r":          true,
		"http://git.local/o/r":    true,
		"./plugins/hello":         false,
		"/abs/hello.so":           false,
		"gitlab.com/o/r":          false, // a path, unless it carries a scheme
		"plugins/github.com/o/rr": false,
	}
	for s, want := range tests {
		if got := isRepository(s); got != want {
			t.Errorf("isRepository(%q) = %v; want %v", s, got, want)
		}
	}
}

func TestBuildTrust(t *testing.T) {
	tests := []struct {
		mode string
		kind apiv1.SourceKind
		want build.Trust
	}{
		{config.ModeNormal, apiv1.SourceFolder, build.FullTrust},
		{config.ModePermissive, apiv1.SourceFolder, build.FullTrust},
		{config.ModeStrict, apiv1.SourceFolder, build.AllowCgo | build.AllowOutside},
		{config.ModePermissive, apiv1.SourceGit, build.AllowCgo},
		{config.ModePermissive, apiv1.SourceUpload, build.AllowCgo},
		{config.ModeNormal, apiv1.SourceGit, 0},
		{config.ModeStrict, apiv1.SourceUpload, 0},
	}
	for _, tt := range tests {
		if got := buildTrust(tt.mode, tt.kind); got != tt.want {
			t.Errorf("buildTrust(%s, %s) = %v; want %v", tt.mode, tt.kind, got, tt.want)
		}
	}
}

func TestTierFor(t *testing.T) {
	asks := &sdk.PluginMetadata{Security: sdk.SecurityConfig{Sandboxed: true}}
	plain := &sdk.PluginMetadata{}
	tests := []struct {
		name     string
		sys      config.System
		md       *sdk.PluginMetadata
		signedBy string
		want     apiv1.Tier
	}{
		{"normal", config.System{SecurityMode: config.ModeNormal}, plain, "", apiv1.TierNative},
		{"manifest asks", config.System{SecurityMode: config.ModeNormal}, asks, "", apiv1.TierSandboxed},
		{"sandbox everything", config.System{SecurityMode: config.ModeNormal, EnableSandboxing: true}, plain, "k", apiv1.TierSandboxed},
		{"strict unsigned", config.System{SecurityMode: config.ModeStrict}, plain, "", apiv1.TierSandboxed},
		{"strict signed", config.System{SecurityMode: config.ModeStrict}, plain, "k", apiv1.TierNative},
		{"strict signed, manifest asks", config.System{SecurityMode: config.ModeStrict}, asks, "k", apiv1.TierSandboxed},
		{"no manifest", config.System{SecurityMode: config.ModeNormal}, nil, "", apiv1.TierNative},
	}
	for _, tt := range tests {
		if got := tierFor(&tt.sys, tt.md, tt.signedBy); got != tt.want {
			t.Errorf("%s: tierFor = %s; want %s", tt.name, got, tt.want)
		}
	}
}

func TestCheckVersion(t *testing.T) {
	tests := []struct {
		name    string
		src     apiv1.Source
		version string
		ok      bool
	}{
		{"folder, same", apiv1.Source{Kind: apiv1.SourceFolder, Version: "1.2.0"}, "1.2.0", true},
		{"folder, v prefix", apiv1.Source{Kind: apiv1.SourceFolder, Version: "v1.2.0"}, "1.2.0", true},
		{"file, other", apiv1.Source{Kind: apiv1.SourceFile, Version: "1.2.0"}, "1.3.0", false},
		{"folder, none asked", apiv1.Source{Kind: apiv1.SourceFolder}, "1.3.0", true},
		{"repository: the version is a ref", apiv1.Source{Kind: apiv1.SourceGit, Version: "main"}, "1.3.0", true},
	}
	for _, tt := range tests {
		err := checkVersion(tt.src, tt.version)
		if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrBadSource)) {
			t.Errorf("%s: checkVersion = %v; want ok=%v", tt.name, err, tt.ok)
		}
	}
}

func TestMergeDeclared(t *testing.T) {
	reported := sdk.PluginMetadata{ID: "p", Name: "reported", Configuration: map[string]any{"a": 1}}
	tests := []struct {
		name     string
		declared sdk.PluginMetadata
		wantName string
		wantConf map[string]any
	}{
		{"declared wins", sdk.PluginMetadata{ID: "p", Name: "declared", Configuration: map[string]any{"b": 2}}, "declared", map[string]any{"b": 2}},
		{"configuration from the code when none declared", sdk.PluginMetadata{ID: "p", Name: "declared"}, "declared", map[string]any{"a": 1}},
	}
	for _, tt := range tests {
		m := mergeDeclared(reported, &tt.declared)
		if m.Name != tt.wantName || len(m.Configuration) != 1 || m.Configuration["a"] != tt.wantConf["a"] || m.Configuration["b"] != tt.wantConf["b"] {
			t.Errorf("%s: merged %+v", tt.name, m)
		}
	}
}

// pinningRuntime keeps its own copies of artifacts, as the native tier does.
type pinningRuntime struct{ pinned map[string]string }

func (pinningRuntime) Tier() apiv1.Tier { return apiv1.TierNative }
func (pinningRuntime) Open(context.Context, apiv1.Artifact, runtime.Spec) (runtime.Instance, error) {
	return nil, errors.New("not opened in this test")
}
func (r pinningRuntime) Pinned(digest string) (string, bool) { p, ok := r.pinned[digest]; return p, ok }

func TestStoredArtifact(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) (string, string) {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		d, err := build.FileDigest(path)
		if err != nil {
			t.Fatal(err)
		}
		return path, d
	}
	original, digest := write("p.so", "code")
	pinned, _ := write("pinned.so", "code")
	changed, _ := write("changed.so", "other code")
	rt := pinningRuntime{pinned: map[string]string{digest: pinned}}
	tests := []struct {
		name     string
		runtimes []runtime.Runtime
		rec      store.Plugin
		want     string // "" when not found
	}{
		{"the runtime's copy first", []runtime.Runtime{rt}, store.Plugin{ID: "p", ArtifactPath: original, ArtifactDigest: digest}, pinned},
		{"the recorded file", nil, store.Plugin{ID: "p", ArtifactPath: original, ArtifactDigest: digest}, original},
		{"a changed file is not the pinned code", nil, store.Plugin{ID: "p", ArtifactPath: changed, ArtifactDigest: digest}, ""},
		{"pinned copies of another tier are not looked at", []runtime.Runtime{rt}, store.Plugin{ID: "p", Tier: "sandboxed", ArtifactPath: changed, ArtifactDigest: digest}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			i := New(Options{Runtimes: tt.runtimes})
			art, _, err := i.storedArtifact(context.Background(), tt.rec)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("found %+v; want an error", art)
				}
				return
			}
			if err != nil || art.Path != tt.want || art.Digest != digest || !art.Cached {
				t.Fatalf("storedArtifact = %+v, %v; want %s", art, err, tt.want)
			}
		})
	}
}

// TestOpenWithoutRuntime refuses an artifact of a tier this server has no
// runtime for, naming the tier.
func TestOpenWithoutRuntime(t *testing.T) {
	sys := config.DefaultSystem()
	i := New(Options{System: func() *config.System { return &sys }})
	_, err := i.open(context.Background(), apiv1.Source{Location: "/x/p.wasm"}, apiv1.Artifact{Tier: apiv1.TierSandboxed}, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "sandboxed tier is not available") {
		t.Fatalf("err = %v", err)
	}
}

// sharedStore is a store shared with other servers, as far as artifacts
// go: what they published, by digest.
type sharedStore struct {
	store.Store
	artifacts map[string][]byte
}

func (s sharedStore) HasArtifact(_ context.Context, digest string) (bool, error) {
	_, ok := s.artifacts[digest]
	return ok, nil
}

func (s sharedStore) PutArtifact(_ context.Context, digest string, r io.Reader) error {
	b, err := io.ReadAll(r)
	s.artifacts[digest] = b
	return err
}

func (s sharedStore) OpenArtifact(_ context.Context, digest string) (io.ReadCloser, error) {
	b, ok := s.artifacts[digest]
	if !ok {
		return nil, store.ErrNotFound
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

// TestSharedArtifact: an artifact published by one server is fetched by
// another into its own folder, ahead of the path the first recorded; one
// whose content does not have the recorded digest is refused and leaves no
// file under the artifact's name.
func TestSharedArtifact(t *testing.T) {
	dir := t.TempDir()
	built := filepath.Join(dir, "built", "plugin.so")
	if err := os.MkdirAll(filepath.Dir(built), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(built, []byte("code"), 0o600); err != nil {
		t.Fatal(err)
	}
	digest, err := build.FileDigest(built)
	if err != nil {
		t.Fatal(err)
	}
	shared := sharedStore{artifacts: map[string][]byte{}}
	publisher := New(Options{Store: shared})
	if err := publisher.Publish(context.Background(), apiv1.Artifact{Path: built, Digest: digest}); err != nil {
		t.Fatal(err)
	}
	fetchDir := filepath.Join(dir, "fetched")
	i := New(Options{Store: shared, FetchDir: fetchDir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	rec := store.Plugin{ID: "p", ArtifactPath: built, ArtifactDigest: digest}
	art, _, err := i.storedArtifact(context.Background(), rec)
	if err != nil || !strings.HasPrefix(art.Path, fetchDir) || art.Digest != digest {
		t.Fatalf("storedArtifact = %+v, %v; want the shared copy under %s", art, err, fetchDir)
	}
	if got, err := build.FileDigest(art.Path); err != nil || got != digest {
		t.Fatalf("the fetched copy has digest %s, %v", got, err)
	}

	shared.artifacts[digest] = []byte("tampered")
	if err := os.RemoveAll(fetchDir); err != nil {
		t.Fatal(err)
	}
	rec.ArtifactPath = filepath.Join(dir, "elsewhere.so")
	if art, _, err := i.storedArtifact(context.Background(), rec); err == nil || !strings.Contains(err.Error(), "digest") {
		t.Fatalf("a tampered shared artifact: %+v, %v; want a refusal naming its digest", art, err)
	}
	if names, _ := filepath.Glob(filepath.Join(fetchDir, "*", "*", "*")); len(names) != 0 {
		t.Fatalf("a refused artifact left %v", names)
	}
}
