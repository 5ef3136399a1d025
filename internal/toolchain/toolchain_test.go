package toolchain

import (
	"errors"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	host := Target{
		GoVersion: "go1.26.8",
		Settings:  map[string]string{"-race": "true", "-trimpath": "true", "CGO_ENABLED": "1", "GOARCH": "amd64"},
		Deps:      map[string]string{"github.com/gin-gonic/gin": "v1.12.0", "golang.org/x/net": "v0.51.0"},
		MainPath:  "github.com/kubestellar/ksplugins",
	}
	plugin := func(mod func(*Target)) Target {
		p := Target{GoVersion: host.GoVersion, Settings: map[string]string{}, Deps: map[string]string{}}
		for k, v := range host.Settings {
			p.Settings[k] = v
		}
		for k, v := range host.Deps {
			p.Deps[k] = v
		}
		p.Deps[host.MainPath] = "(devel)"
		if mod != nil {
			mod(&p)
		}
		return p
	}
	tests := []struct {
		name   string
		p      Target
		what   []string // the mismatches, in order; none means compatible
		phrase string
	}{
		{name: "identical", p: plugin(nil)},
		{name: "plugin-only module", p: plugin(func(p *Target) { p.Deps["k8s.io/client-go"] = "v0.37.2" })},
		{name: "toolchain", p: plugin(func(p *Target) { p.GoVersion = "go1.25.1" }), what: []string{"go version"}, phrase: "go1.25.1"},
		{name: "race", p: plugin(func(p *Target) { p.Settings["-race"] = "false" }), what: []string{"-race"}, phrase: "-race"},
		{name: "trimpath missing", p: plugin(func(p *Target) { delete(p.Settings, "-trimpath") }), what: []string{"-trimpath"}},
		{name: "tags", p: plugin(func(p *Target) { p.Settings["-tags"] = "netgo" }), what: []string{"-tags"}},
		{name: "cgo unset is fine", p: plugin(func(p *Target) { delete(p.Settings, "CGO_ENABLED") })},
		{name: "one module", p: plugin(func(p *Target) { p.Deps["github.com/gin-gonic/gin"] = "v1.11.0" }),
			what: []string{"github.com/gin-gonic/gin"}, phrase: "github.com/gin-gonic/gin v1.11.0, host with v1.12.0"},
		{name: "every module", p: plugin(func(p *Target) {
			p.Deps["github.com/gin-gonic/gin"] = "v1.11.0"
			p.Deps["golang.org/x/net"] = "v0.40.0"
		}), what: []string{"github.com/gin-gonic/gin", "golang.org/x/net"}},
		{name: "replaced module", p: plugin(func(p *Target) { p.Deps["golang.org/x/net"] = "v0.51.0 => ../net (devel)" }), what: []string{"golang.org/x/net"}},
		{name: "host module from elsewhere", p: plugin(func(p *Target) { p.Deps[host.MainPath] = "v0.1.0" }), what: []string{host.MainPath}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := host.Check(tt.p)
			var got []string
			for _, e := range unjoin(err) {
				var m *MismatchError
				if !errors.As(e, &m) {
					t.Fatalf("error %v is not a *MismatchError", e)
				}
				got = append(got, m.What)
			}
			if strings.Join(got, ",") != strings.Join(tt.what, ",") {
				t.Fatalf("mismatches = %v; want %v (err: %v)", got, tt.what, err)
			}
			if tt.phrase != "" && !strings.Contains(err.Error(), tt.phrase) {
				t.Fatalf("error %q does not say %q", err, tt.phrase)
			}
		})
	}
}

func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func TestBuildFlags(t *testing.T) {
	tg := Target{Settings: map[string]string{"-race": "true", "-trimpath": "true", "-tags": "a,b"}}
	if got := strings.Join(tg.BuildFlags(), " "); got != "-trimpath -race -tags=a,b" {
		t.Fatalf("BuildFlags = %q", got)
	}
	if got := strings.Join((Target{Settings: map[string]string{}}).BuildFlags(), " "); got != "" {
		t.Fatalf("BuildFlags of a plain build = %q", got)
	}
}

func TestHostReadsOwnBuild(t *testing.T) {
	tg, err := Host()
	if err != nil {
		t.Fatal(err)
	}
	if tg.GoVersion == "" || tg.MainPath != "github.com/kubestellar/ksplugins" {
		t.Fatalf("Host() = %+v", tg)
	}
}
