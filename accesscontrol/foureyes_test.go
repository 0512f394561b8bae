package accesscontrol

import (
	"errors"
	"slices"
	"testing"
)

// forbidden is ROLES.md's table of what the admin, auditor and contractor
// roles may never hold, written out independently of RoleForbids.
var forbidden = map[string][]Permission{
	RoleAdmin:      {PermLiveView, PermPlaybackView, PermPTZControl, PermSnapshotView, PermExportRequest, PermExportApprove, PermGrantApprove},
	RoleAuditor:    {PermLiveView, PermPlaybackView, PermPTZControl, PermSnapshotView, PermExportRequest, PermExportApprove, PermGrantApprove},
	RoleContractor: {PermPlaybackView, PermExportRequest, PermExportApprove, PermGrantApprove},
}

// needsApproval: the permissions whose grant or addition to a role waits
// for a second person.
var needsApproval = []Permission{PermLiveView, PermPlaybackView, PermPTZControl, PermSnapshotView, PermExportRequest, PermExportApprove, PermGrantApprove}

// TestRoleInvariants tries to add every permission to every built-in role
// as an administrator: forbidden ones are refused and change nothing;
// ones that give footage rights (or grant.approve) wait as a pending
// change; the others apply at once.
func TestRoleInvariants(t *testing.T) {
	e := newEnv(t, nil)
	roles, err := e.svc.ListRoles(e.ctx, e.admin)
	if err != nil {
		t.Fatal(err)
	}
	base := map[string][]Permission{}
	for _, r := range roles {
		base[r.Name] = r.Permissions
	}
	current := func(role string) []Permission {
		rs, err := e.svc.ListRoles(e.ctx, e.admin)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			if r.Name == role {
				return r.Permissions
			}
		}
		t.Fatalf("no role %s", role)
		return nil
	}
	for _, role := range BuiltinRoles {
		for _, perm := range Permissions {
			t.Run(role+"/"+string(perm), func(t *testing.T) {
				want := slices.Contains(forbidden[role], perm)
				if got := RoleForbids(role, perm) != ""; got != want {
					t.Fatalf("RoleForbids = %v, ROLES.md says %v", got, want)
				}
				if p := Permission(perm); p.NeedsApproval() != slices.Contains(needsApproval, perm) {
					t.Fatalf("NeedsApproval = %v", p.NeedsApproval())
				}
				if slices.Contains(base[role], perm) {
					return // already held by default
				}
				r, pending, err := e.svc.UpdateRole(e.ctx, e.change("try"), role, append(slices.Clone(base[role]), perm))
				switch {
				case want:
					if !errors.Is(err, ErrInvalid) || pending != nil {
						t.Fatalf("forbidden permission: %v %+v", err, pending)
					}
					if slices.Contains(current(role), perm) {
						t.Fatal("refused edit changed the role")
					}
				case slices.Contains(needsApproval, perm):
					if err != nil || pending == nil || !slices.Equal(pending.AddPermissions, []Permission{perm}) || pending.Status != RoleChangePending {
						t.Fatalf("footage permission: %v %+v", err, pending)
					}
					if slices.Contains(r.Permissions, perm) || slices.Contains(current(role), perm) {
						t.Fatal("footage permission added without approval")
					}
				default:
					if err != nil || pending != nil || !slices.Contains(r.Permissions, perm) {
						t.Fatalf("ordinary permission: %v %+v %v", err, pending, r.Permissions)
					}
				}
			})
		}
		if _, _, err := e.svc.UpdateRole(e.ctx, e.change("restore"), role, base[role]); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRoleEditAttack: an administrator edits the auditor role to add live
// view and playback (refused), and the operator role to add exports
// (pending until someone else approves; the requester cannot).
func TestRoleEditAttack(t *testing.T) {
	e := newEnv(t, nil)
	org := e.org(OrgDepartment, "감사실")
	aud := e.user("aud-choi", org.ID, "auditor choi secret 1")
	if _, err := e.grant("duty", NewGrant{UserID: aud.ID, Role: RoleAuditor, Scope: Scope{All: true}}); err != nil {
		t.Fatal(err)
	}
	pa := Principal{UserID: aud.ID, Username: aud.Username}
	cam := Resource{CameraID: "c1", Purpose: PurposeCrimePrevention}
	_, _, err := e.svc.UpdateRole(e.ctx, e.change("audit needs to see"), RoleAuditor,
		[]Permission{PermAuditRead, PermAuditVerify, PermReportRead, PermLiveView, PermPlaybackView})
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("auditor role edit: %v", err)
	}
	for _, perm := range []Permission{PermLiveView, PermPlaybackView} {
		if d := e.svc.Decide(pa, perm, cam, e.clock.Now()); d.Allowed {
			t.Fatalf("auditor %s after the refused edit: %+v", perm, d)
		}
	}

	op := e.user("op-kim", org.ID, "operator kim secret 1")
	if _, err := e.grant("duty", NewGrant{UserID: op.ID, Role: RoleOperator, Scope: Scope{All: true}}); err != nil {
		t.Fatal(err)
	}
	po := Principal{UserID: op.ID, Username: op.Username}
	opPerms := []Permission{PermLiveView, PermPlaybackView, PermPTZControl, PermSnapshotView, PermDeviceRead, PermHealthRead, PermAlarmAck}
	_, pending, err := e.svc.UpdateRole(e.ctx, e.change("operators export"), RoleOperator, append(slices.Clone(opPerms), PermExportRequest))
	if err != nil || pending == nil {
		t.Fatalf("operator role edit: %v %+v", err, pending)
	}
	if d := e.svc.Decide(po, PermExportRequest, cam, e.clock.Now()); d.Allowed {
		t.Fatal("pending role change in force")
	}
	if _, err := e.svc.ApproveRoleChange(e.ctx, e.change("me"), pending.ID); !errors.Is(err, ErrPermissionDenied) {
		t.Fatalf("administrator approved: %v", err)
	}
	// A manager who may also edit roles still cannot approve their own request.
	mgrPerms := []Permission{PermLiveView, PermPlaybackView, PermSnapshotView, PermExportRequest, PermExportApprove, PermDeviceRead,
		PermHealthRead, PermAlarmAck, PermReportRead, PermRequestHandle, PermSessionManage, PermPolicyPublish, PermGrantApprove}
	if _, p, err := e.svc.UpdateRole(e.ctx, e.change("managers designate"), RoleManager, append(slices.Clone(mgrPerms), PermGrantManage)); err != nil || p != nil {
		t.Fatalf("manager + grant.manage: %v %+v", err, p)
	}
	_, own, err := e.svc.UpdateRole(e.ctx, Change{By: e.manager, Reason: "police steer"}, RolePolice,
		[]Permission{PermLiveView, PermPlaybackView, PermSnapshotView, PermExportRequest, PermDeviceRead, PermPTZControl})
	if err != nil || own == nil {
		t.Fatalf("manager's role edit: %v %+v", err, own)
	}
	if _, err := e.svc.ApproveRoleChange(e.ctx, Change{By: e.manager}, own.ID); !errors.Is(err, ErrPermissionDenied) {
		t.Fatalf("requester approved their own role change: %v", err)
	}
	if _, err := e.svc.RejectRoleChange(e.ctx, Change{By: e.manager, Reason: "x"}, pending.ID); err != nil {
		t.Fatalf("reject: %v", err)
	}
	if _, err := e.svc.ApproveRoleChange(e.ctx, Change{By: e.manager}, pending.ID); !errors.Is(err, ErrConflict) {
		t.Fatalf("approve after reject: %v", err)
	}
	if d := e.svc.Decide(po, PermExportRequest, cam, e.clock.Now()); d.Allowed {
		t.Fatal("rejected role change in force")
	}
	// A second person approves the first request of the administrator.
	_, again, err := e.svc.UpdateRole(e.ctx, e.change("operators export, second try"), RoleOperator, append(slices.Clone(opPerms), PermExportRequest))
	if err != nil || again == nil {
		t.Fatal(err)
	}
	r, err := e.svc.ApproveRoleChange(e.ctx, Change{By: e.manager, Reason: "agreed at the meeting"}, again.ID)
	if err != nil || !slices.Contains(r.Permissions, PermExportRequest) {
		t.Fatalf("approve: %v %+v", err, r)
	}
	if d := e.svc.Decide(po, PermExportRequest, cam, e.clock.Now()); !d.Allowed {
		t.Fatalf("approved role change not in force: %+v", d)
	}
	rows := auditRows(t, e.pool, "role.change.approve")
	if len(rows) != 1 || rows[0].UserID != e.manager.UserID || rows[0].Details["requested_by"] != e.admin.UserID {
		t.Fatalf("role.change.approve audited as %+v", rows)
	}
	if rows := auditRows(t, e.pool, "role.change.reject"); len(rows) != 1 {
		t.Fatalf("role.change.reject audited as %+v", rows)
	}
}

