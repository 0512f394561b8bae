package control

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	ac "github.com/gwanje/gwanje/accesscontrol"
	"github.com/gwanje/gwanje/audit"
	"github.com/gwanje/gwanje/devices"
	"github.com/gwanje/gwanje/devices/health"
	"github.com/gwanje/gwanje/devices/onvif"
	pb "github.com/gwanje/gwanje/proto/gwanje/v1"
)

// deviceService translates DeviceService calls to the devices registry.
// Camera-scoped calls decide with the camera's site, department and labels.
type deviceService struct {
	pb.UnimplementedDeviceServiceServer
	s *Server
}

func (x *deviceService) reg() (*devices.Registry, error) {
	if x.s.cfg.Devices == nil {
		return nil, status.Error(codes.Unavailable, "the device registry is not running in this process")
	}
	return x.s.cfg.Devices, nil
}

func deviceActor(ctx context.Context, reason string) devices.Actor {
	p := mustPrincipal(ctx)
	return devices.Actor{Actor: actorOf(p), ClientAddr: p.ClientAddr, SessionID: p.SessionID, RequestID: requestID(ctx), Reason: reason}
}

func cameraResource(c devices.Camera) ac.Resource {
	return ac.Resource{CameraID: c.ID, Site: c.SiteID, Department: c.Department, Labels: c.Labels}
}

// decideCamera decides perm on camera c for the caller; a denial is
// audited and answered generically.
func (s *Server) decideCamera(ctx context.Context, method string, perm ac.Permission, r ac.Resource) error {
	p := mustPrincipal(ctx)
	d := s.cfg.Access.Decide(p, perm, r, s.now())
	if d.Allowed {
		return nil
	}
	s.log.Info("permission denied", "method", method, "user", p.Username, "permission", perm, "camera", r.CameraID, "reason", d.Reason)
	s.auditDenied(ctx, p, "access.denied", method, string(perm), string(d.Reason), r.CameraID)
	return errDenied
}

// lookupCamera finds camera id for a call that needs perm on it (with
// purpose, for footage). A camera that does not exist is answered exactly
// like one outside the caller's scope (PermissionDenied, and the attempt
// audited as access.denied) unless the caller holds perm on every camera
// (scope all), so that nobody can learn which IDs exist beyond their scope;
// a caller with scope all gets NotFound. An empty ID names no camera and
// reveals nothing: it is answered as before (NotFound).
func (s *Server) lookupCamera(ctx context.Context, method string, perm ac.Permission, id string, purpose ac.Purpose) (devices.Camera, error) {
	c, err := s.cfg.Devices.Get(ctx, id)
	if errors.Is(err, devices.ErrNotFound) && id != "" {
		p := mustPrincipal(ctx)
		if d := s.cfg.Access.Decide(p, perm, ac.Resource{CameraID: id, Purpose: purpose}, s.now()); !d.Allowed {
			s.log.Info("permission denied", "method", method, "user", p.Username, "permission", perm, "camera", id, "reason", "unknown_camera")
			s.auditDenied(ctx, p, "access.denied", method, string(perm), "unknown_camera", id)
			return devices.Camera{}, errDenied
		}
	}
	return c, err
}

// decideHere is decideCamera with the method and permission of the call's
// entry in the permission table.
func (s *Server) decideHere(ctx context.Context, r ac.Resource) error {
	a := called(ctx)
	return s.decideCamera(ctx, a.method, a.perm(), r)
}

// lookupHere is lookupCamera with the method and permission of the call's
// entry in the permission table.
func (s *Server) lookupHere(ctx context.Context, id string, purpose ac.Purpose) (devices.Camera, error) {
	a := called(ctx)
	return s.lookupCamera(ctx, a.method, a.perm(), id, purpose)
}

// camera finds camera id and decides the method's permission on it.
func (x *deviceService) camera(ctx context.Context, id string) (devices.Camera, error) {
	if _, err := x.reg(); err != nil {
		return devices.Camera{}, err
	}
	c, err := x.s.lookupHere(ctx, id, "")
	if err != nil {
		return devices.Camera{}, err
	}
	return c, x.s.decideHere(ctx, cameraResource(c))
}

