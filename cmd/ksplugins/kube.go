package main

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/kubestellar/ksplugins/internal/kubeaccess"
	"github.com/kubestellar/ksplugins/sdk/kubeconfig"
)

// serviceAccountDir is where Kubernetes mounts a pod's service account.
const serviceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

// kubeSource is where the host's credentials for clusters come from.
type kubeSource struct {
	// Kubeconfig is the host's kubeconfig file; it wins when set.
	Kubeconfig string
	// InCluster is the pod's service account, used without a kubeconfig.
	InCluster inCluster
}

// inCluster is what a pod is given to reach its own cluster's API server:
// its address in the environment and the service account's token and CA
// in a folder.
type inCluster struct {
	// Context is the name plugins are granted it by.
	Context string
	// Host and Port are KUBERNETES_SERVICE_HOST and _PORT; empty outside
	// a pod.
	Host, Port string
	// Dir holds token and ca.crt.
	Dir string
}

// inClusterFromEnv reads the pod's API server address from the
// environment, as client-go's in-cluster configuration does.
func inClusterFromEnv(context string) inCluster {
	return inCluster{Context: context, Host: os.Getenv("KUBERNETES_SERVICE_HOST"), Port: os.Getenv("KUBERNETES_SERVICE_PORT"), Dir: serviceAccountDir}
}

// context is the service account as a kubeconfig context: the token is a
// file, read again as the kubelet rotates it, and the CA is the cluster's.
// ok is false outside a pod.
func (ic inCluster) context() (c kubeconfig.Context, ok bool, err error) {
	if ic.Host == "" || ic.Port == "" {
		return c, false, nil
	}
	token := filepath.Join(ic.Dir, "token")
	if _, err := os.Stat(token); err != nil {
		return c, false, nil
	}
	ca, err := os.ReadFile(filepath.Join(ic.Dir, "ca.crt"))
	if err != nil {
		return c, true, fmt.Errorf("the service account's CA: %w", err)
	}
	return kubeconfig.Context{
		Name:    ic.Context,
		Cluster: kubeconfig.Cluster{Server: "https://" + net.JoinHostPort(ic.Host, ic.Port), CAData: ca},
		User:    kubeconfig.User{TokenFile: token},
	}, true, nil
}

// kubeUpstreams prepares one upstream per context of the host's
// credentials, through which plugins reach the contexts they were granted:
// every context of the kubeconfig, or without one, in a pod, the pod's
// service account as the context src.InCluster.Context. Without usable
// credentials the server still starts, and no plugin has Kubernetes
// access: it says so in one log line. A context the host cannot use (say,
// a certificate that does not parse) is left out, and said so.
func kubeUpstreams(src kubeSource, log *slog.Logger) []*kubeaccess.Upstream {
	const none = "plugins have no Kubernetes access"
	path := src.Kubeconfig
	if path == "" {
		c, ok, err := src.InCluster.context()
		var up *kubeaccess.Upstream
		if err == nil && ok {
			up, err = kubeaccess.NewUpstream(c)
		}
		switch {
		case err != nil:
			log.Error("the pod's service account cannot be used: "+none, "err", err)
		case !ok:
			log.Info("no kubeconfig (--kubeconfig, KUBECONFIG) and not in a pod: " + none)
		default:
			log.Info("Kubernetes access for plugins", "service_account", src.InCluster.Dir, "server", c.Cluster.Server, "contexts", []string{c.Name})
			return []*kubeaccess.Upstream{up}
		}
		return nil
	}
	if strings.ContainsRune(path, os.PathListSeparator) {
		log.Warn("the kubeconfig names several files, which are not merged; give one: "+none, "kubeconfig", path)
		return nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		log.Warn("the kubeconfig does not exist: "+none, "kubeconfig", path)
		return nil
	}
	var cfg *kubeconfig.Config
	if err == nil {
		cfg, err = kubeconfig.ParseTrusted(data, filepath.Dir(path))
	}
	if err != nil {
		log.Error("the kubeconfig cannot be used: "+none, "kubeconfig", path, "err", err)
		return nil
	}
	var ups []*kubeaccess.Upstream
	for _, name := range cfg.ContextNames() {
		c, err := cfg.Context(name)
		var up *kubeaccess.Upstream
		if err == nil {
			up, err = kubeaccess.NewUpstream(c)
		}
		if err != nil {
			log.Warn("a context of the kubeconfig cannot be used; no plugin reaches it", "kubeconfig", path, "context", name, "err", err)
			continue
		}
		ups = append(ups, up)
	}
	names := make([]string, len(ups))
	for i, up := range ups {
		names[i] = up.Context()
	}
	log.Info("Kubernetes access for plugins", "kubeconfig", path, "contexts", names)
	return ups
}
