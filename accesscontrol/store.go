package accesscontrol

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

func isFKViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23503"
}

const orgCols = "id::text, kind, name, created_at"

func queryOrgs(ctx context.Context, q querier, where string, args ...any) ([]Org, error) {
	rows, err := q.Query(ctx, "select "+orgCols+" from access_orgs "+where+" order by name", args...)
	if err != nil {
		return nil, fmt.Errorf("accesscontrol: query organizations: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Org, error) {
		var o Org
		err := r.Scan(&o.ID, &o.Kind, &o.Name, &o.CreatedAt)
		return o, err
	})
}

const userCols = `u.id::text, u.username, u.display_name, u.email, u.phone, u.org_id::text, o.kind,
	u.must_change_password, u.totp_enabled, u.locked_until, u.last_login_at, u.disabled_at, u.disabled_reason,
	u.created_at, u.updated_at`

func scanUser(r pgx.Row) (User, error) {
	var u User
	err := r.Scan(&u.ID, &u.Username, &u.DisplayName, &u.Email, &u.Phone, &u.OrgID, &u.OrgKind,
		&u.MustChangePassword, &u.TOTPEnabled, &u.LockedUntil, &u.LastLoginAt, &u.DisabledAt, &u.DisabledReason,
		&u.CreatedAt, &u.UpdatedAt)
	u.Disabled = u.DisabledAt != nil
	return u, err
}

