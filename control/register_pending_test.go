package control

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gwanje/gwanje/camsim"
	pb "github.com/gwanje/gwanje/proto/gwanje/v1"
)

// TestRegisterPendingOverGRPC registers, over gRPC, a camera whose clock
// answer faults and whose RTSP port refuses connections: refused with
// strict; otherwise registered pending with the reasons in the response and
// on the camera, and the clock offset unset.
func TestRegisterPendingOverGRPC(t *testing.T) {
	h := newHarness(t)
	cl := pb.NewDeviceServiceClient(h.conn)
	tech := h.as("technician")
	site, err := cl.CreateSite(tech, &pb.CreateSiteRequest{Reason: "설치", Fields: &pb.SiteFields{Name: "공사 중인 교차로"}})
	if err != nil {
		t.Fatal(err)
	}
	cam, err := camsim.New(camsim.Config{Dialect: camsim.DialectAxis, Faults: camsim.Faults{ClockFault: true, RTSPRefused: true}})
	if err != nil {
		t.Fatal(err)
	}
	if err := cam.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cam.Close() })
	info := cam.Info()
	req := &pb.RegisterCameraRequest{DeviceUrl: cam.DeviceServiceURL(), Username: info.Username, Password: info.Password,
		Reason: "선 설치", Strict: true, Fields: &pb.CameraFields{SiteId: site.Id, Name: "pending", Purpose: "방범"}}
	if _, err := cl.RegisterCamera(tech, req); status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "RTSP") {
		t.Fatalf("strict: %v, want FailedPrecondition (RTSP)", err)
	}
	req.Strict = false
	res, err := cl.RegisterCamera(tech, req)
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	if len(res.Pending) != 1 || !strings.Contains(res.Pending[0], "stream not reachable yet") || res.ClockOffset != nil {
		t.Fatalf("pending %q clock %v", res.Pending, res.ClockOffset)
	}
	if len(res.Warnings) == 0 || !strings.Contains(strings.Join(res.Warnings, "\n"), "clock") {
		t.Fatalf("warnings %q", res.Warnings)
	}
	got, err := cl.GetCamera(h.as("operator"), &pb.GetCameraRequest{CameraId: res.Camera.Id})
	if err != nil || len(got.PendingReasons) != 1 || got.Device.ClockOffset != nil {
		t.Fatalf("get: %v %v", got, err)
	}
	// Health workers probe it as pending.
	ts, err := HealthTargets(h.devices).ProbeTargets(context.Background())
	if err != nil || len(ts) != 1 || !ts[0].Pending || ts[0].CameraID != res.Camera.Id {
		t.Fatalf("health targets %+v %v", ts, err)
	}
	// Once health reports it up, the registration is complete.
	if _, err := h.devices.CameraUp(context.Background(), res.Camera.Id, "degraded"); err != nil {
		t.Fatal(err)
	}
	got, err = cl.GetCamera(h.as("operator"), &pb.GetCameraRequest{CameraId: res.Camera.Id})
	if err != nil || len(got.PendingReasons) != 0 {
		t.Fatalf("after CameraUp: %v %v", got.GetPendingReasons(), err)
	}
	ts, _ = HealthTargets(h.devices).ProbeTargets(context.Background())
	if len(ts) != 1 || ts[0].Pending {
		t.Fatalf("still pending for health: %+v", ts)
	}
}
