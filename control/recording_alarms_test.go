package control

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gwanje/gwanje/camsim"
	"github.com/gwanje/gwanje/devices/health"
	pb "github.com/gwanje/gwanje/proto/gwanje/v1"
	"github.com/gwanje/gwanje/stream/record"
)

// TestRecorderAlarmsInTheAlarmList records a registered camsim camera with
// the real recorder, then breaks its storage the way the field does (an
// indexed file gone, a file that does not verify, the disk full) and
// restarts the recorder on it: the start-up check's and the disk's alarms
// reach the alarm list and the event stream like camera alarms, through
// the Reporter gwanjed wires; the node's disk-full alarm is shown only to
// those whose health.read covers every camera; acknowledging an event
// clears it, the disk-full condition clears when space is back.
func TestRecorderAlarmsInTheAlarmList(t *testing.T) {
	h := newHarness(t)
	id := h.registerCamera(camsim.DialectHikvision)
	pool := h.recStore.Pool()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reporter, err := health.NewReporter(health.ReporterConfig{Pool: pool, Source: "recorder/rec-alarm"})
	if err != nil {
		t.Fatal(err)
	}
	go reporter.Run(ctx)
	defer reporter.Close()
	raise := RecordingAlarms(reporter)

	dir := t.TempDir()
	store, err := record.NewStore(record.StoreConfig{Pool: pool, Dir: dir, Node: "rec-alarm", MinFreeBytes: -1, Alarm: raise})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := record.New(record.Config{Store: store, Cameras: RecordingCameras(h.devices),
		Source: &record.RTSPSource{Upstreams: RelayCameras(h.devices)}, SegmentDuration: time.Second, RefreshInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- rec.Run(ctx) }()
	var segs []record.Segment
	eventually(t, "two recorded segments", func() bool {
		l, err := store.ListRecordings(ctx, id, time.Now().Add(-time.Hour), time.Now().Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		segs = l.Segments
		return len(segs) >= 2
	})
	rec.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// An indexed file gone, and a file that does not verify.
	if err := os.Remove(filepath.Join(dir, filepath.FromSlash(segs[0].Path))); err != nil {
		t.Fatal(err)
	}
	bogus := filepath.Join(dir, filepath.Dir(filepath.FromSlash(segs[1].Path)), "1000-2000.gseg")
	if err := os.WriteFile(bogus, []byte("not a sealed segment"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Restart on a disk with less free space than the recorder needs.
	store, err = record.NewStore(record.StoreConfig{Pool: pool, Dir: dir, Node: "rec-alarm", MinFreeBytes: 1 << 60, Alarm: raise})
	if err != nil {
		t.Fatal(err)
	}
	rec, err = record.New(record.Config{Store: store, Cameras: RecordingCameras(h.devices),
		Source: &record.RTSPSource{Upstreams: RelayCameras(h.devices)}})
	if err != nil {
		t.Fatal(err)
	}
	go func() { done <- rec.Run(ctx) }()
	defer func() { rec.Close(); <-done }()

	hc := pb.NewHealthServiceClient(h.conn)
	st, err := hc.WatchEvents(h.as("operator"), &pb.WatchEventsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	watched := make(chan *pb.Alarm, 64)
	go func() {
		defer close(watched)
		for {
			m, err := st.Recv()
			if err != nil {
				return
			}
			if a := m.GetAlarm(); a != nil {
				watched <- a
			}
		}
	}()

	byKind := func(role string, open bool) map[pb.AlarmKind]*pb.Alarm {
		t.Helper()
		res, err := hc.ListAlarms(h.as(role), &pb.ListAlarmsRequest{OpenOnly: open})
		if err != nil {
			t.Fatal(err)
		}
		out := map[pb.AlarmKind]*pb.Alarm{}
		for _, a := range res.Alarms {
			out[a.Kind] = a
		}
		return out
	}
	want := []pb.AlarmKind{pb.AlarmKind_ALARM_KIND_RECORDING_MISSING, pb.AlarmKind_ALARM_KIND_RECORDING_QUARANTINED,
		pb.AlarmKind_ALARM_KIND_RECORDING_DISK_FULL}
	var listed map[pb.AlarmKind]*pb.Alarm
	eventually(t, "the recorder's alarms in the alarm list", func() bool {
		listed = byKind("operator", true)
		for _, k := range want {
			if listed[k] == nil {
				return false
			}
		}
		return true
	})
	for _, k := range want[:2] {
		if a := listed[k]; a.CameraId != id || a.Source != "recorder/rec-alarm" || a.State != pb.AlarmState_ALARM_STATE_RAISED {
			t.Errorf("%v: %+v", k, a)
		}
	}
	full := listed[pb.AlarmKind_ALARM_KIND_RECORDING_DISK_FULL]
	if full.CameraId != "" || full.Source != "recorder/rec-alarm" || full.Cause == "" {
		t.Errorf("disk full: %+v", full)
	}
	// The contractor's scope (one site, not this camera's) shows neither the
	// camera's alarms nor the node's.
	if got := byKind("contractor", false); len(got) != 0 {
		t.Errorf("the contractor sees %d alarms", len(got))
	}

	// The same alarms on the event stream.
	seen := map[pb.AlarmKind]bool{}
	timeout := time.After(30 * time.Second)
	for len(seen) < len(want) {
		select {
		case a, ok := <-watched:
			if !ok {
				t.Fatal("the watch ended")
			}
			if a.Source == "recorder/rec-alarm" {
				seen[a.Kind] = true
			}
		case <-timeout:
			t.Fatalf("WatchEvents carried only %v of the recorder's alarms", seen)
		}
	}

	// Acknowledging the quarantine (an event) clears it; the disk-full
	// condition stays open, acknowledged, until space is back.
	q := listed[pb.AlarmKind_ALARM_KIND_RECORDING_QUARANTINED]
	acked, err := hc.AcknowledgeAlarm(h.as("operator"), &pb.AcknowledgeAlarmRequest{AlarmId: q.Id, Note: "파일 확인"})
	if err != nil || acked.State != pb.AlarmState_ALARM_STATE_CLEARED {
		t.Fatalf("acknowledge the quarantine: %v %+v", err, acked)
	}
	if _, err := hc.AcknowledgeAlarm(h.as("contractor"), &pb.AcknowledgeAlarmRequest{AlarmId: full.Id}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("the contractor acknowledged the node's alarm: %v", err)
	}
	acked, err = hc.AcknowledgeAlarm(h.as("operator"), &pb.AcknowledgeAlarmRequest{AlarmId: full.Id, Note: "증설 요청"})
	if err != nil || acked.State != pb.AlarmState_ALARM_STATE_ACKNOWLEDGED {
		t.Fatalf("acknowledge disk full: %v %+v", err, acked)
	}
	raise(record.Alarm{Kind: record.AlarmDiskOK, Detail: "space available again"})
	eventually(t, "disk full cleared", func() bool {
		open := byKind("operator", true)
		return open[pb.AlarmKind_ALARM_KIND_RECORDING_DISK_FULL] == nil && open[pb.AlarmKind_ALARM_KIND_RECORDING_QUARANTINED] == nil &&
			open[pb.AlarmKind_ALARM_KIND_RECORDING_MISSING] != nil
	})
}
