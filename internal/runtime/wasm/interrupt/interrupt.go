// Package interrupt makes a WebAssembly module stoppable from outside at a
// price of a few instructions per loop iteration.
//
// A module that spins (a handler in an endless loop, a guest's garbage
// collector gone astray) must be stopped when its call's time is up, and the
// only place a module can run for unbounded time without calling anything
// is a loop: every other instruction sequence ends or recurses into a stack
// limit. wazero can stop a module at its loop headers
// (RuntimeConfig.WithCloseOnContextDone), but it does so by leaving the
// compiled code for Go at every iteration, which made a sandboxed request
// several times slower than the work in it. Instrument instead rewrites the
// module so that each loop begins by reading one exported mutable global,
// and traps with unreachable when it is not zero:
//
//	loop ...
//	  global.get $ksp_interrupt
//	  if
//	    unreachable
//	  end
//	  ...
//
// The host sets that global (Export) from another goroutine when a call
// must end; the compiled code reads it where it is kept, in the instance's
// own memory, so the check costs a load and a branch. Setting it is a plain
// store racing with the guest's load, which is what wasmtime's epoch
// interruption does too: the guest sees it within a few iterations.
//
// The rewrite leaves every index a module uses unchanged: the global is
// appended after the module's own, and instructions are only inserted, in
// blocks of their own, so no branch depth moves.
package interrupt

import (
	"bytes"
	"fmt"
)

// Export is the name under which an instrumented module exports its
// interrupt global, an i32 that stops the module at its next loop header
// when it is not zero.
const Export = "ksp_interrupt"

// FormatError is a module Instrument cannot read: it is not WebAssembly,
// or it uses an encoding this package does not know. Offset is where in the
// module the problem is.
type FormatError struct {
	Offset int
	Reason string
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("instrumenting for interruption: at byte %d: %s", e.Offset, e.Reason)
}

// Section ids of the binary format, in the order a module must have them
// (custom sections, id 0, may appear anywhere).
const (
	secCustom    = 0
	secType      = 1
	secImport    = 2
	secFunction  = 3
	secTable     = 4
	secMemory    = 5
	secGlobal    = 6
	secExport    = 7
	secStart     = 8
	secElement   = 9
	secCode      = 10
	secData      = 11
	secDataCount = 12
	secTag       = 13
)

// sectionRank is a section's place in the required order.
func sectionRank(id byte) int {
	switch id {
	case secType, secImport, secFunction, secTable, secMemory:
		return int(id)
	case secTag:
		return 5 // between memory and global
	case secGlobal, secExport, secStart, secElement:
		return int(id)
	case secDataCount:
		return 10 // before code
	case secCode:
		return 11
	case secData:
		return 12
	}
	return -1
}

// section is one section of a module, its contents as a view of the module.
type section struct {
	id   byte
	body []byte
	at   int // offset of body in the module
}

// Instrument returns a copy of module whose loops check the interrupt
// global, which it adds and exports as Export. It refuses a module that
// already exports that name.
func Instrument(module []byte) ([]byte, error) {
	header := []byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00}
	if !bytes.HasPrefix(module, header) {
		return nil, &FormatError{0, "not a WebAssembly module (version 1)"}
	}
	var sections []section
	for r := (reader{b: module, off: len(header)}); r.off < len(module); {
		id := r.byte()
		size := r.u32()
		body := r.bytes(int(size))
		if r.err != nil {
			return nil, r.err
		}
		sections = append(sections, section{id: id, body: body, at: r.off - len(body)})
	}

	var counts counts
	var code *section
	for i := range sections {
		if err := counts.read(&sections[i]); err != nil {
			return nil, err
		}
		if sections[i].id == secCode {
			code = &sections[i]
		}
	}
	importedGlobals, globals := counts.importedGlobals, counts.globals
	index := importedGlobals + globals
	check := appendU32([]byte{opGlobalGet}, index)
	check = append(check, opIf, blockEmpty, opUnreachable, opEnd)

	// A mutable i32 that starts at zero.
	newGlobal := []byte{valI32, 0x01, opI32Const, 0x00, opEnd}
	out := make([]byte, 0, len(module)+len(module)/16)
	out = append(out, header...)
	wroteGlobal, wroteExport := false, false
	addGlobal := func() {
		out = appendSection(out, secGlobal, appendU32(nil, 1), newGlobal)
		wroteGlobal = true
	}
	addExport := func() {
		out = appendSection(out, secExport, appendU32(nil, 1), exportEntry(index))
		wroteExport = true
	}
	for _, s := range sections {
		if rank := sectionRank(s.id); s.id != secCustom {
			if !wroteGlobal && rank > sectionRank(secGlobal) {
				addGlobal()
			}
			if !wroteExport && rank > sectionRank(secExport) {
				addExport()
			}
		}
		switch {
		case s.id == secGlobal:
			r := reader{b: s.body, base: s.at}
			r.u32()
			out = appendSection(out, secGlobal, appendU32(nil, globals+1), s.body[r.off:], newGlobal)
			wroteGlobal = true
		case s.id == secExport:
			r := reader{b: s.body, base: s.at}
			n := r.u32()
			out = appendSection(out, secExport, appendU32(nil, n+1), s.body[r.off:], exportEntry(index))
			wroteExport = true
		case code != nil && s.at == code.at:
			body, err := instrumentCode(&s, check)
			if err != nil {
				return nil, err
			}
			out = appendSection(out, secCode, body)
		default:
			out = appendSection(out, s.id, s.body)
		}
	}
	if !wroteGlobal {
		addGlobal()
	}
	if !wroteExport {
		addExport()
	}
	return out, nil
}

