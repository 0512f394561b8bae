package control

import (
	"context"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	ac "github.com/gwanje/gwanje/accesscontrol"
	"github.com/gwanje/gwanje/audit"
	"github.com/gwanje/gwanje/devices"
	"github.com/gwanje/gwanje/devices/health"
	"github.com/gwanje/gwanje/events"
	"github.com/gwanje/gwanje/events/lease"
	pb "github.com/gwanje/gwanje/proto/gwanje/v1"
	"github.com/gwanje/gwanje/stream/playback"
	"github.com/gwanje/gwanje/stream/record"
)

// Recording is what RecordingService needs: the database with the record
// index and holds, and the playback tickets.
type Recording struct {
	Pool    *pgxpool.Pool
	Tickets *playback.Tickets
	// Auditor writes a hold and its audit entry in one transaction.
	Auditor interface {
		AppendTx(ctx context.Context, tx pgx.Tx, e audit.Entry) (audit.Record, error)
	}
	// Nodes says which recorder nodes are up (the recorder pool), so
	// ListRecordings shows the spans of a node that is down as
	// unavailable rather than as footage that can be played. Nil: every
	// node is taken as up.
	Nodes RecorderNodes
}

// RecorderNodes lists the recorder nodes that are up.
type RecorderNodes interface {
	LiveRecorders(ctx context.Context) (map[string]bool, error)
}

// RecorderNodesFunc adapts a function to RecorderNodes.
type RecorderNodesFunc func(ctx context.Context) (map[string]bool, error)

// LiveRecorders implements RecorderNodes.
func (f RecorderNodesFunc) LiveRecorders(ctx context.Context) (map[string]bool, error) { return f(ctx) }

// PoolRecorders is RecorderNodes from the recorder pool: the nodes whose
// presence is alive in its lease bucket (events/lease, stream/record).
func PoolRecorders(js jetstream.JetStream) RecorderNodes {
	return RecorderNodesFunc(func(ctx context.Context) (map[string]bool, error) {
		ms, err := lease.Members(ctx, js, events.BucketRecorderLeases)
		if err != nil {
			return nil, err
		}
		up := make(map[string]bool, len(ms))
		for id := range ms {
			up[id] = true
		}
		return up, nil
	})
}

// markAvailability says of each span whether its node is up.
func (x *recordingService) markAvailability(ctx context.Context, rec *Recording, spans []*pb.RecordedSpan) {
	if len(spans) == 0 {
		return
	}
	if rec.Nodes == nil {
		for _, s := range spans {
			s.Availability = pb.RecordingAvailability_RECORDING_AVAILABILITY_AVAILABLE
		}
		return
	}
	live, err := rec.Nodes.LiveRecorders(ctx)
	if err != nil {
		x.s.log.Warn("recorder nodes unknown: recordings listed without availability", "err", err)
		return
	}
	for _, s := range spans {
		if live[s.Node] {
			s.Availability = pb.RecordingAvailability_RECORDING_AVAILABILITY_AVAILABLE
		} else {
			s.Availability = pb.RecordingAvailability_RECORDING_AVAILABILITY_NODE_DOWN
			s.UnavailableReason = "node " + s.Node + " down"
		}
	}
}

// recordingService lists footage, hands out audited playback and keeps
// legal holds.
type recordingService struct {
	pb.UnimplementedRecordingServiceServer
	s *Server
}

func (x *recordingService) rec() (*Recording, error) {
	if x.s.cfg.Recording == nil || x.s.cfg.Devices == nil {
		return nil, status.Error(codes.Unavailable, "recordings are not available from this server")
	}
	return x.s.cfg.Recording, nil
}

func footageRange(from, to interface{ AsTime() time.Time }, ok bool) (time.Time, time.Time, error) {
	if !ok {
		return time.Time{}, time.Time{}, status.Error(codes.InvalidArgument, "a footage range is required: from and to")
	}
	f, t := from.AsTime(), to.AsTime()
	if !t.After(f) {
		return f, t, status.Error(codes.InvalidArgument, "the footage range must end after it starts")
	}
	return f, t, nil
}

