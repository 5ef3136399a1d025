// Package toolchain describes how the running binary was built, so that
// native plugins can be built to match it and checked against it before Go's
// own loader sees them.
//
// Go's plugin loader accepts a plugin only when it was built by the same
// toolchain, with the same flags that change code generation, and with
// identical copies of every package it shares with the host. When that does
// not hold, plugin.Open fails with a message that names a package but not
// the cause; Check finds the cause first and names it.
package toolchain

import (
	"debug/buildinfo"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
)

// Target is the build configuration a native plugin must share with the host.
type Target struct {
	// GoVersion is the toolchain version, as runtime.Version reports it.
	GoVersion string
	// Settings holds the build settings that change generated code:
	// -race, -trimpath, -tags, CGO_ENABLED, GOARCH, GOOS and GOAMD64-style
	// architecture levels.
	Settings map[string]string
	// Deps maps module path to the version (with "=> replacement") built in.
	Deps map[string]string
	// MainPath is the host's main module path.
	MainPath string
}

// settingKeys are the build settings that must agree between host and plugin.
var settingKeys = []string{"-race", "-msan", "-asan", "-trimpath", "-tags", "CGO_ENABLED", "GOARCH", "GOOS", "GOAMD64", "GOARM64", "GOEXPERIMENT"}

// Host returns the running binary's Target.
func Host() (Target, error) {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return Target{}, fmt.Errorf("read host build info: not available (binary built without module support)")
	}
	t := FromBuildInfo(bi)
	t.GoVersion = runtime.Version()
	return t, nil
}

// FromBuildInfo extracts a Target from a binary's or plugin's build info.
func FromBuildInfo(bi *debug.BuildInfo) Target {
	t := Target{
		GoVersion: bi.GoVersion,
		Settings:  map[string]string{},
		Deps:      map[string]string{},
		MainPath:  bi.Main.Path,
	}
	for _, s := range bi.Settings {
		for _, k := range settingKeys {
			if s.Key == k {
				t.Settings[k] = s.Value
			}
		}
	}
	for _, d := range bi.Deps {
		t.Deps[d.Path] = moduleVersion(d)
	}
	return t
}

// moduleVersion is the version of m that was built in. A replacement by
// the same module at another version (as the plugin builder pins shared
// modules) is just that version.
func moduleVersion(m *debug.Module) string {
	if m.Replace != nil {
		if m.Replace.Path == m.Path && m.Replace.Version != "" {
			return m.Replace.Version
		}
		return m.Version + " => " + moduleVersion(m.Replace)
	}
	if m.Path != "" && m.Version == "" {
		return "(devel)"
	}
	return m.Version
}

// Bool reports whether a boolean build setting such as -race is on.
func (t Target) Bool(key string) bool { return t.Settings[key] == "true" }

// BuildFlags returns the go build flags that reproduce the host's settings.
func (t Target) BuildFlags() []string {
	var flags []string
	if t.Bool("-trimpath") {
		flags = append(flags, "-trimpath")
	}
	for _, f := range []string{"-race", "-msan", "-asan"} {
		if t.Bool(f) {
			flags = append(flags, f)
		}
	}
	if tags := t.Settings["-tags"]; tags != "" {
		flags = append(flags, "-tags="+tags)
	}
	return flags
}

// Env returns the environment variables that reproduce the host's settings.
func (t Target) Env() []string {
	env := []string{"CGO_ENABLED=1"}
	for _, k := range []string{"GOARCH", "GOOS", "GOAMD64", "GOARM64", "GOEXPERIMENT"} {
		if v, ok := t.Settings[k]; ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// MismatchError says how a plugin's build differs from the host's.
type MismatchError struct {
	// What differs: "go version", a build setting such as "-race", or a
	// module path.
	What string
	// Plugin and Host are the two values; "" means absent.
	Plugin, Host string
}

func (e *MismatchError) Error() string {
	switch {
	case e.What == "go version":
		return fmt.Sprintf("plugin was built with %s, host with %s: rebuild the plugin with the host's toolchain", e.Plugin, e.Host)
	case strings.HasPrefix(e.What, "-") || strings.ToUpper(e.What) == e.What:
		return fmt.Sprintf("plugin was built with %s=%q, host with %s=%q: rebuild the plugin with the host's build flags", e.What, e.Plugin, e.What, e.Host)
	case e.Host == "":
		return fmt.Sprintf("plugin uses module %s %s, which the host does not have", e.What, e.Plugin)
	default:
		return fmt.Sprintf("plugin was built with module %s %s, host with %s: build the plugin against the host's version", e.What, e.Plugin, e.Host)
	}
}

// Check reports the differences between the host and a plugin that would
// make Go refuse to load the plugin: the toolchain or a build setting (the
// first found), or else every shared module whose versions differ, each a
// *MismatchError, joined. Modules the plugin has and the host lacks are its
// own business and pass.
func (t Target) Check(p Target) error {
	if p.GoVersion != t.GoVersion {
		return &MismatchError{What: "go version", Plugin: p.GoVersion, Host: t.GoVersion}
	}
	for _, k := range settingKeys {
		if p.Settings[k] != t.Settings[k] && !(k == "CGO_ENABLED" && p.Settings[k] == "") {
			return &MismatchError{What: k, Plugin: p.Settings[k], Host: t.Settings[k]}
		}
	}
	paths := make([]string, 0, len(p.Deps))
	for path := range p.Deps {
		paths = append(paths, path)
	}
	sort.Strings(paths)
	var errs []error
	for _, path := range paths {
		hv, shared := t.Deps[path]
		if path == t.MainPath {
			hv, shared = "(devel)", true
		}
		if shared && hv != p.Deps[path] {
			errs = append(errs, &MismatchError{What: path, Plugin: p.Deps[path], Host: hv})
		}
	}
	return errors.Join(errs...)
}

// CheckFile reads the build info of a binary or plugin file and checks it.
func (t Target) CheckFile(path string) error {
	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read build info of %s: %w", path, err)
	}
	return t.Check(FromBuildInfo(bi))
}
