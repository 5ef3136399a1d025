// Package manifest reads and checks plugin.yaml, the manifest every
// KubeStellar plugin ships, and checks the metadata a plugin reports about
// itself against the same rules.
//
// Checking is lenient about what it does not know and strict about what it
// does: unknown keys are warnings, so manifests written for newer or older
// hosts still load, while a known key with a wrong type or value is an error,
// because the host would otherwise misroute or silently drop it. Every
// problem is reported at once, located by its field path, so an author fixes
// a manifest in one pass.
package manifest

import (
	"bytes"
	"cmp"
	_ "embed"
	"encoding/json"
	"fmt"
	apiv1 "github.com/kubestellar/ksplugins/api/v1"
	"math"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/kubestellar/ksplugins/sdk"
)

//go:embed schema/plugin.schema.json
var schema []byte

// Problem is one finding in a manifest, located by its field path; it is
// the management API's problem, so that it reaches callers unchanged.
type Problem = apiv1.Problem

// Error reports an invalid manifest with every problem found, not just the
// first, so that one run shows everything to fix.
type Error struct {
	File     string // may be empty
	Problems []Problem
}

// Error lists all problems on one line, prefixed by the file when known.
func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
	} else {
		b.WriteString("invalid manifest")
	}
	b.WriteString(": ")
	if n := len(e.Problems); n != 1 {
		fmt.Fprintf(&b, "%d problems: ", n)
	}
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(p.String())
	}
	return b.String()
}

// Parse decodes and validates a manifest. It returns the metadata, warnings
// (unknown and deprecated keys) and, when the manifest is invalid, an *Error
// holding every problem; YAML syntax errors are reported the same way, with
// Field "" and the parser's message. Endpoint methods are returned in upper
// case. On error the metadata is nil but the warnings are still returned.
func Parse(data []byte) (*sdk.PluginMetadata, []Problem, error) {
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, nil, &Error{Problems: []Problem{{Message: err.Error()}}}
	}
	// Numbers stay json.Number so that integers can be told from fractions.
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, nil, &Error{Problems: []Problem{{Message: err.Error()}}}
	}
	root, ok := doc.(map[string]any)
	if !ok {
		msg := "must be a map, got " + KindOf(doc)
		if doc == nil {
			msg = "empty document"
		}
		return nil, nil, &Error{Problems: []Problem{{Message: msg}}}
	}

	var c checker
	mdType := reflect.TypeFor[sdk.PluginMetadata]()
	if old, ok := root["config"]; ok {
		// Seed-era manifests named the section "config".
		delete(root, "config")
		if _, ok := root["configuration"]; ok {
			c.warn("config", "deprecated, use configuration; ignored because configuration is set")
		} else {
			c.warn("config", "deprecated, use configuration")
			f, _ := mdType.FieldByName("Configuration")
			root["configuration"] = c.conform(old, f.Type, "config")
		}
	}
	plugins, at := c.splitDependencies(root)
	c.conform(root, mdType, "")

	// conform left only keys and types that fit, so this cannot fail short
	// of a bug; report it rather than panic if it ever does.
	md := new(sdk.PluginMetadata)
	if clean, err := json.Marshal(root); err != nil {
		c.errs = append(c.errs, Problem{Message: err.Error()})
	} else if err := json.Unmarshal(clean, md); err != nil {
		c.errs = append(c.errs, Problem{Message: err.Error()})
	}
	for i := range md.Endpoints {
		md.Endpoints[i].Method = strings.ToUpper(md.Endpoints[i].Method)
	}
	md.PluginDependencies = plugins
	// A field with a wrong type was decoded as its zero value; rules about
	// that value would only restate the type error.
	for _, p := range Validate(md) {
		p.Field = at.locate(p.Field)
		if !slices.ContainsFunc(c.errs, func(t Problem) bool { return within(p.Field, t.Field) }) {
			c.errs = append(c.errs, p)
		}
	}
	sortProblems(c.errs)
	sortProblems(c.warns)
	if len(c.errs) > 0 {
		return nil, c.warns, &Error{Problems: c.errs}
	}
	return md, c.warns, nil
}

// ParseFile reads and parses the manifest at path. Invalid manifests yield
// an *Error whose File is path; read failures are returned as they are.
func ParseFile(path string) (*sdk.PluginMetadata, []Problem, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	md, warns, err := Parse(data)
	if e, ok := err.(*Error); ok {
		e.File = path
	}
	return md, warns, err
}

// Schema returns the manifest's JSON Schema (draft 2020-12) for editors and
// CI. It describes the same rules as Parse except those a schema cannot
// express, such as duplicate or conflicting routes. The caller owns the
// returned slice.
func Schema() []byte { return slices.Clone(schema) }

// ReservedIDs lists ids a plugin may not use because they name the host's
// management routes, which share a URL space with plugin ids.
func ReservedIDs() []string {
	return []string{
		"system", "events", "health", "manifest-schema", "cache", "upload",
		"load", "permissions", "audit", "operations", "tokens",
	}
}

