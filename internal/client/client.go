// Package client is a small typed client of the plugin host's management
// API (the routes under /api/plugins that `ksplugins serve` exposes).
//
// Every call takes a context and sends the admin bearer token. Successful
// answers are the wire types of package apiv1 (free-form values inside
// them, such as plugin configuration, hold numbers as json.Number, so they
// keep every digit). Failures are *APIError, parsed from the API's one
// error shape, apiv1.ErrorBody.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"
)

// maxErrorBody bounds how much of an error response is read.
const maxErrorBody = 1 << 20

// userAgent identifies this client to the server.
const userAgent = "ksplugins-client"

// Client calls the management API of one server. It is safe for concurrent
// use.
type Client struct {
	base  string
	token string
	http  *http.Client
}

// BaseURL is the server's address, as given to New.
func (c *Client) BaseURL() string { return c.base }

// New returns a Client for the server at baseURL (such as
// "http://localhost:4000") that authenticates with token. A nil httpClient
// means http.DefaultClient. Use a client without a Timeout for installs and
// event streams, which can take long; bound calls with their context instead.
func New(baseURL, token string, httpClient *http.Client) *Client {
	if httpClient == nil {
		httpClient = http.DefaultClient
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), token: token, http: httpClient}
}

// APIError is an error answered by the server: its HTTP status and the
// content of the API's error shape. When the body is not in that shape,
// Message holds the body as sent (or the status text when it is empty) and
// Code is empty.
type APIError struct {
	// Status is the HTTP status code.
	Status int `json:"-"`
	// Code is the API's stable snake_case error code, such as
	// "plugin_not_found" or "build_failed".
	Code string `json:"code"`
	// Message is the human-readable account of the failure.
	Message string `json:"message"`
	// Details carries structured extras, as sent; their shape depends on
	// the code (see apiv1.Error). Read them with DecodeDetails.
	Details json.RawMessage `json:"details,omitempty"`
}

// Error returns the message, or the status when there is none.
func (e *APIError) Error() string {
	if e.Message != "" {
		return e.Message
	}
	if e.Code != "" {
		return fmt.Sprintf("%s (HTTP %d)", e.Code, e.Status)
	}
	return fmt.Sprintf("HTTP %d %s", e.Status, http.StatusText(e.Status))
}

// DecodeDetails decodes the error's details into v, such as an
// *apiv1.BuildFailure for a build_failed error or a *[]apiv1.Problem for
// an invalid_request one.
func (e *APIError) DecodeDetails(v any) error {
	if len(e.Details) == 0 {
		return errors.New("the error has no details")
	}
	return json.Unmarshal(e.Details, v)
}

// BuildFailure returns the details of a build failure, or nil when the
// error is not one.
func (e *APIError) BuildFailure() *apiv1.BuildFailure {
	var bf apiv1.BuildFailure
	if e.DecodeDetails(&bf) != nil || (e.Code != "build_failed" && len(bf.Diagnostics) == 0) {
		return nil
	}
	return &bf
}

// Diagnostics returns the compiler diagnostics of a build failure, or nil.
func (e *APIError) Diagnostics() []string {
	if bf := e.BuildFailure(); bf != nil && len(bf.Diagnostics) > 0 {
		return bf.Diagnostics
	}
	return nil
}

// url joins the base URL, an already escaped path and a query.
func (c *Client) url(path string, query url.Values) string {
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	return u
}

// newRequest builds an authenticated request.
func (c *Client) newRequest(ctx context.Context, method, path string, query url.Values, body io.Reader, contentType string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.url(path, query), body)
	if err != nil {
		return nil, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	return req, nil
}

// do sends a request with an optional JSON body and decodes a successful
// answer into out (when non-nil).
func (c *Client) do(ctx context.Context, method, path string, query url.Values, in, out any) error {
	var (
		body        io.Reader
		contentType string
	)
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		body, contentType = bytes.NewReader(data), "application/json"
	}
	req, err := c.newRequest(ctx, method, path, query, body, contentType)
	if err != nil {
		return err
	}
	return c.send(req, out)
}

// send sends req and decodes the answer: into out on success, into an
// *APIError otherwise.
func (c *Client) send(req *http.Request, out any) error {
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return readError(resp)
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
		return nil
	}
	dec := json.NewDecoder(resp.Body)
	dec.UseNumber()
	if err := dec.Decode(out); err != nil {
		return fmt.Errorf("%s %s: decode the answer (HTTP %d, %s): %w", req.Method, req.URL.Path, resp.StatusCode, resp.Header.Get("Content-Type"), err)
	}
	return nil
}

// readError turns an error response into an *APIError.
func readError(resp *http.Response) error {
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	if err != nil && len(raw) == 0 {
		return &APIError{Status: resp.StatusCode, Message: fmt.Sprintf("HTTP %d %s (reading the body: %v)", resp.StatusCode, http.StatusText(resp.StatusCode), err)}
	}
	return parseError(resp.StatusCode, resp.Header.Get("Content-Type"), raw)
}

// parseError reads the API's error shape from body, falling back to the
// body's text.
func parseError(status int, contentType string, body []byte) *APIError {
	var shape struct {
		Error *APIError `json:"error"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&shape); err == nil && shape.Error != nil && (shape.Error.Code != "" || shape.Error.Message != "") {
		shape.Error.Status = status
		return shape.Error
	}
	e := &APIError{Status: status, Message: strings.TrimSpace(string(body))}
	if mt, _, _ := mime.ParseMediaType(contentType); mt == "text/html" || e.Message == "" {
		e.Message = fmt.Sprintf("HTTP %d %s", status, http.StatusText(status))
	}
	return e
}

// pluginPath is the path of a plugin's route.
func pluginPath(id string, rest ...string) (string, error) {
	if id == "" {
		return "", errors.New("a plugin id is required")
	}
	p := "/api/plugins/" + url.PathEscape(id)
	for _, r := range rest {
		p += "/" + r
	}
	return p, nil
}