// TestGrantFourEyes: a grant that gives footage rights confers nothing
// until someone other than its requester and its grantee approves it.
func TestGrantFourEyes(t *testing.T) {
	e := newEnv(t, nil)
	org := e.org(OrgDepartment, "안전총괄과")
	u := e.user("op-new", org.ID, "operator new secret 1")
	p := Principal{UserID: u.ID, Username: u.Username}
	cam := Resource{CameraID: "c1", Purpose: PurposeCrimePrevention}
	now := e.clock.Now()

	// Without footage rights a grant is in force at once.
	tg, err := e.svc.CreateGrant(e.ctx, e.change("also fixes cameras"), NewGrant{UserID: u.ID, Role: RoleTechnician, Scope: Scope{All: true}})
	if err != nil || tg.Status != GrantActive {
		t.Fatalf("technician grant: %v %+v", err, tg)
	}

	g, err := e.svc.CreateGrant(e.ctx, e.change("day shift"), NewGrant{UserID: u.ID, Role: RoleOperator, Scope: Scope{All: true}})
	if err != nil || g.Status != GrantPending || g.GrantedBy != e.admin.UserID {
		t.Fatalf("operator grant: %v %+v", err, g)
	}
	for _, perm := range []Permission{PermLiveView, PermPlaybackView, PermSnapshotView, PermPTZControl} {
		if d := e.svc.Decide(p, perm, cam, now); d.Allowed || d.Reason != ReasonNoGrant {
			t.Fatalf("pending grant confers %s: %+v", perm, d)
		}
		if e.svc.CanAny(p, perm, now) {
			t.Fatalf("pending grant counts in CanAny for %s", perm)
		}
	}
	pend, err := e.svc.ListGrants(e.ctx, e.manager, GrantFilter{Pending: true})
	if err != nil || len(pend) != 1 || pend[0].ID != g.ID {
		t.Fatalf("pending list: %v %+v", err, pend)
	}
	if _, err := e.svc.ListGrants(e.ctx, p, GrantFilter{Pending: true}); !errors.Is(err, ErrPermissionDenied) {
		t.Fatalf("pending list for anyone: %v", err)
	}

	// The administrator cannot approve (no grant.approve, ever).
	if _, err := e.svc.ApproveGrant(e.ctx, e.change("me"), g.ID); !errors.Is(err, ErrPermissionDenied) {
		t.Fatalf("administrator approved: %v", err)
	}
	// A second manager: nobody approves a grant to themselves, and a
	// manager who may grant cannot approve their own request.
	m2 := e.user("mgr-two", org.ID, "manager two secret 1")
	if _, err := e.grant("duty", NewGrant{UserID: m2.ID, Role: RoleManager, Scope: Scope{All: true}}); err != nil {
		t.Fatal(err)
	}
	pm2 := Principal{UserID: m2.ID, Username: m2.Username}
	self, err := e.svc.CreateGrant(e.ctx, e.change("also police"), NewGrant{UserID: m2.ID, Role: RolePolice, Scope: Scope{All: true}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.ApproveGrant(e.ctx, Change{By: pm2}, self.ID); !errors.Is(err, ErrPermissionDenied) {
		t.Fatalf("grantee approved their own grant: %v", err)
	}
	mgrPerms := []Permission{PermLiveView, PermPlaybackView, PermSnapshotView, PermExportRequest, PermExportApprove, PermDeviceRead,
		PermHealthRead, PermAlarmAck, PermReportRead, PermRequestHandle, PermSessionManage, PermPolicyPublish, PermGrantApprove, PermGrantManage}
	if _, _, err := e.svc.UpdateRole(e.ctx, e.change("managers designate"), RoleManager, mgrPerms); err != nil {
		t.Fatal(err)
	}
	own, err := e.svc.CreateGrant(e.ctx, Change{By: e.manager, Reason: "night shift"}, NewGrant{UserID: u.ID, Role: RolePolice, Scope: Scope{All: true}})
	if err != nil || own.Status != GrantPending {
		t.Fatalf("manager's request: %v %+v", err, own)
	}
	if _, err := e.svc.ApproveGrant(e.ctx, Change{By: e.manager}, own.ID); !errors.Is(err, ErrPermissionDenied) {
		t.Fatalf("requester approved: %v", err)
	}
	if _, err := e.svc.RejectGrant(e.ctx, Change{By: pm2}, own.ID); !errors.Is(err, ErrInvalid) {
		t.Fatalf("reject without a reason: %v", err)
	}
	rj, err := e.svc.RejectGrant(e.ctx, Change{By: pm2, Reason: "one role is enough"}, own.ID)
	if err != nil || rj.Status != GrantRejected || rj.DecidedBy != m2.ID {
		t.Fatalf("reject: %v %+v", err, rj)
	}
	if _, err := e.svc.ApproveGrant(e.ctx, Change{By: e.manager}, own.ID); !errors.Is(err, ErrConflict) && !errors.Is(err, ErrPermissionDenied) {
		t.Fatalf("approve after reject: %v", err)
	}

	// The second person approves: in force at once.
	ok, err := e.svc.ApproveGrant(e.ctx, Change{By: pm2, Reason: "roster checked"}, g.ID)
	if err != nil || ok.Status != GrantActive || ok.DecidedBy != m2.ID {
		t.Fatalf("approve: %v %+v", err, ok)
	}
	if d := e.svc.Decide(p, PermLiveView, cam, now); !d.Allowed || d.GrantID != g.ID {
		t.Fatalf("approved grant not in force: %+v", d)
	}
	if _, err := e.svc.ApproveGrant(e.ctx, Change{By: pm2}, g.ID); !errors.Is(err, ErrConflict) {
		t.Fatalf("second approval: %v", err)
	}
	// A withdrawn request cannot be approved.
	w, err := e.svc.CreateGrant(e.ctx, e.change("extra"), NewGrant{UserID: u.ID, Role: RolePolice, Scope: Scope{All: true}})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.RevokeGrant(e.ctx, e.change("withdrawn"), w.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.ApproveGrant(e.ctx, Change{By: pm2}, w.ID); !errors.Is(err, ErrConflict) {
		t.Fatalf("approve a withdrawn request: %v", err)
	}
	if rows := auditRows(t, e.pool, "grant.approve"); len(rows) != 1 || rows[0].UserID != m2.ID || rows[0].Details["requested_by"] != e.admin.UserID {
		t.Fatalf("grant.approve audited as %+v", rows)
	}
	if rows := auditRows(t, e.pool, "grant.reject"); len(rows) != 1 || rows[0].Reason != "one role is enough" {
		t.Fatalf("grant.reject audited as %+v", rows)
	}
}

// TestSeparationOfDutiesAtGrantTime: nobody holds footage rights together
// with the admin or auditor role, and contractors' accounts never get roles
// with playback, export or approval, whatever order the grants come in.
func TestSeparationOfDutiesAtGrantTime(t *testing.T) {
	e := newEnv(t, nil)
	dept := e.org(OrgDepartment, "안전총괄과")
	company := e.org(OrgContractor, "한빛정보통신")
	aud := e.user("aud", dept.ID, "quiet harbor 4821 x")
	op := e.user("op", dept.ID, "green meadow 7712 y")
	ct := e.user("ct", company.ID, "blue canyon 3390 z")
	newOp := e.user("op2", dept.ID, "operator two secret 1")
	if _, err := e.grant("duty", NewGrant{UserID: aud.ID, Role: RoleAuditor, Scope: Scope{All: true}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.grant("duty", NewGrant{UserID: op.ID, Role: RoleOperator, Scope: Scope{All: true}}); err != nil {
		t.Fatal(err)
	}
	pending, err := e.svc.CreateGrant(e.ctx, e.change("duty"), NewGrant{UserID: newOp.ID, Role: RoleOperator, Scope: Scope{All: true}})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		user string
		role string
	}{
		{"auditor gets operator", aud.ID, RoleOperator},
		{"auditor gets police", aud.ID, RolePolice},
		{"auditor gets manager (approver)", aud.ID, RoleManager},
		{"operator gets auditor", op.ID, RoleAuditor},
		{"operator gets admin", op.ID, RoleAdmin},
		{"pending operator gets admin", newOp.ID, RoleAdmin},
		{"contractor gets operator", ct.ID, RoleOperator},
		{"contractor gets manager", ct.ID, RoleManager},
		{"contractor gets police", ct.ID, RolePolice},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.svc.CreateGrant(e.ctx, e.change("try"), NewGrant{UserID: c.user, Role: c.role, Scope: Scope{All: true}})
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("got %v", err)
			}
			if _, err := e.grant("try", NewGrant{UserID: c.user, Role: c.role, Scope: Scope{All: true}}); !errors.Is(err, ErrInvalid) {
				t.Fatalf("privileged path: %v", err)
			}
		})
	}
	// Allowed combinations still work.
	if _, err := e.svc.CreateGrant(e.ctx, e.change("maintenance"), NewGrant{UserID: ct.ID, Role: RoleContractor, Scope: Scope{Sites: []string{"s"}}}); err != nil {
		t.Fatalf("contractor role for a contractor: %v", err)
	}
	if _, err := e.svc.CreateGrant(e.ctx, e.change("reports"), NewGrant{UserID: op.ID, Role: RoleTechnician, Scope: Scope{All: true}}); err != nil {
		t.Fatalf("technician for an operator: %v", err)
	}
	// Checked again at approval: the grantee became an auditor meanwhile
	// (after the pending grant was withdrawn and requested again).
	if err := e.svc.RevokeGrant(e.ctx, e.change("withdrawn"), pending.ID); err != nil {
		t.Fatal(err)
	}
	again, err := e.svc.CreateGrant(e.ctx, e.change("duty"), NewGrant{UserID: newOp.ID, Role: RoleOperator, Scope: Scope{All: true}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.pool.Exec(e.ctx, `insert into access_grants (user_id, role, scope_all, reason) values ($1, 'auditor', true, 'behind the service')`, newOp.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.ApproveGrant(e.ctx, Change{By: e.manager}, again.ID); !errors.Is(err, ErrInvalid) {
		t.Fatalf("approval despite the auditor role: %v", err)
	}
}

// TestDatabaseEditsConferNothing: rows written behind the service's back
// (a role edited to hold footage rights, an administrator's footage grant,
// a pending grant) confer nothing at decision time.
func TestDatabaseEditsConferNothing(t *testing.T) {
	e := newEnv(t, nil)
	org := e.org(OrgDepartment, "d")
	aud := e.user("aud", org.ID, "quiet harbor 4821 x")
	adm := e.user("adm2", org.ID, "red forest 8834 w")
	pen := e.user("pen", org.ID, "silver lake 5521 q")
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`update access_roles set permissions = permissions || '{live.view,playback.view,export.request,grant.approve}' where name in ('auditor', 'admin')`, nil},
		{`update access_roles set permissions = permissions || '{playback.view,export.request}' where name = 'contractor'`, nil},
		{`insert into access_grants (user_id, role, scope_all, reason) values ($1, 'auditor', true, 'x')`, []any{aud.ID}},
		{`insert into access_grants (user_id, role, scope_all, reason) values ($1, 'admin', true, 'x'), ($1, 'operator', true, 'x')`, []any{adm.ID}},
		{`insert into access_grants (user_id, role, scope_all, reason, status) values ($1, 'operator', true, 'x', 'pending')`, []any{pen.ID}},
		{`update access_version set version = version + 1`, nil},
	} {
		if _, err := e.pool.Exec(e.ctx, q.sql, q.args...); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.svc.Reload(e.ctx); err != nil {
		t.Fatal(err)
	}
	cam := Resource{CameraID: "c1", Purpose: PurposeCrimePrevention}
	for _, c := range []struct {
		user   User
		perm   Permission
		reason Reason
	}{
		{aud, PermLiveView, ReasonNoGrant},
		{aud, PermPlaybackView, ReasonNoGrant},
		{aud, PermGrantApprove, ReasonNoGrant},
		{adm, PermLiveView, ReasonSeparation},
		{adm, PermPlaybackView, ReasonSeparation},
		{adm, PermGrantApprove, ReasonNoGrant},
		{pen, PermLiveView, ReasonNoGrant},
	} {
		p := Principal{UserID: c.user.ID, Username: c.user.Username}
		if d := e.svc.Decide(p, c.perm, cam, e.clock.Now()); d.Allowed || d.Reason != c.reason {
			t.Errorf("%s %s: %+v, want denied (%s)", c.user.Username, c.perm, d, c.reason)
		}
	}
	if d := e.svc.Decide(e.admin, PermUserManage, Resource{}, e.clock.Now()); !d.Allowed {
		t.Errorf("the administrator lost user.manage: %+v", d)
	}
}

// TestOneTimePasswordsOnly: accounts made or reset by someone else get a
// generated password their owner must replace; the first start's manager
// too, and the administrator cannot reset their own password that way.
func TestOneTimePasswordsOnly(t *testing.T) {
	e := newEnv(t, nil)
	org := e.org(OrgDepartment, "d")
	u, pw, err := e.svc.CreateUser(e.ctx, e.change("hire"), NewUser{Username: "puppet", OrgID: org.ID})
	if err != nil || pw == "" || !u.MustChangePassword {
		t.Fatalf("%+v %q %v", u, pw, err)
	}
	r := e.login("puppet", pw)
	for _, perm := range Permissions {
		if d := e.svc.Decide(r.Principal, perm, Resource{CameraID: "c"}, e.clock.Now()); d.Allowed {
			t.Fatalf("%s before the password change", perm)
		}
	}
	if _, err := e.svc.ResetPassword(e.ctx, e.change("mine"), e.admin.UserID); !errors.Is(err, ErrInvalid) {
		t.Fatalf("own reset: %v", err)
	}
	if _, err := e.svc.Provision(e.ctx, "x", NewUser{Username: "nopw", OrgID: org.ID}, ""); !errors.Is(err, ErrInvalid) {
		t.Fatalf("provision without a password: %v", err)
	}
	if d := e.svc.Decide(e.manager, PermGrantApprove, Resource{}, e.clock.Now()); !d.Allowed {
		t.Fatalf("the first responsible manager cannot approve: %+v", d)
	}
}
