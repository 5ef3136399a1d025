package leb128

import (
	"errors"
	"math"
	"testing"
)

func TestU32(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want uint32
		n    int
		err  error
	}{
		{"zero", []byte{0x00}, 0, 1, nil},
		{"one byte", []byte{0x7f, 0xff}, 127, 1, nil},
		{"two bytes", []byte{0xe5, 0x08}, 1125, 2, nil},
		{"padded", []byte{0x80, 0x80, 0x00}, 0, 3, nil},
		{"max", []byte{0xff, 0xff, 0xff, 0xff, 0x0f}, math.MaxUint32, 5, nil},
		{"fifth byte's high bits dropped", []byte{0xff, 0xff, 0xff, 0xff, 0x7f}, math.MaxUint32, 5, nil},
		{"empty", nil, 0, 0, ErrEnd},
		{"ends inside", []byte{0x80, 0x80}, 0, 2, ErrEnd},
		{"too long", []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x00}, 0, 5, ErrTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, n, err := U32(tt.in)
			if v != tt.want || n != tt.n || !errors.Is(err, tt.err) {
				t.Errorf("U32(% x) = %d, %d, %v; want %d, %d, %v", tt.in, v, n, err, tt.want, tt.n, tt.err)
			}
		})
	}
}

func TestAppendU32RoundTrips(t *testing.T) {
	for _, v := range []uint32{0, 1, 127, 128, 1125, 1 << 21, math.MaxUint32} {
		b := AppendU32([]byte{0xaa}, v)
		got, n, err := U32(b[1:])
		if err != nil || got != v || n != len(b)-1 {
			t.Errorf("U32(AppendU32(%d)) = %d, %d, %v from % x", v, got, n, err, b)
		}
	}
}
