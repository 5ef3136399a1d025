package archive

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// The readers refuse to produce more than a header declares, so the
// black-box tests are stopped by the declared-size checks; these tests feed
// writeFile content that exceeds its declared size directly, to prove the
// counted bytes are enforced on their own.
func TestWriteFileCountsBytes(t *testing.T) {
	tests := []struct {
		name  string
		lim   Limits
		size  int64 // archive size
		e     entry
		rule  string
		entry string
		limit int64 // most bytes that may reach the disk
	}{
		{"file", Limits{MaxFileBytes: 100}, 1 << 20, entry{name: "f", kind: kindFile, declared: 10}, RuleTooLarge, "f", 100},
		{"total", Limits{MaxTotalBytes: 1000, MaxFileBytes: 1 << 20}, 1 << 20, entry{name: "f", kind: kindFile, declared: 10}, RuleTooLarge, "", 1000},
		// Ratios count only past ratioFloor.
		{"entry ratio", Limits{}, 1 << 20, entry{name: "f", kind: kindFile, declared: 10, compressed: 10}, RuleRatio, "f", ratioFloor + 64},
		{"archive ratio", Limits{}, 10, entry{name: "f", kind: kindFile, declared: 10}, RuleRatio, "", ratioFloor + 64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			x := &extractor{
				chk:  newChecker(tt.lim.withDefaults(), tt.size),
				dir:  dir,
				made: make(map[string]bool),
				buf:  make([]byte, 64), // small chunks: some bytes get written first
			}
			src := bytes.NewReader(bytes.Repeat([]byte("abcdefgh"), 1<<18)) // 2 MiB
			err := x.writeFile(t.Context(), "f", tt.e, src)
			var ae *Error
			if !errors.As(err, &ae) || ae.Rule != tt.rule || ae.Entry != tt.entry {
				t.Fatalf("writeFile = %v; want rule %q, entry %q", err, tt.rule, tt.entry)
			}
			info, err := os.Stat(filepath.Join(dir, "f"))
			if err != nil {
				t.Fatal(err)
			}
			if info.Size() > tt.limit {
				t.Errorf("%d bytes reached the disk, limit %d", info.Size(), tt.limit)
			}
		})
	}
}

type stuckReader struct{}

func (stuckReader) Read([]byte) (int, error) { return 0, nil }

func TestFill(t *testing.T) {
	buf := make([]byte, 8)
	if n, err := fill(stuckReader{}, buf); n != 0 || !errors.Is(err, io.ErrNoProgress) {
		t.Errorf("fill(stuck) = %d, %v; want 0, io.ErrNoProgress", n, err)
	}
	if n, err := fill(io.MultiReader(bytes.NewReader([]byte("ab")), bytes.NewReader([]byte("cd"))), buf); n != 4 || err != io.EOF {
		t.Errorf("fill(short) = %d, %v; want 4, io.EOF", n, err)
	}
	if n, err := fill(bytes.NewReader([]byte("0123456789")), buf); n != 8 || err != nil {
		t.Errorf("fill(long) = %d, %v; want 8, nil", n, err)
	}
}

func TestCleanName(t *testing.T) {
	tests := []struct {
		name  string
		isDir bool
		want  string
		rule  string
	}{
		{"a/b.go", false, "a/b.go", ""},
		{"./a//b.go", false, "a/b.go", ""},
		{"a/./b/", true, "a/b", ""},
		{"./", true, "", ""},
		{"a/", false, "", RuleBadName},
		{"a/../b", false, "", RuleTraversal},
		{"..", true, "", RuleTraversal},
		{"c:evil", false, "", RuleBadName},
		{"a/\x7f", false, "", RuleBadName},
		{"a/" + string(bytes.Repeat([]byte("x"), 256)), false, "", RuleBadName},
		{"/", true, "", RuleAbsolutePath},
	}
	for _, tt := range tests {
		got, err := cleanName(tt.name, tt.isDir, 16)
		var ae *Error
		switch {
		case tt.rule == "" && (err != nil || got != tt.want):
			t.Errorf("cleanName(%q) = %q, %v; want %q", tt.name, got, err, tt.want)
		case tt.rule != "" && (!errors.As(err, &ae) || ae.Rule != tt.rule):
			t.Errorf("cleanName(%q) = %q, %v; want rule %q", tt.name, got, err, tt.rule)
		}
	}
}