func queryUsers(ctx context.Context, q querier, where string, args []any) ([]User, error) {
	rows, err := q.Query(ctx, "select "+userCols+" from access_users u join access_orgs o on o.id = u.org_id "+where+" order by u.username", args...)
	if err != nil {
		return nil, fmt.Errorf("accesscontrol: query users: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (User, error) { return scanUser(r) })
}

func queryRoles(ctx context.Context, q querier) ([]Role, error) {
	rows, err := q.Query(ctx, "select name, description, permissions, builtin, updated_at from access_roles order by name")
	if err != nil {
		return nil, fmt.Errorf("accesscontrol: query roles: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Role, error) {
		var ro Role
		var perms []string
		err := r.Scan(&ro.Name, &ro.Description, &perms, &ro.BuiltIn, &ro.UpdatedAt)
		for _, p := range perms {
			ro.Permissions = append(ro.Permissions, Permission(p))
		}
		return ro, err
	})
}

const grantCols = `g.id::text, g.user_id::text, g.role, g.scope_all, g.sites, g.cameras, g.departments, g.purposes,
	g.not_before, g.expires_at, g.hours_from, g.hours_to, coalesce(extract(epoch from g.max_playback_age)::bigint, 0),
	coalesce(g.granted_by::text, ''), g.reason, g.created_at, g.revoked_at, coalesce(g.revoked_by::text, ''), g.revoke_reason,
	g.status, coalesce(g.decided_by::text, ''), g.decided_at, g.decide_reason`

func scanGrant(r pgx.Row) (Grant, error) {
	var g Grant
	var purposes []string
	var hf, ht *int16
	var age int64
	err := r.Scan(&g.ID, &g.UserID, &g.Role, &g.Scope.All, &g.Scope.Sites, &g.Scope.Cameras, &g.Scope.Departments, &purposes,
		&g.NotBefore, &g.ExpiresAt, &hf, &ht, &age, &g.GrantedBy, &g.Reason, &g.CreatedAt, &g.RevokedAt, &g.RevokedBy, &g.RevokeReason,
		&g.Status, &g.DecidedBy, &g.DecidedAt, &g.DecideReason)
	for _, p := range purposes {
		g.Scope.Purposes = append(g.Scope.Purposes, Purpose(p))
	}
	if hf != nil && ht != nil {
		g.AllowedHours = &HourRange{From: int(*hf), To: int(*ht)}
	}
	g.MaxPlaybackAge = time.Duration(age) * time.Second
	return g, err
}

func queryGrants(ctx context.Context, q querier, where string, args ...any) ([]Grant, error) {
	rows, err := q.Query(ctx, "select "+grantCols+" from access_grants g "+where+" order by g.created_at, g.id", args...)
	if err != nil {
		return nil, fmt.Errorf("accesscontrol: query grants: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Grant, error) { return scanGrant(r) })
}

const roleChangeCols = `id::text, role, add_permissions, coalesce(requested_by::text, ''), reason, created_at, status,
	coalesce(decided_by::text, ''), decided_at, decide_reason`

func queryRoleChanges(ctx context.Context, q querier, where string, args ...any) ([]RoleChange, error) {
	rows, err := q.Query(ctx, "select "+roleChangeCols+" from access_role_changes "+where+" order by created_at, id", args...)
	if err != nil {
		return nil, fmt.Errorf("accesscontrol: query role changes: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (RoleChange, error) {
		var c RoleChange
		var perms []string
		err := r.Scan(&c.ID, &c.Role, &perms, &c.RequestedBy, &c.Reason, &c.CreatedAt, &c.Status, &c.DecidedBy, &c.DecidedAt, &c.DecideReason)
		for _, p := range perms {
			c.AddPermissions = append(c.AddPermissions, Permission(p))
		}
		return c, err
	})
}

const denyCols = `id::text, cameras, sites, labels, users::text[], roles, permissions, reason,
	coalesce(created_by::text, ''), created_at, revoked_at`

func queryDenyRules(ctx context.Context, q querier, where string, args ...any) ([]DenyRule, error) {
	rows, err := q.Query(ctx, "select "+denyCols+" from access_deny_rules "+where+" order by created_at, id", args...)
	if err != nil {
		return nil, fmt.Errorf("accesscontrol: query deny rules: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (DenyRule, error) {
		var d DenyRule
		var perms []string
		err := r.Scan(&d.ID, &d.Cameras, &d.Sites, &d.Labels, &d.Users, &d.Roles, &perms, &d.Reason, &d.CreatedBy, &d.CreatedAt, &d.RevokedAt)
		for _, p := range perms {
			d.Permissions = append(d.Permissions, Permission(p))
		}
		return d, err
	})
}

const contractCols = `id::text, org_id::text, title, sites, starts_at, ends_at, contact_name, contact_phone,
	clause_purpose_scope, clause_subcontracting, clause_access_safeguards, clause_inspection, clause_liability,
	ended_at, end_reason, coalesce(created_by::text, ''), created_at, updated_at`

func scanContract(r pgx.Row) (Contract, error) {
	var c Contract
	err := r.Scan(&c.ID, &c.OrgID, &c.Title, &c.Sites, &c.StartsAt, &c.EndsAt, &c.ContactName, &c.ContactPhone,
		&c.Clauses.PurposeAndScope, &c.Clauses.SubcontractingRestriction, &c.Clauses.AccessRestrictionAndSafeguards,
		&c.Clauses.Inspection, &c.Clauses.Liability, &c.EndedAt, &c.EndReason, &c.CreatedBy, &c.CreatedAt, &c.UpdatedAt)
	return c, err
}

func queryContracts(ctx context.Context, q querier, where string, args ...any) ([]Contract, error) {
	rows, err := q.Query(ctx, "select "+contractCols+" from access_contracts "+where+" order by starts_at, id", args...)
	if err != nil {
		return nil, fmt.Errorf("accesscontrol: query contracts: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Contract, error) { return scanContract(r) })
}

const sessionCols = `s.id::text, s.user_id::text, u.username, s.client_addr, s.created_at, s.last_seen_at, s.expires_at,
	s.revoked_at, s.revoke_reason`

func querySessions(ctx context.Context, q querier, where string, args ...any) ([]Session, error) {
	rows, err := q.Query(ctx, "select "+sessionCols+" from access_sessions s join access_users u on u.id = s.user_id "+where+" order by s.created_at desc", args...)
	if err != nil {
		return nil, fmt.Errorf("accesscontrol: query sessions: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Session, error) {
		var s Session
		err := r.Scan(&s.ID, &s.UserID, &s.Username, &s.ClientAddr, &s.CreatedAt, &s.LastSeenAt, &s.ExpiresAt, &s.RevokedAt, &s.RevokeReason)
		return s, err
	})
}

// validID rejects ids that are not UUIDs before they reach the database.
func validID(kind, id string) error {
	if len(id) != 36 {
		return notFoundf("%s %q", kind, id)
	}
	for i, c := range id {
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return notFoundf("%s %q", kind, id)
			}
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f', c >= 'A' && c <= 'F':
		default:
			return notFoundf("%s %q", kind, id)
		}
	}
	return nil
}
