package dependency

import (
	"slices"
	"testing"
)

func TestSatisfies(t *testing.T) {
	tests := []struct {
		rng, version string
		want         bool
		wantErr      bool
	}{
		{">=1.2 <2", "1.2.0", true, false},
		{">=1.2 <2", "1.9.3", true, false},
		{">=1.2 <2", "1.1.9", false, false},
		{">=1.2 <2", "2.0.0", false, false},
		{">=1.2, <2", "1.5.0", true, false},
		{"^1.4", "1.4.2", true, false},
		{"^1.4", "2.0.0", false, false},
		{"~1.2", "1.3.0", false, false},
		{"1.2.x", "1.2.7", true, false},
		{"<1 || >=3", "3.1.0", true, false},
		{"<1 || >=3", "2.0.0", false, false},
		{">=1.0.0", "1.1.0-rc.1", false, false}, // pre-releases only when asked for
		{"", "0.0.1", true, false},
		{"", "v2.0.0", true, false},
		{">=1", "not-a-version", false, true},
		{"=>1 <<2", "1.0.0", false, true},
	}
	for _, tt := range tests {
		got, err := Satisfies(tt.rng, tt.version)
		if (err != nil) != tt.wantErr {
			t.Errorf("Satisfies(%q, %q) error = %v, want error %v", tt.rng, tt.version, err, tt.wantErr)
			continue
		}
		if got != tt.want {
			t.Errorf("Satisfies(%q, %q) = %v, want %v", tt.rng, tt.version, got, tt.want)
		}
	}
}

func TestCheckRange(t *testing.T) {
	tests := []struct {
		rng     string
		wantErr bool
	}{
		{"", false},
		{"  ", false},
		{">=1.2 <2", false},
		{"^0.3", false},
		{"1.x || 3.x", false},
		{"<<2", true},
		{"banana", true},
		{">=1.2 <", true},
	}
	for _, tt := range tests {
		if err := CheckRange(tt.rng); (err != nil) != tt.wantErr {
			t.Errorf("CheckRange(%q) = %v, want error %v", tt.rng, err, tt.wantErr)
		}
	}
}

func TestLevels(t *testing.T) {
	tests := []struct {
		name       string
		g          Graph
		wantLevels [][]string
		wantStuck  []string
	}{
		{"empty", Graph{}, nil, nil},
		{"independent", Graph{"b": nil, "a": nil}, [][]string{{"a", "b"}}, nil},
		{"chain", Graph{"app": {"mid"}, "mid": {"base"}, "base": nil}, [][]string{{"base"}, {"mid"}, {"app"}}, nil},
		{"diamond", Graph{"top": {"l", "r"}, "l": {"base"}, "r": {"base"}, "base": nil}, [][]string{{"base"}, {"l", "r"}, {"top"}}, nil},
		{"outside the graph", Graph{"app": {"gone"}}, [][]string{{"app"}}, nil},
		{"cycle and behind it", Graph{"a": {"b"}, "b": {"a"}, "c": {"a"}, "d": nil}, [][]string{{"d"}}, []string{"a", "b", "c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			levels, stuck := tt.g.Levels()
			if !slices.EqualFunc(levels, tt.wantLevels, slices.Equal) {
				t.Errorf("levels = %v, want %v", levels, tt.wantLevels)
			}
			if !slices.Equal(stuck, tt.wantStuck) {
				t.Errorf("stuck = %v, want %v", stuck, tt.wantStuck)
			}
		})
	}
}

func TestCycle(t *testing.T) {
	tests := []struct {
		name  string
		g     Graph
		start string
		want  string
	}{
		{"none", Graph{"a": {"b"}, "b": nil}, "a", ""},
		{"two", Graph{"a": {"b"}, "b": {"a"}}, "a", "a -> b -> a"},
		{"self", Graph{"a": {"a"}}, "a", "a -> a"},
		{"three", Graph{"a": {"b"}, "b": {"c"}, "c": {"a"}}, "b", "b -> c -> a -> b"},
		{"behind the start", Graph{"x": {"a"}, "a": {"b"}, "b": {"a"}}, "x", "a -> b -> a"},
		{"diamond is no cycle", Graph{"t": {"l", "r"}, "l": {"b"}, "r": {"b"}}, "t", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := String(tt.g.Cycle(tt.start)); got != tt.want {
				t.Errorf("Cycle(%q) = %q, want %q", tt.start, got, tt.want)
			}
		})
	}
}

func TestDependants(t *testing.T) {
	g := Graph{"a": {"base"}, "c": {"base", "a"}, "base": nil}
	if got := g.Dependants("base"); !slices.Equal(got, []string{"a", "c"}) {
		t.Errorf("Dependants(base) = %v", got)
	}
	if got := g.Dependants("c"); got != nil {
		t.Errorf("Dependants(c) = %v, want none", got)
	}
}
