package kubeconfig

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"
)

// pki is a self-signed certificate and its key, PEM and base64 as a
// kubeconfig carries them.
type pki struct {
	cert, key     []byte // PEM
	cert64, key64 string // base64 of the PEM
	otherKey64    string // a key that does not match cert
	notPEM64      string // base64 of something that is not PEM
}

func newPKI(t testing.TB) pki {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	oder, err := x509.MarshalECPrivateKey(other)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.StdEncoding.EncodeToString
	p := pki{
		cert: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		key:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}),
	}
	p.cert64, p.key64 = b64(p.cert), b64(p.key)
	p.otherKey64 = b64(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: oder}))
	p.notPEM64 = b64([]byte("not a certificate"))
	return p
}

// doc builds a kubeconfig from a template in which {{cert}}, {{key}},
// {{otherkey}} and {{notpem}} stand for base64 data and tabs for
// indentation.
func doc(p pki, tmpl string) []byte {
	r := strings.NewReplacer("{{cert}}", p.cert64, "{{key}}", p.key64, "{{otherkey}}", p.otherKey64, "{{notpem}}", p.notPEM64, "\t", "  ")
	return []byte(r.Replace(tmpl))
}

// full is a kubeconfig that uses every accepted field.
const full = `apiVersion: v1
kind: Config
preferences: {}
current-context: a
clusters:
- name: one
	cluster:
		server: https://127.0.0.1:6443
		certificate-authority-data: {{cert}}
		tls-server-name: kube.example
		disable-compression: true
- name: two
	cluster:
		server: http://127.0.0.1:8080
		insecure-skip-tls-verify: true
		extensions:
		- name: any
			extension: {a: b}
users:
- name: alice
	user:
		client-certificate-data: {{cert}}
		client-key-data: {{key}}
		as: bob
		as-uid: "42"
		as-groups: [devs, ops]
		as-user-extra: {scopes: [read]}
- name: token
	user:
		token: s3cret
- name: basic
	user:
		username: u
		password: p
		exec: null
		tokenFile: ""
contexts:
- name: a
	context: {cluster: one, user: alice, namespace: ns}
- name: b
	context: {cluster: two, user: token}
- name: anon
	context: {cluster: two}
- name: c
	context: {cluster: one, user: basic}
extensions: []
`

func TestParseAccepts(t *testing.T) {
	p := newPKI(t)
	cfg, err := Parse(doc(p, full))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if got := cfg.ContextNames(); !slices.Equal(got, []string{"a", "b", "anon", "c"}) {
		t.Errorf("ContextNames = %v", got)
	}
	a, err := cfg.Context("")
	if err != nil {
		t.Fatalf("current context: %v", err)
	}
	if a.Name != "a" || a.Namespace != "ns" || a.Cluster.Name != "one" || a.Cluster.Server != "https://127.0.0.1:6443" ||
		!bytes.Equal(a.Cluster.CAData, p.cert) || a.Cluster.TLSServerName != "kube.example" || !a.Cluster.DisableCompression || a.Cluster.InsecureSkipTLSVerify {
		t.Errorf("context a, cluster: %+v", a.Cluster)
	}
	u := a.User
	if u.Name != "alice" || !bytes.Equal(u.ClientCertData, p.cert) || !bytes.Equal(u.ClientKeyData, p.key) || u.Token != "" ||
		u.Impersonate != "bob" || u.ImpersonateUID != "42" || !slices.Equal(u.ImpersonateGroups, []string{"devs", "ops"}) ||
		!slices.Equal(u.ImpersonateExtra["scopes"], []string{"read"}) {
		t.Errorf("context a, user: %+v", u)
	}
	b, err := cfg.Context("b")
	if err != nil || b.User.Token != "s3cret" || !b.Cluster.InsecureSkipTLSVerify || b.Cluster.Server != "http://127.0.0.1:8080" {
		t.Errorf("context b: %+v %v", b, err)
	}
	anon, err := cfg.Context("anon")
	if err != nil || anon.User.Name != "" || anon.User.Token != "" {
		t.Errorf("context anon: %+v %v", anon, err)
	}
	c, err := cfg.Context("c")
	if err != nil || c.User.Username != "u" || c.User.Password != "p" {
		t.Errorf("context c: %+v %v", c, err)
	}
	// JSON is YAML too.
	if _, err := Parse([]byte(`{"clusters":[{"name":"x","cluster":{"server":"https://h"}}],"contexts":[{"name":"x","context":{"cluster":"x"}}],"current-context":"x"}`)); err != nil {
		t.Errorf("JSON kubeconfig: %v", err)
	}
	// Nothing at all parses, with no context to use.
	empty, err := Parse(nil)
	if err != nil {
		t.Fatalf("empty: %v", err)
	}
	var inv *InvalidError
	if _, err := empty.Context(""); !errors.As(err, &inv) || inv.Field != "current-context" {
		t.Errorf("current context of an empty kubeconfig: %v", err)
	}
}

