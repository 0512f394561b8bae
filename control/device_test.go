package control

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gwanje/gwanje/audit"
	"github.com/gwanje/gwanje/camsim"
	pb "github.com/gwanje/gwanje/proto/gwanje/v1"
)

func startCamera(t *testing.T, d camsim.Dialect) *camsim.Camera {
	t.Helper()
	cam, err := camsim.New(camsim.Config{Dialect: d})
	if err != nil {
		t.Fatal(err)
	}
	if err := cam.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cam.Close() })
	return cam
}

// TestRegisterAndScopedReads registers camsim cameras through DeviceService
// as a technician and reads them back as other roles: the contractor sees
// only the cameras of the site in their contract.
func TestRegisterAndScopedReads(t *testing.T) {
	h := newHarness(t)
	cl := pb.NewDeviceServiceClient(h.conn)
	tech := h.as("technician")
	siteA, err := cl.CreateSite(tech, &pb.CreateSiteRequest{Reason: "설치", Fields: &pb.SiteFields{Name: "시청 앞", Department: "안전총괄과", RoadAddress: "○○시 중앙로 1"}})
	if err != nil {
		t.Fatal(err)
	}
	siteB, err := cl.CreateSite(tech, &pb.CreateSiteRequest{Reason: "설치", Fields: &pb.SiteFields{Name: "공원", Department: "안전총괄과"}})
	if err != nil {
		t.Fatal(err)
	}
	// The harness's contract covers "site-a"; this test's contractor scope
	// names the real site id instead.
	var ids []string
	for i, d := range camsim.Dialects {
		cam := startCamera(t, d)
		site := siteA.Id
		if i > 0 {
			site = siteB.Id
		}
		info := cam.Info()
		res, err := cl.RegisterCamera(tech, &pb.RegisterCameraRequest{
			DeviceUrl: cam.DeviceServiceURL(), Username: info.Username, Password: info.Password, Reason: "신규 설치",
			Fields: &pb.CameraFields{SiteId: site, Name: string(d), Purpose: "방범", Schedule: "24시간", RetentionDays: 30},
		})
		if err != nil {
			t.Fatalf("register %s: %v", d, err)
		}
		if res.Camera.Device.Manufacturer == "" || len(res.Camera.Device.Profiles) == 0 || !res.Camera.HasCredentials {
			t.Fatalf("registered camera lacks facts: %+v", res.Camera.Device)
		}
		ids = append(ids, res.Camera.Id)
	}

	// Wrong password: a clear refusal, nothing stored.
	cam := startCamera(t, camsim.DialectHikvision)
	_, err = cl.RegisterCamera(tech, &pb.RegisterCameraRequest{DeviceUrl: cam.DeviceServiceURL(), Username: "admin", Password: "wrong", Reason: "x",
		Fields: &pb.CameraFields{SiteId: siteA.Id, Name: "bad", Purpose: "방범"}})
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("wrong password: %v", err)
	}

	list, err := cl.ListCameras(h.as("operator"), &pb.ListCamerasRequest{})
	if err != nil || len(list.Cameras) != len(ids) {
		t.Fatalf("operator lists %d cameras (%v), want %d", len(list.GetCameras()), err, len(ids))
	}
	if _, err := cl.ListCameras(h.as("auditor"), &pb.ListCamerasRequest{}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("auditor lists cameras: %v", err)
	}
	// The harness contractor's contract covers "site-a", not these sites.
	list, err = cl.ListCameras(h.as("contractor"), &pb.ListCamerasRequest{})
	if err != nil || len(list.Cameras) != 0 {
		t.Fatalf("contractor outside their contract sees %d cameras (%v)", len(list.GetCameras()), err)
	}
	if _, err := cl.GetCamera(h.as("contractor"), &pb.GetCameraRequest{CameraId: ids[0]}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("contractor reads a camera outside their contract: %v", err)
	}
	got, err := cl.GetCamera(h.as("operator"), &pb.GetCameraRequest{CameraId: ids[0]})
	if err != nil || got.Fields.SiteId != siteA.Id {
		t.Fatalf("get: %v %v", got, err)
	}
}

