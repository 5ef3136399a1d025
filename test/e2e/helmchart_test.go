package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v4/pkg/chart/common"
	chartutil "helm.sh/helm/v4/pkg/chart/common/util"
	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/lint"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	certv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	yamlutil "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
)

// chartDir is the Helm chart, from this module's folder.
var chartDir = filepath.Join("..", "..", "deploy", "helm", "ksplugins")

const (
	chartRelease   = "kp"
	chartFullname  = "kp-ksplugins"
	chartNamespace = "ksplugins"
)

// chartCase is one set of values and what its rendering must hold.
type chartCase struct {
	name   string
	values map[string]any
	check  func(t *testing.T, objs chartObjects)
}

// TestHelmChart renders deploy/helm/ksplugins with Helm's own library for
// several value sets, checks what the server depends on in the objects
// (probes, the Secret behind the database URL, replicas, volumes, RBAC),
// checks the combinations the chart must refuse, and sends every rendered
// object to a real kube-apiserver as a server-side dry run, so that the
// chart is valid for the API server and not only as YAML. It then installs
// the ServiceAccount and RBAC for real and, as that ServiceAccount, does
// on the API server what the cluster-manager plugin does on its hub.
func TestHelmChart(t *testing.T) {
	chrt, err := loader.LoadDir(chartDir)
	if err != nil {
		t.Fatalf("load the chart: %v", err)
	}

	cases := []chartCase{
		{name: "defaults", values: nil, check: checkDefaults},
		{
			name: "replicas-with-database-secret",
			values: map[string]any{
				"replicaCount": 3,
				"database":     map[string]any{"existingSecret": "ksplugins-db", "existingSecretKey": "url"},
				"persistence":  map[string]any{"enabled": false},
			},
			check: checkReplicasOnDatabase,
		},
		{
			name: "database-url-value",
			values: map[string]any{
				"database":    map[string]any{"url": "postgres://ksplugins:secret@db:5432/ksplugins?sslmode=require"},
				"adminToken":  map[string]any{"existingSecret": "ksplugins-admin", "existingSecretKey": "token"},
				"persistence": map[string]any{"enabled": false},
			},
			check: checkDatabaseURLValue,
		},
		{
			name: "persistence-off",
			values: map[string]any{
				"persistence": map[string]any{"enabled": false, "emptyDirSizeLimit": "5Gi"},
			},
			check: checkPersistenceOff,
		},
		{
			name: "existing-claim-and-kubeconfig",
			values: map[string]any{
				"persistence":    map[string]any{"existingClaim": "ksplugins-state"},
				"kubernetes":     map[string]any{"kubeconfigSecret": "hub-kubeconfig", "inClusterContext": "in-cluster"},
				"rbac":           map[string]any{"clusterManager": false},
				"serviceAccount": map[string]any{"create": false, "name": "default"},
				"config":         map[string]any{"goProxy": "https://goproxy.example", "securityMode": "strict"},
			},
			check: checkExistingClaimAndKubeconfig,
		},
	}
	// helm lint's rules: Chart.yaml, values against the schema, every
	// template rendered and parsed, for each value set.
	for _, c := range cases {
		t.Run("lint/"+c.name, func(t *testing.T) {
			res := lint.RunAll(chartDir, c.values, chartNamespace)
			for _, m := range res.Messages {
				if m.Severity >= support.WarningSev {
					t.Errorf("lint: %v", m)
				}
			}
		})
	}

	// Every case is rendered here, not in its subtest, so that the API
	// server's subtests have the objects however -run selects.
	offline := engine.Engine{Strict: true}
	rendered := make(map[string]chartObjects, len(cases))
	renderErrs := make(map[string]error, len(cases))
	for _, c := range cases {
		rendered[c.name], renderErrs[c.name] = renderChart(t.Context(), offline, chrt, c.values, false)
	}
	for _, c := range cases {
		t.Run("render/"+c.name, func(t *testing.T) {
			if err := renderErrs[c.name]; err != nil {
				t.Fatalf("render: %v", err)
			}
			c.check(t, rendered[c.name])
		})
	}

	t.Run("refused", func(t *testing.T) {
		for _, c := range []struct {
			name   string
			values map[string]any
			want   string
		}{
			{"replicas-without-database", map[string]any{"replicaCount": 2},
				"replicaCount is 2 but no database is configured"},
			{"replicas-sharing-a-claim", map[string]any{"replicaCount": 3, "database": map[string]any{"existingSecret": "db"}},
				"replicaCount is 3 with persistence.enabled"},
			{"not-postgres", map[string]any{"database": map[string]any{"url": "mysql://db/ksplugins"}},
				"/database/url"},
			{"unknown-security-mode", map[string]any{"config": map[string]any{"securityMode": "lax"}},
				"/config/securityMode"},
			{"misspelled-value", map[string]any{"replicas": 2},
				"replicas"},
			{"no-service-account", map[string]any{"serviceAccount": map[string]any{"create": false}},
				"serviceAccount.name must name an existing ServiceAccount"},
		} {
			t.Run(c.name, func(t *testing.T) {
				_, err := renderChart(t.Context(), offline, chrt, c.values, false)
				if err == nil {
					t.Fatalf("rendered; want an error mentioning %q", c.want)
				}
				if !strings.Contains(err.Error(), c.want) {
					t.Fatalf("error %q does not mention %q", err, c.want)
				}
			})
		}
	})

	t.Run("kube-apiserver", func(t *testing.T) {
		cfg := startKube(t, kubeAssets(t))
		ctx := t.Context()
		kc := kubernetes.NewForConfigOrDie(cfg)
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: chartNamespace}}
		if _, err := kc.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create namespace: %v", err)
		}
		applier := newChartApplier(t, cfg)
		for _, c := range cases {
			t.Run("dry-run/"+c.name, func(t *testing.T) {
				if err := renderErrs[c.name]; err != nil {
					t.Fatalf("render: %v", err)
				}
				for _, o := range rendered[c.name] {
					if err := applier.apply(ctx, o, true); err != nil {
						t.Errorf("%s: %v", objectRef(o), err)
					}
				}
			})
		}
		t.Run("cluster-manager-rbac", func(t *testing.T) {
			if err := renderErrs["defaults"]; err != nil {
				t.Fatalf("render the defaults: %v", err)
			}
			checkClusterManagerAccess(t, cfg, applier, rendered["defaults"])
		})
		t.Run("admin-token-kept", func(t *testing.T) {
			// An upgrade renders against the cluster: the template's lookup
			// finds the Secret the install made and keeps its token, so that
			// clients keep working.
			if err := renderErrs["defaults"]; err != nil {
				t.Fatalf("render the defaults: %v", err)
			}
			installed := rendered["defaults"].find("Secret", chartFullname)
			if err := applier.apply(ctx, installed, false); err != nil {
				t.Fatalf("install the Secret: %v", err)
			}
			online := engine.New(cfg)
			online.Strict = true
			upgraded, err := renderChart(ctx, online, chrt, nil, true)
			if err != nil {
				t.Fatalf("render an upgrade: %v", err)
			}
			want := secretData(t, rendered["defaults"], chartFullname)["admin-token"]
			if got := secretData(t, upgraded, chartFullname)["admin-token"]; got != want {
				t.Errorf("the upgrade's admin token %q, want the installed %q", got, want)
			}
		})
	})
}

