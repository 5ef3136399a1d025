package wasm

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

// TestMemoryBudget loads and closes plugins against a budget: a load that
// would take the sum of the instances' maximum memory past it is refused
// with a BudgetError before anything starts, and a Close gives its share
// back.
func TestMemoryBudget(t *testing.T) {
	const mib = 1 << 20
	type step struct {
		load   string // id to load, with limits
		limits Limits
		close  string // id to close
		budget int64  // when set, SetMemoryBudget first
		// want
		refused      bool
		wantReserved int64
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"no budget admits anything", []step{
			{load: "a", limits: Limits{Memory: 512 * mib}, wantReserved: 512 * mib},
		}},
		{"the sum of pools is what counts", []step{
			{budget: 320 * mib, wantReserved: 0},
			{load: "a", limits: Limits{Memory: 64 * mib, PoolSize: 2}, wantReserved: 128 * mib},
			{load: "b", limits: Limits{Memory: 64 * mib, PoolSize: 3}, wantReserved: 320 * mib},
			{load: "c", limits: Limits{Memory: 16 * mib}, refused: true, wantReserved: 320 * mib},
			{close: "a", wantReserved: 192 * mib},
			{load: "c", limits: Limits{Memory: 16 * mib}, wantReserved: 208 * mib},
		}},
		{"defaults count as 128 MiB", []step{
			{budget: 200 * mib},
			{load: "a", wantReserved: 128 * mib},
			{load: "b", refused: true, wantReserved: 128 * mib},
		}},
		{"a lower budget refuses but closes nothing", []step{
			{load: "a", limits: Limits{Memory: 64 * mib}, wantReserved: 64 * mib},
			{budget: 32 * mib, wantReserved: 64 * mib},
			{load: "b", limits: Limits{Memory: 16 * mib}, refused: true, wantReserved: 64 * mib},
			{close: "a", wantReserved: 0},
			{load: "b", limits: Limits{Memory: 16 * mib}, wantReserved: 16 * mib},
		}},
		{"limits are counted in whole pages", []step{
			{budget: 64 * mib},
			{load: "a", limits: Limits{Memory: 64*mib + wasmPageSize - 1}, wantReserved: 64 * mib},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newRuntime(t)
			loaded := map[string]*Plugin{}
			for i, s := range c.steps {
				switch {
				case s.budget != 0:
					r.SetMemoryBudget(s.budget)
				case s.close != "":
					if err := loaded[s.close].Close(context.Background()); err != nil {
						t.Fatal(err)
					}
				default:
					p, err := r.Load(context.Background(), fixtures.hello, Options{ID: s.load, Limits: s.limits, Logger: slog.New(slog.DiscardHandler)})
					var be *BudgetError
					switch {
					case s.refused && (!errors.Is(err, ErrMemoryBudget) || !errors.As(err, &be)):
						t.Fatalf("step %d: load %s: %v; want a BudgetError", i, s.load, err)
					case s.refused:
						if be.ID != s.load || be.Budget == 0 || !strings.Contains(err.Error(), "MiB budget") {
							t.Fatalf("step %d: the refusal does not say what it refused: %#v %q", i, be, err)
						}
					case err != nil:
						t.Fatalf("step %d: load %s: %v", i, s.load, err)
					default:
						loaded[s.load] = p
						t.Cleanup(func() { _ = p.Close(context.Background()) })
					}
				}
				if got, _ := r.Memory(); got != s.wantReserved {
					t.Fatalf("step %d: reserved %d MiB; want %d MiB", i, got/mib, s.wantReserved/mib)
				}
			}
		})
	}
}

// TestMemoryBudgetFailedLoad checks that a load that fails after its
// reservation gives it back.
func TestMemoryBudgetFailedLoad(t *testing.T) {
	r := newRuntime(t)
	r.SetMemoryBudget(128 << 20)
	if _, err := r.Load(context.Background(), []byte("not wasm"), Options{ID: "bad", Logger: slog.New(slog.DiscardHandler)}); err == nil || errors.Is(err, ErrMemoryBudget) {
		t.Fatalf("loading garbage: %v; want a compile error", err)
	}
	if got, _ := r.Memory(); got != 0 {
		t.Fatalf("a failed load kept %d bytes of the budget", got)
	}
	p := load(t, r, fixtures.hello, Options{ID: "hello"})
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, _ := r.Memory(); got != 0 {
		t.Fatalf("after the runtime closed %s, %d bytes stay reserved", p.ID(), got)
	}
}

// TestReserve: another tier's reservation counts against the same budget
// as sandboxed plugins, is refused past it, and is given back once however
// often its release is called.
func TestReserve(t *testing.T) {
	const mib = 1 << 20
	r := newRuntime(t)
	r.SetMemoryBudget(100 * mib)
	release, err := r.Reserve("a", Limits{Memory: 30 * mib, PoolSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	if reserved, _ := r.Memory(); reserved != 60*mib {
		t.Fatalf("reserved %d MiB, want 60", reserved/mib)
	}
	if _, err := r.Reserve("b", Limits{Memory: 50 * mib}); !errors.Is(err, ErrMemoryBudget) {
		t.Fatalf("a reservation past the budget: %v, want ErrMemoryBudget", err)
	}
	release()
	release()
	if reserved, _ := r.Memory(); reserved != 0 {
		t.Fatalf("reserved %d MiB after the release, want 0", reserved/mib)
	}
	if _, err := r.Reserve("b", Limits{Memory: 50 * mib}); err != nil {
		t.Fatal(err)
	}
}
