package kubeconfig

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// trustedDoc is a host kubeconfig naming files: the CA by absolute path,
// the client certificate and key and the token relative to its folder.
const trustedDoc = `apiVersion: v1
kind: Config
current-context: files
clusters:
- name: one
	cluster:
		server: https://127.0.0.1:6443
		certificate-authority: {{ca}}
users:
- name: cert
	user:
		client-certificate: pki/client.crt
		client-key: pki/client.key
- name: sa
	user:
		tokenFile: token
- name: both
	user:
		token: inline
		tokenFile: token
contexts:
- name: files
	context: {cluster: one, user: cert}
- name: sa
	context: {cluster: one, user: sa}
- name: both
	context: {cluster: one, user: both}
`

// hostFiles writes a kubeconfig's files into a folder and returns the
// folder and the document.
func hostFiles(t *testing.T, p pki, tmpl string) (string, []byte) {
	t.Helper()
	dir := t.TempDir()
	for name, data := range map[string][]byte{"ca.crt": p.cert, "pki/client.crt": p.cert, "pki/client.key": p.key, "token": []byte("rotating\n")} {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tmpl = strings.ReplaceAll(tmpl, "{{ca}}", filepath.Join(dir, "ca.crt"))
	return dir, doc(p, tmpl)
}

func TestParseTrustedReadsFiles(t *testing.T) {
	p := newPKI(t)
	dir, data := hostFiles(t, p, trustedDoc)
	cfg, err := ParseTrusted(data, dir)
	if err != nil {
		t.Fatalf("ParseTrusted: %v", err)
	}
	c, err := cfg.Context("files")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(c.Cluster.CAData, p.cert) || !bytes.Equal(c.User.ClientCertData, p.cert) || !bytes.Equal(c.User.ClientKeyData, p.key) {
		t.Errorf("files context: the files' contents were not read: %+v", c)
	}
	sa, err := cfg.Context("sa")
	if err != nil {
		t.Fatal(err)
	}
	if sa.User.TokenFile != filepath.Join(dir, "token") || sa.User.Token != "" {
		t.Errorf("sa context: TokenFile %q, Token %q; want the absolute path and no token", sa.User.TokenFile, sa.User.Token)
	}
	both, err := cfg.Context("both")
	if err != nil {
		t.Fatal(err)
	}
	if both.User.Token != "inline" || both.User.TokenFile != "" {
		t.Errorf("both context: Token %q, TokenFile %q; want the inline token to win", both.User.Token, both.User.TokenFile)
	}

	// The untrusted reader still refuses the same document.
	var refused *RefusedError
	if _, err := Parse(data); !errors.As(err, &refused) {
		t.Errorf("Parse of a kubeconfig naming files: got %v; want a *RefusedError", err)
	}
}

func TestParseTrustedRefuses(t *testing.T) {
	p := newPKI(t)
	tests := []struct {
		name, tmpl string
		refused    string // the refused field, or "" for an invalid one
		invalid    string
	}{
		{"exec", "users:\n- name: u\n\tuser:\n\t\texec: {command: sh}\n", `users["u"].user.exec`, ""},
		{"auth-provider", "users:\n- name: u\n\tuser:\n\t\tauth-provider: {name: gcp}\n", `users["u"].user.auth-provider`, ""},
		{"proxy", "clusters:\n- name: c\n\tcluster:\n\t\tserver: https://h\n\t\tproxy-url: http://p\n", `clusters["c"].cluster.proxy-url`, ""},
		{"missing file", "clusters:\n- name: c\n\tcluster:\n\t\tserver: https://h\n\t\tcertificate-authority: nothere.crt\n", "", `clusters["c"].cluster.certificate-authority`},
		{"missing token file", "users:\n- name: u\n\tuser:\n\t\ttokenFile: nothere\n", "", `users["u"].user.tokenFile`},
		{"file and data", "users:\n- name: u\n\tuser:\n\t\tclient-certificate: pki/client.crt\n\t\tclient-certificate-data: {{cert}}\n\t\tclient-key: pki/client.key\n", "", `users["u"].user.client-certificate`},
		{"file not PEM", "clusters:\n- name: c\n\tcluster:\n\t\tserver: https://h\n\t\tcertificate-authority: token\n", "", `clusters["c"].cluster.certificate-authority`},
		{"key without certificate", "users:\n- name: u\n\tuser:\n\t\tclient-key: pki/client.key\n", "", `users["u"].user.client-certificate-data`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, data := hostFiles(t, p, tt.tmpl)
			_, err := ParseTrusted(data, dir)
			var refused *RefusedError
			var invalid *InvalidError
			switch {
			case tt.refused != "":
				if !errors.As(err, &refused) || refused.Field != tt.refused {
					t.Errorf("got %v; want refused %s", err, tt.refused)
				}
			case !errors.As(err, &invalid) || invalid.Field != tt.invalid:
				t.Errorf("got %v; want invalid %s", err, tt.invalid)
			}
		})
	}
}
