// Package clusters onboards, detaches, labels and reports the workload
// execution clusters (WECs) of KubeStellar, which are Open Cluster
// Management managed clusters registered with a hub, the Inventory and
// Transport Space (ITS).
//
// Everything it reports is read from the hub's ManagedCluster objects when
// asked, never remembered. Onboarding and detaching are operations that run
// in the background, one at a time per cluster, and record their steps and
// log as they go.
//
// # Onboarding, in order
//
//  1. connect: list the WEC's nodes, to prove its kubeconfig works.
//  2. token: on the hub, make sure the bootstrap service account and its
//     role exist, and request a short-lived token for it.
//  3. install-agent: on the WEC, create the klusterlet resources: the
//     Klusterlet CRD when missing, the operator and agent namespaces, the
//     operator's service account, binding and Deployment, the bootstrap hub
//     kubeconfig Secret, and the Klusterlet resource (singleton mode). The
//     klusterlet then registers with the hub by itself.
//  4. approve-csr: approve the cluster's pending CertificateSigningRequests
//     through the approval subresource (or, with auto-approve off, wait for
//     someone else to).
//  5. accept: set hubAcceptsClient on the cluster's ManagedCluster and label
//     it name=<cluster> plus the labels asked for.
//  6. wait-available: wait until its ManagedClusterJoined and
//     ManagedClusterConditionAvailable conditions are True.
//
// # Detaching, in order
//
//  1. delete-managed-cluster: delete the ManagedCluster and wait until it
//     is gone.
//  2. remove-agent: when asked to and the WEC is reachable, delete what
//     install-agent created (the CRD aside, which other clusters' resources
//     may use).
package clusters

import (
	"context"
	"fmt"
	"time"

	"k8s.io/client-go/dynamic"
	certificatesv1 "k8s.io/client-go/kubernetes/typed/certificates/v1"
	corev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	clusterv1client "open-cluster-management.io/api/client/cluster/clientset/versioned/typed/cluster/v1"
)

// Options configures a Manager. Zero fields take the defaults shown.
type Options struct {
	// Kubeconfig names a kubeconfig file to use as the host's. It comes
	// from the plugin's configuration, which an operator may set, so it is
	// read as untrusted: data only, no exec or auth-provider plugins, no
	// file paths (see ReadKubeconfigFile). "" reads the server's own
	// $KUBECONFIG or ~/.kube/config as kubectl does, exec plugins and all:
	// only whoever starts the server chooses that one.
	Kubeconfig string
	// ITSContext is the context of the host's kubeconfig that reaches the
	// hub. Default "its1".
	ITSContext string
	// WDSContext, when set, is the context of a Workload Description Space
	// whose BindingPolicies' cluster selectors make their label keys
	// protected.
	WDSContext string
	// HubAPIServer is the hub address written into the agent's bootstrap
	// kubeconfig, when WECs reach the hub by another address than the
	// host does. Default: the ITS context's server.
	HubAPIServer string
	// Timeout bounds a whole operation. Default 10 minutes.
	Timeout time.Duration
	// RequestTimeout bounds each API request. Default 30 seconds.
	RequestTimeout time.Duration
	// PollInterval is how often waits look again. Default 1 second.
	PollInterval time.Duration
	// DisableAutoApprove leaves a joining cluster's CSRs to someone else:
	// onboarding waits for them to be approved. By default the manager
	// approves them.
	DisableAutoApprove bool
	// MaxConcurrent bounds the operations that run at once. Default 4.
	MaxConcurrent int
	// ProtectedLabelKeys are label keys no request may change, beside the
	// system prefixes and BindingPolicy keys.
	ProtectedLabelKeys []string
	// ImageRegistry and ImageTag name the klusterlet images. Defaults
	// "quay.io/open-cluster-management" and "v1.3.0".
	ImageRegistry, ImageTag string
	// TokenTTL is how long the agent's bootstrap token lives. Default 1 hour.
	TokenTTL time.Duration
	// Publish receives every operation change.
	Publish Publisher
}

func (o *Options) defaults() {
	if o.ITSContext == "" {
		o.ITSContext = "its1"
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Minute
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = 30 * time.Second
	}
	if o.PollInterval <= 0 {
		o.PollInterval = time.Second
	}
	if o.MaxConcurrent <= 0 {
		o.MaxConcurrent = 4
	}
	if o.ImageRegistry == "" {
		o.ImageRegistry = "quay.io/open-cluster-management"
	}
	if o.ImageTag == "" {
		o.ImageTag = "v1.3.0"
	}
	if o.TokenTTL <= 0 {
		o.TokenTTL = time.Hour
	}
}

