package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	certv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	clusterclient "open-cluster-management.io/api/client/cluster/clientset/versioned"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

const clusterManagerID = "kubestellar-cluster-manager"

// kubeAssets returns the folder with etcd and kube-apiserver that
// scripts/kube-binaries.sh prepared (make test runs it and sets
// KSPLUGINS_KUBE_ASSETS). Without it the test is skipped, except in CI,
// where it must run.
func kubeAssets(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("KSPLUGINS_KUBE_ASSETS")
	if dir == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("KSPLUGINS_KUBE_ASSETS is not set: run the tests with make test, which prepares etcd and kube-apiserver")
		}
		t.Skip("KSPLUGINS_KUBE_ASSETS not set; run scripts/kube-binaries.sh and set it to the folder it prints (make test does both)")
	}
	for _, b := range []string{"etcd", "kube-apiserver"} {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			t.Fatalf("KSPLUGINS_KUBE_ASSETS: %v", err)
		}
	}
	return dir
}

// startKube starts a real etcd and kube-apiserver and returns an admin's
// client configuration. crdDirs are installed before it returns.
func startKube(t testing.TB, assets string, crdDirs ...string) *rest.Config {
	t.Helper()
	env := &envtest.Environment{BinaryAssetsDirectory: assets, CRDDirectoryPaths: crdDirs, ErrorIfCRDPathMissing: true}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("start kube-apiserver: %v", err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Logf("stop kube-apiserver: %v", err)
		}
	})
	return cfg
}

// ocmCRDs is the folder of the ManagedCluster CRD in the OCM API module.
func ocmCRDs(t testing.TB) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "open-cluster-management.io/api").Output()
	if err != nil {
		t.Fatalf("find the OCM API module: %v", err)
	}
	return filepath.Join(strings.TrimSpace(string(out)), "cluster", "v1")
}

// kubeconfigOf writes one kubeconfig with a context per named cluster; the
// current one is the first by name.
func kubeconfigOf(t *testing.T, contexts map[string]*rest.Config) []byte {
	t.Helper()
	c := clientcmdapi.NewConfig()
	for name, cfg := range contexts {
		c.Clusters[name] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
		c.AuthInfos[name] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
		c.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name}
		if c.CurrentContext == "" || name < c.CurrentContext {
			c.CurrentContext = name // the first by name, not whichever map order gives
		}
	}
	data, err := clientcmd.Write(*c)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// hubAgent plays, on the hub, the part of the klusterlet's registration
// agent and of the hub's registration controller, because no pods run on
// these API servers: once the plugin has installed the agent's bootstrap
// kubeconfig on the WEC, it uses that kubeconfig, as the agent would, to
// ask for a client certificate and register the ManagedCluster; once the
// hub accepts the cluster, it reports the cluster joined and available.
// Everything the plugin does against both servers is real.
type hubAgent struct {
	cluster string
	hub     *rest.Config
	wec     kubernetes.Interface
	release chan struct{} // registration waits for this to close
	report  chan struct{} // reporting the conditions waits for this to close
	done    chan error
}

func startHubAgent(ctx context.Context, t *testing.T, cluster string, hub, wec *rest.Config) *hubAgent {
	t.Helper()
	a := &hubAgent{cluster: cluster, hub: hub, wec: kubernetes.NewForConfigOrDie(wec), release: make(chan struct{}), report: make(chan struct{}), done: make(chan error, 1)}
	go func() { a.done <- a.run(ctx) }()
	return a
}

