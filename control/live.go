package control

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	ac "github.com/gwanje/gwanje/accesscontrol"
	"github.com/gwanje/gwanje/audit"
	"github.com/gwanje/gwanje/devices"
	pb "github.com/gwanje/gwanje/proto/gwanje/v1"
	"github.com/gwanje/gwanje/stream"
)

// streamService hands out live views. The order is the law's: decide,
// commit live.view.start, and only then issue the ticket the relay admits.
type streamService struct {
	pb.UnimplementedStreamServiceServer
	s *Server
}

func (x *streamService) StartLiveView(ctx context.Context, r *pb.StartLiveViewRequest) (*pb.StartLiveViewResponse, error) {
	if x.s.cfg.Tickets == nil || x.s.cfg.Devices == nil {
		return nil, status.Error(codes.Unavailable, "live view is not available from this server")
	}
	profile := r.GetProfile()
	if profile == "" {
		profile = "main"
	}
	if profile != "main" && profile != "sub" {
		return nil, status.Error(codes.InvalidArgument, "profile must be main or sub")
	}
	transport := stream.TransportRTSP
	switch r.GetTransport() {
	case pb.Transport_TRANSPORT_UNSPECIFIED, pb.Transport_TRANSPORT_RTSP:
	case pb.Transport_TRANSPORT_WEBRTC:
		transport = stream.TransportWebRTC
	default:
		return nil, status.Error(codes.InvalidArgument, "transport must be TRANSPORT_RTSP or TRANSPORT_WEBRTC")
	}
	purpose, err := ac.ValidatePurpose(pb.Code(r.GetPurpose()), r.GetPurposeText())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	cam, err := x.s.lookupHere(ctx, r.GetCameraId(), purpose)
	if err != nil {
		return nil, err
	}
	asked, notice := profile, ""
	if transport == stream.TransportWebRTC {
		// WebRTC carries H.264 only (no transcoding): an H.265 profile is
		// served by the camera's H.264 one, saying so.
		if profile, notice, err = webrtcProfile(cam, profile); err != nil {
			return nil, err
		}
	}
	p := mustPrincipal(ctx)
	res := cameraResource(cam)
	res.Purpose = purpose
	details := map[string]any{"profile": profile, "transport": transport}
	if profile != asked {
		details["profile_asked"] = asked
	}
	entry := audit.Entry{Type: "live.view.start", Cameras: []string{cam.ID}, Live: true, Purpose: string(purpose),
		PurposeText: r.GetPurposeText(), Details: details}
	if d := x.s.cfg.Access.Decide(p, called(ctx).perm(), res, x.s.now()); !d.Allowed {
		denied := entry
		denied.Outcome, denied.Reason = audit.Denied, string(d.Reason)
		if err := x.s.record(ctx, denied); err != nil {
			x.s.log.Error("could not record a denied live view", "err", err)
		}
		x.s.log.Info("live view denied", "user", p.Username, "camera", cam.ID, "reason", d.Reason)
		return nil, errDenied
	}
	if cam.Lifecycle == devices.Decommissioned { // said only to those who may see the camera
		return nil, status.Error(codes.FailedPrecondition, "the camera is decommissioned")
	}
	if h := x.s.cfg.Health; h != nil && h.Current != nil {
		// A camera health knows is down is refused here, with why, rather
		// than at the player.
		if st, ok, err := h.Current(ctx, cam.ID); err == nil && ok && st.State.Unavailable() {
			failed := entry
			failed.Outcome, failed.Reason = audit.Failed, fmt.Sprintf("camera %s since %s: %s", st.State, st.Since.Format(time.RFC3339), st.Cause)
			if err := x.s.record(ctx, failed); err != nil {
				return nil, err
			}
			return nil, status.Errorf(codes.FailedPrecondition, "the camera is %s since %s (%s); try again when it is back",
				st.State, st.Since.In(x.s.location()).Format("2006-01-02 15:04:05"), st.Cause)
		}
	}
	seq, err := x.s.recordSeq(ctx, entry)
	if err != nil {
		return nil, err // fail closed: no record, no ticket
	}
	t, err := x.s.cfg.Tickets.IssueTicket(ctx, stream.TicketRequest{
		UserID: p.UserID, Username: p.Username, SessionID: p.SessionID, CameraID: cam.ID, Profile: profile,
		Purpose: string(purpose), AuditSeq: seq, Transport: transport,
	})
	if err != nil {
		failed := entry
		failed.Outcome, failed.Reason = audit.Failed, "no ticket: "+err.Error()
		_ = x.s.record(ctx, failed)
		return nil, err
	}
	return &pb.StartLiveViewResponse{Url: t.URL, ExpiresAt: ts(t.ExpiresAt), AuditSeq: seq, SessionId: t.ViewID,
		Transport: transportEnum(transport), Profile: profile, Notice: notice}, nil
}

