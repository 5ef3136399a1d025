// A native plugin that works on Kubernetes with client-go through the
// host's mediation (sdk.KubernetesUser, sdk/kube), and reports what its
// client configuration and its environment hold.
//
// GET /configmap?context=&namespace=&name= reads a ConfigMap; /secrets
// lists the Secrets of ?namespace=; /watch?name= waits for a ConfigMap of
// that name in default to be added; /contexts lists the contexts it may
// reach; /managedcluster?name=&n= times n GETs of a ManagedCluster with a
// dynamic client made once and reused, and answers their mean duration;
// /watchmanagedclusters?selector=&count= watches the ManagedClusters of a
// label selector and answers when each of the first count added was seen; /dump shows the credential fields of its rest.Config and its
// process's environment. POST /externalconfigmaps with {kubeconfig,
// context, namespace} makes a caller's cluster reachable (External) and
// lists the ConfigMaps of namespace (default) there; POST /externalerror
// with {kubeconfig, context} answers the context name External gave, or
// the kind and field of its error. Errors are answered 200 with whether
// client-go took them for Forbidden.
package main

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/kubestellar/ksplugins/sdk"
	"github.com/kubestellar/ksplugins/sdk/kube"
	"github.com/kubestellar/ksplugins/sdk/kubeconfig"
)

type kubeclient struct {
	sdk.Base
	kube sdk.Kubernetes

	// dynamicOnce makes the client the ManagedCluster endpoints share, so
	// that their timings leave out making one.
	dynamicOnce sync.Once
	dynamic     dynamic.Interface
	dynamicErr  error
}

var managedClusters = schema.GroupVersionResource{Group: "cluster.open-cluster-management.io", Version: "v1", Resource: "managedclusters"}

func (p *kubeclient) managedClusters() (dynamic.NamespaceableResourceInterface, error) {
	p.dynamicOnce.Do(func() { p.dynamic, p.dynamicErr = dynamic.NewForConfig(kube.RESTConfig(p.kube, "its1")) })
	if p.dynamicErr != nil {
		return nil, p.dynamicErr
	}
	return p.dynamic.Resource(managedClusters), nil
}

func NewPlugin() sdk.KubestellarPlugin { return &kubeclient{} }

func (p *kubeclient) GetMetadata() sdk.PluginMetadata {
	return sdk.PluginMetadata{ID: "kubeclient", Name: "Kubeclient", Version: "1.0.0"}
}

// SetKubernetes implements sdk.KubernetesUser.
func (p *kubeclient) SetKubernetes(k sdk.Kubernetes) { p.kube = k }

func (p *kubeclient) client(c *gin.Context) *kubernetes.Clientset {
	return kubernetes.NewForConfigOrDie(kube.RESTConfig(p.kube, c.DefaultQuery("context", "its1")))
}

func failed(c *gin.Context, err error) {
	c.JSON(http.StatusOK, gin.H{"error": err.Error(), "forbidden": apierrors.IsForbidden(err)})
}

// external is the body of the External endpoints.
type external struct {
	Kubeconfig string `json:"kubeconfig"`
	Context    string `json:"context"`
	Namespace  string `json:"namespace"`
}

// externalBody reads the body of the External endpoints, or answers 400.
// It is decoded with encoding/json rather than gin's binding, whose
// validator calls methods by reflection: that keeps every exported method
// of every type in the module, client-go's included: the sandboxed build
// grew from 74 MB to 110 MB with it, over the default max_plugin_size.
func externalBody(c *gin.Context) (external, bool) {
	var in external
	if err := json.NewDecoder(c.Request.Body).Decode(&in); err != nil {
		c.JSON(http.StatusBadRequest, gin.H{"error": err.Error()})
		return in, false
	}
	return in, true
}

// bringCluster hands the kubeconfig of the request's body to the host and
// answers the context name it gave; on a refusal it has answered the
// caller with which error it was, and ok is false.
func (p *kubeclient) bringCluster(c *gin.Context) (in external, name string, ok bool) {
	if in, ok = externalBody(c); !ok {
		return in, "", false
	}
	name, err := p.kube.External([]byte(in.Kubeconfig), in.Context)
	if err != nil {
		c.JSON(http.StatusOK, externalError(err))
		return in, "", false
	}
	return in, name, true
}

// externalError says which of the errors sdk.Kubernetes.External documents
// err is, as a plugin tells them apart.
func externalError(err error) gin.H {
	var refused *kubeconfig.RefusedError
	var invalid *kubeconfig.InvalidError
	out := gin.H{"error": err.Error()}
	switch {
	case errors.Is(err, sdk.ErrExternalNotGranted):
		out["kind"] = "not-granted"
	case errors.As(err, &refused):
		out["kind"], out["field"] = "refused", refused.Field
	case errors.As(err, &invalid):
		out["kind"], out["field"] = "invalid", invalid.Field
	case errors.Is(err, kubeconfig.ErrNoContext):
		out["kind"] = "no-context"
	default:
		out["kind"] = "other"
	}
	return out
}