func (x *deviceService) CreateSite(ctx context.Context, r *pb.CreateSiteRequest) (*pb.Site, error) {
	reg, err := x.reg()
	if err != nil {
		return nil, err
	}
	s, err := reg.CreateSite(ctx, siteFieldsFromPB(r.GetFields()), deviceActor(ctx, r.GetReason()))
	if err != nil {
		return nil, err
	}
	return sitePB(s), nil
}

// UpdateSite changes the site's fields named by the update mask (mask.go).
func (x *deviceService) UpdateSite(ctx context.Context, r *pb.UpdateSiteRequest) (*pb.Site, error) {
	reg, err := x.reg()
	if err != nil {
		return nil, err
	}
	paths, err := updatePaths(r.GetUpdateMask(), r.GetFields(), fieldNames(&pb.SiteFields{})...)
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, errNothingToChange
	}
	cur, err := reg.GetSite(ctx, r.GetSiteId())
	if err != nil {
		return nil, err
	}
	fields := sitePB(cur).GetFields()
	applyPaths(fields, bodyOr(r.GetFields(), &pb.SiteFields{}), paths)
	s, err := reg.UpdateSite(ctx, r.GetSiteId(), siteFieldsFromPB(fields), deviceActor(ctx, r.GetReason()))
	if err != nil {
		return nil, err
	}
	return sitePB(s), nil
}

func (x *deviceService) ListSites(ctx context.Context, r *pb.ListSitesRequest) (*pb.ListSitesResponse, error) {
	reg, err := x.reg()
	if err != nil {
		return nil, err
	}
	ss, err := reg.ListSites(ctx)
	if err != nil {
		return nil, err
	}
	out := &pb.ListSitesResponse{}
	for _, s := range ss {
		out.Sites = append(out.Sites, sitePB(s))
	}
	if out.Sites, out.NextPageToken, err = pageOf(r, out.Sites); err != nil {
		return nil, err
	}
	return out, nil
}

func (x *deviceService) Discover(r *pb.DiscoverRequest, st pb.DeviceService_DiscoverServer) error {
	ctx := st.Context()
	reg, err := x.reg()
	if err != nil {
		return err
	}
	if err := x.s.record(ctx, audit.Entry{Type: "device.discover", Details: map[string]any{"targets": r.GetTargets(), "port": r.GetPort()}}); err != nil {
		return err
	}
	var sendErr error
	err = reg.Discover(ctx, devices.DiscoverRequest{Targets: r.GetTargets(), Port: int(r.GetPort())}, func(c devices.Candidate) {
		if sendErr != nil {
			return
		}
		sendErr = st.Send(&pb.DiscoverResponse{
			EndpointReference: c.EndpointReference, DeviceUrl: c.DeviceURL, Xaddrs: c.XAddrs, From: addrString(c.From),
			Name: c.Name, Location: c.Location, Hardware: c.Hardware, Scopes: c.Scopes, Registered: c.Registered, CameraId: c.CameraID,
		})
	})
	if sendErr != nil {
		return sendErr
	}
	return err
}

func addrString(a netip.AddrPort) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

func (x *deviceService) RegisterCamera(ctx context.Context, r *pb.RegisterCameraRequest) (*pb.RegisterCameraResponse, error) {
	reg, err := x.reg()
	if err != nil {
		return nil, err
	}
	req := devices.RegisterRequest{
		DeviceURL: r.GetDeviceUrl(), Username: r.GetUsername(), Password: r.GetPassword(),
		ProfileToken: r.GetProfileToken(), Fields: cameraFieldsFromPB(r.GetFields()), Strict: r.GetStrict(),
	}
	if r.GetEndpointReference() != "" {
		req.Candidate = &devices.Candidate{EndpointReference: r.GetEndpointReference(), DeviceURL: r.GetDeviceUrl()}
	}
	res, err := reg.Register(ctx, req, deviceActor(ctx, r.GetReason()))
	if err != nil {
		return nil, err
	}
	out := &pb.RegisterCameraResponse{Camera: cameraPB(res.Camera), Warnings: res.Warnings, Pending: res.Pending}
	if res.Camera.Device.ClockKnown {
		out.ClockOffset = durationpb.New(res.ClockOffset)
	}
	return out, nil
}