func TestParseRefuses(t *testing.T) {
	p := newPKI(t)
	base := func(user, cluster string) string {
		return "clusters:\n- name: c\n\tcluster:\n\t\tserver: https://h\n" + cluster +
			"users:\n- name: alice\n\tuser:\n" + user +
			"contexts:\n- name: x\n\tcontext: {cluster: c, user: alice}\ncurrent-context: x\n"
	}
	for _, tc := range []struct {
		name, doc, field, says string
	}{
		{"exec", base("\t\texec:\n\t\t\tapiVersion: client.authentication.k8s.io/v1\n\t\t\tcommand: sh\n\t\t\targs: [-c, 'touch /tmp/x']\n", ""), `users["alice"].user.exec`, "runs a command"},
		{"exec, other case", base("\t\tExec: {command: sh}\n", ""), `users["alice"].user.Exec`, "runs a command"},
		{"exec, empty object", base("\t\texec: {}\n", ""), `users["alice"].user.exec`, "runs a command"},
		{"auth-provider", base("\t\tauth-provider: {name: gcp, config: {cmd-path: /bin/sh}}\n", ""), `users["alice"].user.auth-provider`, "credential provider"},
		{"tokenFile", base("\t\ttokenFile: /etc/hostname\n", ""), `users["alice"].user.tokenFile`, "reads a file"},
		{"client-certificate", base("\t\tclient-certificate: /etc/ssl/cert.pem\n\t\tclient-key-data: {{key}}\n", ""), `users["alice"].user.client-certificate`, "client-certificate-data"},
		{"client-key", base("\t\tclient-certificate-data: {{cert}}\n\t\tclient-key: /root/.ssh/id_rsa\n", ""), `users["alice"].user.client-key`, "client-key-data"},
		{"certificate-authority", base("\t\ttoken: t\n", "\t\tcertificate-authority: /etc/shadow\n"), `clusters["c"].cluster.certificate-authority`, "certificate-authority-data"},
		{"proxy-url", base("\t\ttoken: t\n", "\t\tproxy-url: socks5://127.0.0.1:1080\n"), `clusters["c"].cluster.proxy-url`, "proxy"},
		{"exec in a user no context uses", "users:\n- name: used\n\tuser: {token: t}\n- name: unused\n\tuser:\n\t\texec: {command: sh}\n", `users["unused"].user.exec`, "runs a command"},
		{"exec in an entry without a name", "users:\n- user:\n\t\texec: {command: sh}\n", `users[0].user.exec`, "runs a command"},
		{"refusal reported before an earlier invalid field", "bogus: 1\nclusters: 7\nusers:\n- name: u\n\tuser: {tokenFile: /etc/hostname}\n", `users["u"].user.tokenFile`, "reads a file"},
		{"name needing quotes", "users:\n- name: 'a\"b'\n\tuser: {exec: {command: sh}}\n", `users["a\"b"].user.exec`, "runs a command"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse(doc(p, tc.doc))
			var refused *RefusedError
			if !errors.As(err, &refused) {
				t.Fatalf("Parse = %v, %v; want a RefusedError", cfg, err)
			}
			if refused.Field != tc.field || !strings.Contains(refused.Reason, tc.says) {
				t.Errorf("refused %q (%s); want %q saying %q", refused.Field, refused.Reason, tc.field, tc.says)
			}
			if !strings.HasPrefix(err.Error(), tc.field+": ") {
				t.Errorf("message %q does not start with the field", err)
			}
		})
	}
}

