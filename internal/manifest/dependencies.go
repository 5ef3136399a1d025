package manifest

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/kubestellar/ksplugins/internal/dependency"
	"github.com/kubestellar/ksplugins/sdk"
)

// plugin.yaml's dependencies hold two kinds of entry in one list: strings,
// the Go module requirements of the seed's manifests, and maps naming a
// plugin and a version range. The SDK keeps the strings where seed-era
// plugins expect them (PluginMetadata.Dependencies) and the maps beside
// them (PluginDependencies), so the reader splits the list, and reports
// every problem at the entry's index in the list as written.

// positions maps each entry of the two typed lists back to its index in
// the list as written.
type positions struct{ modules, plugins []int }

// splitDependencies takes the plugin entries out of root's dependencies,
// leaving the strings for the typed decoding, and returns them decoded.
// Entries of another kind are reported here; a dependencies that is not a
// list is left for conform to report.
func (c *checker) splitDependencies(root map[string]any) ([]sdk.PluginDependency, positions) {
	var at positions
	list, ok := root["dependencies"].([]any)
	if !ok {
		return nil, at
	}
	var modules []any
	var plugins []sdk.PluginDependency
	for i, e := range list {
		f := fmt.Sprintf("dependencies[%d]", i)
		switch e := e.(type) {
		case string:
			modules = append(modules, e)
			at.modules = append(at.modules, i)
		case map[string]any:
			var d sdk.PluginDependency
			if clean := c.conform(e, reflect.TypeFor[sdk.PluginDependency](), f); clean != nil {
				if js, err := json.Marshal(clean); err == nil {
					_ = json.Unmarshal(js, &d) // conform left only what fits
				}
			}
			plugins = append(plugins, d)
			at.plugins = append(at.plugins, i)
		default:
			c.errs = append(c.errs, Problem{Field: f, Message: "must be a string (a Go module requirement) or a map {plugin, version} (a plugin), got " + KindOf(e)})
		}
	}
	root["dependencies"] = modules
	return plugins, at
}

// locate rewrites a field path of the typed lists (dependencies[i],
// plugin_dependencies[i]) to the entry's index in the list as written.
func (at positions) locate(field string) string {
	for _, l := range []struct {
		prefix string
		index  []int
	}{{"plugin_dependencies[", at.plugins}, {"dependencies[", at.modules}} {
		rest, ok := strings.CutPrefix(field, l.prefix)
		if !ok {
			continue
		}
		n, tail, ok := strings.Cut(rest, "]")
		i, err := strconv.Atoi(n)
		if !ok || err != nil || i < 0 || i >= len(l.index) {
			return field
		}
		return fmt.Sprintf("dependencies[%d]%s", l.index[i], tail)
	}
	return field
}

// dependencies checks both typed lists: module requirements are not
// empty; plugin dependencies name a valid id other than the plugin's own,
// once each, with a range the host can read.
func (v *problems) dependencies(md *sdk.PluginMetadata) {
	for i, d := range md.Dependencies {
		if strings.TrimSpace(d) == "" {
			v.add(fmt.Sprintf("dependencies[%d]", i), "must not be empty")
		}
	}
	seen := map[string]bool{}
	for i, d := range md.PluginDependencies {
		f := fmt.Sprintf("plugin_dependencies[%d]", i)
		switch {
		case d.Plugin == "":
			v.add(f+".plugin", "is required: the id of the plugin depended on")
		case d.Plugin == md.ID:
			v.add(f+".plugin", "names the plugin itself; a plugin cannot depend on itself")
		case seen[d.Plugin]:
			v.add(f+".plugin", "names %s a second time; give one entry with one range", d.Plugin)
		default:
			if p := ValidateID(f+".plugin", d.Plugin); p != nil {
				*v = append(*v, *p)
			}
		}
		seen[d.Plugin] = true
		if err := dependency.CheckRange(d.Version); err != nil {
			v.add(f+".version", `must be a semantic version range such as ">=1.2 <2" or "^1.4", got %q`, d.Version)
		}
	}
}