// TestSnapshotAndPTZNeedAPurposeAndAreRecordedFirst: footage actions on a
// camera state a purpose, are recorded before the camera is touched, and are
// refused to roles without the right.
func TestSnapshotAndPTZNeedAPurposeAndAreRecordedFirst(t *testing.T) {
	h := newHarness(t)
	cl := pb.NewDeviceServiceClient(h.conn)
	site, err := cl.CreateSite(h.as("technician"), &pb.CreateSiteRequest{Reason: "설치", Fields: &pb.SiteFields{Name: "교차로"}})
	if err != nil {
		t.Fatal(err)
	}
	cam, err := camsim.New(camsim.Config{Dialect: camsim.DialectHikvision, PTZ: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := cam.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cam.Close() })
	info := cam.Info()
	reg, err := cl.RegisterCamera(h.as("technician"), &pb.RegisterCameraRequest{DeviceUrl: cam.DeviceServiceURL(), Username: info.Username,
		Password: info.Password, Reason: "설치", Fields: &pb.CameraFields{SiteId: site.Id, Name: "ptz", Purpose: "방범"}})
	if err != nil {
		t.Fatal(err)
	}
	id := reg.Camera.Id

	if _, err := cl.GetSnapshot(h.as("operator"), &pb.GetSnapshotRequest{CameraId: id}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("snapshot without a purpose: %v", err)
	}
	snap, err := cl.GetSnapshot(h.as("operator"), &pb.GetSnapshotRequest{CameraId: id, Purpose: pb.Purpose_PURPOSE_CRIME_PREVENTION})
	if err != nil || len(snap.Image) == 0 || snap.AuditSeq == 0 {
		t.Fatalf("snapshot: %v", err)
	}
	if _, err := cl.GetSnapshot(h.as("technician"), &pb.GetSnapshotRequest{CameraId: id, Purpose: pb.Purpose_PURPOSE_MAINTENANCE}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("technician took a snapshot: %v", err)
	}
	if _, err := cl.ControlPTZ(h.as("operator"), &pb.ControlPTZRequest{CameraId: id, Action: "set_preset", PresetName: "정문", Purpose: pb.Purpose_PURPOSE_CRIME_PREVENTION}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.ControlPTZ(h.as("police"), &pb.ControlPTZRequest{CameraId: id, Action: "stop", Purpose: pb.Purpose_PURPOSE_CRIME_PREVENTION}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("police moved a camera: %v", err)
	}
	// An action that cannot be valid is refused before anything is recorded
	// (it was once committed as a success, then as a failure).
	before := h.lastSeq()
	for _, bad := range []*pb.ControlPTZRequest{
		{CameraId: id, Action: "bogus", Purpose: pb.Purpose_PURPOSE_CRIME_PREVENTION},
		{CameraId: id, Action: "goto", Purpose: pb.Purpose_PURPOSE_CRIME_PREVENTION},
		{CameraId: id, Action: "set_preset", PresetName: " ", Purpose: pb.Purpose_PURPOSE_CRIME_PREVENTION},
	} {
		if _, err := cl.ControlPTZ(h.as("operator"), bad); status.Code(err) != codes.InvalidArgument {
			t.Fatalf("PTZ %q: %v, want InvalidArgument", bad.Action, err)
		}
	}
	if after := h.lastSeq(); after != before {
		t.Fatalf("invalid PTZ commands wrote %d audit entries", after-before)
	}
	page, err := h.audit.Query(context.Background(), audit.Filter{Camera: id, Types: []string{"snapshot.view", "ptz.*"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Entries) != 2 {
		t.Fatalf("want the snapshot and the PTZ command recorded, got %d entries", len(page.Entries))
	}
	for _, e := range page.Entries {
		if e.Entry.Purpose != "crime_prevention" || e.Entry.Actor.Username != "u-operator" {
			t.Fatalf("entry %+v", e.Entry)
		}
	}
}
