package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"
)

// CatalogQuery selects catalog entries: words, a category, a tier, a page.
type CatalogQuery struct {
	Q, Category, Tier string
	Page, PerPage     int
}

// Catalog searches the catalogs the server reads.
func (c *Client) Catalog(ctx context.Context, q CatalogQuery) (*apiv1.CatalogList, error) {
	v := url.Values{}
	for k, s := range map[string]string{"q": q.Q, "category": q.Category, "tier": q.Tier} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if q.Page > 0 {
		v.Set("page", strconv.Itoa(q.Page))
	}
	if q.PerPage > 0 {
		v.Set("per_page", strconv.Itoa(q.PerPage))
	}
	return call[apiv1.CatalogList](ctx, c, http.MethodGet, "/api/plugins/catalog", v, nil)
}

// CatalogEntry returns one catalog entry with its description.
func (c *Client) CatalogEntry(ctx context.Context, id string) (*apiv1.CatalogEntry, error) {
	return call[apiv1.CatalogEntry](ctx, c, http.MethodGet, "/api/plugins/catalog/"+url.PathEscape(id), nil, nil)
}

// CatalogInstallAsync starts installing a catalog entry's version ("" for
// the latest) and returns its operation at once.
func (c *Client) CatalogInstallAsync(ctx context.Context, id, version string) (*apiv1.Operation, error) {
	return call[apiv1.Operation](ctx, c, http.MethodPost, "/api/plugins/catalog/"+url.PathEscape(id)+"/install",
		url.Values{"async": {"true"}}, apiv1.CatalogInstallRequest{Version: version})
}

// CatalogUpdateAsync starts updating an installed plugin to a catalog
// entry's version ("" for the latest) and returns its operation at once.
func (c *Client) CatalogUpdateAsync(ctx context.Context, id, version string) (*apiv1.Operation, error) {
	return call[apiv1.Operation](ctx, c, http.MethodPost, "/api/plugins/catalog/"+url.PathEscape(id)+"/update",
		url.Values{"async": {"true"}}, apiv1.CatalogInstallRequest{Version: version})
}

// RefreshCatalogs has the server read every catalog again now.
func (c *Client) RefreshCatalogs(ctx context.Context) (*apiv1.CatalogRefresh, error) {
	return call[apiv1.CatalogRefresh](ctx, c, http.MethodPost, "/api/plugins/catalog/refresh", nil, nil)
}