func transportEnum(t string) pb.Transport {
	switch t {
	case stream.TransportWebRTC:
		return pb.Transport_TRANSPORT_WEBRTC
	case "":
		return pb.Transport_TRANSPORT_UNSPECIFIED
	}
	return pb.Transport_TRANSPORT_RTSP // the relay's views say TCP or UDP
}

// webrtcProfile is the profile a WebRTC view of cam is served from when
// asked for profile: itself when it is H.264 (or its encoding is not
// known), else the camera's other profile when that one is H.264, with a
// notice saying so; FailedPrecondition when the camera has no H.264
// profile.
func webrtcProfile(cam devices.Camera, profile string) (string, string, error) {
	if isH264(profileEncoding(cam, profile)) {
		return profile, "", nil
	}
	other := "sub"
	if profile == "sub" {
		other = "main"
	}
	if enc := profileEncoding(cam, other); enc != "" && isH264(enc) {
		return other, fmt.Sprintf("the %s profile is %s, which browsers are not sent: serving the camera's H.264 %s profile instead (no transcoding)",
			profile, profileEncoding(cam, profile), other), nil
	}
	return "", "", status.Errorf(codes.FailedPrecondition,
		"the camera has no H.264 profile (its %s profile is %s): WebRTC is not available for it; use RTSP",
		profile, profileEncoding(cam, profile))
}

func isH264(enc string) bool {
	e := strings.ToUpper(enc)
	return e == "" || strings.Contains(e, "264") || e == "AVC"
}

// profileEncoding is the encoding recorded at registration of the profile
// the relay streams as main (the device's default) or sub (the smallest
// other profile with a stream URI): devices.Registry.Upstream's choice. ""
// when not known.
func profileEncoding(cam devices.Camera, profile string) string {
	d := cam.Device
	var best *devices.Profile
	for i := range d.Profiles {
		p := &d.Profiles[i]
		if profile == "main" && p.Token == d.ProfileToken {
			return p.Encoding
		}
		if profile == "sub" && p.Token != d.ProfileToken && p.StreamURI != "" &&
			(best == nil || p.Width*p.Height < best.Width*best.Height) {
			best = p
		}
	}
	if profile == "sub" && best != nil {
		return best.Encoding
	}
	if profile == "sub" { // no sub-stream: the relay serves main
		return profileEncoding(cam, "main")
	}
	return ""
}

// views finds open live views: across every stream node through the
// directory when there is one, else on this process's relay.
type viewFinder struct {
	relay *stream.Relay
	dir   *stream.Views
}

func (x *streamService) views() (viewFinder, error) {
	f := viewFinder{relay: x.s.cfg.Relay, dir: x.s.cfg.LiveViews}
	if f.relay == nil && f.dir == nil {
		return f, status.Error(codes.Unavailable, "live sessions are kept by the stream nodes; this server knows none (gwanjed --roles stream)")
	}
	return f, nil
}

func (f viewFinder) get(ctx context.Context, id string) (stream.LiveSession, bool, error) {
	if f.relay != nil {
		if v, ok := f.relay.Get(id); ok {
			return v, true, nil
		}
	}
	if f.dir != nil {
		return f.dir.Get(ctx, id)
	}
	return stream.LiveSession{}, false, nil
}

