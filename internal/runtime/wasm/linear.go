package wasm

import "github.com/tetratelabs/wazero/experimental"

// Linear memory: where an instance's memory lives, and why not where wazero
// puts it by default.
//
// By default wazero keeps a linear memory in a []byte on the Go heap and
// grows it with append: every memory.grow allocates a larger slice, copies
// the old one into it and leaves the old one to the host's garbage
// collector, which lets the heap reach twice what is live before it runs
// (GOGC=100). A guest growing to its limit therefore cost the host several
// times the limit until the next collections: BenchmarkRSS measured a busy
// instance capped at 512 MiB at about 1.8 GiB resident, and the memory of a
// closed instance stayed resident until a collection returned it.
//
// mappedMemory (memory_linux.go) instead reserves the instance's whole
// maximum as address space outside the Go heap, and makes readable and
// writable only what the guest has grown into. Nothing is ever copied or
// left behind, only the pages the guest touches become resident, so an
// instance costs at most its limit, and Free (when the instance closes)
// unmaps the memory, returning it to the OS at once. Where no mapping can be
// made, heapMemory does what wazero does by default.

// linearMemory returns the allocator instances are started with.
func linearMemory() experimental.MemoryAllocator {
	return experimental.MemoryAllocatorFunc(func(capacity, maxBytes uint64) experimental.LinearMemory {
		if m := newMappedMemory(capacity, maxBytes); m != nil {
			return m
		}
		return &heapMemory{buf: make([]byte, 0, capacity), max: maxBytes}
	})
}

// heapMemory is a linear memory on the Go heap, grown by append, as
// wazero's own.
type heapMemory struct {
	buf []byte
	max uint64
}

// Reallocate implements experimental.LinearMemory.
func (m *heapMemory) Reallocate(size uint64) []byte {
	switch {
	case size > m.max:
		return nil
	case size <= uint64(cap(m.buf)):
		m.buf = m.buf[:size]
	default:
		m.buf = append(m.buf, make([]byte, size-uint64(len(m.buf)))...)
	}
	return m.buf
}

// Free implements experimental.LinearMemory.
func (m *heapMemory) Free() { m.buf = nil }