func (a *hubAgent) run(ctx context.Context) error {
	var bootstrap []byte
	if err := pollUntil(ctx, func() (bool, error) {
		s, err := a.wec.CoreV1().Secrets("open-cluster-management-agent").Get(ctx, "bootstrap-hub-kubeconfig", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		bootstrap = s.Data["kubeconfig"]
		return true, nil
	}); err != nil {
		return fmt.Errorf("wait for the bootstrap kubeconfig: %w", err)
	}
	select {
	case <-a.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	bcfg, err := clientcmd.RESTConfigFromKubeConfig(bootstrap)
	if err != nil {
		return fmt.Errorf("bootstrap kubeconfig: %w", err)
	}
	// As the agent: only what the bootstrap token allows.
	agentKube := kubernetes.NewForConfigOrDie(bcfg)
	agentOCM := clusterclient.NewForConfigOrDie(bcfg)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{
		CommonName:   "system:open-cluster-management:" + a.cluster + ":agent",
		Organization: []string{"system:open-cluster-management:" + a.cluster},
	}}, key)
	if err != nil {
		return err
	}
	csr := &certv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{GenerateName: a.cluster + "-", Labels: map[string]string{"open-cluster-management.io/cluster-name": a.cluster}},
		Spec: certv1.CertificateSigningRequestSpec{
			Request:    pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}),
			SignerName: certv1.KubeAPIServerClientSignerName,
			Usages:     []certv1.KeyUsage{certv1.UsageDigitalSignature, certv1.UsageKeyEncipherment, certv1.UsageClientAuth},
		},
	}
	if _, err := agentKube.CertificatesV1().CertificateSigningRequests().Create(ctx, csr, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("agent: create CSR with the bootstrap token: %w", err)
	}
	mc := &clusterv1.ManagedCluster{ObjectMeta: metav1.ObjectMeta{Name: a.cluster}}
	if _, err := agentOCM.ClusterV1().ManagedClusters().Create(ctx, mc, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("agent: create ManagedCluster with the bootstrap token: %w", err)
	}
	select {
	case <-a.report:
	case <-ctx.Done():
		return ctx.Err()
	}
	// As the hub's registration controller: report the accepted cluster
	// joined and available.
	hubOCM := clusterclient.NewForConfigOrDie(a.hub)
	return pollUntil(ctx, func() (bool, error) {
		mc, err := hubOCM.ClusterV1().ManagedClusters().Get(ctx, a.cluster, metav1.GetOptions{})
		if err != nil || !mc.Spec.HubAcceptsClient {
			return false, err
		}
		now := metav1.Now()
		mc.Status.Conditions = []metav1.Condition{
			{Type: clusterv1.ManagedClusterConditionHubAccepted, Status: metav1.ConditionTrue, Reason: "HubClusterAdminAccepted", LastTransitionTime: now},
			{Type: clusterv1.ManagedClusterConditionJoined, Status: metav1.ConditionTrue, Reason: "ManagedClusterJoined", LastTransitionTime: now},
			{Type: clusterv1.ManagedClusterConditionAvailable, Status: metav1.ConditionTrue, Reason: "ManagedClusterAvailable", LastTransitionTime: now},
		}
		mc.Status.Version.Kubernetes = "v1.37.2"
		_, err = hubOCM.ClusterV1().ManagedClusters().UpdateStatus(ctx, mc, metav1.UpdateOptions{})
		return err == nil, err
	})
}

