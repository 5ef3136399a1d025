package api

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/kubestellar/ksplugins/internal/config"
)

// TestWireConversions: the wire types encode exactly as the server's own
// types did, and the configuration survives the round trip, so moving to
// the wire types changed no JSON.
func TestWireConversions(t *testing.T) {
	full := config.DefaultSystem()
	full.GrantedPermissions = []string{"network"}
	full.TrustedKeys = []string{"ed25519:AAAA"}
	full.RepositoryToken = "secret"
	full.EndpointAuth = "required"
	full.JWT = &config.JWTConfig{JWKSURL: "https://idp.example/jwks", Issuer: "i", Audience: "a", RoleClaim: "r", HS256SecretFile: "f", RS256PublicKeyFile: "g", JWKSFile: "h", OIDCIssuer: "o"}
	tests := []struct {
		name      string
		own, wire any
	}{
		{"default configuration", config.DefaultSystem(), systemToWire(config.DefaultSystem())},
		{"full configuration", full, systemToWire(full)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			own, err := json.Marshal(tt.own)
			if err != nil {
				t.Fatal(err)
			}
			wire, err := json.Marshal(tt.wire)
			if err != nil {
				t.Fatal(err)
			}
			if string(own) != string(wire) {
				t.Errorf("wire JSON differs:\n%s\nwant\n%s", wire, own)
			}
		})
	}
	if back := systemFromWire(systemToWire(full)); !reflect.DeepEqual(back, full) {
		t.Errorf("round trip: %+v, want %+v", back, full)
	}
}