// Opcodes and types Instrument writes.
const (
	opUnreachable = 0x00
	opIf          = 0x04
	opEnd         = 0x0b
	opGlobalGet   = 0x23
	opI32Const    = 0x41
	blockEmpty    = 0x40
	valI32        = 0x7f
	kindGlobal    = 0x03
)

func exportEntry(index uint32) []byte {
	e := appendU32(nil, uint32(len(Export)))
	e = append(e, Export...)
	e = append(e, kindGlobal)
	return appendU32(e, index)
}

// appendSection appends a section made of parts.
func appendSection(out []byte, id byte, parts ...[]byte) []byte {
	size := 0
	for _, p := range parts {
		size += len(p)
	}
	out = append(out, id)
	out = appendU32(out, uint32(size))
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// instrumentCode returns the code section's contents with check inserted
// after every loop instruction's block type.
func instrumentCode(s *section, check []byte) ([]byte, error) {
	r := reader{b: s.body, base: s.at}
	n := r.count()
	out := make([]byte, 0, len(s.body)+len(s.body)/32)
	out = appendU32(out, n)
	var fn []byte
	for i := uint32(0); i < n && r.err == nil; i++ {
		size := r.u32()
		body := r.bytes(int(size))
		if r.err != nil {
			break
		}
		var err error
		fn, err = instrumentFunction(fn[:0], body, r.base+r.off-len(body), check)
		if err != nil {
			return nil, fmt.Errorf("function %d: %w", i, err)
		}
		out = appendU32(out, uint32(len(fn)))
		out = append(out, fn...)
	}
	if r.err != nil {
		return nil, r.err
	}
	if r.off != len(r.b) {
		return nil, &FormatError{r.base + r.off, "bytes after the last function body"}
	}
	return out, nil
}

// instrumentFunction appends body to out with check after each loop
// header, copying runs of instructions without a loop whole.
func instrumentFunction(out, body []byte, at int, check []byte) ([]byte, error) {
	r := reader{b: body, base: at}
	var locals uint64
	for n := r.count(); n > 0 && r.err == nil; n-- {
		locals += uint64(r.u32())
		r.valueType()
	}
	if r.err == nil && locals > MaxLocals {
		r.fail(fmt.Sprintf("%d locals, more than the %d allowed", locals, MaxLocals))
	}
	copied := 0
	for r.off < len(r.b) && r.err == nil {
		op := r.b[r.off]
		r.off++
		// Most instructions have no immediates or one or two LEB128
		// integers: skipped here without the reader's checks, the module
		// being tens of MB; an integer running past the body is caught
		// below. The rest take the checked path.
		switch immediates[op] {
		case immNone:
		case immOne:
			r.off = skipLEB(r.b, r.off)
		case immTwo:
			r.off = skipLEB(r.b, skipLEB(r.b, r.off))
		default:
			skipImmediates(&r, op)
		}
		if r.off > len(r.b) {
			r.off = len(r.b)
			r.fail("unexpected end")
		}
		if op == opLoop && r.err == nil {
			out = append(out, body[copied:r.off]...)
			out = append(out, check...)
			copied = r.off
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	return append(out, body[copied:]...), nil
}
