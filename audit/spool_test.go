package audit_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gwanje/gwanje/audit"
	"github.com/gwanje/gwanje/internal/pgtest"
)

// switchable is an audit store that can be down (a real store, closed) and
// come back (another real store on the same database), counting attempts.
type switchable struct {
	mu       sync.Mutex
	s        *audit.Store
	attempts atomic.Int64
}

func (w *switchable) Append(ctx context.Context, e audit.Entry) (audit.Record, error) {
	w.attempts.Add(1)
	w.mu.Lock()
	s := w.s
	w.mu.Unlock()
	return s.Append(ctx, e)
}

func endEntry(i int) audit.Entry {
	return audit.Entry{Type: "live.view.end", Outcome: audit.Success, Actor: audit.Actor{UserID: "u1", Username: "operator"},
		Cameras: []string{"cam-1"}, Live: true, Reason: "client_closed",
		Details: map[string]any{"n": i, "bytes": int64(1) << 60, "duration_ms": 1234}}
}

// TestSpoolKeepsEndEntriesThroughAnOutageAndAShutdown: end entries spooled
// while the audit store is down are retried without a deadline (many
// attempts, where the relay used to give up after a minute), survive a
// shutdown of the spool, and are committed in order, exactly, once a store
// is back.
func TestSpoolKeepsEndEntriesThroughAnOutageAndAShutdown(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pool := pgtest.Pool(t)
	down, err := audit.New(audit.Config{Pool: pool, SigningKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	down.Close() // the audit store is down: every Append fails with ErrUnavailable
	w := &switchable{s: down}
	dir := t.TempDir()
	sp, err := audit.NewSpool(audit.SpoolConfig{Dir: dir, Store: w, RetryMin: time.Millisecond, RetryMax: 2 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	runDone := make(chan struct{})
	go func() { defer close(runDone); sp.Run(ctx) }()
	for i := 0; i < 3; i++ {
		if _, err := sp.Append(ctx, endEntry(i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := sp.Append(ctx, audit.Entry{Type: "Not A Type", Outcome: audit.Success}); !errors.Is(err, audit.ErrInvalid) {
		t.Fatalf("invalid entry: %v", err)
	}
	// A long outage: far more failed attempts than a deadline would allow.
	poll(t, func() bool { return w.attempts.Load() >= 200 })
	// Shutdown while the store is still down: nothing is lost.
	sp.Close()
	<-runDone
	if _, err := sp.Append(ctx, endEntry(9)); !errors.Is(err, audit.ErrUnavailable) {
		t.Fatalf("append after close: %v", err)
	}
	if n, err := sp.Pending(); err != nil || n != 3 {
		t.Fatalf("pending after shutdown: %d %v", n, err)
	}

	// The next start, with the audit store back.
	up := start(t, pool, audit.Config{})
	w.mu.Lock()
	w.s = up
	w.mu.Unlock()
	sp2, err := audit.NewSpool(audit.SpoolConfig{Dir: dir, Store: w, RetryMin: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	go sp2.Run(ctx)
	t.Cleanup(sp2.Close)
	poll(t, func() bool { n, err := sp2.Pending(); return err == nil && n == 0 })
	page, err := up.Query(ctx, audit.Filter{Types: []string{"live.view.end"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Entries) != 3 {
		t.Fatalf("%d entries committed, want 3", len(page.Entries))
	}
	for i, st := range page.Entries {
		d := st.Entry.Details
		if d["n"] != float64(i) || d["bytes"] != float64(int64(1)<<60) || d["spool_id"] == nil {
			t.Fatalf("entry %d: %v", i, d)
		}
	}
	if rep := mustVerify(t, up, audit.VerifyRange{}); !rep.OK {
		t.Fatalf("verify: %v", rep.Problem)
	}
}
