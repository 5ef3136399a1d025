package policy

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestParseRepoValid(t *testing.T) {
	tests := []struct {
		in   string
		want Repo
	}{
		{"https://github.com/kubestellar/ui", Repo{Scheme: "https", Host: "github.com", Owner: "kubestellar", Name: "ui"}},
		{"https://github.com/kubestellar/ui.git", Repo{Scheme: "https", Host: "github.com", Owner: "kubestellar", Name: "ui"}},
		{"https://github.com/kubestellar/ui.GIT", Repo{Scheme: "https", Host: "github.com", Owner: "kubestellar", Name: "ui"}},
		{"https://github.com/kubestellar/ui/", Repo{Scheme: "https", Host: "github.com", Owner: "kubestellar", Name: "ui"}},
		{"https://github.com/kubestellar/ui/tree/v1.0.0/plugins/hello", Repo{Scheme: "https", Host: "github.com", Owner: "kubestellar", Name: "ui", Ref: "v1.0.0", Path: "plugins/hello"}},
		{"https://github.com/kubestellar/ui/tree/v1.0.0/plugins/hello/", Repo{Scheme: "https", Host: "github.com", Owner: "kubestellar", Name: "ui", Ref: "v1.0.0", Path: "plugins/hello"}},
		{"https://github.com/kubestellar/ui/tree/main", Repo{Scheme: "https", Host: "github.com", Owner: "kubestellar", Name: "ui", Ref: "main"}},
		{"github.com/kubestellar/ui", Repo{Scheme: "https", Host: "github.com", Owner: "kubestellar", Name: "ui"}},
		{"github.com/kubestellar/ui/tree/release-1.2/a/b_c", Repo{Scheme: "https", Host: "github.com", Owner: "kubestellar", Name: "ui", Ref: "release-1.2", Path: "a/b_c"}},
		{"GITHUB.com/KubeStellar/UI.git", Repo{Scheme: "https", Host: "github.com", Owner: "KubeStellar", Name: "UI"}},
		{"HTTPS://GitHub.COM/kubestellar/ui", Repo{Scheme: "https", Host: "github.com", Owner: "kubestellar", Name: "ui"}},
		{"https://github.com:443/kubestellar/ui", Repo{Scheme: "https", Host: "github.com", Owner: "kubestellar", Name: "ui"}},
		{"github.com:443/kubestellar/ui", Repo{Scheme: "https", Host: "github.com", Owner: "kubestellar", Name: "ui"}},
		{"https://git.example.com:8443/team/tool", Repo{Scheme: "https", Host: "git.example.com:8443", Owner: "team", Name: "tool"}},
		{"http://127.0.0.1:8080/owner/repo.git", Repo{Scheme: "http", Host: "127.0.0.1:8080", Owner: "owner", Name: "repo"}},
		{"http://127.0.0.1:443/owner/repo", Repo{Scheme: "http", Host: "127.0.0.1:443", Owner: "owner", Name: "repo"}},
		{"http://localhost:80/owner/repo", Repo{Scheme: "http", Host: "localhost", Owner: "owner", Name: "repo"}},
		{"https://github.com/my.org/my_repo-2", Repo{Scheme: "https", Host: "github.com", Owner: "my.org", Name: "my_repo-2"}},
		{"https://github.com/o/r.git.git", Repo{Scheme: "https", Host: "github.com", Owner: "o", Name: "r.git"}},
		// Owner "github.com" on host evil.com parses, and is then refused by the
		// allow-list (see TestCheckRepo).
		{"evil.com/github.com/kubestellar", Repo{Scheme: "https", Host: "evil.com", Owner: "github.com", Name: "kubestellar"}},
	}
	for _, tt := range tests {
		got, err := ParseRepo(tt.in)
		if err != nil {
			t.Errorf("ParseRepo(%q): %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseRepo(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
		if err := got.validate(); err != nil {
			t.Errorf("ParseRepo(%q) = %+v, which validate refuses: %v", tt.in, got, err)
		}
	}
}

func TestParseRepoInvalid(t *testing.T) {
	tests := []struct {
		in      string
		wantErr string // substring of the error
	}{
		{"", "empty reference"},
		{"ssh://git@github.com/o/r.git", `scheme "ssh"`},
		{"git@github.com:o/r.git", "scp-style"},
		{"github.com:o/r", "scp-style"},
		{"https:github.com/o/r", "scp-style"},
		{"file:///tmp/repo", `scheme "file"`},
		{"ftp://github.com/o/r", `scheme "ftp"`},
		{"git://github.com/o/r", `scheme "git"`},
		{"https://user:pass@github.com/o/r", "user info"},
		{"https://token@github.com/o/r", "user info"},
		{"https://@github.com/o/r", "user info"},
		{"https://github.com/o/r?ref=main", "query or fragment"},
		{"https://github.com/o/r#readme", "query or fragment"},
		{"https://github.com/o/r?", "query or fragment"},
		{"https://github.com", "missing owner and repository"},
		{"https://github.com/", "missing owner and repository"},
		{"https://github.com/kubestellar", "missing repository name"},
		{"github.com/kubestellar", "missing repository name"},
		{"https://github.com/o/r/extra", "unexpected path /extra"},
		{"https://github.com/o/r/blob/main/x.go", "unexpected path /blob/main/x.go"},
		{"evil.com/github.com/kubestellar/x", "unexpected path /x"},
		{"https://github.com/o/r/tree", "missing ref"},
		{"https://github.com/o/r/tree/", "missing ref"},
		{"https://github.com/kubestellar/x/../../evil/y", `".." path segment`},
		{"https://github.com/o/r/tree/main/../../x", `".." path segment`},
		{"https://github.com/o/r/tree/main/./x", `"." path segment`},
		{"https://github.com//o/r", "empty path segment"},
		{"https://github.com/o//r", "empty path segment"},
		{"https://github.com/o/r/tree/main//x", "empty path segment"},
		{"https://github.com/o/r//", "empty path segment"},
		{"https://github.com/.hidden/r", "must not start with '.'"},
		{"https://github.com/o/.r", "must not start with '.'"},
		{"https://github.com/o/.git", "repository name is empty"},
		{"https://github.com/o$/r", "contains '$'"},
		{"https://github.com/o/r;x", "contains ';'"},
		{"https://github.com/o/r/tree/-x", "must not start with '-'"},
		{"https://github.com/o/r/tree/v1~1", "contains '~'"},
		{"https://github.com/o/r/tree/main/a:b", "contains ':'"},
		{"https://github.com/o/r%2F..%2Fx", "percent-encoding"},
		{"https://github.com/kubestellar/%2e%2e/evil/x", "percent-encoding"},
		{"https://gіthub.com/o/r", "non-ASCII"}, // Cyrillic і
		{" https://github.com/o/r", "whitespace"},
		{"https://github.com/o/r\n", "whitespace"},
		{"https://github.com/o /r", "whitespace"},
		{`https://github.com\@evil.com/o/r`, "backslash"},
		{"http://github.com/o/r", "plain http"},
		{"http://10.0.0.1:8080/o/r", "plain http"},
		{"https://github.com:0/o/r", "invalid port"},
		{"https://github.com:99999/o/r", "invalid port"},
		{"https://github.com:/o/r", "invalid port"},
		{"https://[::1]:8080/o/r", "IPv6"},
		{"https://github.com./o/r", "empty label"},
		{"https://-evil.com/o/r", "starting or ending with '-'"},
		{"https://git_hub.com/o/r", "contains '_'"},
		{"//github.com/o/r", "missing host"},
		{"https:///o/r", "missing host"},
		{"https://github.com/" + strings.Repeat("a", 2048), "too long"},
	}
	for _, tt := range tests {
		got, err := ParseRepo(tt.in)
		if err == nil {
			t.Errorf("ParseRepo(%q) = %+v, want error containing %q", tt.in, got, tt.wantErr)
			continue
		}
		if !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("ParseRepo(%q) error = %q, want it to contain %q", tt.in, err, tt.wantErr)
		}
		if got != (Repo{}) {
			t.Errorf("ParseRepo(%q) returned %+v with its error, want the zero Repo", tt.in, got)
		}
	}
}

// TestParseRepoRedactsCredentials checks that refusing a URL with user info
// does not copy the credentials into the error, which ends up in logs.
func TestParseRepoRedactsCredentials(t *testing.T) {
	for _, raw := range []string{
		"https://user:s3cret@github.com/o/r",
		"https://s3cret@github.com/o/r",
		"https://x:s3cret@github.com@evil.com/o/r",
		"s3cret@github.com/o/r",
		"https://user:s3cret@github.com:99999/o/r",
	} {
		_, err := ParseRepo(raw)
		if err == nil {
			t.Errorf("ParseRepo(%q) succeeded, want error", raw)
			continue
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("ParseRepo(%q) error %q shows the credentials", raw, err)
		}
	}
}

func TestRepoString(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"https://github.com/KubeStellar/UI.git", "github.com/KubeStellar/UI"},
		{"https://github.com/kubestellar/ui/tree/main/plugins/x", "github.com/kubestellar/ui"},
		{"http://127.0.0.1:8080/owner/repo.git", "127.0.0.1:8080/owner/repo"},
	}
	for _, tt := range tests {
		r, err := ParseRepo(tt.in)
		if err != nil {
			t.Fatalf("ParseRepo(%q): %v", tt.in, err)
		}
		if got := r.String(); got != tt.want {
			t.Errorf("ParseRepo(%q).String() = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestCheckRepo(t *testing.T) {
	kubestellar := []string{"github.com/kubestellar/*"}
	tests := []struct {
		name     string
		mode     string
		globs    []string
		repo     string // parsed with ParseRepo
		wantErr  bool   // refused by allowed_repos
		wantWarn bool
	}{
		{"owner glob admits its repo", ModeNormal, kubestellar, "https://github.com/kubestellar/ui", false, false},
		{"owner glob admits tree URL", ModeStrict, kubestellar, "https://github.com/kubestellar/ui/tree/v1/plugins/a", false, false},
		{"host with suffix", ModeNormal, kubestellar, "https://github.com.evil.io/kubestellar/x", true, false},
		{"owner with suffix", ModeNormal, kubestellar, "https://github.com/kubestellar-evil/x", true, false},
		{"owner with extra letter", ModeNormal, kubestellar, "https://github.com/kubestellarx/x", true, false},
		{"owner with prefix", ModeNormal, kubestellar, "https://github.com/xkubestellar/x", true, false},
		{"other host same path", ModeNormal, kubestellar, "https://evil.com/kubestellar/x", true, false},
		{"host without dot", ModeNormal, kubestellar, "githubcom/kubestellar/x", true, false},
		{"subdomain of host", ModeNormal, kubestellar, "https://evil.github.com/kubestellar/x", true, false},
		{"host as owner", ModeNormal, kubestellar, "evil.com/github.com/kubestellar", true, false},
		{"non-default port", ModeNormal, kubestellar, "https://github.com:8443/kubestellar/x", true, false},
		{"default port", ModeNormal, kubestellar, "https://github.com:443/kubestellar/x", false, false},
		{"case-insensitive host", ModeNormal, kubestellar, "https://GITHUB.com/kubestellar/x", false, false},
		{"case-insensitive everything", ModeNormal, []string{"github.com/kubestellar/ui"}, "https://GitHub.com/KubeStellar/UI", false, false},
		{"case-insensitive glob", ModeNormal, []string{"GitHub.com/KubeStellar/UI"}, "https://github.com/kubestellar/ui", false, false},
		{"repo glob admits its repo", ModeNormal, []string{"github.com/kubestellar/ui"}, "https://github.com/kubestellar/ui.git", false, false},
		{"repo glob refuses sibling", ModeNormal, []string{"github.com/kubestellar/ui"}, "https://github.com/kubestellar/kubestellar", true, false},
		{"repo glob refuses suffix", ModeNormal, []string{"github.com/kubestellar/ui"}, "https://github.com/kubestellar/ui-evil", true, false},
		{"two-segment glob admits any repo", ModeNormal, []string{"github.com/kubestellar"}, "https://github.com/kubestellar/anything", false, false},
		{"two-segment glob refuses other owner", ModeNormal, []string{"github.com/kubestellar"}, "https://github.com/kubestellar-evil/x", true, false},
		{"star owner glob", ModeNormal, []string{"github.com/*/*"}, "https://github.com/anyone/anything", false, false},
		{"star owner glob keeps host", ModeNormal, []string{"github.com/*"}, "https://gitlab.com/anyone/anything", true, false},
		{"test server glob", ModeStrict, []string{"127.0.0.1:*/owner/*"}, "http://127.0.0.1:8080/owner/repo.git", false, false},
		{"test server exact port", ModeNormal, []string{"127.0.0.1:8080/owner/*"}, "http://127.0.0.1:8080/owner/repo", false, false},
		{"test server other port", ModeNormal, []string{"127.0.0.1:8080/owner/*"}, "http://127.0.0.1:9090/owner/repo", true, false},
		{"test server glob needs port", ModeNormal, []string{"127.0.0.1/owner/*"}, "http://127.0.0.1:8080/owner/repo", true, false},
		{"second glob matches", ModeNormal, []string{"github.com/kubestellar/*", "github.com/other/*"}, "https://github.com/other/x", false, false},
		{"malformed glob matches nothing", ModeNormal, []string{"github.com/[/*"}, "https://github.com/a/x", true, false},
		{"one-segment glob matches nothing", ModeNormal, []string{"*"}, "https://github.com/o/x", true, false},
		{"four-segment glob matches nothing", ModeNormal, []string{"github.com/o/x/y"}, "https://github.com/o/x", true, false},
		{"empty list strict", ModeStrict, nil, "https://github.com/kubestellar/ui", true, false},
		{"empty list normal", ModeNormal, nil, "https://github.com/kubestellar/ui", true, false},
		{"empty list permissive", ModePermissive, nil, "https://github.com/kubestellar/ui", false, true},
		{"mismatch strict", ModeStrict, kubestellar, "https://github.com/evil/x", true, false},
		{"mismatch permissive", ModePermissive, kubestellar, "https://github.com/evil/x", false, true},
		{"match permissive", ModePermissive, kubestellar, "https://github.com/kubestellar/x", false, false},
		{"unknown mode fails closed", "strcit", nil, "https://github.com/kubestellar/ui", true, false},
		{"empty mode fails closed", "", kubestellar, "https://github.com/evil/x", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ParseRepo(tt.repo)
			if err != nil {
				t.Fatalf("ParseRepo(%q): %v", tt.repo, err)
			}
			p := Policy{Mode: tt.mode, AllowedRepos: tt.globs}
			warnings, err := p.CheckRepo(r)
			checkRefusal(t, err, tt.wantErr, RuleAllowedRepos)
			if got := len(warnings) > 0; got != tt.wantWarn {
				t.Errorf("warnings = %q, want some: %v", warnings, tt.wantWarn)
			}
			for _, w := range warnings {
				if !strings.HasPrefix(w, RuleAllowedRepos+": ") {
					t.Errorf("warning %q does not name rule %s", w, RuleAllowedRepos)
				}
			}
		})
	}
}

// TestLookAlikesNotAdmitted checks, end to end, that nothing resembling an
// allowed repository gets through ParseRepo and CheckRepo together.
func TestLookAlikesNotAdmitted(t *testing.T) {
	p := Policy{Mode: ModeNormal, AllowedRepos: []string{"github.com/kubestellar/*"}}
	for _, raw := range []string{
		"https://github.com.evil.io/kubestellar/x",
		"https://github.com/kubestellar-evil/x",
		"https://github.com/kubestellarx/x",
		"https://evil.com/kubestellar/x",
		"https://evil.com/github.com/kubestellar/x",
		"evil.com/github.com/kubestellar/x",
		"evil.com/github.com/kubestellar",
		"githubcom/kubestellar/x",
		"https://github.com/kubestellar",
		"https://github.com/kubestellar/x/../../evil/y",
		"https://github.com/kubestellar/%2e%2e/evil",
		"https://github.com@evil.com/kubestellar/x",
		"https://evil.com#github.com/kubestellar/x",
		"https://evil.com?github.com/kubestellar/x",
		"https://gіthub.com/kubestellar/x",
		"https://github.com./kubestellar/x",
		"http://github.com/kubestellar/x",
		"ssh://github.com/kubestellar/x",
	} {
		r, err := ParseRepo(raw)
		if err != nil {
			continue
		}
		if _, err := p.CheckRepo(r); err == nil {
			t.Errorf("%q (parsed as %+v) was admitted by %q", raw, r, p.AllowedRepos)
		}
	}
	// The real thing is admitted, however it is written.
	for _, raw := range []string{
		"https://github.com/kubestellar/x",
		"https://GITHUB.com/kubestellar/x.git",
		"https://github.com:443/KubeStellar/X/",
		"github.com/kubestellar/x/tree/main/plugins/p",
	} {
		r, err := ParseRepo(raw)
		if err != nil {
			t.Errorf("ParseRepo(%q): %v", raw, err)
			continue
		}
		if _, err := p.CheckRepo(r); err != nil {
			t.Errorf("%q: %v", raw, err)
		}
	}
}

// TestCheckRepoHandBuilt checks that a Repo that did not come from
// ParseRepo cannot use "/" or ".." to get past a two-segment glob.
func TestCheckRepoHandBuilt(t *testing.T) {
	tests := []struct {
		name string
		repo Repo
		ok   bool
	}{
		{"valid", Repo{Host: "github.com", Owner: "kubestellar", Name: "ui"}, true},
		{"uppercase host", Repo{Host: "GitHub.com", Owner: "kubestellar", Name: "ui"}, true},
		{"slash in name", Repo{Host: "github.com", Owner: "kubestellar", Name: "x/../../evil/y"}, false},
		{"dot-dot name", Repo{Host: "github.com", Owner: "kubestellar", Name: ".."}, false},
		{"empty name", Repo{Host: "github.com", Owner: "kubestellar"}, false},
		{"slash in host", Repo{Host: "evil.com/github.com", Owner: "kubestellar", Name: "x"}, false},
		{"empty host", Repo{Owner: "kubestellar", Name: "x"}, false},
		{"dot-dot path", Repo{Host: "github.com", Owner: "kubestellar", Name: "x", Ref: "main", Path: "../evil"}, false},
		{"absolute path", Repo{Host: "github.com", Owner: "kubestellar", Name: "x", Ref: "main", Path: "/etc"}, false},
		{"path without ref", Repo{Host: "github.com", Owner: "kubestellar", Name: "x", Path: "p"}, false},
		{"option-like ref", Repo{Host: "github.com", Owner: "kubestellar", Name: "x", Ref: "--upload-pack=evil"}, false},
		{"http to remote host", Repo{Scheme: "http", Host: "github.com", Owner: "kubestellar", Name: "x"}, false},
		{"ssh scheme", Repo{Scheme: "ssh", Host: "github.com", Owner: "kubestellar", Name: "x"}, false},
	}
	for _, mode := range []string{ModeStrict, ModeNormal, ModePermissive} {
		p := Policy{Mode: mode, AllowedRepos: []string{"github.com/kubestellar"}}
		for _, tt := range tests {
			_, err := p.CheckRepo(tt.repo)
			if tt.ok {
				if err != nil {
					t.Errorf("%s/%s: CheckRepo(%+v) = %v, want ok", mode, tt.name, tt.repo, err)
				}
				continue
			}
			checkRefusal(t, err, true, RuleAllowedRepos)
		}
	}
}

func TestCheckSize(t *testing.T) {
	const limit = 1 << 20
	tests := []struct {
		name    string
		mode    string
		max     int64
		n       int64
		wantErr bool
	}{
		{"empty", ModeNormal, limit, 0, false},
		{"under", ModeNormal, limit, limit - 1, false},
		{"at limit", ModeNormal, limit, limit, false},
		{"one over", ModeNormal, limit, limit + 1, true},
		{"far over", ModeStrict, limit, 1 << 40, true},
		{"over in permissive", ModePermissive, limit, limit + 1, true},
		{"negative size", ModeNormal, limit, -1, true},
		{"no limit configured", ModePermissive, 0, 1, true},
		{"negative limit", ModeNormal, -1, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Policy{Mode: tt.mode, MaxPluginSize: tt.max}
			warnings, err := p.CheckSize("archive", tt.n)
			checkRefusal(t, err, tt.wantErr, RuleMaxPluginSize)
			if len(warnings) != 0 {
				t.Errorf("warnings = %q, want none", warnings)
			}
			if err != nil && !strings.Contains(err.Error(), "archive") {
				t.Errorf("error %q does not say what was measured", err)
			}
		})
	}
}

