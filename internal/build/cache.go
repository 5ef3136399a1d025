package build

import (
	"errors"
	"fmt"
	apiv1 "github.com/kubestellar/ksplugins/api/v1"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/kubestellar/ksplugins/internal/extension"
)

// CacheInfo describes the build cache, in the management API's shape.
type CacheInfo = apiv1.CacheInfo

// entry is one artifact in the cache.
type entry struct {
	key   string
	dir   string
	bytes int64
	used  time.Time
}

// entries lists the cache's artifacts.
func (b *Builder) entries() ([]entry, error) {
	var out []entry
	root := filepath.Join(b.opts.CacheDir, "artifacts")
	shards, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	for _, shard := range shards {
		keys, err := os.ReadDir(filepath.Join(root, shard.Name()))
		if err != nil {
			continue
		}
		for _, k := range keys {
			dir := filepath.Join(root, shard.Name(), k.Name())
			meta, err := os.Stat(filepath.Join(dir, "artifact.json"))
			if err != nil {
				continue
			}
			e := entry{key: k.Name(), dir: dir, used: meta.ModTime()}
			for _, t := range []Tier{Native, Sandboxed} {
				if fi, err := os.Stat(filepath.Join(dir, ArtifactFile(t))); err == nil {
					e.bytes = fi.Size() + meta.Size()
				}
			}
			e.bytes += treeSize(filepath.Join(dir, extension.Folder))
			out = append(out, e)
		}
	}
	return out, nil
}

// treeSize is the bytes of the regular files under dir; 0 if there is
// none.
func treeSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // gone or unreadable: not counted
		}
		if d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// CacheInfo reports the cache's size and the builder's counters.
func (b *Builder) CacheInfo() (CacheInfo, error) {
	es, err := b.entries()
	if err != nil {
		return CacheInfo{}, fmt.Errorf("read build cache: %w", err)
	}
	info := CacheInfo{Dir: b.opts.CacheDir, Entries: len(es), Stats: b.Stats()}
	for _, e := range es {
		info.Bytes += e.bytes
	}
	return info, nil
}

// Evict removes the least recently used artifacts until the cache holds at
// most maxBytes, never one whose key is in keep (artifacts that installed
// plugins need to restart without their source). maxBytes < 0 removes
// everything not kept. It returns what it removed.
func (b *Builder) Evict(maxBytes int64, keep map[string]bool) (removed int, freed int64, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	es, err := b.entries()
	if err != nil {
		return 0, 0, fmt.Errorf("read build cache: %w", err)
	}
	var total int64
	for _, e := range es {
		total += e.bytes
	}
	slices.SortFunc(es, func(x, y entry) int { return x.used.Compare(y.used) })
	for _, e := range es {
		if total <= max(maxBytes, 0) && maxBytes >= 0 {
			break
		}
		if keep[e.key] || b.running[e.key] {
			continue
		}
		if err := os.RemoveAll(e.dir); err != nil {
			return removed, freed, fmt.Errorf("evict %s: %w", e.key, err)
		}
		removed++
		freed += e.bytes
		total -= e.bytes
	}
	return removed, freed, nil
}
