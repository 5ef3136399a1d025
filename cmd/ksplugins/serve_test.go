package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubestellar/ksplugins/internal/api"
	"github.com/kubestellar/ksplugins/internal/config"
	"github.com/kubestellar/ksplugins/internal/store/sqlite"
)

// TestStoredSystem: a saved configuration wins over the defaults; one that
// breaks a rule refuses the start, except a repository token whose base URL
// it may no longer travel to, which is dropped so the server still starts.
func TestStoredSystem(t *testing.T) {
	tests := []struct {
		name    string
		change  func(*config.System)
		wantErr string
		check   func(config.System) bool
	}{
		{"valid", func(s *config.System) { s.SecurityMode = "strict" }, "", func(s config.System) bool { return s.SecurityMode == "strict" }},
		{"token over plain http", func(s *config.System) {
			s.RepositoryBaseURL, s.RepositoryToken = "http://git.example.com", "secret"
		}, "", func(s config.System) bool {
			return s.RepositoryToken == "" && s.RepositoryBaseURL == "http://git.example.com"
		}},
		{"invalid", func(s *config.System) { s.SecurityMode = "lax" }, "stored configuration is invalid", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "db"))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			saved := config.DefaultSystem()
			tt.change(&saved)
			data, _ := json.Marshal(saved)
			if err := db.PutSetting(t.Context(), api.SystemSetting, data); err != nil {
				t.Fatal(err)
			}
			sys := config.DefaultSystem()
			err = storedSystem(t.Context(), db, &sys, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !tt.check(sys) {
				t.Fatalf("got %v, %+v", err, sys)
			}
		})
	}
}
