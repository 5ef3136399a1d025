package e2e

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	clusterclient "open-cluster-management.io/api/client/cluster/clientset/versioned"
	clusterv1 "open-cluster-management.io/api/cluster/v1"

	"github.com/kubestellar/ksplugins/internal/kubeaccess"
	"github.com/kubestellar/ksplugins/sdk"
	"github.com/kubestellar/ksplugins/sdk/kubeconfig"
)

// hostKubeconfigFiles writes the host's kubeconfig for the cluster of cfg as
// an administrator keeps one: the CA, certificate and key in files next to
// it, named relative to it. It returns the kubeconfig's path.
func hostKubeconfigFiles(t testing.TB, context string, cfg *rest.Config) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string][]byte{"ca.crt": cfg.CAData, "admin.crt": cfg.CertData, "admin.key": cfg.KeyData, "kubeconfig": []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
current-context: %[1]s
clusters:
- name: %[1]s
  cluster: {server: %[2]q, certificate-authority: ca.crt}
users:
- name: admin
  user: {client-certificate: admin.crt, client-key: admin.key}
contexts:
- name: %[1]s
  context: {cluster: %[1]s, user: admin}
`, context, cfg.Host))}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "kubeconfig")
}

// TestKubeAccess drives the mediation with client-go against a real
// kube-apiserver: the plugin's rest.Config holds no credential and points
// at the handler, which holds the host's.
func TestKubeAccess(t *testing.T) {
	admin := startKube(t, kubeAssets(t), ocmCRDs(t))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	path := hostKubeconfigFiles(t, "its1", admin)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	host, err := kubeconfig.ParseTrusted(data, filepath.Dir(path))
	if err != nil {
		t.Fatalf("read the host's kubeconfig: %v", err)
	}
	its1, err := host.Context("its1")
	if err != nil {
		t.Fatal(err)
	}
	up, err := kubeaccess.NewUpstream(its1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(up.Close)

	const plugin = "kubestellar-cluster-manager"
	rules := []sdk.KubernetesRule{
		{APIGroups: []string{"cluster.open-cluster-management.io"}, Resources: []string{"managedclusters"}, Verbs: []string{"get", "list", "watch"}},
	}
	var mu sync.Mutex
	var denied []kubeaccess.Decision
	report := func(d kubeaccess.Decision) {
		if !d.Allowed {
			mu.Lock()
			denied = append(denied, d)
			mu.Unlock()
		}
	}
	mediated := httptest.NewServer(up.Handler(kubeaccess.Options{Plugin: plugin, Rules: rules, Report: report}))
	t.Cleanup(mediated.Close)
	pluginConfig := &rest.Config{Host: mediated.URL, QPS: -1} // no credential of its own

	adminOCM := clusterclient.NewForConfigOrDie(admin)
	pluginOCM := clusterclient.NewForConfigOrDie(pluginConfig)
	pluginKube := kubernetes.NewForConfigOrDie(pluginConfig)
	if _, err := adminOCM.ClusterV1().ManagedClusters().Create(ctx, &clusterv1.ManagedCluster{ObjectMeta: metav1.ObjectMeta{Name: "c1"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	t.Run("get a granted resource", func(t *testing.T) {
		mc, err := pluginOCM.ClusterV1().ManagedClusters().Get(ctx, "c1", metav1.GetOptions{})
		if err != nil || mc.Name != "c1" {
			t.Fatalf("mediated get of ManagedCluster c1: %v, %v", mc, err)
		}
	})

	t.Run("discovery", func(t *testing.T) {
		groups, err := pluginKube.Discovery().ServerGroups()
		if err != nil {
			t.Fatalf("server groups: %v", err)
		}
		found := false
		for _, g := range groups.Groups {
			found = found || g.Name == "cluster.open-cluster-management.io"
		}
		if !found {
			t.Errorf("discovery through the mediation lacks the OCM group: %v", groups)
		}
		if _, err := pluginKube.Discovery().ServerVersion(); err != nil {
			t.Errorf("server version: %v", err)
		}
	})

	t.Run("outside the grant is Forbidden", func(t *testing.T) {
		_, err := pluginKube.CoreV1().Secrets("kube-system").List(ctx, metav1.ListOptions{})
		if !apierrors.IsForbidden(err) {
			t.Errorf("list secrets: %v; want Forbidden", err)
		}
		err = pluginOCM.ClusterV1().ManagedClusters().Delete(ctx, "c1", metav1.DeleteOptions{})
		if !apierrors.IsForbidden(err) {
			t.Errorf("delete a managed cluster: %v; want Forbidden", err)
		}
		if _, err := adminOCM.ClusterV1().ManagedClusters().Get(ctx, "c1", metav1.GetOptions{}); err != nil {
			t.Errorf("c1 after the refused delete: %v", err)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(denied) != 2 || denied[0].Attributes.Resource != "secrets" || denied[1].Attributes.Verb != "delete" || denied[1].Status != 403 {
			t.Errorf("reported denials: %+v", denied)
		}
	})

	t.Run("a watch delivers an event", func(t *testing.T) {
		w, err := pluginOCM.ClusterV1().ManagedClusters().Watch(ctx, metav1.ListOptions{ResourceVersion: "0"})
		if err != nil {
			t.Fatalf("mediated watch: %v", err)
		}
		defer w.Stop()
		// The initial ADDED of c1 first.
		if ev := next(t, w); ev.Type != watch.Added {
			t.Fatalf("first event: %v", ev.Type)
		}
		created := time.Now()
		if _, err := adminOCM.ClusterV1().ManagedClusters().Create(ctx, &clusterv1.ManagedCluster{ObjectMeta: metav1.ObjectMeta{Name: "c2"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		ev := next(t, w)
		if mc, ok := ev.Object.(*clusterv1.ManagedCluster); ev.Type != watch.Added || !ok || mc.Name != "c2" {
			t.Fatalf("event after creating c2: %v %v", ev.Type, ev.Object)
		}
		t.Logf("a change reached the mediated watch in %v", time.Since(created))
	})

	t.Run("impersonation reaches the cluster's RBAC", func(t *testing.T) {
		imp := httptest.NewServer(up.Handler(kubeaccess.Options{Plugin: plugin, Rules: rules, Impersonate: true}))
		defer imp.Close()
		impOCM := clusterclient.NewForConfigOrDie(&rest.Config{Host: imp.URL})
		_, err := impOCM.ClusterV1().ManagedClusters().Get(ctx, "c1", metav1.GetOptions{})
		if !apierrors.IsForbidden(err) {
			t.Fatalf("get as the plugin's user, without a binding: %v; want the API server's Forbidden", err)
		}
		if want := kubeaccess.PluginUser(plugin); !strings.Contains(err.Error(), want) {
			t.Errorf("the API server's refusal does not name %s: %v", want, err)
		}
		adminKube := kubernetes.NewForConfigOrDie(admin)
		if _, err := adminKube.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{
			ObjectMeta: metav1.ObjectMeta{Name: "read-managedclusters"},
			Rules:      []rbacv1.PolicyRule{{APIGroups: []string{"cluster.open-cluster-management.io"}, Resources: []string{"managedclusters"}, Verbs: []string{"get"}}},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := adminKube.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "plugin-reads-managedclusters"},
			RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "read-managedclusters"},
			Subjects:   []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "User", Name: kubeaccess.PluginUser(plugin)}},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second) // the authorizer's cache catches up
		for {
			_, err = impOCM.ClusterV1().ManagedClusters().Get(ctx, "c1", metav1.GetOptions{})
			if err == nil || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			t.Errorf("get as the plugin's user, bound to a role: %v", err)
		}
	})

	t.Run("overhead", func(t *testing.T) {
		direct := clusterclient.NewForConfigOrDie(admin)
		const n = 200
		timeGets := func(c clusterclient.Interface) time.Duration {
			for range 10 { // warm the connections
				if _, err := c.ClusterV1().ManagedClusters().Get(ctx, "c1", metav1.GetOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			start := time.Now()
			for range n {
				if _, err := c.ClusterV1().ManagedClusters().Get(ctx, "c1", metav1.GetOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			return time.Since(start) / n
		}
		d, m := timeGets(direct), timeGets(pluginOCM)
		t.Logf("GET of a ManagedCluster, mean of %d: direct %v, mediated %v (%.2fx)", n, d, m, float64(m)/float64(d))
	})
}

// next returns the next event of w, failing the test after a while.
func next(t *testing.T, w watch.Interface) watch.Event {
	t.Helper()
	select {
	case ev, ok := <-w.ResultChan():
		if !ok {
			t.Fatal("the watch ended")
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10s")
	}
	return watch.Event{}
}