// renderChart renders the chart as `helm install kp --namespace ksplugins`
// (or, with upgrade, `helm upgrade`) would, values checked against
// values.schema.json, and decodes every object of the YAML files. The
// templates' lookup asks eng's cluster; an engine without one finds
// nothing, as `helm template` does.
func renderChart(ctx context.Context, eng engine.Engine, chrt *chartv2.Chart, values map[string]any, upgrade bool) (chartObjects, error) {
	opts := common.ReleaseOptions{Name: chartRelease, Namespace: chartNamespace, Revision: 1, IsInstall: !upgrade, IsUpgrade: upgrade}
	if upgrade {
		opts.Revision = 2
	}
	vals, err := chartutil.ToRenderValuesWithSchemaValidation(chrt, values, opts, common.DefaultCapabilities, false)
	if err != nil {
		return nil, fmt.Errorf("values: %w", err)
	}
	files, err := eng.RenderWithContext(ctx, chrt, vals)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(files))
	for name := range files {
		if strings.HasSuffix(name, ".yaml") {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	var objs chartObjects
	for _, name := range names {
		dec := yamlutil.NewYAMLOrJSONDecoder(strings.NewReader(files[name]), 4096)
		for {
			var m map[string]any
			if err := dec.Decode(&m); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				return nil, fmt.Errorf("decode %s: %w", name, err)
			}
			if len(m) == 0 {
				continue // a template that rendered nothing
			}
			objs = append(objs, &unstructured.Unstructured{Object: m})
		}
	}
	return objs, nil
}

