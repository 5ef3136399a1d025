package main

import (
	"strings"
	"testing"
	"time"
)

func TestOptionsFrom(t *testing.T) {
	o, err := optionsFrom(map[string]interface{}{
		"its_context": "hub", "default_timeout_seconds": 30, "poll_interval_ms": float64(250),
		"auto_approve": false, "max_concurrent_operations": 2, "protected_label_keys": []interface{}{"owner"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if o.ITSContext != "hub" || o.Timeout != 30*time.Second || o.PollInterval != 250*time.Millisecond ||
		!o.DisableAutoApprove || o.MaxConcurrent != 2 || len(o.ProtectedLabelKeys) != 1 {
		t.Errorf("options: %+v", o)
	}
	for _, tc := range []struct {
		config map[string]interface{}
		key    string
	}{
		{map[string]interface{}{"its_context": 1}, "its_context"},
		{map[string]interface{}{"default_timeout_seconds": "ten"}, "default_timeout_seconds"},
		{map[string]interface{}{"auto_approve": "yes"}, "auto_approve"},
		{map[string]interface{}{"protected_label_keys": []interface{}{"ok", 3}}, "protected_label_keys[1]"},
		{map[string]interface{}{"protected_label_keys": "owner"}, "protected_label_keys"},
	} {
		if _, err := optionsFrom(tc.config); err == nil || !strings.Contains(err.Error(), "configuration "+tc.key+":") {
			t.Errorf("%v: %v; want an error naming %s", tc.config, err, tc.key)
		}
	}
}
