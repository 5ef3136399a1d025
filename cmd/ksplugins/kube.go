package main

import (
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/kubestellar/ksplugins/internal/kubeaccess"
	"github.com/kubestellar/ksplugins/sdk/kubeconfig"
)

// kubeUpstreams reads the host's kubeconfig at path and prepares one
// upstream per context, through which plugins reach the contexts they were
// granted. Without a usable kubeconfig the server still starts, and no
// plugin has Kubernetes access: it says so in one log line. A context the
// host cannot use (say, a certificate that does not parse) is left out,
// and said so.
//
// A service account's in-cluster configuration is not read yet: a host in
// a pod is given a kubeconfig that names the account's token file.
func kubeUpstreams(path string, log *slog.Logger) []*kubeaccess.Upstream {
	const none = "plugins have no Kubernetes access"
	if path == "" {
		log.Info("no kubeconfig (--kubeconfig, KUBECONFIG): " + none)
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
