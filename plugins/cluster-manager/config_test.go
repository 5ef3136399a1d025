package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestOptionsFrom(t *testing.T) {
	o, err := optionsFrom(map[string]interface{}{
		"its_context": "hub", "default_timeout_seconds": 30, "poll_interval_ms": float64(250),
		"auto_approve": false, "max_concurrent_operations": 2, "protected_label_keys": []interface{}{"owner"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if o.ITSContext != "hub" || o.Timeout != 30*time.Second || o.PollInterval != 250*time.Millisecond ||
		!o.DisableAutoApprove || o.MaxConcurrent != 2 || len(o.ProtectedLabelKeys) != 1 {
		t.Errorf("options: %+v", o)
	}
	for _, tc := range []struct {
		config map[string]interface{}
		key    string
	}{
		{map[string]interface{}{"its_context": 1}, "its_context"},
		{map[string]interface{}{"default_timeout_seconds": "ten"}, "default_timeout_seconds"},
		{map[string]interface{}{"auto_approve": "yes"}, "auto_approve"},
		{map[string]interface{}{"protected_label_keys": []interface{}{"ok", 3}}, "protected_label_keys[1]"},
		{map[string]interface{}{"protected_label_keys": "owner"}, "protected_label_keys"},
	} {
		if _, err := optionsFrom(tc.config); err == nil || !strings.Contains(err.Error(), "configuration "+tc.key+":") {
			t.Errorf("%v: %v; want an error naming %s", tc.config, err, tc.key)
		}
	}
}

// TestOptionsFromKubeconfig: the kubeconfig an operator may configure is
// checked when the configuration is set, so a refused one never becomes
// the plugin's configuration.
func TestOptionsFromKubeconfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, doc string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	good := write("good", "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:6443'}}]\ncontexts: [{name: its1, context: {cluster: c}}]\n")
	if o, err := optionsFrom(map[string]interface{}{"kubeconfig": good}); err != nil || o.Kubeconfig != good {
		t.Errorf("a data-only kubeconfig: %+v, %v", o, err)
	}
	for path, says := range map[string]string{
		write("exec", "users: [{name: u, user: {exec: {command: sh}}}]\n"):      `users["u"].user.exec`,
		write("file", "users: [{name: u, user: {tokenFile: /etc/hostname}}]\n"): `users["u"].user.tokenFile`,
		"/dev/zero": "not a regular file",
	} {
		_, err := optionsFrom(map[string]interface{}{"kubeconfig": path})
		if err == nil || !strings.Contains(err.Error(), "configuration kubeconfig:") || !strings.Contains(err.Error(), says) {
			t.Errorf("kubeconfig %s: %v; want an error naming %s", path, err, says)
		}
	}
}
