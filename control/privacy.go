package control

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	ac "github.com/gwanje/gwanje/accesscontrol"
	"github.com/gwanje/gwanje/audit"
	"github.com/gwanje/gwanje/devices"
	"github.com/gwanje/gwanje/internal/xlsx"
	"github.com/gwanje/gwanje/privacy/manifest"
	"github.com/gwanje/gwanje/privacy/requests"
	pb "github.com/gwanje/gwanje/proto/gwanje/v1"
)

// privacyService translates PrivacyService calls to privacy/requests,
// which decides each step's rights itself (request.handle, export.request
// and export.approve on every camera, four eyes) and audits every step in
// the step's transaction.
type privacyService struct {
	pb.UnimplementedPrivacyServiceServer
	s *Server
}

func (x *privacyService) svc() (*requests.Service, error) {
	if x.s.cfg.Privacy == nil {
		return nil, status.Error(codes.Unavailable, "subject requests and provisions are handled by a server with the recorder role")
	}
	return x.s.cfg.Privacy, nil
}

func subjectPB(r requests.SubjectRequest) *pb.SubjectRequest {
	return &pb.SubjectRequest{Id: r.ID, Kind: enumOf[pb.SubjectRequestKind](string(r.Kind)), Status: enumOf[pb.SubjectRequestStatus](r.Status), RequesterName: r.RequesterName,
		RequesterContact: r.RequesterContact, AgentRelation: r.AgentRelation, PowerOfAttorney: r.PowerOfAttorney,
		IdentityMethod: r.IdentityMethod, IdentityVerifiedBy: r.IdentityVerifiedBy, Cameras: r.Cameras, Site: r.Site,
		Place: r.Place, From: ts(r.From), To: ts(r.To), Description: r.Description, ReceivedAt: ts(r.ReceivedAt),
		Deadline: ts(r.Deadline), Decision: string(r.Decision), RefusalReason: string(r.RefusalReason),
		ReasonText: r.ReasonText, Objection: r.Objection, HoldId: r.HoldID}
}

func provisionPB(p requests.Provision) *pb.Provision {
	rc := p.Recipient
	return &pb.Provision{Id: p.ID, Status: enumOf[pb.ProvisionStatus](p.Status), Recipient: &pb.Recipient{Org: rc.Org, Unit: rc.Unit, Rank: rc.Rank, Name: rc.Name, Contact: rc.Contact},
		LetterNo: p.LetterNo, Reason: p.Reason, Basis: string(p.Basis), Cameras: p.Cameras, From: ts(p.From), To: ts(p.To),
		Form: p.Form, Delivery: p.Delivery, UseUntil: ts(p.UseUntil), Safeguards: p.Safeguards, SecurityPledge: p.SecurityPledge, Purpose: enumOf[pb.Purpose](string(p.Purpose)),
		RequestedBy: p.RequestedByName, RequestedAt: ts(p.RequestedAt), ApprovedBy: p.ApprovedByName, ApprovedAt: tsp(p.ApprovedAt),
		Emergency: p.Emergency, RejectedReason: p.RejectedReason, Outcome: p.Outcome}
}

func (x *privacyService) OpenSubjectRequest(ctx context.Context, r *pb.OpenSubjectRequestRequest) (*pb.SubjectRequest, error) {
	svc, err := x.svc()
	if err != nil {
		return nil, err
	}
	out, err := svc.OpenRequest(ctx, mustPrincipal(ctx), requests.Intake{
		RequesterName: r.GetRequesterName(), RequesterContact: r.GetRequesterContact(), AgentRelation: r.GetAgentRelation(),
		PowerOfAttorney: r.GetPowerOfAttorney(), IdentityMethod: r.GetIdentityMethod(), Kind: requests.Kind(pb.Code(r.GetKind())),
		Cameras: r.GetCameras(), Site: r.GetSite(), Place: r.GetPlace(), From: r.GetFrom().AsTime(), To: r.GetTo().AsTime(),
		Description: r.GetDescription(),
	})
	if err != nil {
		return nil, err
	}
	return subjectPB(out), nil
}

func (x *privacyService) GetSubjectRequest(ctx context.Context, r *pb.GetSubjectRequestRequest) (*pb.SubjectRequest, error) {
	svc, err := x.svc()
	if err != nil {
		return nil, err
	}
	out, err := svc.GetRequest(ctx, mustPrincipal(ctx), r.GetSubjectRequestId())
	if err != nil {
		return nil, err
	}
	return subjectPB(out), nil
}

