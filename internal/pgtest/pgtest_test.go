package pgtest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

var server *Server

func TestMain(m *testing.M) {
	os.Exit(Main(m, &server))
}

func TestDatabasesAreIsolated(t *testing.T) {
	a, b := server.Database(t), server.Database(t)
	if a == b {
		t.Fatalf("two databases share the URL %s", a)
	}
	ctx := t.Context()
	connA, err := pgx.Connect(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	defer connA.Close(context.Background())
	if _, err := connA.Exec(ctx, `CREATE TABLE only_in_a (n integer)`); err != nil {
		t.Fatal(err)
	}
	connB, err := pgx.Connect(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	defer connB.Close(context.Background())
	var found bool
	if err := connB.QueryRow(ctx, `SELECT to_regclass('only_in_a') IS NOT NULL`).Scan(&found); err != nil || found {
		t.Errorf("table made in one database found in the other: %v, %v", found, err)
	}
}

// TestDatabaseDropped: a test's database is gone once the test ends, even
// with a connection left open.
func TestDatabaseDropped(t *testing.T) {
	var name string
	var left *pgx.Conn
	t.Run("user", func(t *testing.T) {
		u := server.Database(t)
		cfg, err := pgx.ParseConfig(u)
		if err != nil {
			t.Fatal(err)
		}
		name = cfg.Database
		if left, err = pgx.Connect(t.Context(), u); err != nil {
			t.Fatal(err)
		}
	})
	defer left.Close(context.Background())
	var exists bool
	if err := server.admin.QueryRow(t.Context(), `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).
		Scan(&exists); err != nil || exists {
		t.Errorf("database %s exists after its test = %v, %v", name, exists, err)
	}
}

func TestDatabaseName(t *testing.T) {
	tests := []struct {
		n    int64
		test string
		want string
	}{
		{1, "TestX", "t1_testx"},
		{12, "TestConformance/Audit-Limit #01", "t12_testconformance_audit_limit__01"},
		{3, "Tést", "t3_t_st"},
		{4, strings.Repeat("a", 100), "t4_" + strings.Repeat("a", 60)},
	}
	for _, tt := range tests {
		got := databaseName(tt.n, tt.test)
		if got != tt.want {
			t.Errorf("databaseName(%d, %q) = %q, want %q", tt.n, tt.test, got, tt.want)
		}
		if len(got) > 63 {
			t.Errorf("databaseName(%d, %q) is %d bytes, over PostgreSQL's 63", tt.n, tt.test, len(got))
		}
	}
}

func TestMissingBinaries(t *testing.T) {
	t.Setenv(BinEnv, t.TempDir())
	if s, err := Start(t.Context()); !errors.Is(err, ErrNoBinaries) || !strings.Contains(err.Error(), BinEnv) {
		if s != nil {
			s.Stop()
		}
		t.Errorf("Start with an empty %s: err = %v, want ErrNoBinaries naming the variable", BinEnv, err)
	}
	t.Setenv(BinEnv, filepath.Join(t.TempDir(), "absent"))
	if _, err := binDir(); !errors.Is(err, ErrNoBinaries) {
		t.Errorf("binDir with an absent folder: err = %v, want ErrNoBinaries", err)
	}
}
