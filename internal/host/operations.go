package host

import (
	"context"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"

	"github.com/kubestellar/ksplugins/internal/operation"
)

// newOp starts an operation whose progress events are attributed to the
// actor of the context each step runs under.
func (h *Host) newOp(_ context.Context, kind, source, pluginID string) *operation.Op {
	return h.ops.Start(kind, source, pluginID, h.publish)
}

// Operation returns a copy of a recent operation and, if it failed, the
// error it failed with, for the caller to render as it would a synchronous
// call's.
func (h *Host) Operation(id string) (o apiv1.Operation, failure error, ok bool) {
	return h.ops.Operation(id)
}
