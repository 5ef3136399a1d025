package catalog

import (
	"crypto/ed25519"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/kubestellar/ksplugins/internal/policy"
)

// signed returns the test catalog with every version signed by priv,
// rendered, and the file's signature.
func signed(t *testing.T, priv ed25519.PrivateKey) (data, sig []byte) {
	t.Helper()
	raw, err := os.ReadFile("testdata/catalog.yaml")
	if err != nil {
		t.Fatal(err)
	}
	f, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	for i := range f.Entries {
		for j := range f.Entries[i].Versions {
			v := &f.Entries[i].Versions[j]
			v.Signature = policy.Sign(priv, v.Digest)
		}
	}
	if data, err = f.Marshal(); err != nil {
		t.Fatal(err)
	}
	return data, Sign(priv, data)
}

func newKey(t *testing.T) (ed25519.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return pub, priv
}

func TestParseProblems(t *testing.T) {
	const good = `entries:
- id: primes
  name: Primes
  versions:
  - version: 1.0.0
    source: {repository: "https://github.com/example/primes", commit: 0123456789abcdef0123456789abcdef01234567}
    tier: native
`
	tests := []struct {
		name, replace, with string
		field               string // "" for no problem
	}{
		{name: "valid draft"},
		{name: "unknown field", replace: "  name: Primes", with: "  name: Primes\n  stars: 5", field: "catalog.yaml"},
		{name: "bad id", replace: "id: primes", with: "id: Primes!", field: "entries[0].id"},
		{name: "no name", replace: "name: Primes", with: "name: ''", field: "entries[0].name"},
		{name: "bad version", replace: "version: 1.0.0", with: "version: one", field: "entries[0].versions[0].version"},
		{name: "short commit", replace: "01234567}", with: "0123}", field: "entries[0].versions[0].source.commit"},
		{name: "bad tier", replace: "tier: native", with: "tier: fast", field: "entries[0].versions[0].tier"},
		{name: "bad digest", replace: "tier: native", with: "tier: native\n    digest: md5:00", field: "entries[0].versions[0].digest"},
		{name: "no source", replace: `source: {repository: "https://github.com/example/primes", commit: 0123456789abcdef0123456789abcdef01234567}`, with: "source: {}", field: "entries[0].versions[0].source"},
		{name: "http archive", replace: `source: {repository: "https://github.com/example/primes", commit: 0123456789abcdef0123456789abcdef01234567}`, with: "source: {archive: 'http://example.com/a.zip'}", field: "entries[0].versions[0].source.archive"},
		{name: "bad host range", replace: "tier: native", with: "tier: native\n    host_versions: 'soon'", field: "entries[0].versions[0].host_versions"},
		{name: "bad category", replace: "  name: Primes", with: "  name: Primes\n  categories: [Big Ones]", field: "entries[0].categories[0]"},
		{name: "no versions", replace: good[strings.Index(good, "  versions:"):], with: "  versions: []\n", field: "entries[0].versions"},
		{name: "duplicate id", replace: "entries:\n", with: "entries:\n" + good[len("entries:\n"):], field: "entries[1].id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := good
			if tt.replace != "" {
				if !strings.Contains(good, tt.replace) {
					t.Fatalf("%q is not in the catalog", tt.replace)
				}
				data = strings.Replace(good, tt.replace, tt.with, 1)
			}
			_, err := Parse([]byte(data))
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				return
			}
			var cerr *Error
			if !errors.As(err, &cerr) {
				t.Fatalf("Parse: got %v, want a *catalog.Error at %s", err, tt.field)
			}
			if cerr.Problems[0].Field != tt.field {
				t.Fatalf("problem at %q (%v), want %q", cerr.Problems[0].Field, cerr, tt.field)
			}
		})
	}
}

func TestVerify(t *testing.T) {
	pub, priv := newKey(t)
	otherPub, otherPriv := newKey(t)
	data, sig := signed(t, priv)
	tests := []struct {
		name      string
		data, sig []byte
		keys      []ed25519.PublicKey
		want      any // nil, *SignatureError or *Error
		field     string
	}{
		{name: "signed", data: data, sig: sig, keys: []ed25519.PublicKey{pub}},
		{name: "one of several keys", data: data, sig: sig, keys: []ed25519.PublicKey{otherPub, pub}},
		{name: "tampered bytes", data: []byte(strings.Replace(string(data), "Primes", "Primez", 1)), sig: sig, keys: []ed25519.PublicKey{pub}, want: &SignatureError{}},
		{name: "other key", data: data, sig: sig, keys: []ed25519.PublicKey{otherPub}, want: &SignatureError{}},
		{name: "no keys", data: data, sig: sig, want: &SignatureError{}},
		{name: "garbage signature", data: data, sig: []byte("not base64!"), keys: []ed25519.PublicKey{pub}, want: &SignatureError{}},
		{
			// The file is signed, but a version's signature is another
			// publisher's: refused at that version.
			name: "version signed by another key",
			data: func() []byte {
				f, _ := Parse(data)
				v := &f.Entries[1].Versions[0]
				v.Signature = policy.Sign(otherPriv, v.Digest)
				out, _ := f.Marshal()
				return out
			}(),
			keys: []ed25519.PublicKey{pub}, want: &Error{}, field: "entries[1].versions[0].signature",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sig := tt.sig
			if sig == nil {
				sig = Sign(priv, tt.data)
			}
			f, err := Verify(tt.data, sig, tt.keys)
			switch want := tt.want.(type) {
			case nil:
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if len(f.Entries) != 2 {
					t.Fatalf("got %d entries, want 2", len(f.Entries))
				}
			case *SignatureError:
				if !errors.As(err, &want) {
					t.Fatalf("Verify: got %v, want a *SignatureError", err)
				}
			case *Error:
				if !errors.As(err, &want) || want.Problems[0].Field != tt.field {
					t.Fatalf("Verify: got %v, want a problem at %s", err, tt.field)
				}
			}
		})
	}
}
