package build

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/modfile"

	"github.com/kubestellar/ksplugins/internal/policy"
	"github.com/kubestellar/ksplugins/internal/toolchain"
)

func TestCheckReplace(t *testing.T) {
	for _, c := range []struct {
		old, target, version string
		refused              bool
	}{
		{"example.com/lib", "./lib", "", false},
		{"example.com/lib", "lib/sub", "", false},
		{"example.com/lib", "./lib/../other", "", false},
		{"example.com/fork", "example.com/other", "v1.2.3", false},
		{"example.com/x", "../../../../root/.ssh", "", true},
		{"example.com/x", "..", "", true},
		{"example.com/x", "./lib/../../up", "", true},
		{"example.com/x", "/etc", "", true},
		{"example.com/x", `..\windows`, "", true},
	} {
		err := checkReplace(c.old, "", c.target, c.version)
		var refusal *policy.Refusal
		if got := errors.As(err, &refusal); got != c.refused {
			t.Errorf("replace %s => %s %s: refused = %v (%v); want %v", c.old, c.target, c.version, got, err, c.refused)
			continue
		}
		if c.refused && (refusal.Rule != RuleReplace || !strings.Contains(refusal.Message, "go.mod: replace "+c.old+" => "+c.target)) {
			t.Errorf("refusal %q does not name the go.mod line", err)
		}
	}
}

func TestMergeGoModRefusesReplaceOutside(t *testing.T) {
	for _, c := range []struct {
		name, replace string
		outside       bool
		want          string // a line of the result; "" for a refusal
	}{
		{"inside, untrusted: taken from the copy", "./lib", false, "example.com/lib => /work/module/lib"},
		{"outside, untrusted", "../../../../root/.ssh", false, ""},
		{"outside, local folder", "../shared", true, "example.com/lib => /src/shared"},
	} {
		t.Run(c.name, func(t *testing.T) {
			host := parseMod(t, "module github.com/kubestellar/ksplugins\n\ngo 1.26.0\n")
			plugin := "module example.com/p\n\ngo 1.26.0\n\nrequire example.com/lib v0.0.0\n\nreplace example.com/lib => " + c.replace + "\n"
			_, err := mergeGoMod(host, []byte(plugin), "/src/p", "/work/module", "github.com/kubestellar/ksplugins", nil, c.outside)
			if c.want == "" {
				var refusal *policy.Refusal
				if !errors.As(err, &refusal) || refusal.Rule != RuleReplace {
					t.Fatalf("err = %v; want a %s refusal", err, RuleReplace)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			out, _ := host.Format()
			if !strings.Contains(string(out), c.want) {
				t.Fatalf("result lacks %q:\n%s", c.want, out)
			}
		})
	}
}

func TestOutsideInclude(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		body    string
		outside string
	}{
		{"#include \"textflag.h\"\nTEXT ·f(SB),0,$0\n", ""},
		{"#include \"sub/defs.h\"\n", ""},
		{"#include \"/etc/hostname\"\n", "/etc/hostname"},
		{"  #  include <../../../etc/passwd>\n", "../../../etc/passwd"},
		{"// #include \"/etc/hostname\" in a comment is not an include\n", ""},
	} {
		file := filepath.Join(dir, "f.s")
		if err := os.WriteFile(file, []byte(c.body), 0o644); err != nil {
			t.Fatal(err)
		}
		got, ok := outsideInclude(file)
		if got != c.outside || ok != (c.outside != "") {
			t.Errorf("outsideInclude(%q) = %q, %v; want %q", c.body, got, ok, c.outside)
		}
	}
}

func TestRedact(t *testing.T) {
	allowed := []string{"/cache/work/x", "/usr/local/go"}
	for _, c := range []struct {
		name, in, want string
	}{
		{"own files kept", "./main.go:3:2: undefined: x\n/cache/work/x/host/p/main.go:1: y", "./main.go:3:2: undefined: x\n/cache/work/x/host/p/main.go:1: y"},
		{"assembler naming a host file", "# p\n/etc/hostname:1: unrecognized instruction \"vm\"\nasm: assembly of ./f.s failed",
			"# p\n" + withheld + "\nasm: assembly of ./f.s failed"},
		{"C compiler quoting the host file", "In file included from ./main.go:3:\n/etc/hostname:1:3: error: expected ';'\n    1 | secret-host\n      |   ^\nnext line",
			"In file included from ./main.go:3:\n" + withheld + "\nnext line"},
		{"a path with the allowed folder as a prefix only", "/usr/local/gopher/secret:1: x", withheld},
		{"toolchain files kept", "/usr/local/go/src/fmt/print.go:1: z", "/usr/local/go/src/fmt/print.go:1: z"},
		{"quoted path", `open "/root/.ssh/id_rsa": permission denied`, withheld},
	} {
		if got := redact(c.in, allowed); got != c.want {
			t.Errorf("%s: redact =\n%s\nwant\n%s", c.name, got, c.want)
		}
	}
}

func TestTrustString(t *testing.T) {
	for _, c := range []struct {
		trust Trust
		want  string
	}{{0, "none"}, {AllowCgo, "cgo"}, {FullTrust, "cgo,script,outside"}} {
		if got := c.trust.String(); got != c.want {
			t.Errorf("%d: %q; want %q", c.trust, got, c.want)
		}
	}
}

// TestEnvLeavesSecretsOut checks that a build sees the go command's
// variables and none of the server's others.
func TestEnvLeavesSecretsOut(t *testing.T) {
	t.Setenv("KSPLUGINS_TOKEN", "admin-secret")
	t.Setenv("GITHUB_TOKEN", "gh-secret")
	t.Setenv("GOPROXY", "off")
	b := &Builder{opts: Options{Target: toolchain.Target{Settings: map[string]string{}}}}
	env := strings.Join(b.env("/out/plugin.so"), "\n")
	for _, secret := range []string{"admin-secret", "gh-secret", "KSPLUGINS_TOKEN", "GITHUB_TOKEN"} {
		if strings.Contains(env, secret) {
			t.Errorf("build environment has %q:\n%s", secret, env)
		}
	}
	for _, kept := range []string{"GOPROXY=off", "PLUGIN_OUTPUT=/out/plugin.so", "GOFLAGS=", "PATH="} {
		if !strings.Contains(env, kept) {
			t.Errorf("build environment lacks %q:\n%s", kept, env)
		}
	}
}

func parseMod(t *testing.T, text string) *modfile.File {
	t.Helper()
	f, err := modfile.Parse("go.mod", []byte(text), nil)
	if err != nil {
		t.Fatal(err)
	}
	return f
}
