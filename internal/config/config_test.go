package config

import (
	"strings"
	"testing"

	"github.com/kubestellar/ksplugins/sdk"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mod    func(*System)
		fields []string
	}{
		{"defaults", func(*System) {}, nil},
		{"mode", func(s *System) { s.SecurityMode = "lax" }, []string{"security_mode"}},
		{"repo glob", func(s *System) {
			s.AllowedRepos = []string{"github.com/kubestellar/*", "kubestellar", "github.com/a/[b"}
		}, []string{"allowed_repos[1]", "allowed_repos[2]"}},
		{"size", func(s *System) { s.MaxPluginSize = 10 }, []string{"max_plugin_size"}},
		{"interval", func(s *System) { s.Health.IntervalSeconds = 0 }, []string{"health.interval_seconds"}},
		{"timeout not below interval", func(s *System) { s.Health.TimeoutSeconds = 30 }, []string{"health.timeout_seconds"}},
		{"threshold", func(s *System) { s.Health.FailureThreshold = 0 }, []string{"health.failure_threshold"}},
		{"base URL", func(s *System) { s.RepositoryBaseURL = "ssh://git@github.com" }, []string{"repository_base_url"}},
		{"base URL with credentials", func(s *System) { s.RepositoryBaseURL = "https://u:p@github.com" }, []string{"repository_base_url"}},
		{"token with an https base", func(s *System) { s.RepositoryToken = "t" }, nil},
		{"token with a loopback http base", func(s *System) {
			s.RepositoryToken, s.RepositoryBaseURL = "t", "http://127.0.0.1:8080"
		}, nil},
		{"token with a plain http base", func(s *System) {
			s.RepositoryToken, s.RepositoryBaseURL = "t", "http://git.example.com"
		}, []string{"repository_token"}},
		{"plain http base without a token", func(s *System) { s.RepositoryBaseURL = "http://git.example.com" }, nil},
		{"log rate", func(s *System) { s.PluginLogs.LinesPerSecond = 0 }, []string{"plugin_logs.lines_per_second"}},
		{"log burst and line", func(s *System) { s.PluginLogs.Burst, s.PluginLogs.MaxLineBytes = -1, 10 }, []string{"plugin_logs.burst", "plugin_logs.max_line_bytes"}},
		{"trusted key", func(s *System) {
			s.TrustedKeys = []string{"ed25519:" + strings.Repeat("A", 43) + "=", "ed25519:short"}
		}, []string{"trusted_keys[1]"}},
		{"cache size", func(s *System) { s.MaxCacheBytes = 1 }, []string{"max_cache_bytes"}},
		{"jwt jwks_url", func(s *System) { s.JWT = &JWTConfig{JWKSURL: "https://login.example/keys"} }, nil},
		{"jwt jwks_url over plain http", func(s *System) { s.JWT = &JWTConfig{JWKSURL: "http://login.example/keys"} }, []string{"jwt.jwks_url"}},
		{"jwt oidc_issuer on loopback", func(s *System) { s.JWT = &JWTConfig{OIDCIssuer: "http://127.0.0.1:5556"} }, nil},
		{"jwt oidc_issuer not a URL", func(s *System) { s.JWT = &JWTConfig{OIDCIssuer: "login.example"} }, []string{"jwt.oidc_issuer"}},
		{"jwt issuer differs from oidc_issuer", func(s *System) {
			s.JWT = &JWTConfig{OIDCIssuer: "https://login.example", Issuer: "https://other.example"}
		}, []string{"jwt.issuer"}},
		{"jwt two key sources", func(s *System) {
			s.JWT = &JWTConfig{JWKSFile: "keys.json", JWKSURL: "https://login.example/keys"}
		}, []string{"jwt"}},
		{"kubernetes", func(s *System) {
			s.Kubernetes.AllowedContexts = []string{"its1", "", "its1"}
			s.Kubernetes.Granted = map[string]*sdk.KubernetesAccess{
				"cm":     {Contexts: []string{"its1"}, Rules: []sdk.KubernetesRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "escalate"}}}},
				"Bad_Id": {},
				"empty":  nil,
			}
		}, []string{"kubernetes.allowed_contexts[1]", "kubernetes.allowed_contexts[2]", "kubernetes.granted.Bad_Id", "kubernetes.granted.cm.rules[0].verbs[1]"}},
		{"kubernetes granted", func(s *System) {
			s.Kubernetes.AllowedContexts = []string{"its1", "wds1"}
			s.Kubernetes.Granted = map[string]*sdk.KubernetesAccess{"cm": {Contexts: []string{"its1"}, ExternalClusters: true,
				Rules: []sdk.KubernetesRule{{APIGroups: []string{"*"}, Resources: []string{"managedclusters/status"}, Verbs: []string{"*"}}}}}
		}, nil},
		{"impersonate", func(s *System) { s.Kubernetes.Impersonate = []string{"its1", "*", "kind-wec 1", ""} },
			[]string{"kubernetes.impersonate[3]"}},
		{"several", func(s *System) { s.SecurityMode = ""; s.MaxPluginSize = 0 }, []string{"security_mode", "max_plugin_size"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := DefaultSystem()
			tt.mod(&s)
			var got []string
			for _, p := range Validate(s) {
				got = append(got, p.Field)
			}
			if strings.Join(got, ",") != strings.Join(tt.fields, ",") {
				t.Fatalf("problems at %v; want %v", got, tt.fields)
			}
		})
	}
}

func TestFromEnv(t *testing.T) {
	t.Setenv("PLUGIN_SECURITY_MODE", "strict")
	t.Setenv("PLUGIN_DEBUG", "true")
	t.Setenv("KSPLUGINS_ADDR", "127.0.0.1:9999")
	t.Setenv("PLUGIN_DIR", "")
	t.Setenv("KSPLUGINS_DATABASE_URL", "postgres://db/ks")
	s := FromEnv()
	if s.System.SecurityMode != "strict" || !s.System.Debug || s.Addr != "127.0.0.1:9999" || s.PluginDir != "./dynamic_plugins/cache" ||
		s.DatabaseURL != "postgres://db/ks" {
		t.Fatalf("FromEnv = %+v", s)
	}
}

func TestRedact(t *testing.T) {
	s := DefaultSystem()
	if Redact(s).RepositoryToken != "" {
		t.Fatal("an unset token must stay empty")
	}
	s.RepositoryToken = "ghp_secret"
	if r := Redact(s); r.RepositoryToken != Redacted || s.RepositoryToken != "ghp_secret" {
		t.Fatalf("Redact: %q (original %q)", r.RepositoryToken, s.RepositoryToken)
	}
}
