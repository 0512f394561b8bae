package health

import (
	"context"
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/gwanje/gwanje/audit"
	"github.com/gwanje/gwanje/internal/pgtest"
	gwanjev1 "github.com/gwanje/gwanje/proto/gwanje/v1"
)

// TestAuditCutTailAlarm: the attack of issue 14 finding 5 (as the
// PostgreSQL superuser: cut the last entries, their checkpoints and the
// head row back) on a running audit store raises the audit_integrity alarm
// that operators see: in the alarm list and on a Watch, with no camera and
// source "audit"; when the chain holds again it is cleared.
func TestAuditCutTailAlarm(t *testing.T) {
	pool := pgtest.Pool(t)
	srv := newServer(t, t.TempDir(), "127.0.0.1:0")
	ctx := context.Background()
	al, err := NewAlarms(AlarmsConfig{Conn: srv.Conn, Pool: pool, Auditor: &fakeAuditor{}, Sweep: 50 * time.Millisecond, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	go al.Run(ctx)
	t.Cleanup(al.Close)
	rep, err := NewReporter(ReporterConfig{Pool: pool, Source: "audit", Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	go rep.Run(ctx)
	t.Cleanup(rep.Close)
	store, err := audit.New(audit.Config{Pool: pool, SigningKey: ed25519.NewKeyFromSeed(make([]byte, 32)), Logger: testLogger(),
		Anchors: []audit.AnchorLog{srv.Anchors()}, IntegrityInterval: 50 * time.Millisecond, Alarm: rep.AuditAlarm})
	if err != nil {
		t.Fatal(err)
	}
	go store.Run(ctx)
	t.Cleanup(func() { store.Close() })
	w, err := NewWatcher(WatcherConfig{Conn: srv.Conn})
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	updates, err := w.Watch(wctx, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		if _, err := store.Append(ctx, audit.Entry{Type: "live.view.start", Outcome: audit.Success, Actor: audit.Actor{Username: "operator"}}); err != nil {
			t.Fatal(err)
		}
	}
	if c, err := store.Checkpoint(ctx); err != nil || c.Seq != 20 {
		t.Fatalf("checkpoint: %+v %v", c, err)
	}
	superuser := func(sqls ...string) {
		t.Helper()
		tx, err := pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		for _, q := range append([]string{"set local session_replication_role = replica"}, sqls...) {
			if _, err := tx.Exec(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
	superuser("create table cut as select * from audit_entry where seq > 12",
		"create table cut_ck as select * from audit_checkpoint where seq > 12",
		"delete from audit_entry where seq > 12", "delete from audit_checkpoint where seq > 12",
		"update audit_head set seq = e.seq, hash = e.hash, logged_at = e.logged_at from audit_entry e where e.seq = 12")

	open := func() []Alarm {
		l, err := al.ListAlarms(ctx, AlarmFilter{Open: true})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	waitFor(t, 20*time.Second, "the audit_integrity alarm in the list", func() bool {
		l := open()
		return len(l) == 1 && l[0].Kind == AlarmAuditIntegrity && l[0].CameraID == "" && l[0].Source == "audit"
	})
	if k := AlarmToProto(open()[0]).GetKind(); k != gwanjev1.AlarmKind_ALARM_KIND_AUDIT_INTEGRITY {
		t.Fatalf("wire kind %v", k)
	}
	deadline := time.After(20 * time.Second)
	for seen := false; !seen; {
		select {
		case u := <-updates:
			if u.Err != nil {
				t.Fatal(u.Err)
			}
			seen = u.Alarm != nil && u.Alarm.Kind == AlarmAuditIntegrity && u.Alarm.State() == AlarmRaised
		case <-deadline:
			t.Fatal("the audit alarm never reached the watch")
		}
	}
	// The cut entries restored from a backup: the alarm clears.
	superuser("insert into audit_entry select * from cut", "insert into audit_checkpoint select * from cut_ck",
		"update audit_head set seq = e.seq, hash = e.hash, logged_at = e.logged_at from audit_entry e where e.seq = 20")
	waitFor(t, 20*time.Second, "the alarm to clear", func() bool { return len(open()) == 0 })
}
