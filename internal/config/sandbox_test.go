package config

import (
	"testing"
)

func TestTotalSandboxMB(t *testing.T) {
	const meminfo24G = "MemTotal:       24683784 kB\nMemFree:        20352852 kB\n"
	cases := []struct {
		name    string
		meminfo string
		cgroups []string
		want    int
	}{
		{"a quarter of the machine", meminfo24G, nil, 24683784 / 4 / 1024},
		{"no cgroup limit (v2)", meminfo24G, []string{"max\n"}, 24683784 / 4 / 1024},
		{"no cgroup limit (v1)", meminfo24G, []string{"9223372036854771712\n"}, 24683784 / 4 / 1024},
		{"a lower cgroup limit wins", meminfo24G, []string{"8589934592\n"}, 2048},
		{"a higher cgroup limit does not", meminfo24G, []string{"68719476736\n"}, 24683784 / 4 / 1024},
		{"the floor", "MemTotal: 2097152 kB\n", nil, minTotalSandboxMB},
		{"unknown", "", nil, unknownTotalSandboxMB},
		{"unreadable", "MemTotal: lots\n", []string{"max"}, unknownTotalSandboxMB},
		{"only a cgroup limit", "", []string{"17179869184"}, 4096},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := totalSandboxMB(c.meminfo, c.cgroups...); got != c.want {
				t.Fatalf("totalSandboxMB = %d; want %d", got, c.want)
			}
		})
	}
}

func TestDefaultTotalSandboxValid(t *testing.T) {
	s := DefaultSystem()
	if s.Sandbox.MaxTotalMemoryMB < minTotalSandboxMB {
		t.Fatalf("default sandbox.max_total_memory_mb = %d", s.Sandbox.MaxTotalMemoryMB)
	}
	s.Sandbox.MaxTotalMemoryMB = 8
	if ps := Validate(s); len(ps) != 1 || ps[0].Field != "sandbox.max_total_memory_mb" {
		t.Fatalf("a budget of 8 MiB: %v", ps)
	}
}
