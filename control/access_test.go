package control

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gwanje/gwanje/audit"
	pb "github.com/gwanje/gwanje/proto/gwanje/v1"
)

func TestDenialsAreAuditedAndGeneric(t *testing.T) {
	h := newHarness(t)
	cl := pb.NewAccessServiceClient(h.conn)
	_, err := cl.CreateUser(h.as("operator"), &pb.CreateUserRequest{Username: "x", DisplayName: "x", OrgId: "y", Reason: "z"})
	if status.Code(err) != codes.PermissionDenied || status.Convert(err).Message() != "permission denied" {
		t.Fatalf("got %v", err)
	}
	page, err := h.audit.Query(context.Background(), audit.Filter{Types: []string{"access.denied"}, Username: "u-operator"})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Entries) != 1 {
		t.Fatalf("want one access.denied entry, got %d", len(page.Entries))
	}
	e := page.Entries[0].Entry
	if e.Outcome != audit.Denied || e.Details["method"] != pb.AccessService_CreateUser_FullMethodName || e.Details["permission"] != "user.manage" || e.Reason == "" {
		t.Fatalf("entry %+v", e)
	}

	// A forged token is refused and recorded, without naming the cause.
	_, err = pb.NewAccessServiceClient(h.conn).WhoAmI(withToken(h.as(""), "not-a-token"), &pb.WhoAmIRequest{})
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("forged token: %v", err)
	}
}

func TestLoginLogoutAndGenericFailures(t *testing.T) {
	h := newHarness(t)
	cl := pb.NewAccessServiceClient(h.conn)
	ctx := h.as("")
	_, errUnknown := cl.Login(ctx, &pb.LoginRequest{Username: "nobody", Password: "whatever-long-1"})
	_, errWrong := cl.Login(ctx, &pb.LoginRequest{Username: "u-operator", Password: "wrong-password-1"})
	if status.Code(errUnknown) != codes.Unauthenticated || status.Convert(errUnknown).Message() != status.Convert(errWrong).Message() {
		t.Fatalf("unknown user and wrong password answer differently: %v / %v", errUnknown, errWrong)
	}
	res, err := cl.Login(ctx, &pb.LoginRequest{Username: "u-auditor", Password: testPassword})
	if err != nil {
		t.Fatal(err)
	}
	actx := withToken(h.as(""), res.Token)
	who, err := cl.WhoAmI(actx, &pb.WhoAmIRequest{})
	if err != nil || who.GetUser().GetUsername() != "u-auditor" {
		t.Fatalf("whoami: %v %v", who, err)
	}
	if want := []string{"audit.read", "audit.verify", "report.read"}; len(who.Permissions) != len(want) {
		t.Fatalf("auditor permissions %v, want %v", who.Permissions, want)
	}
	if _, err := cl.Logout(actx, &pb.LogoutRequest{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.WhoAmI(actx, &pb.WhoAmIRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("session still works after logout: %v", err)
	}
}