func pollUntil(ctx context.Context, cond func() (bool, error)) error {
	for {
		ok, err := cond()
		if err != nil || ok {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// bindingPolicyGVR is KubeStellar's BindingPolicy, which the test installs
// on the hub (here also the WDS) with a CRD of its own making.
var bindingPolicyGVR = schema.GroupVersionResource{Group: "control.kubestellar.io", Version: "v1alpha1", Resource: "bindingpolicies"}

func installBindingPolicy(t *testing.T, cfg *rest.Config) {
	t.Helper()
	ctx := context.Background()
	dyn := dynamic.NewForConfigOrDie(cfg)
	crd := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
		"metadata": map[string]any{"name": "bindingpolicies.control.kubestellar.io"},
		"spec": map[string]any{
			"group": "control.kubestellar.io", "scope": "Cluster",
			"names": map[string]any{"kind": "BindingPolicy", "plural": "bindingpolicies", "singular": "bindingpolicy", "listKind": "BindingPolicyList"},
			"versions": []any{map[string]any{"name": "v1alpha1", "served": true, "storage": true,
				"schema": map[string]any{"openAPIV3Schema": map[string]any{"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}},
		},
	}}
	crdGVR := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	if _, err := dyn.Resource(crdGVR).Create(ctx, crd, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	bp := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "control.kubestellar.io/v1alpha1", "kind": "BindingPolicy",
		"metadata": map[string]any{"name": "edge-apps"},
		"spec": map[string]any{"clusterSelectors": []any{
			map[string]any{"matchLabels": map[string]any{"location-group": "edge"}},
			map[string]any{"matchExpressions": []any{map[string]any{"key": "zone", "operator": "Exists"}}},
		}},
	}}
	if err := pollUntil(ctx, func() (bool, error) {
		_, err := dyn.Resource(bindingPolicyGVR).Create(ctx, bp, metav1.CreateOptions{})
		return err == nil, nil // the CRD takes a moment to be served
	}); err != nil {
		t.Fatal(err)
	}
}

// publishRootCA publishes the API server's CA in kube-public's
// kube-root-ca.crt, as kube-controller-manager does in every cluster: no
// controller manager runs beside these API servers.
func publishRootCA(t *testing.T, cfg *rest.Config) {
	t.Helper()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "kube-root-ca.crt"}, Data: map[string]string{"ca.crt": string(cfg.CAData)}}
	if _, err := kubernetes.NewForConfigOrDie(cfg).CoreV1().ConfigMaps("kube-public").Create(context.Background(), cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// unreachableKubeconfig points at a loopback port nothing listens on.
func unreachableKubeconfig(t *testing.T) []byte {
	t.Helper()
	addr := freeAddr(t)
	return kubeconfigOf(t, map[string]*rest.Config{"gone": {Host: "https://" + addr, TLSClientConfig: rest.TLSClientConfig{Insecure: false}, BearerToken: "x"}})
}

// hostileKubeconfig is a kubeconfig for the cluster of cfg whose user,
// "intruder", has the YAML fields given (indented for the user's mapping).
func hostileKubeconfig(cfg *rest.Config, user string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: wec
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: intruder
  user:
    %s
contexts:
- name: wec
  context: {cluster: wec, user: intruder}
current-context: wec
`, cfg.Host, base64.StdEncoding.EncodeToString(cfg.CAData), user)
}

// cm calls an endpoint of the cluster manager with s's token.
func (s *server) cm(method, path string, body any) reply {
	s.t.Helper()
	return s.call(method, "/api/plugin-endpoints/"+clusterManagerID+path, body, true)
}

// cmMultipart posts a form with a kubeconfig file to the cluster manager.
func (s *server) cmMultipart(path string, fields map[string]string, kubeconfig []byte) reply {
	s.t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for k, v := range fields {
		_ = w.WriteField(k, v)
	}
	if kubeconfig != nil {
		fw, _ := w.CreateFormFile("kubeconfig", "kubeconfig.yaml")
		_, _ = fw.Write(kubeconfig)
	}
	w.Close()
	req, err := http.NewRequest("POST", s.url+"/api/plugin-endpoints/"+clusterManagerID+path, &buf)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", w.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+s.token)
	return s.send(req)
}

// waitOperation polls an operation until it ends and returns it.
func (s *server) waitOperation(id string) map[string]any {
	s.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		r := s.cm("GET", "/operations/"+id, nil)
		want(s.t, "operation "+id, r, 200, "")
		if st := r.body["state"]; st == "succeeded" || st == "failed" {
			return r.body
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("operation %s still %v after 2 minutes: %s", id, r.body["state"], r)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// fieldOf returns the field named by an error reply's first detail.
func fieldOf(r reply) string {
	e, _ := r.body["error"].(map[string]any)
	d, _ := e["details"].([]any)
	if len(d) == 0 {
		return ""
	}
	first, _ := d[0].(map[string]any)
	f, _ := first["field"].(string)
	return f
}

func opOf(t *testing.T, r reply) map[string]any {
	t.Helper()
	op, _ := r.body["operation"].(map[string]any)
	if op == nil || op["id"] == "" {
		t.Fatalf("no operation in %s", r)
	}
	return op
}

// TestClusterManager drives the cluster-manager plugin through the host's
// HTTP API against two real API servers, a hub with the OCM CRDs and a WEC,
// in both tiers from the same source: natively and sandboxed. The plugin
// holds no credential; the host, started with a kubeconfig of both
// clusters, reaches the hub for it through context its1 and the WEC through
// the kubeconfig a caller brings, and refuses and audits whatever the
// plugin's grant does not allow.
func TestClusterManager(t *testing.T) {
	for _, tier := range []string{"native", "sandboxed"} {
		t.Run(tier, func(t *testing.T) { testClusterManager(t, tier == "sandboxed") })
	}
}

func testClusterManager(t *testing.T, sandboxed bool) {
	assets := kubeAssets(t)
	f := setup(t)
	hub := startKube(t, assets, ocmCRDs(t))
	wec := startKube(t, assets)
	installBindingPolicy(t, hub)
	publishRootCA(t, hub)

	dir := t.TempDir()
	// The host's kubeconfig has both clusters; the plugin is granted only
	// its1 (and wds1, which this host lacks): wec1 is reached through the
	// kubeconfig a caller brings.
	hostKubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(hostKubeconfig, kubeconfigOf(t, map[string]*rest.Config{"its1": hub, "wec1": wec}), 0o600); err != nil {
		t.Fatal(err)
	}
	wecKubeconfig := kubeconfigOf(t, map[string]*rest.Config{"wec1": wec})
	// KUBECONFIG is emptied so that nothing but the flag names the host's
	// kubeconfig, and the plugin cannot find it in its environment.
	s := startServerArgs(t, f, freeAddr(t), filepath.Join(dir, "data"), f.cacheDir, []string{"--kubeconfig", hostKubeconfig}, "KUBECONFIG=")

	src := copyPlugin(t, filepath.Join(f.root, "plugins/cluster-manager"))
	if sandboxed {
		sandbox(t, src)
	}
	began := time.Now()
	r := s.api("POST", "/api/plugins/load", map[string]any{"source": src})
	want(t, "load the cluster manager", r, 201, "")
	t.Logf("load (build and start) took %v", time.Since(began).Round(time.Millisecond))
	wantTier := "native"
	if sandboxed {
		wantTier = "sandboxed"
	}
	if r := s.api("GET", "/api/plugins/"+clusterManagerID, nil); r.body["tier"] != wantTier {
		t.Fatalf("tier %v; want %s: %s", r.body["tier"], wantTier, r)
	}
	r = s.api("PUT", "/api/plugins/"+clusterManagerID+"/configuration", map[string]any{
		"wds_context": "its1", "poll_interval_ms": 100, "protected_label_keys": []any{"owner"}, "hub_apiserver": hub.Host,
	})
	want(t, "configure", r, 200, "")
	// By default the host does not dial a caller's cluster on loopback (a
	// plugin could point it at the host's own services): the refusal is a
	// 400 naming the kubeconfig's field. The test's API servers are there,
	// so the test then allows every network.
	r = s.cm("POST", "/validate", map[string]any{"kubeconfig": string(wecKubeconfig)})
	if r.status != 400 || fieldOf(r) != `kubeconfig.clusters["wec1"].cluster.server` {
		t.Errorf("a WEC on loopback by default: %s; want 400 on its server", r)
	}
	want(t, "allow every network", s.api("PUT", "/api/plugins/system/configuration",
		map[string]any{"kubernetes": map[string]any{"external_denied_networks": []string{}}}), 200, "")

	hubKube := kubernetes.NewForConfigOrDie(hub)
	hubOCM := clusterclient.NewForConfigOrDie(hub)
	wecDyn := dynamic.NewForConfigOrDie(wec)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	agent := startHubAgent(ctx, t, "cluster1", hub, wec)

	t.Run("BadInput", func(t *testing.T) {
		for _, tc := range []struct {
			name  string
			do    func() reply
			field string
		}{
			{"missing name", func() reply { return s.cm("POST", "/onboard", map[string]any{"kubeconfig": string(wecKubeconfig)}) }, "clusterName"},
			{"missing name, multipart", func() reply { return s.cmMultipart("/onboard", nil, wecKubeconfig) }, "clusterName"},
			{"bad name", func() reply {
				return s.cm("POST", "/onboard", map[string]any{"clusterName": "Not_A_Name", "kubeconfig": string(wecKubeconfig)})
			}, "clusterName"},
			{"invalid kubeconfig", func() reply {
				return s.cm("POST", "/onboard", map[string]any{"clusterName": "c2", "kubeconfig": "this: [is not a kubeconfig"})
			}, "kubeconfig"},
			{"no kubeconfig", func() reply { return s.cm("POST", "/onboard", map[string]any{"clusterName": "c2"}) }, "kubeconfig"},
			{"unknown context", func() reply { return s.cm("POST", "/onboard", map[string]any{"clusterName": "c2", "context": "nope"}) }, "context"},
			// The host has wec1, but did not grant it to the plugin.
			{"context not granted", func() reply { return s.cm("POST", "/onboard", map[string]any{"clusterName": "c2", "context": "wec1"}) }, "context"},
			{"validate, context not granted", func() reply { return s.cm("POST", "/validate", map[string]any{"context": "wec1"}) }, "context"},
			{"protected label", func() reply {
				return s.cm("POST", "/onboard", map[string]any{"clusterName": "c2", "context": "wec1", "labels": map[string]string{"kubernetes.io/os": "x"}})
			}, "labels.kubernetes.io/os"},
			{"validate, invalid kubeconfig", func() reply { return s.cm("POST", "/validate", map[string]any{"kubeconfig": "{"}) }, "kubeconfig"},
			{"not JSON", func() reply {
				return s.call("POST", "/api/plugin-endpoints/"+clusterManagerID+"/onboard", "[1,2]", true)
			}, "body"},
		} {
			r := tc.do()
			if r.status != 400 || r.errorCode() != "invalid_request" || fieldOf(r) != tc.field {
				t.Errorf("%s: got %s; want 400 invalid_request on field %s", tc.name, r, tc.field)
			}
		}
		if list, err := hubOCM.ClusterV1().ManagedClusters().List(ctx, metav1.ListOptions{}); err != nil || len(list.Items) != 0 {
			t.Errorf("bad input left ManagedClusters behind: %v %v", list, err)
		}
	})

	// UntrustedKubeconfig: an operator's kubeconfig in a request is data. Its exec plugin would create a
	// marker file as the server's user and its tokenFile would send a host
	// file to the cluster; both are refused with a 400 naming the field,
	// before anything in them runs or is read.
	t.Run("UntrustedKubeconfig", func(t *testing.T) {
		r := s.api("POST", "/api/plugins/tokens", map[string]any{"name": "cm-operator", "role": "operator"})
		want(t, "operator token", r, 201, "")
		op := *s
		op.t, op.token = t, r.body["secret"].(string)

		marker := filepath.Join(t.TempDir(), "exec-ran")
		execKC := hostileKubeconfig(wec, fmt.Sprintf(`exec:
      apiVersion: client.authentication.k8s.io/v1
      command: sh
      args: ["-c", "touch %s"]
      interactiveMode: Never`, marker))
		fileKC := hostileKubeconfig(wec, "tokenFile: /etc/hostname")
		execField, fileField := `kubeconfig.users["intruder"].user.exec`, `kubeconfig.users["intruder"].user.tokenFile`
		for _, tc := range []struct {
			name  string
			do    func() reply
			field string
		}{
			{"validate, exec", func() reply { return op.cm("POST", "/validate", map[string]any{"kubeconfig": execKC}) }, execField},
			{"validate, exec, multipart", func() reply { return op.cmMultipart("/validate", nil, []byte(execKC)) }, execField},
			{"onboard, exec", func() reply {
				return op.cm("POST", "/onboard", map[string]any{"clusterName": "intruder", "kubeconfig": execKC})
			}, execField},
			{"detach, exec", func() reply {
				return op.cm("POST", "/detach", map[string]any{"clusterName": "intruder", "removeAgent": true, "kubeconfig": execKC})
			}, execField},
			{"validate, tokenFile", func() reply { return op.cm("POST", "/validate", map[string]any{"kubeconfig": fileKC}) }, fileField},
			{"onboard, tokenFile, multipart", func() reply {
				return op.cmMultipart("/onboard", map[string]string{"name": "intruder"}, []byte(fileKC))
			}, fileField},
		} {
			r := tc.do()
			if r.status != 400 || r.errorCode() != "invalid_request" || fieldOf(r) != tc.field || !strings.Contains(r.raw, "refused") {
				t.Errorf("%s: got %s; want 400 invalid_request on field %s", tc.name, r, tc.field)
			}
		}
		if hostname := strings.TrimSpace(string(readFile(t, "/etc/hostname"))); hostname != "" && strings.Contains(s.logs.String(), hostname) {
			t.Errorf("the host file named by tokenFile reached the server log")
		}

		// Earlier versions read a kubeconfig file named in the plugin's
		// configuration; the host holds the credentials now, and the option
		// is gone: the host refuses it as a key the manifest does not declare.
		r = op.api("PUT", "/api/plugins/"+clusterManagerID+"/configuration", map[string]any{"kubeconfig": "/root/.kube/config"})
		if r.status != 400 || r.errorCode() != "invalid_configuration" || !strings.Contains(r.raw, "configuration.kubeconfig") {
			t.Errorf("configure a kubeconfig: got %s; want 400 naming configuration.kubeconfig", r)
		}

		time.Sleep(200 * time.Millisecond) // an exec plugin, had one started, would have touched the marker by now
		if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("the kubeconfig's exec plugin ran on the host: %v", err)
		}
	})

	t.Run("Validate", func(t *testing.T) {
		r := s.cm("POST", "/validate", map[string]any{"kubeconfig": string(wecKubeconfig)})
		if r.status != 200 || r.body["reachable"] != true || r.body["version"] == "" || r.body["server"] != wec.Host {
			t.Errorf("reachable: %s", r)
		}
		r = s.cmMultipart("/validate", map[string]string{"context": "wec1"}, readFile(t, hostKubeconfig))
		if r.status != 200 || r.body["reachable"] != true {
			t.Errorf("reachable, multipart: %s", r)
		}
		// The hub, by the host's context: its address is the host's.
		r = s.cm("POST", "/validate", map[string]any{"context": "its1"})
		if r.status != 200 || r.body["reachable"] != true || r.body["version"] == "" || r.body["server"] != "" || r.body["nodes"] != float64(0) {
			t.Errorf("reachable, host context: %s", r)
		}
		r = s.cm("POST", "/validate", map[string]any{"kubeconfig": string(unreachableKubeconfig(t))})
		if errText, _ := r.body["error"].(string); r.status != 200 || r.body["reachable"] != false || !strings.Contains(errText, "connection refused") {
			t.Errorf("unreachable: %s", r)
		}
	})

	var opID string
	t.Run("Onboard", func(t *testing.T) {
		r := s.cmMultipart("/onboard", map[string]string{"name": "cluster1", "labels": `{"env": "test", "location-group": "edge"}`}, wecKubeconfig)
		// location-group is selected on by BindingPolicy edge-apps.
		if r.status != 400 || fieldOf(r) != "labels.location-group" || !strings.Contains(r.raw, "edge-apps") {
			t.Fatalf("onboard with a BindingPolicy's label: %s", r)
		}
		r = s.cmMultipart("/onboard", map[string]string{"name": "cluster1", "labels": `{"env": "test"}`}, wecKubeconfig)
		want(t, "onboard", r, 202, "")
		op := opOf(t, r)
		opID = op["id"].(string)
		if r.body["started"] != true || op["cluster"] != "cluster1" || op["kind"] != "onboard" {
			t.Fatalf("onboard: %s", r)
		}
		// The agent holds registration back, so the operation is running:
		// a second onboard of the cluster returns it.
		r = s.cm("POST", "/onboard", map[string]any{"clusterName": "cluster1", "kubeconfig": string(wecKubeconfig)})
		want(t, "second onboard", r, 202, "")
		if again := opOf(t, r); again["id"] != opID || r.body["started"] != false {
			t.Fatalf("second onboard started another operation: %s", r)
		}
		r = s.cm("POST", "/detach", map[string]any{"clusterName": "cluster1"})
		want(t, "detach while onboarding", r, 409, "operation_running")
		close(agent.release)

		// Accepted and labelled, but not done until the conditions are True.
		deadline := time.Now().Add(time.Minute)
		for {
			r := s.cm("GET", "/operations/"+opID, nil)
			steps, _ := r.body["steps"].([]any)
			if n := len(steps); n > 0 && steps[n-1].(map[string]any)["name"] == "wait-available" {
				if r.body["state"] != "running" {
					t.Fatalf("operation waiting for the conditions is %v: %s", r.body["state"], r)
				}
				break
			}
			// Queued until its goroutine starts: in the sandbox, at the
			// guest's next background turn.
			if st := r.body["state"]; (st != "queued" && st != "running") || time.Now().After(deadline) {
				t.Fatalf("operation never reached wait-available: %s", r)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if mc, err := hubOCM.ClusterV1().ManagedClusters().Get(ctx, "cluster1", metav1.GetOptions{}); err != nil || !mc.Spec.HubAcceptsClient {
			t.Fatalf("not accepted while waiting for the conditions: %v", err)
		}
		time.Sleep(300 * time.Millisecond) // a few of the plugin's polls
		if r := s.cm("GET", "/operations/"+opID, nil); r.body["state"] != "running" {
			t.Fatalf("operation ended before the conditions were True: %s", r)
		}
		close(agent.report)

		done := s.waitOperation(opID)
		if done["state"] != "succeeded" {
			t.Fatalf("onboarding failed: %v", done)
		}
		var steps []string
		for _, st := range done["steps"].([]any) {
			st := st.(map[string]any)
			steps = append(steps, fmt.Sprint(st["name"], "=", st["state"]))
		}
		if got, wantSteps := strings.Join(steps, " "), "connect=done token=done install-agent=done approve-csr=done accept=done wait-available=done"; got != wantSteps {
			t.Errorf("steps = %s; want %s", got, wantSteps)
		}
		if err := <-agent.done; err != nil {
			t.Fatalf("agent: %v", err)
		}

		// The CSR was approved through the approval subresource.
		csrs, err := hubKube.CertificatesV1().CertificateSigningRequests().List(ctx, metav1.ListOptions{LabelSelector: "open-cluster-management.io/cluster-name=cluster1"})
		if err != nil || len(csrs.Items) != 1 {
			t.Fatalf("CSRs: %v %v", csrs, err)
		}
		csr := csrs.Items[0]
		approved, viaSubresource := false, false
		for _, c := range csr.Status.Conditions {
			approved = approved || (c.Type == certv1.CertificateApproved && c.Status == corev1.ConditionTrue && c.Reason == "KubeStellarClusterManagerApproved")
		}
		for _, mf := range csr.ManagedFields {
			viaSubresource = viaSubresource || (mf.Manager == clusterManagerID && mf.Subresource == "approval")
		}
		if !approved || !viaSubresource {
			t.Errorf("CSR approved=%v via the approval subresource=%v: %+v", approved, viaSubresource, csr.Status.Conditions)
		}
		mc, err := hubOCM.ClusterV1().ManagedClusters().Get(ctx, "cluster1", metav1.GetOptions{})
		if err != nil || !mc.Spec.HubAcceptsClient || mc.Labels["name"] != "cluster1" || mc.Labels["env"] != "test" {
			t.Fatalf("ManagedCluster: %+v %v", mc, err)
		}
		// The agent is installed on the WEC: the Klusterlet names the cluster.
		kl, err := wecDyn.Resource(schema.GroupVersionResource{Group: "operator.open-cluster-management.io", Version: "v1", Resource: "klusterlets"}).Get(ctx, "klusterlet", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("Klusterlet: %v", err)
		}
		if name, _, _ := unstructured.NestedString(kl.Object, "spec", "clusterName"); name != "cluster1" {
			t.Errorf("Klusterlet clusterName = %q", name)
		}
		// Its progress reached the event stream; only native plugins get a
		// Publisher (sdk.EventSource), a sandboxed one's progress is read
		// from /operations.
		kinds := map[string]bool{}
		for _, e := range s.events(clusterManagerID) {
			if d, _ := e["details"].(map[string]any); e["type"] == "plugin" && d["operation"] == opID {
				kinds[fmt.Sprint(d["kind"], ":", d["step"], ":", d["step_state"])] = true
			}
		}
		for _, k := range []string{"operation.step:approve-csr:done", "operation.step:wait-available:done", "operation.finished:<nil>:<nil>"} {
			if !sandboxed && !kinds[k] {
				t.Errorf("no %s event; have %v", k, kinds)
			}
		}
		want(t, "onboard an onboarded cluster", s.cm("POST", "/onboard", map[string]any{"clusterName": "cluster1", "kubeconfig": string(wecKubeconfig)}), 409, "already_onboarded")
	})

	t.Run("Status", func(t *testing.T) {
		r := s.cm("GET", "/status", nil)
		want(t, "status", r, 200, "")
		list, _ := r.body["clusters"].([]any)
		if len(list) != 1 {
			t.Fatalf("status: %s", r)
		}
		c := list[0].(map[string]any)
		if c["name"] != "cluster1" || c["state"] != "available" || c["accepted"] != true || c["kubernetesVersion"] != "v1.37.2" {
			t.Errorf("status of cluster1: %v", c)
		}
		r = s.cm("GET", "/status/cluster1", nil)
		if r.status != 200 || r.body["state"] != "available" || r.body["labels"].(map[string]any)["env"] != "test" {
			t.Errorf("status/cluster1: %s", r)
		}
		// Status is read from the hub, not remembered: a change made there
		// shows at once.
		mc, _ := hubOCM.ClusterV1().ManagedClusters().Get(ctx, "cluster1", metav1.GetOptions{})
		for i := range mc.Status.Conditions {
			if mc.Status.Conditions[i].Type == clusterv1.ManagedClusterConditionAvailable {
				mc.Status.Conditions[i].Status = metav1.ConditionFalse
			}
		}
		if _, err := hubOCM.ClusterV1().ManagedClusters().UpdateStatus(ctx, mc, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		if r = s.cm("GET", "/status/cluster1", nil); r.body["state"] != "unavailable" {
			t.Errorf("after the hub marked it unavailable: %s", r)
		}
		want(t, "status of a missing cluster", s.cm("GET", "/status/nowhere", nil), 404, "cluster_not_found")
	})

	t.Run("Labels", func(t *testing.T) {
		labels := func() map[string]string {
			mc, err := hubOCM.ClusterV1().ManagedClusters().Get(ctx, "cluster1", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			return mc.Labels
		}
		r := s.cm("PATCH", "/labels/cluster1", map[string]any{"labels": map[string]string{"env": "prod", "team": "a"}})
		want(t, "add and change", r, 200, "")
		if l := labels(); l["env"] != "prod" || l["team"] != "a" || l["name"] != "cluster1" {
			t.Errorf("labels after add and change: %v", l)
		}
		r = s.cm("PATCH", "/labels/cluster1", map[string]any{"labels": map[string]string{"team": ""}})
		want(t, "remove", r, 200, "")
		if l := labels(); l["team"] != "" || l["env"] != "prod" {
			t.Errorf("labels after remove: %v", l)
		}
		for key, because := range map[string]string{
			"open-cluster-management.io/region": "prefix",
			"name":                              "cluster's name",
			"owner":                             "protected_label_keys",
			"zone":                              "BindingPolicy edge-apps",
		} {
			r = s.cm("PATCH", "/labels/cluster1", map[string]any{"labels": map[string]string{key: "x", "env": "dev"}})
			if r.status != 400 || fieldOf(r) != "labels."+key || !strings.Contains(r.raw, because) {
				t.Errorf("protected %s: got %s; want 400 on labels.%s saying %q", key, r, key, because)
			}
		}
		if l := labels(); l["env"] != "prod" {
			t.Errorf("a refused change changed labels: %v", l)
		}
		r = s.cm("PATCH", "/labels/cluster1", map[string]any{"labels": map[string]string{"env": "stage"}, "clusters": []string{"ghost"}})
		want(t, "partial", r, 207, "")
		results, _ := r.body["results"].([]any)
		byName := map[string]map[string]any{}
		for _, res := range results {
			res := res.(map[string]any)
			byName[res["cluster"].(string)] = res
		}
		if byName["cluster1"]["ok"] != true || byName["ghost"]["ok"] != false || !strings.Contains(fmt.Sprint(byName["ghost"]["error"]), "no such cluster") {
			t.Errorf("partial results: %s", r)
		}
		if l := labels(); l["env"] != "stage" {
			t.Errorf("the cluster that exists was not labelled: %v", l)
		}
		want(t, "labels of a missing cluster", s.cm("PATCH", "/labels/ghost", map[string]any{"labels": map[string]string{"env": "x"}}), 404, "")
	})

	// Forbidden: a WDS context the host has but never granted to the plugin.
	// The plugin's client-go gets the API server's Forbidden, which the
	// plugin reports; the host audits the refusal.
	t.Run("Forbidden", func(t *testing.T) {
		want(t, "configure wds_context wec1", s.api("PUT", "/api/plugins/"+clusterManagerID+"/configuration", map[string]any{"wds_context": "wec1"}), 200, "")
		r := s.cm("PATCH", "/labels/cluster1", map[string]any{"labels": map[string]string{"env": "x"}})
		if r.status != 502 || !strings.Contains(r.raw, "forbidden") || !strings.Contains(r.raw, "binding policies unreadable") {
			t.Errorf("labels with an ungranted WDS: %s; want 502 saying the BindingPolicies are forbidden", r)
		}
		want(t, "configure wds_context its1", s.api("PUT", "/api/plugins/"+clusterManagerID+"/configuration", map[string]any{"wds_context": "its1"}), 200, "")
		if mc, err := hubOCM.ClusterV1().ManagedClusters().Get(ctx, "cluster1", metav1.GetOptions{}); err != nil || mc.Labels["env"] != "stage" {
			t.Errorf("labels changed though their check was forbidden: %v %v", mc.Labels, err)
		}
		r = s.api("GET", "/api/plugins/audit?actor=plugin:"+clusterManagerID, nil)
		entries, _ := r.body["entries"].([]any)
		var seen []string
		for _, e := range entries {
			e := e.(map[string]any)
			d, _ := e["details"].(map[string]any)
			if e["action"] != "kube-denied" || e["target"] != clusterManagerID {
				t.Errorf("audit entry: %v", e)
			}
			seen = append(seen, fmt.Sprintf("%v %v %v/%v", d["context"], d["verb"], d["group"], d["resource"]))
		}
		// Everything else the test did, onboarding included, was within the
		// grant: this is the only refusal.
		if len(seen) != 1 || seen[0] != "wec1 list control.kubestellar.io/bindingpolicies" {
			t.Errorf("kube-denied audit entries %v; want the one BindingPolicy list in wec1 (%s)", seen, r)
		}
	})

	t.Run("Detach", func(t *testing.T) {
		r := s.cm("POST", "/detach", map[string]any{"clusterName": "cluster1", "removeAgent": true, "kubeconfig": string(wecKubeconfig)})
		want(t, "detach", r, 202, "")
		done := s.waitOperation(opOf(t, r)["id"].(string))
		if done["state"] != "succeeded" {
			t.Fatalf("detach failed: %v", done)
		}
		if _, err := hubOCM.ClusterV1().ManagedClusters().Get(ctx, "cluster1", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("ManagedCluster still there: %v", err)
		}
		kl := schema.GroupVersionResource{Group: "operator.open-cluster-management.io", Version: "v1", Resource: "klusterlets"}
		if _, err := wecDyn.Resource(kl).Get(ctx, "klusterlet", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("Klusterlet still on the WEC: %v", err)
		}
		if _, err := kubernetes.NewForConfigOrDie(wec).CoreV1().Secrets("open-cluster-management-agent").Get(ctx, "bootstrap-hub-kubeconfig", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("bootstrap secret still on the WEC: %v", err)
		}
		want(t, "detach again", s.cm("POST", "/detach", map[string]any{"clusterName": "cluster1"}), 404, "cluster_not_found")
		if r := s.cm("GET", "/status", nil); r.body["count"] != float64(0) {
			t.Errorf("status after detach: %s", r)
		}
	})
}
