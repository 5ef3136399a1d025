// A native plugin that works on Kubernetes with client-go through the
// host's mediation (sdk.KubernetesUser, sdk/kube), and reports what its
// client configuration and its environment hold.
//
// GET /configmap?context=&namespace=&name= reads a ConfigMap; /secrets
// lists the Secrets of ?namespace=; /watch?name= waits for a ConfigMap of
// that name in default to be added; /contexts lists the contexts it may
// reach; /dump shows the credential fields of its rest.Config and its
// process's environment. Errors are answered 200 with whether client-go
// took them for Forbidden.
package main

import (
	"net/http"
	"os"
	"time"

	"github.com/gin-gonic/gin"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/kubestellar/ksplugins/sdk"
	"github.com/kubestellar/ksplugins/sdk/kube"
)

type kubeclient struct {
	sdk.Base
	kube sdk.Kubernetes
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
