package api

import (
	"io"
	"net/http"
	"slices"
	"strconv"

	"github.com/gin-gonic/gin"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"
	"github.com/kubestellar/ksplugins/internal/apierr"
	"github.com/kubestellar/ksplugins/internal/catalog"
	"github.com/kubestellar/ksplugins/internal/host"
)

// sameCatalog tells whether two catalog settings read the same catalog
// the same way.
func sameCatalog(a, b apiv1.CatalogConfig) bool {
	return a.Name == b.Name && a.Location == b.Location && a.Ref == b.Ref && a.Path == b.Path && slices.Equal(a.Keys, b.Keys)
}

func (s *Server) catalogList(c *gin.Context) {
	q := catalog.Query{Q: c.Query("q"), Category: c.Query("category"), Tier: apiv1.Tier(c.Query("tier"))}
	if q.Tier != "" && !q.Tier.Known() {
		apierr.Write(c.Writer, http.StatusBadRequest, "invalid_request", "tier: must be native, sandboxed or http-wasm", nil)
		return
	}
	for name, n := range map[string]*int{"page": &q.Page, "per_page": &q.PerPage} {
		if v := c.Query(name); v != "" {
			var err error
			if *n, err = strconv.Atoi(v); err != nil || *n < 1 || (name == "per_page" && *n > 100) {
				apierr.Write(c.Writer, http.StatusBadRequest, "invalid_request", name+": must be a number from 1 (per_page at most 100)", nil)
				return
			}
		}
	}
	c.JSON(http.StatusOK, s.catalogs.List(q, s.host.List()))
}

// catalogEntry finds the entry the route names, or answers 404.
func (s *Server) catalogEntry(c *gin.Context) (catalog.Listed, bool) {
	l, err := s.catalogs.Get(c.Param("id"), s.host.List())
	if err != nil {
		apierr.Write(c.Writer, http.StatusNotFound, "not_found", err.Error(), nil)
		return l, false
	}
	return l, true
}

func (s *Server) catalogGet(c *gin.Context) {
	if l, ok := s.catalogEntry(c); ok {
		c.JSON(http.StatusOK, l.Entry)
	}
}

func (s *Server) catalogRefresh(c *gin.Context) {
	c.JSON(http.StatusOK, apiv1.CatalogRefresh{Catalogs: s.catalogs.Refresh(c.Request.Context())})
}

// catalogVersion reads the request's version and picks it from the entry
// the route names.
func (s *Server) catalogVersion(c *gin.Context) (catalog.Listed, apiv1.CatalogVersion, *host.Pin, bool) {
	var req apiv1.CatalogInstallRequest
	if c.Request.ContentLength != 0 && !decode(c, &req, true) {
		return catalog.Listed{}, apiv1.CatalogVersion{}, nil, false
	}
	l, ok := s.catalogEntry(c)
	if !ok {
		return l, apiv1.CatalogVersion{}, nil, false
	}
	v, err := catalog.Pick(l.Entry, req.Version)
	if err != nil {
		apierr.Write(c.Writer, http.StatusNotFound, "version_not_found", err.Error(), apiv1.FieldError{Field: "version"})
		return l, v, nil, false
	}
	return l, v, &host.Pin{Catalog: l.Entry.Catalog, ID: l.Entry.ID, Digest: v.Digest, Signature: v.Signature, Keys: l.Keys}, true
}

// catalogInstall installs a catalog entry's version through the install
// pipeline, pinned to the digest its catalog signed.
func (s *Server) catalogInstall(c *gin.Context) {
	l, v, pin, ok := s.catalogVersion(c)
	if !ok {
		return
	}
	if l.Entry.Installed {
		apierr.Write(c.Writer, http.StatusConflict, "plugin_exists", "plugin "+l.Entry.ID+" is installed: update it instead", nil)
		return
	}
	req := host.LoadRequest{Pin: pin}
	if src := v.Source; src.Repository != "" {
		req.Source, req.Version, req.Path = src.Repository, src.Commit, src.Path
	} else {
		up, fresh, err := s.fetchArchive(c, src.Archive)
		if err != nil {
			s.fail(c, err)
			return
		}
		req.UploadID, req.DiscardUploadOnFailure = up.ID, fresh
	}
	s.install(c, req)
}

// fetchArchive downloads a catalog version's archive and stores it as an
// upload, checked and extracted as an operator's would be.
func (s *Server) fetchArchive(c *gin.Context, url string) (apiv1.Upload, bool, error) {
	pr, pw := io.Pipe()
	f := catalog.Fetch{MaxBytes: s.system().MaxPluginSize}
	go func() {
		_, err := f.Get(c.Request.Context(), url, pw)
		pw.CloseWithError(err)
	}()
	up, fresh, err := s.host.SaveUpload(c.Request.Context(), pr)
	pr.CloseWithError(io.ErrClosedPipe) // ends the download if SaveUpload stopped early
	return up, fresh, err
}

// catalogUpdate updates an installed plugin to a catalog entry's version,
// through the update path, pinned to the digest its catalog signed.
func (s *Server) catalogUpdate(c *gin.Context) {
	l, v, pin, ok := s.catalogVersion(c)
	if !ok {
		return
	}
	if !l.Entry.Installed {
		apierr.Write(c.Writer, http.StatusNotFound, "plugin_not_found", "plugin "+l.Entry.ID+" is not installed: install it first", nil)
		return
	}
	installed, err := s.host.Get(l.Entry.ID)
	if err != nil {
		s.fail(c, err)
		return
	}
	if !catalog.FromSource(installed.Source, v.Source) {
		apierr.Write(c.Writer, http.StatusBadRequest, "invalid_source",
			"plugin "+l.Entry.ID+" was not installed from the repository this catalog version names; unload it and install it from the catalog", apiv1.FieldError{Field: "version"})
		return
	}
	if c.Query("async") == "true" {
		op, err := s.host.StartUpdate(c.Request.Context(), l.Entry.ID, v.Source.Commit, pin)
		if err != nil {
			s.fail(c, err)
			return
		}
		c.Header("Location", "/api/plugins/operations/"+op.ID)
		c.JSON(http.StatusAccepted, op)
		return
	}
	info, err := s.host.UpdatePinned(c.Request.Context(), l.Entry.ID, v.Source.Commit, pin)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, info)
}
