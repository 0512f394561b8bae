package control

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gwanje/gwanje/audit"
	"github.com/gwanje/gwanje/camsim"
	pb "github.com/gwanje/gwanje/proto/gwanje/v1"
	"github.com/gwanje/gwanje/stream"
	"github.com/gwanje/gwanje/stream/whep"
)

// startWHEP starts the stream node's WHEP endpoint beside the harness's
// relay (ICE on free loopback ports) on an HTTPS server of its own, which
// also serves extra (a test page), and makes it the node's WHEP address.
func (h *harness) startWHEP(extra map[string]http.Handler) (*whep.Server, *httptest.Server) {
	h.t.Helper()
	w, err := whep.New(whep.Config{Source: whep.RelaySource{Relay: h.relay}, Tickets: h.tickets, Auditor: h.audit,
		Authorizer: AccessDecider(h.access, h.devices, time.Now), Notices: h.bus.Notices(), Views: h.relay,
		NodeID: h.relay.Node().ID, UDPAddr: "127.0.0.1:0", TCPAddr: "127.0.0.1:0"})
	if err != nil {
		h.t.Fatal(err)
	}
	if err := w.Start(); err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { w.Close() })
	mux := http.NewServeMux()
	mux.Handle("/whep/", w.Handler())
	for p, hd := range extra {
		mux.Handle(p, hd)
	}
	srv := httptest.NewTLSServer(mux)
	h.t.Cleanup(srv.Close)
	h.node.web = srv.URL
	return w, srv
}

// StartLiveView with transport WEBRTC: the same decision and committed
// live.view.start, a ticket bound to WebRTC in a WHEP URL on the node's
// HTTPS address, the view's id; H.265 profiles answered with the camera's
// H.264 one, saying so.
func TestStartLiveViewWebRTC(t *testing.T) {
	h := newHarness(t)
	id := h.registerCamera(camsim.DialectAxis)
	cl := pb.NewStreamServiceClient(h.conn)
	req := &pb.StartLiveViewRequest{CameraId: id, Profile: "sub", Purpose: pb.Purpose_PURPOSE_CRIME_PREVENTION,
		Transport: pb.Transport_TRANSPORT_WEBRTC}

	// No node serves WebRTC yet: refused, clearly, after the start was
	// recorded as failed.
	if _, err := cl.StartLiveView(h.as("operator"), req); status.Code(err) != codes.Unavailable {
		t.Fatalf("no WHEP endpoint: %v", err)
	}
	_, srv := h.startWHEP(nil)
	bad := &pb.StartLiveViewRequest{CameraId: id, Purpose: pb.Purpose_PURPOSE_CRIME_PREVENTION, Transport: pb.Transport(99)}
	if _, err := cl.StartLiveView(h.as("operator"), bad); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("unknown transport: %v", err)
	}
	if _, err := cl.StartLiveView(h.as("technician"), req); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("technician over WebRTC: %v", err)
	}
	res, err := cl.StartLiveView(h.as("operator"), req)
	if err != nil {
		t.Fatal(err)
	}
	if want := srv.URL + whep.LivePrefix + id + "/sub?ticket="; !strings.HasPrefix(res.Url, want) {
		t.Fatalf("url %q, want %s…", res.Url, want)
	}
	if res.Transport != pb.Transport_TRANSPORT_WEBRTC || res.Profile != "sub" || res.Notice != "" || res.SessionId == "" || res.AuditSeq <= 0 {
		t.Fatalf("response %+v", res)
	}
	page, err := h.audit.Query(context.Background(), audit.Filter{Camera: id, Types: []string{"live.view.start"}})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range page.Entries {
		if e.Seq == res.AuditSeq {
			found = e.Entry.Outcome == audit.Success && e.Entry.Details["transport"] == "webrtc" && e.Entry.Details["profile"] == "sub"
		}
	}
	if !found {
		t.Fatalf("no committed live.view.start %d with transport webrtc: %+v", res.AuditSeq, page.Entries)
	}
	// The ticket is the WebRTC kind: the RTSP relay refuses it, unused.
	g, err := h.tickets.Check(context.Background(), ticketOf(t, res.Url), id, "sub")
	if err != nil || g.Transport != stream.TransportWebRTC || g.ViewID != res.SessionId || g.AuditSeq != res.AuditSeq {
		t.Fatalf("ticket %+v, %v", g, err)
	}
	rtspRes, err := cl.StartLiveView(h.as("operator"), &pb.StartLiveViewRequest{CameraId: id, Purpose: pb.Purpose_PURPOSE_CRIME_PREVENTION})
	if err != nil || !strings.HasPrefix(rtspRes.Url, "rtsp://") || rtspRes.Transport != pb.Transport_TRANSPORT_RTSP || rtspRes.SessionId == "" {
		t.Fatalf("unset transport: %+v %v", rtspRes, err)
	}

	// Profile switches: one's own WebRTC views only.
	if _, err := cl.SwitchLiveProfile(h.as("operator"), &pb.SwitchLiveProfileRequest{SessionId: res.SessionId, Profile: "best"}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("bad profile: %v", err)
	}
	if _, err := cl.SwitchLiveProfile(h.as("operator"), &pb.SwitchLiveProfileRequest{SessionId: "nosuch", Profile: "main"}); status.Code(err) != codes.NotFound {
		t.Fatalf("unknown view: %v", err)
	}
	_, packets := watch(t, rtspRes.Url)
	eventually(t, "the RTSP view plays", func() bool { return packets.Load() > 0 })
	if _, err := cl.SwitchLiveProfile(h.as("police"), &pb.SwitchLiveProfileRequest{SessionId: rtspRes.SessionId, Profile: "sub"}); status.Code(err) != codes.NotFound {
		t.Fatalf("someone else's view: %v", err)
	}
	if _, err := cl.SwitchLiveProfile(h.as("operator"), &pb.SwitchLiveProfileRequest{SessionId: rtspRes.SessionId, Profile: "sub"}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("RTSP view: %v", err)
	}
	list, err := cl.ListLiveSessions(h.as("operator"), &pb.ListLiveSessionsRequest{})
	if err != nil || len(list.Sessions) != 1 || list.Sessions[0].SessionId != rtspRes.SessionId || list.Sessions[0].Transport != pb.Transport_TRANSPORT_RTSP {
		t.Fatalf("list: %+v %v", list, err)
	}
}

