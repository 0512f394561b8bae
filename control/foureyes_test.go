package control

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/gwanje/gwanje/audit"
	"github.com/gwanje/gwanje/camsim"
	pb "github.com/gwanje/gwanje/proto/gwanje/v1"
)

// TestOneAdministratorCannotWatchAlone replays issue 14's finding 3 through
// the real gRPC service: an administrator creates an account with a
// password of their choosing, grants it operator over everything, logs in
// as it and asks for a live view. No URL comes out: the chosen password is
// not the account's, the one-time password only lets the session change
// it, and the grant waits for a second person. Then the role-edit attack
// (the auditor role given live view and playback) is refused. Finally a
// manager approves the grant and the same account gets its live view.
func TestOneAdministratorCannotWatchAlone(t *testing.T) {
	h := newHarness(t)
	cam := h.registerCamera(camsim.DialectHikvision)
	acc := pb.NewAccessServiceClient(h.conn)
	live := pb.NewStreamServiceClient(h.conn)
	admin := h.asAdmin()
	liveReq := &pb.StartLiveViewRequest{CameraId: cam, Purpose: pb.Purpose_PURPOSE_CRIME_PREVENTION}

	// 1. An account "with a password of their choosing": the field is gone
	// from the API, so a client that still sends it (field 6) is ignored
	// and the server generates the password.
	const chosen = "admin-chosen-Passw0rd"
	req := &pb.CreateUserRequest{Username: "puppet", DisplayName: "꼭두각시", OrgId: h.users["operator"].OrgID, Reason: "new operator"}
	req.ProtoReflect().SetUnknown(protowire.AppendString(protowire.AppendTag(nil, 6, protowire.BytesType), chosen))
	created, err := acc.CreateUser(admin, req)
	if err != nil {
		t.Fatal(err)
	}
	oneTime := created.GetInitialPassword()
	if oneTime == "" || oneTime == chosen || !created.GetUser().GetMustChangePassword() {
		t.Fatalf("created %+v", created)
	}
	if _, err := acc.Login(h.as(""), &pb.LoginRequest{Username: "puppet", Password: chosen}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("login with the administrator's chosen password: %v", err)
	}

	// 2. Operator over everything: pending.
	g, err := acc.CreateGrant(admin, &pb.CreateGrantRequest{UserId: created.GetUser().GetId(), Role: "operator", Scope: &pb.Scope{All: true}, Reason: "day shift"})
	if err != nil || g.GetStatus() != "pending" {
		t.Fatalf("grant: %v %+v", err, g)
	}
	if _, err := acc.ApproveGrant(admin, &pb.ApproveGrantRequest{GrantId: g.GetId()}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("the administrator approved: %v", err)
	}

	// 3. Log in as it: the session can only change the password.
	res, err := acc.Login(h.as(""), &pb.LoginRequest{Username: "puppet", Password: oneTime})
	if err != nil || !res.GetPrincipal().GetMustChangePassword() {
		t.Fatalf("login: %v %+v", err, res)
	}
	puppet := withToken(h.as(""), res.GetToken())
	if _, err := acc.WhoAmI(puppet, &pb.WhoAmIRequest{}); err != nil {
		t.Fatalf("whoami before the change: %v", err)
	}
	// Methods that need a permission are refused by the permission check
	// (Decide denies everything to such a session); the rest by the
	// password gate, which says what to do.
	if lv, err := live.StartLiveView(puppet, liveReq); status.Code(err) != codes.PermissionDenied || lv.GetUrl() != "" {
		t.Fatalf("live view before the password change: %v %q", err, lv.GetUrl())
	}
	for name, call := range map[string]func() error{
		"ListGrants":   func() error { _, err := acc.ListGrants(puppet, &pb.ListGrantsRequest{}); return err },
		"ListSessions": func() error { _, err := acc.ListSessions(puppet, &pb.ListSessionsRequest{}); return err },
		"ListRoles":    func() error { _, err := acc.ListRoles(puppet, &pb.ListRolesRequest{}); return err },
		"BeginTOTP":    func() error { _, err := acc.BeginTOTP(puppet, &pb.BeginTOTPRequest{}); return err },
		"ListLiveSessions": func() error {
			_, err := live.ListLiveSessions(puppet, &pb.ListLiveSessionsRequest{})
			return err
		},
	} {
		if err := call(); status.Code(err) != codes.FailedPrecondition {
			t.Fatalf("%s before the password change: %v", name, err)
		}
	}
	page, err := h.audit.Query(context.Background(), audit.Filter{Types: []string{"access.denied"}, Username: "puppet"})
	if err != nil || len(page.Entries) < 5 {
		t.Fatalf("refusals before the password change not audited: %v %+v", err, page.Entries)
	}

	// 4. Whoever changes it (here the administrator, who holds the
	// one-time password) still gets no URL: the grant is pending.
	if _, err := acc.ChangePassword(puppet, &pb.ChangePasswordRequest{CurrentPassword: oneTime, NewPassword: chosen}); err != nil {
		t.Fatal(err)
	}
	lv, err := live.StartLiveView(puppet, liveReq)
	if status.Code(err) != codes.PermissionDenied || lv.GetUrl() != "" {
		t.Fatalf("live view with a pending grant: %v %q", err, lv.GetUrl())
	}
	who, err := acc.WhoAmI(puppet, &pb.WhoAmIRequest{})
	if err != nil || len(who.GetPermissions()) != 0 {
		t.Fatalf("a pending grant shows permissions: %v %v", err, who.GetPermissions())
	}

	// 5. The role-edit attack: refused, and the auditor still sees nothing.
	_, err = acc.UpdateRole(admin, &pb.UpdateRoleRequest{RoleName: "auditor", Reason: "audit needs to see",
		Role: &pb.Role{Permissions: []string{"audit.read", "audit.verify", "report.read", "live.view", "playback.view"}}})
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("auditor role edit: %v", err)
	}
	if _, err := live.StartLiveView(h.as("auditor"), liveReq); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("auditor live view: %v", err)
	}
	// ... and giving the operator role more footage rights waits too.
	role, err := acc.UpdateRole(admin, &pb.UpdateRoleRequest{RoleName: "operator", Reason: "operators export",
		Role: &pb.Role{Permissions: []string{"live.view", "playback.view", "ptz.control", "snapshot.view", "device.read", "health.read", "alarm.ack", "export.request"}}})
	if err != nil || len(role.GetPendingChanges()) != 1 || role.GetPendingChanges()[0].GetAddPermissions()[0] != "export.request" {
		t.Fatalf("operator role edit: %v %+v", err, role)
	}
	changes, err := acc.ListRoleChanges(h.as("manager"), &pb.ListRoleChangesRequest{Pending: true})
	if err != nil || len(changes.GetChanges()) != 1 {
		t.Fatalf("pending role changes: %v %+v", err, changes)
	}
	if _, err := acc.RejectRoleChange(h.as("manager"), &pb.RejectRoleChangeRequest{RoleChangeId: changes.GetChanges()[0].GetId(), Reason: "not our duty"}); err != nil {
		t.Fatal(err)
	}

	// 6. A second person approves: the same account now gets its URL.
	pending, err := acc.ListGrants(h.as("manager"), &pb.ListGrantsRequest{Pending: true})
	if err != nil || len(pending.GetGrants()) != 1 || pending.GetGrants()[0].GetId() != g.GetId() {
		t.Fatalf("pending grants: %v %+v", err, pending)
	}
	ok, err := acc.ApproveGrant(h.as("manager"), &pb.ApproveGrantRequest{GrantId: g.GetId(), Reason: "roster checked"})
	if err != nil || ok.GetStatus() != "active" || ok.GetDecidedBy() != h.users["manager"].ID {
		t.Fatalf("approve: %v %+v", err, ok)
	}
	lv, err = live.StartLiveView(puppet, liveReq)
	if err != nil || lv.GetUrl() == "" {
		t.Fatalf("live view after approval: %v", err)
	}
	for _, typ := range []string{"grant.create", "grant.approve", "role.change.reject"} {
		page, err := h.audit.Query(context.Background(), audit.Filter{Types: []string{typ}})
		if err != nil || len(page.Entries) == 0 {
			t.Fatalf("%s not audited: %v", typ, err)
		}
	}
}
