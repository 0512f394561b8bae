package accesscontrol

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/gwanje/gwanje/audit"
)

// Four eyes on footage rights (ROLES.md, "Invariants"). A grant whose role
// holds a permission with NeedsApproval, and a role edit that adds one, wait
// for a second person who holds grant.approve: the approver is never the
// requester nor (for grants) the grantee, and both steps are audited. A
// pending grant is not in the snapshot, so it confers nothing in Decide.

// rolePermissions returns a role's permissions (ErrNotFound when unknown).
func (w *wtx) rolePermissions(ctx context.Context, role string) ([]Permission, error) {
	var ps []string
	err := w.QueryRow(ctx, "select permissions from access_roles where name = $1", role).Scan(&ps)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFoundf("role %q", role)
	}
	if err != nil {
		return nil, fmt.Errorf("accesscontrol: role %s: %w", role, err)
	}
	out := make([]Permission, len(ps))
	for i, p := range ps {
		out[i] = Permission(p)
	}
	return out, nil
}

// checkGrantConflicts refuses a grant of role (with perms) to userID that
// would break separation of duties, taking the user's other grants that are
// active or pending and not expired into account (except the grant except,
// when one is being approved). It locks the user's row so that two grants
// made at once are checked one after the other.
//
//   - the user must exist and be enabled;
//   - a user of a contractor company never gets a role holding playback,
//     export or grant.approve;
//   - nobody holds footage rights (or grant.approve) together with the admin
//     or auditor role.
func (w *wtx) checkGrantConflicts(ctx context.Context, userID, except, role string, perms []Permission) error {
	var disabled bool
	var kind OrgKind
	err := w.QueryRow(ctx, `select u.disabled_at is not null, o.kind from access_users u join access_orgs o on o.id = u.org_id
		where u.id = $1 for update of u`, userID).Scan(&disabled, &kind)
	if errors.Is(err, pgx.ErrNoRows) {
		return notFoundf("user %s", userID)
	}
	if err != nil {
		return fmt.Errorf("accesscontrol: grant: %w", err)
	}
	if disabled {
		return conflictf("user %s is disabled", userID)
	}
	footage := slices.ContainsFunc(perms, Permission.NeedsApproval)
	if kind == OrgContractor {
		for _, p := range perms {
			if permInfos[p].contractorForbidden {
				return invalidf("a contractor's account cannot get the %s role: it holds %s (contractors never play back, export or approve)", role, p)
			}
		}
	}
	rows, err := w.Query(ctx, `select g.role, r.permissions from access_grants g join access_roles r on r.name = g.role
		where g.user_id = $1 and g.revoked_at is null and g.status in ('pending', 'active')
		  and (g.expires_at is null or g.expires_at > $2) and ($3 = '' or g.id::text <> $3)`, userID, w.s.cfg.Now(), except)
	if err != nil {
		return fmt.Errorf("accesscontrol: grant: %w", err)
	}
	type held struct {
		role  string
		perms []string
	}
	others, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (held, error) {
		var h held
		err := r.Scan(&h.role, &h.perms)
		return h, err
	})
	if err != nil {
		return fmt.Errorf("accesscontrol: grant: %w", err)
	}
	for _, o := range others {
		if footage && sodRole(o.role) {
			return invalidf("the user holds the %s role, which rules out footage rights and approving (separation of duties): revoke it first", o.role)
		}
		if sodRole(role) && slices.ContainsFunc(o.perms, func(p string) bool { return Permission(p).NeedsApproval() }) {
			return invalidf("the user holds the %s role, which gives footage rights; the %s role rules them out (separation of duties): revoke it first", o.role, role)
		}
	}
	return nil
}

// ApproveGrant puts a pending grant in force: the second pair of eyes. The
// approver needs grant.approve and is neither the one who asked for the
// grant nor its grantee; the separation-of-duties checks run again. Audited
// as grant.approve.
func (s *Service) ApproveGrant(ctx context.Context, c Change, id string) (Grant, error) {
	return s.decideGrant(ctx, c, id, true)
}

// RejectGrant refuses a pending grant for good; it needs a reason and the
// same rights as ApproveGrant. Audited as grant.reject. (The requester
// withdraws their own request with RevokeGrant.)
func (s *Service) RejectGrant(ctx context.Context, c Change, id string) (Grant, error) {
	return s.decideGrant(ctx, c, id, false)
}

