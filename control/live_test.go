package control

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gwanje/gwanje/audit"
	"github.com/gwanje/gwanje/camsim"
	pb "github.com/gwanje/gwanje/proto/gwanje/v1"
)

// registerCamera registers a camsim camera on a new site as the technician.
func (h *harness) registerCamera(d camsim.Dialect) string {
	h.t.Helper()
	cl := pb.NewDeviceServiceClient(h.conn)
	site, err := cl.CreateSite(h.as("technician"), &pb.CreateSiteRequest{Reason: "설치", Fields: &pb.SiteFields{Name: "역 광장", Department: "안전총괄과"}})
	if err != nil {
		h.t.Fatal(err)
	}
	cam := startCamera(h.t, d)
	info := cam.Info()
	res, err := cl.RegisterCamera(h.as("technician"), &pb.RegisterCameraRequest{DeviceUrl: cam.DeviceServiceURL(), Username: info.Username,
		Password: info.Password, Reason: "설치", Fields: &pb.CameraFields{SiteId: site.Id, Name: "광장", Purpose: "방범"}})
	if err != nil {
		h.t.Fatal(err)
	}
	return res.Camera.Id
}

// watch opens url like a player and counts H.264 packets.
func watch(t *testing.T, url string) (*gortsplib.Client, *atomic.Int64) {
	t.Helper()
	u, err := base.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	tcp := gortsplib.ProtocolTCP
	c := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Protocol: &tcp, ReadTimeout: 5 * time.Second}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	desc, _, err := c.Describe(u)
	if err != nil {
		t.Fatal(err)
	}
	var h264 *format.H264
	medi := desc.FindFormat(&h264)
	if medi == nil {
		t.Fatal("no H.264 in the relayed stream")
	}
	if _, err := c.Setup(desc.BaseURL, medi, 0, 0); err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	c.OnPacketRTP(medi, h264, func(*rtp.Packet) { n.Add(1) })
	if _, err := c.Play(nil); err != nil {
		t.Fatal(err)
	}
	return c, &n
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestLiveViewIsDecidedRecordedThenRelayed(t *testing.T) {
	h := newHarness(t)
	id := h.registerCamera(camsim.DialectAxis)
	cl := pb.NewStreamServiceClient(h.conn)

	if _, err := cl.StartLiveView(h.as("operator"), &pb.StartLiveViewRequest{CameraId: id}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("no purpose: %v", err)
	}
	if _, err := cl.StartLiveView(h.as("operator"), &pb.StartLiveViewRequest{CameraId: id, Purpose: pb.Purpose_PURPOSE_OTHER}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("purpose other without text: %v", err)
	}
	// The contractor's contract does not cover this site.
	if _, err := cl.StartLiveView(h.as("contractor"), &pb.StartLiveViewRequest{CameraId: id, Purpose: pb.Purpose_PURPOSE_MAINTENANCE}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("contractor outside contract: %v", err)
	}
	if _, err := cl.StartLiveView(h.as("technician"), &pb.StartLiveViewRequest{CameraId: id, Purpose: pb.Purpose_PURPOSE_MAINTENANCE}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("technician (no footage rights): %v", err)
	}

	res, err := cl.StartLiveView(h.as("operator"), &pb.StartLiveViewRequest{CameraId: id, Purpose: pb.Purpose_PURPOSE_CRIME_PREVENTION, PurposeText: "112 신고 출동 확인"})
	if err != nil {
		t.Fatal(err)
	}
	// The start was committed before the ticket existed.
	page, err := h.audit.Query(context.Background(), audit.Filter{Camera: id, Types: []string{"live.view.start"}})
	if err != nil {
		t.Fatal(err)
	}
	var sawGrant, sawDenied bool
	for _, e := range page.Entries {
		switch {
		case e.Seq == res.AuditSeq && e.Entry.Outcome == audit.Success && e.Entry.Live && e.Entry.Purpose == "crime_prevention":
			sawGrant = true
		case e.Entry.Outcome == audit.Denied && e.Entry.Actor.Username == "u-contractor":
			sawDenied = true
		}
	}
	if !sawGrant || !sawDenied {
		t.Fatalf("live.view.start entries: granted %v, contractor's denial %v", sawGrant, sawDenied)
	}

	player, packets := watch(t, res.Url)
	eventually(t, "video through the relay", func() bool { return packets.Load() > 20 })

	// A manager in scope sees the view and ends it.
	list, err := cl.ListLiveSessions(h.as("manager"), &pb.ListLiveSessionsRequest{All: true})
	if err != nil || len(list.Sessions) != 1 || list.Sessions[0].Username != "u-operator" {
		t.Fatalf("manager's list: %v %v", list, err)
	}
	if _, err := cl.StopLiveView(h.as("police"), &pb.StopLiveViewRequest{SessionId: list.Sessions[0].SessionId}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("police stopped someone's view: %v", err)
	}
	if _, err := cl.StopLiveView(h.as("manager"), &pb.StopLiveViewRequest{SessionId: list.Sessions[0].SessionId, Reason: "점검"}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- player.Wait() }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("player ended without an error")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the stopped view still plays")
	}
	eventually(t, "live.view.end recorded", func() bool {
		p, err := h.audit.Query(context.Background(), audit.Filter{Camera: id, Types: []string{"live.view.end"}})
		return err == nil && len(p.Entries) == 1
	})

	// The ticket was good once.
	u, _ := base.ParseURL(res.Url)
	c := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, _, err := c.Describe(u); err == nil {
		t.Fatal("a used ticket opened the stream again")
	}
}
