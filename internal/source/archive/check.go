package archive

import (
	"fmt"
	"path"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// manifestName is the file that marks a plugin's root folder.
const manifestName = "plugin.yaml"

// maxSegmentBytes is the longest path segment most file systems accept.
const maxSegmentBytes = 255

// kind is what an entry becomes on disk, or why it never will.
type kind uint8

const (
	kindFile kind = iota + 1
	kindDir
	kindSymlink
	kindHardLink
	kindSpecial
	kindSkip // metadata that is not extracted (a tar global header)
)

// entry is one archive member, described independently of its format.
type entry struct {
	name       string // as written in the archive
	kind       kind
	exec       bool  // any executable bit set
	declared   int64 // uncompressed size the header claims; checked, never trusted
	compressed int64 // zip only: compressed size, 0 when unknown
	special    string
}

// checker applies every rule that can be decided from headers alone, and
// remembers the paths it admitted so that collisions and the plugin root can
// be found.
type checker struct {
	lim     Limits
	size    int64 // archive size, for the whole-archive ratio
	entries int
	// declared is the sum of the declared sizes of the files so far; since
	// both readers refuse to produce more than a header declares, exceeding
	// a limit here is a cheap early refusal (the counted bytes remain the
	// authority).
	declared int64
	kinds    map[string]kind   // admitted paths, folders include implicit parents
	explicit map[string]bool   // paths that had an entry of their own
	folded   map[string]string // case-folded path -> admitted path
}

func newChecker(lim Limits, size int64) *checker {
	return &checker{
		lim:      lim,
		size:     size,
		kinds:    make(map[string]kind),
		explicit: make(map[string]bool),
		folded:   make(map[string]string),
	}
}

// count counts one more entry of any kind.
func (c *checker) count() error {
	c.entries++
	if c.entries > c.lim.MaxEntries {
		return refuse(RuleTooManyEntries, "", "archive has more than %d entries", c.lim.MaxEntries)
	}
	return nil
}

// admit checks e and returns the slash-separated path, relative to the
// destination, to extract it to; "" means there is nothing to extract (the
// root folder itself, metadata).
func (c *checker) admit(e entry) (string, error) {
	if e.kind == kindSkip {
		return "", nil
	}
	rel, err := cleanName(e.name, e.kind == kindDir, c.lim.MaxDepth)
	if err != nil {
		return "", err
	}
	switch e.kind {
	case kindSymlink:
		return "", refuse(RuleSymlink, e.name, "symbolic links are not allowed")
	case kindHardLink:
		return "", refuse(RuleHardLink, e.name, "hard links are not allowed")
	case kindSpecial:
		return "", refuse(RuleSpecialFile, e.name, "%s entries are not allowed, only regular files and folders", e.special)
	}
	if rel == "" {
		if e.kind == kindDir {
			return "", nil // "./": the root itself
		}
		return "", refuse(RuleBadName, e.name, "name has no file name")
	}
	if e.kind == kindFile && nestedArchiveName(rel) {
		return "", refuse(RuleNestedArchive, e.name, "nested archives are not allowed")
	}
	if err := c.record(e.name, rel, e.kind); err != nil {
		return "", err
	}
	if e.kind == kindFile {
		c.declared = addSat(c.declared, e.declared)
		if err := c.budget(e, e.declared, c.declared); err != nil {
			return "", err
		}
	}
	return rel, nil
}

// record registers rel and its parent folders, refusing collisions.
func (c *checker) record(name, rel string, k kind) error {
	for i := 0; i < len(rel); i++ {
		if rel[i] != '/' {
			continue
		}
		parent := rel[:i]
		switch c.kinds[parent] {
		case kindFile:
			return refuse(RuleDuplicate, name, "%q is both a file and a folder", parent)
		case kindDir:
			continue
		}
		if err := c.fold(name, parent); err != nil {
			return err
		}
		c.kinds[parent] = kindDir
	}
	if old, ok := c.kinds[rel]; ok {
		if old != k {
			return refuse(RuleDuplicate, name, "%q is both a file and a folder", rel)
		}
		if c.explicit[rel] {
			return refuse(RuleDuplicate, name, "path appears twice")
		}
	} else if err := c.fold(name, rel); err != nil {
		return err
	}
	c.kinds[rel] = k
	c.explicit[rel] = true
	return nil
}

// fold refuses rel if another admitted path differs from it only by case.
func (c *checker) fold(name, rel string) error {
	key := strings.ToLower(strings.ToUpper(rel))
	if other, ok := c.folded[key]; ok && other != rel {
		return refuse(RuleDuplicate, name, "%q differs only in letter case from %q", rel, other)
	}
	c.folded[key] = rel
	return nil
}

// budget refuses e once it has produced n bytes while the archive as a whole
// has produced total bytes. It serves both for declared sizes, before
// writing, and for counted bytes, while writing.
func (c *checker) budget(e entry, n, total int64) error {
	if n > c.lim.MaxFileBytes {
		return refuse(RuleTooLarge, e.name, "file is larger than %d bytes uncompressed", c.lim.MaxFileBytes)
	}
	if n > ratioFloor && e.compressed > 0 && exceedsRatio(n, e.compressed, c.lim.MaxRatio) {
		return refuse(RuleRatio, e.name, "entry expands more than %d times", c.lim.MaxRatio)
	}
	if total > c.lim.MaxTotalBytes {
		return refuse(RuleTooLarge, "", "archive is larger than %d bytes uncompressed", c.lim.MaxTotalBytes)
	}
	if total > ratioFloor && exceedsRatio(total, c.size, c.lim.MaxRatio) {
		return refuse(RuleRatio, "", "archive expands more than %d times", c.lim.MaxRatio)
	}
	return nil
}

// root finds the plugin root among the admitted files: the top folder or a
// folder one level down holding plugin.yaml, which must be unique.
func (c *checker) root() (string, error) {
	var found []string
	for p, k := range c.kinds {
		if k != kindFile {
			continue
		}
		if p == manifestName {
			found = append(found, ".")
		} else if dir, file, ok := strings.Cut(p, "/"); ok && file == manifestName {
			found = append(found, dir)
		}
	}
	switch len(found) {
	case 0:
		return "", refuse(RuleNoManifest, "", "archive has no %s at its root or one folder down", manifestName)
	case 1:
		return found[0], nil
	}
	sort.Strings(found)
	names := make([]string, len(found))
	for i, dir := range found {
		names[i] = fmt.Sprintf("%q", path.Join(dir, manifestName))
	}
	return "", refuse(RuleNoManifest, "", "archive has several %s candidates: %s", manifestName, strings.Join(names, ", "))
}

// cleanName validates an entry name and returns it as a clean relative
// slash-separated path ("" for the root folder). Empty and "." segments are
// dropped, as "tar -czf x.tgz ." writes every name with a "./" prefix.
func cleanName(name string, isDir bool, maxDepth int) (string, error) {
	switch {
	case name == "":
		return "", refuse(RuleBadName, name, "name is empty")
	case !utf8.ValidString(name):
		return "", refuse(RuleBadName, name, "name is not valid UTF-8")
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return "", refuse(RuleBadName, name, "name contains a NUL or control character")
	case strings.Contains(name, `\`):
		return "", refuse(RuleBadName, name, "name contains a backslash")
	case name[0] == '/':
		return "", refuse(RuleAbsolutePath, name, "path is absolute")
	case len(name) >= 2 && name[1] == ':' && (name[0]|0x20 >= 'a' && name[0]|0x20 <= 'z'):
		return "", refuse(RuleBadName, name, "name starts with a Windows drive letter")
	case !isDir && strings.HasSuffix(name, "/"):
		return "", refuse(RuleBadName, name, "file name ends with a slash")
	}
	segs := make([]string, 0, strings.Count(name, "/")+1)
	for seg := range strings.SplitSeq(name, "/") {
		switch {
		case seg == "" || seg == ".":
			continue
		case seg == "..":
			return "", refuse(RuleTraversal, name, "path leaves the archive root")
		case len(seg) > maxSegmentBytes:
			return "", refuse(RuleBadName, name, "path segment is longer than %d bytes", maxSegmentBytes)
		}
		segs = append(segs, seg)
	}
	if len(segs) > maxDepth {
		return "", refuse(RuleTooDeep, name, "path has %d segments, more than %d", len(segs), maxDepth)
	}
	return strings.Join(segs, "/"), nil
}

// nestedArchiveName reports whether a file's name says it is an archive or
// a compressed stream (".tar.gz" is covered by ".gz").
func nestedArchiveName(rel string) bool {
	switch strings.ToLower(path.Ext(rel)) {
	case ".zip", ".tar", ".tgz", ".gz", ".jar", ".7z", ".rar", ".xz", ".bz2":
		return true
	}
	return false
}

// ratioFloor is the size below which no ratio is checked: a bomb is a
// danger only when large, and small text files (a page of spaces, a
// generated table) compress far beyond any sane ratio.
const ratioFloor = 1 << 20

// exceedsRatio reports whether n > ratio*base, without overflowing.
func exceedsRatio(n, base int64, ratio int) bool {
	if base <= 0 {
		return false
	}
	r := int64(ratio)
	if base > (1<<63-1)/r {
		return false // ratio*base is beyond any int64 n
	}
	return n > r*base
}

// addSat adds two non-negative sizes, saturating instead of overflowing.
func addSat(a, b int64) int64 {
	if b < 0 {
		return a
	}
	if a > (1<<63-1)-b {
		return 1<<63 - 1
	}
	return a + b
}
