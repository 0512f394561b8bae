package control

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

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
	if _, err := cl.GetCamera(h.as("contractor"), &pb.GetCameraRequest{Id: ids[0]}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("contractor reads a camera outside their contract: %v", err)
	}
	got, err := cl.GetCamera(h.as("operator"), &pb.GetCameraRequest{Id: ids[0]})
	if err != nil || got.Fields.SiteId != siteA.Id {
		t.Fatalf("get: %v %v", got, err)
	}
}