// CreateCamera records a camera without a live device (planned, from a
// plan or the open data) beside those registered by discovery.
func (x *deviceService) CreateCamera(ctx context.Context, r *pb.CreateCameraRequest) (*pb.Camera, error) {
	reg, err := x.reg()
	if err != nil {
		return nil, err
	}
	c, err := reg.CreateCamera(ctx, cameraFieldsFromPB(r.GetFields()), deviceActor(ctx, r.GetReason()))
	if err != nil {
		return nil, err
	}
	return cameraPB(c), nil
}

func (x *deviceService) GetCamera(ctx context.Context, r *pb.GetCameraRequest) (*pb.Camera, error) {
	c, err := x.camera(ctx, r.GetCameraId())
	if err != nil {
		return nil, err
	}
	return cameraPB(c), nil
}

// ListCameras lists the cameras of the page that the caller may read; a
// contractor sees only the cameras of their contracted sites.
func (x *deviceService) ListCameras(ctx context.Context, r *pb.ListCamerasRequest) (*pb.ListCamerasResponse, error) {
	reg, err := x.reg()
	if err != nil {
		return nil, err
	}
	page, err := reg.List(ctx, devices.Filter{
		SiteID: r.GetSiteId(), Purpose: r.GetPurpose(), NationalPurpose: r.GetNationalPurpose(), Department: r.GetDepartment(),
		Lifecycle: devices.Lifecycle(pb.Code(r.GetLifecycle())), Label: r.GetLabel(), Text: r.GetText(),
		IncludeDecommissioned: r.GetIncludeDecommissioned(), Limit: int(r.GetPageSize()), Cursor: r.GetPageToken(),
	})
	if err != nil {
		return nil, err
	}
	p, now := mustPrincipal(ctx), x.s.now()
	out := &pb.ListCamerasResponse{NextPageToken: page.NextCursor}
	for _, c := range page.Cameras {
		if !x.s.cfg.Access.Decide(p, ac.PermDeviceRead, cameraResource(c), now).Allowed {
			continue
		}
		if len(r.GetStates()) > 0 {
			st, err := x.state(ctx, c.ID)
			if err != nil {
				return nil, err
			}
			if !slices.Contains(r.GetStates(), st) {
				continue
			}
		}
		out.Cameras = append(out.Cameras, cameraPB(c))
	}
	return out, nil
}

// state is a camera's current health state (CAMERA_STATE_UNSPECIFIED when
// it was not probed yet), for the states filter of ListCameras.
func (x *deviceService) state(ctx context.Context, id string) (pb.CameraState, error) {
	h := x.s.cfg.Health
	if h == nil || h.Current == nil {
		return 0, status.Error(codes.Unavailable, "camera health is not available in this process: list without states")
	}
	st, ok, err := h.Current(ctx, id)
	if err != nil || !ok {
		return pb.CameraState_CAMERA_STATE_UNSPECIFIED, err
	}
	return health.StateToProto(st.State), nil
}