func (p *kubeclient) GetHandlers() map[string]gin.HandlerFunc {
	return map[string]gin.HandlerFunc{
		"ConfigMap": func(c *gin.Context) {
			cm, err := p.client(c).CoreV1().ConfigMaps(c.DefaultQuery("namespace", "default")).Get(c.Request.Context(), c.Query("name"), metav1.GetOptions{})
			if err != nil {
				failed(c, err)
				return
			}
			c.JSON(http.StatusOK, gin.H{"name": cm.Name, "data": cm.Data})
		},
		"Secrets": func(c *gin.Context) {
			list, err := p.client(c).CoreV1().Secrets(c.DefaultQuery("namespace", "default")).List(c.Request.Context(), metav1.ListOptions{})
			if err != nil {
				failed(c, err)
				return
			}
			c.JSON(http.StatusOK, gin.H{"count": len(list.Items)})
		},
		"Watch": func(c *gin.Context) {
			w, err := p.client(c).CoreV1().ConfigMaps("default").Watch(c.Request.Context(), metav1.ListOptions{
				FieldSelector: "metadata.name=" + c.Query("name"), ResourceVersion: "0",
			})
			if err != nil {
				failed(c, err)
				return
			}
			defer w.Stop()
			timeout := time.After(20 * time.Second)
			for {
				select {
				case ev, ok := <-w.ResultChan():
					if !ok {
						c.JSON(http.StatusOK, gin.H{"error": "the watch ended"})
						return
					}
					if ev.Type == watch.Added {
						c.JSON(http.StatusOK, gin.H{"added": time.Now().UnixNano()})
						return
					}
				case <-timeout:
					c.JSON(http.StatusOK, gin.H{"error": "no event"})
					return
				}
			}
		},
		"ManagedCluster": func(c *gin.Context) {
			mcs, err := p.managedClusters()
			if err != nil {
				failed(c, err)
				return
			}
			n, err := strconv.Atoi(c.DefaultQuery("n", "1"))
			if err != nil || n < 1 {
				c.JSON(http.StatusBadRequest, gin.H{"error": "n must be a positive count"})
				return
			}
			// Timed here, around the GETs only, so that the call to this
			// endpoint is not part of the figure.
			began := time.Now()
			for range n {
				if _, err := mcs.Get(c.Request.Context(), c.Query("name"), metav1.GetOptions{}); err != nil {
					failed(c, err)
					return
				}
			}
			c.JSON(http.StatusOK, gin.H{"meanNanos": time.Since(began).Nanoseconds() / int64(n)})
		},
		"WatchManagedClusters": func(c *gin.Context) {
			mcs, err := p.managedClusters()
			if err != nil {
				failed(c, err)
				return
			}
			count, err := strconv.Atoi(c.Query("count"))
			if err != nil || count < 1 {
				c.JSON(http.StatusBadRequest, gin.H{"error": "count must be a positive count"})
				return
			}
			w, err := mcs.Watch(c.Request.Context(), metav1.ListOptions{LabelSelector: c.Query("selector")})
			if err != nil {
				failed(c, err)
				return
			}
			defer w.Stop()
			seen := map[string]int64{}
			timeout := time.After(time.Minute)
			for len(seen) < count {
				select {
				case ev, ok := <-w.ResultChan():
					if !ok {
						c.JSON(http.StatusOK, gin.H{"error": "the watch ended", "seen": seen})
						return
					}
					if ev.Type == watch.Added {
						if o, ok := ev.Object.(metav1.Object); ok {
							seen[o.GetName()] = time.Now().UnixNano()
						}
					}
				case <-timeout:
					c.JSON(http.StatusOK, gin.H{"error": "too few events", "seen": seen})
					return
				}
			}
			c.JSON(http.StatusOK, gin.H{"seen": seen})
		},
		"ExternalConfigMaps": func(c *gin.Context) {
			in, name, ok := p.bringCluster(c)
			if !ok {
				return
			}
			ns := in.Namespace
			if ns == "" {
				ns = "default"
			}
			cs, err := kubernetes.NewForConfig(kube.RESTConfig(p.kube, name))
			if err != nil {
				failed(c, err)
				return
			}
			list, err := cs.CoreV1().ConfigMaps(ns).List(c.Request.Context(), metav1.ListOptions{})
			if err != nil {
				failed(c, err)
				return
			}
			names := []string{}
			for _, cm := range list.Items {
				names = append(names, cm.Name)
			}
			c.JSON(http.StatusOK, gin.H{"context": name, "names": names})
		},
		"ExternalError": func(c *gin.Context) {
			_, name, ok := p.bringCluster(c)
			if !ok {
				return
			}
			c.JSON(http.StatusOK, gin.H{"kind": "none", "context": name})
		},
		"Contexts": func(c *gin.Context) {
			c.JSON(http.StatusOK, gin.H{"contexts": p.kube.Contexts()})
		},
		"Dump": func(c *gin.Context) {
			cfg := kube.RESTConfig(p.kube, "its1")
			c.JSON(http.StatusOK, gin.H{
				"host": cfg.Host, "bearerToken": cfg.BearerToken, "bearerTokenFile": cfg.BearerTokenFile,
				"username": cfg.Username, "password": cfg.Password,
				"certFile": cfg.CertFile, "keyFile": cfg.KeyFile, "caFile": cfg.CAFile,
				"certData": string(cfg.CertData), "keyData": string(cfg.KeyData), "caData": string(cfg.CAData),
				"execProvider": cfg.ExecProvider != nil, "authProvider": cfg.AuthProvider != nil,
				"impersonate": cfg.Impersonate.UserName,
				"environ":     os.Environ(),
			})
		},
	}
}
