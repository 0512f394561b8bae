package control

import (
	"slices"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/gwanje/gwanje/audit"
	pb "github.com/gwanje/gwanje/proto/gwanje/v1"
)

// TestPlannedCamerasAndBatchUpdate: cameras recorded without a device
// (CreateCamera, planned) are changed as a table by one BatchUpdateCameras
// selected by a filter, with one audit entry listing them; a caller
// without device.configure on one of them changes none.
func TestPlannedCamerasAndBatchUpdate(t *testing.T) {
	h := newHarness(t)
	cl := pb.NewDeviceServiceClient(h.conn)
	tech := h.as("technician")
	site, err := cl.CreateSite(tech, &pb.CreateSiteRequest{Reason: "설치 계획", Fields: &pb.SiteFields{Name: "버스전용차로 1구간", Department: "교통행정과"}})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, name := range []string{"BRT-1", "BRT-2", "BRT-3"} {
		c, err := cl.CreateCamera(tech, &pb.CreateCameraRequest{Reason: "설치 계획", Fields: &pb.CameraFields{SiteId: site.Id, Name: name, Purpose: "방범"}})
		if err != nil {
			t.Fatal(err)
		}
		if c.GetFields().GetLifecycle() != pb.CameraLifecycle_CAMERA_LIFECYCLE_PLANNED || c.GetDevice().GetDeviceUrl() != "" {
			t.Fatalf("created camera: %v", c)
		}
		ids = append(ids, c.Id)
	}
	req := &pb.BatchUpdateCamerasRequest{
		Filter:     &pb.CameraFilter{SiteId: site.Id},
		Fields:     &pb.CameraFields{Schedule: "평일 07:00~09:00, 17:00~20:00", MonitoringPlace: "교통정보센터"},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"schedule", "monitoring_place"}},
		Reason:     "운영시간 현행화",
	}
	if _, err := cl.BatchUpdateCameras(h.as("auditor"), req); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("auditor: %v", err)
	}
	bad := &pb.BatchUpdateCamerasRequest{Filter: req.Filter, Fields: req.Fields, Reason: "x", UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"colour"}}}
	if _, err := cl.BatchUpdateCameras(tech, bad); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("unknown path: %v", err)
	}
	none := &pb.BatchUpdateCamerasRequest{Filter: &pb.CameraFilter{Department: "없는과"}, Fields: req.Fields, UpdateMask: req.UpdateMask, Reason: "x"}
	if _, err := cl.BatchUpdateCameras(tech, none); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("nothing selected: %v", err)
	}
	res, err := cl.BatchUpdateCameras(tech, req)
	if err != nil {
		t.Fatal(err)
	}
	got := slices.Clone(res.GetCameraIds())
	slices.Sort(got)
	slices.Sort(ids)
	if !slices.Equal(got, ids) {
		t.Fatalf("updated %v, want %v", got, ids)
	}
	for _, id := range ids {
		c, err := cl.GetCamera(tech, &pb.GetCameraRequest{CameraId: id})
		if err != nil || c.GetFields().GetMonitoringPlace() != "교통정보센터" || c.GetFields().GetSchedule() != "평일 07:00~09:00,17:00~20:00" {
			t.Fatalf("camera %s: %v %v", id, c.GetFields(), err)
		}
	}
	page, err := h.audit.Query(h.as(""), audit.Filter{Types: []string{"device.update.batch", "device.update"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Entries) != 1 {
		t.Fatalf("%d update entries, want one", len(page.Entries))
	}
	e := page.Entries[0].Entry
	cams := slices.Clone(e.Cameras)
	slices.Sort(cams)
	if e.Type != "device.update.batch" || e.Reason != "운영시간 현행화" || !slices.Equal(cams, ids) {
		t.Fatalf("entry %+v", e)
	}
}