func (x *recordingService) ListRecordings(ctx context.Context, r *pb.ListRecordingsRequest) (*pb.ListRecordingsResponse, error) {
	rec, err := x.rec()
	if err != nil {
		return nil, err
	}
	from, to, err := footageRange(r.GetFrom(), r.GetTo(), r.GetFrom() != nil && r.GetTo() != nil)
	if err != nil {
		return nil, err
	}
	cam, err := x.s.lookupHere(ctx, r.GetCameraId(), "")
	if err != nil {
		return nil, err
	}
	// What footage exists is itself footage metadata: device.read in scope.
	if err := x.s.decideHere(ctx, cameraResource(cam)); err != nil {
		return nil, err
	}
	l, err := record.ListRecordings(ctx, rec.Pool, cam.ID, from, to, time.Second)
	if err != nil {
		return nil, err
	}
	out := &pb.ListRecordingsResponse{}
	var cur *pb.RecordedSpan
	for _, s := range l.Segments {
		// Contiguous segments of one node are one span.
		if cur != nil && cur.Node == s.Node && !s.Start.After(cur.End.AsTime().Add(time.Second)) {
			cur.End, cur.Bytes, cur.Segments = ts(s.End), cur.Bytes+s.Size, cur.Segments+1
			continue
		}
		cur = &pb.RecordedSpan{Start: ts(s.Start), End: ts(s.End), Bytes: s.Size, Segments: 1, Node: s.Node}
		out.Spans = append(out.Spans, cur)
	}
	spans, next, err := pageOf(r, out.Spans)
	if err != nil {
		return nil, err
	}
	// A page carries the gaps between its own spans and the one before its
	// first span (from the end of the previous page's last span, or from the
	// start of the range on the first page); the last page also the one after
	// its last span. Each gap is on exactly one page.
	lo, hi := from, to
	if len(spans) > 0 && len(spans) < len(out.Spans) {
		if i := slices.Index(out.Spans, spans[0]); i > 0 {
			lo = out.Spans[i-1].End.AsTime()
		}
		if next != "" {
			hi = spans[len(spans)-1].End.AsTime()
		}
	}
	out.Spans, out.NextPageToken = spans, next
	x.markAvailability(ctx, rec, out.Spans)
	for _, g := range l.Gaps {
		if g.To.After(lo) && g.From.Before(hi) {
			out.Gaps = append(out.Gaps, &pb.Gap{Start: ts(g.From), End: ts(g.To)})
		}
	}
	return out, nil
}

