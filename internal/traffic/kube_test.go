package traffic

import (
	"testing"
	"time"
)

func TestKubeCounters(t *testing.T) {
	var c KubeCounters
	get := KubeRequest{Context: "its1", Verb: "get", Group: "cluster.open-cluster-management.io", Resource: "managedclusters"}
	list := KubeRequest{Context: "its1", Verb: "list", Resource: "secrets"}
	c.Record(get, 200, 2*time.Millisecond)
	c.Record(get, 200, 20*time.Millisecond)
	c.Record(list, 403, 50*time.Microsecond)

	s := c.Snapshot()
	if len(s) != 2 {
		t.Fatalf("series: %+v", s)
	}
	if s[0].KubeRequest != list || s[0].ByStatus[403] != 1 || s[0].Count != 1 {
		t.Errorf("first series (core group sorts first): %+v", s[0])
	}
	g := s[1]
	if g.KubeRequest != get || g.ByStatus[200] != 2 || g.Count != 2 {
		t.Errorf("get series: %+v", g)
	}
	if want := 0.022; g.SumSeconds < want-1e-9 || g.SumSeconds > want+1e-9 {
		t.Errorf("sum %v, want %v", g.SumSeconds, want)
	}
	bounds := LatencyBuckets()
	for i, b := range bounds {
		var want uint64
		switch {
		case b >= 0.02:
			want = 2
		case b >= 0.002:
			want = 1
		}
		if g.Cumulative[i] != want {
			t.Errorf("bucket le=%v: %d, want %d", b, g.Cumulative[i], want)
		}
	}
	// A snapshot is a copy.
	s[1].ByStatus[200] = 99
	if c.Snapshot()[1].ByStatus[200] != 2 {
		t.Error("a snapshot shares its maps with the counters")
	}
}