// UpdateCamera changes the camera's fields named by the update mask
// (mask.go) and, when given, its credentials.
func (x *deviceService) UpdateCamera(ctx context.Context, r *pb.UpdateCameraRequest) (*pb.Camera, error) {
	paths, err := updatePaths(r.GetUpdateMask(), r.GetFields(), fieldNames(&pb.CameraFields{})...)
	if err != nil {
		return nil, err
	}
	creds := r.GetUsername() != "" || r.GetPassword() != ""
	if len(paths) == 0 && !creds {
		return nil, errNothingToChange
	}
	if _, err := x.camera(ctx, r.GetCameraId()); err != nil {
		return nil, err
	}
	reg, _ := x.reg()
	a := deviceActor(ctx, r.GetReason())
	if len(paths) > 0 {
		if _, err := reg.Update(ctx, devices.UpdateRequest{ID: r.GetCameraId(), Fields: cameraFieldsFromPB(r.GetFields()), Mask: paths}, a); err != nil {
			return nil, err
		}
	}
	if creds {
		if err := reg.SetCredentials(ctx, r.GetCameraId(), devices.Credentials{Username: r.GetUsername(), Password: r.GetPassword()}, a); err != nil {
			return nil, err
		}
	}
	c, err := reg.Get(ctx, r.GetCameraId())
	if err != nil {
		return nil, err
	}
	return cameraPB(c), nil
}

// BatchUpdateCameras changes the fields named by the update mask on every
// camera named or selected, after deciding device.configure on each: one
// camera outside the caller's scope refuses the whole batch.
func (x *deviceService) BatchUpdateCameras(ctx context.Context, r *pb.BatchUpdateCamerasRequest) (*pb.BatchUpdateCamerasResponse, error) {
	reg, err := x.reg()
	if err != nil {
		return nil, err
	}
	paths, err := updatePaths(r.GetUpdateMask(), r.GetFields(), fieldNames(&pb.CameraFields{})...)
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, errNothingToChange
	}
	if len(r.GetCameraIds()) > devices.MaxBatchUpdate {
		return nil, status.Errorf(codes.InvalidArgument, "at most %d cameras in one batch", devices.MaxBatchUpdate)
	}
	ids := slices.Clone(r.GetCameraIds())
	if f := r.GetFilter(); f != nil && proto.Size(f) > 0 {
		sel, err := reg.SelectIDs(ctx, devices.Filter{SiteID: f.GetSiteId(), Purpose: f.GetPurpose(),
			NationalPurpose: f.GetNationalPurpose(), Department: f.GetDepartment(), Lifecycle: devices.Lifecycle(pb.Code(f.GetLifecycle())),
			Label: f.GetLabel(), Text: f.GetText()}, devices.MaxBatchUpdate)
		if err != nil {
			return nil, err
		}
		ids = append(ids, sel...)
	}
	if len(ids) == 0 {
		return nil, status.Error(codes.InvalidArgument, "no cameras selected: give camera_ids or a filter that matches some")
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	if len(ids) > devices.MaxBatchUpdate {
		return nil, status.Errorf(codes.InvalidArgument, "%d cameras selected, at most %d in one batch", len(ids), devices.MaxBatchUpdate)
	}
	for _, id := range ids {
		if _, err := x.camera(ctx, id); err != nil {
			return nil, err
		}
	}
	if _, err := reg.BatchUpdate(ctx, devices.BatchUpdateRequest{IDs: ids, Fields: cameraFieldsFromPB(r.GetFields()), Mask: paths,
		ValidateOnly: r.GetValidateOnly()}, deviceActor(ctx, r.GetReason())); err != nil {
		return nil, err
	}
	return &pb.BatchUpdateCamerasResponse{CameraIds: ids, UpdateMaskPaths: paths, ValidateOnly: r.GetValidateOnly()}, nil
}

func (x *deviceService) DecommissionCamera(ctx context.Context, r *pb.DecommissionCameraRequest) (*pb.Camera, error) {
	if _, err := x.camera(ctx, r.GetCameraId()); err != nil {
		return nil, err
	}
	reg, _ := x.reg()
	c, err := reg.Decommission(ctx, r.GetCameraId(), r.GetReason(), deviceActor(ctx, r.GetReason()))
	if err != nil {
		return nil, err
	}
	return cameraPB(c), nil
}

