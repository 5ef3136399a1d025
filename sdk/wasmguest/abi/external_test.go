package abi

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/kubestellar/ksplugins/sdk"
	"github.com/kubestellar/ksplugins/sdk/kubeconfig"
)

// TestExternalErrorRoundTrip: an error of External, described by the host
// and rebuilt by the guest across JSON, reads the same and matches the
// same sentinels and types with the same fields.
func TestExternalErrorRoundTrip(t *testing.T) {
	parse := func(doc, context string) error {
		cfg, err := kubeconfig.Parse([]byte(doc))
		if err == nil {
			_, err = cfg.Context(context)
		}
		if err == nil {
			t.Fatalf("%q parsed", doc)
		}
		return fmt.Errorf("read the kubeconfig: %w", err)
	}
	const withExec = `{users: [{name: x, user: {exec: {command: sh}}}]}`
	const withContext = `{clusters: [{name: c, cluster: {server: "https://a"}}], contexts: [{name: c, context: {cluster: c}}]}`
	tests := []struct {
		name string
		err  error
		kind string
	}{
		{"not granted", sdk.ErrExternalNotGranted, ExternalNotGranted},
		{"refused", parse(withExec, ""), ExternalRefused},
		{"invalid", parse("{", ""), ExternalInvalid},
		{"no current context", parse(withContext, ""), ExternalInvalid},
		{"no such context", parse(withContext, "d"), ExternalNoContext},
		{"other", errors.New("reach context c: the plugin instance has stopped"), ExternalOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(ExternalResult{Error: NewExternalError(tt.err)})
			if err != nil {
				t.Fatal(err)
			}
			var res ExternalResult
			if err := json.Unmarshal(b, &res); err != nil || res.Error == nil {
				t.Fatalf("decode %s: %v", b, err)
			}
			if res.Error.Kind != tt.kind {
				t.Errorf("kind %q; want %q", res.Error.Kind, tt.kind)
			}
			got := res.Error.Err()
			if got.Error() != tt.err.Error() {
				t.Errorf("message %q; want %q", got, tt.err)
			}
			for _, sentinel := range []error{sdk.ErrExternalNotGranted, kubeconfig.ErrNoContext} {
				if errors.Is(got, sentinel) != errors.Is(tt.err, sentinel) {
					t.Errorf("errors.Is(%v) differs", sentinel)
				}
			}
			if tt.err == sdk.ErrExternalNotGranted && got != sdk.ErrExternalNotGranted {
				t.Errorf("not the sentinel itself: %#v", got)
			}
			var r1, r2 *kubeconfig.RefusedError
			if errors.As(got, &r1) != errors.As(tt.err, &r2) || (r1 != nil && *r1 != *r2) {
				t.Errorf("RefusedError %+v; want %+v", r1, r2)
			}
			var i1, i2 *kubeconfig.InvalidError
			if errors.As(got, &i1) != errors.As(tt.err, &i2) || (i1 != nil && *i1 != *i2) {
				t.Errorf("InvalidError %+v; want %+v", i1, i2)
			}
		})
	}
}
