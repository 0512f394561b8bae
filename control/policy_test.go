package control

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/gwanje/gwanje/camsim"
	pb "github.com/gwanje/gwanje/proto/gwanje/v1"
)

func TestManagerPublishesThePolicyOnce(t *testing.T) {
	h := newHarness(t)
	h.registerCamera(camsim.DialectHikvision)
	cl := pb.NewPolicyServiceClient(h.conn)
	if _, err := cl.PublishPolicy(h.as("operator"), &pb.PublishPolicyRequest{}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("operator published: %v", err)
	}
	d, err := cl.DraftPolicy(h.as("manager"), &pb.DraftPolicyRequest{})
	if err != nil || d.Unchanged || d.Markdown == "" {
		t.Fatalf("draft: %v %v", d, err)
	}
	p, err := cl.PublishPolicy(h.as("manager"), &pb.PublishPolicyRequest{})
	if err != nil || !p.Created || p.Number != 1 {
		t.Fatalf("publish: %v %v", p, err)
	}
	if days := p.EffectiveOn.AsTime().Sub(p.AnnounceOn.AsTime()).Hours() / 24; days < 7 {
		t.Fatalf("takes effect %.0f days after announcement", days)
	}
	again, err := cl.PublishPolicy(h.as("manager"), &pb.PublishPolicyRequest{})
	if err != nil || again.Created {
		t.Fatalf("publishing without a change made a version: %v %v", again, err)
	}
	vs, err := cl.ListPolicyVersions(h.as("auditor"), &pb.ListPolicyVersionsRequest{})
	if err != nil || len(vs.Versions) != 1 {
		t.Fatalf("versions: %v %v", vs, err)
	}
}

func TestManagerEditsInstitutionSettingsWithAFieldMask(t *testing.T) {
	h := newHarness(t)
	h.registerCamera(camsim.DialectHikvision)
	cl := pb.NewPolicyServiceClient(h.conn)
	mgr := h.as("manager")

	if _, err := cl.UpdateInstitutionSettings(h.as("operator"), &pb.UpdateInstitutionSettingsRequest{
		Settings: &pb.InstitutionSettings{Name: "x"}}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("operator changed the settings: %v", err)
	}
	cur, err := cl.GetInstitutionSettings(mgr, &pb.GetInstitutionSettingsRequest{})
	if err != nil || cur.UpdateTime != nil {
		t.Fatalf("initial settings: %v %v", cur, err)
	}
	if _, err := cl.PublishPolicy(mgr, &pb.PublishPolicyRequest{}); err != nil {
		t.Fatal(err)
	}

	// Unknown and read-only paths are refused; nothing changes.
	for _, path := range []string{"nope", "update_time"} {
		_, err := cl.UpdateInstitutionSettings(mgr, &pb.UpdateInstitutionSettingsRequest{
			Settings: &pb.InstitutionSettings{Name: "x"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{path}}})
		if status.Code(err) != codes.InvalidArgument {
			t.Fatalf("mask %q: %v", path, err)
		}
	}
	if _, err := cl.UpdateInstitutionSettings(mgr, &pb.UpdateInstitutionSettingsRequest{
		Settings: &pb.InstitutionSettings{Layout: "diagonal"}}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("bad layout: %v", err)
	}

	// An empty mask changes the fields set.
	got, err := cl.UpdateInstitutionSettings(mgr, &pb.UpdateInstitutionSettingsRequest{Reason: "보호책임자 지정",
		Settings: &pb.InstitutionSettings{Name: "인천광역시 미추홀구", Scope: "본청, 소속기관 미포함",
			Cpo:           &pb.PolicyOfficer{Name: "홍길동", Title: "기획조정실장"},
			Staff:         []*pb.PolicyStaff{{Role: "관리책임자", Title: "안전총괄과장", Department: "안전총괄과", Phone: "032-880-4621"}},
			ControlCenter: "미추홀구청 CCTV 통합관제센터", RequestPlace: "안전총괄과 통합관제팀", MaxSitesListed: 20}})
	if err != nil || got.UpdatedBy != "u-manager" || got.UpdateTime == nil || got.Cpo.GetName() != "홍길동" {
		t.Fatalf("update: %v %v", got, err)
	}
	// A mask naming a field unset in the body clears it; others stay.
	got, err = cl.UpdateInstitutionSettings(mgr, &pb.UpdateInstitutionSettingsRequest{
		Settings: &pb.InstitutionSettings{ReviewPlace: "통합관제센터 열람실"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"review_place", "scope"}}})
	if err != nil || got.Scope != "" || got.ReviewPlace != "통합관제센터 열람실" || got.ControlCenter != "미추홀구청 CCTV 통합관제센터" || len(got.Staff) != 1 {
		t.Fatalf("masked update: %v %v", got, err)
	}
	res, err := pb.NewAuditServiceClient(h.conn).QueryEntries(h.as("auditor"), &pb.QueryEntriesRequest{Types: []string{"policy.settings.update"}})
	if err != nil || len(res.Entries) != 2 {
		t.Fatalf("audit: %v %v", res, err)
	}
	if res.Entries[0].Reason != "보호책임자 지정" || !strings.Contains(res.Entries[0].GetDetails().String(), "control_center") {
		t.Fatalf("audit entry: %+v", res.Entries[0])
	}

	d, err := cl.DraftPolicy(mgr, &pb.DraftPolicyRequest{})
	if err != nil || d.Unchanged || !strings.Contains(d.Markdown, "기획조정실장 홍길동") {
		t.Fatalf("draft after the change: %v", err)
	}
	p, err := cl.PublishPolicy(mgr, &pb.PublishPolicyRequest{AnnounceOn: timestamppb.New(time.Now().AddDate(0, 0, 8))})
	if err != nil || !p.Created || p.Number != 2 {
		t.Fatalf("publish: %v %v", p, err)
	}
	vs, err := cl.ListPolicyVersions(mgr, &pb.ListPolicyVersionsRequest{})
	if err != nil || len(vs.Versions) != 2 {
		t.Fatalf("versions: %v %v", vs, err)
	}
	if vs.Versions[0].Institution.GetCpo().GetName() != "" || vs.Versions[1].Institution.GetCpo().GetName() != "홍길동" ||
		vs.Versions[1].Institution.GetMaxSitesListed() != 20 {
		t.Fatalf("versions do not record their settings: %v / %v", vs.Versions[0].Institution, vs.Versions[1].Institution)
	}
}