func (x *privacyService) ListSubjectRequests(ctx context.Context, r *pb.ListSubjectRequestsRequest) (*pb.ListSubjectRequestsResponse, error) {
	svc, err := x.svc()
	if err != nil {
		return nil, err
	}
	from, to := time.Time{}, x.s.now().Add(time.Minute) // default: everything received so far
	if r.GetFrom() != nil {
		from = r.GetFrom().AsTime()
	}
	if r.GetTo() != nil {
		to = r.GetTo().AsTime()
	}
	rs, err := svc.ListRequests(ctx, mustPrincipal(ctx), from, to, r.GetOpenOnly())
	if err != nil {
		return nil, err
	}
	out := &pb.ListSubjectRequestsResponse{}
	for _, q := range rs {
		out.Requests = append(out.Requests, subjectPB(q))
	}
	if out.Requests, out.NextPageToken, err = pageOf(r, out.Requests); err != nil {
		return nil, err
	}
	return out, nil
}

func (x *privacyService) DecideSubjectRequest(ctx context.Context, r *pb.DecideSubjectRequestRequest) (*pb.SubjectRequest, error) {
	svc, err := x.svc()
	if err != nil {
		return nil, err
	}
	d := requests.Decision{Kind: requests.DecisionKind(r.GetDecision()), ViewingPlace: r.GetViewingPlace(),
		RefusalReason: requests.RefusalReason(r.GetRefusalReason()), ReasonText: r.GetReasonText(), Objection: r.GetObjection(), Witness: r.GetWitness()}
	if r.GetViewingAt() != nil {
		d.ViewingAt = r.GetViewingAt().AsTime()
	}
	if r.GetPostponedUntil() != nil {
		d.PostponedUntil = r.GetPostponedUntil().AsTime()
	}
	out, err := svc.DecideRequest(ctx, mustPrincipal(ctx), r.GetSubjectRequestId(), d)
	if err != nil {
		return nil, err
	}
	return subjectPB(out), nil
}

func (x *privacyService) GrantDeletion(ctx context.Context, r *pb.GrantDeletionRequest) (*pb.GrantDeletionResponse, error) {
	svc, err := x.svc()
	if err != nil {
		return nil, err
	}
	rep, err := svc.GrantDeletion(ctx, mustPrincipal(ctx), r.GetSubjectRequestId(), r.GetWitness())
	if err != nil {
		return nil, err
	}
	return &pb.GrantDeletionResponse{DeletedSegments: int32(len(rep.Deleted)), KeptPartialSegments: int32(len(rep.Partial)),
		KeptHeldSegments: int32(len(rep.Held)), AuditSeq: rep.AuditSeq}, nil
}

func (x *privacyService) CloseSubjectRequest(ctx context.Context, r *pb.CloseSubjectRequestRequest) (*pb.SubjectRequest, error) {
	svc, err := x.svc()
	if err != nil {
		return nil, err
	}
	out, err := svc.CloseRequest(ctx, mustPrincipal(ctx), r.GetSubjectRequestId(), r.GetNote())
	if err != nil {
		return nil, err
	}
	return subjectPB(out), nil
}

func (x *privacyService) CopyForRequester(ctx context.Context, r *pb.CopyForRequesterRequest) (*pb.ExportProvisionResponse, error) {
	svc, err := x.svc()
	if err != nil {
		return nil, err
	}
	masks := make([]manifest.Mask, len(r.GetMasks()))
	for i, m := range r.GetMasks() {
		masks[i] = manifest.Mask{X: m.GetX(), Y: m.GetY(), W: m.GetW(), H: m.GetH(), From: m.GetFrom().AsTime(), To: m.GetTo().AsTime(), Reason: m.GetReason()}
	}
	infos, err := svc.CopyForRequester(ctx, mustPrincipal(ctx), r.GetSubjectRequestId(), masks, r.GetNoOthers())
	if err != nil {
		return nil, err
	}
	return exportsPB(infos), nil
}

func exportsPB(infos []requests.ExportInfo) *pb.ExportProvisionResponse {
	out := &pb.ExportProvisionResponse{}
	for _, e := range infos {
		pe := &pb.ProvisionExport{ExportId: e.ID, CameraId: e.CameraID, FileName: e.FileName, Size: e.Size, Sha256: e.SHA256, Manifest: e.ManifestData}
		if e.Link.Token != "" {
			pe.DownloadPath, pe.DownloadExpiresAt = e.Link.Path, ts(e.Link.ExpiresAt)
		}
		out.Exports = append(out.Exports, pe)
	}
	return out
}

