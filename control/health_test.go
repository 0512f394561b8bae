package control

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gwanje/gwanje/audit"
	"github.com/gwanje/gwanje/camsim"
	"github.com/gwanje/gwanje/devices/health"
	pb "github.com/gwanje/gwanje/proto/gwanje/v1"
)

// TestWatchEventsFollowsACameraGoingDark runs a real health worker over the
// registry and watches through the gRPC stream: the operator sees the camera
// go offline and come back; the contractor, outside the camera's site, sees
// nothing of it.
func TestWatchEventsFollowsACameraGoingDark(t *testing.T) {
	h := newHarness(t)
	cl := pb.NewDeviceServiceClient(h.conn)
	site, err := cl.CreateSite(h.as("technician"), &pb.CreateSiteRequest{Reason: "설치", Fields: &pb.SiteFields{Name: "터널"}})
	if err != nil {
		t.Fatal(err)
	}
	cam := startCamera(t, camsim.DialectDahua)
	info := cam.Info()
	reg, err := cl.RegisterCamera(h.as("technician"), &pb.RegisterCameraRequest{DeviceUrl: cam.DeviceServiceURL(), Username: info.Username,
		Password: info.Password, Reason: "설치", Fields: &pb.CameraFields{SiteId: site.Id, Name: "터널 입구", Purpose: "재난감시"}})
	if err != nil {
		t.Fatal(err)
	}
	id := reg.Camera.Id

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, err := health.NewWorker(health.WorkerConfig{Conn: h.bus.Conn, Targets: HealthTargets(h.devices),
		Interval: 500 * time.Millisecond, ProbeTimeout: 2 * time.Second, Shards: 4, LeaseTTL: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	go w.Run(ctx)
	defer w.Close()

	hc := pb.NewHealthServiceClient(h.conn)
	st, err := hc.WatchEvents(h.as("operator"), &pb.WatchEventsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	states := make(chan pb.CameraState, 64)
	go func() {
		for {
			m, err := st.Recv()
			if err != nil {
				close(states)
				return
			}
			if s := m.GetStatus(); s != nil && s.CameraId == id {
				states <- s.State
			}
		}
	}()
	waitState := func(want pb.CameraState) {
		t.Helper()
		timeout := time.After(20 * time.Second)
		for {
			select {
			case s, ok := <-states:
				if !ok {
					t.Fatalf("watch ended before %v", want)
				}
				if s == want {
					return
				}
			case <-timeout:
				t.Fatalf("no %v within 20s", want)
			}
		}
	}
	waitState(pb.CameraState_CAMERA_STATE_ONLINE)
	cam.SetFaults(camsim.Faults{Offline: true})
	waitState(pb.CameraState_CAMERA_STATE_OFFLINE)
	// A live view of a camera known to be down is refused to the caller,
	// with why, and the attempt is recorded.
	_, err = pb.NewStreamServiceClient(h.conn).StartLiveView(h.as("operator"), &pb.StartLiveViewRequest{CameraId: id, Purpose: pb.Purpose_PURPOSE_DISASTER_RESPONSE})
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(status.Convert(err).Message(), "offline") {
		t.Fatalf("live view of an offline camera: %v", err)
	}
	page, err := h.audit.Query(context.Background(), audit.Filter{Camera: id, Types: []string{"live.view.start"}, Outcome: audit.Failed})
	if err != nil || len(page.Entries) != 1 {
		t.Fatalf("the refused live view is not recorded: %d %v", len(page.Entries), err)
	}
	cam.SetFaults(camsim.Faults{})
	waitState(pb.CameraState_CAMERA_STATE_ONLINE)

	// The contractor's stream carries nothing of this camera.
	cst, err := hc.WatchEvents(h.as("contractor"), &pb.WatchEventsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for {
		m, err := cst.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if m.GetStatus().GetCameraId() == id {
			t.Fatal("a contractor sees a camera outside their contract")
		}
		if m.SnapshotDone {
			break
		}
	}
}
