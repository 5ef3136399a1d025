package kubeconfig

import (
	"bytes"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
)

// FuzzParse checks Parse against client-go's own reading of the same bytes:
// whatever Parse accepts, client-go finds no exec plugin, no auth provider,
// no file path and no proxy in it, and reads the same server and
// credentials for every context Parse resolves. Parse must never panic.
func FuzzParse(f *testing.F) {
	p := newPKI(f)
	f.Add(doc(p, full))
	for _, s := range []string{
		"",
		"{}",
		"clusters: [{name: c, cluster: {server: 'https://h'}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\nusers: [{name: u, user: {token: t}}]\ncurrent-context: x\n",
		"users: [{name: u, user: {exec: {command: sh, args: [-c, id]}}}]\n",
		"users: [{name: u, user: {tokenFile: /etc/hostname}}]\n",
		"users: [{name: u, user: {EXEC: {command: sh}}}]\n",
		"users: [{name: u, user: {auth-provider: {name: oidc}}}]\n",
		"clusters: [{name: c, cluster: {server: 'https://h', certificate-authority: /etc/shadow}}]\n",
		"clusters: [{name: c, cluster: {server: 'https://h', proxy-url: 'http://p'}}]\n",
		`{"users":[{"name":"u","user":{"client-key":"/k","client-certificate":"/c"}}]}`,
		"a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data)
		if err != nil {
			return
		}
		theirs, err := clientcmd.Load(data)
		if err != nil {
			return // client-go reads less than Parse accepts; nothing it would act on
		}
		for name, u := range theirs.AuthInfos {
			if u.Exec != nil || u.AuthProvider != nil || u.TokenFile != "" || u.ClientCertificate != "" || u.ClientKey != "" {
				t.Fatalf("Parse accepted user %q that client-go reads with an exec plugin, auth provider or file: %+v", name, u)
			}
		}
		for name, c := range theirs.Clusters {
			if c.CertificateAuthority != "" || c.ProxyURL != "" {
				t.Fatalf("Parse accepted cluster %q that client-go reads with a file or proxy: %+v", name, c)
			}
		}
		for _, name := range cfg.ContextNames() {
			ours, err := cfg.Context(name)
			if err != nil {
				continue
			}
			tc := theirs.Contexts[name]
			if tc == nil || theirs.Clusters[tc.Cluster] == nil {
				t.Fatalf("context %q: client-go does not resolve it", name)
			}
			cl := theirs.Clusters[tc.Cluster]
			if cl.Server != ours.Cluster.Server || !bytes.Equal(cl.CertificateAuthorityData, ours.Cluster.CAData) || cl.InsecureSkipTLSVerify != ours.Cluster.InsecureSkipTLSVerify {
				t.Fatalf("context %q: client-go reads cluster %+v, Parse %+v", name, cl, ours.Cluster)
			}
			if u := theirs.AuthInfos[tc.AuthInfo]; u != nil && tc.AuthInfo != "" {
				if u.Token != ours.User.Token || !bytes.Equal(u.ClientKeyData, ours.User.ClientKeyData) || u.Username != ours.User.Username || u.Impersonate != ours.User.Impersonate {
					t.Fatalf("context %q: client-go reads user %+v, Parse %+v", name, u, ours.User)
				}
			}
		}
	})
}
