package control

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/gwanje/gwanje/audit"
	"github.com/gwanje/gwanje/camsim"
	pb "github.com/gwanje/gwanje/proto/gwanje/v1"
	"github.com/gwanje/gwanje/stream/record"
)

// TestRecordListPlayBackAndHold records a registered camsim camera with the
// real recorder, lists the footage, plays it back through the playback
// server under an audited, purpose-bound ticket, and holds it.
func TestRecordListPlayBackAndHold(t *testing.T) {
	h := newHarness(t)
	id := h.registerCamera(camsim.DialectHikvision)
	start := time.Now()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rec, err := record.New(record.Config{Store: h.recStore, Cameras: RecordingCameras(h.devices),
		Source: &record.RTSPSource{Upstreams: RelayCameras(h.devices)}, SegmentDuration: time.Second, RefreshInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	go rec.Run(ctx)
	defer rec.Close()

	cl := pb.NewRecordingServiceClient(h.conn)
	var list *pb.ListRecordingsResponse
	eventually(t, "three recorded segments", func() bool {
		list, err = cl.ListRecordings(h.as("operator"), &pb.ListRecordingsRequest{CameraId: id, From: timestamppb.New(start.Add(-time.Minute)), To: timestamppb.New(time.Now().Add(time.Minute))})
		if err != nil {
			t.Fatal(err)
		}
		n := int32(0)
		for _, s := range list.Spans {
			n += s.Segments
		}
		return n >= 3
	})
	if len(list.Gaps) == 0 {
		t.Fatal("the minute before recording started is not shown as a gap")
	}
	span := list.Spans[0]

	if _, err := cl.StartPlayback(h.as("contractor"), &pb.StartPlaybackRequest{CameraId: id, From: span.Start, To: span.End, Purpose: pb.Purpose_PURPOSE_MAINTENANCE}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("contractor played back: %v", err)
	}
	if _, err := cl.StartPlayback(h.as("operator"), &pb.StartPlaybackRequest{CameraId: id, From: timestamppb.New(start.Add(-time.Hour)), To: timestamppb.New(start.Add(-50 * time.Minute)), Purpose: pb.Purpose_PURPOSE_CRIME_PREVENTION}); status.Code(err) != codes.NotFound {
		t.Fatalf("playback of a range with no footage: %v", err)
	}
	res, err := cl.StartPlayback(h.as("operator"), &pb.StartPlaybackRequest{CameraId: id, From: span.Start, To: span.End, Purpose: pb.Purpose_PURPOSE_CRIME_PREVENTION, PurposeText: "사건 확인"})
	if err != nil {
		t.Fatal(err)
	}
	page, err := h.audit.Query(context.Background(), audit.Filter{Camera: id, Types: []string{"playback.start"}, Outcome: audit.Success})
	if err != nil || len(page.Entries) != 1 {
		t.Fatalf("playback.start entries: %d %v", len(page.Entries), err)
	}
	e := page.Entries[0]
	if e.Seq != res.AuditSeq || e.Entry.FootageFrom == nil || !e.Entry.FootageFrom.Equal(span.Start.AsTime()) || e.Entry.Purpose != "crime_prevention" {
		t.Fatalf("playback.start does not record the footage's range: %+v", e.Entry)
	}
	_, packets := watch(t, res.Url)
	eventually(t, "recorded video played back", func() bool { return packets.Load() > 10 })

	rc := pb.NewRecordingServiceClient(h.conn)
	if _, err := rc.CreateHold(h.as("operator"), &pb.CreateHoldRequest{Cameras: []string{id}, From: span.Start, To: span.End, CaseRef: "2026-형-1", Reason: "수사"}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("operator created a hold: %v", err)
	}
	hold, err := rc.CreateHold(h.as("manager"), &pb.CreateHoldRequest{Cameras: []string{id}, From: span.Start, To: span.End, CaseRef: "2026-형-1", Reason: "수사 협조 요청"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rc.ReleaseHold(h.as("manager"), &pb.ReleaseHoldRequest{HoldId: hold.Id, Reason: "수사 종결"}); err != nil {
		t.Fatal(err)
	}
	page, err = h.audit.Query(context.Background(), audit.Filter{Camera: id, Types: []string{"recording.hold.*"}})
	if err != nil || len(page.Entries) != 2 {
		t.Fatalf("hold entries: %d %v", len(page.Entries), err)
	}
}

// TestListRecordingsNodeDown: two recorders of a pool record a camera in
// turn (the first closes and hands it over); ListRecordings names the node
// of each span and shows the first node's footage, once it is down, as
// "unavailable (node … down)", never as a gap.
func TestListRecordingsNodeDown(t *testing.T) {
	h := newHarness(t)
	id := h.registerCamera(camsim.DialectHikvision)
	start := time.Now()
	run := func(s *record.Store) (*record.Recorder, chan error) {
		r, err := record.New(record.Config{Store: s, Cameras: RecordingCameras(h.devices),
			Source: &record.RTSPSource{Upstreams: RelayCameras(h.devices)}, SegmentDuration: time.Second,
			RefreshInterval: time.Second, Pool: &record.PoolConfig{JS: h.bus.JS, TTL: 1500 * time.Millisecond}})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- r.Run(context.Background()) }()
		return r, done
	}
	cl := pb.NewRecordingServiceClient(h.conn)
	list := func() *pb.ListRecordingsResponse {
		l, err := cl.ListRecordings(h.as("operator"), &pb.ListRecordingsRequest{CameraId: id,
			From: timestamppb.New(start.Add(-time.Minute)), To: timestamppb.New(time.Now().Add(time.Minute))})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	bySpan := func(l *pb.ListRecordingsResponse, node string) []*pb.RecordedSpan {
		var out []*pb.RecordedSpan
		for _, s := range l.Spans {
			if s.Node == node {
				out = append(out, s)
			}
		}
		return out
	}
	a, aDone := run(h.recStore)
	eventually(t, "footage of the first node", func() bool {
		ss := bySpan(list(), h.recStore.Node())
		return len(ss) > 0 && ss[0].Segments >= 2
	})
	if s := bySpan(list(), h.recStore.Node())[0]; s.Availability != pb.RecordingAvailability_RECORDING_AVAILABILITY_AVAILABLE {
		t.Fatalf("a span of a node that is up: %v", s.Availability)
	}
	other, err := record.NewStore(record.StoreConfig{Pool: h.recStore.Pool(), Dir: t.TempDir(), DataDir: h.recStore.Dir(), Node: "rec-2", MinFreeBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	b, bDone := run(other)
	a.Close() // hands the camera over and leaves the pool: its node is down
	if err := <-aDone; err != nil {
		t.Fatal(err)
	}
	var l *pb.ListRecordingsResponse
	eventually(t, "footage of the second node", func() bool {
		l = list()
		return len(bySpan(l, "rec-2")) > 0
	})
	defer func() {
		b.Close()
		if err := <-bDone; err != nil {
			t.Error(err)
		}
	}()
	for _, s := range bySpan(l, "rec-2") {
		if s.Availability != pb.RecordingAvailability_RECORDING_AVAILABILITY_AVAILABLE {
			t.Fatalf("a span of the node that is up: %v", s.Availability)
		}
	}
	down := bySpan(l, h.recStore.Node())
	if len(down) == 0 {
		t.Fatal("the first node's footage is not listed")
	}
	for _, s := range down {
		if s.Availability != pb.RecordingAvailability_RECORDING_AVAILABILITY_NODE_DOWN || s.UnavailableReason != "node "+h.recStore.Node()+" down" {
			t.Fatalf("a span of a node that is down: %v %q", s.Availability, s.UnavailableReason)
		}
		for _, g := range l.Gaps {
			if g.Start.AsTime().Before(s.End.AsTime()) && s.Start.AsTime().Before(g.End.AsTime()) {
				t.Fatalf("footage of a node that is down shown as a gap: %v", g)
			}
		}
	}
}
