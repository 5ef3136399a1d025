package clusters

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/kubestellar/ksplugins/sdk/kubeconfig"
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

// restConfig resolves t to a client configuration. A kubeconfig given
// with the request is untrusted: it is read as data only (see
// untrustedConfig). A context alone names a context of the host's
// kubeconfig. Bad input is a FieldError: on "kubeconfig", or on the
// offending field within it ("kubeconfig.users[\"a\"].user.exec"), or on
// "context" for an unknown context.
func (m *Manager) restConfig(t Target) (*rest.Config, error) {
	if len(t.Kubeconfig) > 0 {
		cfg, err := untrustedConfig(t.Kubeconfig, t.Context)
		if err != nil {
			return nil, requestError(err)
		}
		return withDefaults(cfg, m.opts.RequestTimeout), nil
	}
	if t.Context == "" {
		return nil, &FieldError{Field: "kubeconfig", Message: "give a kubeconfig or a context of the host's kubeconfig"}
	}
	if m.opts.Kubeconfig != "" {
		// Named by the plugin's configuration, which an operator may set:
		// as untrusted as a request's.
		parsed, err := ReadKubeconfigFile(m.opts.Kubeconfig)
		if err != nil {
			return nil, err
		}
		kc, err := parsed.Context(t.Context)
		if errors.Is(err, kubeconfig.ErrNoContext) {
			return nil, &FieldError{Field: "context", Message: fmt.Sprintf("no context %q in the host's kubeconfig", t.Context)}
		}
		if err != nil {
			return nil, fmt.Errorf("the configured kubeconfig %s: %w", m.opts.Kubeconfig, err)
		}
		return withDefaults(restConfigOf(kc), m.opts.RequestTimeout), nil
	}
	raw, err := m.hostKubeconfig()
	if err != nil {
		return nil, err
	}
	if _, ok := raw.Contexts[t.Context]; !ok {
		return nil, &FieldError{Field: "context", Message: fmt.Sprintf("no context %q in the host's kubeconfig", t.Context)}
	}
	cc := clientcmd.NewDefaultClientConfig(*raw, &clientcmd.ConfigOverrides{CurrentContext: t.Context})
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, &FieldError{Field: "context", Message: "unusable: " + err.Error()}
	}
	return withDefaults(cfg, m.opts.RequestTimeout), nil
}

// untrustedConfig reads a kubeconfig that someone other than the host's
// admin wrote, and resolves the named context ("" for its current one).
// It refuses, naming the field, whatever would make client-go run a
// command, load a credential plugin, read a file of the host or use a
// proxy (sdk/kubeconfig), and builds the client configuration from the
// remaining data itself, so that client-go's kubeconfig loader never sees
// the document.
func untrustedConfig(data []byte, context string) (*rest.Config, error) {
	parsed, err := kubeconfig.Parse(data)
	if err != nil {
		return nil, err
	}
	kc, err := parsed.Context(context)
	if err != nil {
		return nil, err
	}
	return restConfigOf(kc), nil
}

// restConfigOf is the client configuration of a context read by
// kubeconfig.Parse: every field is data, and none that makes client-go
// read a file or run a command (BearerTokenFile, CAFile, CertFile,
// KeyFile, ExecProvider, AuthProvider) is set.
func restConfigOf(kc kubeconfig.Context) *rest.Config {
	return &rest.Config{
		Host:               kc.Cluster.Server,
		BearerToken:        kc.User.Token,
		Username:           kc.User.Username,
		Password:           kc.User.Password,
		DisableCompression: kc.Cluster.DisableCompression,
		Impersonate: rest.ImpersonationConfig{
			UserName: kc.User.Impersonate,
			UID:      kc.User.ImpersonateUID,
			Groups:   kc.User.ImpersonateGroups,
			Extra:    kc.User.ImpersonateExtra,
		},
		TLSClientConfig: rest.TLSClientConfig{
			Insecure:   kc.Cluster.InsecureSkipTLSVerify,
			ServerName: kc.Cluster.TLSServerName,
			CAData:     kc.Cluster.CAData,
			CertData:   kc.User.ClientCertData,
			KeyData:    kc.User.ClientKeyData,
		},
	}
}

// requestError turns a problem with a request's kubeconfig into a
// FieldError that names the field: "kubeconfig" or a field within it, or
// "context".
func requestError(err error) error {
	var (
		refused *kubeconfig.RefusedError
		invalid *kubeconfig.InvalidError
	)
	switch {
	case errors.As(err, &refused):
		return &FieldError{Field: "kubeconfig." + refused.Field, Message: "refused: " + refused.Reason}
	case errors.As(err, &invalid) && invalid.Field == "":
		return &FieldError{Field: "kubeconfig", Message: "not a valid kubeconfig: " + invalid.Reason}
	case errors.As(err, &invalid):
		return &FieldError{Field: "kubeconfig." + invalid.Field, Message: "not a valid kubeconfig: " + invalid.Reason}
	case errors.Is(err, kubeconfig.ErrNoContext):
		return &FieldError{Field: "context", Message: err.Error()}
	}
	return &FieldError{Field: "kubeconfig", Message: err.Error()}
}

// ReadKubeconfigFile reads the kubeconfig file that the plugin's
// configuration names, as an untrusted kubeconfig (kubeconfig.Parse). The path
// comes from whoever may configure the plugin, so it reads only a regular
// file of at most kubeconfig.MaxSize bytes: not a device that never ends
// nor a pipe that never opens.
func ReadKubeconfigFile(path string) (*kubeconfig.Config, error) {
	if fi, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("read the configured kubeconfig: %w", err)
	} else if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("read the configured kubeconfig %s: not a regular file", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read the configured kubeconfig: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, kubeconfig.MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("read the configured kubeconfig %s: %w", path, err)
	}
	if len(data) > kubeconfig.MaxSize {
		return nil, fmt.Errorf("read the configured kubeconfig %s: larger than %d bytes", path, kubeconfig.MaxSize)
	}
	parsed, err := kubeconfig.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("the configured kubeconfig %s: %w", path, err)
	}
	return parsed, nil
}

// hostKubeconfig reads the host's own kubeconfig, $KUBECONFIG or
// ~/.kube/config as kubectl reads them. It is trusted as the server's
// environment is: only whoever starts the server chooses it, so its exec
// plugins and files are used as kubectl would use them.
func (m *Manager) hostKubeconfig() (*clientcmdapi.Config, error) {
	raw, err := clientcmd.NewDefaultClientConfigLoadingRules().Load()
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