// StartPlayback: decide playback.view for this footage with the purpose,
// commit playback.start with the footage's own range, then the ticket.
func (x *recordingService) StartPlayback(ctx context.Context, r *pb.StartPlaybackRequest) (*pb.StartPlaybackResponse, error) {
	rec, err := x.rec()
	if err != nil {
		return nil, err
	}
	from, to, err := footageRange(r.GetFrom(), r.GetTo(), r.GetFrom() != nil && r.GetTo() != nil)
	if err != nil {
		return nil, err
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
	res.Purpose, res.FootageFrom = purpose, from
	entry := audit.Entry{Type: "playback.start", Cameras: []string{cam.ID}, FootageFrom: &from, FootageTo: &to,
		Purpose: string(purpose), PurposeText: r.GetPurposeText()}
	if err := x.checkSubjectRequest(ctx, r, purpose, cam.ID, from, to); err != nil {
		return nil, err
	}
	transport := r.GetTransport()
	if transport == pb.PlaybackTransport_PLAYBACK_TRANSPORT_UNSPECIFIED {
		transport = pb.PlaybackTransport_PLAYBACK_TRANSPORT_RTSP
	}
	if pb.Code(transport) == "" {
		return nil, status.Error(codes.InvalidArgument, "transport: unknown playback transport")
	}
	entry.Details = map[string]any{"transport": pb.Code(transport)}
	if id := r.GetSubjectRequestId(); id != "" {
		entry.RequestID = id
		entry.Details["subject_request"] = id
	}
	if d := x.s.cfg.Access.Decide(p, called(ctx).perm(), res, x.s.now()); !d.Allowed {
		denied := entry
		denied.Outcome, denied.Reason = audit.Denied, string(d.Reason)
		if err := x.s.record(ctx, denied); err != nil {
			x.s.log.Error("could not record a denied playback", "err", err)
		}
		x.s.log.Info("playback denied", "user", p.Username, "camera", cam.ID, "reason", d.Reason)
		return nil, errDenied
	}
	l, err := record.ListRecordings(ctx, rec.Pool, cam.ID, from, to, time.Second)
	if err != nil {
		return nil, err
	}
	if len(l.Segments) == 0 {
		return nil, status.Error(codes.NotFound, "no footage of this camera in that range (it may never have been recorded, or was destroyed after its retention)")
	}
	if transport == pb.PlaybackTransport_PLAYBACK_TRANSPORT_MSE {
		for _, sg := range l.Segments {
			if sg.Codec != record.CodecH264 {
				return nil, status.Error(codes.FailedPrecondition, "this footage is "+sg.Codec+", which browsers cannot decode: play it back over RTSP")
			}
		}
	}
	seq, err := x.s.recordSeq(ctx, entry)
	if err != nil {
		return nil, err // fail closed
	}
	t, err := rec.Tickets.IssueTicket(ctx, playback.TicketRequest{UserID: p.UserID, Username: p.Username, SessionID: p.SessionID,
		CameraID: cam.ID, From: from, To: to, Purpose: string(purpose), AuditSeq: seq, Transport: pb.Code(transport)})
	if err != nil {
		failed := entry
		failed.Outcome, failed.Reason = audit.Failed, "no ticket: "+err.Error()
		_ = x.s.record(ctx, failed)
		return nil, err
	}
	return &pb.StartPlaybackResponse{Url: t.URL, ExpiresAt: ts(t.ExpiresAt), AuditSeq: seq, Transport: transport}, nil
}

// checkSubjectRequest ties a viewing under purpose subject_request to an
// open subject request whose footage covers this camera and range.
func (x *recordingService) checkSubjectRequest(ctx context.Context, r *pb.StartPlaybackRequest, purpose ac.Purpose, cameraID string, from, to time.Time) error {
	id := r.GetSubjectRequestId()
	switch {
	case purpose != ac.PurposeSubjectRequest && id == "":
		return nil
	case purpose != ac.PurposeSubjectRequest:
		return status.Error(codes.InvalidArgument, "a subject request is viewed under purpose subject_request")
	case id == "":
		return status.Error(codes.InvalidArgument, "purpose subject_request needs the subject request id (subject_request_id)")
	case x.s.cfg.Privacy == nil:
		return status.Error(codes.Unavailable, "subject requests are not available from this server")
	}
	sr, err := x.s.cfg.Privacy.GetRequest(ctx, mustPrincipal(ctx), id)
	if err != nil {
		return err
	}
	covered := false
	for _, c := range sr.Cameras {
		covered = covered || c == cameraID
	}
	if !covered || from.Before(sr.From) || to.After(sr.To) || sr.Status == "closed" {
		return status.Error(codes.FailedPrecondition, "the footage is outside the open subject request's cameras and time range")
	}
	return nil
}

func holdPB(h record.Hold) *pb.Hold {
	return &pb.Hold{Id: h.ID, Cameras: h.Cameras, From: ts(h.From), To: ts(h.To), CaseRef: h.CaseRef, Reason: h.Reason,
		CreatedBy: h.CreatedBy, CreatedAt: ts(h.CreatedAt), Until: tsp(h.Until), ReleasedAt: tsp(h.ReleasedAt),
		ReleasedBy: h.ReleasedBy, ReleaseReason: h.ReleaseReason}
}

// decideCameras decides perm on every camera named. Holds use it with
// device.read: the global request.handle (checked by the interceptor) is the
// right to hold footage, and the cameras must be in the caller's scope.
func (x *recordingService) decideCameras(ctx context.Context, perm ac.Permission, ids []string) error {
	method := called(ctx).method
	if len(ids) == 0 {
		return status.Error(codes.InvalidArgument, "name at least one camera")
	}
	for _, id := range ids {
		cam, err := x.s.lookupCamera(ctx, method, perm, id, "")
		if err != nil {
			return err
		}
		if err := x.s.decideCamera(ctx, method, perm, cameraResource(cam)); err != nil {
			return err
		}
	}
	return nil
}

// writeAudited runs fn and appends e in one transaction.
func (x *recordingService) writeAudited(ctx context.Context, e audit.Entry, fn func(tx pgx.Tx) error) error {
	rec, _ := x.rec()
	p := mustPrincipal(ctx)
	e.Actor, e.ClientAddr, e.SessionID, e.RequestID, e.Outcome = actorOf(p), p.ClientAddr, p.SessionID, requestID(ctx), audit.Success
	return pgx.BeginFunc(context.WithoutCancel(ctx), rec.Pool, func(tx pgx.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		_, err := rec.Auditor.AppendTx(ctx, tx, e)
		return err
	})
}

func (x *recordingService) CreateHold(ctx context.Context, r *pb.CreateHoldRequest) (*pb.Hold, error) {
	if _, err := x.rec(); err != nil {
		return nil, err
	}
	if err := x.decideCameras(ctx, ac.PermDeviceRead, r.GetCameras()); err != nil {
		return nil, err
	}
	from, to, err := footageRange(r.GetFrom(), r.GetTo(), r.GetFrom() != nil && r.GetTo() != nil)
	if err != nil {
		return nil, err
	}
	p := mustPrincipal(ctx)
	var h record.Hold
	err = x.writeAudited(ctx, audit.Entry{Type: "recording.hold.create", Cameras: r.GetCameras(), FootageFrom: &from, FootageTo: &to,
		Reason: r.GetReason(), Details: map[string]any{"case_ref": r.GetCaseRef()}}, func(tx pgx.Tx) (err error) {
		h, err = record.CreateHold(ctx, tx, record.HoldRequest{Cameras: r.GetCameras(), From: from, To: to, CaseRef: r.GetCaseRef(),
			Reason: r.GetReason(), By: p.Username, Until: optTime(r.GetUntil())})
		return err
	})
	if err != nil {
		return nil, err
	}
	return holdPB(h), nil
}

func (x *recordingService) ReleaseHold(ctx context.Context, r *pb.ReleaseHoldRequest) (*pb.Hold, error) {
	rec, err := x.rec()
	if err != nil {
		return nil, err
	}
	hs, err := record.ListHolds(ctx, rec.Pool, "", false, x.s.now())
	if err != nil {
		return nil, err
	}
	var cams []string
	for _, h := range hs {
		if h.ID == r.GetHoldId() {
			cams = h.Cameras
		}
	}
	if cams == nil {
		return nil, status.Error(codes.NotFound, "no such hold")
	}
	if err := x.decideCameras(ctx, ac.PermDeviceRead, cams); err != nil {
		return nil, err
	}
	if r.GetReason() == "" {
		return nil, status.Error(codes.InvalidArgument, "say why the hold is released")
	}
	var h record.Hold
	err = x.writeAudited(ctx, audit.Entry{Type: "recording.hold.release", Cameras: cams, Reason: r.GetReason(),
		Details: map[string]any{"hold_id": r.GetHoldId()}}, func(tx pgx.Tx) (err error) {
		h, err = record.ReleaseHold(ctx, tx, r.GetHoldId(), mustPrincipal(ctx).Username, r.GetReason())
		return err
	})
	if err != nil {
		return nil, err
	}
	return holdPB(h), nil
}

func (x *recordingService) ListHolds(ctx context.Context, r *pb.ListHoldsRequest) (*pb.ListHoldsResponse, error) {
	rec, err := x.rec()
	if err != nil {
		return nil, err
	}
	hs, err := record.ListHolds(ctx, rec.Pool, r.GetCameraId(), r.GetActiveOnly(), x.s.now())
	if err != nil {
		return nil, err
	}
	out := &pb.ListHoldsResponse{}
	for _, h := range hs {
		out.Holds = append(out.Holds, holdPB(h))
	}
	if out.Holds, out.NextPageToken, err = pageOf(r, out.Holds); err != nil {
		return nil, err
	}
	return out, nil
}

// RecordingCameras tells the recorder and the sweeper which cameras to
// record, on what schedule, for how long (active and maintenance cameras
// with a device; decommissioned ones keep their footage until retention).
func RecordingCameras(reg *devices.Registry) record.Cameras { return recordingCameras{reg} }

type recordingCameras struct{ reg *devices.Registry }

func (r recordingCameras) RecordingCameras(ctx context.Context) ([]record.Camera, error) {
	var out []record.Camera
	cursor := ""
	for {
		page, err := r.reg.List(ctx, devices.Filter{IncludeDecommissioned: true, Limit: devices.MaxListLimit, Cursor: cursor})
		if err != nil {
			return nil, err
		}
		for _, c := range page.Cameras {
			rc := record.Camera{ID: c.ID, Profile: "main", RetentionDays: c.RetentionDays, NotStored: c.NotStored}
			switch {
			case c.Lifecycle == devices.Decommissioned || c.Lifecycle == devices.Planned || c.Device.StreamURI == "":
				rc.Schedule = never{} // nothing new; retention still applies to what exists
			default:
				rc.Schedule = c.ParsedSchedule()
			}
			out = append(out, rc)
		}
		if page.NextCursor == "" {
			return out, nil
		}
		cursor = page.NextCursor
	}
}

type never struct{}

func (never) Scheduled(time.Time) bool { return false }

// RecordingAlarms turns a recorder node's alarms into alarms of the alarm
// list (ListAlarms, AcknowledgeAlarm, WatchEvents), reported with source
// "recorder/<node>" (rep's Source): a segment quarantined, missing, not
// written or failing verification is an event about its camera (cleared
// when acknowledged); the storage full is a condition of the node, cleared
// when space is back; footage kept past retention is an event of the node.
// The returned function is StoreConfig.Alarm; it never blocks.
func RecordingAlarms(rep interface{ Report(health.Report) }) func(record.Alarm) {
	return func(a record.Alarm) {
		cause := a.Detail
		if a.Path != "" {
			cause += " (" + a.Path + ")"
		}
		r := health.Report{CameraID: a.CameraID, Cause: cause, Time: a.Time}
		switch a.Kind {
		case record.AlarmQuarantined:
			r.Kind = health.AlarmRecordingQuarantined
		case record.AlarmMissing:
			r.Kind = health.AlarmRecordingMissing
		case record.AlarmWriteFailed:
			r.Kind = health.AlarmRecordingWriteFailed
		case record.AlarmTampered:
			r.Kind = health.AlarmRecordingTampered
		case record.AlarmDiskFull:
			r.Kind, r.CameraID, r.Condition = health.AlarmRecordingDiskFull, "", true
		case record.AlarmDiskOK:
			r.Kind, r.CameraID, r.Clear = health.AlarmRecordingDiskFull, "", true
		case record.AlarmOverRetained:
			r.Kind, r.CameraID = health.AlarmRecordingOverRetained, ""
		default:
			return
		}
		rep.Report(r)
	}
}