// chartObjects are the objects one rendering made.
type chartObjects []*unstructured.Unstructured

// find returns the object of kind and name, or nil.
func (objs chartObjects) find(kind, name string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	return nil
}

// kinds lists "Kind/name" of every object, sorted, for comparisons.
func (objs chartObjects) kinds() []string {
	var out []string
	for _, o := range objs {
		out = append(out, o.GetKind()+"/"+o.GetName())
	}
	sort.Strings(out)
	return out
}

// typed decodes the object of kind and name into into, refusing fields
// the Go type does not have.
func (objs chartObjects) typed(t *testing.T, kind, name string, into any) {
	t.Helper()
	o := objs.find(kind, name)
	if o == nil {
		t.Fatalf("no %s %s; rendered %v", kind, name, objs.kinds())
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(o.Object, into, true); err != nil {
		t.Fatalf("%s %s: %v", kind, name, err)
	}
}

func (objs chartObjects) deployment(t *testing.T) (*appsv1.Deployment, *corev1.Container) {
	t.Helper()
	var d appsv1.Deployment
	objs.typed(t, "Deployment", chartFullname, &d)
	if n := len(d.Spec.Template.Spec.Containers); n != 1 {
		t.Fatalf("%d containers, want 1", n)
	}
	return &d, &d.Spec.Template.Spec.Containers[0]
}

func envOf(c *corev1.Container, name string) *corev1.EnvVar {
	for i := range c.Env {
		if c.Env[i].Name == name {
			return &c.Env[i]
		}
	}
	return nil
}

// wantSecretEnv checks that the container's env name comes from key of
// the Secret secret, and is not written in the pod spec.
func wantSecretEnv(t *testing.T, c *corev1.Container, name, secret, key string) {
	t.Helper()
	e := envOf(c, name)
	switch {
	case e == nil:
		t.Errorf("no %s in the container's environment", name)
	case e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil:
		t.Errorf("%s is not taken from a Secret: %+v", name, e)
	case e.ValueFrom.SecretKeyRef.Name != secret || e.ValueFrom.SecretKeyRef.Key != key:
		t.Errorf("%s from Secret %s key %s, want %s key %s", name, e.ValueFrom.SecretKeyRef.Name, e.ValueFrom.SecretKeyRef.Key, secret, key)
	}
}

func stateVolume(t *testing.T, d *appsv1.Deployment) corev1.Volume {
	t.Helper()
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.Name == "state" {
			return v
		}
	}
	t.Fatal("no state volume")
	return corev1.Volume{}
}

func secretData(t *testing.T, objs chartObjects, name string) map[string]string {
	t.Helper()
	var s corev1.Secret
	objs.typed(t, "Secret", name, &s)
	out := make(map[string]string, len(s.Data))
	for k, v := range s.Data {
		out[k] = string(v)
	}
	return out
}

