package operation

import (
	"context"
	"errors"
	"fmt"
	"testing"

	apiv1 "github.com/kubestellar/ksplugins/api/v1"

	"github.com/kubestellar/ksplugins/internal/events"
)

// recorder keeps the events an operation publishes.
type recorder struct{ got []events.Event }

func (r *recorder) publish(_ context.Context, e events.Event) { r.got = append(r.got, e) }

func TestStepRecordsAndPublishes(t *testing.T) {
	cases := []struct {
		name        string
		err         error
		wantState   string
		wantMessage string
	}{
		{name: "done", wantState: "done", wantMessage: "from the folder"},
		{name: "failed", err: errors.New("no such folder"), wantState: "failed", wantMessage: "no such folder"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var r Registry
			var rec recorder
			op := r.Start("install", "/src", "", rec.publish)
			done := op.Step(context.Background(), apiv1.StepFetching, "from the folder")
			if o, _, _ := r.Operation(op.ID()); len(o.Steps) != 1 || o.Steps[0].State != "running" || o.Steps[0].FinishedAt != nil {
				t.Fatalf("while running: %+v", o.Steps)
			}
			op.SetPlugin("hello")
			done(c.err)
			o, _, ok := r.Operation(op.ID())
			if !ok || len(o.Steps) != 1 {
				t.Fatalf("operation %v: %+v", ok, o)
			}
			if s := o.Steps[0]; s.Name != apiv1.StepFetching || s.State != c.wantState || s.Message != c.wantMessage || s.FinishedAt == nil {
				t.Fatalf("step %+v; want %s with %q", s, c.wantState, c.wantMessage)
			}
			if len(rec.got) != 2 {
				t.Fatalf("published %d events; want 2", len(rec.got))
			}
			// The first event went out before the plugin was known, the
			// last after.
			for i, want := range []struct{ plugin, state, message string }{{"", "running", "from the folder"}, {"hello", c.wantState, c.wantMessage}} {
				e := rec.got[i]
				if e.Type != events.Progress || e.PluginID != want.plugin || e.Details["operation_id"] != op.ID() ||
					e.Details["kind"] != "install" || e.Details["step"] != apiv1.StepFetching || e.Details["state"] != want.state || e.Details["message"] != want.message {
					t.Fatalf("event %d: %+v; want %+v", i, e, want)
				}
			}
		})
	}
}

func TestFinish(t *testing.T) {
	cases := []struct {
		name   string
		result *apiv1.Plugin
		err    error
		want   apiv1.OpState
	}{
		{name: "succeeded", result: &apiv1.Plugin{ID: "hello"}, want: apiv1.OpSucceeded},
		{name: "failed", err: errors.New("build failed"), want: apiv1.OpFailed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var r Registry
			op := r.Start("update", "repo@v2", "hello", func(context.Context, events.Event) {})
			if o, _, _ := r.Operation(op.ID()); o.State != apiv1.OpRunning || o.Kind != "update" || o.Source != "repo@v2" || o.PluginID != "hello" {
				t.Fatalf("started: %+v", o)
			}
			op.Warn("one", "two")
			op.Finish(c.result, c.err)
			o, failure, _ := r.Operation(op.ID())
			if o.State != c.want || o.Result != c.result || failure != c.err || o.FinishedAt == nil || len(o.Warnings) != 2 {
				t.Fatalf("finished: %+v; want %s", o, c.want)
			}
		})
	}
}

func TestOperationIsACopy(t *testing.T) {
	var r Registry
	op := r.Start("install", "/src", "", func(context.Context, events.Event) {})
	op.Step(context.Background(), apiv1.StepFetching, "")(nil)
	op.Warn("careful")
	o, _, _ := r.Operation(op.ID())
	o.Steps[0].State, o.Warnings[0] = "changed", "changed"
	again, _, _ := r.Operation(op.ID())
	if again.Steps[0].State != "done" || again.Warnings[0] != "careful" {
		t.Fatalf("a caller's copy changed the record: %+v", again)
	}
}

func TestRegistryForgetsTheOldest(t *testing.T) {
	var r Registry
	var ids []string
	for i := range maxKept + 3 {
		ids = append(ids, r.Start("install", fmt.Sprint(i), "", func(context.Context, events.Event) {}).ID())
	}
	for i, id := range ids {
		_, _, ok := r.Operation(id)
		if want := i >= 3; ok != want {
			t.Fatalf("operation %d kept = %v; want %v", i, ok, want)
		}
	}
	if _, _, ok := r.Operation("op-unknown"); ok {
		t.Fatal("an unknown id was found")
	}
}