func (x *deviceService) ImportOpenData(ctx context.Context, r *pb.ImportOpenDataRequest) (*pb.ImportOpenDataResponse, error) {
	reg, err := x.reg()
	if err != nil {
		return nil, err
	}
	res, err := reg.ImportOpenData(ctx, bytes.NewReader(r.GetCsv()), devices.ImportOptions{
		ParseOptions: devices.ParseOptions{Encoding: devices.Encoding(r.GetEncoding())},
		DryRun:       r.GetDryRun(), Department: r.GetDepartment(),
	}, deviceActor(ctx, r.GetReason()))
	out := &pb.ImportOpenDataResponse{Rows: int32(res.Rows), Sites: int32(res.Sites), Cameras: int32(res.Cameras), DryRun: res.DryRun,
		Imported: res.Imported, Inserted: int32(res.Inserted), Updated: int32(res.Updated), Unchanged: int32(res.Unchanged),
		Deleted: int32(res.Deleted), Refused: int32(res.Refused)}
	for _, e := range res.Errors {
		out.Errors = append(out.Errors, &pb.RowError{Line: int32(e.Line), Column: e.Column, Reason: e.Reason})
	}
	if err != nil && len(out.Errors) > 0 {
		// Bad rows are the answer, not a failure of the call: nothing was
		// imported and the response says why, line by line.
		return out, nil
	}
	return out, err
}

func (x *deviceService) ExportOpenData(ctx context.Context, r *pb.ExportOpenDataRequest) (*pb.ReportFile, error) {
	reg, err := x.reg()
	if err != nil {
		return nil, err
	}
	enc := devices.Encoding(r.GetEncoding())
	if enc == "" {
		enc = devices.EncodingCP949
	}
	if enc != devices.EncodingUTF8 && enc != devices.EncodingCP949 {
		return nil, status.Error(codes.InvalidArgument, "encoding must be utf-8 or cp949")
	}
	if err := x.s.record(ctx, audit.Entry{Type: "report.download", Details: map[string]any{"report": "open_data", "encoding": string(enc), "org": r.GetOrg()}}); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if _, err := reg.ExportOpenData(ctx, &buf, devices.ExportOptions{Encoding: enc, LocalGovCode: r.GetLocalGovCode(), Org: r.GetOrg()}); err != nil {
		return nil, err
	}
	return &pb.ReportFile{Filename: fmt.Sprintf("전국CCTV표준데이터_%s.csv", time.Now().Format("20060102")), ContentType: "text/csv", Content: buf.Bytes()}, nil
}

