package clusters

import (
	"errors"
	"fmt"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// FieldError is bad input: Field names what is wrong, in the request's own
// terms ("clusterName", "kubeconfig", "labels.env").
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// Target says how to reach a workload execution cluster: a kubeconfig of
// its own, or a context of the host's kubeconfig.
type Target struct {
	// Kubeconfig is a whole kubeconfig file; its current context is used
	// unless Context names another.
	Kubeconfig []byte
	// Context names a context of Kubeconfig, or of the host's kubeconfig
	// when Kubeconfig is empty.
	Context string
}

// IsZero reports whether t names no cluster at all.
func (t Target) IsZero() bool { return len(t.Kubeconfig) == 0 && t.Context == "" }

// restConfig resolves t to a client configuration. A kubeconfig that does
// not parse or lacks what a client needs is a FieldError on "kubeconfig"; an
// unknown context one on "context".
func (m *Manager) restConfig(t Target) (*rest.Config, error) {
	var (
		raw *clientcmdapi.Config
		err error
	)
	if len(t.Kubeconfig) > 0 {
		raw, err = clientcmd.Load(t.Kubeconfig)
		if err != nil {
			return nil, &FieldError{Field: "kubeconfig", Message: "not a valid kubeconfig: " + err.Error()}
		}
	} else {
		if t.Context == "" {
			return nil, &FieldError{Field: "kubeconfig", Message: "give a kubeconfig or a context of the host's kubeconfig"}
		}
		raw, err = m.hostKubeconfig()
		if err != nil {
			return nil, err
		}
	}
	if t.Context != "" {
		if _, ok := raw.Contexts[t.Context]; !ok {
			return nil, &FieldError{Field: "context", Message: fmt.Sprintf("no context %q in the kubeconfig", t.Context)}
		}
	}
	cc := clientcmd.NewDefaultClientConfig(*raw, &clientcmd.ConfigOverrides{CurrentContext: t.Context})
	cfg, err := cc.ClientConfig()
	if err != nil {
		field := "kubeconfig"
		if t.Context != "" && len(t.Kubeconfig) == 0 {
			field = "context"
		}
		return nil, &FieldError{Field: field, Message: "unusable: " + err.Error()}
	}
	return withDefaults(cfg, m.opts.RequestTimeout), nil
}

// hostKubeconfig reads the host's kubeconfig: Options.Kubeconfig, or
// $KUBECONFIG and ~/.kube/config as kubectl reads them.
func (m *Manager) hostKubeconfig() (*clientcmdapi.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if m.opts.Kubeconfig != "" {
		rules.ExplicitPath = m.opts.Kubeconfig
	}
	raw, err := rules.Load()
	if err != nil {
		return nil, fmt.Errorf("read the host's kubeconfig: %w", err)
	}
	return raw, nil
}

// hubConfig is the client configuration of the hub, the ITS: the host
// kubeconfig's Options.ITSContext.
func (m *Manager) hubConfig() (*rest.Config, error) {
	cfg, err := m.restConfig(Target{Context: m.opts.ITSContext})
	var fe *FieldError
	if errors.As(err, &fe) {
		return nil, fmt.Errorf("hub (ITS context %q of the host's kubeconfig): %s", m.opts.ITSContext, fe.Message)
	}
	return cfg, err
}

// withDefaults bounds every request, so that a cluster that stops
// answering fails a step instead of hanging it.
func withDefaults(cfg *rest.Config, timeout time.Duration) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.Timeout = timeout
	cfg.UserAgent = "kubestellar-cluster-manager"
	if cfg.QPS == 0 {
		cfg.QPS, cfg.Burst = 50, 100
	}
	return cfg
}

// bootstrapKubeconfig is what the agent on a WEC uses to register with the
// hub: the hub's address and CA, and a token allowed only to register.
func bootstrapKubeconfig(hub *rest.Config, server, token string) ([]byte, error) {
	ca := hub.CAData
	if len(ca) == 0 && hub.CAFile != "" {
		cfg := rest.CopyConfig(hub)
		if err := rest.LoadTLSFiles(cfg); err != nil {
			return nil, fmt.Errorf("read the hub's CA: %w", err)
		}
		ca = cfg.CAData
	}
	if server == "" {
		server = hub.Host
	}
	c := clientcmdapi.NewConfig()
	c.Clusters["hub"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: ca, InsecureSkipTLSVerify: len(ca) == 0 && hub.Insecure}
	c.AuthInfos["bootstrap"] = &clientcmdapi.AuthInfo{Token: token}
	c.Contexts["bootstrap"] = &clientcmdapi.Context{Cluster: "hub", AuthInfo: "bootstrap"}
	c.CurrentContext = "bootstrap"
	return clientcmd.Write(*c)
}