func TestCheckSizeMessage(t *testing.T) {
	_, err := Policy{MaxPluginSize: 1024}.CheckSize("repository checkout", 1025)
	want := "refused by max_plugin_size: repository checkout is 1025 bytes, over the limit of 1024 bytes"
	if err == nil || err.Error() != want {
		t.Errorf("error = %v, want %q", err, want)
	}
}

func TestRefusalError(t *testing.T) {
	r, err := ParseRepo("https://github.com/evil/x")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Policy{Mode: ModeNormal, AllowedRepos: []string{"github.com/kubestellar/*"}}.CheckRepo(r)
	want := "refused by allowed_repos: github.com/evil/x matches none of github.com/kubestellar/*"
	if err == nil || err.Error() != want {
		t.Errorf("error = %v, want %q", err, want)
	}
	_, err = Policy{Mode: ModeNormal, AllowedRepos: []string{"github.com/a/*", "github.com/b"}}.CheckRepo(r)
	want = "refused by allowed_repos: github.com/evil/x matches none of github.com/a/*, github.com/b"
	if err == nil || err.Error() != want {
		t.Errorf("error = %v, want %q", err, want)
	}
}

// testKeys returns deterministic keys: one the policy trusts and one it
// does not.
func testKeys() (trusted, untrusted ed25519.PrivateKey) {
	seed := func(b byte) []byte { return []byte(strings.Repeat(string(rune(b)), ed25519.SeedSize)) }
	return ed25519.NewKeyFromSeed(seed('t')), ed25519.NewKeyFromSeed(seed('u'))
}

