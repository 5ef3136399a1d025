package archive_test

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kubestellar/ksplugins/internal/source/archive"
)

const manifest = "name: demo\nversion: 1.0.0\n"

// zf is a zip member to build.
type zf struct {
	name string
	body []byte
	mode fs.FileMode // 0: let the writer decide
}

func zfile(name, body string) zf { return zf{name: name, body: []byte(body)} }

func buildZip(tb testing.TB, files ...zf) []byte {
	tb.Helper()
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for _, f := range files {
		h := &zip.FileHeader{Name: f.name, Method: zip.Deflate}
		if f.mode != 0 {
			h.SetMode(f.mode)
		}
		fw, err := w.CreateHeader(h)
		if err != nil {
			tb.Fatalf("zip header %q: %v", f.name, err)
		}
		if _, err := fw.Write(f.body); err != nil {
			tb.Fatalf("zip write %q: %v", f.name, err)
		}
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// tf is a tar member to build: hdr is written as is, except that a zero
// Typeflag means a regular file, a zero Mode 0o644 and, for regular files,
// Size defaults to len(body).
type tf struct {
	hdr  tar.Header
	body []byte
}

func tfile(name, body string) tf {
	return tf{hdr: tar.Header{Name: name}, body: []byte(body)}
}

func ttype(name string, typ byte, link string) tf {
	return tf{hdr: tar.Header{Name: name, Typeflag: typ, Linkname: link}}
}

func buildTarGz(tb testing.TB, files ...tf) []byte {
	tb.Helper()
	return tarGzWith(tb, func(tw *tar.Writer, gz io.Writer) {
		for _, f := range files {
			writeTar(tb, tw, f)
		}
	})
}

func writeTar(tb testing.TB, tw *tar.Writer, f tf) {
	tb.Helper()
	h := f.hdr
	if h.Typeflag == 0 {
		h.Typeflag = tar.TypeReg
	}
	if h.Mode == 0 && h.Typeflag != tar.TypeXGlobalHeader {
		h.Mode = 0o644
	}
	if h.Typeflag == tar.TypeReg && h.Size == 0 {
		h.Size = int64(len(f.body))
	}
	if err := tw.WriteHeader(&h); err != nil {
		tb.Fatalf("tar header %q: %v", h.Name, err)
	}
	if _, err := tw.Write(f.body); err != nil {
		tb.Fatalf("tar write %q: %v", h.Name, err)
	}
}

// tarGzWith builds a tar.gz with full control: write may bypass the tar
// writer by writing raw bytes to gz.
func tarGzWith(tb testing.TB, write func(tw *tar.Writer, gz io.Writer)) []byte {
	tb.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	write(tw, gz)
	if err := tw.Close(); err != nil {
		tb.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func gzipBytes(tb testing.TB, data []byte) []byte {
	tb.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	if _, err := gz.Write(data); err != nil {
		tb.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// randomBytes returns deterministic incompressible bytes that do not start
// with any archive magic.
func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	if n > 0 {
		b[0] = 'x'
	}
	return b
}

// lyingZip has a member that declares 10 bytes but inflates to 5000.
func lyingZip(tb testing.TB) []byte {
	tb.Helper()
	body := randomBytes(5000, 7)
	var comp bytes.Buffer
	fw, _ := flate.NewWriter(&comp, flate.DefaultCompression)
	fw.Write(body)
	fw.Close()
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	add := func(name string, data []byte) {
		fw, err := w.Create(name)
		if err != nil {
			tb.Fatal(err)
		}
		fw.Write(data)
	}
	add("plugin.yaml", []byte(manifest))
	raw, err := w.CreateRaw(&zip.FileHeader{
		Name:               "lie.bin",
		Method:             zip.Deflate,
		CRC32:              crc32.ChecksumIEEE(body),
		CompressedSize64:   uint64(comp.Len()),
		UncompressedSize64: 10,
	})
	if err != nil {
		tb.Fatal(err)
	}
	raw.Write(comp.Bytes())
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// overlappingZip makes the central directory entry of "b.txt" point at the
// local header of "a.txt", as overlapping zip bombs do.
func overlappingZip(tb testing.TB) []byte {
	tb.Helper()
	data := buildZip(tb, zfile("plugin.yaml", manifest), zfile("a.txt", "aaaa"), zfile("b.txt", "bbbb"))
	offsets := map[string]uint32{}
	var bRecord int
	for i := 0; ; {
		j := bytes.Index(data[i:], []byte("PK\x01\x02"))
		if j < 0 {
			break
		}
		rec := i + j
		nameLen := int(binary.LittleEndian.Uint16(data[rec+28:]))
		name := string(data[rec+46 : rec+46+nameLen])
		offsets[name] = binary.LittleEndian.Uint32(data[rec+42:])
		if name == "b.txt" {
			bRecord = rec
		}
		i = rec + 4
	}
	if bRecord == 0 {
		tb.Fatal("central directory record of b.txt not found")
	}
	binary.LittleEndian.PutUint32(data[bRecord+42:], offsets["a.txt"])
	return data
}

// manyZip and manyTarGz hold plugin.yaml and n-1 more files.
func manyZip(tb testing.TB, n int) []byte {
	files := []zf{zfile("plugin.yaml", manifest)}
	for i := 1; i < n; i++ {
		files = append(files, zfile(fmt.Sprintf("f%04d.txt", i), "x"))
	}
	return buildZip(tb, files...)
}

func manyTarGz(tb testing.TB, n int) []byte {
	files := []tf{tfile("plugin.yaml", manifest)}
	for i := 1; i < n; i++ {
		files = append(files, tfile(fmt.Sprintf("f%04d.txt", i), "x"))
	}
	return buildTarGz(tb, files...)
}

// bombs builds a zip and a tar.gz each holding 50 MiB of zeros, which
// compress about 800 times even at the fastest level (used to keep the
// test quick under the race detector).
func bombs(tb testing.TB) (zipBomb, tarBomb []byte) {
	tb.Helper()
	zeros := make([]byte, 50<<20)
	var zb bytes.Buffer
	w := zip.NewWriter(&zb)
	w.RegisterCompressor(zip.Deflate, func(out io.Writer) (io.WriteCloser, error) {
		return flate.NewWriter(out, flate.BestSpeed)
	})
	for _, f := range []zf{zfile("plugin.yaml", manifest), {name: "zeros.bin", body: zeros}} {
		fw, err := w.Create(f.name)
		if err != nil {
			tb.Fatal(err)
		}
		fw.Write(f.body)
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	var tgz bytes.Buffer
	gz, _ := gzip.NewWriterLevel(&tgz, gzip.BestSpeed)
	tw := tar.NewWriter(gz)
	writeTar(tb, tw, tfile("plugin.yaml", manifest))
	writeTar(tb, tw, tf{hdr: tar.Header{Name: "zeros.bin"}, body: zeros})
	if err := tw.Close(); err != nil {
		tb.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		tb.Fatal(err)
	}
	return zb.Bytes(), tgz.Bytes()
}

func deepName(segments int) string {
	parts := make([]string, segments)
	for i := range parts {
		parts[i] = fmt.Sprintf("d%d", i)
	}
	parts[segments-1] = "x.go"
	return strings.Join(parts, "/")
}

// listDir lists the names in dir, to prove an extraction left nothing.
func listDir(tb testing.TB, dir string) []string {
	tb.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// newParent makes a folder holding an unrelated file, and returns the
// destination to extract to inside it.
func newParent(tb testing.TB) (parent, dest string) {
	tb.Helper()
	parent = tb.TempDir()
	if err := os.WriteFile(filepath.Join(parent, "unrelated.txt"), []byte("keep"), 0o644); err != nil {
		tb.Fatal(err)
	}
	return parent, filepath.Join(parent, "plugin")
}

func TestExtractRefusesHostileArchives(t *testing.T) {
	zipBomb, tarBomb := bombs(t)
	plugin := zfile("plugin.yaml", manifest)
	tplugin := tfile("plugin.yaml", manifest)
	innerZip := buildZip(t, zfile("evil.go", "package evil"))
	truncated := buildTarGz(t, tplugin, tf{hdr: tar.Header{Name: "data.bin"}, body: randomBytes(64<<10, 3)})
	truncated = truncated[:len(truncated)*6/10]
	corruptZip := append([]byte("PK\x03\x04"), randomBytes(2000, 1)...)
	corruptGz := append([]byte("\x1f\x8b"), randomBytes(2000, 2)...)
	lyingTar := tarGzWith(t, func(tw *tar.Writer, gz io.Writer) {
		writeTar(t, tw, tplugin)
		// Declare 10 bytes, write 10, then smuggle 2 KiB more behind the
		// tar writer's back: the reader takes them for the next header.
		writeTar(t, tw, tf{hdr: tar.Header{Name: "small.txt", Size: 10}, body: []byte("0123456789")})
		if err := tw.Flush(); err != nil {
			t.Fatal(err)
		}
		gz.Write(bytes.Repeat([]byte("A"), 2048))
	})
	big := archive.DefaultLimits()
	big.MaxTotalBytes = 1 << 30
	big.MaxFileBytes = 1 << 30

	tests := []struct {
		name   string
		format archive.Format
		data   []byte
		lim    archive.Limits
		rule   string
		entry  string
	}{
		// Paths.
		{"zip traversal", archive.Zip, buildZip(t, plugin, zfile("../evil.go", "x")), archive.Limits{}, archive.RuleTraversal, "../evil.go"},
		{"tgz traversal", archive.TarGz, buildTarGz(t, tplugin, tfile("a/../../evil.go", "x")), archive.Limits{}, archive.RuleTraversal, "a/../../evil.go"},
		{"zip dotdot only", archive.Zip, buildZip(t, plugin, zf{name: "../", mode: fs.ModeDir | 0o755}), archive.Limits{}, archive.RuleTraversal, "../"},
		{"zip absolute", archive.Zip, buildZip(t, plugin, zfile("/abs.go", "x")), archive.Limits{}, archive.RuleAbsolutePath, "/abs.go"},
		{"tgz absolute", archive.TarGz, buildTarGz(t, tplugin, tfile("/etc/cron.d/evil", "x")), archive.Limits{}, archive.RuleAbsolutePath, "/etc/cron.d/evil"},
		{"zip backslash", archive.Zip, buildZip(t, plugin, zfile(`a\b.go`, "x")), archive.Limits{}, archive.RuleBadName, `a\b.go`},
		{"tgz backslash traversal", archive.TarGz, buildTarGz(t, tplugin, tfile(`..\evil.go`, "x")), archive.Limits{}, archive.RuleBadName, `..\evil.go`},
		{"zip drive letter", archive.Zip, buildZip(t, plugin, zfile("C:/evil.go", "x")), archive.Limits{}, archive.RuleBadName, "C:/evil.go"},
		{"zip NUL", archive.Zip, buildZip(t, plugin, zfile("a\x00b.go", "x")), archive.Limits{}, archive.RuleBadName, "a\x00b.go"},
		{"tgz control char", archive.TarGz, buildTarGz(t, tplugin, tfile("a\x1bb.go", "x")), archive.Limits{}, archive.RuleBadName, "a\x1bb.go"},
		{"zip empty name", archive.Zip, buildZip(t, plugin, zfile("", "x")), archive.Limits{}, archive.RuleBadName, ""},
		{"zip invalid UTF-8", archive.Zip, buildZip(t, plugin, zfile("a\xffb.go", "x")), archive.Limits{}, archive.RuleBadName, "a\xffb.go"},
		{"zip too deep", archive.Zip, buildZip(t, plugin, zfile(deepName(17), "x")), archive.Limits{}, archive.RuleTooDeep, deepName(17)},
		{"tgz too deep", archive.TarGz, buildTarGz(t, tplugin, tfile(deepName(5), "x")), archive.Limits{MaxDepth: 4}, archive.RuleTooDeep, deepName(5)},

		// Types.
		{"zip symlink", archive.Zip, buildZip(t, plugin, zf{name: "link", body: []byte("/etc/passwd"), mode: fs.ModeSymlink | 0o777}), archive.Limits{}, archive.RuleSymlink, "link"},
		{"tgz symlink", archive.TarGz, buildTarGz(t, tplugin, ttype("link", tar.TypeSymlink, "/etc/passwd")), archive.Limits{}, archive.RuleSymlink, "link"},
		{"tgz hard link", archive.TarGz, buildTarGz(t, tplugin, ttype("hl", tar.TypeLink, "plugin.yaml")), archive.Limits{}, archive.RuleHardLink, "hl"},
		{"tgz char device", archive.TarGz, buildTarGz(t, tplugin, ttype("null", tar.TypeChar, "")), archive.Limits{}, archive.RuleSpecialFile, "null"},
		{"tgz block device", archive.TarGz, buildTarGz(t, tplugin, ttype("sda", tar.TypeBlock, "")), archive.Limits{}, archive.RuleSpecialFile, "sda"},
		{"tgz fifo", archive.TarGz, buildTarGz(t, tplugin, ttype("pipe", tar.TypeFifo, "")), archive.Limits{}, archive.RuleSpecialFile, "pipe"},
		{"zip fifo", archive.Zip, buildZip(t, plugin, zf{name: "pipe", mode: fs.ModeNamedPipe | 0o644}), archive.Limits{}, archive.RuleSpecialFile, "pipe"},
		{"zip char device", archive.Zip, buildZip(t, plugin, zf{name: "null", mode: fs.ModeDevice | fs.ModeCharDevice | 0o666}), archive.Limits{}, archive.RuleSpecialFile, "null"},

		// Collisions.
		{"zip duplicate", archive.Zip, buildZip(t, plugin, zfile("a.go", "1"), zfile("a.go", "2")), archive.Limits{}, archive.RuleDuplicate, "a.go"},
		{"tgz duplicate", archive.TarGz, buildTarGz(t, tplugin, tfile("a.go", "1"), tfile("./a.go", "2")), archive.Limits{}, archive.RuleDuplicate, "./a.go"},
		{"zip case collision", archive.Zip, buildZip(t, plugin, zfile("Main.go", "1"), zfile("main.go", "2")), archive.Limits{}, archive.RuleDuplicate, "main.go"},
		{"tgz case collision", archive.TarGz, buildTarGz(t, tplugin, tfile("Main.go", "1"), tfile("main.go", "2")), archive.Limits{}, archive.RuleDuplicate, "main.go"},
		{"tgz folder case collision", archive.TarGz, buildTarGz(t, tplugin, tfile("Src/a.go", "1"), tfile("src/b.go", "2")), archive.Limits{}, archive.RuleDuplicate, "src/b.go"},
		{"zip file then folder", archive.Zip, buildZip(t, plugin, zfile("lib", "1"), zfile("lib/a.go", "2")), archive.Limits{}, archive.RuleDuplicate, "lib/a.go"},
		{"tgz folder then file", archive.TarGz, buildTarGz(t, tplugin, ttype("lib/", tar.TypeDir, ""), tfile("lib", "1")), archive.Limits{}, archive.RuleDuplicate, "lib"},

		// Sizes.
		{"zip too many entries", archive.Zip, manyZip(t, 1001), archive.Limits{}, archive.RuleTooManyEntries, ""},
		{"tgz too many entries", archive.TarGz, manyTarGz(t, 1001), archive.Limits{}, archive.RuleTooManyEntries, ""},
		{"zip bomb", archive.Zip, zipBomb, big, archive.RuleRatio, "zeros.bin"},
		{"tgz bomb", archive.TarGz, tarBomb, big, archive.RuleRatio, ""},
		{"zip too large", archive.Zip, buildZip(t, plugin, zf{name: "a", body: randomBytes(400, 1)}, zf{name: "b", body: randomBytes(400, 2)}, zf{name: "c", body: randomBytes(400, 3)}), archive.Limits{MaxTotalBytes: 1000}, archive.RuleTooLarge, ""},
		{"tgz too large", archive.TarGz, buildTarGz(t, tplugin, tf{hdr: tar.Header{Name: "a"}, body: randomBytes(400, 1)}, tf{hdr: tar.Header{Name: "b"}, body: randomBytes(400, 2)}, tf{hdr: tar.Header{Name: "c"}, body: randomBytes(400, 3)}), archive.Limits{MaxTotalBytes: 1000}, archive.RuleTooLarge, ""},
		{"zip file too large", archive.Zip, buildZip(t, plugin, zf{name: "big.bin", body: randomBytes(200, 4)}), archive.Limits{MaxFileBytes: 100}, archive.RuleTooLarge, "big.bin"},
		{"tgz file too large", archive.TarGz, buildTarGz(t, tplugin, tf{hdr: tar.Header{Name: "big.bin"}, body: randomBytes(200, 4)}), archive.Limits{MaxFileBytes: 100}, archive.RuleTooLarge, "big.bin"},

		// Nested archives.
		{"zip nested by name", archive.Zip, buildZip(t, plugin, zfile("vendor/lib.JAR", "not really")), archive.Limits{}, archive.RuleNestedArchive, "vendor/lib.JAR"},
		{"tgz nested by name", archive.TarGz, buildTarGz(t, tplugin, tfile("deps.tar.gz", "not really")), archive.Limits{}, archive.RuleNestedArchive, "deps.tar.gz"},
		{"zip nested by magic", archive.Zip, buildZip(t, plugin, zf{name: "data.bin", body: innerZip}), archive.Limits{}, archive.RuleNestedArchive, "data.bin"},
		{"tgz nested by magic", archive.TarGz, buildTarGz(t, tplugin, tf{hdr: tar.Header{Name: "blob.dat"}, body: gzipBytes(t, []byte("hidden"))}), archive.Limits{}, archive.RuleNestedArchive, "blob.dat"},

		// Manifest.
		{"zip no manifest", archive.Zip, buildZip(t, zfile("main.go", "package main")), archive.Limits{}, archive.RuleNoManifest, ""},
		{"tgz no manifest", archive.TarGz, buildTarGz(t, tfile("a/b/plugin.yaml", manifest)), archive.Limits{}, archive.RuleNoManifest, ""},
		{"zip empty", archive.Zip, buildZip(t), archive.Limits{}, archive.RuleNoManifest, ""},
		{"zip several manifests", archive.Zip, buildZip(t, zfile("a/plugin.yaml", manifest), zfile("b/plugin.yaml", manifest)), archive.Limits{}, archive.RuleNoManifest, ""},
		{"tgz manifest top and below", archive.TarGz, buildTarGz(t, tplugin, tfile("sub/plugin.yaml", manifest)), archive.Limits{}, archive.RuleNoManifest, ""},

		// Corruption.
		{"zip corrupt", archive.Zip, corruptZip, archive.Limits{}, archive.RuleCorrupt, ""},
		{"tgz corrupt", archive.TarGz, corruptGz, archive.Limits{}, archive.RuleCorrupt, ""},
		{"tgz truncated", archive.TarGz, truncated, archive.Limits{}, archive.RuleCorrupt, "data.bin"},
		{"tgz header lies about size", archive.TarGz, lyingTar, archive.Limits{}, archive.RuleCorrupt, ""},
		{"zip header lies about size", archive.Zip, lyingZip(t), archive.Limits{}, archive.RuleCorrupt, "lie.bin"},
		{"zip overlapping entries", archive.Zip, overlappingZip(t), archive.Limits{}, archive.RuleCorrupt, "b.txt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent, dest := newParent(t)
			before := listDir(t, parent)
			root, err := archive.Extract(t.Context(), bytes.NewReader(tt.data), int64(len(tt.data)), tt.format, dest, tt.lim)
			t.Logf("%v", err)
			var ae *archive.Error
			if !errors.As(err, &ae) {
				t.Fatalf("Extract = %q, %v; want *archive.Error", root, err)
			}
			if ae.Rule != tt.rule || ae.Entry != tt.entry {
				t.Errorf("Extract error = %v (rule %q, entry %q); want rule %q, entry %q", err, ae.Rule, ae.Entry, tt.rule, tt.entry)
			}
			if root != "" {
				t.Errorf("root = %q on error", root)
			}
			if after := listDir(t, parent); !slices.Equal(before, after) {
				t.Errorf("parent folder holds %q after a refused archive, want %q", after, before)
			}
		})
	}
}

// tree is a folder's content: path -> file content, or "/" + mode for
// folders, with each file's mode appended after a NUL.
type tree map[string]string

func readTree(tb testing.TB, dir string) tree {
	tb.Helper()
	got := tree{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		switch {
		case info.IsDir():
			got[rel] = fmt.Sprintf("dir %o", info.Mode().Perm())
		case info.Mode().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			got[rel] = fmt.Sprintf("file %o\x00%s", info.Mode().Perm(), data)
		default:
			return fmt.Errorf("%s: unexpected mode %v", rel, info.Mode())
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return got
}

func TestExtractValid(t *testing.T) {
	blob := randomBytes(100<<10, 9)
	// files and dirs of a plugin, relative to its root.
	files := []struct {
		name string
		body []byte
		exec bool
	}{
		{"plugin.yaml", []byte(manifest), false},
		{"main.go", []byte("package main\n\nfunc main() {}\n"), false},
		{"build.sh", []byte("#!/bin/sh\ngo build ./...\n"), true},
		{"internal/handler/handler.go", []byte("package handler\n"), false},
		{"internal/handler/testdata/blob.bin", blob, false},
		{"web/static/index.html", []byte("<html></html>"), false},
		{"empty.txt", nil, false},
	}
	dirs := []string{"internal/", "internal/handler/", "web/", "web/static/", "empty/", "empty/nested/"}

	want := func(prefix string) tree {
		w := tree{".": "dir 755"}
		if prefix != "" {
			w[strings.TrimSuffix(prefix, "/")] = "dir 755"
		}
		for _, f := range files {
			mode := "644"
			if f.exec {
				mode = "755"
			}
			w[prefix+f.name] = fmt.Sprintf("file %s\x00%s", mode, f.body)
		}
		for _, d := range append(dirs, "internal/handler/testdata/") {
			w[prefix+strings.TrimSuffix(d, "/")] = "dir 755"
		}
		return w
	}
	makeZip := func(prefix string) []byte {
		var members []zf
		if prefix != "" {
			members = append(members, zf{name: prefix, mode: fs.ModeDir | 0o755})
		}
		for _, d := range dirs {
			members = append(members, zf{name: prefix + d, mode: fs.ModeDir | 0o755})
		}
		for _, f := range files {
			mode := fs.FileMode(0o644)
			if f.exec {
				mode = 0o755
			}
			members = append(members, zf{name: prefix + f.name, body: f.body, mode: mode})
		}
		return buildZip(t, members...)
	}
	makeTarGz := func(prefix string, globalHeader bool) []byte {
		var members []tf
		if globalHeader {
			// As "git archive" and GitHub tarballs write.
			members = append(members, tf{hdr: tar.Header{
				Typeflag:   tar.TypeXGlobalHeader,
				Name:       "pax_global_header",
				PAXRecords: map[string]string{"comment": "0123456789abcdef"},
				Format:     tar.FormatPAX,
			}})
		}
		if prefix != "" {
			members = append(members, ttype(prefix, tar.TypeDir, ""))
		}
		for _, d := range dirs {
			members = append(members, ttype(prefix+d, tar.TypeDir, ""))
		}
		for _, f := range files {
			m := tf{hdr: tar.Header{Name: prefix + f.name, Mode: 0o644}, body: f.body}
			if f.exec {
				m.hdr.Mode = 0o755
			}
			members = append(members, m)
		}
		return buildTarGz(t, members...)
	}
	// The zip without folder entries relies on implicit parents.
	var implicit []zf
	for _, f := range files {
		mode := fs.FileMode(0o644)
		if f.exec {
			mode = 0o755
		}
		implicit = append(implicit, zf{name: f.name, body: f.body, mode: mode})
	}
	implicitWant := want("")
	delete(implicitWant, "empty")
	delete(implicitWant, "empty/nested")

	tests := []struct {
		name     string
		format   archive.Format
		data     []byte
		wantRoot string
		want     tree
	}{
		{"zip top", archive.Zip, makeZip(""), ".", want("")},
		{"zip one folder down", archive.Zip, makeZip("myplugin-1.0/"), "myplugin-1.0", want("myplugin-1.0/")},
		{"zip implicit folders", archive.Zip, buildZip(t, implicit...), ".", implicitWant},
		{"tgz top", archive.TarGz, makeTarGz("", false), ".", want("")},
		{"tgz one folder down", archive.TarGz, makeTarGz("myplugin-1.0/", true), "myplugin-1.0", want("myplugin-1.0/")},
		{"tgz dot slash prefix", archive.TarGz, makeTarGz("./", true), ".", want("")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if f, err := archive.Detect(tt.data); err != nil || f != tt.format {
				t.Fatalf("Detect = %q, %v; want %q", f, err, tt.format)
			}
			parent, dest := newParent(t)
			root, err := archive.Extract(t.Context(), bytes.NewReader(tt.data), int64(len(tt.data)), tt.format, dest, archive.Limits{})
			if err != nil {
				t.Fatalf("Extract: %v", err)
			}
			if root != tt.wantRoot {
				t.Errorf("root = %q, want %q", root, tt.wantRoot)
			}
			got := readTree(t, dest)
			for p, w := range tt.want {
				if got[p] != w {
					t.Errorf("%s: got %.40q, want %.40q", p, got[p], w)
				}
			}
			for p := range got {
				if _, ok := tt.want[p]; !ok {
					t.Errorf("unexpected %s", p)
				}
			}
			if names := listDir(t, parent); !slices.Equal(names, []string{"plugin", "unrelated.txt"}) {
				t.Errorf("parent holds %q, want only the destination and the unrelated file", names)
			}
		})
	}
}

func TestExtractDestinationExists(t *testing.T) {
	data := buildZip(t, zfile("plugin.yaml", manifest))
	parent, dest := newParent(t)
	if err := os.Mkdir(dest, 0o755); err != nil {
		t.Fatal(err)
	}
	before := listDir(t, parent)
	_, err := archive.Extract(t.Context(), bytes.NewReader(data), int64(len(data)), archive.Zip, dest, archive.Limits{})
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("Extract = %v, want fs.ErrExist", err)
	}
	if after := listDir(t, parent); !slices.Equal(before, after) {
		t.Errorf("parent holds %q, want %q", after, before)
	}
}

// cancelingReader cancels a context once more than after bytes were read.
type cancelingReader struct {
	r      io.ReaderAt
	after  int64
	read   int64
	cancel context.CancelFunc
}

func (c *cancelingReader) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.read += int64(n)
	if c.read > c.after {
		c.cancel()
	}
	return n, err
}

func TestExtractCanceled(t *testing.T) {
	body := randomBytes(2<<20, 5)
	archives := map[archive.Format][]byte{
		archive.Zip:   buildZip(t, zfile("plugin.yaml", manifest), zf{name: "big.bin", body: body}),
		archive.TarGz: buildTarGz(t, tfile("plugin.yaml", manifest), tf{hdr: tar.Header{Name: "big.bin"}, body: body}),
	}
	for format, data := range archives {
		// Canceled before the start, and in the middle of big.bin.
		for _, after := range []int64{-1, 1 << 20} {
			t.Run(fmt.Sprintf("%s after %d", format, after), func(t *testing.T) {
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				if after < 0 {
					cancel()
				}
				r := &cancelingReader{r: bytes.NewReader(data), after: after, cancel: cancel}
				parent, dest := newParent(t)
				before := listDir(t, parent)
				_, err := archive.Extract(ctx, r, int64(len(data)), format, dest, archive.Limits{})
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("Extract = %v, want context.Canceled", err)
				}
				var ae *archive.Error
				if errors.As(err, &ae) {
					t.Errorf("cancellation reported as a refused archive: %v", err)
				}
				if after := listDir(t, parent); !slices.Equal(before, after) {
					t.Errorf("parent holds %q, want %q", after, before)
				}
			})
		}
	}
}

func TestDetect(t *testing.T) {
	tests := []struct {
		head []byte
		want archive.Format
		ok   bool
	}{
		{[]byte("PK\x03\x04rest"), archive.Zip, true},
		{[]byte("PK\x05\x06"), archive.Zip, true},
		{[]byte("\x1f\x8b\x08"), archive.TarGz, true},
		{[]byte("PK"), "", false},
		{[]byte("\x1f"), "", false},
		{nil, "", false},
		{[]byte("plugin.yaml"), "", false},
		{[]byte("7z\xbc\xaf\x27\x1c"), "", false},
	}
	for _, tt := range tests {
		got, err := archive.Detect(tt.head)
		if got != tt.want || (err == nil) != tt.ok {
			t.Errorf("Detect(%q) = %q, %v; want %q, ok=%v", tt.head, got, err, tt.want, tt.ok)
		}
		var ae *archive.Error
		if err != nil && (!errors.As(err, &ae) || ae.Rule != archive.RuleCorrupt || ae.Message != "not a zip or tar.gz archive") {
			t.Errorf("Detect(%q) error = %#v", tt.head, err)
		}
	}
}

func TestErrorString(t *testing.T) {
	tests := []struct {
		err  *archive.Error
		want string
	}{
		{&archive.Error{Rule: archive.RuleTraversal, Entry: "../evil.go", Message: "path leaves the archive root"},
			`archive entry "../evil.go": path_traversal: path leaves the archive root`},
		{&archive.Error{Rule: archive.RuleTooManyEntries, Message: "archive has more than 1000 entries"},
			`archive: too_many_entries: archive has more than 1000 entries`},
		{&archive.Error{Rule: archive.RuleBadName, Entry: "a\nb", Message: "m"},
			`archive entry "a\nb": bad_name: m`},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

func TestDefaultLimits(t *testing.T) {
	want := archive.Limits{MaxEntries: 1000, MaxTotalBytes: 100 << 20, MaxFileBytes: 100 << 20, MaxRatio: 100, MaxDepth: 16}
	if got := archive.DefaultLimits(); got != want {
		t.Errorf("DefaultLimits() = %+v, want %+v", got, want)
	}
}

func FuzzExtractZip(f *testing.F) {
	f.Add(buildZip(f, zfile("plugin.yaml", manifest), zfile("main.go", "package main")))
	f.Add(buildZip(f, zf{name: "p/", mode: fs.ModeDir | 0o755}, zfile("p/plugin.yaml", manifest), zf{name: "p/build.sh", body: []byte("#!/bin/sh"), mode: 0o755}))
	f.Add(buildZip(f, zfile("plugin.yaml", manifest), zfile("../evil.go", "x")))
	f.Add(buildZip(f, zfile("plugin.yaml", manifest), zf{name: "link", body: []byte("/etc"), mode: fs.ModeSymlink | 0o777}))
	f.Add(buildZip(f, zfile("plugin.yaml", manifest), zfile("Main.go", "1"), zfile("main.go", "2")))
	f.Add(buildZip(f, zfile("plugin.yaml", manifest), zf{name: "zeros", body: make([]byte, 1<<20)}))
	f.Add(overlappingZip(f))
	f.Add(append([]byte("PK\x03\x04"), randomBytes(200, 1)...))
	lim := archive.Limits{MaxEntries: 64, MaxTotalBytes: 1 << 20, MaxDepth: 8}
	f.Fuzz(func(t *testing.T, data []byte) {
		parent, dest := newParent(t)
		root, err := archive.Extract(t.Context(), bytes.NewReader(data), int64(len(data)), archive.Zip, dest, lim)
		names := listDir(t, parent)
		if err != nil {
			if root != "" {
				t.Errorf("root = %q on error", root)
			}
			if !slices.Equal(names, []string{"unrelated.txt"}) {
				t.Fatalf("refused archive (%v) left %q", err, names)
			}
			return
		}
		if !slices.Equal(names, []string{"plugin", "unrelated.txt"}) {
			t.Fatalf("extraction left %q", names)
		}
		if root != "." && (!filepath.IsLocal(root) || strings.ContainsAny(root, `/\`)) {
			t.Fatalf("root %q is not dest or a folder directly inside it", root)
		}
		if info, err := os.Lstat(filepath.Join(dest, root, "plugin.yaml")); err != nil || !info.Mode().IsRegular() {
			t.Fatalf("root %q has no regular plugin.yaml: %v", root, err)
		}
		readTree(t, dest) // fails on anything but files and folders
	})
}

// TestSmallCompressibleFilesAccepted: a file that compresses a thousand
// times is refused only once it is large; below 1 MiB it is just a file.
func TestSmallCompressibleFilesAccepted(t *testing.T) {
	for _, tc := range []struct {
		size int
		ok   bool
	}{{4 << 10, true}, {512 << 10, true}, {4 << 20, false}} {
		data := buildZip(t, zfile("plugin.yaml", manifest), zf{name: "spaces.txt", body: bytes.Repeat([]byte(" "), tc.size)})
		_, dest := newParent(t)
		_, err := archive.Extract(t.Context(), bytes.NewReader(data), int64(len(data)), archive.Zip, dest, archive.Limits{})
		var ae *archive.Error
		switch {
		case tc.ok && err != nil:
			t.Errorf("%d bytes of spaces: %v; want accepted", tc.size, err)
		case !tc.ok && (!errors.As(err, &ae) || ae.Rule != archive.RuleRatio):
			t.Errorf("%d bytes of spaces: %v; want the %s rule", tc.size, err, archive.RuleRatio)
		}
	}
}
