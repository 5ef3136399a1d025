package archive

import (
	"archive/tar"
	"archive/zip"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// File and folder modes on disk; archive modes are not trusted beyond the
// executable bit.
const (
	fileMode = 0o644
	execMode = 0o755
	dirMode  = 0o755
)

// chunkSize is how much content is read, checked and written at a time.
const chunkSize = 32 << 10

// Extract extracts the archive in r (size bytes, in the given format) into
// dest, which must not exist yet, and returns the plugin root: the folder,
// relative to dest ("." for dest itself), holding plugin.yaml, either at the
// top or one folder down (as GitHub's "Download ZIP" nests everything in a
// single folder). r is an io.ReaderAt because zip needs random access; a
// tar.gz is read sequentially.
//
// Nothing appears at dest unless the whole archive passed: entries are
// written to a private temporary sibling folder (dest + ".tmp-<random>")
// that is renamed to dest at the end, and removed on any error. Every rule
// that can be decided from headers is checked before an entry is written;
// sizes, ratios and content are checked on the bytes actually produced while
// copying (sizes declared by headers only serve to refuse earlier). A refused archive yields an *Error; cancellation of ctx yields an
// error wrapping ctx.Err(); other errors come from the host's file system.
//
// Files are written with mode 0o644, or 0o755 when the archive marks them
// executable; folders with 0o755. Links are never created nor followed.
func Extract(ctx context.Context, r io.ReaderAt, size int64, format Format, dest string, lim Limits) (root string, err error) {
	if format != Zip && format != TarGz {
		return "", fmt.Errorf("archive: unknown format %q", format)
	}
	if size < 0 {
		return "", fmt.Errorf("archive: negative size %d", size)
	}
	if dest == "" {
		return "", errors.New("archive: empty destination")
	}
	if err := ctx.Err(); err != nil {
		return "", canceled(err)
	}
	dest = filepath.Clean(dest)
	if _, err := os.Lstat(dest); err == nil {
		return "", fmt.Errorf("archive: destination %s: %w", dest, fs.ErrExist)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("archive: destination: %w", err)
	}
	// MkdirTemp makes a 0o700 folder: nobody else can plant anything in it
	// while it is being filled.
	tmp, err := os.MkdirTemp(filepath.Dir(dest), filepath.Base(dest)+".tmp-*")
	if err != nil {
		return "", fmt.Errorf("archive: temporary folder: %w", err)
	}
	done := false
	defer func() {
		if done {
			return
		}
		// Also reached on panic, so a crash leaves nothing behind either.
		if rerr := os.RemoveAll(tmp); rerr != nil {
			err = errors.Join(err, fmt.Errorf("archive: remove temporary folder: %w", rerr))
		}
	}()

	x := &extractor{
		chk:  newChecker(lim.withDefaults(), size),
		dir:  tmp,
		made: make(map[string]bool),
		buf:  make([]byte, chunkSize),
	}
	if format == Zip {
		root, err = x.zip(ctx, r, size)
	} else {
		root, err = x.tarGz(ctx, r, size)
	}
	if err != nil {
		return "", err
	}
	if err := ctx.Err(); err != nil {
		return "", canceled(err)
	}
	if err := os.Chmod(tmp, dirMode); err != nil {
		return "", fmt.Errorf("archive: %w", err)
	}
	if err := os.Rename(tmp, dest); err != nil {
		return "", fmt.Errorf("archive: %w", err)
	}
	done = true
	return root, nil
}

// canceled wraps a context error.
func canceled(err error) error {
	return fmt.Errorf("archive: extraction canceled: %w", err)
}

// extractor writes admitted entries below dir.
type extractor struct {
	chk   *checker
	dir   string
	made  map[string]bool // folders created, relative to dir
	buf   []byte
	total int64 // content bytes written so far
}

// zip extracts a zip archive. The central directory lists every entry up
// front, so all header checks, including the plugin root, run before
// anything is written.
func (x *extractor) zip(ctx context.Context, r io.ReaderAt, size int64) (string, error) {
	zr, err := zip.NewReader(r, size)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return "", corrupt("", err)
	}
	if len(zr.File) > x.chk.lim.MaxEntries {
		return "", refuse(RuleTooManyEntries, "", "archive has more than %d entries", x.chk.lim.MaxEntries)
	}
	type member struct {
		f   *zip.File
		e   entry
		rel string
	}
	members := make([]member, 0, len(zr.File))
	for _, f := range zr.File {
		if err := ctx.Err(); err != nil {
			return "", canceled(err)
		}
		if err := x.chk.count(); err != nil {
			return "", err
		}
		e := zipEntry(f)
		rel, err := x.chk.admit(e)
		if err != nil {
			return "", err
		}
		members = append(members, member{f, e, rel})
	}
	root, err := x.chk.root()
	if err != nil {
		return "", err
	}
	if err := checkOverlap(zr.File, size); err != nil {
		return "", err
	}
	for _, m := range members {
		if err := ctx.Err(); err != nil {
			return "", canceled(err)
		}
		switch {
		case m.rel == "":
		case m.e.kind == kindDir:
			if err := x.mkdirAll(m.rel); err != nil {
				return "", err
			}
		default:
			rc, err := m.f.Open()
			if err != nil {
				return "", corrupt(m.e.name, err)
			}
			err = x.writeFile(ctx, m.rel, m.e, rc)
			rc.Close()
			if err != nil {
				return "", err
			}
		}
	}
	return root, nil
}