func checkDefaults(t *testing.T, objs chartObjects) {
	want := []string{
		"ClusterRole/" + chartNamespace + "-" + chartFullname + "-cluster-manager",
		"ClusterRoleBinding/" + chartNamespace + "-" + chartFullname + "-cluster-manager",
		"Deployment/" + chartFullname,
		"PersistentVolumeClaim/" + chartFullname,
		"Role/" + chartNamespace + "-" + chartFullname + "-cluster-manager",
		"RoleBinding/" + chartNamespace + "-" + chartFullname + "-cluster-manager",
		"Secret/" + chartFullname,
		"Service/" + chartFullname,
		"ServiceAccount/" + chartFullname,
	}
	if got := objs.kinds(); !slices.Equal(got, want) {
		t.Errorf("objects\n got %v\nwant %v", got, want)
	}

	d, c := objs.deployment(t)
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 {
		t.Errorf("replicas %v, want 1", d.Spec.Replicas)
	}
	if d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		t.Errorf("strategy %s: one SQLite file wants Recreate", d.Spec.Strategy.Type)
	}
	for _, p := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{{"liveness", c.LivenessProbe, "/healthz"}, {"readiness", c.ReadinessProbe, "/readyz"}} {
		switch {
		case p.probe == nil || p.probe.HTTPGet == nil:
			t.Errorf("no HTTP %s probe", p.name)
		case p.probe.HTTPGet.Path != p.path || p.probe.HTTPGet.Port.String() != "http":
			t.Errorf("%s probe GET %s on port %s, want %s on http", p.name, p.probe.HTTPGet.Path, p.probe.HTTPGet.Port.String(), p.path)
		}
	}
	if len(c.Ports) != 1 || c.Ports[0].Name != "http" || c.Ports[0].ContainerPort != 4000 {
		t.Errorf("ports %+v, want http 4000", c.Ports)
	}
	if e := envOf(c, "KSPLUGINS_ADDR"); e == nil || e.Value != ":4000" {
		t.Errorf("KSPLUGINS_ADDR %+v, want :4000", e)
	}
	wantSecretEnv(t, c, "KSPLUGINS_TOKEN", chartFullname, "admin-token")
	if e := envOf(c, "KSPLUGINS_DATABASE_URL"); e != nil {
		t.Errorf("KSPLUGINS_DATABASE_URL set without a database: %+v", e)
	}
	if e := envOf(c, "KSPLUGINS_IN_CLUSTER_CONTEXT"); e == nil || e.Value != "its1" {
		t.Errorf("KSPLUGINS_IN_CLUSTER_CONTEXT %+v, want its1 (the cluster-manager's hub)", e)
	}
	if e := envOf(c, "KUBECONFIG"); e != nil {
		t.Errorf("KUBECONFIG set without a kubeconfig Secret: %+v", e)
	}
	// Every folder the server and the Go toolchain write is on a volume:
	// the root file system is read-only.
	for _, name := range []string{"KSPLUGINS_DATA_DIR", "PLUGIN_DIR", "PLUGIN_CACHE_DIR", "GOCACHE", "GOMODCACHE", "GOPATH"} {
		if e := envOf(c, name); e == nil || !strings.HasPrefix(e.Value, "/var/lib/ksplugins/") {
			t.Errorf("%s %+v, want a folder of the state volume", name, e)
		}
	}
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = m.Name
	}
	if mounts["/var/lib/ksplugins"] != "state" || mounts["/tmp"] != "tmp" {
		t.Errorf("mounts %v, want state on /var/lib/ksplugins and tmp on /tmp", mounts)
	}
	if v := stateVolume(t, d); v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ClaimName != chartFullname {
		t.Errorf("state volume %+v, want the claim %s", v.VolumeSource, chartFullname)
	}
	sc, psc := c.SecurityContext, d.Spec.Template.Spec.SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("container security context %+v: want a read-only root and no privilege escalation", sc)
	}
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		t.Errorf("pod security context %+v: want a non-root user", psc)
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() {
		t.Errorf("resource requests %v, want cpu and memory", c.Resources.Requests)
	}
	if got := d.Spec.Template.Spec.ServiceAccountName; got != chartFullname {
		t.Errorf("serviceAccountName %q, want %q", got, chartFullname)
	}

	data := secretData(t, objs, chartFullname)
	if len(data["admin-token"]) < 32 {
		t.Errorf("admin token %q: want a generated one of 32 characters or more", data["admin-token"])
	}
	if _, ok := data["database-url"]; ok {
		t.Error("the Secret holds a database URL none was given")
	}

	var pvc corev1.PersistentVolumeClaim
	objs.typed(t, "PersistentVolumeClaim", chartFullname, &pvc)
	if got := pvc.Spec.Resources.Requests.Storage().String(); got != "20Gi" {
		t.Errorf("claim of %s, want 20Gi", got)
	}

	var binding rbacv1.ClusterRoleBinding
	objs.typed(t, "ClusterRoleBinding", chartNamespace+"-"+chartFullname+"-cluster-manager", &binding)
	if len(binding.Subjects) != 1 || binding.Subjects[0].Kind != "ServiceAccount" || binding.Subjects[0].Name != chartFullname || binding.Subjects[0].Namespace != chartNamespace {
		t.Errorf("binding subjects %+v, want the release's ServiceAccount", binding.Subjects)
	}
}

