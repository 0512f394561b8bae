package failclosed_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gwanje/gwanje/audit"
	"github.com/gwanje/gwanje/internal/pgdb"
	"github.com/gwanje/gwanje/internal/pglocal"
)

// startServer starts PostgreSQL on dir, retrying while the backends of a
// killed server are still exiting (their shared memory blocks a restart).
func startServer(t *testing.T, dir string) *pglocal.Server {
	t.Helper()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(time.Minute)
	for {
		s, err := startOnce(dir)
		if err == nil {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		<-tick.C
	}
}

func startOnce(dir string) (*pglocal.Server, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return pglocal.Start(ctx, pglocal.Config{
		DataDir: filepath.Join(dir, "pg"),
		Fast:    true,
		// fsync off survives a killed server (the OS keeps the pages), but
		// an acknowledged commit must be in the WAL before the kill.
		Settings: map[string]string{"synchronous_commit": "on"},
	})
}

// TestFailClosed kills PostgreSQL while 4 callers append: every Append
// after that returns ErrUnavailable; after a restart every acknowledged
// entry is there, nothing is half-written and the chain verifies.
func TestFailClosed(t *testing.T) {
	dir, err := os.MkdirTemp("", "gwanje-audit-failclosed-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, dir)
	defer func() { srv.Close() }()
	ctx := context.Background()
	url := srv.URL("postgres")
	if err := pgdb.Migrate(ctx, url); err != nil {
		t.Fatal(err)
	}
	pool, err := pgdb.Open(ctx, pgdb.Config{URL: url, ConnectTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	store, err := audit.New(audit.Config{Pool: pool, SigningKey: ed25519.NewKeyFromSeed(make([]byte, 32)),
		WriteTimeout: 3 * time.Second, AppendTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	runDone := make(chan error, 1)
	go func() { runDone <- store.Run(ctx) }()
	defer func() {
		store.Close()
		<-runDone
	}()

	var (
		mu      sync.Mutex
		acked   []audit.Record
		killed  atomic.Bool
		wg      sync.WaitGroup
		badErrs = make(chan error, 100)
	)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				rec, err := store.Append(ctx, audit.Entry{Type: "playback.start", Outcome: audit.Success, Cameras: []string{"cam-1"}})
				if err != nil {
					if !errors.Is(err, audit.ErrUnavailable) {
						badErrs <- err
					} else if !killed.Load() {
						badErrs <- errors.New("failed before the kill: " + err.Error())
					}
					return // fail closed: the caller refuses the view
				}
				mu.Lock()
				acked = append(acked, rec)
				n := len(acked)
				mu.Unlock()
				if n > 10000 {
					badErrs <- errors.New("appends kept succeeding after the kill")
					return
				}
			}
		}()
	}
	// Kill PostgreSQL once some entries are in.
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no progress before the kill")
		}
		<-tick.C
	}
	killed.Store(true)
	srv.Kill()
	wg.Wait()
	close(badErrs)
	for err := range badErrs {
		t.Error(err)
	}
	_, err = store.Append(ctx, audit.Entry{Type: "live.view.start", Outcome: audit.Success})
	if !errors.Is(err, audit.ErrUnavailable) {
		t.Fatalf("append with the database down: got %v, want ErrUnavailable", err)
	}
	t.Logf("database down: %v", err)

	// Restart on the same data dir: the store recovers by itself.
	srv = startServer(t, dir)
	var rec audit.Record
	deadline = time.Now().Add(30 * time.Second)
	for {
		rec, err = store.Append(ctx, audit.Entry{Type: "live.view.start", Outcome: audit.Success})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no recovery after restart: %v", err)
		}
		<-tick.C
	}
	rep, err := store.Verify(ctx, audit.VerifyRange{})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK || rep.LastSeq != rec.Seq {
		t.Fatalf("after restart: %+v %v", rep, rep.Problem)
	}
	for _, a := range acked {
		var hash []byte
		if err := pool.QueryRow(ctx, "select hash from audit_entry where seq = $1", a.Seq).Scan(&hash); err != nil || !bytes.Equal(hash, a.Hash) {
			t.Fatalf("acknowledged entry %d lost or changed: %v", a.Seq, err)
		}
	}
	t.Logf("%d entries acknowledged before the kill, all present; chain verifies through %d", len(acked), rep.LastSeq)
}
