package control

import (
	"context"
	"testing"

	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/gwanje/gwanje/camsim"
	"github.com/gwanje/gwanje/devices"
	"github.com/gwanje/gwanje/devices/health"
	pb "github.com/gwanje/gwanje/proto/gwanje/v1"
)

// TestDomainCodesHaveEnumValues: every lifecycle, health state and alarm
// kind of the domain has its API enum value and back (control converts at
// the edge; the database keeps its codes).
func TestDomainCodesHaveEnumValues(t *testing.T) {
	for _, l := range []devices.Lifecycle{devices.Planned, devices.Active, devices.Maintenance, devices.Decommissioned} {
		e := enumOf[pb.CameraLifecycle](string(l))
		if e == 0 || devices.Lifecycle(pb.Code(e)) != l {
			t.Errorf("lifecycle %q ↔ %v", l, e)
		}
	}
	for _, s := range []health.State{health.Online, health.Degraded, health.Offline, health.Unauthorized, health.StreamFailed, health.Stalled, health.Maintenance} {
		if e := health.StateToProto(s); e == 0 || health.StateFromProto(e) != s {
			t.Errorf("state %q ↔ %v", s, e)
		}
	}
	for _, k := range []health.AlarmKind{health.AlarmOffline, health.AlarmClockDrift, health.AlarmRecordingQuarantined, health.AlarmRecordingMissing,
		health.AlarmRecordingWriteFailed, health.AlarmRecordingTampered, health.AlarmRecordingDiskFull, health.AlarmRecordingOverRetained,
		health.AlarmAuditIntegrity, health.AlarmAuditOversize} {
		if e := health.AlarmToProto(health.Alarm{Kind: k}).GetKind(); e == 0 || pb.Code(e) != string(k) {
			t.Errorf("alarm kind %q → %v", k, e)
		}
	}
}

// TestEnumFilters: ListCameras filters by lifecycle and health state
// enums, ListAlarms by alarm kinds.
func TestEnumFilters(t *testing.T) {
	h := newHarness(t)
	id := h.registerCamera(camsim.DialectHikvision)
	dc := pb.NewDeviceServiceClient(h.conn)
	cam, err := dc.UpdateCamera(h.as("technician"), &pb.UpdateCameraRequest{CameraId: id, Reason: "점검",
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"lifecycle"}},
		Fields:     &pb.CameraFields{Lifecycle: pb.CameraLifecycle_CAMERA_LIFECYCLE_MAINTENANCE}})
	if err != nil {
		t.Fatal(err)
	}
	if cam.GetFields().GetLifecycle() != pb.CameraLifecycle_CAMERA_LIFECYCLE_MAINTENANCE {
		t.Fatalf("lifecycle after update: %v", cam.GetFields().GetLifecycle())
	}
	for _, tc := range []struct {
		name string
		r    *pb.ListCamerasRequest
		want int
	}{
		{"any", &pb.ListCamerasRequest{}, 1},
		{"maintenance", &pb.ListCamerasRequest{Lifecycle: pb.CameraLifecycle_CAMERA_LIFECYCLE_MAINTENANCE}, 1},
		{"planned", &pb.ListCamerasRequest{Lifecycle: pb.CameraLifecycle_CAMERA_LIFECYCLE_PLANNED}, 0},
		// No health worker runs in the harness: the camera was never probed.
		{"not probed yet", &pb.ListCamerasRequest{States: []pb.CameraState{pb.CameraState_CAMERA_STATE_UNSPECIFIED}}, 1},
		{"online", &pb.ListCamerasRequest{States: []pb.CameraState{pb.CameraState_CAMERA_STATE_ONLINE, pb.CameraState_CAMERA_STATE_DEGRADED}}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := dc.ListCameras(h.as("operator"), tc.r)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.GetCameras()) != tc.want {
				t.Fatalf("%d cameras, want %d", len(res.GetCameras()), tc.want)
			}
		})
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rep, err := health.NewReporter(health.ReporterConfig{Pool: h.recStore.Pool(), Source: "recorder/enums"})
	if err != nil {
		t.Fatal(err)
	}
	go rep.Run(ctx)
	defer rep.Close()
	rep.Report(health.Report{CameraID: id, Kind: health.AlarmRecordingMissing, Cause: "gone"})
	rep.Report(health.Report{CameraID: id, Kind: health.AlarmRecordingTampered, Cause: "bad"})
	hc := pb.NewHealthServiceClient(h.conn)
	eventually(t, "two alarms listed", func() bool {
		res, err := hc.ListAlarms(h.as("operator"), &pb.ListAlarmsRequest{})
		return err == nil && len(res.GetAlarms()) == 2
	})
	res, err := hc.ListAlarms(h.as("operator"), &pb.ListAlarmsRequest{Kinds: []pb.AlarmKind{pb.AlarmKind_ALARM_KIND_RECORDING_TAMPERED}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.GetAlarms()) != 1 || res.GetAlarms()[0].GetKind() != pb.AlarmKind_ALARM_KIND_RECORDING_TAMPERED {
		t.Fatalf("kind filter: %v", res.GetAlarms())
	}
}