func checkReplicasOnDatabase(t *testing.T, objs chartObjects) {
	d, c := objs.deployment(t)
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 3 {
		t.Errorf("replicas %v, want 3", d.Spec.Replicas)
	}
	if d.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType || d.Spec.Strategy.RollingUpdate == nil ||
		d.Spec.Strategy.RollingUpdate.MaxUnavailable.IntValue() != 0 {
		t.Errorf("strategy %+v: replicas on PostgreSQL roll one at a time, none unavailable", d.Spec.Strategy)
	}
	wantSecretEnv(t, c, "KSPLUGINS_DATABASE_URL", "ksplugins-db", "url")
	wantSecretEnv(t, c, "KSPLUGINS_TOKEN", chartFullname, "admin-token")
	// A stopping replica drains for longer than the readiness probe's
	// period, and drain plus grace fit in the pod's termination period.
	delay, errDelay := time.ParseDuration(envOf(c, "KSPLUGINS_SHUTDOWN_DELAY").Value)
	grace, errGrace := time.ParseDuration(envOf(c, "KSPLUGINS_SHUTDOWN_GRACE").Value)
	period := time.Duration(c.ReadinessProbe.PeriodSeconds) * time.Second
	termination := time.Duration(*d.Spec.Template.Spec.TerminationGracePeriodSeconds) * time.Second
	if errDelay != nil || errGrace != nil || delay <= period || delay+grace >= termination {
		t.Errorf("shutdown delay %v and grace %v (%v, %v): want a delay over the readiness period %v, and both within the termination period %v",
			delay, grace, errDelay, errGrace, period, termination)
	}
	if v := stateVolume(t, d); v.EmptyDir == nil {
		t.Errorf("state volume %+v, want an emptyDir per replica", v.VolumeSource)
	}
	if o := objs.find("PersistentVolumeClaim", chartFullname); o != nil {
		t.Error("a claim was made with persistence off")
	}
	if data := secretData(t, objs, chartFullname); data["database-url"] != "" {
		t.Errorf("the chart's Secret copies the database URL of an existing Secret: %v", data)
	}
}

func checkDatabaseURLValue(t *testing.T, objs chartObjects) {
	_, c := objs.deployment(t)
	wantSecretEnv(t, c, "KSPLUGINS_DATABASE_URL", chartFullname, "database-url")
	wantSecretEnv(t, c, "KSPLUGINS_TOKEN", "ksplugins-admin", "token")
	data := secretData(t, objs, chartFullname)
	if got, want := data["database-url"], "postgres://ksplugins:secret@db:5432/ksplugins?sslmode=require"; got != want {
		t.Errorf("database-url %q, want %q", got, want)
	}
	if _, ok := data["admin-token"]; ok {
		t.Error("a token was generated although adminToken.existingSecret is set")
	}
}

