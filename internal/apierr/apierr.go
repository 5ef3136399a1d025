// Package apierr is the one shape every error of the HTTP API takes:
//
//	{"error": {"code": "plugin_not_found", "message": "...", "details": ...}}
//
// Codes are stable snake_case words a client can switch on; messages are for
// people; details carry structured extras such as field problems or compiler
// diagnostics.
package apierr

import (
	"encoding/json"
	"net/http"
)

// Body is the JSON document of an error response.
type Body struct {
	Error Detail `json:"error"`
}

// Detail is the content of an error response.
type Detail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Details any    `json:"details,omitempty"`
}

// Write sends an error response.
func Write(w http.ResponseWriter, status int, code, message string, details any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(Body{Error: Detail{Code: code, Message: message, Details: details}})
}
