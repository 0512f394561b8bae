// Package pgdb owns gwanje's PostgreSQL plumbing: the connection pool and the
// schema migrations. Each domain package owns a directory of SQL migrations
// under migrations/ with its own version table; Migrate applies them in the
// fixed order of Schemas under one advisory lock, so two processes migrating
// the same database at once take turns and the second finds nothing to do.
package pgdb

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/tern/v2/migrate"
)

//go:embed migrations
var migrations embed.FS

// Schemas lists the migration directories (under migrations/) in the order
// they are applied. A package that needs tables adds its directory here;
// directories later in the list may refer to tables of earlier ones.
var Schemas = []string{"core", "access", "devices", "audit", "stream", "health", "recording", "policy", "privacy"}

// migrateLock is the advisory lock key held while migrating ("gwanje" in hex).
const migrateLock = 0x6777616e6a65

// Config configures the pool. Zero values take the defaults documented on
// each field.
type Config struct {
	// URL is a PostgreSQL connection URL or DSN. Required.
	URL string
	// MaxConns bounds the pool. Default 20.
	MaxConns int32
	// ConnectTimeout bounds each connection attempt. Default 10s.
	ConnectTimeout time.Duration
}

// Open connects a pool and checks that the server answers.
func Open(ctx context.Context, cfg Config) (*pgxpool.Pool, error) {
	pc, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("pgdb: database URL: %w", err)
	}
	pc.MaxConns = 20
	if cfg.MaxConns > 0 {
		pc.MaxConns = cfg.MaxConns
	}
	pc.ConnConfig.ConnectTimeout = 10 * time.Second
	if cfg.ConnectTimeout > 0 {
		pc.ConnConfig.ConnectTimeout = cfg.ConnectTimeout
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("pgdb: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, pc.ConnConfig.ConnectTimeout)
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("pgdb: cannot reach the database: %w", err)
	}
	return pool, nil
}

// Migrate applies every pending migration of every schema in Schemas. It is
// idempotent, and safe to run from several processes at once.
func Migrate(ctx context.Context, url string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return fmt.Errorf("pgdb: migrate: connect: %w", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "select pg_advisory_lock($1)", int64(migrateLock)); err != nil {
		return fmt.Errorf("pgdb: migrate: lock: %w", err)
	}
	defer conn.Exec(context.Background(), "select pg_advisory_unlock($1)", int64(migrateLock))
	for _, name := range Schemas {
		sub, err := fs.Sub(migrations, "migrations/"+name)
		if err != nil {
			return fmt.Errorf("pgdb: migrate %s: %w", name, err)
		}
		m, err := migrate.NewMigrator(ctx, conn, "schema_version_"+name)
		if err != nil {
			return fmt.Errorf("pgdb: migrate %s: %w", name, err)
		}
		if err := m.LoadMigrations(sub); err != nil {
			return fmt.Errorf("pgdb: migrate %s: load: %w", name, err)
		}
		if err := m.Migrate(ctx); err != nil {
			return fmt.Errorf("pgdb: migrate %s: %w", name, err)
		}
	}
	return nil
}