func (f viewFinder) list(ctx context.Context, filter stream.Filter) ([]stream.LiveSession, error) {
	if f.dir != nil {
		return f.dir.List(ctx, filter)
	}
	return f.relay.List(filter), nil
}

func (f viewFinder) stop(ctx context.Context, v stream.LiveSession, reason string) error {
	if f.relay != nil {
		if _, ok := f.relay.Get(v.ID); ok {
			return f.relay.Stop(v.ID, reason)
		}
	}
	if f.dir == nil {
		return stream.ErrNotFound
	}
	return f.dir.Stop(ctx, v, reason)
}

func (f viewFinder) switchTo(ctx context.Context, v stream.LiveSession, profile string) error {
	if f.relay != nil {
		if _, ok := f.relay.Get(v.ID); ok {
			return f.relay.SwitchProfile(ctx, v.ID, profile)
		}
	}
	if f.dir == nil {
		return stream.ErrNotFound
	}
	return f.dir.Switch(ctx, v, profile)
}

// SwitchLiveProfile moves one's own open WebRTC view to another profile:
// the view's purpose is re-decided (no new prompt), live.view.profile is
// committed, and only then does the node switch.
func (x *streamService) SwitchLiveProfile(ctx context.Context, r *pb.SwitchLiveProfileRequest) (*pb.SwitchLiveProfileResponse, error) {
	profile := r.GetProfile()
	if profile != "main" && profile != "sub" {
		return nil, status.Error(codes.InvalidArgument, "profile must be main or sub")
	}
	vf, err := x.views()
	if err != nil {
		return nil, err
	}
	v, ok, err := vf.get(ctx, r.GetSessionId())
	if err != nil {
		return nil, err
	}
	p := mustPrincipal(ctx)
	if !ok || v.UserID != p.UserID {
		// Others' views are not one's to switch; said as not found, so
		// that ids of others' views are not confirmed.
		return nil, status.Error(codes.NotFound, "no open live view of yours with that id")
	}
	if transportEnum(v.Transport) != pb.Transport_TRANSPORT_WEBRTC {
		return nil, stream.ErrCannotSwitch
	}
	if v.Profile == profile {
		return &pb.SwitchLiveProfileResponse{Profile: profile}, nil
	}
	cam, err := x.s.cfg.Devices.Get(ctx, v.CameraID)
	if err != nil {
		return nil, err
	}
	if served, notice, err := webrtcProfile(cam, profile); err != nil {
		return nil, err
	} else if served != profile {
		return nil, status.Error(codes.FailedPrecondition, notice)
	}
	entry := audit.Entry{Type: "live.view.profile", Cameras: []string{v.CameraID}, Live: true, Purpose: v.Purpose,
		Details: map[string]any{"view": v.ID, "from": v.Profile, "to": profile, "start_seq": v.AuditSeq, "node": v.Node,
			"transport": stream.TransportWebRTC}}
	res := cameraResource(cam)
	res.Purpose = ac.Purpose(v.Purpose)
	if d := x.s.cfg.Access.Decide(p, ac.PermLiveView, res, x.s.now()); !d.Allowed {
		denied := entry
		denied.Outcome, denied.Reason = audit.Denied, string(d.Reason)
		if err := x.s.record(ctx, denied); err != nil {
			x.s.log.Error("could not record a denied profile switch", "err", err)
		}
		return nil, errDenied
	}
	seq, err := x.s.recordSeq(ctx, entry)
	if err != nil {
		return nil, err // fail closed: no record, no switch
	}
	if err := vf.switchTo(ctx, v, profile); err != nil {
		failed := entry
		failed.Outcome, failed.Reason = audit.Failed, err.Error()
		_ = x.s.record(ctx, failed)
		return nil, err
	}
	return &pb.SwitchLiveProfileResponse{AuditSeq: seq, Profile: profile}, nil
}

