// Package pgtest runs throwaway PostgreSQL servers for tests: one server per
// test binary, started from TestMain, and a fresh database per test, so that
// tests run against the real thing yet stay isolated and fast.
//
// The server binaries are looked for in KSPLUGINS_PG_BIN, else in Debian's
// /usr/lib/postgresql/15/bin, else in the newest /usr/lib/postgresql/*/bin.
// Without them the tests that ask for a database are skipped, unless
// KSPLUGINS_REQUIRE_POSTGRES=1, when the test binary fails instead: `make
// test` sets it, so that a machine without PostgreSQL cannot pass by
// skipping.
//
// PostgreSQL refuses to run as root; when the tests do, the server runs as
// the "postgres" user that Debian's package creates.
package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Environment variables that steer the package.
const (
	// BinEnv names the folder holding initdb and postgres.
	BinEnv = "KSPLUGINS_PG_BIN"
	// RequireEnv, set to 1, turns missing binaries into a failure.
	RequireEnv = "KSPLUGINS_REQUIRE_POSTGRES"
)

// DefaultBin is where Debian's PostgreSQL 15 keeps its server binaries.
const DefaultBin = "/usr/lib/postgresql/15/bin"

// superuser is the role initdb creates; the server trusts every loopback
// connection, so it needs no password.
const superuser = "postgres"

// ErrNoBinaries is returned by Start when the server binaries are missing.
var ErrNoBinaries = errors.New("PostgreSQL server binaries not found")

// Server is a running throwaway server, listening on a loopback port, with
// its data in a temporary folder that Stop removes.
type Server struct {
	dir    string
	port   int
	cmd    *exec.Cmd
	exited chan struct{} // closed once the server process has ended
	admin  *pgxpool.Pool
	serial atomic.Int64 // numbers databases, for unique names
	// createOptions end CREATE DATABASE: copying the template's files is
	// twice as fast as PostgreSQL 15's default of logging them.
	createOptions string

	// unavailable, when set, is why there is no server: Database skips.
	unavailable error
}

// Main is the body of a TestMain for tests that use PostgreSQL. It starts a
// server, stores it in *srv, runs the tests and stops the server, and
// returns the exit code for os.Exit. When the binaries are missing and
// not required, *srv is a Server whose Database skips each test.
func Main(m *testing.M, srv **Server) int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	s, err := Start(ctx)
	cancel()
	switch {
	case errors.Is(err, ErrNoBinaries) && os.Getenv(RequireEnv) != "1":
		*srv = &Server{unavailable: fmt.Errorf("%w (set %s to their folder; %s=1 makes this a failure)", err, BinEnv, RequireEnv)}
		return m.Run()
	case err != nil:
		fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
		return 1
	}
	*srv = s
	code := m.Run()
	if err := s.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
		return max(code, 1)
	}
	return code
}

// binDir finds the folder holding the server binaries.
func binDir() (string, error) {
	if dir := os.Getenv(BinEnv); dir != "" {
		if !hasServer(dir) {
			return "", fmt.Errorf("%w in %s=%s", ErrNoBinaries, BinEnv, dir)
		}
		return dir, nil
	}
	if hasServer(DefaultBin) {
		return DefaultBin, nil
	}
	// Another Debian release packages another major version.
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	dirs = slices.DeleteFunc(dirs, func(d string) bool { return !hasServer(d) })
	if len(dirs) == 0 {
		return "", fmt.Errorf("%w in %s or /usr/lib/postgresql/*/bin", ErrNoBinaries, DefaultBin)
	}
	major := func(d string) int {
		n, _ := strconv.Atoi(filepath.Base(filepath.Dir(d)))
		return n
	}
	return slices.MaxFunc(dirs, func(a, b string) int { return major(a) - major(b) }), nil
}

func hasServer(dir string) bool {
	for _, name := range []string{"initdb", "postgres"} {
		if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.IsDir() {
			return false
		}
	}
	return true
}

// Start initializes a cluster in a temporary folder and starts a server on
// a free loopback port, returning once it accepts connections.
func Start(ctx context.Context) (*Server, error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	owner, err := serverUser()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "ksplugins-pg-")
	if err != nil {
		return nil, fmt.Errorf("start PostgreSQL: %w", err)
	}
	s, err := start(ctx, bin, dir, owner)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start PostgreSQL from %s: %w", bin, err)
	}
	return s, nil
}

// account is the user the server runs as; nil means the current one.
type account struct{ uid, gid int }

// serverUser is nil unless the tests run as root, which initdb and
// postgres refuse.
func serverUser() (*account, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup(superuser)
	if err != nil {
		return nil, fmt.Errorf("running as root, PostgreSQL needs a user to run as: %w", err)
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return nil, fmt.Errorf("uid of user %s: %w", superuser, err)
	}
	gid, err := strconv.Atoi(u.Gid)
	if err != nil {
		return nil, fmt.Errorf("gid of user %s: %w", superuser, err)
	}
	return &account{uid: uid, gid: gid}, nil
}

