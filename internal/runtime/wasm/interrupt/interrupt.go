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
// module so that each loop spends one unit of a fuel global, and calls
// WASI's sched_yield, which the module imports already, each time the fuel
// runs out:
//
//	loop ...
//	  global.get $fuel
//	  i32.const 1
//	  i32.sub
//	  global.set $fuel
//	  global.get $fuel
//	  i32.eqz
//	  if
//	    i32.const 16384
//	    global.set $fuel
//	    call $sched_yield
//	    drop
//	  end
//	  ...
//
// The host's sched_yield (Check) ends the call when the call's context is
// done. Leaving the compiled code now and then matters for a second reason:
// code running in a module is not Go code, so the Go runtime cannot preempt
// it, and a garbage collection that must stop the world waits for it. A
// module that never left its code would hold up every goroutine of the
// host at the next collection, the one that would have stopped it
// included. With the fuel it leaves it every 16,384 iterations.
//
// The rewrite leaves every index a module uses unchanged: the global is
// appended after the module's own, and instructions are only inserted, in
// blocks of their own, so no branch depth moves.
package interrupt

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/kubestellar/ksplugins/internal/leb128"
)

// Fuel is how many loop iterations an instrumented module runs between two
// calls of sched_yield.
const Fuel = 1 << 14

// The import through which an instrumented module yields.
const (
	yieldModule = "wasi_snapshot_preview1"
	yieldName   = "sched_yield"
)

// ErrInterrupted is what Check panics with, and so what wraps the error of
// a call it ended: wazero returns a host function's panic as the call's
// error.
var ErrInterrupted = errors.New("interrupted")

// ErrNoYield marks a module Instrument refused only because it does not
// import sched_yield: a well-formed module that a host may still run with
// another way of stopping it.
var ErrNoYield = errors.New("no yield import")

// Check is the body of the host's sched_yield for an instrumented module:
// it ends the call in progress, whose context is ctx, once ctx is done.
// The guest's state is then whatever it was mid-call, so its instance
// should be closed.
func Check(ctx context.Context) {
	if ctx != nil && ctx.Err() != nil {
		panic(ErrInterrupted)
	}
}

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
	case secType, secImport, secFunction, secTable, secMemory, secGlobal, secExport, secStart, secElement:
		return int(id)
	case secTag:
		return 5 // between memory and global
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

// Instrument returns a copy of module whose loops spend fuel and yield
// when it runs out. It refuses a module that does not import sched_yield
// (every Go module for wasip1 does) with an error that is ErrNoYield.
func Instrument(module []byte) ([]byte, error) { return instrument(module, false) }

// InstrumentAddingYield is Instrument for a module that may not import
// sched_yield, as a guest of an interface other than WASI need not: the
// import is added when it is missing, at the end of the module's imports,
// and every index of the module's own functions moves up by one (in
// calls, references, exports, the start function and element segments;
// the "name" section, which only names them for debugging, is dropped).
// The host must then provide wasi_snapshot_preview1.sched_yield.
func InstrumentAddingYield(module []byte) ([]byte, error) { return instrument(module, true) }

