package control

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	ac "github.com/gwanje/gwanje/accesscontrol"
	"github.com/gwanje/gwanje/devices"
	"github.com/gwanje/gwanje/devices/health"
	pb "github.com/gwanje/gwanje/proto/gwanje/v1"
)

// Health is what HealthService needs: the watcher over NATS, the alarms,
// and the database holding the status history.
type Health struct {
	Watcher *health.Watcher
	Alarms  *health.Alarms
	Pool    *pgxpool.Pool
	// Current reads a camera's current status (ok false when unknown);
	// StartLiveView refuses a camera known to be down. Optional.
	Current func(ctx context.Context, cameraID string) (s health.Status, ok bool, err error)
}

// healthService shows health to those who may see the cameras.
type healthService struct {
	pb.UnimplementedHealthServiceServer
	s *Server
}

func (x *healthService) health() (*Health, error) {
	if x.s.cfg.Health == nil || x.s.cfg.Devices == nil {
		return nil, status.Error(codes.Unavailable, "camera health is not available from this server")
	}
	return x.s.cfg.Health, nil
}

// cameraFilter answers "may the caller see this camera" with perm, caching
// each camera's answer for a minute (a watch may see thousands of cameras).
// The camera "" stands for an alarm about a recorder node or the system,
// seen by those whose perm covers every camera.
type cameraFilter struct {
	s    *Server
	p    ac.Principal
	perm ac.Permission
	only map[string]bool

	mu    sync.Mutex
	cache map[string]cachedDecision
}

type cachedDecision struct {
	ok  bool
	exp time.Time
}

func (x *healthService) filter(ctx context.Context, perm ac.Permission, only []string) *cameraFilter {
	f := &cameraFilter{s: x.s, p: mustPrincipal(ctx), perm: perm, cache: map[string]cachedDecision{}}
	if len(only) > 0 {
		f.only = map[string]bool{}
		for _, id := range only {
			f.only[id] = true
		}
	}
	return f
}

func (f *cameraFilter) allows(id string) bool {
	if f.only != nil && !f.only[id] {
		return false
	}
	now := f.s.now()
	f.mu.Lock()
	c, ok := f.cache[id]
	f.mu.Unlock()
	if ok && now.Before(c.exp) {
		return c.ok
	}
	allowed := false
	if id == "" {
		// An alarm about a recorder node or the system: for those whose
		// permission covers every camera.
		allowed = f.s.cfg.Access.Decide(f.p, f.perm, ac.Resource{AllCameras: true}, now).Allowed
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if cam, err := f.s.cfg.Devices.Get(ctx, id); err == nil {
			allowed = f.s.cfg.Access.Decide(f.p, f.perm, cameraResource(cam), now).Allowed
		}
	}
	f.mu.Lock()
	f.cache[id] = cachedDecision{ok: allowed, exp: now.Add(time.Minute)}
	f.mu.Unlock()
	return allowed
}

func (x *healthService) WatchEvents(r *pb.WatchEventsRequest, st pb.HealthService_WatchEventsServer) error {
	h, err := x.health()
	if err != nil {
		return err
	}
	ctx := st.Context()
	f := x.filter(ctx, ac.PermHealthRead, r.GetCameraIds())
	updates, err := h.Watcher.Watch(ctx, f.allows, r.GetResumeFrom())
	if err != nil {
		return err
	}
	for u := range updates {
		if u.Err != nil {
			if errors.Is(u.Err, context.Canceled) {
				return nil
			}
			return status.Error(codes.Unavailable, "the event stream was interrupted; resume with resume_from = the last seq: "+u.Err.Error())
		}
		m := &pb.WatchEventsResponse{Seq: u.Seq, Snapshot: u.Snapshot, SnapshotDone: u.SnapshotDone}
		switch {
		case u.Status != nil:
			m.Update = &pb.WatchEventsResponse_Status{Status: health.StatusToProto(*u.Status)}
		case u.Event != nil:
			m.Update = &pb.WatchEventsResponse_Event{Event: health.EventToProto(*u.Event)}
		case u.Alarm != nil:
			m.Update = &pb.WatchEventsResponse_Alarm{Alarm: health.AlarmToProto(*u.Alarm)}
		}
		if err := st.Send(m); err != nil {
			return err
		}
	}
	return nil
}

