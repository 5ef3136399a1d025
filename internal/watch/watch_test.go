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
	go func() { done <- Dir(ctx, dir, 50*time.Millisecond, func() { changes.Add(1) }) }()
	time.Sleep(100 * time.Millisecond) // let the watcher start

	wait := func(want int32) {
		t.Helper()
		deadline := time.Now().Add(3 * time.Second)
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
	time.Sleep(200 * time.Millisecond)
	wait(1) // ignored files changed nothing
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	wait(2)
	time.Sleep(100 * time.Millisecond)
	if err := os.WriteFile(filepath.Join(dir, "sub", "x.go"), []byte("package sub\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	wait(3) // a new folder is watched too
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