func instrument(module []byte, addYield bool) ([]byte, error) {
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
	for i := range sections {
		if err := counts.read(&sections[i]); err != nil {
			return nil, err
		}
	}
	// shift, when adding the import, is where the module's own functions
	// start: their indices move up by one.
	var shift *uint32
	if !counts.yields {
		if !addYield {
			return nil, fmt.Errorf("%w: %w", ErrNoYield, &FormatError{0, fmt.Sprintf("the module does not import %s.%s, through which the host stops it", yieldModule, yieldName)})
		}
		from := counts.funcImports
		shift = &from
		counts.yield, counts.yields = from, true
	}
	fuel := counts.importedGlobals + counts.globals
	// Spend first, then test what was stored: in one basic block the
	// compiler reuses the stored value instead of loading it again.
	check := leb128.AppendU32([]byte{opGlobalGet}, fuel)
	check = appendI32Const(check, 1)
	check = append(check, opI32Sub)
	check = leb128.AppendU32(append(check, opGlobalSet), fuel)
	check = leb128.AppendU32(append(check, opGlobalGet), fuel)
	check = append(check, opI32Eqz, opIf, blockEmpty)
	check = appendI32Const(check, Fuel)
	check = leb128.AppendU32(append(check, opGlobalSet), fuel)
	check = leb128.AppendU32(append(check, opCall), counts.yield)
	check = append(check, opDrop, opEnd)

	newGlobal := appendI32Const([]byte{valI32, 0x01}, Fuel)
	newGlobal = append(newGlobal, opEnd)
	out := make([]byte, 0, len(module)+len(module)/8)
	out = append(out, header...)
	wroteGlobal := false
	// Without the import, the type and import sections are written with
	// it, or inserted where they belong.
	wroteType, wroteImport := shift == nil, shift == nil
	for _, s := range sections {
		if !wroteType && s.id != secCustom && sectionRank(s.id) > sectionRank(secType) {
			out = appendSection(out, secType, leb128.AppendU32(nil, 1), yieldType)
			counts.types, wroteType = 1, true
		}
		if !wroteImport && s.id != secCustom && sectionRank(s.id) > sectionRank(secImport) {
			out = appendSection(out, secImport, leb128.AppendU32(nil, 1), yieldImportEntry(counts.types-1))
			wroteImport = true
		}
		if !wroteGlobal && s.id != secCustom && sectionRank(s.id) > sectionRank(secGlobal) {
			out = appendSection(out, secGlobal, leb128.AppendU32(nil, 1), newGlobal)
			wroteGlobal = true
		}
		if shift != nil {
			var err error
			switch s.id {
			case secType:
				out = appendSection(out, secType, leb128.AppendU32(nil, counts.types+1), s.body[counts.typeItems:], yieldType)
				counts.types++
				wroteType = true
				continue
			case secImport:
				out = appendSection(out, secImport, leb128.AppendU32(nil, counts.imports+1), s.body[counts.importItems:], yieldImportEntry(counts.types-1))
				wroteImport = true
				continue
			case secCustom:
				if isNameSection(s.body) {
					continue
				}
			case secGlobal, secExport, secStart, secElement:
				if s.body, err = shiftFunctions(&s, *shift, counts.globalItems); err != nil {
					return nil, err
				}
			}
		}
		switch s.id {
		case secGlobal:
			out = appendSection(out, secGlobal, leb128.AppendU32(nil, counts.globals+1), s.body[counts.globalItems:], newGlobal)
			wroteGlobal = true
		case secCode:
			body, err := instrumentCode(&s, check, shift)
			if err != nil {
				return nil, err
			}
			out = appendSection(out, secCode, body)
		default:
			out = appendSection(out, s.id, s.body)
		}
	}
	if !wroteType {
		out = appendSection(out, secType, leb128.AppendU32(nil, 1), yieldType)
		counts.types = 1
	}
	if !wroteImport {
		out = appendSection(out, secImport, leb128.AppendU32(nil, 1), yieldImportEntry(counts.types-1))
	}
	if !wroteGlobal {
		out = appendSection(out, secGlobal, leb128.AppendU32(nil, 1), newGlobal)
	}
	return out, nil
}

// appendI32Const appends i32.const v.
func appendI32Const(b []byte, v int32) []byte {
	b = append(b, opI32Const)
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v == 0 && c&0x40 == 0 || v == -1 && c&0x40 != 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

// Opcodes and types Instrument writes.
const (
	opIf        = 0x04
	opEnd       = 0x0b
	opCall      = 0x10
	opDrop      = 0x1a
	opGlobalGet = 0x23
	opGlobalSet = 0x24
	opI32Const  = 0x41
	opI32Eqz    = 0x45
	opI32Sub    = 0x6b
	blockEmpty  = 0x40
	valI32      = 0x7f
	kindGlobal  = 0x03
)

// appendSection appends a section made of parts.
func appendSection(out []byte, id byte, parts ...[]byte) []byte {
	size := 0
	for _, p := range parts {
		size += len(p)
	}
	out = append(out, id)
	out = leb128.AppendU32(out, uint32(size))
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// instrumentCode returns the code section's contents with check inserted
// after every loop instruction's block type.
func instrumentCode(s *section, check []byte, shift *uint32) ([]byte, error) {
	r := reader{b: s.body, base: s.at}
	n := r.count()
	out := make([]byte, 0, len(s.body)+len(s.body)/32)
	out = leb128.AppendU32(out, n)
	var fn []byte
	for i := uint32(0); i < n && r.err == nil; i++ {
		size := r.u32()
		body := r.bytes(int(size))
		if r.err != nil {
			break
		}
		var err error
		fn, err = instrumentFunction(fn[:0], body, r.base+r.off-len(body), check, shift)
		if err != nil {
			return nil, fmt.Errorf("function %d: %w", i, err)
		}
		out = leb128.AppendU32(out, uint32(len(fn)))
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
// header, copying runs of instructions without a loop whole. With shift,
// function indices at or above *shift move up by one.
func instrumentFunction(out, body []byte, at int, check []byte, shift *uint32) ([]byte, error) {
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
		if shift != nil && (op == opCall || op == opReturnCall || op == opRefFunc) {
			out = append(out, body[copied:r.off]...)
			out = leb128.AppendU32(out, shifted(r.u32(), *shift))
			copied = r.off
			continue
		}
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
