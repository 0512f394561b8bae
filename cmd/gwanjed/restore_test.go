package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gwanje/gwanje/audit"
	"github.com/gwanje/gwanje/internal/pglocal"
	"github.com/gwanje/gwanje/stream/record"
)

// pgTool finds a PostgreSQL client program (pg_dump, pg_restore) beside the
// server binaries the tests use.
func pgTool(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	m, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name)
	if len(m) == 0 {
		t.Fatalf("%s not found: install the PostgreSQL server package (apt-get install postgresql)", name)
	}
	return m[len(m)-1]
}

// metricValue reads one unlabelled sample from /metrics.
func metricValue(t *testing.T, url, name string) float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^` + name + ` (\S+)$`).FindSubmatch(b)
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}

// TestRestoreDrill follows deploy/README.md's backup and restore: a --demo
// server records and audits; its database is dumped with pg_dump and its
// key dir and footage copied; the data dir is wiped; the dump is restored
// with pg_restore into another PostgreSQL server, and with the copied key
// dir the audit chain verifies (hash chain and signed checkpoints) and a
// recorded segment decrypts and verifies against its index entry.
func TestRestoreDrill(t *testing.T) {
	dir := newDataDir(t)
	base := fmt.Sprintf("127.%d.%d.1", 100+rand.IntN(100), rand.IntN(250))
	p, err := start(t, dir, "--demo", "--demo-password", "restore-drill-Passw0rd", "--demo-base-ip", base, "--recorder-node", "drill-1")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`msg=serving .*\bhttp=(\S+)`).FindStringSubmatch(p.output())
	if m == nil {
		t.Fatalf("no http address in %s", p.output())
	}
	metrics := "http://" + m[1] + "/metrics"
	// Footage of every camera for a few seconds; stopping gwanjed finishes
	// and indexes the segments in progress.
	for deadline := time.Now().Add(2 * time.Minute); metricValue(t, metrics, "gwanje_recorder_frames_total") < 200; time.Sleep(500 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("nothing recorded after 2 minutes: %s", p.output())
		}
	}
	p.stop(t)

	// Backup: the database (pg_dump of the embedded cluster), the key dir,
	// the footage.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	backup := t.TempDir()
	pg, err := pglocal.Start(ctx, pglocal.Config{DataDir: filepath.Join(dir, "postgres")})
	if err != nil {
		t.Fatal(err)
	}
	dump := filepath.Join(backup, "gwanje.dump")
	if out, err := exec.CommandContext(ctx, pgTool(t, "pg_dump"), "--format=custom", "--file="+dump, "--dbname="+pg.URL("postgres")).CombinedOutput(); err != nil {
		t.Fatalf("pg_dump: %v: %s", err, out)
	}
	pg.Close()
	for _, d := range []string{"keys", "recordings"} {
		if out, err := exec.Command("cp", "-a", filepath.Join(dir, d), filepath.Join(backup, d)).CombinedOutput(); err != nil {
			t.Fatalf("cp %s: %v: %s", d, err, out)
		}
	}

	// Wipe.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}

	// Restore into a new server.
	restoreDir, err := os.MkdirTemp(filepath.Dir(filepath.Dir(dir)), "restored-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(restoreDir, 0o711)
	pg2, err := pglocal.Start(ctx, pglocal.Config{DataDir: filepath.Join(restoreDir, "pg"), Fast: true})
	if err != nil {
		t.Fatal(err)
	}
	defer pg2.Close()
	admin, err := pgxpool.New(ctx, pg2.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, "create database gwanje"); err != nil {
		t.Fatal(err)
	}
	admin.Close()
	if out, err := exec.CommandContext(ctx, pgTool(t, "pg_restore"), "--no-owner", "--exit-on-error", "--dbname="+pg2.URL("gwanje"), dump).CombinedOutput(); err != nil {
		t.Fatalf("pg_restore: %v: %s", err, out)
	}
	pool, err := pgxpool.New(ctx, pg2.URL("gwanje"))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()

	// The audit chain and its signed checkpoints verify with the restored
	// signing key.
	st, err := audit.New(audit.Config{Pool: pool, KeyFile: filepath.Join(backup, "keys", "audit-signing.key")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rep, err := st.Verify(ctx, audit.VerifyRange{})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK || rep.Checked < 10 || rep.Checkpoints == 0 {
		t.Fatalf("restored audit chain: %+v", rep)
	}

	// A recorded segment decrypts with the restored key dir and matches its
	// index entry.
	var cam string
	var from, to time.Time
	if err := pool.QueryRow(ctx, "select camera_id, start_at, end_at from recording_segments where node = 'drill-1' order by frames desc limit 1").Scan(&cam, &from, &to); err != nil {
		t.Fatalf("no recorded segment in the restored index: %v", err)
	}
	rs, err := record.NewStore(record.StoreConfig{Pool: pool, Dir: filepath.Join(backup, "recordings"), DataDir: filepath.Join(backup, "keys"), Node: "drill-1"})
	if err != nil {
		t.Fatal(err)
	}
	segs, err := rs.Segments(ctx, cam, from, to)
	if err != nil || len(segs) == 0 {
		t.Fatalf("segments of %s: %v %d", cam, err, len(segs))
	}
	if err := rs.Verify(ctx, segs[0]); err != nil {
		t.Fatalf("restored segment does not verify: %v", err)
	}
	r, err := rs.OpenSegment(ctx, segs[0])
	if err != nil {
		t.Fatalf("restored segment does not open: %v", err)
	}
	r.Close()
	t.Logf("restored: %d audit entries, %d checkpoints; segment of %s %s–%s (%d frames) verified",
		rep.Checked, rep.Checkpoints, cam, segs[0].Start.Format(time.TimeOnly), segs[0].End.Format(time.TimeOnly), segs[0].Frames)
}

func pxConnect(ctx context.Context, url string) (*pxPool, error) { return pgxpool.New(ctx, url) }

type pxPool = pgxpool.Pool
