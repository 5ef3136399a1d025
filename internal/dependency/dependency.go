// Package dependency holds what plugin-to-plugin dependencies need beside
// the manifest: version ranges, and the graph of which plugin needs which,
// with the order in which they must start and the cycles they must not
// form.
package dependency

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/Masterminds/semver/v3"
)

// CheckRange reports whether r is a version range the host understands:
// comparisons (=, !=, >, >=, <, <=, ~, ^) and wildcards such as "1.2.x",
// joined by spaces or commas (all must hold) and "||" (either side may).
// The empty range means any version.
func CheckRange(r string) error {
	if strings.TrimSpace(r) == "" {
		return nil
	}
	if _, err := semver.NewConstraint(r); err != nil {
		return fmt.Errorf("parse version range %q: %w", r, err)
	}
	return nil
}

// Satisfies reports whether version, a semantic version with or without a
// leading "v", is in the range r. A pre-release is in a range only when the
// range names a pre-release itself, as semver ranges conventionally do.
func Satisfies(r, version string) (bool, error) {
	v, err := semver.NewVersion(version)
	if err != nil {
		return false, fmt.Errorf("parse version %q: %w", version, err)
	}
	if strings.TrimSpace(r) == "" {
		return true, nil
	}
	c, err := semver.NewConstraint(r)
	if err != nil {
		return false, fmt.Errorf("parse version range %q: %w", r, err)
	}
	return c.Check(v), nil
}

// Graph maps each plugin's id to the ids of the plugins it depends on.
// Ids that only appear as dependencies are plugins outside the graph (not
// installed, say); they start nothing and block nothing.
type Graph map[string][]string

// Cycle returns a cycle reachable from start as the path that closes it,
// first id repeated last ("a", "b", "a"), or nil when there is none.
func (g Graph) Cycle(start string) []string {
	const (
		unseen = iota
		onPath
		done
	)
	mark := map[string]int{}
	var path []string
	var visit func(id string) []string
	visit = func(id string) []string {
		switch mark[id] {
		case onPath:
			i := slices.Index(path, id)
			return append(slices.Clone(path[i:]), id)
		case done:
			return nil
		}
		mark[id] = onPath
		path = append(path, id)
		for _, dep := range g[id] {
			if c := visit(dep); c != nil {
				return c
			}
		}
		path = path[:len(path)-1]
		mark[id] = done
		return nil
	}
	return visit(start)
}

// Levels orders the graph's plugins for starting: every plugin in a level
// depends only on plugins of earlier levels or outside the graph, so a
// level's plugins may start together once the earlier levels have. Each
// level is sorted. Plugins on a cycle, or depending on one, can have no
// place and are returned, sorted, in stuck.
func (g Graph) Levels() (levels [][]string, stuck []string) {
	placed := map[string]bool{}
	left := slices.Sorted(maps.Keys(g))
	for len(left) > 0 {
		var level, rest []string
		for _, id := range left {
			ready := true
			for _, dep := range g[id] {
				if _, in := g[dep]; in && !placed[dep] {
					ready = false
					break
				}
			}
			if ready {
				level = append(level, id)
			} else {
				rest = append(rest, id)
			}
		}
		if len(level) == 0 {
			return levels, rest
		}
		for _, id := range level {
			placed[id] = true
		}
		levels = append(levels, level)
		left = rest
	}
	return levels, nil
}

// Dependants returns the plugins that depend on id directly, sorted.
func (g Graph) Dependants(id string) []string {
	var ids []string
	for from, deps := range g {
		if slices.Contains(deps, id) {
			ids = append(ids, from)
		}
	}
	slices.Sort(ids)
	return ids
}

// String renders a cycle as Cycle returns it: "a -> b -> a".
func String(cycle []string) string { return strings.Join(cycle, " -> ") }
