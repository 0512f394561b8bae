package audit_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats-server/v2/server"

	"github.com/gwanje/gwanje/audit"
	"github.com/gwanje/gwanje/events"
	"github.com/gwanje/gwanje/internal/pgtest"
)

// alarms collects what a store raises.
type alarms struct {
	mu   sync.Mutex
	list []audit.Alarm
}

func (a *alarms) add(al audit.Alarm) {
	a.mu.Lock()
	a.list = append(a.list, al)
	a.mu.Unlock()
}

// active returns the last alarm of kind when it is active.
func (a *alarms) active(kind string) (audit.Alarm, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for i := len(a.list) - 1; i >= 0; i-- {
		if a.list[i].Kind == kind {
			return a.list[i], a.list[i].Active
		}
	}
	return audit.Alarm{}, false
}

// newBus starts a real NATS server with JetStream storing in dir.
func newBus(t *testing.T, ctx context.Context, dir, listen string) *events.Bus {
	t.Helper()
	b, err := events.New(ctx, events.Config{DataDir: dir, ListenAddr: listen, Name: "audit-anchor-test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

// cutTail is the attack of issue 14 finding 5, as the PostgreSQL
// superuser: delete the entries after keep and the checkpoints after them,
// and move audit_head back to entry keep.
func cutTail(t *testing.T, pool *pgxpool.Pool, keep int64) {
	asSuperuser(t, pool,
		fmt.Sprintf("delete from audit_entry where seq > %d", keep),
		fmt.Sprintf("delete from audit_checkpoint where seq > %d", keep),
		fmt.Sprintf("update audit_head set seq = e.seq, hash = e.hash, logged_at = e.logged_at from audit_entry e where e.seq = %d", keep))
}

// TestAnchoredCheckpointsExposeACutTail: the exact attack (cut the tail,
// its checkpoints and the head row) was reported INTACT before anchoring;
// against checkpoints anchored in JetStream and in a file it is BROKEN,
// naming the first missing entry, the periodic check raises the alarm, a
// restarted store raises it at start, and no checkpoint is signed over the
// cut chain when entries are chained on it.
func TestAnchoredCheckpointsExposeACutTail(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pool := pgtest.Pool(t)
	bus := newBus(t, ctx, t.TempDir(), "-")
	file, err := audit.NewFileAnchor(filepath.Join(t.TempDir(), "anchors", "audit.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var seen alarms
	cfg := audit.Config{Anchors: []audit.AnchorLog{bus.Anchors(), file}, CheckpointEvery: 10,
		CheckpointInterval: time.Hour, IntegrityInterval: 50 * time.Millisecond, Alarm: seen.add}
	s := start(t, pool, cfg)
	mustAppend(t, s, 50)
	if c, err := s.Checkpoint(ctx); err != nil || c.Seq != 50 {
		t.Fatalf("checkpoint: %+v %v", c, err)
	}
	rep := mustVerify(t, s, audit.VerifyRange{})
	if !rep.OK || rep.Anchored != 50 || !strings.Contains(rep.Anchor, "outside the database: checkpoint at entry 50") {
		t.Fatalf("intact chain: %+v %v", rep, rep.Problem)
	}
	for _, l := range cfg.Anchors {
		var got []int64
		if err := l.Newest(ctx, func(b []byte) bool {
			c, err := audit.ParseAnchor(b)
			if err != nil || !c.Valid() {
				t.Fatalf("%s: bad anchor %s: %v", l.Name(), b, err)
			}
			got = append(got, c.Seq)
			return true
		}); err != nil {
			t.Fatal(err)
		}
		if len(got) == 0 || got[0] != 50 {
			t.Fatalf("%s holds %v, want 50 newest", l.Name(), got)
		}
	}
	if r, err := s.CheckIntegrity(ctx); err != nil || !r.OK() || r.Head != 50 || r.Anchored != 50 {
		t.Fatalf("integrity before the attack: %+v %v", r, err)
	}

	cutTail(t, pool, 30)

	rep = mustVerify(t, s, audit.VerifyRange{})
	if rep.OK || rep.Problem.Seq != 31 || rep.Problem.Kind != audit.ProblemTailCut || !strings.Contains(rep.Problem.Detail, "covers entry 50") {
		t.Fatalf("cut tail: got %+v %v, want BROKEN at entry 31", rep, rep.Problem)
	}
	r, err := s.CheckIntegrity(ctx)
	if err != nil || r.OK() || r.FirstMissing != 31 {
		t.Fatalf("integrity after the attack: %+v %v", r, err)
	}
	poll(t, func() bool { al, ok := seen.active(audit.AlarmIntegrity); return ok && al.Seq == 31 })

	// A restart: the check at start raises the alarm at once.
	var seen2 alarms
	cfg2 := cfg
	cfg2.IntegrityInterval, cfg2.Alarm = time.Hour, seen2.add
	s2 := start(t, pool, cfg2)
	poll(t, func() bool { _, ok := seen2.active(audit.AlarmIntegrity); return ok })

	// New entries chained on the cut: no checkpoint is signed over them,
	// and verification still names entry 31.
	mustAppend(t, s2, 5)
	if _, err := s2.Checkpoint(ctx); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("checkpoint over a cut chain: %v", err)
	}
	rep = mustVerify(t, s2, audit.VerifyRange{})
	if rep.OK || rep.Problem.Seq != 31 {
		t.Fatalf("cut tail chained on: got %+v %v, want BROKEN at entry 31", rep, rep.Problem)
	}
	// Chained on past the anchored checkpoint: the anchored hash differs.
	mustAppend(t, s2, 20)
	rep = mustVerify(t, s2, audit.VerifyRange{})
	if rep.OK || rep.Problem.Seq != 31 || rep.Problem.Kind != audit.ProblemAnchor {
		t.Fatalf("cut tail chained on past the anchor: got %+v %v, want anchor_mismatch at entry 31", rep, rep.Problem)
	}
	var n int
	if err := pool.QueryRow(ctx, "select count(*) from audit_checkpoint where seq > 30").Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d checkpoints signed over the cut chain (%v)", n, err)
	}
}

// TestOutboxCursorAheadOfHeadRaisesTheAlarm: without anchors, a head moved
// back behind the outbox cursor is seen by the periodic check.
func TestOutboxCursorAheadOfHeadRaisesTheAlarm(t *testing.T) {
	pool := pgtest.Pool(t)
	var seen alarms
	s := start(t, pool, audit.Config{IntegrityInterval: 50 * time.Millisecond, Alarm: seen.add})
	mustAppend(t, s, 10)
	asSuperuser(t, pool, "update audit_outbox set seq = 10")
	cutTail(t, pool, 6)
	poll(t, func() bool { al, ok := seen.active(audit.AlarmIntegrity); return ok && al.Seq == 7 })
	al, _ := seen.active(audit.AlarmIntegrity)
	if !strings.Contains(al.Detail, "outbox cursor") {
		t.Fatalf("alarm: %+v", al)
	}
	// Repaired (the cursor is back within the chain): the alarm clears.
	asSuperuser(t, pool, "update audit_outbox set seq = 6")
	poll(t, func() bool {
		seen.mu.Lock()
		defer seen.mu.Unlock()
		last := seen.list[len(seen.list)-1]
		return last.Kind == audit.AlarmIntegrity && !last.Active
	})
}

// TestAnchorStreamSurvivesANATSRestart: checkpoints anchored in JetStream
// (file storage) are there after the NATS server restarts on its store
// dir, and still expose a cut tail.
func TestAnchorStreamSurvivesANATSRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pool := pgtest.Pool(t)
	dir := t.TempDir()
	bus, err := events.New(ctx, events.Config{DataDir: dir, ListenAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	addr := strings.TrimPrefix(bus.ClientURL(), "nats://")
	s, err := audit.New(audit.Config{Pool: pool, SigningKey: testKey, Anchors: []audit.AnchorLog{bus.Anchors()},
		CheckpointInterval: time.Hour, CheckpointEvery: 1000})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	mustAppend(t, s, 20)
	if c, err := s.Checkpoint(ctx); err != nil || c.Seq != 20 {
		t.Fatalf("checkpoint: %+v %v", c, err)
	}
	s.Close()
	<-done
	bus.Close() // the NATS server stops

	restarted := newBus(t, ctx, dir, addr)
	s2 := start(t, pool, audit.Config{Anchors: []audit.AnchorLog{restarted.Anchors()}, CheckpointInterval: time.Hour, IntegrityInterval: time.Hour})
	c, where, ok, err := s2.NewestAnchor(ctx)
	if err != nil || !ok || c.Seq != 20 || !strings.Contains(where, events.StreamAuditAnchor) {
		t.Fatalf("after the restart: %+v %q %v %v", c, where, ok, err)
	}
	cutTail(t, pool, 12)
	if rep := mustVerify(t, s2, audit.VerifyRange{}); rep.OK || rep.Problem.Seq != 13 || rep.Problem.Kind != audit.ProblemTailCut {
		t.Fatalf("cut tail after the restart: %+v %v", rep, rep.Problem)
	}
}

// TestOutboxNeverStallsOnAnOversizedEntry: a NATS server with a small
// max_payload refuses a large entry; the outbox publishes it as a summary
// with its hash, raises AlarmOversize, and the entries after it follow.
func TestOutboxNeverStallsOnAnOversizedEntry(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true,
		StoreDir: t.TempDir(), MaxPayload: 4096, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	bus, err := events.New(ctx, events.Config{URL: srv.ClientURL(), Name: "audit-oversize-test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bus.Close)
	var seen alarms
	s := start(t, pgtest.Pool(t), audit.Config{Publisher: bus.Durable(), RelayInterval: 50 * time.Millisecond, Alarm: seen.add})
	big := view(0)
	big.PurposeText = strings.Repeat("가", 10000) // 30 KB, over the server's 4 KiB
	recs := []audit.Record{}
	r, err := s.Append(ctx, big)
	if err != nil {
		t.Fatal(err)
	}
	recs = append(recs, r)
	recs = append(recs, mustAppend(t, s, 3)...)
	st, err := bus.JS.Stream(ctx, events.StreamAudit)
	if err != nil {
		t.Fatal(err)
	}
	poll(t, func() bool {
		info, err := st.Info(ctx)
		return err == nil && info.State.Msgs >= 4
	})
	got := map[int64]map[string]any{}
	info, _ := st.Info(ctx)
	for i := info.State.FirstSeq; i <= info.State.LastSeq; i++ {
		m, err := st.GetMsg(ctx, i)
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Data) > 4096 {
			t.Fatalf("message of %d bytes", len(m.Data))
		}
		var v map[string]any
		if err := json.Unmarshal(m.Data, &v); err != nil {
			t.Fatal(err)
		}
		got[int64(v["seq"].(float64))] = v
	}
	for _, r := range recs {
		v, ok := got[r.Seq]
		if !ok {
			t.Fatalf("entry %d not published", r.Seq)
		}
		if v["hash"] != fmt.Sprintf("%x", r.Hash) {
			t.Fatalf("entry %d published with hash %v, want %x", r.Seq, v["hash"], r.Hash)
		}
		if summary := v["summary"] == true; summary != (r.Seq == recs[0].Seq) {
			t.Fatalf("entry %d: summary = %v", r.Seq, summary)
		}
	}
	if al, ok := seen.active(audit.AlarmOversize); !ok || al.Seq != recs[0].Seq {
		t.Fatalf("oversize alarm: %+v %v", al, ok)
	}
	if cur, err := s.OutboxCursor(ctx); err != nil || cur != recs[3].Seq {
		t.Fatalf("outbox cursor %d (%v), want %d", cur, err, recs[3].Seq)
	}
}

// TestFileAnchorReadsBackwards: records come back newest first across
// block boundaries.
func TestFileAnchorReadsBackwards(t *testing.T) {
	a, err := audit.NewFileAnchor(filepath.Join(t.TempDir(), "a.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	const n = 3000 // > 64 KiB of lines
	for i := 1; i <= n; i++ {
		if err := a.Append(context.Background(), "", []byte(fmt.Sprintf(`{"n":%d,"pad":"%s"}`, i, strings.Repeat("x", i%50)))); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Append(context.Background(), "", []byte("two\nlines")); err == nil {
		t.Fatal("a record with a line break was accepted")
	}
	want := n
	if err := a.Newest(context.Background(), func(b []byte) bool {
		var v struct{ N int }
		if err := json.Unmarshal(b, &v); err != nil || v.N != want {
			t.Fatalf("record %q, want n=%d", b, want)
		}
		want--
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if want != 0 {
		t.Fatalf("%d records not read", want)
	}
}
