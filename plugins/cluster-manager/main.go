// Command cluster-manager is the kubestellar-cluster-manager plugin: it
// onboards workload execution clusters to KubeStellar's hub, detaches them,
// reports their status from the hub's ManagedCluster objects, changes their
// labels and checks connectivity. The work is done by package clusters; this
// file turns HTTP requests into its calls and its answers into JSON.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"sigs.k8s.io/yaml"

	"github.com/kubestellar/ksplugins/plugins/cluster-manager/clusters"
	"github.com/kubestellar/ksplugins/sdk"
)

// maxKubeconfig bounds an uploaded kubeconfig.
const maxKubeconfig = 1 << 20

// ClusterManager is the plugin. Its Manager is replaced on a configuration
// change; operations already running finish under the old settings.
type ClusterManager struct {
	sdk.Base

	mu      sync.RWMutex
	manager *clusters.Manager
	pub     sdk.Publisher
	kube    sdk.Kubernetes
}

// NewPlugin is the symbol the host looks up.
func NewPlugin() sdk.KubestellarPlugin { return &ClusterManager{} }

// GetMetadata agrees with plugin.yaml.
func (p *ClusterManager) GetMetadata() sdk.PluginMetadata {
	// Reading needs a token; changing clusters needs an operator's.
	read := &sdk.AuthConfig{Required: true, Roles: []string{"viewer"}}
	write := &sdk.AuthConfig{Required: true, Roles: []string{"operator"}}
	return sdk.PluginMetadata{
		ID:          "kubestellar-cluster-manager",
		Name:        "KubeStellar Cluster Manager",
		Version:     "1.0.0",
		Description: "Onboards, detaches, labels and reports KubeStellar workload execution clusters",
		Author:      "KubeStellar",
		Endpoints: []sdk.EndpointConfig{
			{Path: "/onboard", Method: "POST", Handler: "Onboard", Auth: write},
			{Path: "/detach", Method: "POST", Handler: "Detach", Auth: write},
			{Path: "/status", Method: "GET", Handler: "Status", Auth: read},
			{Path: "/status/:cluster", Method: "GET", Handler: "ClusterStatus", Auth: read},
			{Path: "/labels/:cluster", Method: "PATCH", Handler: "Labels", Auth: write},
			{Path: "/validate", Method: "POST", Handler: "Validate", Auth: write},
			{Path: "/operations", Method: "GET", Handler: "Operations", Auth: read},
			{Path: "/operations/:id", Method: "GET", Handler: "Operation", Auth: read},
		},
		Permissions: []string{"cluster.read", "cluster.write"},
	}
}

// GetHandlers maps the manifest's handler names to functions.
func (p *ClusterManager) GetHandlers() map[string]gin.HandlerFunc {
	return map[string]gin.HandlerFunc{
		"Onboard":       p.onboard,
		"Detach":        p.detach,
		"Status":        p.status,
		"ClusterStatus": p.clusterStatus,
		"Labels":        p.labels,
		"Validate":      p.validate,
		"Operations":    p.operations,
		"Operation":     p.operation,
	}
}

// SetPublisher keeps the host's publisher for operation events.
func (p *ClusterManager) SetPublisher(pub sdk.Publisher) { p.pub = pub }

// SetKubernetes keeps the host's way to the granted clusters; the host
// calls it before Initialize.
func (p *ClusterManager) SetKubernetes(k sdk.Kubernetes) { p.kube = k }

// Initialize reads the configuration and prepares the manager; it does
// not reach any cluster, so the plugin loads without one.
func (p *ClusterManager) Initialize(config map[string]interface{}) error {
	_ = p.Base.Initialize(config)
	return p.configure(config)
}

// OnConfigChange applies a new configuration to new requests.
func (p *ClusterManager) OnConfigChange(config map[string]interface{}) error {
	if err := p.configure(config); err != nil {
		return err
	}
	return p.Base.OnConfigChange(config)
}

func (p *ClusterManager) configure(config map[string]interface{}) error {
	opts, err := optionsFrom(config)
	if err != nil {
		return err
	}
	if pub := p.pub; pub != nil {
		opts.Publish = pub.Publish
	}
	opts.Kube = p.kube
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.manager == nil {
		p.manager = clusters.New(opts)
	} else {
		p.manager = p.manager.With(opts)
	}
	return nil
}

