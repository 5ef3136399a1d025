package wasm

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// TestHeapGivenBackOnceLoadsAreOver checks when the runtime gives the
// heap back to the OS: settleAfter after the last load in progress ends,
// once for loads in a row, never while a load runs, and not after Close.
func TestHeapGivenBackOnceLoadsAreOver(t *testing.T) {
	const after = 50 * time.Millisecond
	// Long enough for a timer armed by mistake to have fired.
	const wait = 4 * after
	newCounted := func(t *testing.T) (*Runtime, *atomic.Int32) {
		r := newRuntime(t)
		var n atomic.Int32
		r.settleAfter, r.giveBack = after, func() { n.Add(1) }
		return r, &n
	}
	expect := func(t *testing.T, n *atomic.Int32, want int32, when string) {
		t.Helper()
		if got := n.Load(); got != want {
			t.Fatalf("%s: the heap was given back %d times; want %d", when, got, want)
		}
	}

	t.Run("a failed load", func(t *testing.T) {
		r, n := newCounted(t)
		if _, err := r.Load(context.Background(), []byte("not a module"), Options{ID: "x"}); err == nil {
			t.Fatal("a load of garbage succeeded")
		}
		expect(t, n, 0, "right after the load")
		time.Sleep(wait)
		expect(t, n, 1, "after the delay")
	})
	t.Run("overlapping loads", func(t *testing.T) {
		r, n := newCounted(t)
		r.startLoad()
		r.startLoad()
		r.endLoad()
		time.Sleep(wait)
		expect(t, n, 0, "while a load is still in progress")
		r.endLoad()
		time.Sleep(wait)
		expect(t, n, 1, "after the last load")
	})
	t.Run("loads in a row", func(t *testing.T) {
		r, n := newCounted(t)
		for range 5 {
			r.startLoad()
			r.endLoad()
		}
		time.Sleep(wait)
		expect(t, n, 1, "after five loads in a row")
	})
	t.Run("closed", func(t *testing.T) {
		r, n := newCounted(t)
		r.startLoad()
		r.endLoad()
		if err := r.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(wait)
		expect(t, n, 0, "after Close")
	})
}