func TestImportPolicyHistoryThroughTheAPI(t *testing.T) {
	h := newHarness(t)
	h.registerCamera(camsim.DialectHikvision)
	cl := pb.NewPolicyServiceClient(h.conn)
	mgr := h.as("manager")
	kst := time.FixedZone("KST", 9*3600)
	var vs []*pb.PriorPolicyVersion
	for i := 1; i <= 13; i++ {
		rev := "설치 및 운영현황 현행화"
		if i == 1 {
			rev = "제정"
		}
		// midnight KST is the previous day in UTC: the date is the institution's.
		vs = append(vs, &pb.PriorPolicyVersion{Number: int32(i), Revision: rev,
			AnnounceOn: timestamppb.New(time.Date(2012+i, 3, 2, 0, 0, 0, 0, kst))})
	}
	if _, err := cl.ImportPolicyHistory(h.as("operator"), &pb.ImportPolicyHistoryRequest{Versions: vs}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("operator imported: %v", err)
	}
	res, err := cl.ImportPolicyHistory(mgr, &pb.ImportPolicyHistoryRequest{Versions: vs, Reason: "이관"})
	if err != nil || res.Imported != 13 || res.NextNumber != 14 {
		t.Fatalf("import: %v %v", res, err)
	}
	p, err := cl.PublishPolicy(mgr, &pb.PublishPolicyRequest{})
	if err != nil || p.Number != 14 || p.Revision == "제정" {
		t.Fatalf("first gwanje version: %v %v", p, err)
	}
	list, err := cl.ListPolicyVersions(mgr, &pb.ListPolicyVersionsRequest{})
	if err != nil || len(list.Versions) != 14 || !list.Versions[0].Imported || list.Versions[13].Imported {
		t.Fatalf("versions: %v %v", list, err)
	}
	if d := list.Versions[0].AnnounceOn.AsTime(); d.Year() != 2013 || d.Month() != 3 || d.Day() != 2 {
		t.Fatalf("revision 1 announced %v (want 2013-03-02)", d)
	}
	if _, err := cl.ImportPolicyHistory(mgr, &pb.ImportPolicyHistoryRequest{Versions: vs}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("import after the first version: %v", err)
	}
}