func (p *ClusterManager) m() *clusters.Manager {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.manager
}

// Health reports whether the hub answers.
func (p *ClusterManager) Health() error {
	m := p.m()
	if m == nil {
		return errors.New("not initialized")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return m.Health(ctx)
}

// Cleanup stops the running operations.
func (p *ClusterManager) Cleanup() error {
	if m := p.m(); m != nil {
		m.Close()
	}
	return nil
}

// GetMetrics counts operations by state.
func (p *ClusterManager) GetMetrics() map[string]interface{} {
	out := map[string]interface{}{}
	if m := p.m(); m != nil {
		for _, op := range m.Operations() {
			k := "operations_" + op.State
			n, _ := out[k].(int)
			out[k] = n + 1
		}
	}
	return out
}

// targetRequest is the part of a request that names a WEC.
type targetRequest struct {
	ClusterName    string            `json:"clusterName"`
	Kubeconfig     string            `json:"kubeconfig"`
	Context        string            `json:"context"`
	Labels         map[string]string `json:"labels"`
	RemoveAgent    bool              `json:"removeAgent"`
	TimeoutSeconds int               `json:"timeoutSeconds"`
}

// bind reads a JSON body, or a multipart form with the kubeconfig as a
// file and the other fields as values ("name" or "clusterName").
func bind(c *gin.Context) (targetRequest, error) {
	var req targetRequest
	if strings.HasPrefix(c.ContentType(), "multipart/") {
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, 4*maxKubeconfig)
		if err := c.Request.ParseMultipartForm(maxKubeconfig); err != nil {
			return req, &clusters.FieldError{Field: "body", Message: "not a readable multipart form: " + err.Error()}
		}
		req.ClusterName = c.Request.FormValue("clusterName")
		if req.ClusterName == "" {
			req.ClusterName = c.Request.FormValue("name")
		}
		req.Context = c.Request.FormValue("context")
		req.RemoveAgent = c.Request.FormValue("removeAgent") == "true"
		if f, _, err := c.Request.FormFile("kubeconfig"); err == nil {
			data, err := io.ReadAll(io.LimitReader(f, maxKubeconfig+1))
			f.Close()
			if err != nil || len(data) > maxKubeconfig {
				return req, &clusters.FieldError{Field: "kubeconfig", Message: fmt.Sprintf("unreadable or larger than %d bytes", maxKubeconfig)}
			}
			req.Kubeconfig = string(data)
		} else {
			req.Kubeconfig = c.Request.FormValue("kubeconfig")
		}
		if l := c.Request.FormValue("labels"); l != "" {
			if err := yaml.Unmarshal([]byte(l), &req.Labels); err != nil {
				return req, &clusters.FieldError{Field: "labels", Message: "not a map of label keys to values: " + err.Error()}
			}
		}
		return req, nil
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, 2*maxKubeconfig)
	if err := c.ShouldBindJSON(&req); err != nil {
		return req, &clusters.FieldError{Field: "body", Message: "not a JSON object of the expected fields: " + err.Error()}
	}
	return req, nil
}

func (r targetRequest) target() clusters.Target {
	return clusters.Target{Kubeconfig: []byte(r.Kubeconfig), Context: r.Context}
}

func (p *ClusterManager) onboard(c *gin.Context) {
	req, err := bind(c)
	if err != nil {
		fail(c, err)
		return
	}
	op, started, err := p.m().Onboard(c.Request.Context(), clusters.OnboardRequest{
		Cluster: req.ClusterName, Target: req.target(), Labels: req.Labels, Timeout: time.Duration(req.TimeoutSeconds) * time.Second,
	})
	accepted(c, op, started, err)
}

func (p *ClusterManager) detach(c *gin.Context) {
	req, err := bind(c)
	if err != nil {
		fail(c, err)
		return
	}
	op, started, err := p.m().Detach(c.Request.Context(), clusters.DetachRequest{
		Cluster: req.ClusterName, RemoveAgent: req.RemoveAgent, Target: req.target(), Timeout: time.Duration(req.TimeoutSeconds) * time.Second,
	})
	accepted(c, op, started, err)
}

