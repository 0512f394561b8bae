package control

import (
	"context"
	"errors"
	"fmt"
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
	purpose, err := ac.ValidatePurpose(pb.Code(r.GetPurpose()), r.GetPurposeText())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	cam, err := x.s.lookupHere(ctx, r.GetCameraId(), purpose)
	if err != nil {
		return nil, err
	}
	p := mustPrincipal(ctx)
	res := cameraResource(cam)
	res.Purpose = purpose
	entry := audit.Entry{Type: "live.view.start", Cameras: []string{cam.ID}, Live: true, Purpose: string(purpose),
		PurposeText: r.GetPurposeText(), Details: map[string]any{"profile": profile}}
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
		Purpose: string(purpose), AuditSeq: seq,
	})
	if err != nil {
		failed := entry
		failed.Outcome, failed.Reason = audit.Failed, "no ticket: "+err.Error()
		_ = x.s.record(ctx, failed)
		return nil, err
	}
	return &pb.StartLiveViewResponse{Url: t.URL, ExpiresAt: ts(t.ExpiresAt), AuditSeq: seq}, nil
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