func start(ctx context.Context, bin, dir string, owner *account) (*Server, error) {
	if owner != nil {
		if err := os.Chown(dir, owner.uid, owner.gid); err != nil {
			return nil, err
		}
	}
	data := filepath.Join(dir, "data")
	// No fsync: the data is thrown away, and initdb is most of the start.
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "--pgdata", data,
		"--username", superuser, "--auth", "trust", "--encoding", "UTF8", "--locale", "C", "--no-sync")
	if err := runAs(initdb, owner); err != nil {
		return nil, err
	}
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}
	// A free port can be taken between finding it and the server binding
	// it; another port then does.
	var errs []error
	for range 3 {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		s := &Server{dir: dir, port: port}
		err = s.run(ctx, bin, data, owner)
		if err == nil {
			return s, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, errors.Join(errs...)
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// run starts the server process and waits until it answers.
func (s *Server) run(ctx context.Context, bin, data string, owner *account) error {
	logPath := filepath.Join(s.dir, fmt.Sprintf("server-%d.log", s.port))
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close() // the child holds its own descriptor
	// Not CommandContext: the server outlives ctx, which bounds only the
	// start. No unix socket: only the loopback port, and no path length
	// limit to meet. Durability is off for speed: the data is thrown away.
	cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", data,
		"-c", "listen_addresses=127.0.0.1", "-c", "port="+strconv.Itoa(s.port),
		"-c", "unix_socket_directories=",
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=200")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := runAs(cmd, owner); err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	s.cmd = cmd
	s.exited = make(chan struct{})
	go func() {
		cmd.Wait()
		close(s.exited)
	}()

	if err := s.awaitReady(ctx); err != nil {
		s.kill()
		log, _ := os.ReadFile(logPath)
		return fmt.Errorf("%w\nserver log:\n%s", err, bytes.TrimSpace(log))
	}
	admin, err := pgxpool.New(ctx, s.URL("postgres"))
	if err != nil {
		s.kill()
		return fmt.Errorf("connect to postgres: %w", err)
	}
	s.admin = admin
	var version int
	if err := admin.QueryRow(ctx, `SELECT current_setting('server_version_num')::integer`).Scan(&version); err != nil {
		admin.Close()
		s.kill()
		return fmt.Errorf("read the server version: %w", err)
	}
	if version >= 150000 {
		s.createOptions = " STRATEGY FILE_COPY"
	}
	return nil
}

// awaitReady polls until a connection succeeds, the server exits, or ctx
// ends.
func (s *Server) awaitReady(ctx context.Context) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		conn, err := pgx.Connect(ctx, s.URL("postgres"))
		if err == nil {
			return conn.Close(ctx)
		}
		select {
		case <-s.exited:
			return fmt.Errorf("postgres on port %d exited while starting: %v", s.port, s.cmd.ProcessState)
		case <-ctx.Done():
			return fmt.Errorf("postgres on port %d not ready: %w (last: %v)", s.port, ctx.Err(), err)
		case <-tick.C:
		}
	}
}

// kill ends the server at once and waits for it.
func (s *Server) kill() {
	s.cmd.Process.Kill()
	<-s.exited
}

// URL is the connection URL of a database on the server.
func (s *Server) URL(database string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User(superuser),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)),
		Path:     "/" + database,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// CreateDatabase creates an empty database and returns its URL.
func (s *Server) CreateDatabase(ctx context.Context, name string) (string, error) {
	if s.unavailable != nil {
		return "", s.unavailable
	}
	if _, err := s.admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+s.createOptions); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	return s.URL(name), nil
}

// DropDatabase drops a database, closing whatever connections it still has.
func (s *Server) DropDatabase(ctx context.Context, name string) error {
	if _, err := s.admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	return nil
}

// Database creates an empty database for t, dropped when t ends, and
// returns its URL. t is skipped when there is no server.
func (s *Server) Database(t testing.TB) string {
	t.Helper()
	if s.unavailable != nil {
		t.Skip(s.unavailable)
	}
	name := databaseName(s.serial.Add(1), t.Name())
	u, err := s.CreateDatabase(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// t.Context is already done in a cleanup.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.DropDatabase(ctx, name); err != nil {
			t.Error(err)
		}
	})
	return u
}

// databaseName is unique by its number, and carries as much of the test's
// name as fits PostgreSQL's 63 bytes, to tell databases apart in the log.
func databaseName(n int64, test string) string {
	name := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			return r
		case r >= 'A' && r <= 'Z':
			return r - 'A' + 'a'
		}
		return '_'
	}, test)
	name = fmt.Sprintf("t%d_%s", n, name)
	if len(name) > 63 {
		name = name[:63]
	}
	return name
}

// Stop shuts the server down and removes its folder.
func (s *Server) Stop() error {
	if s.cmd == nil {
		return nil
	}
	s.admin.Close()
	// SIGINT is PostgreSQL's fast shutdown: it ends the sessions still open
	// rather than waiting for them.
	if err := s.cmd.Process.Signal(os.Interrupt); err != nil {
		s.kill()
	}
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		s.kill()
	}
	if err := os.RemoveAll(s.dir); err != nil {
		return fmt.Errorf("remove PostgreSQL data: %w", err)
	}
	return nil
}
