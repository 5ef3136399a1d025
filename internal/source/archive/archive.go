// Package archive unpacks plugin uploads (.zip and .tar.gz) from untrusted
// users.
//
// An upload is hostile until proven otherwise: it may try to write outside
// the destination (absolute paths, "..", links), to exhaust the disk or the
// CPU (bombs, huge entry counts, nested archives), or to behave differently
// on other systems (case-only collisions, backslashes, drive letters).
// Extract refuses all of these with an *Error naming the rule that fired, and
// a refused archive leaves nothing on disk: everything is written to a
// private temporary folder that only becomes the destination once every
// check has passed.
package archive

import (
	"bytes"
	"fmt"
)

// Limits bound what an archive may contain. They exist so that an upload
// cannot exhaust the host's disk, memory or CPU; a zero (or negative) field
// means "use the default", so callers only set what they want to change.
type Limits struct {
	// MaxEntries bounds the number of entries (files, folders and any
	// other header); default 1000.
	MaxEntries int
	// MaxTotalBytes bounds the uncompressed size of all files together;
	// default 100 MiB.
	MaxTotalBytes int64
	// MaxFileBytes bounds the uncompressed size of any one file; default
	// MaxTotalBytes.
	MaxFileBytes int64
	// MaxRatio bounds how many times larger than the archive its content
	// may be, and, for zip entries with a compressed size above zero, how
	// many times larger than its compressed form an entry may be; default
	// 100. Neither ratio counts until the content passes 1 MiB.
	MaxRatio int
	// MaxDepth bounds the number of segments in an entry's path; default 16.
	MaxDepth int
}

// Default limits, see Limits.
const (
	defaultMaxEntries    = 1000
	defaultMaxTotalBytes = 100 << 20
	defaultMaxRatio      = 100
	defaultMaxDepth      = 16
)

// DefaultLimits returns the limits used for fields left at zero, so callers
// can start from them and tighten or loosen a single bound.
func DefaultLimits() Limits {
	return Limits{
		MaxEntries:    defaultMaxEntries,
		MaxTotalBytes: defaultMaxTotalBytes,
		MaxFileBytes:  defaultMaxTotalBytes,
		MaxRatio:      defaultMaxRatio,
		MaxDepth:      defaultMaxDepth,
	}
}

// withDefaults replaces unset (zero or negative) fields by their defaults.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxEntries <= 0 {
		l.MaxEntries = d.MaxEntries
	}
	if l.MaxTotalBytes <= 0 {
		l.MaxTotalBytes = d.MaxTotalBytes
	}
	if l.MaxFileBytes <= 0 {
		l.MaxFileBytes = l.MaxTotalBytes
	}
	if l.MaxRatio <= 0 {
		l.MaxRatio = d.MaxRatio
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = d.MaxDepth
	}
	return l
}

// Format is the container format of an archive. Uploads arrive as opaque
// bytes, so the format is sniffed with Detect rather than trusted from a
// file name or a content type.
type Format string

// The supported formats.
const (
	// Zip is a PKZIP archive, as produced by GitHub's "Download ZIP".
	Zip Format = "zip"
	// TarGz is a gzip-compressed tar stream, as produced by "tar czf".
	TarGz Format = "tar.gz"
)

// Magic numbers recognised by Detect and by the nested-archive check.
const (
	zipLocalMagic = "PK\x03\x04"
	zipEmptyMagic = "PK\x05\x06" // end of central directory: an empty zip
	gzipMagic     = "\x1f\x8b"
)

// Detect tells the format of an archive from its first bytes (four are
// enough), so that a caller need not trust a user-supplied file name. An
// empty zip archive, which starts directly with its end record, is accepted.
// Anything else is refused with a RuleCorrupt *Error.
func Detect(head []byte) (Format, error) {
	switch {
	case bytes.HasPrefix(head, []byte(zipLocalMagic)), bytes.HasPrefix(head, []byte(zipEmptyMagic)):
		return Zip, nil
	case bytes.HasPrefix(head, []byte(gzipMagic)):
		return TarGz, nil
	}
	return "", &Error{Rule: RuleCorrupt, Message: "not a zip or tar.gz archive"}
}