func (x *privacyService) RequestProvision(ctx context.Context, r *pb.RequestProvisionRequest) (*pb.Provision, error) {
	svc, err := x.svc()
	if err != nil {
		return nil, err
	}
	rc := r.GetRecipient()
	out, err := svc.RequestProvision(ctx, mustPrincipal(ctx), requests.ProvisionRequest{
		Recipient: requests.Recipient{Org: rc.GetOrg(), Unit: rc.GetUnit(), Rank: rc.GetRank(), Name: rc.GetName(), Contact: rc.GetContact()},
		LetterNo:  r.GetLetterNo(), Reason: r.GetReason(), Basis: requests.Basis(r.GetBasis()), Cameras: r.GetCameras(),
		From: r.GetFrom().AsTime(), To: r.GetTo().AsTime(), Form: r.GetForm(), Delivery: r.GetDelivery(),
		UseUntil: r.GetUseUntil().AsTime(), Safeguards: r.GetSafeguards(), SecurityPledge: r.GetSecurityPledge(), Purpose: ac.Purpose(pb.Code(r.GetPurpose())),
	})
	if err != nil {
		return nil, err
	}
	return provisionPB(out), nil
}

func (x *privacyService) GetProvision(ctx context.Context, r *pb.GetProvisionRequest) (*pb.Provision, error) {
	return x.provisionStep(ctx, func(svc *requests.Service, p ac.Principal) (requests.Provision, error) {
		return svc.GetProvision(ctx, p, r.GetProvisionId())
	})
}

func (x *privacyService) provisionStep(ctx context.Context, fn func(*requests.Service, ac.Principal) (requests.Provision, error)) (*pb.Provision, error) {
	svc, err := x.svc()
	if err != nil {
		return nil, err
	}
	out, err := fn(svc, mustPrincipal(ctx))
	if err != nil {
		return nil, err
	}
	return provisionPB(out), nil
}

func (x *privacyService) ApproveProvision(ctx context.Context, r *pb.ApproveProvisionRequest) (*pb.Provision, error) {
	return x.provisionStep(ctx, func(svc *requests.Service, p ac.Principal) (requests.Provision, error) {
		return svc.ApproveProvision(ctx, p, r.GetProvisionId(), requests.ApproveOptions{Emergency: r.GetEmergency(), Note: r.GetNote()})
	})
}

func (x *privacyService) RejectProvision(ctx context.Context, r *pb.RejectProvisionRequest) (*pb.Provision, error) {
	return x.provisionStep(ctx, func(svc *requests.Service, p ac.Principal) (requests.Provision, error) {
		return svc.RejectProvision(ctx, p, r.GetProvisionId(), r.GetReason())
	})
}

func (x *privacyService) RecordProvisionLetter(ctx context.Context, r *pb.RecordProvisionLetterRequest) (*pb.Provision, error) {
	return x.provisionStep(ctx, func(svc *requests.Service, p ac.Principal) (requests.Provision, error) {
		return svc.RecordLetter(ctx, p, r.GetProvisionId(), r.GetLetterNo())
	})
}

func (x *privacyService) RecordProvisionOutcome(ctx context.Context, r *pb.RecordProvisionOutcomeRequest) (*pb.Provision, error) {
	return x.provisionStep(ctx, func(svc *requests.Service, p ac.Principal) (requests.Provision, error) {
		return svc.RecordOutcome(ctx, p, r.GetProvisionId(), r.GetOutcome())
	})
}

func (x *privacyService) RecordRecipientDestruction(ctx context.Context, r *pb.RecordRecipientDestructionRequest) (*pb.Provision, error) {
	return x.provisionStep(ctx, func(svc *requests.Service, p ac.Principal) (requests.Provision, error) {
		return svc.RecordRecipientDestruction(ctx, p, r.GetProvisionId(), r.GetNote())
	})
}

func (x *privacyService) CloseProvision(ctx context.Context, r *pb.CloseProvisionRequest) (*pb.Provision, error) {
	return x.provisionStep(ctx, func(svc *requests.Service, p ac.Principal) (requests.Provision, error) {
		return svc.CloseProvision(ctx, p, r.GetProvisionId(), r.GetNote())
	})
}

