package pluginlog

import "testing"

func TestGates(t *testing.T) {
	var gs Gates
	gs.SetLimits(Limits{LinesPerSecond: 1, Burst: 2, MaxLineBytes: 10})
	var changed []string
	a := gs.Gate("a", func(Change) { changed = append(changed, "first") })
	if again := gs.Gate("a", func(Change) { changed = append(changed, "second") }); again != a {
		t.Fatal("a second Gate for one id is a new gate: its counters and bucket start again")
	}
	if got := a.Limits(); got.Burst != 2 || got.MaxLineBytes != 10 {
		t.Fatalf("a gate made after SetLimits has %+v", got)
	}
	for range 3 {
		a.Admit()
	}
	if len(changed) != 1 || changed[0] != "first" {
		t.Fatalf("changes reported to %q; want the first onChange, once", changed)
	}

	gs.SetLimits(Limits{LinesPerSecond: 5, Burst: 7, MaxLineBytes: 20})
	if got := a.Limits(); got.Burst != 7 || got.MaxLineBytes != 20 {
		t.Fatalf("SetLimits left an existing gate at %+v", got)
	}
	if got := gs.Gate("b", nil).Limits(); got.Burst != 7 {
		t.Fatalf("a gate made after the second SetLimits has %+v", got)
	}

	stats := gs.Stats([]string{"a", "b", "never-gated"})
	if len(stats) != 2 || stats["a"].Logged != 2 || stats["a"].Dropped != 1 || !stats["a"].Dropping {
		t.Fatalf("stats: %+v; want a (2 logged, 1 dropped) and b", stats)
	}
	if _, ok := stats["never-gated"]; ok {
		t.Fatal("a plugin without a gate has stats")
	}
}
