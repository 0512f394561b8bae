package health

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/gwanje/gwanje/audit"
	"github.com/gwanje/gwanje/events"
	"github.com/gwanje/gwanje/internal/pgdb"
	"github.com/gwanje/gwanje/internal/pglocal"
	"github.com/gwanje/gwanje/internal/pgtest"
)

var _ Auditor = (*audit.Store)(nil)

// next reads the next update or fails.
func next(t *testing.T, ch <-chan Update) Update {
	t.Helper()
	select {
	case u, ok := <-ch:
		if !ok {
			t.Fatal("watch closed")
		}
		if u.Err != nil {
			t.Fatal(u.Err)
		}
		return u
	case <-time.After(20 * time.Second):
		t.Fatal("no update")
	}
	return Update{}
}

// TestWatchSnapshotLiveResume: a watch starts with the current status of
// every camera it may see, then streams changes; resumed from the last
// sequence it received, it gets exactly what it missed.
func TestWatchSnapshotLiveResume(t *testing.T) {
	srv := newServer(t, t.TempDir(), "127.0.0.1:0")
	p := newFakeProber()
	targets := fakeTargets(6, 200*time.Millisecond)
	w := startWorker(t, WorkerConfig{Conn: srv.Conn, Targets: staticTargets(targets), ID: "w1", Prober: p, Shards: 2, LeaseTTL: 3 * time.Second, KeyframeInterval: -1})
	waitFor(t, 20*time.Second, "all online", func() bool {
		for _, tg := range targets {
			if s, ok := kvStatus(t, srv.JS, tg.CameraID); !ok || s.State != Online {
				return false
			}
		}
		return true
	})
	if err := w.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	wt, err := NewWatcher(WatcherConfig{Conn: srv.Conn})
	if err != nil {
		t.Fatal(err)
	}
	visible := func(id string) bool { return id != "cam-0006" } // e.g. another contractor's site
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := wt.Watch(ctx, visible, 0)
	if err != nil {
		t.Fatal(err)
	}
	snap := map[string]State{}
	var last uint64
	for {
		u := next(t, ch)
		if u.SnapshotDone {
			break
		}
		if !u.Snapshot || u.Status == nil {
			t.Fatalf("snapshot update %+v", u)
		}
		snap[u.CameraID] = u.Status.State
	}
	if len(snap) != 5 || snap["cam-0006"] != "" {
		t.Fatalf("snapshot %v", snap)
	}
	p.set("cam-0001", true)
	for {
		u := next(t, ch)
		if u.Snapshot {
			t.Fatalf("snapshot after SnapshotDone: %+v", u)
		}
		last = u.Seq
		if u.CameraID == "cam-0001" && u.Status != nil && u.Status.State == Offline {
			break
		}
	}
	cancel()
	for range ch {
	}
	// While the client is away: one more change, and one it may not see.
	p.set("cam-0002", true)
	p.set("cam-0006", true)
	waitFor(t, 20*time.Second, "cam-0002 and cam-0006 offline", func() bool {
		a, _ := kvStatus(t, srv.JS, "cam-0002")
		b, _ := kvStatus(t, srv.JS, "cam-0006")
		return a.State == Offline && b.State == Offline
	})
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	ch, err = wt.Watch(ctx, visible, last)
	if err != nil {
		t.Fatal(err)
	}
	u := next(t, ch)
	if u.Snapshot || u.SnapshotDone || u.CameraID != "cam-0002" || u.Status.State != Offline || u.Seq <= last {
		t.Fatalf("resumed: %+v", u)
	}
}

// startPG starts PostgreSQL on dir (retrying while a killed server's
// backends exit) and migrates it.
func startPG(t *testing.T, dir string) *pglocal.Server {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		s, err := pglocal.Start(ctx, pglocal.Config{DataDir: filepath.Join(dir, "pg"), Fast: true,
			Settings: map[string]string{"synchronous_commit": "on"}, Logger: testLogger()})
		cancel()
		if err == nil {
			t.Cleanup(func() { s.Close() })
			if err := pgdb.Migrate(context.Background(), s.URL("postgres")); err != nil {
				t.Fatal(err)
			}
			return s
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		<-tick.C // a killed server's shared memory is still being released
	}
}

func countRows(pool *pgxpool.Pool) int {
	var n int
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := pool.QueryRow(ctx, "select count(*) from health_status_history").Scan(&n); err != nil {
		return -1
	}
	return n
}

