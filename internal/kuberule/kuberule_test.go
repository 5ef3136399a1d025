package kuberule

import (
	"regexp"
	"testing"
)

var name = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`).MatchString

func TestValidResource(t *testing.T) {
	for s, want := range map[string]bool{
		"*": true, "pods": true, "pods/log": true, "*/scale": true,
		"managedclusters/status": true, "certificatesigningrequests/approval": true,
		"pods/*": false, "*/*": false, "": false, "/log": false, "pods/": false,
		"Pods": false, "pods/log/x": false, "pods//log": false,
	} {
		if got := ValidResource(s, name); got != want {
			t.Errorf("ValidResource(%q) = %t; want %t", s, got, want)
		}
	}
}

func TestResourceMatches(t *testing.T) {
	for _, tc := range []struct {
		pattern, resource, sub string
		want                   bool
	}{
		{"*", "pods", "", true},
		{"*", "pods", "log", true},
		{"pods", "pods", "", true},
		{"pods", "pods", "log", false},
		{"pods", "configmaps", "", false},
		{"pods/log", "pods", "log", true},
		{"pods/log", "pods", "", false},
		{"pods/log", "pods", "exec", false},
		{"pods/log", "nodes", "log", false},
		{"*/scale", "deployments", "scale", true},
		{"*/scale", "deployments", "", false},
		{"*/scale", "deployments", "status", false},
		{"pods/*", "pods", "log", false}, // invalid: RBAC matches nothing with it
	} {
		if got := ResourceMatches(tc.pattern, tc.resource, tc.sub); got != tc.want {
			t.Errorf("ResourceMatches(%q, %q, %q) = %t; want %t", tc.pattern, tc.resource, tc.sub, got, tc.want)
		}
	}
}

// TestCoversAgreesWithMatches checks, over every pair of a set of patterns
// and every request of a set, that ResourceCovers(outer, inner) holds
// exactly when every request inner matches, outer matches too: the
// policy's covering can never show more or less than the mediation lets
// through.
func TestCoversAgreesWithMatches(t *testing.T) {
	patterns := []string{"*", "pods", "pods/log", "pods/exec", "*/log", "*/scale", "deployments", "deployments/scale"}
	type req struct{ resource, sub string }
	var reqs []req
	for _, r := range []string{"pods", "deployments", "nodes"} {
		for _, s := range []string{"", "log", "exec", "scale", "status"} {
			reqs = append(reqs, req{r, s})
		}
	}
	for _, outer := range patterns {
		for _, inner := range patterns {
			want := true
			for _, q := range reqs {
				if ResourceMatches(inner, q.resource, q.sub) && !ResourceMatches(outer, q.resource, q.sub) {
					want = false
				}
			}
			// "*" and "*/sub" also match resources outside reqs; the sample
			// is wide enough that no other pattern covers them.
			if got := ResourceCovers(outer, inner); got != want {
				t.Errorf("ResourceCovers(%q, %q) = %t; matching says %t", outer, inner, got, want)
			}
		}
	}
}
