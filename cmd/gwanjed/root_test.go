package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gwanje/gwanje/internal/pglocal"
)

// TestFirstStartInPrivateHome is issue 14 finding 10: gwanjed started (as
// root, as the tests run here) with its data dir in a checkout under a
// 0700 home comes up without anyone changing permissions: the embedded
// PostgreSQL's cluster lives where its OS user can reach it, the log says
// where, and the next start finds the same data.
func TestFirstStartInPrivateHome(t *testing.T) {
	gwanjedBinary(t)
	home, err := os.MkdirTemp("", "gwanjed-home-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(home)
	if err := os.Chmod(home, 0o700); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(home, "gwanje", "data")
	p, err := start(t, dir)
	if err != nil {
		t.Fatalf("first start in a 0700 home: %v", err)
	}
	id := instanceID(t, p, dir)
	cluster := filepath.Join(dir, "postgres")
	if os.Geteuid() == 0 {
		rec, err := os.ReadFile(filepath.Join(dir, "postgres.location"))
		if err != nil {
			t.Fatalf("running as root under a 0700 home, the cluster's place is not recorded: %v", err)
		}
		cluster = strings.TrimSpace(string(rec))
		if !strings.HasPrefix(cluster, pglocal.DefaultPlaceDir+"/") {
			t.Fatalf("cluster at %s, want it under %s", cluster, pglocal.DefaultPlaceDir)
		}
		defer os.RemoveAll(filepath.Dir(cluster))
	}
	if !strings.Contains(p.output(), `database="embedded in `+cluster+`"`) || !strings.Contains(p.output(), "cluster="+cluster) {
		t.Fatalf("the log does not say the cluster lives in %s:\n%s", cluster, p.output())
	}
	p.stop(t)
	if st, err := os.Stat(home); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("the home dir was opened up: %v %v", st.Mode(), err)
	}

	p2, err := start(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := instanceID(t, p2, dir); got != id {
		t.Fatalf("second start has instance %s, first had %s: the cluster was not found again", got, id)
	}
	p2.stop(t)
}