func (s *Service) decideGrant(ctx context.Context, c Change, id string, approve bool) (Grant, error) {
	if err := s.require(c.By, PermGrantApprove); err != nil {
		return Grant{}, err
	}
	if !approve && strings.TrimSpace(c.Reason) == "" {
		return Grant{}, invalidf("say why the grant is rejected")
	}
	if err := validID("grant", id); err != nil {
		return Grant{}, err
	}
	var g Grant
	err := s.write(ctx, func(w *wtx) error {
		if _, err := w.Exec(ctx, "select 1 from access_grants where id = $1 for update", id); err != nil {
			return fmt.Errorf("accesscontrol: decide grant: %w", err)
		}
		gs, err := queryGrants(ctx, w, "where g.id = $1", id)
		if err != nil {
			return err
		}
		if len(gs) == 0 {
			return notFoundf("grant %s", id)
		}
		g = gs[0]
		switch {
		case g.RevokedAt != nil:
			return conflictf("grant %s was withdrawn", id)
		case g.Status != GrantPending:
			return conflictf("grant %s is %s, not pending", id, g.Status)
		case g.GrantedBy == c.By.UserID:
			return deniedf("whoever asked for a grant cannot approve or reject it: a second person must")
		case g.UserID == c.By.UserID:
			return deniedf("nobody can approve or reject a grant to themselves")
		}
		status, typ := GrantRejected, "grant.reject"
		if approve {
			perms, err := w.rolePermissions(ctx, g.Role)
			if err != nil {
				return err
			}
			if err := w.checkGrantConflicts(ctx, g.UserID, g.ID, g.Role, perms); err != nil {
				return err
			}
			status, typ = GrantActive, "grant.approve"
		}
		now := s.cfg.Now()
		if _, err := w.Exec(ctx, "update access_grants set status = $2, decided_by = $3, decided_at = $4, decide_reason = $5 where id = $1",
			id, status, c.By.UserID, now, c.Reason); err != nil {
			return fmt.Errorf("accesscontrol: decide grant: %w", err)
		}
		g.Status, g.DecidedBy, g.DecidedAt, g.DecideReason = status, c.By.UserID, &now, c.Reason
		d := grantDetails(g)
		d["requested_by"] = g.GrantedBy
		return w.audit(ctx, c, audit.Entry{Type: typ, Details: d})
	})
	if err != nil {
		return Grant{}, err
	}
	return g, nil
}

// requestRoleChange records the permissions a role edit adds that need
// approval.
func (w *wtx) requestRoleChange(ctx context.Context, c Change, role string, add []string) (RoleChange, error) {
	var by *string
	if c.By.UserID != "" {
		by = &c.By.UserID
	}
	var id string
	if err := w.QueryRow(ctx, `insert into access_role_changes (role, add_permissions, requested_by, reason, created_at)
		values ($1, $2, $3, $4, $5) returning id::text`, role, add, by, c.Reason, w.s.cfg.Now()).Scan(&id); err != nil {
		return RoleChange{}, fmt.Errorf("accesscontrol: role change: %w", err)
	}
	cs, err := queryRoleChanges(ctx, w, "where id = $1", id)
	if err != nil || len(cs) != 1 {
		return RoleChange{}, fmt.Errorf("accesscontrol: role change: read back: %w", err)
	}
	return cs[0], nil
}

// ListRoleChanges lists role changes, only the pending ones when pending is
// set. Needs grant.manage or grant.approve.
func (s *Service) ListRoleChanges(ctx context.Context, by Principal, pending bool) ([]RoleChange, error) {
	if s.require(by, PermGrantManage) != nil {
		if err := s.require(by, PermGrantApprove); err != nil {
			return nil, err
		}
	}
	where := ""
	if pending {
		where = "where status = 'pending'"
	}
	return queryRoleChanges(ctx, s.pool, where)
}

// ApproveRoleChange adds a pending change's permissions to its role. The
// approver needs grant.approve and is not the requester; the role's
// invariants are checked again. Audited as role.change.approve.
func (s *Service) ApproveRoleChange(ctx context.Context, c Change, id string) (Role, error) {
	return s.decideRoleChange(ctx, c, id, true)
}