// isArchiveContent reports whether the first bytes of a file's content are
// those of an archive or compressed stream, whatever the file is called.
func isArchiveContent(head []byte) bool {
	if _, err := Detect(head); err == nil {
		return true
	}
	for _, magic := range [...]string{
		"7z\xbc\xaf\x27\x1c", // 7-Zip
		"Rar!\x1a\x07",       // RAR 1.5 to 5
		"\xfd7zXZ\x00",       // xz
		"PK\x07\x08",         // spanned zip
		"\x28\xb5\x2f\xfd",   // zstd
	} {
		if bytes.HasPrefix(head, []byte(magic)) {
			return true
		}
	}
	// bzip2: "BZh", a block size digit, then the block magic (BCD pi),
	// specific enough not to catch a text file starting with "BZh".
	if len(head) >= 10 && string(head[:3]) == "BZh" && head[3] >= '1' && head[3] <= '9' &&
		string(head[4:10]) == "\x31\x41\x59\x26\x53\x59" {
		return true
	}
	// A plain tar: "ustar" at offset 257 of the first header.
	return len(head) >= 262 && string(head[257:262]) == "ustar"
}

// Rules name why an archive was refused. They are the values of Error.Rule:
// stable, snake_case identifiers meant for API responses, metrics and tests,
// unlike the free-form Error.Message.
const (
	// RuleAbsolutePath refuses an entry whose path starts with "/".
	RuleAbsolutePath = "absolute_path"
	// RuleTraversal refuses an entry whose path has a ".." segment.
	RuleTraversal = "path_traversal"
	// RuleSymlink refuses symbolic links, which could point anywhere.
	RuleSymlink = "symlink"
	// RuleHardLink refuses tar hard links, which could alias any file.
	RuleHardLink = "hard_link"
	// RuleSpecialFile refuses devices, fifos, sockets and anything else
	// that is neither a regular file nor a folder.
	RuleSpecialFile = "special_file"
	// RuleDuplicate refuses a path that appears twice, that is both a file
	// and a folder, or that differs from another only by letter case
	// (which would collide on case-insensitive file systems).
	RuleDuplicate = "duplicate_entry"
	// RuleTooManyEntries refuses an archive with more than
	// Limits.MaxEntries entries.
	RuleTooManyEntries = "too_many_entries"
	// RuleTooLarge refuses a file above Limits.MaxFileBytes or an archive
	// above Limits.MaxTotalBytes, counted on the bytes actually produced.
	RuleTooLarge = "too_large"
	// RuleRatio refuses content that expands more than Limits.MaxRatio
	// times: the signature of a decompression bomb.
	RuleRatio = "compression_ratio"
	// RuleNestedArchive refuses an entry that is itself an archive or a
	// compressed stream, by name or by content, since it would escape
	// every other check here.
	RuleNestedArchive = "nested_archive"
	// RuleBadName refuses names that are empty, hold NUL or control
	// characters, backslashes or a Windows drive letter, are not UTF-8, or
	// have a segment longer than 255 bytes.
	RuleBadName = "bad_name"
	// RuleCorrupt refuses an archive that cannot be read, including zip
	// archives whose members' data overlap (a bomb construction no zip
	// writer produces).
	RuleCorrupt = "corrupt"
	// RuleNoManifest refuses an archive without exactly one plugin.yaml at
	// its root or one folder down.
	RuleNoManifest = "no_manifest"
	// RuleTooDeep refuses a path with more than Limits.MaxDepth segments.
	RuleTooDeep = "too_deep"
)

// Error is a refused archive. It is distinct from I/O failures on the host
// side (a full disk, an existing destination, a canceled context) so that a
// server can answer "your upload is unacceptable" (a 4xx) only when the
// archive is at fault.
type Error struct {
	// Rule is the rule that refused the archive, one of the Rule constants.
	Rule string
	// Entry is the offending entry's name as written in the archive, or ""
	// when the refusal is about the archive as a whole.
	Entry string
	// Message explains the refusal to a human.
	Message string

	cause error // underlying read error, for RuleCorrupt
}

// Error formats the refusal for logs and API responses; the entry name is
// quoted so that hostile names cannot forge log lines.
func (e *Error) Error() string {
	if e.Entry == "" {
		return fmt.Sprintf("archive: %s: %s", e.Rule, e.Message)
	}
	return fmt.Sprintf("archive entry %q: %s: %s", e.Entry, e.Rule, e.Message)
}

// Unwrap returns the read error behind a RuleCorrupt refusal, if any, so
// that callers can still match errors such as gzip.ErrChecksum.
func (e *Error) Unwrap() error { return e.cause }

// refuse builds an *Error.
func refuse(rule, entry, format string, args ...any) *Error {
	return &Error{Rule: rule, Entry: entry, Message: fmt.Sprintf(format, args...)}
}

// corrupt builds a RuleCorrupt *Error wrapping the read error err.
func corrupt(entry string, err error) *Error {
	return &Error{Rule: RuleCorrupt, Entry: entry, Message: "cannot read archive: " + err.Error(), cause: err}
}
