// Package apierr writes the one shape every error of the HTTP API takes,
// apiv1.ErrorBody:
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

	apiv1 "github.com/kubestellar/ksplugins/api/v1"
)

// Write sends an error response.
func Write(w http.ResponseWriter, status int, code, message string, details any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(apiv1.ErrorBody{Error: apiv1.Error{Code: code, Message: message, Details: details}})
}
