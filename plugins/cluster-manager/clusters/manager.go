// Package clusters onboards, detaches, labels and reports the workload
// execution clusters (WECs) of KubeStellar, which are Open Cluster
// Management managed clusters registered with a hub, the Inventory and
// Transport Space (ITS).
//
// It holds no credential: every cluster is reached through the host's
// mediation (sdk.Kubernetes), which allows only what the plugin's manifest
// was granted. Everything it reports is read from the hub's ManagedCluster
// objects when asked, never remembered. Onboarding and detaching are operations that run
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
//     bootstrap kubeconfig names the hub by Options.HubAPIServer and trusts
//     the CA the hub publishes in kube-public's kube-root-ca.crt ConfigMap.
//     The klusterlet then registers with the hub by itself.
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

	"github.com/kubestellar/ksplugins/sdk"
)

// Options configures a Manager. Zero fields take the defaults shown.
type Options struct {
	// Kube is the plugin's way to its clusters, given by the host. Without
	// it no cluster is reachable.
	Kube sdk.Kubernetes
	// ITSContext is the context of the host's kubeconfig that reaches the
	// hub. Default "its1".
	ITSContext string
	// WDSContext, when set, is the context of a Workload Description Space
	// whose BindingPolicies' cluster selectors make their label keys
	// protected.
	WDSContext string
	// HubAPIServer is the hub address written into the agent's bootstrap
	// kubeconfig: how WECs reach the hub. Onboarding needs it; the host
	// keeps its contexts' addresses to itself.
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
	if opts.Kube == nil {
		opts.Kube = m.opts.Kube
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
	if _, err := h.version(ctx); err != nil {
		return fmt.Errorf("hub (context %s): %w", m.opts.ITSContext, err)
	}
	return nil
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