func checkPersistenceOff(t *testing.T, objs chartObjects) {
	d, _ := objs.deployment(t)
	v := stateVolume(t, d)
	if v.EmptyDir == nil || v.EmptyDir.SizeLimit == nil || v.EmptyDir.SizeLimit.String() != "5Gi" {
		t.Errorf("state volume %+v, want an emptyDir of 5Gi", v.VolumeSource)
	}
	if o := objs.find("PersistentVolumeClaim", chartFullname); o != nil {
		t.Error("a claim was made with persistence off")
	}
	if d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		t.Errorf("strategy %s, want Recreate on SQLite", d.Spec.Strategy.Type)
	}
}

func checkExistingClaimAndKubeconfig(t *testing.T, objs chartObjects) {
	d, c := objs.deployment(t)
	if v := stateVolume(t, d); v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ClaimName != "ksplugins-state" {
		t.Errorf("state volume %+v, want the claim ksplugins-state", v.VolumeSource)
	}
	for _, kind := range []string{"PersistentVolumeClaim", "ServiceAccount", "ClusterRole", "ClusterRoleBinding"} {
		for _, o := range objs {
			if o.GetKind() == kind {
				t.Errorf("%s rendered although it is turned off", objectRef(o))
			}
		}
	}
	if got := d.Spec.Template.Spec.ServiceAccountName; got != "default" {
		t.Errorf("serviceAccountName %q, want default", got)
	}
	var mounted bool
	for _, m := range c.VolumeMounts {
		mounted = mounted || (m.Name == "kubeconfig" && m.ReadOnly)
	}
	e := envOf(c, "KUBECONFIG")
	if !mounted || e == nil || e.Value != "/etc/ksplugins/kubeconfig/kubeconfig" {
		t.Errorf("kubeconfig mounted %v, KUBECONFIG %+v", mounted, e)
	}
	for name, want := range map[string]string{"GOPROXY": "https://goproxy.example", "PLUGIN_SECURITY_MODE": "strict", "KSPLUGINS_IN_CLUSTER_CONTEXT": "in-cluster"} {
		if e := envOf(c, name); e == nil || e.Value != want {
			t.Errorf("%s %+v, want %q", name, e, want)
		}
	}
}

func objectRef(o *unstructured.Unstructured) string {
	if ns := o.GetNamespace(); ns != "" {
		return o.GetKind() + " " + ns + "/" + o.GetName()
	}
	return o.GetKind() + " " + o.GetName()
}

// chartApplier applies rendered objects as Helm would place them: a
// namespaced object without a namespace goes to the release's.
type chartApplier struct {
	dyn    dynamic.Interface
	mapper *restmapper.DeferredDiscoveryRESTMapper
}

func newChartApplier(t *testing.T, cfg *rest.Config) *chartApplier {
	t.Helper()
	kc, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &chartApplier{
		dyn:    dynamic.NewForConfigOrDie(cfg),
		mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(kc.Discovery())),
	}
}

// apply sends o with server-side apply; dryRun asks the API server to
// validate and admit it (schema, defaults, field ownership, RBAC's
// escalation check) without storing it.
func (a *chartApplier) apply(ctx context.Context, o *unstructured.Unstructured, dryRun bool) error {
	gvk := o.GroupVersionKind()
	m, err := a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return fmt.Errorf("map %s: %w", gvk, err)
	}
	o = o.DeepCopy()
	var ri dynamic.ResourceInterface = a.dyn.Resource(m.Resource)
	if m.Scope.Name() == "namespace" {
		if o.GetNamespace() == "" {
			o.SetNamespace(chartNamespace)
		}
		ri = a.dyn.Resource(m.Resource).Namespace(o.GetNamespace())
	}
	opts := metav1.ApplyOptions{FieldManager: "helm-chart-test", Force: true}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	_, err = ri.Apply(ctx, o.GetName(), o, opts)
	return err
}