// inScope: the camera is in the caller's scope (they may read it); with
// session.manage that lets them see and end others' views of it. (live.view
// itself cannot be the test: it needs a purpose of the caller's own.)
func (x *streamService) inScope(ctx context.Context, cameraID string) bool {
	cam, err := x.s.cfg.Devices.Get(ctx, cameraID)
	if err != nil {
		return false
	}
	return x.s.cfg.Access.Decide(mustPrincipal(ctx), ac.PermDeviceRead, cameraResource(cam), x.s.now()).Allowed
}

func (x *streamService) StopLiveView(ctx context.Context, r *pb.StopLiveViewRequest) (*pb.StopLiveViewResponse, error) {
	vf, err := x.views()
	if err != nil {
		return nil, err
	}
	v, ok, err := vf.get(ctx, r.GetSessionId())
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, status.Error(codes.NotFound, "no open live session with that id")
	}
	p := mustPrincipal(ctx)
	if v.UserID != p.UserID {
		if !x.s.allowed(p, ac.PermSessionManage) || !x.inScope(ctx, v.CameraID) {
			x.s.auditDenied(ctx, p, "live.view.stop", called(ctx).method, string(ac.PermSessionManage), "not the viewer's manager", v.CameraID)
			return nil, errDenied
		}
	}
	reason := r.GetReason()
	if reason == "" {
		reason = "stopped by " + p.Username
	}
	if err := x.s.record(ctx, audit.Entry{Type: "live.view.stop", Cameras: []string{v.CameraID}, Live: true, Reason: reason,
		Details: map[string]any{"view": v.ID, "viewer": v.Username, "start_seq": v.AuditSeq, "node": v.Node}}); err != nil {
		return nil, err
	}
	if err := vf.stop(ctx, v, reason); err != nil && !errors.Is(err, stream.ErrNotFound) {
		return nil, err
	}
	return &pb.StopLiveViewResponse{}, nil
}

func (x *streamService) ListLiveSessions(ctx context.Context, r *pb.ListLiveSessionsRequest) (*pb.ListLiveSessionsResponse, error) {
	vf, err := x.views()
	if err != nil {
		return nil, err
	}
	p := mustPrincipal(ctx)
	f := stream.Filter{CameraID: r.GetCameraId()}
	all := r.GetAll() && (x.s.allowed(p, ac.PermSessionManage) || x.s.allowed(p, ac.PermAuditRead))
	if !all {
		f.UserID = p.UserID
	}
	vs, err := vf.list(ctx, f)
	if err != nil {
		return nil, err
	}
	out := &pb.ListLiveSessionsResponse{}
	for _, v := range vs {
		if all && v.UserID != p.UserID && !x.inScope(ctx, v.CameraID) && !x.s.allowed(p, ac.PermAuditRead) {
			continue // managers see the sessions of the cameras in their scope
		}
		out.Sessions = append(out.Sessions, &pb.LiveSession{
			SessionId: v.ID, UserId: v.UserID, Username: v.Username, CameraId: v.CameraID, Profile: v.Profile,
			Purpose: enumOf[pb.Purpose](v.Purpose), StartedAt: ts(v.Started), Bytes: v.Bytes, DroppedFrames: v.Drops, ClientAddr: v.RemoteAddr, Node: v.Node,
			Transport: transportEnum(v.Transport),
		})
	}
	if out.Sessions, out.NextPageToken, err = pageOf(r, out.Sessions); err != nil {
		return nil, err
	}
	return out, nil
}

// RelayCameras resolves the relay's upstreams from the registry.
func RelayCameras(reg *devices.Registry) stream.Cameras { return relayCameras{reg} }

type relayCameras struct{ reg *devices.Registry }

func (c relayCameras) Upstream(ctx context.Context, cameraID, profile string) (stream.Upstream, error) {
	uri, creds, err := c.reg.Upstream(ctx, cameraID, profile)
	if err != nil {
		return stream.Upstream{}, err
	}
	return stream.Upstream{URL: uri, Username: creds.Username, Password: creds.Password}, nil
}
