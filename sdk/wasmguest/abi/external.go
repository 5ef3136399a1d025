package abi

import (
	"errors"

	"github.com/kubestellar/ksplugins/sdk"
	"github.com/kubestellar/ksplugins/sdk/kubeconfig"
)

// HeaderKubeExternal marks an http_do request to sdk.KubernetesHost as a
// call of sdk.Kubernetes.External rather than a request to mediate: a POST
// whose body is an [ExternalRequest]. The host answers it itself, status
// 200 and an [ExternalResult], with the plugin's own sdk.Kubernetes; it
// never forwards it, whatever its path, so the header reaches no cluster
// and no network.
const HeaderKubeExternal = "X-Ksplugins-Kube-External"

// ExternalRequest is the JSON body of an External call.
type ExternalRequest struct {
	Kubeconfig []byte `json:"kubeconfig"`
	Context    string `json:"context"`
}

// ExternalResult is the JSON answer to an External call: the context name
// to use, or the error.
type ExternalResult struct {
	Context string         `json:"context,omitempty"`
	Error   *ExternalError `json:"error,omitempty"`
}

// Kinds of ExternalError: which typed error the guest gives the plugin.
const (
	ExternalNotGranted = "not-granted" // sdk.ErrExternalNotGranted
	ExternalRefused    = "refused"     // *kubeconfig.RefusedError
	ExternalInvalid    = "invalid"     // *kubeconfig.InvalidError
	ExternalNoContext  = "no-context"  // kubeconfig.ErrNoContext
	ExternalOther      = "other"       // none the plugin can tell apart
)

// ExternalError is an error of sdk.Kubernetes.External as it crosses the
// boundary: its kind, the field and reason of a kubeconfig error, and the
// whole message, so that the guest's error reads and matches (errors.Is,
// errors.As) as the host's does.
type ExternalError struct {
	Kind    string `json:"kind"`
	Field   string `json:"field,omitempty"`
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message"`
}

// NewExternalError describes err, an error of sdk.Kubernetes.External, for
// the guest.
func NewExternalError(err error) *ExternalError {
	e := &ExternalError{Kind: ExternalOther, Message: err.Error()}
	var refused *kubeconfig.RefusedError
	var invalid *kubeconfig.InvalidError
	switch {
	case errors.Is(err, sdk.ErrExternalNotGranted):
		e.Kind = ExternalNotGranted
	case errors.As(err, &refused):
		e.Kind, e.Field, e.Reason = ExternalRefused, refused.Field, refused.Reason
	case errors.As(err, &invalid):
		e.Kind, e.Field, e.Reason = ExternalInvalid, invalid.Field, invalid.Reason
	case errors.Is(err, kubeconfig.ErrNoContext):
		e.Kind = ExternalNoContext
	}
	return e
}

// Err is the error e describes: the host's message, wrapping the typed
// error or sentinel of its kind.
func (e *ExternalError) Err() error {
	var cause error
	switch e.Kind {
	case ExternalNotGranted:
		cause = sdk.ErrExternalNotGranted
	case ExternalRefused:
		cause = &kubeconfig.RefusedError{Field: e.Field, Reason: e.Reason}
	case ExternalInvalid:
		cause = &kubeconfig.InvalidError{Field: e.Field, Reason: e.Reason}
	case ExternalNoContext:
		cause = kubeconfig.ErrNoContext
	default:
		return errors.New(e.Message)
	}
	if e.Message == cause.Error() {
		return cause // the sentinel itself, as the host returned it
	}
	return &externalError{msg: e.Message, cause: cause}
}

// externalError reads as the host's error did and unwraps to its cause.
type externalError struct {
	msg   string
	cause error
}

func (e *externalError) Error() string { return e.msg }
func (e *externalError) Unwrap() error { return e.cause }
