package pgdb_test

import (
	"context"
	"sync"
	"testing"

	"github.com/gwanje/gwanje/internal/pgdb"
	"github.com/gwanje/gwanje/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// schemaFingerprint summarises every column of every table.
func schemaFingerprint(t *testing.T, url string) string {
	t.Helper()
	pool, err := pgdb.Open(context.Background(), pgdb.Config{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var fp string
	err = pool.QueryRow(context.Background(), `
		select coalesce(string_agg(table_name || '.' || column_name || ':' || data_type, ',' order by table_name, column_name), '')
		from information_schema.columns where table_schema = 'public'`).Scan(&fp)
	if err != nil {
		t.Fatal(err)
	}
	return fp
}

func TestMigrateTwiceChangesNothing(t *testing.T) {
	url := pgtest.URL(t) // already migrated once
	before := schemaFingerprint(t, url)
	if err := pgdb.Migrate(context.Background(), url); err != nil {
		t.Fatal(err)
	}
	if after := schemaFingerprint(t, url); after != before {
		t.Fatalf("second migration changed the schema:\n%s\n%s", before, after)
	}
}

func TestConcurrentMigrationsTakeTurns(t *testing.T) {
	// A database that nothing has migrated yet.
	admin := pgtest.URL(t)
	pool, err := pgdb.Open(context.Background(), pgdb.Config{URL: admin})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := pool.Exec(context.Background(), "create database fresh_concurrent"); err != nil {
		t.Fatal(err)
	}
	url := replaceDB(admin, "fresh_concurrent")
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = pgdb.Migrate(context.Background(), url) }()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("migrator %d: %v", i, err)
		}
	}
	if got, want := schemaFingerprint(t, url), schemaFingerprint(t, admin); got != want {
		t.Fatalf("concurrently migrated schema differs from the template's")
	}
	for _, name := range pgdb.Schemas {
		var v int
		p2, _ := pgdb.Open(context.Background(), pgdb.Config{URL: url})
		err := p2.QueryRow(context.Background(), "select version from schema_version_"+name).Scan(&v)
		p2.Close()
		if err != nil || v < 1 {
			t.Fatalf("schema %s at version %d: %v", name, v, err)
		}
	}
}

func replaceDB(url, db string) string {
	// pgtest URLs are postgres://…/<db>?host=…
	i := len("postgres://")
	for j := i; j < len(url); j++ {
		if url[j] == '/' {
			k := j + 1
			for k < len(url) && url[k] != '?' {
				k++
			}
			return url[:j+1] + db + url[k:]
		}
	}
	return url
}
