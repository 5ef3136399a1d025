//go:build linux

package wasm

import (
	"os"
	"syscall"
)

// mappedMemory is a linear memory in a private anonymous mapping of its
// whole maximum (see linear.go). The part past committed is PROT_NONE and
// MAP_NORESERVE: address space only, neither resident nor counted against
// the system's commit limit. wazero calls it from the goroutine running the
// instance, one call at a time, so it needs no lock.
type mappedMemory struct {
	mem       []byte // the whole reservation
	committed uint64 // bytes readable and writable, a multiple of the OS page
}

// newMappedMemory reserves maxBytes and commits capacity of them; it is nil
// when the system refuses either, and the caller falls back to the heap.
func newMappedMemory(capacity, maxBytes uint64) *mappedMemory {
	// A memory whose maximum is 0 pages still needs a valid, if empty,
	// slice; one OS page of reservation gives it one.
	size := max(roundPage(maxBytes), uint64(os.Getpagesize()))
	if size > uint64(int(^uint(0)>>1)) {
		return nil
	}
	mem, err := syscall.Mmap(-1, 0, int(size), syscall.PROT_NONE,
		syscall.MAP_PRIVATE|syscall.MAP_ANONYMOUS|syscall.MAP_NORESERVE)
	if err != nil {
		return nil
	}
	m := &mappedMemory{mem: mem}
	// Committing the initial capacity here, where failing can still fall
	// back, means wazero's first Reallocate (to the minimum, which it does
	// not expect to fail) only reslices.
	if m.commit(capacity) != nil {
		_ = syscall.Munmap(mem)
		return nil
	}
	return m
}

// commit makes the first size bytes readable and writable.
func (m *mappedMemory) commit(size uint64) error {
	end := roundPage(size)
	if end <= m.committed {
		return nil
	}
	if err := syscall.Mprotect(m.mem[m.committed:end], syscall.PROT_READ|syscall.PROT_WRITE); err != nil {
		return err
	}
	m.committed = end
	return nil
}

// Reallocate implements experimental.LinearMemory: the memory never moves,
// so growing is committing more of the reservation. It is nil past the
// maximum or when the system refuses, which fails the guest's memory.grow.
func (m *mappedMemory) Reallocate(size uint64) []byte {
	if m.mem == nil || size > uint64(len(m.mem)) || m.commit(size) != nil {
		return nil
	}
	return m.mem[:size:size]
}

// Free implements experimental.LinearMemory: the pages go back to the OS
// now, not at the next garbage collection.
func (m *mappedMemory) Free() {
	if m.mem != nil {
		_ = syscall.Munmap(m.mem)
		m.mem, m.committed = nil, 0
	}
}

// roundPage rounds n up to a multiple of the OS page size.
func roundPage(n uint64) uint64 {
	p := uint64(os.Getpagesize())
	return (n + p - 1) / p * p
}
