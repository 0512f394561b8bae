package control

import (
	"context"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/gwanje/gwanje/devices"
	"github.com/gwanje/gwanje/privacy/policy"
	pb "github.com/gwanje/gwanje/proto/gwanje/v1"
)

// policyService drafts and publishes the 운영·관리 방침.
type policyService struct {
	pb.UnimplementedPolicyServiceServer
	s *Server
}

func (x *policyService) svc() (*policy.Service, error) {
	if x.s.cfg.Policy == nil {
		return nil, status.Error(codes.Unavailable, "the policy document is not available from this server")
	}
	return x.s.cfg.Policy, nil
}

func (x *policyService) DraftPolicy(ctx context.Context, _ *pb.DraftPolicyRequest) (*pb.DraftPolicyResponse, error) {
	svc, err := x.svc()
	if err != nil {
		return nil, err
	}
	d, err := svc.Draft(ctx)
	if err != nil {
		return nil, err
	}
	out := &pb.DraftPolicyResponse{Unchanged: d.Unchanged, ProposedRevision: d.Revision, Markdown: d.Markdown}
	for _, c := range d.Changes {
		out.Changes = append(out.Changes, &pb.PolicyChange{ClauseId: c.ClauseID, Title: c.Label,
			Before: strings.Join(c.Before, "\n"), After: strings.Join(c.After, "\n")})
	}
	return out, nil
}

func (x *policyService) PublishPolicy(ctx context.Context, r *pb.PublishPolicyRequest) (*pb.PublishPolicyResponse, error) {
	svc, err := x.svc()
	if err != nil {
		return nil, err
	}
	p := mustPrincipal(ctx)
	opts := policy.PublishOptions{UrgentReason: r.GetUrgentReason(), Revision: r.GetRevision()}
	if r.GetAnnounceOn() != nil {
		opts.AnnounceOn = r.GetAnnounceOn().AsTime()
	}
	if r.GetEffectiveOn() != nil {
		opts.EffectiveOn = r.GetEffectiveOn().AsTime()
	}
	v, created, err := svc.Publish(ctx, policy.Actor{Actor: actorOf(p), ClientAddr: p.ClientAddr, SessionID: p.SessionID, RequestID: requestID(ctx)}, opts)
	if err != nil {
		return nil, err
	}
	return &pb.PublishPolicyResponse{Created: created, Number: int32(v.Number), Revision: v.Revision,
		AnnounceOn: ts(v.AnnouncedOn), EffectiveOn: ts(v.EffectiveOn)}, nil
}

func (x *policyService) ListPolicyVersions(ctx context.Context, r *pb.ListPolicyVersionsRequest) (*pb.ListPolicyVersionsResponse, error) {
	svc, err := x.svc()
	if err != nil {
		return nil, err
	}
	vs, err := svc.History(ctx)
	if err != nil {
		return nil, err
	}
	out := &pb.ListPolicyVersionsResponse{}
	for _, v := range vs {
		out.Versions = append(out.Versions, &pb.PolicyVersionInfo{Number: int32(v.Number), Revision: v.Revision,
			AnnounceOn: ts(v.AnnouncedOn), EffectiveOn: ts(v.EffectiveOn), UrgentReason: v.UrgentReason, PublishedBy: v.PublishedBy,
			Imported: v.Imported})
		if v.Institution != nil {
			out.Versions[len(out.Versions)-1].Institution = institutionPB(*v.Institution)
		}
	}
	if out.Versions, out.NextPageToken, err = pageOf(r, out.Versions); err != nil {
		return nil, err
	}
	return out, nil
}