func (x *privacyService) ExportProvision(ctx context.Context, r *pb.ExportProvisionRequest) (*pb.ExportProvisionResponse, error) {
	svc, err := x.svc()
	if err != nil {
		return nil, err
	}
	infos, err := svc.ExportProvision(ctx, mustPrincipal(ctx), r.GetProvisionId())
	if err != nil {
		return nil, err
	}
	return exportsPB(infos), nil
}

func (x *privacyService) GetProvisionRegister(ctx context.Context, r *pb.GetProvisionRegisterRequest) (*pb.ReportFile, error) {
	svc, err := x.svc()
	if err != nil {
		return nil, err
	}
	if r.GetFrom() == nil || r.GetTo() == nil || !r.GetTo().AsTime().After(r.GetFrom().AsTime()) {
		return nil, status.Error(codes.InvalidArgument, "the register needs a period: from before to")
	}
	rows, err := svc.Register(ctx, mustPrincipal(ctx), r.GetFrom().AsTime(), r.GetTo().AsTime())
	if err != nil {
		return nil, err
	}
	records := [][]string{requests.RegisterHeader}
	for _, row := range rows {
		records = append(records, row.Record())
	}
	var buf bytes.Buffer
	switch r.GetFormat() {
	case "", "xlsx":
		loc := x.s.location()
		title := fmt.Sprintf("목적 외 이용 및 제3자 제공 대장 (%s ~ %s)", r.GetFrom().AsTime().In(loc).Format("2006-01-02"),
			r.GetTo().AsTime().In(loc).Format("2006-01-02"))
		if err := xlsx.Write(&buf, []xlsx.Sheet{{Name: "목적 외 이용 및 제3자 제공 대장", Title: title, Records: records}}); err != nil {
			return nil, err
		}
		return &pb.ReportFile{Filename: "목적외이용및제3자제공대장.xlsx",
			ContentType: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", Content: buf.Bytes()}, nil
	case "csv":
		buf.WriteString("\ufeff") // spreadsheets read UTF-8 with a byte-order mark
		w := csv.NewWriter(&buf)
		_ = w.WriteAll(records)
		if err := w.Error(); err != nil {
			return nil, err
		}
		return &pb.ReportFile{Filename: "목적외이용및제3자제공대장.csv", ContentType: "text/csv", Content: buf.Bytes()}, nil
	}
	return nil, status.Error(codes.InvalidArgument, "format must be xlsx or csv")
}

// LedgerCameras gives the audit ledger the registry's camera names and
// places.
func LedgerCameras(reg *devices.Registry) audit.CameraNamer { return privacyCameras{reg} }

// CameraName is the camera's name and place, for the ledger.
func (c privacyCameras) CameraName(ctx context.Context, id string) (string, error) {
	info, err := c.Camera(ctx, id)
	if err != nil {
		return "", err
	}
	if info.Place == "" {
		return info.Name, nil
	}
	return info.Name + " (" + info.Place + ")", nil
}

// PrivacyCameras gives privacy/requests the registry's camera facts.
func PrivacyCameras(reg *devices.Registry) requests.Cameras { return privacyCameras{reg} }

type privacyCameras struct{ reg *devices.Registry }

func (c privacyCameras) Camera(ctx context.Context, id string) (requests.CameraInfo, error) {
	cam, err := c.reg.Get(ctx, id)
	if err != nil {
		return requests.CameraInfo{}, err
	}
	info := requests.CameraInfo{ID: cam.ID, Name: cam.Name, Site: cam.SiteID, Department: cam.Department, Labels: cam.Labels}
	place := strings.TrimSpace(cam.RoadAddress + " " + cam.LotAddress)
	if site, err := c.reg.GetSite(ctx, cam.SiteID); err == nil && site.Name != "" {
		place = site.Name
	}
	info.Place = place
	return info, nil
}

func (c privacyCameras) SiteCameras(ctx context.Context, site string) ([]string, error) {
	var ids []string
	cursor := ""
	for {
		page, err := c.reg.List(ctx, devices.Filter{SiteID: site, Limit: devices.MaxListLimit, Cursor: cursor})
		if err != nil {
			return nil, err
		}
		for _, cam := range page.Cameras {
			ids = append(ids, cam.ID)
		}
		if page.NextCursor == "" {
			return ids, nil
		}
		cursor = page.NextCursor
	}
}
