package interrupt

import (
	"fmt"

	"github.com/kubestellar/ksplugins/internal/leb128"
)

// reader reads the binary format. The first failure sticks: later reads
// return zero values, so a caller checks err once after a run of reads.
type reader struct {
	b    []byte
	off  int
	base int   // offset of b in the module, for errors
	err  error // a *FormatError
}

func (r *reader) fail(reason string) {
	if r.err == nil {
		r.err = &FormatError{Offset: r.base + r.off, Reason: reason}
	}
	r.off = len(r.b)
}

func (r *reader) byte() byte {
	if r.off >= len(r.b) {
		r.fail("unexpected end")
		return 0
	}
	c := r.b[r.off]
	r.off++
	return c
}

func (r *reader) bytes(n int) []byte {
	if n < 0 || n > len(r.b)-r.off {
		r.fail("unexpected end")
		return nil
	}
	b := r.b[r.off : r.off+n]
	r.off += n
	return b
}

// u32 reads an unsigned LEB128 of at most five bytes.
func (r *reader) u32() uint32 {
	v, n, err := leb128.U32(r.b[r.off:])
	r.off += n
	if err != nil {
		r.fail(err.Error())
		return 0
	}
	return v
}

// leb skips a signed or unsigned LEB128 of at most ten bytes: constants and
// block types, whose values do not matter here.
func (r *reader) leb() {
	for range 10 {
		if r.byte()&0x80 == 0 {
			return
		}
	}
	r.fail("integer too long")
}

func (r *reader) name() string {
	return string(r.bytes(int(r.u32())))
}

func (r *reader) limits() {
	flags := r.byte()
	r.leb()
	if flags&0x01 != 0 {
		r.leb()
	}
}

// valueType reads a value type: a number, vector or reference type. The
// garbage-collection proposal's longer reference types are not read.
func (r *reader) valueType() {
	switch t := r.byte(); t {
	case 0x7f, 0x7e, 0x7d, 0x7c, 0x7b, 0x70, 0x6f:
	default:
		if r.err == nil {
			r.off--
			r.fail(fmt.Sprintf("unknown value type 0x%02x", t))
		}
	}
}

func (r *reader) memarg() {
	r.u32() // alignment
	r.u32() // offset
}

// Opcodes whose immediates matter to the shape of the code.
const (
	opLoop   = 0x03
	opPrefix = 0xfc // saturating truncation, bulk memory, tables
	opVector = 0xfd
	opAtomic = 0xfe
)

// skipImmediates reads the immediates of the instruction op, which was just
// read: everything WebAssembly 2.0 defines, with tail calls and threads.
func skipImmediates(r *reader, op byte) {
	switch {
	case op == 0x02 || op == opLoop || op == 0x04: // block, loop, if: block type
		r.leb()
	case op == 0x0c || op == 0x0d: // br, br_if
		r.u32()
	case op == 0x0e: // br_table: the targets, then the default
		for n := r.count(); n > 0 && r.err == nil; n-- {
			r.u32()
		}
		r.u32()
	case op == 0x10 || op == 0x12: // call, return_call
		r.u32()
	case op == 0x11 || op == 0x13: // call_indirect, return_call_indirect
		r.u32()
		r.u32()
	case op == 0x1c: // select with types
		for n := r.count(); n > 0 && r.err == nil; n-- {
			r.valueType()
		}
	case op >= 0x20 && op <= 0x26: // locals, globals, table.get/set
		r.u32()
	case op >= 0x28 && op <= 0x3e: // loads and stores
		r.memarg()
	case op == 0x3f || op == 0x40: // memory.size, memory.grow
		r.u32()
	case op == 0x41 || op == 0x42: // i32.const, i64.const
		r.leb()
	case op == 0x43: // f32.const
		r.bytes(4)
	case op == 0x44: // f64.const
		r.bytes(8)
	case op == 0xd0: // ref.null: heap type
		r.byte()
	case op == 0xd2: // ref.func
		r.u32()
	case op == opPrefix:
		skipPrefixed(r)
	case op == opVector:
		skipVector(r)
	case op == opAtomic:
		skipAtomic(r)
	case op <= 0x01, op == 0x05, op == 0x0b, op == 0x0f, op == 0x1a, op == 0x1b,
		op >= 0x45 && op <= 0xc4, op == 0xd1:
		// No immediates.
	default:
		r.off--
		r.fail(fmt.Sprintf("unknown opcode 0x%02x", op))
	}
}

func skipPrefixed(r *reader) {
	switch sub := r.u32(); {
	case sub <= 7: // saturating truncations
	case sub == 9 || sub == 11 || sub == 13 || sub == 15 || sub == 16 || sub == 17:
		r.u32() // data.drop, memory.fill, elem.drop, table.grow/size/fill
	case sub == 8 || sub == 10 || sub == 12 || sub == 14:
		r.u32() // memory.init, memory.copy, table.init, table.copy
		r.u32()
	default:
		r.fail(fmt.Sprintf("unknown opcode 0xfc %d", sub))
	}
}

func skipVector(r *reader) {
	switch sub := r.u32(); {
	case sub <= 11 || sub == 92 || sub == 93: // loads and stores
		r.memarg()
	case sub == 12 || sub == 13: // v128.const, i8x16.shuffle
		r.bytes(16)
	case sub >= 21 && sub <= 34: // lane extraction and replacement
		r.byte()
	case sub >= 84 && sub <= 91: // lane loads and stores
		r.memarg()
		r.byte()
	case sub <= 0x113: // the rest, relaxed SIMD included, have none
	default:
		r.fail(fmt.Sprintf("unknown opcode 0xfd %d", sub))
	}
}

func skipAtomic(r *reader) {
	switch sub := r.u32(); {
	case sub == 0x03: // atomic.fence
		r.byte()
	case sub <= 0x02 || sub >= 0x10 && sub <= 0x4e:
		r.memarg()
	default:
		r.fail(fmt.Sprintf("unknown opcode 0xfe %d", sub))
	}
}

// How the immediates of a one-byte opcode are read (immediates).
const (
	immOther = '0'
	immNone  = '1'
	immOne   = '2'
	immTwo   = '3'
)

// immediates says how the immediates of each one-byte opcode are read,
// indexed by the opcode: '1' none, '2' one LEB128, '3' two, '0' another
// way. Sixty-four opcodes a line, from 0x00.
const immediates = "" +
	"1122210000012201232300000011000022222220333333333333333333333332" +
	"2220011111111111111111111111111111111111111111111111111111111111" +
	"1111111111111111111111111111111111111111111111111111111111111111" +
	"1111100000000000012000000000000000000000000000000000000000000000"

// skipLEB returns the offset after the LEB128 at b[off:], or len(b)+1 if
// it runs past b. Its length is not checked: the compiler refuses an
// overlong integer, and only the bounds matter here.
func skipLEB(b []byte, off int) int {
	for off < len(b) {
		if b[off]&0x80 == 0 {
			return off + 1
		}
		off++
	}
	return len(b) + 1
}