// zipEntry describes a zip member.
func zipEntry(f *zip.File) entry {
	mode := f.Mode()
	e := entry{name: f.Name, exec: mode&0o111 != 0}
	switch {
	case mode&fs.ModeSymlink != 0:
		e.kind = kindSymlink
	case mode.IsDir():
		e.kind = kindDir
	case mode.IsRegular():
		e.kind = kindFile
		e.declared = sizeOf(f.UncompressedSize64)
		e.compressed = sizeOf(f.CompressedSize64)
	default:
		e.kind = kindSpecial
		e.special = specialName(mode)
	}
	return e
}

// sizeOf converts a zip size to int64, saturating.
func sizeOf(n uint64) int64 {
	if n > 1<<63-1 {
		return 1<<63 - 1
	}
	return int64(n)
}

// specialName names a non-regular file mode for messages.
func specialName(mode fs.FileMode) string {
	switch {
	case mode&fs.ModeCharDevice != 0:
		return "character device"
	case mode&fs.ModeDevice != 0:
		return "block device"
	case mode&fs.ModeNamedPipe != 0:
		return "fifo"
	case mode&fs.ModeSocket != 0:
		return "socket"
	}
	return "irregular file"
}

// checkOverlap refuses zip members whose data overlap or run past the end
// of the archive: no zip writer produces them, but "overlapping" bombs use
// them to expand a single compressed kernel many times.
func checkOverlap(files []*zip.File, size int64) error {
	type span struct {
		name       string
		start, end int64
	}
	spans := make([]span, 0, len(files))
	for _, f := range files {
		off, err := f.DataOffset()
		if err != nil {
			return corrupt(f.Name, err)
		}
		end := addSat(off, sizeOf(f.CompressedSize64))
		if end > size {
			return refuse(RuleCorrupt, f.Name, "entry data runs past the end of the archive")
		}
		spans = append(spans, span{f.Name, off, end})
	}
	sort.SliceStable(spans, func(i, j int) bool { return spans[i].start < spans[j].start })
	for i := 1; i < len(spans); i++ {
		if spans[i].start < spans[i-1].end || spans[i].start == spans[i-1].start {
			return refuse(RuleCorrupt, spans[i].name, "entry data overlaps entry %q", spans[i-1].name)
		}
	}
	return nil
}

