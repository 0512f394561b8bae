package control

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	pb "github.com/gwanje/gwanje/proto/gwanje/v1"
)

// listRPCs returns every List RPC of the API (methods named List… and
// QueryEntries, which pages the audit trail).
func listRPCs(t *testing.T) []protoreflect.MethodDescriptor {
	t.Helper()
	var out []protoreflect.MethodDescriptor
	protoregistry.GlobalFiles.RangeFilesByPackage("gwanje.v1", func(fd protoreflect.FileDescriptor) bool {
		for i := 0; i < fd.Services().Len(); i++ {
			ms := fd.Services().Get(i).Methods()
			for j := 0; j < ms.Len(); j++ {
				m := ms.Get(j)
				if strings.HasPrefix(string(m.Name()), "List") || m.Name() == "QueryEntries" {
					out = append(out, m)
				}
			}
		}
		return true
	})
	if len(out) < 17 {
		t.Fatalf("found %d List RPCs; the API has more", len(out))
	}
	return out
}

// TestEveryListRPCPages: every List RPC takes page_size and page_token and
// answers next_page_token, and the .proto documents the default and the
// maximum on every page_size.
func TestEveryListRPCPages(t *testing.T) {
	for _, m := range listRPCs(t) {
		in, out := m.Input().Fields(), m.Output().Fields()
		if f := in.ByName("page_size"); f == nil || f.Kind() != protoreflect.Int32Kind {
			t.Errorf("%s: %s has no int32 page_size", m.FullName(), m.Input().Name())
		}
		if f := in.ByName("page_token"); f == nil || f.Kind() != protoreflect.StringKind {
			t.Errorf("%s: %s has no string page_token", m.FullName(), m.Input().Name())
		}
		if f := out.ByName("next_page_token"); f == nil || f.Kind() != protoreflect.StringKind {
			t.Errorf("%s: %s has no string next_page_token", m.FullName(), m.Output().Name())
		}
		if in.ByName("limit") != nil {
			t.Errorf("%s: %s still has limit beside page_size", m.FullName(), m.Input().Name())
		}
	}
	files, err := filepath.Glob("../proto/gwanje/v1/*.proto")
	if err != nil || len(files) == 0 {
		t.Fatalf("no .proto files: %v", err)
	}
	// The comment block right above each page_size must state the default
	// and the maximum.
	re := regexp.MustCompile(`((?:\n  //[^\n]*)+)\n  int32 page_size = \d+;`)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		all := bytes.Count(b, []byte("int32 page_size"))
		documented := 0
		for _, c := range re.FindAllSubmatch(b, -1) {
			if bytes.Contains(c[1], []byte("default 100, maximum 1000")) {
				documented++
			}
		}
		if documented != all {
			t.Errorf("%s: %d of %d page_size fields say \"default 100, maximum 1000\" in their comment", filepath.Base(f), documented, all)
		}
	}
}

