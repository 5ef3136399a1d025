package host

import (
	"context"
	"fmt"
	"testing"

	"github.com/kubestellar/ksplugins/internal/store"
)

// TestAuditLaterKeepsEveryEntry queues more entries than the queue holds,
// then closes the host: each one is in the store, whether it waited in the
// queue, was written by its caller when the queue was full, or was still
// queued when Close began.
func TestAuditLaterKeepsEveryEntry(t *testing.T) {
	h := newTestHost(t)
	const n = 3 * auditQueueSize
	for i := range n {
		h.auditLater(store.AuditEntry{Actor: "plugin:p", Action: "kube-denied", Target: fmt.Sprint(i), Result: "denied", Status: 403})
	}
	h.Close(context.Background())
	got, err := h.store.Audit(context.Background(), store.AuditQuery{Actor: "plugin:p", Limit: 10 * n})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range got {
		seen[e.Target] = true
	}
	if len(seen) != n {
		t.Errorf("%d of %d entries written", len(seen), n)
	}
}
