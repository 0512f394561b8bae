package control

import (
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	pb "github.com/gwanje/gwanje/proto/gwanje/v1"
)

// TestEveryUpdateRPCTakesAFieldMask: every Update RPC of the API takes a
// google.protobuf.FieldMask update_mask beside its target.
func TestEveryUpdateRPCTakesAFieldMask(t *testing.T) {
	n := 0
	protoregistry.GlobalFiles.RangeFilesByPackage("gwanje.v1", func(fd protoreflect.FileDescriptor) bool {
		for i := 0; i < fd.Services().Len(); i++ {
			ms := fd.Services().Get(i).Methods()
			for j := 0; j < ms.Len(); j++ {
				m := ms.Get(j)
				if !strings.HasPrefix(string(m.Name()), "Update") {
					continue
				}
				n++
				f := m.Input().Fields().ByName("update_mask")
				if f == nil || f.Kind() != protoreflect.MessageKind || f.Message().FullName() != "google.protobuf.FieldMask" {
					t.Errorf("%s: no google.protobuf.FieldMask update_mask", m.FullName())
				}
			}
		}
		return true
	})
	if n < 5 {
		t.Fatalf("found %d Update RPCs; the API has 5", n)
	}
}

func TestUpdatePaths(t *testing.T) {
	updatable := []string{"display_name", "email", "phone", "org_id"}
	for _, tc := range []struct {
		name string
		mask []string
		body *pb.User
		want []string
		bad  bool
	}{
		{name: "empty mask: the fields set", body: &pb.User{Email: "a@b", Phone: "010"}, want: []string{"email", "phone"}},
		{name: "empty mask, nothing set", body: &pb.User{}, want: nil},
		{name: "no body", want: nil},
		{name: "mask names an unset field (cleared)", mask: []string{"phone"}, body: &pb.User{Email: "a@b"}, want: []string{"phone"}},
		{name: "repeated path", mask: []string{"email", "email"}, body: &pb.User{}, want: []string{"email"}},
		{name: "not a field", mask: []string{"nope"}, body: &pb.User{}, bad: true},
		{name: "a field not changed here", mask: []string{"username"}, body: &pb.User{}, bad: true},
		{name: "empty mask with a field not changed here", body: &pb.User{Username: "x"}, bad: true},
		{name: "nested paths are not accepted", mask: []string{"email.x"}, body: &pb.User{}, bad: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mask *fieldmaskpb.FieldMask
			if tc.mask != nil {
				mask = &fieldmaskpb.FieldMask{Paths: tc.mask}
			}
			got, err := updatePaths(mask, tc.body, updatable...)
			if tc.bad {
				if status.Code(err) != codes.InvalidArgument || pb.ReasonOf(err) != pb.ReasonInvalidArgument {
					t.Fatalf("err = %v (reason %q), want InvalidArgument with reason %s", err, pb.ReasonOf(err), pb.ReasonInvalidArgument)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("paths %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestApplyPaths(t *testing.T) {
	dst := &pb.SiteFields{Name: "가", Org: "○○시", OrgPhone: "02", Position: &pb.Position{Lat: 37, Lon: 127}}
	applyPaths(dst, &pb.SiteFields{Org: "△△시", Name: "ignored"}, []string{"org", "org_phone", "position"})
	if dst.GetName() != "가" || dst.GetOrg() != "△△시" || dst.GetOrgPhone() != "" || dst.GetPosition() != nil {
		t.Fatalf("after apply: %v", dst)
	}
}

// TestUpdateRPCsOverGRPC: an empty mask changes the fields set and leaves
// the others; a mask clears a field it names but the body leaves unset; a
// path that cannot be changed is InvalidArgument with the ErrorInfo reason
// and changes nothing.
func TestUpdateRPCsOverGRPC(t *testing.T) {
	h := newHarness(t)
	dc := pb.NewDeviceServiceClient(h.conn)
	acc := pb.NewAccessServiceClient(h.conn)
	mask := func(p ...string) *fieldmaskpb.FieldMask { return &fieldmaskpb.FieldMask{Paths: p} }
	refused := func(t *testing.T, what string, err error) {
		t.Helper()
		if status.Code(err) != codes.InvalidArgument || pb.ReasonOf(err) != pb.ReasonInvalidArgument {
			t.Fatalf("%s: %v (reason %q), want InvalidArgument", what, err, pb.ReasonOf(err))
		}
	}

	t.Run("UpdateSite", func(t *testing.T) {
		site, err := dc.CreateSite(h.as("technician"), &pb.CreateSiteRequest{Reason: "mask",
			Fields: &pb.SiteFields{Name: "중앙로", ManagementNo: "S-1", Org: "○○시", OrgPhone: "02-000-0000", Department: "안전총괄과"}})
		if err != nil {
			t.Fatal(err)
		}
		id := site.GetId()
		got, err := dc.UpdateSite(h.as("technician"), &pb.UpdateSiteRequest{SiteId: id, Reason: "mask", Fields: &pb.SiteFields{Department: "교통과"}})
		if err != nil {
			t.Fatal(err)
		}
		if f := got.GetFields(); f.GetDepartment() != "교통과" || f.GetName() != "중앙로" || f.GetOrgPhone() != "02-000-0000" {
			t.Fatalf("empty mask changed more than the field set: %v", f)
		}
		got, err = dc.UpdateSite(h.as("technician"), &pb.UpdateSiteRequest{SiteId: id, Reason: "mask", UpdateMask: mask("org_phone"), Fields: &pb.SiteFields{Name: "not named"}})
		if err != nil {
			t.Fatal(err)
		}
		if f := got.GetFields(); f.GetOrgPhone() != "" || f.GetName() != "중앙로" || f.GetDepartment() != "교통과" {
			t.Fatalf("mask org_phone: %v", f)
		}
		_, err = dc.UpdateSite(h.as("technician"), &pb.UpdateSiteRequest{SiteId: id, Reason: "mask", UpdateMask: mask("name", "bogus"), Fields: &pb.SiteFields{Name: "x"}})
		refused(t, "unknown path", err)
		_, err = dc.UpdateSite(h.as("technician"), &pb.UpdateSiteRequest{SiteId: id, Reason: "mask"})
		refused(t, "nothing to change", err)
		sites, err := dc.ListSites(h.as("technician"), &pb.ListSitesRequest{})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range sites.GetSites() {
			if s.GetId() == id && s.GetFields().GetName() != "중앙로" {
				t.Fatalf("a refused update changed the site: %v", s.GetFields())
			}
		}
	})

	t.Run("UpdateCamera", func(t *testing.T) {
		_, err := dc.UpdateCamera(h.as("technician"), &pb.UpdateCameraRequest{CameraId: "cam-x", Reason: "mask", UpdateMask: mask("device")})
		refused(t, "unknown path", err)
		_, err = dc.UpdateCamera(h.as("technician"), &pb.UpdateCameraRequest{CameraId: "cam-x", Reason: "mask"})
		refused(t, "nothing to change", err)
	})

	t.Run("UpdateUser", func(t *testing.T) {
		u := h.users["operator"]
		got, err := acc.UpdateUser(h.asAdmin(), &pb.UpdateUserRequest{UserId: u.ID, Reason: "mask", User: &pb.User{Phone: "010-1234-5678"}})
		if err != nil {
			t.Fatal(err)
		}
		if got.GetPhone() != "010-1234-5678" || got.GetDisplayName() != u.DisplayName || got.GetOrgId() != u.OrgID {
			t.Fatalf("empty mask: %v", got)
		}
		got, err = acc.UpdateUser(h.asAdmin(), &pb.UpdateUserRequest{UserId: u.ID, Reason: "mask", UpdateMask: mask("phone"), User: &pb.User{Email: "not named"}})
		if err != nil {
			t.Fatal(err)
		}
		if got.GetPhone() != "" || got.GetEmail() != "" {
			t.Fatalf("mask phone: %v", got)
		}
		_, err = acc.UpdateUser(h.asAdmin(), &pb.UpdateUserRequest{UserId: u.ID, Reason: "mask", UpdateMask: mask("username"), User: &pb.User{Username: "root2"}})
		refused(t, "username", err)
	})

	t.Run("UpdateRole", func(t *testing.T) {
		_, err := acc.UpdateRole(h.asAdmin(), &pb.UpdateRoleRequest{RoleName: "operator", Reason: "mask", Role: &pb.Role{Description: "x"}})
		refused(t, "description", err)
		_, err = acc.UpdateRole(h.asAdmin(), &pb.UpdateRoleRequest{RoleName: "operator", Reason: "mask"})
		refused(t, "nothing to change", err)
	})

	t.Run("UpdateContract", func(t *testing.T) {
		cs, err := acc.ListContracts(h.asAdmin(), &pb.ListContractsRequest{})
		if err != nil || len(cs.GetContracts()) == 0 {
			t.Fatalf("contracts: %v", err)
		}
		before := cs.GetContracts()[0]
		got, err := acc.UpdateContract(h.asAdmin(), &pb.UpdateContractRequest{ContractId: before.GetId(), Reason: "mask",
			Contract: &pb.Contract{Title: "CCTV 유지보수 (변경)"}})
		if err != nil {
			t.Fatal(err)
		}
		if got.GetTitle() != "CCTV 유지보수 (변경)" || !slices.Equal(got.GetSites(), before.GetSites()) ||
			got.GetClauses().GetLiability() != before.GetClauses().GetLiability() || !got.GetEndsAt().AsTime().Equal(before.GetEndsAt().AsTime()) {
			t.Fatalf("empty mask: %v", got)
		}
		_, err = acc.UpdateContract(h.asAdmin(), &pb.UpdateContractRequest{ContractId: before.GetId(), Reason: "mask", UpdateMask: mask("created_by")})
		refused(t, "created_by", err)
	})
}
