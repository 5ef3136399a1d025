package watch

import (
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

func TestDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var changes atomic.Int32
	done := make(chan error, 1)
	// The debounce is long against five writes in a row, so that a loaded
	// machine (CI runs packages side by side on two cores) cannot split
	// the burst in two.
	const debounce = 250 * time.Millisecond
	go func() { done <- Dir(ctx, dir, debounce, func() { changes.Add(1) }) }()
	time.Sleep(300 * time.Millisecond) // let the watcher start

	wait := func(want int32) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for changes.Load() != want {
			if time.Now().After(deadline) {
				t.Fatalf("changes = %d; want %d", changes.Load(), want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	for i := range 5 { // one burst
		if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main // "+string(rune('a'+i))+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	wait(1)
	if err := os.WriteFile(filepath.Join(dir, ".hidden"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "old.so"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * debounce)
	wait(1) // ignored files changed nothing
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	wait(2)
	time.Sleep(300 * time.Millisecond) // the new folder's watch is added
	if err := os.WriteFile(filepath.Join(dir, "sub", "x.go"), []byte("package sub\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	wait(3) // a new folder is watched too
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