func digestOf(data string) string {
	sum := sha256.Sum256([]byte(data))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// outcome is the expected result of CheckIntegrity.
type outcome struct {
	rule   string // refused by this rule; "" if admitted
	warn   bool   // admitted with warnings
	signed bool   // admitted with signedBy naming the trusted key
}

func TestCheckIntegrity(t *testing.T) {
	trusted, untrusted := testKeys()
	digest := digestOf("plugin archive")
	other := digestOf("another archive")
	goodSig := Sign(trusted, digest)
	corrupt := []byte(goodSig)
	corrupt[10] ^= 'A' ^ 'B' // still base64, no longer the signature
	if corrupt[10] == goodSig[10] {
		t.Fatal("corruption did not change the signature")
	}

	var (
		ok         = outcome{}
		okSigned   = outcome{signed: true}
		warned     = outcome{warn: true}
		refused    = func(rule string) outcome { return outcome{rule: rule} }
		byChecksum = refused(RuleChecksum)
		bySig      = refused(RuleSignature)
		sigNeeded  = refused(RuleSignatureRequired)
	)
	tests := []struct {
		name                       string
		ev                         Evidence
		strict, normal, permissive outcome
	}{
		// name                                  evidence                                                         strict      normal      permissive
		{"no evidence", Evidence{Digest: digest}, sigNeeded, ok, ok},
		{"good checksum", Evidence{Digest: digest, Checksum: digest}, sigNeeded, ok, ok},
		{"good checksum, uppercase algorithm", Evidence{Digest: digest, Checksum: strings.ToUpper(digest)}, byChecksum, byChecksum, warned},
		{"good checksum, uppercase hex", Evidence{Digest: digest, Checksum: "sha256:" + strings.ToUpper(digest[7:])}, sigNeeded, ok, ok},
		{"bad checksum", Evidence{Digest: digest, Checksum: other}, byChecksum, byChecksum, warned},
		{"malformed checksum", Evidence{Digest: digest, Checksum: "sha256:abc"}, byChecksum, byChecksum, warned},
		{"checksum of other algorithm", Evidence{Digest: digest, Checksum: "md5:" + digest[7:39]}, byChecksum, byChecksum, warned},
		{"good signature", Evidence{Digest: digest, Signature: goodSig}, okSigned, okSigned, okSigned},
		{"good signature and checksum", Evidence{Digest: digest, Checksum: digest, Signature: goodSig}, okSigned, okSigned, okSigned},
		{"good signature, bad checksum", Evidence{Digest: digest, Checksum: other, Signature: goodSig}, byChecksum, byChecksum, outcome{warn: true, signed: true}},
		{"signature by untrusted key", Evidence{Digest: digest, Signature: Sign(untrusted, digest)}, bySig, bySig, warned},
		{"signature over another digest", Evidence{Digest: digest, Signature: Sign(trusted, other)}, bySig, bySig, warned},
		{"signature over uppercase digest", Evidence{Digest: digest, Signature: Sign(trusted, "sha256:"+strings.ToUpper(digest[7:]))}, bySig, bySig, warned},
		{"corrupted signature", Evidence{Digest: digest, Signature: string(corrupt)}, bySig, bySig, warned},
		{"signature not base64", Evidence{Digest: digest, Signature: "not base64!"}, bySig, bySig, warned},
		{"signature truncated", Evidence{Digest: digest, Signature: goodSig[:40]}, bySig, bySig, warned},
		{"signature in URL base64", Evidence{Digest: digest, Signature: base64.URLEncoding.EncodeToString(ed25519.Sign(trusted, []byte(digest)))}, okOrSig(goodSig), okOrSig(goodSig), okOrWarn(goodSig)},
		{"good checksum, untrusted signature", Evidence{Digest: digest, Checksum: digest, Signature: Sign(untrusted, digest)}, bySig, bySig, warned},
		{"malformed checksum, good signature", Evidence{Digest: digest, Checksum: "sha256:xyz", Signature: goodSig}, byChecksum, byChecksum, outcome{warn: true, signed: true}},
	}
	policies := []struct {
		mode string
		want func(i int) outcome
	}{
		{ModeStrict, func(i int) outcome { return tests[i].strict }},
		{ModeNormal, func(i int) outcome { return tests[i].normal }},
		{ModePermissive, func(i int) outcome { return tests[i].permissive }},
	}
	for _, pol := range policies {
		p := Policy{
			Mode:              pol.mode,
			ValidateChecksums: true,
			TrustedKeys:       []string{EncodePublicKey(trusted.Public().(ed25519.PublicKey))},
		}
		for i, tt := range tests {
			t.Run(pol.mode+"/"+tt.name, func(t *testing.T) {
				checkIntegrity(t, p, tt.ev, pol.want(i), trusted)
			})
		}
	}
}

// okOrSig and okOrWarn describe a signature whose encoding may or may not
// coincide with standard base64: URL-safe base64 differs only where the
// signature holds '+' or '/'.
func okOrSig(std string) outcome {
	if strings.ContainsAny(std, "+/") {
		return outcome{rule: RuleSignature}
	}
	return outcome{signed: true}
}

func okOrWarn(std string) outcome {
	if strings.ContainsAny(std, "+/") {
		return outcome{warn: true}
	}
	return outcome{signed: true}
}

// TestCheckIntegrityChecksumsOff covers ValidateChecksums=false: normal and
// permissive mode ignore checksums with a warning, strict checks them anyway.
func TestCheckIntegrityChecksumsOff(t *testing.T) {
	trusted, untrusted := testKeys()
	digest := digestOf("plugin archive")
	other := digestOf("another archive")
	goodSig := Sign(trusted, digest)

	tests := []struct {
		name                       string
		ev                         Evidence
		strict, normal, permissive outcome
	}{
		{"no evidence", Evidence{Digest: digest}, outcome{rule: RuleSignatureRequired}, outcome{}, outcome{}},
		{"good checksum", Evidence{Digest: digest, Checksum: digest}, outcome{rule: RuleSignatureRequired}, outcome{warn: true}, outcome{warn: true}},
		{"bad checksum", Evidence{Digest: digest, Checksum: other}, outcome{rule: RuleChecksum}, outcome{warn: true}, outcome{warn: true}},
		{"malformed checksum", Evidence{Digest: digest, Checksum: "sha256:abc"}, outcome{rule: RuleChecksum}, outcome{warn: true}, outcome{warn: true}},
		{"bad checksum, good signature", Evidence{Digest: digest, Checksum: other, Signature: goodSig}, outcome{rule: RuleChecksum}, outcome{warn: true, signed: true}, outcome{warn: true, signed: true}},
		{"good signature", Evidence{Digest: digest, Signature: goodSig}, outcome{signed: true}, outcome{signed: true}, outcome{signed: true}},
		// Signatures do not depend on ValidateChecksums.
		{"untrusted signature", Evidence{Digest: digest, Signature: Sign(untrusted, digest)}, outcome{rule: RuleSignature}, outcome{rule: RuleSignature}, outcome{warn: true}},
	}
	for _, mode := range []string{ModeStrict, ModeNormal, ModePermissive} {
		p := Policy{Mode: mode, TrustedKeys: []string{EncodePublicKey(trusted.Public().(ed25519.PublicKey))}}
		for _, tt := range tests {
			want := map[string]outcome{ModeStrict: tt.strict, ModeNormal: tt.normal, ModePermissive: tt.permissive}[mode]
			t.Run(mode+"/"+tt.name, func(t *testing.T) {
				checkIntegrity(t, p, tt.ev, want, trusted)
			})
		}
	}
}

// TestCheckIntegrityKeys covers how TrustedKeys are read.
func TestCheckIntegrityKeys(t *testing.T) {
	trusted, untrusted := testKeys()
	pub := trusted.Public().(ed25519.PublicKey)
	bare := base64.StdEncoding.EncodeToString(pub)
	digest := digestOf("plugin archive")
	ev := Evidence{Digest: digest, Signature: Sign(trusted, digest)}

	tests := []struct {
		name string
		mode string
		keys []string
		want outcome
	}{
		{"prefixed key", ModeStrict, []string{EncodePublicKey(pub)}, outcome{signed: true}},
		{"bare key", ModeStrict, []string{bare}, outcome{signed: true}},
		{"second of two keys", ModeStrict, []string{EncodePublicKey(untrusted.Public().(ed25519.PublicKey)), bare}, outcome{signed: true}},
		{"malformed key ignored with warning", ModeNormal, []string{"ed25519:short", bare}, outcome{signed: true, warn: true}},
		{"only malformed keys", ModeNormal, []string{"ed25519:" + bare[:20]}, outcome{rule: RuleSignature}},
		{"URL base64 key is malformed", ModeNormal, []string{"ed25519:" + base64.URLEncoding.EncodeToString(pub)}, okOrNoKey(bare)},
		{"no keys strict", ModeStrict, nil, outcome{rule: RuleSignature}},
		{"no keys normal", ModeNormal, nil, outcome{rule: RuleSignature}},
		{"no keys permissive", ModePermissive, nil, outcome{warn: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Policy{Mode: tt.mode, ValidateChecksums: true, TrustedKeys: tt.keys}
			checkIntegrity(t, p, ev, tt.want, trusted)
		})
	}
}

func okOrNoKey(std string) outcome {
	if strings.ContainsAny(std, "+/") {
		return outcome{rule: RuleSignature}
	}
	return outcome{signed: true}
}

// TestCheckIntegrityDigest covers a caller passing a bad Digest: that is a
// bug, reported as a plain error rather than a Refusal, in every mode.
func TestCheckIntegrityDigest(t *testing.T) {
	trusted, _ := testKeys()
	digest := digestOf("plugin archive")
	tests := []struct {
		name    string
		mode    string
		ev      Evidence
		wantErr bool
	}{
		{"empty digest, no evidence, normal", ModeNormal, Evidence{}, false},
		{"empty digest, no evidence, permissive", ModePermissive, Evidence{}, false},
		{"empty digest, strict", ModeStrict, Evidence{}, true},
		{"empty digest, checksum", ModePermissive, Evidence{Checksum: digest}, true},
		{"empty digest, signature", ModePermissive, Evidence{Signature: Sign(trusted, digest)}, true},
		{"malformed digest", ModeNormal, Evidence{Digest: "sha256:123"}, true},
		{"unprefixed digest", ModePermissive, Evidence{Digest: digest[7:]}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Policy{Mode: tt.mode, ValidateChecksums: true, TrustedKeys: []string{EncodePublicKey(trusted.Public().(ed25519.PublicKey))}}
			_, _, err := p.CheckIntegrity(tt.ev)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error: %v", err, tt.wantErr)
			}
			var r *Refusal
			if errors.As(err, &r) {
				t.Errorf("err = %v is a Refusal; want a plain error", err)
			}
		})
	}
}