// TestPostgresDownHealthFlowsHistoryCatchesUp kills PostgreSQL: status
// still reaches watchers over NATS, and the history stores everything once
// PostgreSQL is back on the same data directory.
func TestPostgresDownHealthFlowsHistoryCatchesUp(t *testing.T) {
	dir, err := os.MkdirTemp("", "gwanje-health-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	pg := startPG(t, dir)
	pool, err := pgdb.Open(context.Background(), pgdb.Config{URL: pg.URL("postgres"), ConnectTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)

	srv := newServer(t, t.TempDir(), "127.0.0.1:0")
	h, err := NewHistory(HistoryConfig{Conn: srv.Conn, Pool: pool, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	go h.Run(context.Background())
	t.Cleanup(h.Close)
	p := newFakeProber()
	targets := fakeTargets(10, 200*time.Millisecond)
	w := startWorker(t, WorkerConfig{Conn: srv.Conn, Targets: staticTargets(targets), ID: "w1", Prober: p, Shards: 2, LeaseTTL: 3 * time.Second, KeyframeInterval: -1})
	waitFor(t, 20*time.Second, "10 online statuses in the history", func() bool { return countRows(pool) == 10 })

	wt, _ := NewWatcher(WatcherConfig{Conn: srv.Conn})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := wt.Watch(ctx, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	for u := next(t, ch); !u.SnapshotDone; u = next(t, ch) {
	}

	pg.Kill()
	for _, tg := range targets[:6] {
		p.set(tg.CameraID, true)
	}
	offline := map[string]bool{}
	for len(offline) < 6 {
		u := next(t, ch)
		if u.Status != nil && u.Status.State == Offline {
			offline[u.CameraID] = true
		}
	}
	t.Logf("with PostgreSQL down, %d offline transitions reached the watcher", len(offline))
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if countRows(pool) != -1 {
		t.Fatal("the database still answers")
	}
	startPG(t, dir)
	waitFor(t, 60*time.Second, "the history to catch up (16 rows)", func() bool { return countRows(pool) == 16 })
	var off int
	if err := pool.QueryRow(ctx, "select count(*) from health_status_history where state = 'offline'").Scan(&off); err != nil || off != 6 {
		t.Fatalf("offline rows %d, %v", off, err)
	}
}

// TestAvailability computes uptime per day from a stored history.
func TestAvailability(t *testing.T) {
	pool := pgtest.Pool(t)
	ctx := context.Background()
	kst := time.FixedZone("KST", 9*3600)
	day := time.Date(2026, 3, 2, 0, 0, 0, 0, kst)
	ins := func(cam string, at time.Time, st State) {
		t.Helper()
		if _, err := pool.Exec(ctx, `insert into health_status_history (camera_id, observed_at, state, since, stream_seq) values ($1, $2, $3, $2, 1)`, cam, at, st.String()); err != nil {
			t.Fatal(err)
		}
	}
	// cam-a: online from the day before, offline 06:00-12:00 on day 1,
	// maintenance 20:00-22:00; cam-b: first seen at noon of day 1.
	ins("cam-a", day.Add(-3*time.Hour), Online)
	ins("cam-a", day.Add(6*time.Hour), Offline)
	ins("cam-a", day.Add(12*time.Hour), Degraded)
	ins("cam-a", day.Add(20*time.Hour), Maintenance)
	ins("cam-a", day.Add(22*time.Hour), Online)
	ins("cam-b", day.Add(12*time.Hour), Online)
	now := day.Add(36 * time.Hour) // noon of day 2
	got, err := QueryAvailability(ctx, pool, AvailabilityQuery{From: day, To: day.Add(48 * time.Hour), Period: Daily, Location: kst}, now)
	if err != nil {
		t.Fatal(err)
	}
	h := time.Hour
	want := []Availability{
		{CameraID: "cam-a", Start: day, End: day.Add(24 * h), Up: 16 * h, Down: 6 * h, Maintenance: 2 * h},
		{CameraID: "cam-a", Start: day.Add(24 * h), End: now, Up: 12 * h},
		{CameraID: "cam-b", Start: day, End: day.Add(24 * h), Up: 12 * h, Unknown: 12 * h},
		{CameraID: "cam-b", Start: day.Add(24 * h), End: now, Up: 12 * h},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.CameraID != w.CameraID || !g.Start.Equal(w.Start) || !g.End.Equal(w.End) || g.Up != w.Up || g.Down != w.Down || g.Maintenance != w.Maintenance || g.Unknown != w.Unknown {
			t.Errorf("#%d: got %+v\nwant %+v", i, g, w)
		}
	}
	if r := got[0].Ratio(); r < 0.72 || r > 0.73 {
		t.Errorf("ratio %v, want 16/22", r)
	}
	m, err := QueryAvailability(ctx, pool, AvailabilityQuery{CameraIDs: []string{"cam-a", "cam-z"}, From: day, To: now, Period: Monthly, Location: kst}, now)
	if err != nil || len(m) != 2 || m[0].Down != 6*h || m[1].CameraID != "cam-z" || m[1].Unknown == 0 {
		t.Fatalf("monthly: %+v %v", m, err)
	}
}

type fakeAuditor struct {
	mu      sync.Mutex
	entries []audit.Entry
	fail    bool
}

func (a *fakeAuditor) AppendTx(ctx context.Context, tx pgx.Tx, e audit.Entry) (audit.Record, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.fail {
		return audit.Record{}, audit.ErrUnavailable
	}
	a.entries = append(a.entries, e)
	return audit.Record{Seq: int64(len(a.entries))}, nil
}

// TestAlarms: offline too long and clock drift raise alarms, published;
// acknowledgement is audited (and refused without the audit entry); they
// clear on recovery.
func TestAlarms(t *testing.T) {
	pool := pgtest.Pool(t)
	srv := newServer(t, t.TempDir(), "127.0.0.1:0")
	ctx := context.Background()
	kv, err := ensureStatusBucket(ctx, srv.JS)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	put := func(s Status) {
		t.Helper()
		if _, err := kv.Put(ctx, s.CameraID, marshal(StatusToProto(s))); err != nil {
			t.Fatal(err)
		}
	}
	put(Status{CameraID: "cam-a", State: Offline, Since: now.Add(-10 * time.Minute), Cause: "onvif unreachable", Site: "s1"})
	put(Status{CameraID: "cam-b", State: Offline, Since: now.Add(-time.Minute)})
	put(Status{CameraID: "cam-c", State: Degraded, Since: now, ClockOffset: 95 * time.Second, ClockDriftSince: now})
	put(Status{CameraID: "cam-d", State: Maintenance, Since: now.Add(-time.Hour)})
	aud := &fakeAuditor{}
	al, err := NewAlarms(AlarmsConfig{Conn: srv.Conn, Pool: pool, Auditor: aud, Sweep: 50 * time.Millisecond, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	go al.Run(ctx)
	t.Cleanup(al.Close)
	open := func() map[string]Alarm {
		l, err := al.ListAlarms(ctx, AlarmFilter{Open: true})
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]Alarm{}
		for _, a := range l {
			m[a.CameraID+"/"+string(a.Kind)] = a
		}
		return m
	}
	waitFor(t, 20*time.Second, "alarms for cam-a offline and cam-c drift", func() bool {
		o := open()
		return len(o) == 2 && o["cam-a/offline"].ID != "" && o["cam-c/clock_drift"].ID != ""
	})
	a := open()["cam-a/offline"]
	if a.State() != AlarmRaised || a.Site != "s1" || !a.ConditionSince.Equal(now.Add(-10*time.Minute).Truncate(time.Microsecond)) {
		t.Fatalf("alarm %+v", a)
	}
	// Published on NATS.
	st, _ := srv.JS.Stream(ctx, events.StreamCamera)
	waitFor(t, 10*time.Second, "the alarm on NATS", func() bool {
		m, err := st.GetLastMsgForSubject(ctx, events.CameraAlarm("cam-a", "offline"))
		return err == nil && len(m.Data) > 0
	})
	who := audit.Actor{UserID: "u-1", Username: "operator1", Role: "operator"}
	got, err := al.Acknowledge(ctx, a.ID, who, "dispatching a technician")
	if err != nil || got.State() != AlarmAcknowledged || got.AcknowledgedBy != "u-1" {
		t.Fatalf("ack: %+v %v", got, err)
	}
	if len(aud.entries) != 1 || aud.entries[0].Type != AuditAlarmAcknowledge || aud.entries[0].Actor.UserID != "u-1" || aud.entries[0].Cameras[0] != "cam-a" {
		t.Fatalf("audit %+v", aud.entries)
	}
	if _, err := al.Acknowledge(ctx, a.ID, who, ""); !errors.Is(err, ErrAlarmAlreadyAcknowledged) {
		t.Fatalf("second ack: %v", err)
	}
	if _, err := al.Acknowledge(ctx, "00000000-0000-0000-0000-000000000000", who, ""); !errors.Is(err, ErrAlarmNotFound) {
		t.Fatalf("unknown alarm: %v", err)
	}
	// Without the audit entry nothing changes.
	aud.mu.Lock()
	aud.fail = true
	aud.mu.Unlock()
	c := open()["cam-c/clock_drift"]
	if _, err := al.Acknowledge(ctx, c.ID, who, ""); !errors.Is(err, audit.ErrUnavailable) {
		t.Fatalf("ack without audit: %v", err)
	}
	if open()["cam-c/clock_drift"].State() != AlarmRaised {
		t.Fatal("acknowledged without an audit entry")
	}
	// Recovery clears, and the cleared alarm is published.
	put(Status{CameraID: "cam-a", State: Online, Previous: Offline, Since: time.Now()})
	put(Status{CameraID: "cam-c", State: Online, Since: time.Now()})
	waitFor(t, 20*time.Second, "alarms to clear", func() bool { return len(open()) == 0 })
	waitFor(t, 10*time.Second, "the cleared alarm on NATS", func() bool {
		m, err := st.GetLastMsgForSubject(ctx, events.CameraAlarm("cam-a", "offline"))
		if err != nil {
			return false
		}
		u, ok := decodeUpdate(m.Subject, m.Data)
		return ok && u.Alarm != nil && u.Alarm.State() == AlarmCleared && u.Alarm.AcknowledgedBy == "u-1"
	})
	var _ jetstream.JetStream = srv.JS
}
