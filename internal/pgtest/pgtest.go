// Package pgtest gives tests a real PostgreSQL: one server per test binary,
// started from the local server binaries by the same code gwanjed uses for its
// embedded default, and a fresh, fully migrated database per test (cloned
// from a template, so it costs milliseconds). GWANJE_TEST_DATABASE_URL points
// the tests at an existing server instead; its user must be allowed to
// create databases.
//
// A package that uses it calls Main from TestMain:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
// When no server binaries are found the tests fail with a message that says
// what to install; they never skip.
package pgtest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gwanje/gwanje/internal/pgdb"
	"github.com/gwanje/gwanje/internal/pglocal"
)

const template = "gwanje_template"

var (
	once      sync.Once
	startErr  error
	server    *pglocal.Server
	adminURL  string // URL of the maintenance database on the server
	tmpRoot   string
	dbCounter atomic.Int64
)

// Main runs the tests of a package and stops the server afterwards.
func Main(m *testing.M) {
	code := m.Run()
	if server != nil {
		server.Close()
	}
	if tmpRoot != "" {
		os.RemoveAll(tmpRoot)
	}
	os.Exit(code)
}

// Server returns the test binary's PostgreSQL server, starting it on first
// use, or nil when GWANJE_TEST_DATABASE_URL names an external one.
func Server(t testing.TB) *pglocal.Server {
	t.Helper()
	start(t)
	return server
}

func start(t testing.TB) {
	t.Helper()
	once.Do(func() { startErr = boot() })
	if startErr != nil {
		t.Fatalf("pgtest: %v", startErr)
	}
}

func boot() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if u := os.Getenv("GWANJE_TEST_DATABASE_URL"); u != "" {
		adminURL = u
	} else {
		// t.TempDir's parent is not readable by the postgres OS user; a
		// directory directly under the system temp dir is.
		dir, err := os.MkdirTemp("", "gwanje-pgtest-")
		if err != nil {
			return err
		}
		tmpRoot = dir
		if err := os.Chmod(dir, 0o711); err != nil {
			return err
		}
		s, err := pglocal.Start(ctx, pglocal.Config{
			DataDir: filepath.Join(dir, "pg"),
			Fast:    true,
			Settings: map[string]string{
				"max_connections": "300",
				"shared_buffers":  "64MB",
			},
		})
		if err != nil {
			return fmt.Errorf("%w (set GWANJE_TEST_DATABASE_URL to use an existing server)", err)
		}
		server = s
		adminURL = s.URL("postgres")
	}
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("connect %s: %w", redact(adminURL), err)
	}
	defer conn.Close(ctx)
	// A test binary builds its own template (named per process, so that
	// several test binaries sharing an external server do not collide).
	tmpl := templateName()
	if _, err := conn.Exec(ctx, "drop database if exists "+tmpl); err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, "create database "+tmpl); err != nil {
		return fmt.Errorf("create template database: %w", err)
	}
	if err := pgdb.Migrate(ctx, withDB(adminURL, tmpl)); err != nil {
		return fmt.Errorf("migrate template: %w", err)
	}
	return nil
}

func templateName() string { return fmt.Sprintf("%s_%d", template, os.Getpid()) }

// URL creates a fresh, migrated database for this test and returns its
// connection URL (as a superuser). The database is dropped when the test ends.
func URL(t testing.TB) string {
	t.Helper()
	start(t)
	name := fmt.Sprintf("t_%d_%d", os.Getpid(), dbCounter.Add(1))
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, fmt.Sprintf("create database %s template %s", name, templateName())); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		if server != nil {
			select {
			case <-server.Done():
				return // the test stopped the server on purpose
			default:
			}
		}
		c, err := pgx.Connect(ctx, adminURL)
		if err != nil {
			return
		}
		defer c.Close(ctx)
		_, _ = c.Exec(ctx, fmt.Sprintf("drop database if exists %s with (force)", name))
	})
	return withDB(adminURL, name)
}

// Pool returns a pool on a fresh, migrated database for this test. It is
// closed when the test ends.
func Pool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	u := URL(t)
	pool, err := pgdb.Open(context.Background(), pgdb.Config{URL: u})
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func withDB(u, db string) string {
	p, err := url.Parse(u)
	if err != nil || p.Scheme == "" {
		// key=value DSN
		return u + " dbname=" + db
	}
	p.Path = "/" + db
	return p.String()
}

func redact(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	return strings.ReplaceAll(p.Redacted(), "%", "")
}

// PrivateServer starts a PostgreSQL server of the test's own, for tests
// that stop, kill or restart it, and returns it with the URL of a migrated
// database on it. The server is stopped when the test ends.
func PrivateServer(t testing.TB) (*pglocal.Server, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "gwanje-pgprivate-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o711)
	t.Cleanup(func() { os.RemoveAll(dir) })
	s, err := pglocal.Start(ctx, pglocal.Config{DataDir: filepath.Join(dir, "pg"), Fast: true})
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	if err := pgdb.Migrate(ctx, s.URL("postgres")); err != nil {
		t.Fatalf("pgtest: migrate: %v", err)
	}
	return s, s.URL("postgres")
}
