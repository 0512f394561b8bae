package pgtest_test

import (
	"context"
	"testing"

	"github.com/gwanje/gwanje/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestFreshDatabasePerTest(t *testing.T) {
	ctx := context.Background()
	a := pgtest.Pool(t)
	b := pgtest.Pool(t)
	if _, err := a.Exec(ctx, "create table only_in_a (x int)"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := b.QueryRow(ctx, "select count(*) from pg_tables where tablename = 'only_in_a'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("databases are shared between tests")
	}
	// migrated
	if err := a.QueryRow(ctx, "select count(*) from installation").Scan(&n); err != nil || n != 1 {
		t.Fatalf("installation row: %d, %v", n, err)
	}
}
