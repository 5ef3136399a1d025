package clusters

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestCheckName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"cluster1", true},
		{"a", true},
		{"", false},
		{"Cluster1", false},
		{"under_score", false},
		{"-lead", false},
		{strings.Repeat("a", 64), false},
	} {
		err := CheckName("clusterName", tc.name)
		var fe *FieldError
		if (err == nil) != tc.ok || (err != nil && (!errors.As(err, &fe) || fe.Field != "clusterName")) {
			t.Errorf("CheckName(%q) = %v; want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func TestCheckLabels(t *testing.T) {
	m := New(Options{ProtectedLabelKeys: []string{"owner"}})
	defer m.Close()
	for _, tc := range []struct {
		labels map[string]string
		field  string // "" when accepted
		says   string
	}{
		{map[string]string{"env": "prod", "team": ""}, "", ""},
		{map[string]string{"example.com/tier": "gold"}, "", ""},
		{map[string]string{"name": "x"}, "labels.name", "cluster's name"},
		{map[string]string{"owner": "x"}, "labels.owner", "protected_label_keys"},
		{map[string]string{"kubernetes.io/os": "x"}, "labels.kubernetes.io/os", "kubernetes.io"},
		{map[string]string{"node.kubernetes.io/role": "x"}, "labels.node.kubernetes.io/role", "kubernetes.io"},
		{map[string]string{"cluster.open-cluster-management.io/clusterset": "x"}, "labels.cluster.open-cluster-management.io/clusterset", "open-cluster-management.io"},
		{map[string]string{"notkubernetes.io/x": "ok"}, "", ""},
		{map[string]string{"bad key!": "x"}, "labels.bad key!", "invalid label key"},
		{map[string]string{"env": "not valid!"}, "labels.env", "invalid label value"},
	} {
		err := m.checkLabels(context.Background(), tc.labels)
		var fe *FieldError
		switch {
		case tc.field == "" && err != nil:
			t.Errorf("%v: %v; want accepted", tc.labels, err)
		case tc.field != "" && (!errors.As(err, &fe) || fe.Field != tc.field || !strings.Contains(fe.Message, tc.says)):
			t.Errorf("%v: %v; want a FieldError on %s saying %q", tc.labels, err, tc.field, tc.says)
		}
	}
}

func TestStatusOf(t *testing.T) {
	cond := func(typ string, s metav1.ConditionStatus) metav1.Condition {
		return metav1.Condition{Type: typ, Status: s}
	}
	for _, tc := range []struct {
		name     string
		accepted bool
		conds    []metav1.Condition
		want     string
	}{
		{"new", false, nil, StatePending},
		{"accepted", true, nil, StateAccepted},
		{"joined", true, []metav1.Condition{cond(conditionJoined, metav1.ConditionTrue)}, StateJoined},
		{"available", true, []metav1.Condition{cond(conditionJoined, metav1.ConditionTrue), cond(conditionAvailable, metav1.ConditionTrue)}, StateAvailable},
		{"lost", true, []metav1.Condition{cond(conditionJoined, metav1.ConditionTrue), cond(conditionAvailable, metav1.ConditionFalse)}, StateUnavailable},
		{"unknown", true, []metav1.Condition{cond(conditionJoined, metav1.ConditionTrue), cond(conditionAvailable, metav1.ConditionUnknown)}, StateJoined},
	} {
		mc := &managedCluster{}
		mc.Metadata.Name = tc.name
		mc.Spec.HubAcceptsClient = tc.accepted
		mc.Status.Conditions = tc.conds
		if got := statusOf(mc); got.State != tc.want || len(got.Conditions) != len(tc.conds) || got.Labels == nil {
			t.Errorf("%s: %+v; want state %s", tc.name, got, tc.want)
		}
	}
}

// recorder collects published events.
type recorder struct {
	mu    sync.Mutex
	kinds []string
}

func (r *recorder) publish(kind, msg string, d map[string]any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.kinds = append(r.kinds, kind+":"+toString(d["step"])+":"+toString(d["step_state"]))
}

func toString(v any) string {
	s, _ := v.(string)
	return s
}

func TestOperations(t *testing.T) {
	rec := &recorder{}
	o := newOperations(1, rec.publish)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	release := make(chan struct{})
	first, started, err := o.start(ctx, "onboard", "c1", func(ctx context.Context, r *run) error {
		<-release
		if err := r.step("skip", func() error { return skipf("nothing to do") }); err != nil {
			return err
		}
		return r.step("work", func() error { return errors.New("broke") })
	})
	if err != nil || !started {
		t.Fatalf("start: %v %v", started, err)
	}
	// Same kind on the same cluster: the running operation.
	again, started, err := o.start(ctx, "onboard", "c1", nil)
	if err != nil || started || again.ID != first.ID {
		t.Fatalf("second onboard: %+v %v %v", again, started, err)
	}
	// Another kind on the same cluster: busy.
	var busy *ErrBusy
	if _, _, err := o.start(ctx, "detach", "c1", nil); !errors.As(err, &busy) || busy.Running.ID != first.ID {
		t.Fatalf("detach while onboarding: %v", err)
	}
	waitState(t, o, first.ID, OpRunning)
	// Another cluster waits for the one slot.
	second, _, _ := o.start(ctx, "onboard", "c2", func(context.Context, *run) error { return nil })
	time.Sleep(50 * time.Millisecond)
	if op, _ := o.get(second.ID); op.State != OpQueued {
		t.Fatalf("second cluster state %s; want queued while the slot is taken", op.State)
	}
	close(release)
	o.wait()
	op, _ := o.get(first.ID)
	if op.State != OpFailed || op.Error != "work: broke" || len(op.Steps) != 2 || op.Steps[0].State != StepSkipped || op.Steps[1].State != StepFailed {
		t.Fatalf("first operation: %+v", op)
	}
	if op, _ := o.get(second.ID); op.State != OpSucceeded {
		t.Fatalf("second operation: %+v", op)
	}
	if _, ok := o.running("c1"); ok {
		t.Error("c1 still has a running operation")
	}
	rec.mu.Lock()
	got := strings.Join(rec.kinds, " ")
	rec.mu.Unlock()
	for _, want := range []string{"operation.step:skip:skipped", "operation.step:work:failed", "operation.finished::"} {
		if !strings.Contains(got, want) {
			t.Errorf("events %s lack %s", got, want)
		}
	}
}

func TestOperationsKeepBounded(t *testing.T) {
	o := newOperations(2, nil)
	o.keep = 3
	for i := range 5 {
		if _, _, err := o.start(context.Background(), "onboard", "c"+string(rune('a'+i)), func(context.Context, *run) error { return nil }); err != nil {
			t.Fatal(err)
		}
		o.wait()
	}
	if n := len(o.list()); n != 3 {
		t.Errorf("kept %d operations; want 3", n)
	}
}

func TestOperationCancelledWhileQueued(t *testing.T) {
	o := newOperations(1, nil)
	block := make(chan struct{})
	defer close(block)
	ctx, cancel := context.WithCancel(context.Background())
	busy, _, _ := o.start(context.Background(), "onboard", "busy", func(context.Context, *run) error { <-block; return nil })
	waitState(t, o, busy.ID, OpRunning)
	queued, _, _ := o.start(ctx, "onboard", "waiting", func(context.Context, *run) error { return nil })
	cancel()
	deadline := time.Now().Add(5 * time.Second)
	for {
		op, _ := o.get(queued.ID)
		if op.State == OpFailed && strings.Contains(op.Error, "before it started") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("queued operation after cancel: %+v", op)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func waitState(t *testing.T, o *operations, id, state string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if op, _ := o.get(id); op.State == state {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("operation %s never %s", id, state)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