// TestCheckIntegrityUnknownMode checks that an unknown mode behaves as strict.
func TestCheckIntegrityUnknownMode(t *testing.T) {
	digest := digestOf("plugin archive")
	for _, mode := range []string{"", "Permissive", "off"} {
		_, _, err := Policy{Mode: mode, ValidateChecksums: false}.CheckIntegrity(Evidence{Digest: digest, Checksum: digestOf("x")})
		checkRefusal(t, err, true, RuleChecksum)
		_, _, err = Policy{Mode: mode}.CheckIntegrity(Evidence{Digest: digest})
		checkRefusal(t, err, true, RuleSignatureRequired)
	}
}

func checkIntegrity(t *testing.T, p Policy, ev Evidence, want outcome, trusted ed25519.PrivateKey) {
	t.Helper()
	signedBy, warnings, err := p.CheckIntegrity(ev)
	checkRefusal(t, err, want.rule != "", want.rule)
	if err != nil {
		if signedBy != "" || warnings != nil {
			t.Errorf("refused with signedBy %q and warnings %q; want neither", signedBy, warnings)
		}
		return
	}
	if got := len(warnings) > 0; got != want.warn {
		t.Errorf("warnings = %q, want some: %v", warnings, want.warn)
	}
	wantBy := ""
	if want.signed {
		wantBy = "ed25519:" + base64.StdEncoding.EncodeToString(trusted.Public().(ed25519.PublicKey))[:8]
	}
	if signedBy != wantBy {
		t.Errorf("signedBy = %q, want %q", signedBy, wantBy)
	}
}