// RejectRoleChange refuses a pending role change; it needs a reason.
// Audited as role.change.reject.
func (s *Service) RejectRoleChange(ctx context.Context, c Change, id string) (Role, error) {
	return s.decideRoleChange(ctx, c, id, false)
}

func (s *Service) decideRoleChange(ctx context.Context, c Change, id string, approve bool) (Role, error) {
	if err := s.require(c.By, PermGrantApprove); err != nil {
		return Role{}, err
	}
	if !approve && strings.TrimSpace(c.Reason) == "" {
		return Role{}, invalidf("say why the role change is rejected")
	}
	if err := validID("role change", id); err != nil {
		return Role{}, err
	}
	var r Role
	err := s.write(ctx, func(w *wtx) error {
		if _, err := w.Exec(ctx, "select 1 from access_role_changes where id = $1 for update", id); err != nil {
			return fmt.Errorf("accesscontrol: decide role change: %w", err)
		}
		cs, err := queryRoleChanges(ctx, w, "where id = $1", id)
		if err != nil {
			return err
		}
		if len(cs) == 0 {
			return notFoundf("role change %s", id)
		}
		rc := cs[0]
		switch {
		case rc.Status != RoleChangePending:
			return conflictf("role change %s is %s, not pending", id, rc.Status)
		case rc.RequestedBy == c.By.UserID:
			return deniedf("whoever asked for a role change cannot approve or reject it: a second person must")
		}
		status, typ := RoleChangeRejected, "role.change.reject"
		var before, after []string
		if approve {
			if err := w.QueryRow(ctx, "select permissions from access_roles where name = $1 for update", rc.Role).Scan(&before); err != nil {
				return fmt.Errorf("accesscontrol: decide role change: %w", err)
			}
			after = slices.Clone(before)
			for _, p := range rc.AddPermissions {
				if !slices.Contains(after, string(p)) {
					after = append(after, string(p))
				}
			}
			slices.Sort(after)
			if err := checkRolePermissions(rc.Role, perms(after)); err != nil {
				return err
			}
			if _, err := w.Exec(ctx, "update access_roles set permissions = $2, updated_at = $3 where name = $1", rc.Role, after, s.cfg.Now()); err != nil {
				return fmt.Errorf("accesscontrol: decide role change: %w", err)
			}
			status, typ = RoleChangeApproved, "role.change.approve"
		}
		if _, err := w.Exec(ctx, "update access_role_changes set status = $2, decided_by = $3, decided_at = $4, decide_reason = $5 where id = $1",
			id, status, c.By.UserID, s.cfg.Now(), c.Reason); err != nil {
			return fmt.Errorf("accesscontrol: decide role change: %w", err)
		}
		roles, err := queryRoles(ctx, w)
		if err != nil {
			return err
		}
		for _, ro := range roles {
			if ro.Name == rc.Role {
				r = ro
			}
		}
		d := map[string]any{"role_change_id": id, "role": rc.Role, "add_permissions": rc.AddPermissions, "requested_by": rc.RequestedBy}
		if approve {
			d["before"], d["after"] = before, after
		}
		return w.audit(ctx, c, audit.Entry{Type: typ, Details: d})
	})
	return r, err
}

func perms(ss []string) []Permission {
	out := make([]Permission, len(ss))
	for i, s := range ss {
		out[i] = Permission(s)
	}
	return out
}

// provisionActor is the audit actor of Provision.
var provisionActor = Principal{Username: "system:provision"}

// Provision creates an account with the given password (not one to change)
// and its grants, in force at once: the privileged setup path outside the
// one-time-password and four-eyes rules, for in-process callers only
// (gwanjed --demo, tests). No RPC reaches it; whoever can call it runs the
// server and holds its database anyway. The separation-of-duties checks
// still hold, and everything is audited as system:provision with reason.
func (s *Service) Provision(ctx context.Context, reason string, in NewUser, password string, grants ...NewGrant) (User, error) {
	if password == "" {
		return User{}, invalidf("provisioning needs the account's password")
	}
	c := Change{By: provisionActor, Reason: reason}
	u, _, err := s.createUser(ctx, c, in, password)
	if err != nil {
		return User{}, err
	}
	for _, g := range grants {
		g.UserID = u.ID
		if _, err := s.createGrant(ctx, c, g, true); err != nil {
			return User{}, err
		}
	}
	return u, nil
}
