package build

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/kubestellar/ksplugins/internal/policy"
)

// Trust is what a build of one source may do beyond compiling the Go files
// of the plugin's own folder, as a set of Allow* flags. A compiler reads
// what it is told to read, and a build runs as the server's user, so a
// source nobody on this machine vouched for (an upload, a repository) must
// not be able to name a file outside its folder or run a command. The zero
// value is that least trusted build.
type Trust uint8

// The things a build may be trusted with.
const (
	// AllowCgo lets the plugin's packages, and modules it brings in, use
	// cgo: C code compiled by the host's C compiler, which can #include any
	// file the server can read.
	AllowCgo Trust = 1 << iota
	// AllowScript lets a native build run the plugin's build.sh instead of
	// go build: any command, as the server's user.
	AllowScript
	// AllowOutside lets go.mod replace directives and assembly #include
	// lines name folders and files outside the plugin's folder (a
	// monorepo's shared module), and shows build output whole, whatever
	// files it names.
	AllowOutside

	// FullTrust is a build of a folder on this machine named by its owner:
	// everything the go command can do.
	FullTrust = AllowCgo | AllowScript | AllowOutside
)

// Allows reports whether t includes all of what.
func (t Trust) Allows(what Trust) bool { return t&what == what }

// String lists what t allows, for build keys and logs.
func (t Trust) String() string {
	var parts []string
	for _, f := range []struct {
		flag Trust
		name string
	}{{AllowCgo, "cgo"}, {AllowScript, "script"}, {AllowOutside, "outside"}} {
		if t.Allows(f.flag) {
			parts = append(parts, f.name)
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ",")
}

// The rules a build of an untrusted source can be refused by, as the Rule
// of a *policy.Refusal.
const (
	// RuleCgo refuses cgo in a build that may not use it.
	RuleCgo = "build_cgo"
	// RuleReplace refuses a go.mod replace directive that leaves the
	// plugin's folder.
	RuleReplace = "build_replace"
	// RuleInclude refuses an assembly #include of a file outside its package.
	RuleInclude = "build_include"
)

// checkReplace refuses a replace directive of a plugin's go.mod whose
// folder is not inside the plugin's own folder. A version replacement
// (another module path at a version) comes from the module proxy like any
// requirement and is not a path on this machine.
func checkReplace(old, oldVersion, target, version string) error {
	if version != "" {
		return nil
	}
	clean := filepath.Clean(target)
	if filepath.IsAbs(target) || clean == ".." || strings.HasPrefix(clean, "../") || strings.Contains(target, `\`) {
		from := old
		if oldVersion != "" {
			from += " " + oldVersion
		}
		return &policy.Refusal{Rule: RuleReplace, Message: fmt.Sprintf(
			"go.mod: replace %s => %s points outside the plugin's folder; an uploaded or repository plugin may replace a module only with a folder inside its own tree", from, target)}
	}
	return nil
}

// listedPackage is the part of `go list -json` output the checks read.
type listedPackage struct {
	ImportPath string
	Dir        string
	Standard   bool
	Module     *struct {
		Path, Version string
		Replace       *struct{ Path, Version string }
	}
	CgoFiles, SFiles, HFiles []string
}

// include is an assembly or C header #include line.
var include = regexp.MustCompile(`^\s*#\s*include\s*[<"]([^">]+)[">]`)

// layout is where a build's parts are, to tell the plugin's own and
// host-vetted packages from the rest.
type layout struct {
	work     string // the build's work folder
	pkgDir   string // the plugin's package main
	modDir   string // the plugin's own module, if it has one
	hostDir  string // the build module (the host's source)
	compat   string // the compat module
	hostDeps map[string]string
}

// within reports whether path is dir or inside it.
func within(path, dir string) bool {
	if dir == "" {
		return false
	}
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../") && !filepath.IsAbs(rel)
}

// vetted reports whether a package's code is the host's: the standard
// library, the host's own source, or a module at exactly the version built
// into the host. Everything else is the plugin's, or came with its go.mod.
func (l layout) vetted(p listedPackage) bool {
	switch {
	case p.Standard:
		return true
	case within(p.Dir, l.pkgDir), within(p.Dir, l.modDir):
		return false
	case within(p.Dir, l.hostDir), within(p.Dir, l.compat):
		return true
	case p.Module == nil || p.Module.Replace != nil:
		return false
	}
	return l.hostDeps[p.Module.Path] == p.Module.Version
}

// name is how a refusal names a file of package p: relative to the plugin
// for its own files, module-qualified for a dependency's.
func (l layout) name(p listedPackage, file string) string {
	for _, dir := range []string{l.pkgDir, l.modDir} {
		if within(p.Dir, dir) {
			rel, _ := filepath.Rel(dir, filepath.Join(p.Dir, file))
			return filepath.ToSlash(rel)
		}
	}
	return p.ImportPath + "/" + file
}

// checkPackages lists every package the build compiles and refuses, before
// anything is compiled, what the trust does not allow: cgo files, and
// assembly that #includes a file outside its package. Packages the host
// itself is built from are exempt: the host already runs that code.
// env and flags are the build's, so that the listing is of the same build.
func (b *Builder) checkPackages(ctx context.Context, l layout, env, flags []string, trust Trust) error {
	args := append([]string{"list", "-deps", "-e", "-json=ImportPath,Dir,Standard,Module,CgoFiles,SFiles,HFiles"}, flags...)
	cmd := exec.CommandContext(ctx, b.opts.GoCmd, append(args, ".")...)
	cmd.Dir, cmd.Env = l.pkgDir, env
	var stderr bytes.Buffer
	cmd.Stderr = &limitedWriter{w: &stderr, n: 64 << 10}
	out, err := cmd.Output()
	if err != nil {
		// The build reports what go list could not load, with the compiler's
		// diagnostics; the checks need a listing, so none means refuse.
		return &Error{Output: redact(strings.TrimSpace(stderr.String()), l.allowed(b.goPaths)), Err: fmt.Errorf("list packages: %w", err)}
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p listedPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return fmt.Errorf("read package list: %w", err)
		}
		if l.vetted(p) {
			continue
		}
		if !trust.Allows(AllowCgo) && len(p.CgoFiles) > 0 {
			return &policy.Refusal{Rule: RuleCgo, Message: fmt.Sprintf(
				`%s imports "C": an uploaded or repository plugin may use cgo only in permissive security mode; build it without cgo, or load it from a local folder`, l.name(p, p.CgoFiles[0]))}
		}
		if trust.Allows(AllowOutside) {
			continue
		}
		for _, f := range append(append([]string(nil), p.SFiles...), p.HFiles...) {
			if target, ok := outsideInclude(filepath.Join(p.Dir, f)); ok {
				return &policy.Refusal{Rule: RuleInclude, Message: fmt.Sprintf(
					"%s includes %q, outside its package; a plugin's assembly may include only files of its own package and the toolchain's headers", l.name(p, f), target)}
			}
		}
	}
}

// outsideInclude returns the first #include of file that names an
// absolute path or climbs out of the file's folder.
func outsideInclude(file string) (string, bool) {
	f, err := os.Open(file)
	if err != nil {
		return "", false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		m := include.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		clean := filepath.Clean(m[1])
		if filepath.IsAbs(m[1]) || clean == ".." || strings.HasPrefix(clean, "../") {
			return m[1], true
		}
	}
	return "", false
}

// goPaths are the folders of the go command's own files, which build
// output may name.
type goPaths struct{ root, modCache string }

// allowed are the folders build output may name for layout l.
func (l layout) allowed(g goPaths) []string {
	return []string{l.work, g.root, g.modCache}
}

// absPath finds the absolute paths in a line of build output.
var absPath = regexp.MustCompile(`(?:^|[\s"'(=\[])(/[^\s"'():,\]]+)`)

// withheld replaces a line of build output that names a file outside the
// plugin's build.
const withheld = "[a line of build output naming a file outside the plugin was withheld]"

// redact withholds the lines of build output that name a file outside the
// allowed folders, and the indented lines that follow one (a C compiler
// quotes the offending line of the file it names), so that a build cannot
// be used to read the server's files through its error messages.
func redact(text string, allowed []string) string {
	if text == "" {
		return text
	}
	lines := strings.Split(text, "\n")
	out := lines[:0]
	hiding := false
	for _, line := range lines {
		if hiding && (strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t")) {
			continue
		}
		hiding = false
		for _, m := range absPath.FindAllStringSubmatch(line, -1) {
			if !slices.ContainsFunc(allowed, func(dir string) bool { return within(m[1], dir) }) {
				hiding = true
				break
			}
		}
		if hiding {
			if len(out) == 0 || out[len(out)-1] != withheld {
				out = append(out, withheld)
			}
			continue
		}
		out = append(out, line)
	}
	return strings.Join(out, "\n")
}