// accepted answers a request that started an operation, or found one
// running: 202 with the operation and where to follow it.
func accepted(c *gin.Context, op clusters.Operation, started bool, err error) {
	if err != nil {
		fail(c, err)
		return
	}
	c.Header("Location", "operations/"+op.ID)
	c.JSON(http.StatusAccepted, gin.H{"operation": op, "started": started})
}

func (p *ClusterManager) status(c *gin.Context) {
	list, err := p.m().Status(c.Request.Context())
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"clusters": list, "count": len(list)})
}

func (p *ClusterManager) clusterStatus(c *gin.Context) {
	s, err := p.m().ClusterStatus(c.Request.Context(), c.Param("cluster"))
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, s)
}

// labelsRequest changes labels on the cluster of the path and on any
// others listed.
type labelsRequest struct {
	Labels   map[string]string `json:"labels"`
	Clusters []string          `json:"clusters"`
}

func (p *ClusterManager) labels(c *gin.Context) {
	var req labelsRequest
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxKubeconfig)
	if err := c.ShouldBindJSON(&req); err != nil {
		fail(c, &clusters.FieldError{Field: "body", Message: "not a JSON object with labels: " + err.Error()})
		return
	}
	names := append([]string{c.Param("cluster")}, req.Clusters...)
	results, err := p.m().ChangeLabels(c.Request.Context(), names, req.Labels)
	if err != nil {
		fail(c, err)
		return
	}
	ok, missing := 0, 0
	for _, r := range results {
		if r.OK {
			ok++
		} else if errors.Is(r.Err, clusters.ErrNotFound) {
			missing++
		}
	}
	code := http.StatusOK
	switch {
	case ok == len(results):
	case missing == len(results):
		code = http.StatusNotFound
	default:
		code = http.StatusMultiStatus
	}
	c.JSON(code, gin.H{"results": results, "succeeded": ok, "failed": len(results) - ok})
}

func (p *ClusterManager) validate(c *gin.Context) {
	req, err := bind(c)
	if err != nil {
		fail(c, err)
		return
	}
	res, err := p.m().Validate(c.Request.Context(), req.target())
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, res)
}

func (p *ClusterManager) operations(c *gin.Context) {
	ops := p.m().Operations()
	c.JSON(http.StatusOK, gin.H{"operations": ops, "count": len(ops)})
}

func (p *ClusterManager) operation(c *gin.Context) {
	op, ok := p.m().Operation(c.Param("id"))
	if !ok {
		writeError(c, http.StatusNotFound, "operation_not_found", "no operation "+c.Param("id"), nil)
		return
	}
	c.JSON(http.StatusOK, op)
}

// fail answers err in the host's error shape, with the status its kind
// calls for.
func fail(c *gin.Context, err error) {
	var (
		fe   *clusters.FieldError
		busy *clusters.ErrBusy
	)
	switch {
	case errors.As(err, &fe):
		writeError(c, http.StatusBadRequest, "invalid_request", err.Error(), []gin.H{{"field": fe.Field, "message": fe.Message}})
	case errors.As(err, &busy):
		writeError(c, http.StatusConflict, "operation_running", err.Error(), gin.H{"operation": busy.Running})
	case errors.Is(err, clusters.ErrAlreadyOnboarded):
		writeError(c, http.StatusConflict, "already_onboarded", err.Error(), nil)
	case errors.Is(err, clusters.ErrNotFound):
		writeError(c, http.StatusNotFound, "cluster_not_found", err.Error(), nil)
	case errors.Is(err, clusters.ErrNotConfigured):
		writeError(c, http.StatusConflict, "not_configured", err.Error(), nil)
	case errors.Is(err, clusters.ErrNoAccess):
		writeError(c, http.StatusServiceUnavailable, "no_cluster_access", err.Error(), nil)
	default:
		writeError(c, http.StatusBadGateway, "cluster_error", err.Error(), nil)
	}
}

func writeError(c *gin.Context, status int, code, message string, details any) {
	body := gin.H{"code": code, "message": message}
	if details != nil {
		body["details"] = details
	}
	c.AbortWithStatusJSON(status, gin.H{"error": body})
}
