// Package openapi holds the parts of an OpenAPI 3.1 document that the
// server's API description uses, and derives JSON Schemas of Go types by
// reflection, the way encoding/json encodes them, so that a document built
// from the types a server encodes cannot drift from them.
package openapi

import "encoding/json"

// Version is the OpenAPI version of the documents this package describes:
// 3.1, whose schemas are JSON Schema 2020-12.
const Version = "3.1.0"

// Document is an OpenAPI document.
type Document struct {
	OpenAPI    string              `json:"openapi"`
	Info       Info                `json:"info"`
	Paths      map[string]PathItem `json:"paths"`
	Components Components          `json:"components"`
	// Security applies to every operation that does not say otherwise.
	Security []SecurityRequirement `json:"security,omitempty"`
}

// Info describes the API.
type Info struct {
	Title       string `json:"title"`
	Version     string `json:"version"`
	Description string `json:"description,omitempty"`
}

// PathItem holds a path's operations by lower-case HTTP method.
type PathItem map[string]*Operation

// Operation is one method on one path.
type Operation struct {
	OperationID string               `json:"operationId"`
	Summary     string               `json:"summary,omitempty"`
	Description string               `json:"description,omitempty"`
	Tags        []string             `json:"tags,omitempty"`
	Parameters  []Parameter          `json:"parameters,omitempty"`
	RequestBody *RequestBody         `json:"requestBody,omitempty"`
	Responses   map[string]*Response `json:"responses"`
	// Security, when not nil, replaces the document's; empty means none.
	Security *[]SecurityRequirement `json:"security,omitempty"`
	// Role is the least role the operation needs (an extension field).
	Role string `json:"x-role,omitempty"`
}

// Parameter is a path or query parameter.
type Parameter struct {
	Name        string  `json:"name"`
	In          string  `json:"in"`
	Required    bool    `json:"required,omitempty"`
	Description string  `json:"description,omitempty"`
	Schema      *Schema `json:"schema"`
}

// RequestBody is what an operation reads.
type RequestBody struct {
	Required bool                 `json:"required,omitempty"`
	Content  map[string]MediaType `json:"content"`
}

// Response is one answer of an operation.
type Response struct {
	Description string               `json:"description"`
	Content     map[string]MediaType `json:"content,omitempty"`
}

// MediaType is a body in one content type.
type MediaType struct {
	Schema *Schema `json:"schema"`
}

// Components holds the named schemas and the security schemes.
type Components struct {
	Schemas         map[string]*Schema        `json:"schemas"`
	SecuritySchemes map[string]SecurityScheme `json:"securitySchemes,omitempty"`
}

// SecurityScheme is one way of authenticating.
type SecurityScheme struct {
	Type         string `json:"type"`
	Scheme       string `json:"scheme,omitempty"`
	BearerFormat string `json:"bearerFormat,omitempty"`
	Description  string `json:"description,omitempty"`
}

// SecurityRequirement names schemes (and their scopes) that authenticate.
type SecurityRequirement map[string][]string

// Schema is a JSON Schema (2020-12), of the keywords reflection produces.
type Schema struct {
	Ref                  string             `json:"$ref,omitempty"`
	Type                 Types              `json:"type,omitempty"`
	Format               string             `json:"format,omitempty"`
	ContentEncoding      string             `json:"contentEncoding,omitempty"`
	Description          string             `json:"description,omitempty"`
	Properties           map[string]*Schema `json:"properties,omitempty"`
	Required             []string           `json:"required,omitempty"`
	Items                *Schema            `json:"items,omitempty"`
	AdditionalProperties *Schema            `json:"additionalProperties,omitempty"`
	AnyOf                []*Schema          `json:"anyOf,omitempty"`
	// Not is the schema a value must fail; {"not": {}} refuses everything.
	Not     *Schema  `json:"not,omitempty"`
	Minimum *float64 `json:"minimum,omitempty"`
}

// Types is a schema's "type": one name, or several when a value may be
// any of them (such as ["array", "null"] for a Go slice).
type Types []string

// MarshalJSON writes one type as a string, several as a list.
func (t Types) MarshalJSON() ([]byte, error) {
	if len(t) == 1 {
		return json.Marshal(t[0])
	}
	return json.Marshal([]string(t))
}

// UnmarshalJSON reads either form.
func (t *Types) UnmarshalJSON(data []byte) error {
	var one string
	if err := json.Unmarshal(data, &one); err == nil {
		*t = Types{one}
		return nil
	}
	return json.Unmarshal(data, (*[]string)(t))
}