// institutionPB translates the institution settings.
func institutionPB(in policy.Institution) *pb.InstitutionSettings {
	out := &pb.InstitutionSettings{Name: in.Name, Scope: in.Scope, Homepage: in.Homepage, ControlCenter: in.ControlCenter,
		RequestPlace: in.RequestPlace, ReviewPlace: in.ReviewPlace, Safeguards: in.Safeguards, Remedies: in.Remedies,
		Layout: string(in.Layout), MaxSitesListed: int32(in.MaxSitesListed)}
	for _, t := range in.Tables {
		pt := &pb.PolicyOperationTable{Name: t.Name, Department: t.Department, Purposes: t.Purposes, Sites: t.Sites}
		for _, p := range t.Parts {
			pt.Parts = append(pt.Parts, &pb.PolicyTablePart{Name: p.Name, Sites: p.Sites})
		}
		out.Tables = append(out.Tables, pt)
	}
	ps := make([]string, 0, len(in.Statutes))
	for p := range in.Statutes {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	for _, p := range ps {
		out.Statutes = append(out.Statutes, &pb.PolicyStatute{Purpose: p, Statute: in.Statutes[p]})
	}
	if in.CPO != (policy.Officer{}) {
		out.Cpo = &pb.PolicyOfficer{Name: in.CPO.Name, Title: in.CPO.Title, Department: in.CPO.Department,
			Phone: in.CPO.Phone, Email: in.CPO.Email}
	}
	for _, st := range in.Staff {
		out.Staff = append(out.Staff, &pb.PolicyStaff{Role: st.Role, Title: st.Title, Department: st.Department,
			Phone: st.Phone, Note: st.Note})
	}
	return out
}

func institutionOf(m *pb.InstitutionSettings) policy.Institution {
	in := policy.Institution{Name: m.GetName(), Scope: m.GetScope(), Homepage: m.GetHomepage(), ControlCenter: m.GetControlCenter(),
		RequestPlace: m.GetRequestPlace(), ReviewPlace: m.GetReviewPlace(), Safeguards: m.GetSafeguards(), Remedies: m.GetRemedies(),
		Layout: policy.Layout(m.GetLayout()), MaxSitesListed: int(m.GetMaxSitesListed())}
	for _, t := range m.GetTables() {
		ot := policy.OperationTable{Name: t.GetName(), Department: t.GetDepartment(), Purposes: t.GetPurposes(), Sites: t.GetSites()}
		for _, p := range t.GetParts() {
			ot.Parts = append(ot.Parts, policy.TablePart{Name: p.GetName(), Sites: p.GetSites()})
		}
		in.Tables = append(in.Tables, ot)
	}
	for _, st := range m.GetStatutes() {
		if in.Statutes == nil {
			in.Statutes = map[string]string{}
		}
		in.Statutes[st.GetPurpose()] = st.GetStatute()
	}
	if c := m.GetCpo(); c != nil {
		in.CPO = policy.Officer{Name: c.GetName(), Title: c.GetTitle(), Department: c.GetDepartment(), Phone: c.GetPhone(), Email: c.GetEmail()}
	}
	for _, st := range m.GetStaff() {
		in.Staff = append(in.Staff, policy.Staff{Role: st.GetRole(), Title: st.GetTitle(), Department: st.GetDepartment(),
			Phone: st.GetPhone(), Note: st.GetNote()})
	}
	return in
}

func settingsPB(st policy.Settings) *pb.InstitutionSettings {
	out := institutionPB(st.Institution)
	if st.Stored {
		out.UpdateTime, out.UpdatedBy = ts(st.UpdatedAt), st.UpdatedBy
	}
	return out
}

func (x *policyService) GetInstitutionSettings(ctx context.Context, _ *pb.GetInstitutionSettingsRequest) (*pb.InstitutionSettings, error) {
	svc, err := x.svc()
	if err != nil {
		return nil, err
	}
	st, err := svc.Settings(ctx)
	if err != nil {
		return nil, err
	}
	return settingsPB(st), nil
}

// UpdateInstitutionSettings changes the settings' fields named by the
// update mask (mask.go).
func (x *policyService) UpdateInstitutionSettings(ctx context.Context, r *pb.UpdateInstitutionSettingsRequest) (*pb.InstitutionSettings, error) {
	svc, err := x.svc()
	if err != nil {
		return nil, err
	}
	updatable := slices.DeleteFunc(fieldNames(&pb.InstitutionSettings{}), func(n string) bool { return n == "update_time" || n == "updated_by" })
	paths, err := updatePaths(r.GetUpdateMask(), r.GetSettings(), updatable...)
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, errNothingToChange
	}
	cur, err := svc.Settings(ctx)
	if err != nil {
		return nil, err
	}
	merged := institutionPB(cur.Institution)
	applyPaths(merged, bodyOr(r.GetSettings(), &pb.InstitutionSettings{}), paths)
	p := mustPrincipal(ctx)
	st, err := svc.UpdateSettings(ctx, policy.Actor{Actor: actorOf(p), ClientAddr: p.ClientAddr, SessionID: p.SessionID,
		RequestID: requestID(ctx)}, institutionOf(merged), r.GetReason())
	if err != nil {
		return nil, err
	}
	return settingsPB(st), nil
}

// civilOn is the institution's calendar date of a timestamp.
func civilOn(t *timestamppb.Timestamp) time.Time {
	if t == nil {
		return time.Time{}
	}
	y, m, d := t.AsTime().In(devices.Seoul).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

func (x *policyService) ImportPolicyHistory(ctx context.Context, r *pb.ImportPolicyHistoryRequest) (*pb.ImportPolicyHistoryResponse, error) {
	svc, err := x.svc()
	if err != nil {
		return nil, err
	}
	priors := make([]policy.Prior, len(r.GetVersions()))
	for i, v := range r.GetVersions() {
		priors[i] = policy.Prior{Number: int(v.GetNumber()), AnnouncedOn: civilOn(v.GetAnnounceOn()), EffectiveOn: civilOn(v.GetEffectiveOn()),
			Revision: v.GetRevision(), Document: v.GetDocument()}
	}
	p := mustPrincipal(ctx)
	out, err := svc.ImportHistory(ctx, policy.Actor{Actor: actorOf(p), ClientAddr: p.ClientAddr, SessionID: p.SessionID,
		RequestID: requestID(ctx)}, priors, r.GetReason())
	if err != nil {
		return nil, err
	}
	return &pb.ImportPolicyHistoryResponse{Imported: int32(len(out)), NextNumber: int32(out[len(out)-1].Number + 1)}, nil
}