func TestParseInvalid(t *testing.T) {
	p := newPKI(t)
	cluster := func(body string) string {
		return "clusters:\n- name: c\n\tcluster:\n" + body
	}
	user := func(body string) string {
		return cluster("\t\tserver: https://h\n") + "users:\n- name: u\n\tuser:\n" + body
	}
	for _, tc := range []struct{ name, doc, field, says string }{
		{"not YAML", "this: [is not", "", "not YAML"},
		{"a list", "- a\n- b\n", "", "want a mapping"},
		{"a string", "hello", "", "want a mapping"},
		{"unknown top-level field", "clusterz: []\n", "clusterz", "unknown field"},
		{"unknown cluster field", cluster("\t\tserver: https://h\n\t\tserverr: x\n"), `clusters["c"].cluster.serverr`, "unknown field"},
		{"unknown entry field", "contexts:\n- name: x\n\tcontext: {cluster: c}\n\textra: 1\n", `contexts["x"].extra`, "unknown field"},
		{"no server", cluster("\t\tinsecure-skip-tls-verify: true\n"), `clusters["c"].cluster.server`, "required"},
		{"file server", cluster("\t\tserver: file:///etc/passwd\n"), `clusters["c"].cluster.server`, "http or https"},
		{"server without host", cluster("\t\tserver: https://\n"), `clusters["c"].cluster.server`, "http or https"},
		{"server not a string", cluster("\t\tserver: [a]\n"), `clusters["c"].cluster.server`, "want a string, got a list"},
		{"insecure not a bool", cluster("\t\tserver: https://h\n\t\tinsecure-skip-tls-verify: \"yes\"\n"), `clusters["c"].cluster.insecure-skip-tls-verify`, "true or false"},
		{"CA not base64", cluster("\t\tserver: https://h\n\t\tcertificate-authority-data: '%%%'\n"), `clusters["c"].cluster.certificate-authority-data`, "not base64"},
		{"CA not PEM", cluster("\t\tserver: https://h\n\t\tcertificate-authority-data: {{notpem}}\n"), `clusters["c"].cluster.certificate-authority-data`, "no PEM certificate"},
		{"CA and insecure", cluster("\t\tserver: https://h\n\t\tcertificate-authority-data: {{cert}}\n\t\tinsecure-skip-tls-verify: true\n"), `clusters["c"].cluster.insecure-skip-tls-verify`, "together"},
		{"no name", "clusters:\n- cluster: {server: https://h}\n", "clusters[0].name", "required"},
		{"name not a string", "clusters:\n- name: 7\n\tcluster: {server: https://h}\n", "clusters[0].name", "want a string"},
		{"twice the same name", "clusters:\n- name: c\n\tcluster: {server: https://h}\n- name: c\n\tcluster: {server: https://i}\n", "clusters[1].name", "twice"},
		{"no body", "clusters:\n- name: c\n", `clusters["c"].cluster`, "required"},
		{"empty entry", "clusters:\n- \n", "clusters[0]", "empty entry"},
		{"entries not a list", "users: {a: b}\n", "users", "want a list"},
		{"token and password", user("\t\ttoken: t\n\t\tpassword: p\n"), `users["u"].user.token`, "not both"},
		{"certificate without key", user("\t\tclient-certificate-data: {{cert}}\n"), `users["u"].user.client-key-data`, "required"},
		{"key without certificate", user("\t\tclient-key-data: {{key}}\n"), `users["u"].user.client-certificate-data`, "required"},
		{"key of another certificate", user("\t\tclient-certificate-data: {{cert}}\n\t\tclient-key-data: {{otherkey}}\n"), `users["u"].user.client-certificate-data`, "not a usable"},
		{"groups not strings", user("\t\tas-groups: [a, [b]]\n"), `users["u"].user.as-groups[1]`, "want a string"},
		{"context without cluster", "contexts:\n- name: x\n\tcontext: {user: u}\n", `contexts["x"].context.cluster`, "required"},
		{"another apiVersion", "apiVersion: v2\n", "apiVersion", "want v1"},
		{"another kind", "kind: Pod\n", "kind", "want Config"},
		{"too large", "a: '" + strings.Repeat("x", MaxSize) + "'\n", "", "larger than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse(doc(p, tc.doc))
			var inv *InvalidError
			if !errors.As(err, &inv) {
				t.Fatalf("Parse = %v, %v; want an InvalidError", cfg, err)
			}
			if inv.Field != tc.field || !strings.Contains(inv.Reason, tc.says) {
				t.Errorf("invalid %q (%s); want %q saying %q", inv.Field, inv.Reason, tc.field, tc.says)
			}
		})
	}
}

func TestContext(t *testing.T) {
	cfg, err := Parse([]byte(`
clusters: [{name: c, cluster: {server: "https://h"}}]
users: [{name: u, user: {token: t}}]
contexts:
- {name: ok, context: {cluster: c, user: u}}
- {name: lost-cluster, context: {cluster: gone, user: u}}
- {name: lost-user, context: {cluster: c, user: gone}}
current-context: missing
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, field string }{
		{"", "current-context"},
		{"lost-cluster", `contexts["lost-cluster"].context.cluster`},
		{"lost-user", `contexts["lost-user"].context.user`},
	} {
		var inv *InvalidError
		if _, err := cfg.Context(tc.name); !errors.As(err, &inv) || inv.Field != tc.field {
			t.Errorf("Context(%q) = %v; want an InvalidError on %s", tc.name, err, tc.field)
		}
	}
	if _, err := cfg.Context("nope"); !errors.Is(err, ErrNoContext) || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("Context(nope) = %v; want ErrNoContext naming it", err)
	}
	if c, err := cfg.Context("ok"); err != nil || c.User.Token != "t" {
		t.Errorf("Context(ok) = %+v, %v", c, err)
	}
}
