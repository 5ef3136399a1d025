package clusters

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kubestellar/ksplugins/sdk/kubeconfig"
)

// hostile returns a kubeconfig for a loopback port nothing answers on,
// whose user carries the given fields, and the marker file its exec
// plugin would create.
func hostile(t *testing.T, user string) (doc []byte, marker string) {
	t.Helper()
	marker = filepath.Join(t.TempDir(), "ran")
	doc = fmt.Appendf(nil, `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:1"}
users:
- name: evil
  user:
%s
contexts:
- name: x
  context: {cluster: c, user: evil}
current-context: x
`, strings.ReplaceAll(user, "{{marker}}", marker))
	return doc, marker
}

const execUser = `    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: sh
      args: ["-c", "touch {{marker}}"]
      interactiveMode: Never`

// TestUntrustedKubeconfig: a kubeconfig from a request or from the
// plugin's configuration is refused, naming the field, before anything
// in it runs or is read.
func TestUntrustedKubeconfig(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	m := New(Options{RequestTimeout: 2 * time.Second})
	defer m.Close()
	for _, tc := range []struct{ name, user, field string }{
		{"exec", execUser, `kubeconfig.users["evil"].user.exec`},
		{"auth-provider", "    auth-provider: {name: oidc, config: {idp-issuer-url: 'https://127.0.0.1:1'}}", `kubeconfig.users["evil"].user.auth-provider`},
		{"tokenFile", "    tokenFile: /etc/hostname", `kubeconfig.users["evil"].user.tokenFile`},
		{"client-key", "    client-certificate-data: Zm9v\n    client-key: /etc/shadow", `kubeconfig.users["evil"].user.client-key`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc, marker := hostile(t, tc.user)
			res, err := m.Validate(ctx, Target{Kubeconfig: doc})
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field || !strings.HasPrefix(fe.Message, "refused: ") {
				t.Fatalf("Validate = %+v, %v; want a FieldError on %s", res, err, tc.field)
			}
			if _, _, err := m.Onboard(ctx, OnboardRequest{Cluster: "c1", Target: Target{Kubeconfig: doc}}); !errors.As(err, &fe) || fe.Field != tc.field {
				t.Errorf("Onboard: %v; want a FieldError on %s", err, tc.field)
			}
			if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the exec plugin ran: %v", err)
			}
		})
	}

	t.Run("configured file", func(t *testing.T) {
		doc, marker := hostile(t, execUser)
		path := filepath.Join(t.TempDir(), "kubeconfig")
		if err := os.WriteFile(path, doc, 0o600); err != nil {
			t.Fatal(err)
		}
		m := New(Options{Kubeconfig: path, ITSContext: "x", RequestTimeout: 2 * time.Second})
		defer m.Close()
		var refused *kubeconfig.RefusedError
		if _, err := m.Validate(ctx, Target{Context: "x"}); !errors.As(err, &refused) || refused.Field != `users["evil"].user.exec` {
			t.Errorf("Validate with a context of the configured file: %v; want the exec refused", err)
		}
		if err := m.Health(ctx); !errors.As(err, &refused) {
			t.Errorf("Health with the hub in the configured file: %v; want the exec refused", err)
		}
		if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the exec plugin ran: %v", err)
		}
	})
}

// TestReadKubeconfigFile: the configured path reads only a bounded regular
// file, so a device or a pipe named there neither hangs nor exhausts the
// plugin.
func TestReadKubeconfigFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, make([]byte, kubeconfig.MaxSize+1), 0o600); err != nil {
		t.Fatal(err)
	}
	for path, says := range map[string]string{
		"/dev/zero":                   "not a regular file",
		fifo:                          "not a regular file",
		dir:                           "not a regular file",
		big:                           "larger than",
		filepath.Join(dir, "missing"): "no such file",
		writeKubeconfig(t, map[string]string{"wec1": "https://127.0.0.1:7443"}): "",
	} {
		_, err := ReadKubeconfigFile(path)
		if (says == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), says)) {
			t.Errorf("ReadKubeconfigFile(%s) = %v; want %q", path, err, says)
		}
	}
}

func TestRestConfigOf(t *testing.T) {
	cfg := restConfigOf(kubeconfig.Context{
		Cluster: kubeconfig.Cluster{Server: "https://h:6443", CAData: []byte("ca"), TLSServerName: "n", DisableCompression: true},
		User: kubeconfig.User{Token: "t", ClientCertData: []byte("cert"), ClientKeyData: []byte("key"), Impersonate: "bob",
			ImpersonateUID: "1", ImpersonateGroups: []string{"g"}, ImpersonateExtra: map[string][]string{"k": {"v"}}},
	})
	if cfg.Host != "https://h:6443" || string(cfg.CAData) != "ca" || cfg.ServerName != "n" || !cfg.DisableCompression ||
		cfg.BearerToken != "t" || string(cfg.CertData) != "cert" || string(cfg.KeyData) != "key" ||
		cfg.Impersonate.UserName != "bob" || cfg.Impersonate.UID != "1" || cfg.Impersonate.Groups[0] != "g" || cfg.Impersonate.Extra["k"][0] != "v" {
		t.Errorf("restConfigOf: %+v", cfg)
	}
	if cfg.ExecProvider != nil || cfg.AuthProvider != nil || cfg.BearerTokenFile != "" || cfg.CAFile != "" || cfg.CertFile != "" || cfg.KeyFile != "" {
		t.Errorf("restConfigOf set a field that runs or reads something: %+v", cfg)
	}
}
