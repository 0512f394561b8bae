package control

import (
	"errors"
	"io"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gwanje/gwanje/camsim"
	pb "github.com/gwanje/gwanje/proto/gwanje/v1"
)

// TestDiscoverOverGRPC calls DeviceService.Discover over gRPC against camsim
// cameras on loopback: the technician gets every camera once, the one
// already registered marked with its ID; an operator is refused.
func TestDiscoverOverGRPC(t *testing.T) {
	h := newHarness(t)
	cams := []*camsim.Camera{startCamera(t, camsim.DialectHikvision), startCamera(t, camsim.DialectAxis), startCamera(t, camsim.DialectDahua)}
	registered := h.registerAt(cams[0], h.site("역 광장"), "광장")
	var targets []string
	for _, c := range cams {
		targets = append(targets, c.DiscoveryAddr().String())
	}
	cl := pb.NewDeviceServiceClient(h.conn)

	st, err := cl.Discover(h.as("technician"), &pb.DiscoverRequest{Targets: targets})
	if err != nil {
		t.Fatal(err)
	}
	byURL := map[string]*pb.DiscoverResponse{}
	for {
		c, err := st.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if byURL[c.GetDeviceUrl()] != nil {
			t.Fatalf("%s found twice", c.GetDeviceUrl())
		}
		byURL[c.GetDeviceUrl()] = c
	}
	for i, c := range cams {
		got := byURL[c.DeviceServiceURL()]
		switch {
		case got == nil:
			t.Fatalf("camera %s not discovered (got %v)", c.DeviceServiceURL(), byURL)
		case i == 0 && (!got.GetRegistered() || got.GetCameraId() != registered):
			t.Fatalf("the registered camera is not marked: %+v", got)
		case i > 0 && got.GetRegistered():
			t.Fatalf("an unregistered camera is marked: %+v", got)
		}
	}
	if len(byURL) != len(cams) {
		t.Fatalf("discovered %d devices, want %d", len(byURL), len(cams))
	}

	st, err = cl.Discover(h.as("operator"), &pb.DiscoverRequest{Targets: targets})
	if err == nil {
		_, err = st.Recv()
	}
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("operator discovered: %v", err)
	}
}

// site creates a site as the technician and returns its ID.
func (h *harness) site(name string) string {
	h.t.Helper()
	s, err := pb.NewDeviceServiceClient(h.conn).CreateSite(h.as("technician"), &pb.CreateSiteRequest{Reason: "설치",
		Fields: &pb.SiteFields{Name: name, Department: "안전총괄과"}})
	if err != nil {
		h.t.Fatal(err)
	}
	return s.GetId()
}

// registerAt registers a running camsim camera on a site as the technician.
func (h *harness) registerAt(cam *camsim.Camera, siteID, name string) string {
	h.t.Helper()
	info := cam.Info()
	res, err := pb.NewDeviceServiceClient(h.conn).RegisterCamera(h.as("technician"), &pb.RegisterCameraRequest{
		DeviceUrl: cam.DeviceServiceURL(), Username: info.Username, Password: info.Password, Reason: "설치",
		Fields: &pb.CameraFields{SiteId: siteID, Name: name, Purpose: "방범"}})
	if err != nil {
		h.t.Fatal(err)
	}
	return res.GetCamera().GetId()
}