func (x *healthService) ListAlarms(ctx context.Context, r *pb.ListAlarmsRequest) (*pb.ListAlarmsResponse, error) {
	h, err := x.health()
	if err != nil {
		return nil, err
	}
	// Every alarm of the filter, then the caller's page of those they may
	// see (paging.go).
	as, err := h.Alarms.ListAlarms(ctx, health.AlarmFilter{Open: r.GetOpenOnly(), CameraIDs: r.GetCameraIds(), Limit: health.NoLimit})
	if err != nil {
		return nil, err
	}
	f := x.filter(ctx, ac.PermHealthRead, nil)
	out := &pb.ListAlarmsResponse{}
	for _, a := range as {
		if !f.allows(a.CameraID) {
			continue
		}
		if pa := health.AlarmToProto(a); len(r.GetKinds()) == 0 || slices.Contains(r.GetKinds(), pa.GetKind()) {
			out.Alarms = append(out.Alarms, pa)
		}
	}
	if out.Alarms, out.NextPageToken, err = pageOf(r, out.Alarms); err != nil {
		return nil, err
	}
	return out, nil
}

func (x *healthService) AcknowledgeAlarm(ctx context.Context, r *pb.AcknowledgeAlarmRequest) (*pb.Alarm, error) {
	h, err := x.health()
	if err != nil {
		return nil, err
	}
	as, err := h.Alarms.ListAlarms(ctx, health.AlarmFilter{})
	if err != nil {
		return nil, err
	}
	var cameraID string
	found := false
	for _, a := range as {
		if a.ID == r.GetAlarmId() {
			cameraID, found = a.CameraID, true
		}
	}
	if !found {
		return nil, status.Error(codes.NotFound, "no such alarm")
	}
	res := ac.Resource{AllCameras: true} // an alarm about a recorder node or the system
	if cameraID != "" {
		cam, err := x.s.cfg.Devices.Get(ctx, cameraID)
		if err != nil {
			return nil, err
		}
		res = cameraResource(cam)
	}
	if err := x.s.decideHere(ctx, res); err != nil {
		return nil, err
	}
	a, err := h.Alarms.Acknowledge(ctx, r.GetAlarmId(), actorOf(mustPrincipal(ctx)), r.GetNote())
	if err != nil {
		return nil, err
	}
	return health.AlarmToProto(a), nil
}

func (x *healthService) GetAvailability(ctx context.Context, r *pb.GetAvailabilityRequest) (*pb.GetAvailabilityResponse, error) {
	h, err := x.health()
	if err != nil {
		return nil, err
	}
	period := health.Daily
	switch r.GetPeriod() {
	case "", "day":
	case "month":
		period = health.Monthly
	default:
		return nil, status.Error(codes.InvalidArgument, "period must be day or month")
	}
	q := health.AvailabilityQuery{CameraIDs: r.GetCameraIds(), Period: period, Location: x.s.location()}
	if r.GetFrom() != nil {
		q.From = r.GetFrom().AsTime()
	}
	if r.GetTo() != nil {
		q.To = r.GetTo().AsTime()
	}
	rows, err := health.QueryAvailability(ctx, h.Pool, q, x.s.now())
	if err != nil {
		return nil, err
	}
	f := x.filter(ctx, ac.PermHealthRead, nil)
	out := &pb.GetAvailabilityResponse{}
	for _, a := range rows {
		if !f.allows(a.CameraID) {
			continue
		}
		out.Rows = append(out.Rows, &pb.CameraAvailability{CameraId: a.CameraID, Start: ts(a.Start), End: ts(a.End),
			Up: durationpb.New(a.Up), Down: durationpb.New(a.Down), Maintenance: durationpb.New(a.Maintenance),
			Unknown: durationpb.New(a.Unknown), Ratio: a.Ratio()})
	}
	return out, nil
}

// HealthTargets lists the cameras health workers probe, from the registry.
func HealthTargets(reg interface {
	ProbeTargets(ctx context.Context) ([]devices.ProbeTarget, error)
}) health.Targets {
	return health.TargetsFunc(func(ctx context.Context) ([]health.Target, error) {
		ts, err := reg.ProbeTargets(ctx)
		if err != nil {
			return nil, err
		}
		out := make([]health.Target, len(ts))
		for i, t := range ts {
			out[i] = health.Target{CameraID: t.CameraID, Site: t.SiteID, Department: t.Department, DeviceURL: t.DeviceURL,
				StreamURL: t.StreamURI, Username: t.Credentials.Username, Password: t.Credentials.Password,
				Maintenance: t.Maintenance, Events: true, Pending: t.Pending}
		}
		return out, nil
	})
}
