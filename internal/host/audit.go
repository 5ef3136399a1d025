package host

import (
	"context"

	"github.com/kubestellar/ksplugins/internal/store"
)

// auditQueueSize bounds the audit entries waiting to be written.
const auditQueueSize = 256

// auditLater records e in the audit log without making the caller wait for
// the store: a refused Kubernetes request is answered at once, and a
// plugin that is refused in a loop cannot slow its own requests, or the
// store's other writers, by one write per refusal. When the queue is full
// the caller writes e itself, so an entry is never dropped: a flood is
// slowed to the store's pace rather than forgotten.
func (h *Host) auditLater(e store.AuditEntry) {
	select {
	case h.audits <- e:
	default:
		h.writeAudit(e)
	}
}

// writeAudits writes the queued entries until ctx ends, then whatever is
// still queued, so that Close loses none.
func (h *Host) writeAudits(ctx context.Context) {
	for {
		select {
		case e := <-h.audits:
			h.writeAudit(e)
		case <-ctx.Done():
			for {
				select {
				case e := <-h.audits:
					h.writeAudit(e)
				default:
					return
				}
			}
		}
	}
}

func (h *Host) writeAudit(e store.AuditEntry) {
	// h.ctx may be over (Close drains the queue): the entry is still kept.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(h.ctx), auditTimeout)
	defer cancel()
	if _, err := h.store.AppendAudit(ctx, e); err != nil {
		h.log.Error("write an audit entry", "action", e.Action, "target", e.Target, "err", err)
	}
}
