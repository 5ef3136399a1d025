package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"os"
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

// TestOpenStore: no database URL opens the SQLite file in the data folder,
// a postgres:// or postgresql:// URL selects PostgreSQL (here one where
// nothing listens, so its error shows which store was tried), and any
// other value is refused by the variable's name. No error shows a
// password.
func TestOpenStore(t *testing.T) {
	const password = "s3cret"
	tests := []struct {
		name    string
		url     string
		wantErr string
	}{
		{"default", "", ""},
		{"postgres", "postgres://ks:" + password + "@127.0.0.1:1/ks?connect_timeout=2", "open store postgres://ks:xxxxx@127.0.0.1:1/ks"},
		{"postgresql", "postgresql://ks:" + password + "@127.0.0.1:1/ks?connect_timeout=2", "open store postgresql://ks:xxxxx@127.0.0.1:1/ks"},
		{"other scheme", "mysql://ks:" + password + "@127.0.0.1/ks", "KSPLUGINS_DATABASE_URL: want a postgres:// or postgresql:// URL"},
		{"a path", "/var/lib/ksplugins/" + password + ".db", "KSPLUGINS_DATABASE_URL: want a postgres:// or postgresql:// URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := config.FromEnv()
			s.DataDir, s.DatabaseURL = t.TempDir(), tt.url
			db, err := openStore(t.Context(), s, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("openStore: %v", err)
				}
				defer db.Close()
				if _, ok := db.(*sqlite.DB); !ok {
					t.Errorf("openStore returned a %T, want the SQLite store", db)
				}
				if _, err := os.Stat(filepath.Join(s.DataDir, "ksplugins.db")); err != nil {
					t.Errorf("no SQLite file in the data folder: %v", err)
				}
				return
			}
			if err == nil {
				db.Close()
				t.Fatalf("openStore succeeded, want an error saying %q", tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("openStore: err = %q, want it to say %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), password) {
				t.Errorf("openStore error shows the password: %q", err)
			}
		})
	}
}