// checkClusterManagerAccess installs the chart's ServiceAccount and RBAC
// for real and, as the ServiceAccount, does what the cluster-manager
// plugin does on its hub (docs/cluster-manager.md, "Its grant", the hub's
// part): the token step's applies and TokenRequest, a CSR's approval; and
// asks the API server about the rest. It also checks that the grant is
// not wider than that where it matters: no Secrets, no other names.
func checkClusterManagerAccess(t *testing.T, admin *rest.Config, applier *chartApplier, objs chartObjects) {
	ctx := t.Context()
	for _, o := range objs {
		switch o.GetKind() {
		case "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding":
			if err := applier.apply(ctx, o, false); err != nil {
				t.Fatalf("install %s: %v", objectRef(o), err)
			}
		}
	}
	user := "system:serviceaccount:" + chartNamespace + ":" + chartFullname
	groups := []string{"system:serviceaccounts", "system:serviceaccounts:" + chartNamespace, "system:authenticated"}
	as := rest.CopyConfig(admin)
	as.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: groups}
	sa := &chartApplier{dyn: dynamic.NewForConfigOrDie(as), mapper: applier.mapper}
	saKube := kubernetes.NewForConfigOrDie(as)
	adminKube := kubernetes.NewForConfigOrDie(admin)

	// token: what the plugin applies on the hub, applied as the
	// ServiceAccount. The ClusterRole and binding pass RBAC's escalation
	// check only if the ServiceAccount holds what they grant.
	bootstrap := []map[string]any{
		{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": "open-cluster-management"}},
		{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": map[string]any{"name": "cluster-bootstrap", "namespace": "open-cluster-management"}},
		{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": map[string]any{"name": "open-cluster-management:bootstrap"},
			"rules": []any{
				map[string]any{"apiGroups": []any{"certificates.k8s.io"}, "resources": []any{"certificatesigningrequests"}, "verbs": []any{"create", "get", "list", "watch"}},
				map[string]any{"apiGroups": []any{"cluster.open-cluster-management.io"}, "resources": []any{"managedclusters"}, "verbs": []any{"get", "create"}},
			}},
		{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": map[string]any{"name": "open-cluster-management:bootstrap"},
			"roleRef":  map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "open-cluster-management:bootstrap"},
			"subjects": []any{map[string]any{"kind": "ServiceAccount", "name": "cluster-bootstrap", "namespace": "open-cluster-management"}}},
	}
	for _, m := range bootstrap {
		o := &unstructured.Unstructured{Object: m}
		if err := sa.apply(ctx, o, false); err != nil {
			t.Errorf("as the ServiceAccount, apply %s: %v", objectRef(o), err)
		}
		// A second apply is a patch of an existing object: a retried step.
		if err := sa.apply(ctx, o, false); err != nil {
			t.Errorf("as the ServiceAccount, apply %s again: %v", objectRef(o), err)
		}
	}
	ttl := int64(3600)
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &ttl}}
	if _, err := saKube.CoreV1().ServiceAccounts("open-cluster-management").CreateToken(ctx, "cluster-bootstrap", tr, metav1.CreateOptions{}); err != nil {
		t.Errorf("as the ServiceAccount, request the bootstrap token: %v", err)
	}

	// approve-csr: an agent's CSR, approved through the approval
	// subresource; the API server also asks for approve on its signer.
	csr, err := adminKube.CertificatesV1().CertificateSigningRequests().Create(ctx, agentCSR(t), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create a CSR: %v", err)
	}
	csr.Status.Conditions = append(csr.Status.Conditions, certv1.CertificateSigningRequestCondition{
		Type: certv1.CertificateApproved, Status: corev1.ConditionTrue, Reason: "KubestellarClusterManagerApproval", Message: "chart test",
	})
	if _, err := saKube.CertificatesV1().CertificateSigningRequests().UpdateApproval(ctx, csr.Name, csr, metav1.UpdateOptions{}); err != nil {
		t.Errorf("as the ServiceAccount, approve a CSR: %v", err)
	}

	// The rest, asked of the authorizer (the ManagedCluster CRD is not
	// installed on this API server, and a detach is no business of a test
	// of the chart).
	for _, c := range []struct {
		attr    authorizationv1.ResourceAttributes
		allowed bool
	}{
		{authorizationv1.ResourceAttributes{Group: "cluster.open-cluster-management.io", Resource: "managedclusters", Verb: "list"}, true},
		{authorizationv1.ResourceAttributes{Group: "cluster.open-cluster-management.io", Resource: "managedclusters", Verb: "get", Name: "wec1"}, true},
		{authorizationv1.ResourceAttributes{Group: "cluster.open-cluster-management.io", Resource: "managedclusters", Verb: "patch", Name: "wec1"}, true},
		{authorizationv1.ResourceAttributes{Group: "cluster.open-cluster-management.io", Resource: "managedclusters", Verb: "delete", Name: "wec1"}, true},
		{authorizationv1.ResourceAttributes{Group: "certificates.k8s.io", Resource: "certificatesigningrequests", Verb: "list"}, true},
		{authorizationv1.ResourceAttributes{Resource: "configmaps", Verb: "get", Namespace: "kube-public", Name: "kube-root-ca.crt"}, true},
		// Not wider than that:
		{authorizationv1.ResourceAttributes{Resource: "configmaps", Verb: "get", Namespace: "kube-system", Name: "kube-root-ca.crt"}, false},
		{authorizationv1.ResourceAttributes{Resource: "secrets", Verb: "list", Namespace: "open-cluster-management"}, false},
		{authorizationv1.ResourceAttributes{Resource: "serviceaccounts", Verb: "patch", Namespace: "kube-system", Name: "default"}, false},
		{authorizationv1.ResourceAttributes{Resource: "serviceaccounts", Subresource: "token", Verb: "create", Namespace: "kube-system", Name: "default"}, false},
		{authorizationv1.ResourceAttributes{Resource: "namespaces", Verb: "delete", Name: "open-cluster-management"}, false},
		{authorizationv1.ResourceAttributes{Group: "rbac.authorization.k8s.io", Resource: "clusterroles", Verb: "patch", Name: "cluster-admin"}, false},
		{authorizationv1.ResourceAttributes{Group: "rbac.authorization.k8s.io", Resource: "clusterroles", Verb: "escalate", Name: "open-cluster-management:bootstrap"}, false},
		{authorizationv1.ResourceAttributes{Group: "certificates.k8s.io", Resource: "signers", Verb: "approve", Name: "kubernetes.io/kubelet-serving"}, false},
	} {
		attr := c.attr
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{User: user, Groups: groups, ResourceAttributes: &attr}}
		res, err := adminKube.AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("review %+v: %v", attr, err)
		}
		if res.Status.Allowed != c.allowed {
			t.Errorf("%s %s/%s %s in %q named %q: allowed %v, want %v (%s)", attr.Verb, attr.Group, attr.Resource, attr.Subresource, attr.Namespace, attr.Name, res.Status.Allowed, c.allowed, res.Status.Reason)
		}
	}
}

// agentCSR is a CSR as an OCM agent makes it: the client signer and the
// cluster's label.
func agentCSR(t *testing.T) *certv1.CertificateSigningRequest {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{
		CommonName:   "system:open-cluster-management:wec1:agent",
		Organization: []string{"system:open-cluster-management:wec1"},
	}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return &certv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "wec1-", Labels: map[string]string{"open-cluster-management.io/cluster-name": "wec1"}},
		Spec: certv1.CertificateSigningRequestSpec{
			Request:    pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}),
			SignerName: certv1.KubeAPIServerClientSignerName,
			Usages:     []certv1.KeyUsage{certv1.UsageDigitalSignature, certv1.UsageKeyEncipherment, certv1.UsageClientAuth},
		},
	}
}
