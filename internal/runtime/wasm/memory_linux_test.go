//go:build linux

package wasm

import (
	"bytes"
	"testing"
)

// TestMappedMemory grows a mapped linear memory step by step: it never
// moves, keeps what was written, refuses to pass its maximum, and is
// unmapped by Free.
func TestMappedMemory(t *testing.T) {
	const page = wasmPageSize
	m := newMappedMemory(page, 4*page)
	if m == nil {
		t.Fatal("no mapping")
	}
	defer m.Free()
	steps := []struct {
		size    uint64
		wantNil bool
	}{
		{page, false},
		{3 * page, false},
		{2 * page, false}, // wazero never shrinks, but a smaller size is only a view
		{4 * page, false},
		{5 * page, true},
	}
	var base *byte
	for _, s := range steps {
		b := m.Reallocate(s.size)
		if (b == nil) != s.wantNil {
			t.Fatalf("Reallocate(%d): nil %v; want %v", s.size, b == nil, s.wantNil)
		}
		if b == nil {
			continue
		}
		if uint64(len(b)) != s.size || uint64(cap(b)) != s.size {
			t.Fatalf("Reallocate(%d): len %d cap %d", s.size, len(b), cap(b))
		}
		if base == nil {
			base = &b[0]
			copy(b, "kept")
		}
		if &b[0] != base {
			t.Fatalf("Reallocate(%d) moved the memory", s.size)
		}
		if !bytes.HasPrefix(b, []byte("kept")) {
			t.Fatalf("Reallocate(%d) lost what was written", s.size)
		}
		b[len(b)-1] = 1 // every committed byte is writable
	}
	m.Free()
	if b := m.Reallocate(page); b != nil {
		t.Fatal("a freed memory reallocated")
	}
	m.Free() // idempotent
}

// TestMappedMemoryEmpty covers a memory whose maximum is zero pages.
func TestMappedMemoryEmpty(t *testing.T) {
	m := newMappedMemory(0, 0)
	if m == nil {
		t.Fatal("no mapping")
	}
	defer m.Free()
	if b := m.Reallocate(0); b == nil || len(b) != 0 {
		t.Fatalf("Reallocate(0) = %v", b)
	}
	if b := m.Reallocate(wasmPageSize); b != nil {
		t.Fatal("grew past a zero maximum")
	}
}
