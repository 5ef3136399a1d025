package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/kubestellar/ksplugins/plugins/cluster-manager/clusters"
)

// optionsFrom reads the plugin's configuration (plugin.yaml's defaults with
// the operator's changes on top). A value of the wrong type is an error
// naming the key, so a typo does not silently become a default.
func optionsFrom(config map[string]interface{}) (clusters.Options, error) {
	var (
		o    clusters.Options
		errs []error
	)
	str := func(key string, dst *string) {
		switch v := config[key].(type) {
		case nil:
		case string:
			*dst = v
		default:
			errs = append(errs, fmt.Errorf("configuration %s: want a string, got %T", key, v))
		}
	}
	num := func(key string) float64 {
		switch v := config[key].(type) {
		case nil:
		case int:
			return float64(v)
		case int64:
			return float64(v)
		case float64:
			return v
		default:
			errs = append(errs, fmt.Errorf("configuration %s: want a number, got %T", key, v))
		}
		return 0
	}
	str("its_context", &o.ITSContext)
	str("wds_context", &o.WDSContext)
	str("hub_apiserver", &o.HubAPIServer)
	str("image_registry", &o.ImageRegistry)
	str("image_tag", &o.ImageTag)
	o.Timeout = time.Duration(num("default_timeout_seconds") * float64(time.Second))
	o.PollInterval = time.Duration(num("poll_interval_ms") * float64(time.Millisecond))
	o.TokenTTL = time.Duration(num("token_ttl_seconds") * float64(time.Second))
	o.MaxConcurrent = int(num("max_concurrent_operations"))
	switch v := config["auto_approve"].(type) {
	case nil:
	case bool:
		o.DisableAutoApprove = !v
	default:
		errs = append(errs, fmt.Errorf("configuration auto_approve: want true or false, got %T", v))
	}
	switch v := config["protected_label_keys"].(type) {
	case nil:
	case []interface{}:
		for i, k := range v {
			s, ok := k.(string)
			if !ok {
				errs = append(errs, fmt.Errorf("configuration protected_label_keys[%d]: want a string, got %T", i, k))
				continue
			}
			o.ProtectedLabelKeys = append(o.ProtectedLabelKeys, s)
		}
	case []string:
		o.ProtectedLabelKeys = v
	default:
		errs = append(errs, fmt.Errorf("configuration protected_label_keys: want a list of strings, got %T", v))
	}
	return o, errors.Join(errs...)
}