func (x *deviceService) GetInstallationReport(ctx context.Context, r *pb.GetInstallationReportRequest) (*pb.ReportFile, error) {
	reg, err := x.reg()
	if err != nil {
		return nil, err
	}
	format := strings.ToLower(r.GetFormat())
	if format == "" {
		format = "xlsx"
	}
	if format != "xlsx" && format != "csv" {
		return nil, status.Error(codes.InvalidArgument, "format must be xlsx or csv")
	}
	if err := x.s.record(ctx, audit.Entry{Type: "report.download", Details: map[string]any{"report": "installation", "format": format, "part": r.GetPart(), "org": r.GetOrg(), "department": r.GetDepartment()}}); err != nil {
		return nil, err
	}
	rep, err := reg.InstallationReport(ctx, devices.ReportFilter{Org: r.GetOrg(), Department: r.GetDepartment(), IncludePlanned: r.GetIncludePlanned()})
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	name := "설치현황_" + time.Now().Format("20060102")
	if format == "xlsx" {
		if err := rep.WriteXLSX(&buf); err != nil {
			return nil, err
		}
		return &pb.ReportFile{Filename: name + ".xlsx", ContentType: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", Content: buf.Bytes()}, nil
	}
	part := devices.ReportPart(r.GetPart())
	if part == "" {
		part = devices.ReportSummary
	}
	if err := rep.WriteCSV(&buf, part); err != nil {
		return nil, err
	}
	return &pb.ReportFile{Filename: name + "_" + string(part) + ".csv", ContentType: "text/csv", Content: buf.Bytes()}, nil
}

// ---- translation ----

func posFromPB(p *pb.Position) *devices.Position {
	if p == nil {
		return nil
	}
	return &devices.Position{Lat: p.GetLat(), Lon: p.GetLon()}
}

func posPB(p *devices.Position) *pb.Position {
	if p == nil {
		return nil
	}
	return &pb.Position{Lat: p.Lat, Lon: p.Lon}
}

func siteFieldsFromPB(f *pb.SiteFields) devices.SiteFields {
	c := f.GetContractor()
	return devices.SiteFields{
		Name: f.GetName(), ManagementNo: f.GetManagementNo(), Org: f.GetOrg(), OrgPhone: f.GetOrgPhone(),
		Department: f.GetDepartment(), RoadAddress: f.GetRoadAddress(), LotAddress: f.GetLotAddress(),
		Position:   posFromPB(f.GetPosition()),
		Contractor: devices.Contractor{ID: c.GetId(), Name: c.GetName(), Contact: c.GetContact(), Phone: c.GetPhone()},
	}
}

func sitePB(s devices.Site) *pb.Site {
	f := s.SiteFields
	return &pb.Site{Id: s.ID, CreatedAt: ts(s.CreatedAt), UpdatedAt: ts(s.UpdatedAt), Fields: &pb.SiteFields{
		Name: f.Name, ManagementNo: f.ManagementNo, Org: f.Org, OrgPhone: f.OrgPhone, Department: f.Department,
		RoadAddress: f.RoadAddress, LotAddress: f.LotAddress, Position: posPB(f.Position),
		Contractor: &pb.Contractor{Id: f.Contractor.ID, Name: f.Contractor.Name, Contact: f.Contractor.Contact, Phone: f.Contractor.Phone},
	}}
}

func cameraFieldsFromPB(f *pb.CameraFields) devices.CameraFields {
	return devices.CameraFields{
		SiteID: f.GetSiteId(), Name: f.GetName(), ManagementNo: f.GetManagementNo(), Purpose: f.GetPurpose(),
		LegalBasis: devices.LegalBasis(f.GetLegalBasis()), RoadAddress: f.GetRoadAddress(), LotAddress: f.GetLotAddress(),
		Position: posFromPB(f.GetPosition()), Coverage: f.GetCoverage(), Resolution: int(f.GetResolution()),
		Direction: f.GetDirection(), InstallYM: f.GetInstallYm(), Schedule: f.GetSchedule(),
		RetentionDays: int(f.GetRetentionDays()), NotStored: f.GetNotStored(), RetentionReason: f.GetRetentionReason(),
		StoragePlace: f.GetStoragePlace(), MonitoringMethod: f.GetMonitoringMethod(), MonitoringPlace: f.GetMonitoringPlace(),
		Org: f.GetOrg(), Department: f.GetDepartment(), Manager: f.GetManager(), ManagerPhone: f.GetManagerPhone(),
		AccessPersons: f.GetAccessPersons(), Signage: devices.Signage(f.GetSignage()), Labels: f.GetLabels(),
		Lifecycle: devices.Lifecycle(pb.Code(f.GetLifecycle())),
	}
}

func cameraPB(c devices.Camera) *pb.Camera {
	f := c.CameraFields
	d := c.Device
	out := &pb.Camera{
		Id: c.ID, NationalPurpose: c.NationalPurpose, HasCredentials: c.HasCredentials,
		DecommissionedAt: tsp(c.DecommissionedAt), DecommissionReason: c.DecommissionReason,
		CreatedAt: ts(c.CreatedAt), UpdatedAt: ts(c.UpdatedAt), PendingReasons: c.PendingReasons,
		Fields: &pb.CameraFields{
			SiteId: f.SiteID, Name: f.Name, ManagementNo: f.ManagementNo, Purpose: f.Purpose, LegalBasis: int32(f.LegalBasis),
			RoadAddress: f.RoadAddress, LotAddress: f.LotAddress, Position: posPB(f.Position), Coverage: f.Coverage,
			Resolution: int32(f.Resolution), Direction: f.Direction, InstallYm: f.InstallYM, Schedule: f.Schedule,
			RetentionDays: int32(f.RetentionDays), NotStored: f.NotStored, RetentionReason: f.RetentionReason,
			StoragePlace: f.StoragePlace, MonitoringMethod: f.MonitoringMethod, MonitoringPlace: f.MonitoringPlace,
			Org: f.Org, Department: f.Department, Manager: f.Manager, ManagerPhone: f.ManagerPhone,
			AccessPersons: f.AccessPersons, Signage: string(f.Signage), Labels: f.Labels, Lifecycle: enumOf[pb.CameraLifecycle](string(f.Lifecycle)),
		},
		Device: &pb.DeviceFacts{
			DeviceUrl: d.DeviceURL, EndpointReference: d.EndpointReference, Manufacturer: d.Manufacturer, Model: d.Model,
			Firmware: d.Firmware, Serial: d.Serial, HardwareId: d.HardwareID, ProfileToken: d.ProfileToken, Ptz: d.PTZ,
			HasSnapshot: d.SnapshotURI != "", RegisteredAt: ts(d.RegisteredAt),
		},
	}
	if d.ClockKnown {
		out.Device.ClockOffset = durationpb.New(d.ClockOffset)
	}
	for _, p := range d.Profiles {
		out.Device.Profiles = append(out.Device.Profiles, &pb.Profile{Token: p.Token, Name: p.Name, Encoding: p.Encoding,
			Width: int32(p.Width), Height: int32(p.Height), FrameRate: p.FrameRate, Ptz: p.PTZ})
	}
	return out
}

// ---- device management ----

func clockPB(c devices.ClockStatus) *pb.ClockStatus {
	return &pb.ClockStatus{CameraUtc: ts(c.CameraUTC), Offset: durationpb.New(c.Offset), Latency: durationpb.New(c.Latency),
		Mode: c.Mode, NtpServers: c.NTPServers}
}

// act records an action on a camera, runs it, and records its failure too.
func (x *deviceService) act(ctx context.Context, e audit.Entry, run func() error) error {
	if err := x.s.record(ctx, e); err != nil {
		return err
	}
	if err := run(); err != nil {
		f := e
		f.Outcome, f.Reason = audit.Failed, err.Error()
		if rerr := x.s.record(ctx, f); rerr != nil {
			x.s.log.Error("could not record a failed camera action", "type", e.Type, "err", rerr)
		}
		return err
	}
	return nil
}

func (x *deviceService) GetClock(ctx context.Context, r *pb.GetClockRequest) (*pb.ClockStatus, error) {
	if _, err := x.camera(ctx, r.GetCameraId()); err != nil {
		return nil, err
	}
	reg, _ := x.reg()
	st, err := reg.Clock(ctx, r.GetCameraId())
	if err != nil {
		return nil, err
	}
	return clockPB(st), nil
}

func (x *deviceService) FixClock(ctx context.Context, r *pb.FixClockRequest) (*pb.ClockStatus, error) {
	if _, err := x.camera(ctx, r.GetCameraId()); err != nil {
		return nil, err
	}
	reg, _ := x.reg()
	var st devices.ClockStatus
	err := x.act(ctx, audit.Entry{Type: "device.clock.fix", Cameras: []string{r.GetCameraId()}, Reason: r.GetReason(),
		Details: map[string]any{"ntp_servers": r.GetNtpServers()}}, func() (err error) {
		st, err = reg.FixClock(ctx, r.GetCameraId(), r.GetNtpServers())
		return err
	})
	if err != nil {
		return nil, err
	}
	return clockPB(st), nil
}

func (x *deviceService) RebootCamera(ctx context.Context, r *pb.RebootCameraRequest) (*pb.RebootCameraResponse, error) {
	if _, err := x.camera(ctx, r.GetCameraId()); err != nil {
		return nil, err
	}
	reg, _ := x.reg()
	var msg string
	err := x.act(ctx, audit.Entry{Type: "device.reboot", Cameras: []string{r.GetCameraId()}, Reason: r.GetReason()}, func() (err error) {
		msg, err = reg.Reboot(ctx, r.GetCameraId())
		return err
	})
	if err != nil {
		return nil, err
	}
	return &pb.RebootCameraResponse{Message: msg}, nil
}

// footageCamera authorizes the method's permission with a stated purpose
// on a camera.
func (x *deviceService) footageCamera(ctx context.Context, id, purpose, text string) (ac.Purpose, error) {
	p, err := ac.ValidatePurpose(purpose, text)
	if err != nil {
		return "", status.Error(codes.InvalidArgument, err.Error())
	}
	if _, err := x.reg(); err != nil {
		return "", err
	}
	c, err := x.s.lookupHere(ctx, id, p)
	if err != nil {
		return "", err
	}
	res := cameraResource(c)
	res.Purpose = p
	return p, x.s.decideHere(ctx, res)
}

func (x *deviceService) GetSnapshot(ctx context.Context, r *pb.GetSnapshotRequest) (*pb.GetSnapshotResponse, error) {
	purpose, err := x.footageCamera(ctx, r.GetCameraId(), pb.Code(r.GetPurpose()), r.GetPurposeText())
	if err != nil {
		return nil, err
	}
	reg, _ := x.reg()
	e := audit.Entry{Type: "snapshot.view", Cameras: []string{r.GetCameraId()}, Live: true, Purpose: string(purpose), PurposeText: r.GetPurposeText()}
	seq, err := x.s.recordSeq(ctx, e)
	if err != nil {
		return nil, err
	}
	img, ct, err := reg.Snapshot(ctx, r.GetCameraId())
	if err != nil {
		f := e
		f.Outcome, f.Reason = audit.Failed, err.Error()
		_ = x.s.record(ctx, f)
		return nil, err
	}
	return &pb.GetSnapshotResponse{ContentType: ct, Image: img, AuditSeq: seq}, nil
}

func (x *deviceService) ControlPTZ(ctx context.Context, r *pb.ControlPTZRequest) (*pb.ControlPTZResponse, error) {
	purpose, err := x.footageCamera(ctx, r.GetCameraId(), pb.Code(r.GetPurpose()), r.GetPurposeText())
	if err != nil {
		return nil, err
	}
	reg, _ := x.reg()
	vec := func(v *pb.PTZVector) onvif.PTZVector {
		return onvif.PTZVector{Pan: v.GetPan(), Tilt: v.GetTilt(), Zoom: v.GetZoom()}
	}
	a := devices.PTZAction{Kind: r.GetAction(), Velocity: vec(r.GetVelocity()), Duration: r.GetDuration().AsDuration(),
		Position: vec(r.GetPosition()), PresetToken: r.GetPresetToken(), PresetName: r.GetPresetName()}
	// A command that cannot be valid is refused before its audit entry:
	// nothing is recorded as done that was never tried.
	if err := a.Validate(); err != nil {
		return nil, err
	}
	var res devices.PTZResult
	err = x.act(ctx, audit.Entry{Type: "ptz." + r.GetAction(), Cameras: []string{r.GetCameraId()}, Live: true,
		Purpose: string(purpose), PurposeText: r.GetPurposeText(),
		Details: map[string]any{"preset": r.GetPresetToken() + r.GetPresetName()}}, func() (err error) {
		res, err = reg.PTZ(ctx, r.GetCameraId(), a)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := &pb.ControlPTZResponse{
		Position:    &pb.PTZVector{Pan: res.Status.Position.Pan, Tilt: res.Status.Position.Tilt, Zoom: res.Status.Position.Zoom},
		PanTiltMove: res.Status.PanTiltMove, ZoomMove: res.Status.ZoomMove, PresetToken: res.PresetToken,
	}
	for _, p := range res.Presets {
		out.Presets = append(out.Presets, &pb.PTZPreset{Token: p.Token, Name: p.Name})
	}
	return out, nil
}