// Manager runs cluster operations against the hub. Close it to stop its
// operations.
type Manager struct {
	opts   Options
	ops    *operations
	ctx    context.Context
	cancel context.CancelFunc
}

// New returns a Manager. It does not contact any cluster: a missing or
// unreachable hub shows in Health and in each request's answer.
func New(opts Options) *Manager {
	opts.defaults()
	ctx, cancel := context.WithCancel(context.Background())
	return &Manager{opts: opts, ops: newOperations(opts.MaxConcurrent, opts.Publish), ctx: ctx, cancel: cancel}
}

// With returns a Manager with new options that shares m's operations:
// those running finish under the old options, new ones use the new.
// MaxConcurrent keeps its first value.
func (m *Manager) With(opts Options) *Manager {
	opts.defaults()
	if opts.Publish == nil {
		opts.Publish = m.opts.Publish
	}
	return &Manager{opts: opts, ops: m.ops, ctx: m.ctx, cancel: m.cancel}
}

// Options returns the options in effect, defaults filled in.
func (m *Manager) Options() Options { return m.opts }

// Close cancels the running operations and waits for them to end.
func (m *Manager) Close() {
	m.cancel()
	m.ops.wait()
}

// Operation returns the operation with id.
func (m *Manager) Operation(id string) (Operation, bool) { return m.ops.get(id) }

// Operations returns the running and recent operations, newest first.
func (m *Manager) Operations() []Operation { return m.ops.list() }

// Health reports whether the hub answers.
func (m *Manager) Health(ctx context.Context) error {
	h, err := m.hub()
	if err != nil {
		return err
	}
	if _, err := h.core.RESTClient().Get().AbsPath("/version").Do(ctx).Raw(); err != nil {
		return fmt.Errorf("hub %s: %w", h.cfg.Host, err)
	}
	return nil
}

// hubClients are the clients onboarding uses on the hub.
type hubClients struct {
	cfg      *rest.Config
	core     corev1.CoreV1Interface
	certs    certificatesv1.CertificatesV1Interface
	clusters clusterv1client.ClusterV1Interface
	dynamic  dynamic.Interface
}

func (m *Manager) hub() (*hubClients, error) {
	cfg, err := m.hubConfig()
	if err != nil {
		return nil, err
	}
	h := &hubClients{cfg: cfg}
	if h.core, err = corev1.NewForConfig(cfg); err != nil {
		return nil, fmt.Errorf("hub client: %w", err)
	}
	if h.certs, err = certificatesv1.NewForConfig(cfg); err != nil {
		return nil, fmt.Errorf("hub client: %w", err)
	}
	if h.clusters, err = clusterv1client.NewForConfig(cfg); err != nil {
		return nil, fmt.Errorf("hub client: %w", err)
	}
	if h.dynamic, err = dynamic.NewForConfig(cfg); err != nil {
		return nil, fmt.Errorf("hub client: %w", err)
	}
	return h, nil
}

// wecClients are the clients onboarding uses on a WEC.
type wecClients struct {
	cfg     *rest.Config
	core    corev1.CoreV1Interface
	dynamic dynamic.Interface
}

func (m *Manager) wec(t Target) (*wecClients, error) {
	cfg, err := m.restConfig(t)
	if err != nil {
		return nil, err
	}
	w := &wecClients{cfg: cfg}
	if w.core, err = corev1.NewForConfig(cfg); err != nil {
		return nil, &FieldError{Field: "kubeconfig", Message: err.Error()}
	}
	if w.dynamic, err = dynamic.NewForConfig(cfg); err != nil {
		return nil, &FieldError{Field: "kubeconfig", Message: err.Error()}
	}
	return w, nil
}

// poll calls cond every PollInterval until it reports done or fails, or
// ctx ends. what describes the wait for the error.
func (m *Manager) poll(ctx context.Context, what string, cond func(context.Context) (bool, error)) error {
	t := time.NewTicker(m.opts.PollInterval)
	defer t.Stop()
	for {
		done, err := cond(ctx)
		if err != nil || done {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, context.Cause(ctx))
		case <-t.C:
		}
	}
}
