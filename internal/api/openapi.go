package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"
	"github.com/kubestellar/ksplugins/internal/host"
	"github.com/kubestellar/ksplugins/internal/openapi"
)

// managementPrefix is where the management routes are served.
const managementPrefix = "/api/plugins"

// bearerScheme names the security scheme of the management API.
const bearerScheme = "bearer"

// openAPIDocument serves the OpenAPI document made from the route table.
func (s *Server) openAPIDocument(c *gin.Context) {
	c.Data(http.StatusOK, "application/json; charset=utf-8", s.openapi)
}

// openAPI describes the routes as an OpenAPI 3.1 document, their bodies by
// reflection of the wire types the handlers decode and encode.
func openAPI(routes []route) openapi.Document {
	schemas := openapi.NewSchemas()
	errorBody := schemas.Of(reflect.TypeFor[apiv1.ErrorBody]())
	doc := openapi.Document{
		OpenAPI: openapi.Version,
		Info: openapi.Info{
			Title:   "ksplugins management API",
			Version: apiv1.Version,
			Description: "The plugin host's management API. Its bodies are the types of the Go package " +
				"github.com/kubestellar/ksplugins/api/v1; within version 1, fields are only ever added.",
		},
		Paths: map[string]openapi.PathItem{},
		Components: openapi.Components{SecuritySchemes: map[string]openapi.SecurityScheme{
			bearerScheme: {Type: "http", Scheme: "bearer", Description: "a named token, the admin token, or a JWT from the configured identity provider"},
		}},
		Security: []openapi.SecurityRequirement{{bearerScheme: {}}},
	}
	for _, rt := range routes {
		path, op := describe(rt, schemas, errorBody)
		item := doc.Paths[path]
		if item == nil {
			item = openapi.PathItem{}
			doc.Paths[path] = item
		}
		item[strings.ToLower(rt.method)] = op
	}
	addPluginEndpoints(&doc)
	doc.Components.Schemas = schemas.Components()
	return doc
}

// describe is one route's path and operation in the document.
func describe(rt route, schemas *openapi.Schemas, errorBody *openapi.Schema) (string, *openapi.Operation) {
	path, params := openAPIPath(managementPrefix + rt.path)
	op := &openapi.Operation{
		OperationID: rt.action,
		Summary:     rt.summary,
		Description: fmt.Sprintf("Needs the %s role.", rt.role),
		Parameters:  params,
		Role:        rt.role,
		Responses: map[string]*openapi.Response{
			"401":     {Description: "no valid credentials", Content: jsonBody(errorBody)},
			"403":     {Description: "the caller's role is below " + rt.role, Content: jsonBody(errorBody)},
			"default": {Description: "a failure, in the API's error shape", Content: jsonBody(errorBody)},
		},
	}
	for _, q := range rt.query {
		op.Parameters = append(op.Parameters, openapi.Parameter{Name: q.name, In: "query", Description: q.doc, Schema: &openapi.Schema{Type: openapi.Types{"string"}}})
	}
	if len(params) > 0 {
		op.Responses["404"] = &openapi.Response{Description: "no such " + strings.Join(paramNames(params), " or "), Content: jsonBody(errorBody)}
	}
	if rt.body != nil {
		op.RequestBody = &openapi.RequestBody{Required: true, Content: map[string]openapi.MediaType{
			rt.body.contentType: {Schema: requestSchema(schemas, rt.body)},
		}}
		op.Responses["400"] = &openapi.Response{Description: "the body is not what the route takes", Content: jsonBody(errorBody)}
	}
	for _, a := range rt.answers {
		code := strconv.Itoa(a.status)
		resp := op.Responses[code]
		if resp == nil {
			resp = &openapi.Response{Content: map[string]openapi.MediaType{}}
			op.Responses[code] = resp
		}
		resp.Description = strings.TrimPrefix(resp.Description+"; "+a.doc, "; ")
		schema := &openapi.Schema{}
		if a.typ != nil {
			schema = schemas.Of(a.typ)
		}
		if prev, ok := resp.Content[a.contentType]; ok {
			// One status, one content type, several bodies (by query).
			schema = &openapi.Schema{AnyOf: append(alternatives(prev.Schema), schema)}
		}
		resp.Content[a.contentType] = openapi.MediaType{Schema: schema}
	}
	return path, op
}

// requestSchema is the schema of what a route reads: as decoded, for a
// strictly decoded JSON body; as the form's fields are written, otherwise.
func requestSchema(schemas *openapi.Schemas, b *body) *openapi.Schema {
	if b.strict {
		return schemas.Input(b.typ)
	}
	return schemas.Of(b.typ)
}

// pluginEndpointMethods are the methods documented for plugin endpoints.
func pluginEndpointMethods() []string { return []string{"get", "post", "put", "patch", "delete"} }

// addPluginEndpoints documents the plugin endpoints as the one generic
// path they are: what lies under it is each plugin's own.
func addPluginEndpoints(doc *openapi.Document) {
	path, params := openAPIPath(strings.TrimSuffix(host.EndpointPrefix, "/") + "/:id/*path")
	item := openapi.PathItem{}
	none := []openapi.SecurityRequirement{}
	for _, m := range pluginEndpointMethods() {
		item[m] = &openapi.Operation{
			OperationID: "plugin-endpoint-" + m,
			Summary:     "A plugin's own endpoint",
			Description: "Plugin-defined: the endpoints (method and path) are those the plugin's manifest declares, " +
				"their bodies the plugin's own. {path} may hold slashes. Public unless the manifest or the " +
				"configuration's endpoint_auth requires a token. The host answers 404 for an unknown plugin or path, " +
				"405 for a wrong method, 503 for a disabled plugin, 500 when a handler panics, in the API's error shape.",
			Parameters: params,
			Security:   &none,
			Responses:  map[string]*openapi.Response{"default": {Description: "the plugin's answer"}},
		}
	}
	doc.Paths[path] = item
}

// openAPIPath turns a gin path into an OpenAPI one, with its parameters.
func openAPIPath(ginPath string) (string, []openapi.Parameter) {
	var params []openapi.Parameter
	segs := strings.Split(ginPath, "/")
	for i, seg := range segs {
		if seg == "" || (seg[0] != ':' && seg[0] != '*') {
			continue
		}
		name := seg[1:]
		segs[i] = "{" + name + "}"
		params = append(params, openapi.Parameter{Name: name, In: "path", Required: true, Schema: &openapi.Schema{Type: openapi.Types{"string"}}})
	}
	return strings.Join(segs, "/"), params
}

func paramNames(params []openapi.Parameter) []string {
	var out []string
	for _, p := range params {
		if p.In == "path" {
			out = append(out, p.Name)
		}
	}
	return out
}

// jsonBody is a JSON body of schema.
func jsonBody(schema *openapi.Schema) map[string]openapi.MediaType {
	return map[string]openapi.MediaType{jsonContent: {Schema: schema}}
}

// alternatives are the schemas a schema stands for: its anyOf, or itself.
func alternatives(s *openapi.Schema) []*openapi.Schema {
	if len(s.AnyOf) > 0 && s.Ref == "" && len(s.Type) == 0 {
		return slices.Clone(s.AnyOf)
	}
	return []*openapi.Schema{s}
}

// marshalOpenAPI is the document as served.
func marshalOpenAPI(routes []route) ([]byte, error) {
	data, err := json.MarshalIndent(openAPI(routes), "", "  ")
	if err != nil {
		return nil, fmt.Errorf("describe the API: %w", err)
	}
	return data, nil
}