// checkRefusal checks that err is nil, or (when wantErr) a *Refusal by rule.
func checkRefusal(t *testing.T, err error, wantErr bool, rule string) {
	t.Helper()
	if !wantErr {
		if err != nil {
			t.Errorf("err = %v, want none", err)
		}
		return
	}
	var r *Refusal
	if !errors.As(err, &r) {
		t.Errorf("err = %v, want a *Refusal by %s", err, rule)
		return
	}
	if r.Rule != rule {
		t.Errorf("refused by %s (%v), want %s", r.Rule, err, rule)
	}
	if !strings.HasPrefix(err.Error(), "refused by "+rule+": ") || r.Message == "" {
		t.Errorf("error %q does not name rule %s and say why", err, rule)
	}
}

func TestParseChecksum(t *testing.T) {
	lower := digestOf("x")
	tests := []struct {
		in, want, wantErr string
	}{
		{lower, lower, ""},
		{"sha256:" + strings.ToUpper(lower[7:]), lower, ""},
		{"", "", "want sha256:"},
		{lower[7:], "", "want sha256:"},
		{"SHA256:" + lower[7:], "", "unsupported algorithm"},
		{"sha512:" + lower[7:], "", "unsupported algorithm"},
		{"sha256:" + lower[7:70], "", "has 63 hex digits"},
		{lower + "0", "", "has 65 hex digits"},
		{"sha256:" + strings.Repeat("g", 64), "", "not hexadecimal"},
		{"sha256: " + lower[8:], "", "not hexadecimal"},
	}
	for _, tt := range tests {
		got, err := ParseChecksum(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseChecksum(%q) = %q, %v; want error containing %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseChecksum(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestKeysRoundTrip(t *testing.T) {
	trusted, _ := testKeys()
	pub := trusted.Public().(ed25519.PublicKey)
	enc := EncodePublicKey(pub)
	if !strings.HasPrefix(enc, "ed25519:") || len(enc) != len("ed25519:")+44 {
		t.Errorf("EncodePublicKey = %q, want ed25519: and 44 base64 characters", enc)
	}
	for _, s := range []string{enc, strings.TrimPrefix(enc, "ed25519:")} {
		got, err := ParsePublicKey(s)
		if err != nil || !got.Equal(pub) {
			t.Errorf("ParsePublicKey(%q) = %x, %v; want %x", s, got, err, pub)
		}
	}
	for _, s := range []string{"", "ed25519:", "ed25519:!!!", "ed25519:" + base64.StdEncoding.EncodeToString(pub[:31])} {
		if _, err := ParsePublicKey(s); err == nil {
			t.Errorf("ParsePublicKey(%q) succeeded, want error", s)
		}
	}
	digest := digestOf("x")
	sig, err := base64.StdEncoding.DecodeString(Sign(trusted, digest))
	if err != nil || !ed25519.Verify(pub, []byte(digest), sig) {
		t.Errorf("Sign did not produce a standard base64 signature over the digest bytes (%v)", err)
	}
}

func ExampleParseRepo() {
	r, err := ParseRepo("https://GitHub.com/kubestellar/ui.git/tree/v1.0.0/plugins/hello")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(r, r.Ref, r.Path)

	_, err = ParseRepo("https://user:pass@github.com/kubestellar/ui")
	fmt.Println(err)
	// Output:
	// github.com/kubestellar/ui v1.0.0 plugins/hello
	// repository "https://***@github.com/kubestellar/ui": user info in the URL is not allowed; put credentials in the configuration
}

func ExamplePolicy_CheckRepo() {
	p := Policy{Mode: ModeNormal, AllowedRepos: []string{"github.com/kubestellar/*"}}
	for _, raw := range []string{"https://github.com/kubestellar/ui", "https://github.com.evil.io/kubestellar/ui"} {
		r, _ := ParseRepo(raw)
		_, err := p.CheckRepo(r)
		fmt.Println(raw, "->", err)
	}
	// Output:
	// https://github.com/kubestellar/ui -> <nil>
	// https://github.com.evil.io/kubestellar/ui -> refused by allowed_repos: github.com.evil.io/kubestellar/ui matches none of github.com/kubestellar/*
}
