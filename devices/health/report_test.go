package health

import (
	"context"
	"testing"
	"time"

	"github.com/gwanje/gwanje/audit"
	"github.com/gwanje/gwanje/events"
	"github.com/gwanje/gwanje/internal/pgtest"
)

// TestReporterAlarms: a Reporter's alarms live beside the health workers'
// (the sweep, which clears what a camera's status contradicts, leaves them
// alone); an event seen again while open is counted; acknowledging an
// event clears it, a condition stays until the Reporter clears it; an
// alarm about the node (no camera) is published on its system subject and
// reaches a Watch.
func TestReporterAlarms(t *testing.T) {
	pool := pgtest.Pool(t)
	srv := newServer(t, t.TempDir(), "127.0.0.1:0")
	ctx := context.Background()
	kv, err := ensureStatusBucket(ctx, srv.JS)
	if err != nil {
		t.Fatal(err)
	}
	// cam-a is online: the sweep would clear a health alarm of it at once.
	if _, err := kv.Put(ctx, "cam-a", marshal(StatusToProto(Status{CameraID: "cam-a", State: Online, Since: time.Now()}))); err != nil {
		t.Fatal(err)
	}
	al, err := NewAlarms(AlarmsConfig{Conn: srv.Conn, Pool: pool, Auditor: &fakeAuditor{}, Sweep: 50 * time.Millisecond, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	go al.Run(ctx)
	t.Cleanup(al.Close)
	rep, err := NewReporter(ReporterConfig{Pool: pool, Source: "recorder/node.1", Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	go rep.Run(ctx)
	t.Cleanup(rep.Close)
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

	rep.Report(Report{CameraID: "cam-a", Kind: AlarmRecordingQuarantined, Cause: "does not verify (cam-a/…/1.gseg)"})
	rep.Report(Report{CameraID: "cam-a", Kind: AlarmRecordingQuarantined, Cause: "does not verify (cam-a/…/2.gseg)"})
	rep.Report(Report{Kind: AlarmRecordingDiskFull, Cause: "quota reached", Condition: true})
	open := func() map[AlarmKind]Alarm {
		l, err := al.ListAlarms(ctx, AlarmFilter{Open: true})
		if err != nil {
			t.Fatal(err)
		}
		m := map[AlarmKind]Alarm{}
		for _, a := range l {
			m[a.Kind] = a
		}
		return m
	}
	waitFor(t, 10*time.Second, "both alarms, the event counted twice", func() bool {
		o := open()
		return len(o) == 2 && o[AlarmRecordingQuarantined].Occurrences == 2 && o[AlarmRecordingDiskFull].ID != ""
	})
	// The node's alarm reaches the watch; then another occurrence of the
	// event is published, so a sweep ran while both were open, with cam-a
	// online: both are still open.
	next := func(what string, cond func(Update) bool) {
		t.Helper()
		for {
			select {
			case u := <-updates:
				if u.Err != nil {
					t.Fatal(u.Err)
				}
				if cond(u) {
					return
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("no %s on the watch", what)
			}
		}
	}
	next("node alarm", func(u Update) bool {
		return u.Alarm != nil && u.Alarm.Kind == AlarmRecordingDiskFull && u.CameraID == "" && u.Alarm.Source == "recorder/node.1"
	})
	rep.Report(Report{CameraID: "cam-a", Kind: AlarmRecordingQuarantined, Cause: "does not verify (cam-a/…/3.gseg)"})
	next("third occurrence", func(u Update) bool {
		return u.Alarm != nil && u.Alarm.Kind == AlarmRecordingQuarantined && u.Alarm.Occurrences == 3
	})
	o := open()
	if len(o) != 2 || o[AlarmRecordingQuarantined].Source != "recorder/node.1" || o[AlarmRecordingDiskFull].CameraID != "" {
		t.Fatalf("open alarms %+v", o)
	}
	st, _ := srv.JS.Stream(ctx, events.StreamCamera)
	if _, err := st.GetLastMsgForSubject(ctx, events.SystemAlarm("recorder/node.1", string(AlarmRecordingDiskFull))); err != nil {
		t.Fatalf("system subject: %v", err)
	}

	who := audit.Actor{UserID: "u-1", Username: "operator1"}
	ev, err := al.Acknowledge(ctx, o[AlarmRecordingQuarantined].ID, who, "checked")
	if err != nil || ev.State() != AlarmCleared {
		t.Fatalf("ack event: %v %+v", err, ev)
	}
	cond, err := al.Acknowledge(ctx, o[AlarmRecordingDiskFull].ID, who, "ordering disks")
	if err != nil || cond.State() != AlarmAcknowledged {
		t.Fatalf("ack condition: %v %+v", err, cond)
	}
	rep.Report(Report{Kind: AlarmRecordingDiskFull, Cause: "space back", Clear: true})
	waitFor(t, 10*time.Second, "disk full cleared", func() bool { return len(open()) == 0 })
	rep.Close()
	rep.Close()
}