// checker collects the problems found while conforming a decoded document to
// the Go types that will receive it.
type checker struct{ errs, warns []Problem }

func (c *checker) warn(field, msg string) {
	c.warns = append(c.warns, Problem{Field: field, Message: msg})
}

// conform checks v against t, the type that will decode it, and returns v
// with every wrong-typed value replaced by nil and every unknown key removed,
// so that decoding cannot fail and cannot pick up keys encoding/json would
// match case-insensitively. Nil is accepted anywhere, as YAML's empty value.
func (c *checker) conform(v any, t reflect.Type, path string) any {
	if v == nil {
		return nil
	}
	mismatch := func(want string) any {
		msg := "must be " + want + ", got " + KindOf(v)
		if want == "a string" && (KindOf(v) == "number" || KindOf(v) == "boolean") {
			msg += " (quote it)"
		}
		c.errs = append(c.errs, Problem{Field: path, Message: msg})
		return nil
	}
	switch t.Kind() {
	case reflect.Pointer:
		return c.conform(v, t.Elem(), path)
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			return mismatch("a map")
		}
		for k, val := range m {
			if _, f, ok := field(t, k); ok {
				m[k] = c.conform(val, f.Type, join(path, k))
			} else {
				c.warn(join(path, k), "unknown field")
				delete(m, k)
			}
		}
	case reflect.Map:
		m, ok := v.(map[string]any)
		if !ok {
			return mismatch("a map")
		}
		for k, val := range m {
			m[k] = c.conform(val, t.Elem(), join(path, k))
		}
	case reflect.Slice:
		l, ok := v.([]any)
		if !ok {
			return mismatch("a list")
		}
		for i, e := range l {
			l[i] = c.conform(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
	case reflect.String:
		if _, ok := v.(string); !ok {
			return mismatch("a string")
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			return mismatch("a boolean")
		}
	case reflect.Int:
		n, ok := v.(json.Number)
		if !ok {
			return mismatch("an integer")
		}
		if _, err := strconv.ParseInt(n.String(), 10, strconv.IntSize); err != nil {
			return mismatch("an integer")
		}
	}
	return v
}

// field finds the struct field that the manifest key names. Fields tagged
// yaml:"-" are filled in by the host and never read from a manifest.
func field(t reflect.Type, key string) (int, reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if name, _, _ := strings.Cut(f.Tag.Get("yaml"), ","); name == key && name != "-" {
			return i, f, true
		}
	}
	return 0, reflect.StructField{}, false
}

// KindOf names a decoded JSON value's type as a manifest author knows it:
// string, number, boolean, list, map or null.
func KindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case bool:
		return "boolean"
	case json.Number, float64:
		return "number"
	case []any:
		return "list"
	default:
		return "map"
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// within reports whether field is at or below path.
func within(field, path string) bool {
	rest, ok := strings.CutPrefix(field, path)
	return ok && (path == "" || rest == "" || rest[0] == '.' || rest[0] == '[')
}

// sortProblems orders problems as the fields appear in sdk.PluginMetadata,
// list items by index and other keys by name, so that output is stable and
// reads roughly top to bottom like a manifest.
func sortProblems(ps []Problem) {
	type step struct {
		rank int
		name string
	}
	key := func(path string) []step {
		var steps []step
		t := reflect.TypeFor[sdk.PluginMetadata]()
		for path != "" {
			for t != nil && t.Kind() == reflect.Pointer {
				t = t.Elem()
			}
			if path[0] == '.' {
				path = path[1:]
				continue
			}
			if i := strings.IndexByte(path, ']'); path[0] == '[' && i > 0 {
				n, _ := strconv.Atoi(path[1:i])
				steps = append(steps, step{rank: n})
				path = path[i+1:]
				if t != nil && t.Kind() == reflect.Slice {
					t = t.Elem()
				}
				continue
			}
			end := strings.IndexAny(path[1:], ".[") + 1
			if end == 0 {
				end = len(path)
			}
			name := path[:end]
			path = path[end:]
			if t != nil && t.Kind() == reflect.Struct {
				if i, f, ok := field(t, name); ok {
					steps = append(steps, step{rank: i})
					t = f.Type
					continue
				}
			}
			// Map keys and unknown fields follow the known fields.
			steps = append(steps, step{rank: math.MaxInt, name: name})
			if t != nil && t.Kind() == reflect.Map {
				t = t.Elem()
			} else {
				t = nil
			}
		}
		return steps
	}
	slices.SortStableFunc(ps, func(a, b Problem) int {
		return slices.CompareFunc(key(a.Field), key(b.Field), func(x, y step) int {
			return cmp.Or(cmp.Compare(x.rank, y.rank), strings.Compare(x.name, y.name))
		})
	})
}
