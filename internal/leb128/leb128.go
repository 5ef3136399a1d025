// Package leb128 reads and writes the unsigned LEB128 integers of the
// WebAssembly binary format: lengths, counts and indices.
package leb128

import "errors"

// MaxU32Len is the most bytes the binary format spends on a u32.
const MaxU32Len = 5

// Errors U32 returns: callers report them with where in the module they
// were reading.
var (
	// ErrEnd is input that ends inside the integer.
	ErrEnd = errors.New("unexpected end")
	// ErrTooLong is an integer that has not ended after MaxU32Len bytes.
	ErrTooLong = errors.New("integer too long")
)

// U32 decodes the u32 at the start of b and says how many bytes it took.
// On an error, n is how many bytes were read before it was found: all of b
// for ErrEnd, MaxU32Len for ErrTooLong. As the format's readers have it,
// bits of the fifth byte past 32 are dropped, not refused.
func U32(b []byte) (v uint32, n int, err error) {
	for shift := 0; n < MaxU32Len; shift += 7 {
		if n >= len(b) {
			return 0, n, ErrEnd
		}
		c := b[n]
		n++
		v |= uint32(c&0x7f) << shift
		if c&0x80 == 0 {
			return v, n, nil
		}
	}
	return 0, n, ErrTooLong
}

// AppendU32 appends v to b in the fewest bytes.
func AppendU32(b []byte, v uint32) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}
