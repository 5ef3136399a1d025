package api

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"

	"github.com/kubestellar/ksplugins/internal/apierr"
	"github.com/kubestellar/ksplugins/internal/host"
	"github.com/kubestellar/ksplugins/internal/policy"
)

// maxFormField bounds the small text fields that come with an upload.
const maxFormField = 4 << 10

// upload receives a plugin archive (multipart field "plugin" or "file";
// optional fields checksum and signature), then installs it, or with
// ?install=false keeps it and answers its upload id.
func (s *Server) upload(c *gin.Context) {
	limit := s.system().MaxPluginSize
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, limit+1<<20)
	mr, err := c.Request.MultipartReader()
	if err != nil {
		apierr.Write(c.Writer, http.StatusBadRequest, "invalid_request", "send the archive as multipart/form-data in a field named plugin: "+err.Error(), nil)
		return
	}
	var (
		req    host.LoadRequest
		up     *apiv1.Upload
		fresh  bool // up was stored by this request
		fields = map[string]*string{"checksum": &req.Checksum, "signature": &req.Signature}
	)
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			s.failUpload(c, up, fresh, uploadError(err))
			return
		}
		name := part.FormName()
		switch {
		case name == "plugin" || name == "file":
			if up != nil {
				s.failUpload(c, up, fresh, fmt.Errorf("%w: %s: send one archive per upload", errBadForm, name))
				return
			}
			saved, isNew, err := s.host.SaveUpload(c.Request.Context(), part)
			if err != nil {
				s.fail(c, uploadError(err))
				return
			}
			up, fresh = &saved, isNew
		case fields[name] != nil:
			v, err := io.ReadAll(io.LimitReader(part, maxFormField))
			if err != nil {
				s.failUpload(c, up, fresh, uploadError(err))
				return
			}
			*fields[name] = strings.TrimSpace(string(v))
		}
		part.Close()
	}
	if up == nil {
		apierr.Write(c.Writer, http.StatusBadRequest, "invalid_request", "plugin: is required: the archive (.zip or .tar.gz) in a multipart field named plugin (or file)", nil)
		return
	}
	if c.Query("install") == "false" {
		c.JSON(http.StatusCreated, up)
		return
	}
	req.UploadID = up.ID
	req.DiscardUploadOnFailure = fresh
	s.install(c, req)
}

// errBadForm is a malformed upload form.
var errBadForm = errors.New("invalid upload")

// uploadError turns the body limit into the policy refusal it stands for.
func uploadError(err error) error {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return &policy.Refusal{Rule: "max_plugin_size", Message: fmt.Sprintf("the upload is larger than the %d bytes allowed", tooLarge.Limit)}
	}
	return err
}

// failUpload fails a request and drops the upload it stored, if new.
func (s *Server) failUpload(c *gin.Context, up *apiv1.Upload, fresh bool, err error) {
	if up != nil && fresh {
		_ = s.host.RemoveUpload(up.ID)
	}
	if errors.Is(err, errBadForm) {
		apierr.Write(c.Writer, http.StatusBadRequest, "invalid_request", err.Error(), nil)
		return
	}
	s.fail(c, err)
}

func (s *Server) update(c *gin.Context) {
	var req apiv1.UpdateRequest
	if !decode(c, &req, true) {
		return
	}
	info, err := s.host.Update(c.Request.Context(), c.Param("id"), req.Version)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, info)
}

// renderOp fills in a failed operation's error as a synchronous call would
// have answered it.
func (s *Server) renderOp(op apiv1.Operation, failure error) apiv1.Operation {
	if failure != nil {
		status, code, details := s.classify("operation "+op.ID, failure)
		op.Status, op.Error = status, &apiv1.Error{Code: code, Message: failure.Error(), Details: details}
	}
	return op
}

func (s *Server) operation(c *gin.Context) {
	op, failure, ok := s.host.Operation(c.Param("op"))
	if !ok {
		apierr.Write(c.Writer, http.StatusNotFound, "operation_not_found", "no recent operation "+c.Param("op"), nil)
		return
	}
	c.JSON(http.StatusOK, s.renderOp(op, failure))
}

func (s *Server) warmUp(c *gin.Context) {
	w, failure := s.host.WarmUpState()
	if w.Operation != nil {
		op := s.renderOp(*w.Operation, failure)
		w.Operation = &op
	}
	c.JSON(http.StatusOK, w)
}

func (s *Server) cacheInfo(c *gin.Context) {
	info, err := s.host.CacheInfo()
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, apiv1.CacheReport{Cache: info, MaxBytes: s.system().MaxCacheBytes})
}

func (s *Server) purgeCache(c *gin.Context) {
	removed, freed, err := s.host.PurgeCache(c.Request.Context())
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, apiv1.CachePurge{Removed: removed, FreedBytes: freed})
}
