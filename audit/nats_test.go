package audit_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"testing"
	"time"

	"github.com/gwanje/gwanje/audit"
	"github.com/gwanje/gwanje/events"
	"github.com/gwanje/gwanje/internal/pgtest"
)

// TestOutboxSurvivesANATSOutage publishes through a real NATS server that
// is stopped while entries are written and started again on the same store:
// every entry reaches the JetStream audit stream, late but none lost.
func TestOutboxSurvivesANATSOutage(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	server, err := events.New(ctx, events.Config{DataDir: dir, ListenAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	url := server.ClientURL()
	addr := url[len("nats://"):]
	// gwanjed's side: a client of that server, reconnecting on its own.
	client, err := events.New(ctx, events.Config{URL: url, Name: "audit-test"})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()

	store, err := audit.New(audit.Config{Pool: pgtest.Pool(t), SigningKey: ed25519.NewKeyFromSeed(make([]byte, 32)),
		Publisher: client.Durable(), RelayInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); store.Run(runCtx) }()
	defer func() { stop(); <-done }()

	appendN := func(n int) {
		for i := 0; i < n; i++ {
			if _, err := store.Append(ctx, audit.Entry{Type: "live.view.start", Outcome: audit.Success,
				Actor: audit.Actor{Username: "operator"}, Cameras: []string{"cam-1"}, Live: true, Purpose: "crime_prevention"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	appendN(5)
	server.Close() // NATS goes down; the audit store keeps committing
	appendN(20)

	restarted, err := events.New(ctx, events.Config{DataDir: dir, ListenAddr: addr})
	if err != nil {
		t.Fatalf("restart NATS on %s: %v", addr, err)
	}
	defer restarted.Close()
	deadline := time.Now().Add(90 * time.Second)
	for {
		st, err := restarted.JS.Stream(ctx, events.StreamAudit)
		if err == nil {
			// Publishing is at least once: every entry must be there (a
			// repeat is allowed; consumers deduplicate by seq).
			info, err := st.Info(ctx)
			if err == nil && info.State.Msgs >= 25 {
				seen := map[int64]bool{}
				for i := info.State.FirstSeq; i <= info.State.LastSeq; i++ {
					m, err := st.GetMsg(ctx, i)
					if err != nil {
						t.Fatal(err)
					}
					var e struct{ Seq int64 }
					if err := json.Unmarshal(m.Data, &e); err != nil {
						t.Fatalf("message %d: %v", i, err)
					}
					seen[e.Seq] = true
				}
				for seq := int64(1); seq <= 25; seq++ {
					if !seen[seq] {
						t.Fatalf("entry %d never reached NATS", seq)
					}
				}
				return
			}
		}
		if time.Now().After(deadline) {
			cur, _ := store.OutboxCursor(ctx)
			t.Fatalf("entries not all published after NATS came back (outbox at %d)", cur)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
