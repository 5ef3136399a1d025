// Package wasmmodule reads what a WebAssembly module exports and the custom
// sections it carries, without compiling it, so that the host can tell which
// tier a .wasm file belongs to before it hands the file to a runtime.
package wasmmodule

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"

	"github.com/kubestellar/ksplugins/internal/leb128"
)

// Kind is the kind of an export.
type Kind byte

// The kinds of export.
const (
	KindFunc   Kind = 0
	KindTable  Kind = 1
	KindMemory Kind = 2
	KindGlobal Kind = 3
	KindTag    Kind = 4
)

// String is the kind's name in the text format.
func (k Kind) String() string {
	switch k {
	case KindFunc:
		return "func"
	case KindTable:
		return "table"
	case KindMemory:
		return "memory"
	case KindGlobal:
		return "global"
	case KindTag:
		return "tag"
	}
	return fmt.Sprintf("kind %d", byte(k))
}

// Export is one export of a module.
type Export struct {
	Name string
	Kind Kind
}

// String is "name (kind)".
func (e Export) String() string { return e.Name + " (" + e.Kind.String() + ")" }

// Module is what Read learns of a module.
type Module struct {
	Exports []Export
	// Custom are the custom sections' contents by name; a name that
	// appears more than once keeps its first section.
	Custom map[string][]byte
}

// ErrFormat marks bytes that are not a WebAssembly module this package can
// read.
var ErrFormat = errors.New("not a WebAssembly module")

// Read reads the export section and custom sections of a binary module.
// Other sections are skipped whole.
func Read(b []byte) (*Module, error) {
	header := []byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00}
	if !bytes.HasPrefix(b, header) {
		return nil, fmt.Errorf("%w: no version 1 header", ErrFormat)
	}
	m := &Module{Custom: map[string][]byte{}}
	r := reader{b: b, off: len(header)}
	for r.off < len(b) && r.err == nil {
		id := r.byte()
		body := r.bytes(r.u32())
		if r.err != nil {
			break
		}
		s := reader{b: body}
		switch id {
		case 0:
			name := s.name()
			if _, dup := m.Custom[name]; !dup && s.err == nil {
				m.Custom[name] = body[s.off:]
			}
		case 7:
			for n := s.u32(); n > 0 && s.err == nil; n-- {
				name := s.name()
				kind := Kind(s.byte())
				s.u32()
				if s.err == nil {
					m.Exports = append(m.Exports, Export{Name: name, Kind: kind})
				}
			}
		}
		if s.err != nil {
			r.err = s.err
		}
	}
	if r.err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, r.err)
	}
	return m, nil
}

// Exported reports whether m exports name as kind.
func (m *Module) Exported(name string, kind Kind) bool {
	return slices.Contains(m.Exports, Export{Name: name, Kind: kind})
}

// ABI is the set of exports by which a tier recognises its modules.
type ABI struct {
	Tier    apiv1.Tier
	Exports []Export
}

// ABIs are the module interfaces the host runs, in the order Classify tries
// them.
func ABIs() []ABI {
	return []ABI{
		{Tier: apiv1.TierSandboxed, Exports: []Export{
			{"_initialize", KindFunc}, {"ksp_alloc", KindFunc}, {"ksp_call", KindFunc}, {"memory", KindMemory}}},
		{Tier: apiv1.TierHTTPWasm, Exports: []Export{
			{"handle_request", KindFunc}, {"handle_response", KindFunc}, {"memory", KindMemory}}},
	}
}

// ABIError is a module that exports none of the interfaces the host runs.
type ABIError struct {
	// Found are the module's exports.
	Found []Export
	// Expected are the interfaces it could have exported, by tier.
	Expected []ABI
}

// Error lists what was found and what was expected.
func (e *ABIError) Error() string {
	found := make([]string, len(e.Found))
	for i, x := range e.Found {
		found[i] = x.String()
	}
	var want []string
	for _, a := range e.Expected {
		names := make([]string, len(a.Exports))
		for i, x := range a.Exports {
			names[i] = x.String()
		}
		want = append(want, fmt.Sprintf("%s: %s", a.Tier, strings.Join(names, ", ")))
	}
	if len(found) == 0 {
		found = []string{"nothing"}
	}
	return fmt.Sprintf("the module exports %s; a plugin module must export one of [%s]",
		strings.Join(found, ", "), strings.Join(want, "; "))
}

// Details are e's found and expected exports for the API.
func (e *ABIError) Details() apiv1.UnsupportedModule {
	d := apiv1.UnsupportedModule{Found: []string{}, Expected: map[apiv1.Tier][]string{}}
	for _, x := range e.Found {
		d.Found = append(d.Found, x.String())
	}
	for _, a := range e.Expected {
		for _, x := range a.Exports {
			d.Expected[a.Tier] = append(d.Expected[a.Tier], x.String())
		}
	}
	return d
}

// Classify is the tier whose interface m exports, the first of ABIs that
// it exports whole; a module that exports none is an *ABIError.
func (m *Module) Classify() (apiv1.Tier, error) {
	abis := ABIs()
	for _, a := range abis {
		if !slices.ContainsFunc(a.Exports, func(x Export) bool { return !m.Exported(x.Name, x.Kind) }) {
			return a.Tier, nil
		}
	}
	return "", &ABIError{Found: slices.Clone(m.Exports), Expected: abis}
}

// reader decodes the binary format, remembering its first error.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) byte() byte {
	if r.err != nil {
		return 0
	}
	if r.off >= len(r.b) {
		r.err = fmt.Errorf("unexpected end at byte %d", r.off)
		return 0
	}
	c := r.b[r.off]
	r.off++
	return c
}

// u32 reads an unsigned LEB128 integer of at most 32 bits.
func (r *reader) u32() uint32 {
	if r.err != nil {
		return 0
	}
	v, n, err := leb128.U32(r.b[r.off:])
	r.off += n
	if err != nil {
		r.err = fmt.Errorf("%v at byte %d", err, r.off)
		return 0
	}
	return v
}

func (r *reader) bytes(n uint32) []byte {
	if r.err != nil {
		return nil
	}
	if uint64(n) > uint64(len(r.b)-r.off) {
		r.err = fmt.Errorf("%d bytes at byte %d run past the end", n, r.off)
		return nil
	}
	b := r.b[r.off : r.off+int(n)]
	r.off += int(n)
	return b
}

func (r *reader) name() string { return string(r.bytes(r.u32())) }