func TestPageOf(t *testing.T) {
	items := make([]int, 2500)
	for i := range items {
		items[i] = i
	}
	tokenOf := func(r *pb.ListUsersRequest) string {
		_, next, err := pageOf(r, items)
		if err != nil {
			t.Fatal(err)
		}
		return next
	}
	second := tokenOf(&pb.ListUsersRequest{OrgId: "o", PageSize: 10})
	for _, tc := range []struct {
		name      string
		r         *pb.ListUsersRequest
		first, n  int
		more      bool
		wantError bool
	}{
		{name: "default 100", r: &pb.ListUsersRequest{}, first: 0, n: 100, more: true},
		{name: "capped at 1000", r: &pb.ListUsersRequest{PageSize: 5000}, first: 0, n: 1000, more: true},
		{name: "negative", r: &pb.ListUsersRequest{PageSize: -1}, wantError: true},
		{name: "next page", r: &pb.ListUsersRequest{OrgId: "o", PageSize: 10, PageToken: second}, first: 10, n: 10, more: true},
		{name: "another page size keeps the place", r: &pb.ListUsersRequest{OrgId: "o", PageSize: 1000, PageToken: second}, first: 10, n: 1000, more: true},
		{name: "token of other filters", r: &pb.ListUsersRequest{OrgId: "p", PageToken: second}, wantError: true},
		{name: "token of another list", r: &pb.ListUsersRequest{PageToken: tokenOf(&pb.ListUsersRequest{IncludeDisabled: true})}, wantError: true},
		{name: "not a token", r: &pb.ListUsersRequest{PageToken: "!!"}, wantError: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			page, next, err := pageOf(tc.r, items)
			if tc.wantError {
				if status.Code(err) != codes.InvalidArgument {
					t.Fatalf("err = %v, want InvalidArgument", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(page) != tc.n || page[0] != tc.first || (next != "") != tc.more {
				t.Fatalf("page of %d from %d, next %q; want %d from %d, more %v", len(page), page[0], next, tc.n, tc.first, tc.more)
			}
		})
	}
	// The last page says so.
	r := &pb.ListUsersRequest{PageSize: 1000}
	var got int
	for i := 0; ; i++ {
		page, next, err := pageOf(r, items)
		if err != nil {
			t.Fatal(err)
		}
		got += len(page)
		if next == "" {
			break
		}
		if i > 3 {
			t.Fatal("no last page")
		}
		r.PageToken = next
	}
	if got != len(items) {
		t.Fatalf("pages held %d items, want %d", got, len(items))
	}
}

// TestListRPCsPageOverGRPC walks the lists that were not paged before
// issue 15 two items at a time and checks the pages add up to the whole
// list, and that a token replayed with other filters is InvalidArgument.
func TestListRPCsPageOverGRPC(t *testing.T) {
	h := newHarness(t)
	dc := pb.NewDeviceServiceClient(h.conn)
	ac := pb.NewAccessServiceClient(h.conn)
	for _, name := range []string{"가 사이트", "나 사이트", "다 사이트"} {
		if _, err := dc.CreateSite(h.as("technician"), &pb.CreateSiteRequest{Fields: &pb.SiteFields{Name: name, ManagementNo: name}, Reason: "paging"}); err != nil {
			t.Fatal(err)
		}
	}
	for _, cam := range []string{"c1", "c2", "c3"} {
		if _, err := ac.CreateDenyRule(h.asAdmin(), &pb.CreateDenyRuleRequest{Rule: &pb.DenyRule{Cameras: []string{cam}, Reason: "paging"}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		method string
		as     string // role; "" for the administrator
		req    proto.Message
		min    int // items the setup made, so that the walk spans pages
	}{
		{"/gwanje.v1.DeviceService/ListSites", "technician", &pb.ListSitesRequest{}, 3},
		{"/gwanje.v1.AccessService/ListUsers", "", &pb.ListUsersRequest{}, 8},
		{"/gwanje.v1.AccessService/ListOrganizations", "", &pb.ListOrganizationsRequest{}, 3},
		{"/gwanje.v1.AccessService/ListRoles", "", &pb.ListRolesRequest{}, 7},
		{"/gwanje.v1.AccessService/ListGrants", "", &pb.ListGrantsRequest{}, 7},
		{"/gwanje.v1.AccessService/ListDenyRules", "", &pb.ListDenyRulesRequest{}, 3},
		{"/gwanje.v1.AccessService/ListSessions", "", &pb.ListSessionsRequest{}, 8},
		{"/gwanje.v1.AccessService/ListContracts", "", &pb.ListContractsRequest{}, 1},
		{"/gwanje.v1.AccessService/ListRoleChanges", "", &pb.ListRoleChangesRequest{}, 0},
		{"/gwanje.v1.HealthService/ListAlarms", "operator", &pb.ListAlarmsRequest{}, 0},
	} {
		t.Run(tc.method, func(t *testing.T) {
			ctx := h.asAdmin()
			if tc.as != "" {
				ctx = h.as(tc.as)
			}
			whole := walkPages(t, ctx, h, tc.method, tc.req, 1000)
			if len(whole) < tc.min {
				t.Fatalf("%d items, the setup made at least %d", len(whole), tc.min)
			}
			paged := walkPages(t, ctx, h, tc.method, tc.req, 2)
			if len(paged) != len(whole) {
				t.Fatalf("pages of 2 held %d items, one page %d", len(paged), len(whole))
			}
			for i := range whole {
				if !bytes.Equal(paged[i], whole[i]) {
					t.Fatalf("item %d differs between the pages and the whole list", i)
				}
			}
		})
	}
	// A token is bound to the filters it was issued for.
	first, err := ac.ListUsers(h.asAdmin(), &pb.ListUsersRequest{PageSize: 2})
	if err != nil || first.GetNextPageToken() == "" {
		t.Fatalf("first page: %v, next %q", err, first.GetNextPageToken())
	}
	_, err = ac.ListUsers(h.asAdmin(), &pb.ListUsersRequest{PageSize: 2, IncludeDisabled: true, PageToken: first.GetNextPageToken()})
	if status.Code(err) != codes.InvalidArgument || pb.ReasonOf(err) != pb.ReasonInvalidArgument {
		t.Fatalf("token replayed with other filters: %v (reason %q), want InvalidArgument", err, pb.ReasonOf(err))
	}
	if _, err := ac.ListUsers(h.asAdmin(), &pb.ListUsersRequest{PageSize: -5}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("negative page_size: %v, want InvalidArgument", err)
	}
}

// walkPages calls a List RPC page by page (page_size size) and returns the
// ids (or names) of the items of its list field.
func walkPages(t *testing.T, ctx context.Context, h *harness, method string, req proto.Message, size int32) [][]byte {
	t.Helper()
	r := proto.Clone(req).ProtoReflect()
	r.Set(r.Descriptor().Fields().ByName("page_size"), protoreflect.ValueOfInt32(size))
	md, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(strings.ReplaceAll(strings.TrimPrefix(method, "/"), "/", ".")))
	if err != nil {
		t.Fatal(err)
	}
	outType, err := protoregistry.GlobalTypes.FindMessageByName(md.(protoreflect.MethodDescriptor).Output().FullName())
	if err != nil {
		t.Fatal(err)
	}
	var items [][]byte
	for pages := 0; ; pages++ {
		out := outType.New().Interface()
		if err := h.conn.Invoke(ctx, method, r.Interface(), out); err != nil {
			t.Fatalf("%s page %d: %v", method, pages, err)
		}
		m := out.ProtoReflect()
		var list protoreflect.FieldDescriptor
		for i := 0; i < m.Descriptor().Fields().Len(); i++ {
			if f := m.Descriptor().Fields().Get(i); f.IsList() {
				list = f
				break
			}
		}
		l := m.Get(list).List()
		if l.Len() > int(size) {
			t.Fatalf("%s: a page of %d items for page_size %d", method, l.Len(), size)
		}
		for i := 0; i < l.Len(); i++ {
			// The item's identity (id, or name for roles): other fields,
			// such as a session's last_seen_at, may change between walks.
			e := l.Get(i).Message()
			key := e.Descriptor().Fields().ByName("id")
			if key == nil {
				key = e.Descriptor().Fields().ByName("name")
			}
			if key == nil || e.Get(key).String() == "" {
				t.Fatalf("%s: an item without id or name", method)
			}
			items = append(items, []byte(e.Get(key).String()))
		}
		next := m.Get(m.Descriptor().Fields().ByName("next_page_token")).String()
		if next == "" {
			return items
		}
		if pages > 1000 {
			t.Fatalf("%s: no last page", method)
		}
		r.Set(r.Descriptor().Fields().ByName("page_token"), protoreflect.ValueOfString(next))
	}
}