// tarGz extracts a gzip-compressed tar stream, checking each header before
// writing its entry and the plugin root at the end.
func (x *extractor) tarGz(ctx context.Context, r io.ReaderAt, size int64) (string, error) {
	gz, err := gzip.NewReader(io.NewSectionReader(r, 0, size))
	if err != nil {
		return "", corrupt("", err)
	}
	defer gz.Close()
	tr := tar.NewReader(gz)
	for {
		if err := ctx.Err(); err != nil {
			return "", canceled(err)
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil && !errors.Is(err, tar.ErrInsecurePath) {
			return "", corrupt("", err)
		}
		if err := x.chk.count(); err != nil {
			return "", err
		}
		e := tarEntry(hdr)
		rel, err := x.chk.admit(e)
		if err != nil {
			return "", err
		}
		switch {
		case rel == "":
		case e.kind == kindDir:
			if err := x.mkdirAll(rel); err != nil {
				return "", err
			}
		default:
			if err := x.writeFile(ctx, rel, e, tr); err != nil {
				return "", err
			}
		}
	}
	return x.chk.root()
}

// tarEntry describes a tar member.
func tarEntry(hdr *tar.Header) entry {
	e := entry{name: hdr.Name, exec: hdr.Mode&0o111 != 0}
	switch hdr.Typeflag {
	case tar.TypeReg:
		e.kind = kindFile
		e.declared = hdr.Size
	case tar.TypeDir:
		e.kind = kindDir
	case tar.TypeSymlink:
		e.kind = kindSymlink
	case tar.TypeLink:
		e.kind = kindHardLink
	case tar.TypeXGlobalHeader:
		// Metadata for the whole archive ("git archive" stores the
		// commit there); the reader has already parsed it.
		e.kind = kindSkip
	case tar.TypeChar:
		e.kind, e.special = kindSpecial, "character device"
	case tar.TypeBlock:
		e.kind, e.special = kindSpecial, "block device"
	case tar.TypeFifo:
		e.kind, e.special = kindSpecial, "fifo"
	default:
		e.kind, e.special = kindSpecial, fmt.Sprintf("tar type %q", hdr.Typeflag)
	}
	return e
}

// mkdirAll creates the folder rel and its parents below x.dir. The checker
// guarantees no path is both a file and a folder, and nothing but this
// extractor writes in x.dir, so existing paths are folders made here.
func (x *extractor) mkdirAll(rel string) error {
	if rel == "" || rel == "." || x.made[rel] {
		return nil
	}
	if i := strings.LastIndexByte(rel, '/'); i >= 0 {
		if err := x.mkdirAll(rel[:i]); err != nil {
			return err
		}
	}
	p := filepath.Join(x.dir, filepath.FromSlash(rel))
	if err := os.Mkdir(p, dirMode); err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	if err := os.Chmod(p, dirMode); err != nil { // whatever the umask
		return fmt.Errorf("archive: %w", err)
	}
	x.made[rel] = true
	return nil
}

// writeFile copies the content of e from src to rel, counting the bytes
// actually produced against the limits before writing them, and refusing
// content that is itself an archive.
func (x *extractor) writeFile(ctx context.Context, rel string, e entry, src io.Reader) (err error) {
	if i := strings.LastIndexByte(rel, '/'); i >= 0 {
		if err := x.mkdirAll(rel[:i]); err != nil {
			return err
		}
	}
	p := filepath.Join(x.dir, filepath.FromSlash(rel))
	// O_EXCL: never write through anything already there.
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("archive: %w", cerr)
		}
	}()
	var n int64
	for first := true; ; first = false {
		if err := ctx.Err(); err != nil {
			return canceled(err)
		}
		k, rerr := fill(src, x.buf)
		if k > 0 {
			if first && isArchiveContent(x.buf[:k]) {
				return refuse(RuleNestedArchive, e.name, "content is an archive; nested archives are not allowed")
			}
			n += int64(k)
			x.total += int64(k)
			if err := x.chk.budget(e, n, x.total); err != nil {
				return err
			}
			if _, err := f.Write(x.buf[:k]); err != nil {
				return fmt.Errorf("archive: %w", err)
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return corrupt(e.name, rerr)
		}
	}
	mode := os.FileMode(fileMode)
	if e.exec {
		mode = execMode
	}
	if err := f.Chmod(mode); err != nil { // whatever the umask
		return fmt.Errorf("archive: %w", err)
	}
	return nil
}

// fill reads from r until buf is full or r ends; it returns io.EOF only
// when r ended cleanly, so that a truncated stream (io.ErrUnexpectedEOF from
// a decompressor) is not mistaken for the end of a file.
func fill(r io.Reader, buf []byte) (int, error) {
	n, empty := 0, 0
	for n < len(buf) {
		k, err := r.Read(buf[n:])
		n += k
		if err != nil {
			return n, err
		}
		if k > 0 {
			empty = 0
		} else if empty++; empty >= 100 {
			return n, io.ErrNoProgress
		}
	}
	return n, nil
}