// A camera streaming H.265 as its main profile: a WebRTC view of main gets
// the H.264 sub-stream and the response says so; RTSP gets main as is.
func TestWebRTCOfH265CameraServesH264Sub(t *testing.T) {
	h := newHarness(t)
	h.startWHEP(nil)
	cl := pb.NewDeviceServiceClient(h.conn)
	site, err := cl.CreateSite(h.as("technician"), &pb.CreateSiteRequest{Reason: "설치", Fields: &pb.SiteFields{Name: "터널", Department: "안전총괄과"}})
	if err != nil {
		t.Fatal(err)
	}
	cam := startCamera(t, camsim.DialectAxis)
	info := cam.Info()
	reg, err := cl.RegisterCamera(h.as("technician"), &pb.RegisterCameraRequest{DeviceUrl: cam.DeviceServiceURL(), Username: info.Username,
		Password: info.Password, ProfileToken: "profile_1_h265", Reason: "설치", Fields: &pb.CameraFields{SiteId: site.Id, Name: "터널", Purpose: "방범"}})
	if err != nil {
		t.Fatal(err)
	}
	id := reg.Camera.Id
	sc := pb.NewStreamServiceClient(h.conn)
	res, err := sc.StartLiveView(h.as("operator"), &pb.StartLiveViewRequest{CameraId: id, Profile: "main",
		Purpose: pb.Purpose_PURPOSE_CRIME_PREVENTION, Transport: pb.Transport_TRANSPORT_WEBRTC})
	if err != nil {
		t.Fatal(err)
	}
	if res.Profile != "sub" || !strings.Contains(res.Notice, "H265") || !strings.Contains(res.Url, "/"+id+"/sub?") {
		t.Fatalf("H.265 main over WebRTC: profile %q, notice %q, url %q", res.Profile, res.Notice, res.Url)
	}
	rtsp, err := sc.StartLiveView(h.as("operator"), &pb.StartLiveViewRequest{CameraId: id, Profile: "main", Purpose: pb.Purpose_PURPOSE_CRIME_PREVENTION})
	if err != nil || rtsp.Profile != "main" || rtsp.Notice != "" {
		t.Fatalf("H.265 main over RTSP: %+v %v", rtsp, err)
	}
}

func ticketOf(t *testing.T, u string) string {
	t.Helper()
	_, tk, ok := strings.Cut(u, "?ticket=")
	if !ok {
		t.Fatalf("no ticket in %q", u)
	}
	return tk
}
