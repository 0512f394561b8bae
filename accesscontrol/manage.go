package accesscontrol

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gwanje/gwanje/audit"
)

// The management API. Every call takes a Change (who, why, from where),
// checks the caller's permission itself (defence in depth: control checks
// the RPC too), validates its input (errors wrap ErrInvalid, nothing
// changes), writes the change and its audit entry in one transaction, and
// returns after the local snapshot holds the change.

// ---- organizations ----

// CreateOrg creates an organization. Needs user.manage.
func (s *Service) CreateOrg(ctx context.Context, c Change, kind OrgKind, name string) (Org, error) {
	if err := s.require(c.By, PermUserManage); err != nil {
		return Org{}, err
	}
	name = strings.TrimSpace(name)
	switch {
	case kind != OrgDepartment && kind != OrgPolice && kind != OrgContractor:
		return Org{}, invalidf("organization kind must be department, police or contractor")
	case name == "" || len(name) > 200:
		return Org{}, invalidf("organization name must have 1 to 200 characters")
	}
	if err := checkDisplayed("organization name", name); err != nil {
		return Org{}, err
	}
	var o Org
	err := s.write(ctx, func(w *wtx) error {
		err := w.QueryRow(ctx, "insert into access_orgs (kind, name, created_at) values ($1, $2, $3) returning "+orgCols,
			kind, name, s.cfg.Now()).Scan(&o.ID, &o.Kind, &o.Name, &o.CreatedAt)
		if isUniqueViolation(err) {
			return conflictf("an organization named %q exists", name)
		}
		if err != nil {
			return fmt.Errorf("accesscontrol: create organization: %w", err)
		}
		return w.audit(ctx, c, audit.Entry{Type: "org.create", Details: map[string]any{"org_id": o.ID, "kind": string(kind), "name": name}})
	})
	return o, err
}

// ListOrgs lists the organizations. Needs user.manage or contract.manage.
func (s *Service) ListOrgs(ctx context.Context, by Principal) ([]Org, error) {
	if s.require(by, PermUserManage) != nil {
		if err := s.require(by, PermContractManage); err != nil {
			return nil, err
		}
	}
	return queryOrgs(ctx, s.pool, "")
}

// ---- users ----

// NewUser describes an account to create. Password empty: a one-time
// password is generated and returned, and must be changed at first login.
type NewUser struct {
	Username    string
	DisplayName string
	Email       string
	Phone       string
	OrgID       string
	Password    string
}

var usernameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{1,63}$`)

// CreateUser creates an account. It returns the one-time password when it
// generated one (show it once to the administrator; it is never stored).
// Needs user.manage.
func (s *Service) CreateUser(ctx context.Context, c Change, in NewUser) (User, string, error) {
	if err := s.require(c.By, PermUserManage); err != nil {
		return User{}, "", err
	}
	return s.createUser(ctx, c, in)
}

func (s *Service) createUser(ctx context.Context, c Change, in NewUser) (User, string, error) {
	in.Username = strings.ToLower(strings.TrimSpace(in.Username))
	if !usernameRE.MatchString(in.Username) {
		return User{}, "", invalidf("username must be 2 to 64 of a-z, 0-9, '.', '_', '-', starting with a letter or digit")
	}
	if err := validID("organization", in.OrgID); err != nil {
		return User{}, "", err
	}
	if err := checkDisplayed("display_name", in.DisplayName, "email", in.Email, "phone", in.Phone); err != nil {
		return User{}, "", err
	}
	oneTime, mustChange := "", false
	if in.Password == "" {
		oneTime, mustChange = randomPassword(), true
		in.Password = oneTime
	} else if err := s.checkNewPassword(in.Username, in.Password); err != nil {
		return User{}, "", err
	}
	hash := s.hashPassword(in.Password)
	var u User
	err := s.write(ctx, func(w *wtx) error {
		var id string
		now := s.cfg.Now()
		err := w.QueryRow(ctx, `insert into access_users (username, display_name, email, phone, org_id, password_hash,
				must_change_password, password_changed_at, created_at, updated_at)
			values ($1, $2, $3, $4, $5, $6, $7, $8, $8, $8) returning id::text`,
			in.Username, in.DisplayName, in.Email, in.Phone, in.OrgID, hash, mustChange, now).Scan(&id)
		switch {
		case isUniqueViolation(err):
			return conflictf("the username %q is taken (usernames are never reused)", in.Username)
		case isFKViolation(err):
			return notFoundf("organization %s", in.OrgID)
		case err != nil:
			return fmt.Errorf("accesscontrol: create user: %w", err)
		}
		if u, err = getUser(ctx, w, id); err != nil {
			return err
		}
		return w.audit(ctx, c, audit.Entry{Type: "user.create", Details: map[string]any{
			"user_id": id, "username": u.Username, "org_id": u.OrgID, "one_time_password": mustChange}})
	})
	if err != nil {
		return User{}, "", err
	}
	return u, oneTime, nil
}

func getUser(ctx context.Context, q querier, id string) (User, error) {
	if err := validID("user", id); err != nil {
		return User{}, err
	}
	us, err := queryUsers(ctx, q, "where u.id = $1", []any{id})
	if err != nil {
		return User{}, err
	}
	if len(us) == 0 {
		return User{}, notFoundf("user %s", id)
	}
	return us[0], nil
}

// GetUser returns a user. Needs user.manage, or being that user.
func (s *Service) GetUser(ctx context.Context, by Principal, id string) (User, error) {
	if by.UserID != id {
		if err := s.require(by, PermUserManage); err != nil {
			return User{}, err
		}
	}
	return getUser(ctx, s.pool, id)
}

// UserFilter narrows ListUsers; zero lists every enabled user.
type UserFilter struct {
	OrgID           string
	IncludeDisabled bool
}

// ListUsers lists users. Needs user.manage or grant.manage.
func (s *Service) ListUsers(ctx context.Context, by Principal, f UserFilter) ([]User, error) {
	if s.require(by, PermUserManage) != nil {
		if err := s.require(by, PermGrantManage); err != nil {
			return nil, err
		}
	}
	where, args := []string{"true"}, []any{}
	if f.OrgID != "" {
		if err := validID("organization", f.OrgID); err != nil {
			return nil, err
		}
		args = append(args, f.OrgID)
		where = append(where, fmt.Sprintf("u.org_id = $%d", len(args)))
	}
	if !f.IncludeDisabled {
		where = append(where, "u.disabled_at is null")
	}
	return queryUsers(ctx, s.pool, "where "+strings.Join(where, " and "), args)
}

// UserUpdate changes a user's details; nil fields stay.
type UserUpdate struct {
	DisplayName *string
	Email       *string
	Phone       *string
	OrgID       *string
	// Unlock clears a lockout.
	Unlock bool
	// ResetTOTP removes the user's TOTP so that they enroll again.
	ResetTOTP bool
}

// UpdateUser changes a user's details. Needs user.manage.
func (s *Service) UpdateUser(ctx context.Context, c Change, id string, up UserUpdate) (User, error) {
	if err := s.require(c.By, PermUserManage); err != nil {
		return User{}, err
	}
	var u User
	err := s.write(ctx, func(w *wtx) error {
		old, err := getUser(ctx, w, id)
		if err != nil {
			return err
		}
		if old.Disabled {
			return conflictf("user %s is disabled", old.Username)
		}
		changed := map[string]any{"user_id": id}
		set := func(name string, p *string, cur string) string {
			if p == nil || *p == cur {
				return cur
			}
			changed[name] = *p
			return *p
		}
		dn, em, ph, org := set("display_name", up.DisplayName, old.DisplayName), set("email", up.Email, old.Email),
			set("phone", up.Phone, old.Phone), set("org_id", up.OrgID, old.OrgID)
		if err := checkDisplayed("display_name", dn, "email", em, "phone", ph); err != nil {
			return err
		}
		if org != old.OrgID {
			if err := validID("organization", org); err != nil {
				return err
			}
		}
		if up.Unlock {
			changed["unlock"] = true
		}
		if up.ResetTOTP {
			changed["totp_reset"] = true
		}
		_, err = w.Exec(ctx, `update access_users set display_name = $2, email = $3, phone = $4, org_id = $5, updated_at = $6,
				failed_logins = case when $7 then 0 else failed_logins end,
				locked_until = case when $7 then null else locked_until end,
				totp_enabled = totp_enabled and not $8,
				totp_secret = case when $8 then null else totp_secret end
			where id = $1`, id, dn, em, ph, org, s.cfg.Now(), up.Unlock, up.ResetTOTP)
		if isFKViolation(err) {
			return notFoundf("organization %s", org)
		}
		if err != nil {
			return fmt.Errorf("accesscontrol: update user: %w", err)
		}
		if u, err = getUser(ctx, w, id); err != nil {
			return err
		}
		if org != old.OrgID {
			// Moving to another organization can shrink rights (contracts).
			w.revoked = append(w.revoked, RevokedNotice{UserID: id, Event: "user.update"})
		}
		return w.audit(ctx, c, audit.Entry{Type: "user.update", Details: changed})
	})
	return u, err
}

// DisableUser disables an account for good: its sessions end, its rights
// end with the next decision, its history stays. Needs user.manage.
func (s *Service) DisableUser(ctx context.Context, c Change, id string) error {
	if err := s.require(c.By, PermUserManage); err != nil {
		return err
	}
	if strings.TrimSpace(c.Reason) == "" {
		return invalidf("say why the account is disabled")
	}
	if id == c.By.UserID {
		return invalidf("you cannot disable your own account")
	}
	return s.write(ctx, func(w *wtx) error {
		now := s.cfg.Now()
		tag, err := w.Exec(ctx, `update access_users set disabled_at = $2, disabled_reason = $3, updated_at = $2
			where id = $1 and disabled_at is null`, id, now, c.Reason)
		if err != nil {
			return fmt.Errorf("accesscontrol: disable user: %w", err)
		}
		if tag.RowsAffected() == 0 {
			if _, err := getUser(ctx, w, id); err != nil {
				return err
			}
			return conflictf("user %s is already disabled", id)
		}
		if _, err := w.Exec(ctx, `update access_sessions set revoked_at = $2, revoke_reason = 'user disabled'
			where user_id = $1 and revoked_at is null`, id, now); err != nil {
			return fmt.Errorf("accesscontrol: disable user: %w", err)
		}
		w.revoked = append(w.revoked, RevokedNotice{UserID: id, Event: "user.disable"})
		return w.audit(ctx, c, audit.Entry{Type: "user.disable", Details: map[string]any{"user_id": id}})
	})
}

// ResetPassword sets a new password chosen by an administrator (or, when
// password is empty, a generated one-time password, returned), forces a
// change at the next login, lifts a lockout and ends the user's sessions.
// Needs user.manage.
func (s *Service) ResetPassword(ctx context.Context, c Change, id, password string) (string, error) {
	if err := s.require(c.By, PermUserManage); err != nil {
		return "", err
	}
	u, err := getUser(ctx, s.pool, id)
	if err != nil {
		return "", err
	}
	oneTime := ""
	if password == "" {
		oneTime = randomPassword()
		password = oneTime
	} else if err := s.checkNewPassword(u.Username, password); err != nil {
		return "", err
	}
	hash := s.hashPassword(password)
	err = s.tx(ctx, false, func(w *wtx) error {
		now := s.cfg.Now()
		if _, err := w.Exec(ctx, `update access_users set password_hash = $2, must_change_password = true, failed_logins = 0,
				locked_until = null, password_changed_at = $3, updated_at = $3 where id = $1`, id, hash, now); err != nil {
			return fmt.Errorf("accesscontrol: reset password: %w", err)
		}
		if _, err := w.Exec(ctx, `update access_sessions set revoked_at = $2, revoke_reason = 'password reset'
			where user_id = $1 and revoked_at is null`, id, now); err != nil {
			return fmt.Errorf("accesscontrol: reset password: %w", err)
		}
		w.revoked = append(w.revoked, RevokedNotice{UserID: id, Event: "user.password.reset"})
		return w.audit(ctx, c, audit.Entry{Type: "user.password.reset", Details: map[string]any{"user_id": id}})
	})
	if err != nil {
		return "", err
	}
	return oneTime, nil
}

// ---- roles ----

// ListRoles lists the roles with their permissions. Any authenticated
// principal may read them.
func (s *Service) ListRoles(ctx context.Context, by Principal) ([]Role, error) {
	if by.UserID == "" {
		return nil, ErrUnauthenticated
	}
	return queryRoles(ctx, s.pool)
}

// UpdateRole replaces a role's permissions. The admin role never gets
// footage permissions, the contractor role never playback or export.
// Needs grant.manage.
func (s *Service) UpdateRole(ctx context.Context, c Change, name string, perms []Permission) (Role, error) {
	if err := s.require(c.By, PermGrantManage); err != nil {
		return Role{}, err
	}
	if err := checkRolePermissions(name, perms); err != nil {
		return Role{}, err
	}
	if strings.TrimSpace(c.Reason) == "" {
		return Role{}, invalidf("say why the role changes")
	}
	ps := make([]string, 0, len(perms))
	for _, p := range perms {
		if !slices.Contains(ps, string(p)) {
			ps = append(ps, string(p))
		}
	}
	slices.Sort(ps)
	var r Role
	err := s.write(ctx, func(w *wtx) error {
		var old []string
		if err := w.QueryRow(ctx, "select permissions from access_roles where name = $1 for update", name).Scan(&old); errors.Is(err, pgx.ErrNoRows) {
			return notFoundf("role %q", name)
		} else if err != nil {
			return fmt.Errorf("accesscontrol: update role: %w", err)
		}
		if _, err := w.Exec(ctx, "update access_roles set permissions = $2, updated_at = $3 where name = $1", name, ps, s.cfg.Now()); err != nil {
			return fmt.Errorf("accesscontrol: update role: %w", err)
		}
		var removed []string
		for _, p := range old {
			if !slices.Contains(ps, p) {
				removed = append(removed, p)
			}
		}
		if len(removed) > 0 {
			rows, err := w.Query(ctx, "select distinct user_id::text from access_grants where role = $1 and revoked_at is null", name)
			if err != nil {
				return fmt.Errorf("accesscontrol: update role: %w", err)
			}
			users, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return fmt.Errorf("accesscontrol: update role: %w", err)
			}
			for _, u := range users {
				w.revoked = append(w.revoked, RevokedNotice{UserID: u, Event: "role.update"})
			}
		}
		roles, err := queryRoles(ctx, w)
		if err != nil {
			return err
		}
		for _, ro := range roles {
			if ro.Name == name {
				r = ro
			}
		}
		return w.audit(ctx, c, audit.Entry{Type: "role.update", Details: map[string]any{"role": name, "before": old, "after": ps, "removed": removed}})
	})
	return r, err
}

// ---- grants ----

// NewGrant describes a grant to create.
type NewGrant struct {
	UserID         string
	Role           string
	Scope          Scope
	NotBefore      *time.Time
	ExpiresAt      *time.Time
	AllowedHours   *HourRange
	MaxPlaybackAge time.Duration
}

// CreateGrant gives a user a role over a scope. The reason (c.Reason) is
// required; nobody can grant to themselves. Needs grant.manage.
func (s *Service) CreateGrant(ctx context.Context, c Change, in NewGrant) (Grant, error) {
	if err := s.require(c.By, PermGrantManage); err != nil {
		return Grant{}, err
	}
	if in.UserID == c.By.UserID {
		return Grant{}, deniedf("nobody can grant rights to themselves")
	}
	return s.createGrant(ctx, c, in)
}

func (s *Service) createGrant(ctx context.Context, c Change, in NewGrant) (Grant, error) {
	if err := validateGrant(in, c.Reason); err != nil {
		return Grant{}, err
	}
	if err := validID("user", in.UserID); err != nil {
		return Grant{}, err
	}
	var purposes []string
	for _, p := range in.Scope.Purposes {
		purposes = append(purposes, string(p))
	}
	var hf, ht *int
	if h := in.AllowedHours; h != nil {
		hf, ht = &h.From, &h.To
	}
	var g Grant
	err := s.write(ctx, func(w *wtx) error {
		var disabled bool
		if err := w.QueryRow(ctx, "select disabled_at is not null from access_users where id = $1", in.UserID).Scan(&disabled); errors.Is(err, pgx.ErrNoRows) {
			return notFoundf("user %s", in.UserID)
		} else if err != nil {
			return fmt.Errorf("accesscontrol: create grant: %w", err)
		}
		if disabled {
			return conflictf("user %s is disabled", in.UserID)
		}
		var by *string
		if c.By.UserID != "" {
			by = &c.By.UserID
		}
		err := w.QueryRow(ctx, `insert into access_grants (user_id, role, scope_all, sites, cameras, departments, purposes,
				not_before, expires_at, hours_from, hours_to, max_playback_age, granted_by, reason, created_at)
			values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, case when $12::bigint > 0 then make_interval(secs => $12::bigint) end, $13, $14, $15)
			returning `+strings.ReplaceAll(grantCols, "g.", ""),
			in.UserID, in.Role, in.Scope.All, nonNil(in.Scope.Sites), nonNil(in.Scope.Cameras), nonNil(in.Scope.Departments), nonNil(purposes),
			in.NotBefore, in.ExpiresAt, hf, ht, int64(in.MaxPlaybackAge/time.Second), by, c.Reason, s.cfg.Now()).Scan(
			&g.ID, &g.UserID, &g.Role, &g.Scope.All, &g.Scope.Sites, &g.Scope.Cameras, &g.Scope.Departments, &purposes,
			new(*time.Time), new(*time.Time), new(*int16), new(*int16), new(int64), &g.GrantedBy, &g.Reason, &g.CreatedAt,
			new(*time.Time), new(string), new(string))
		if isFKViolation(err) {
			return notFoundf("role %q", in.Role)
		}
		if err != nil {
			return fmt.Errorf("accesscontrol: create grant: %w", err)
		}
		g.Scope.Purposes, g.NotBefore, g.ExpiresAt, g.AllowedHours, g.MaxPlaybackAge = in.Scope.Purposes, in.NotBefore, in.ExpiresAt, in.AllowedHours, in.MaxPlaybackAge
		return w.audit(ctx, c, audit.Entry{Type: "grant.create", Details: grantDetails(g)})
	})
	return g, err
}

func nonNil(xs []string) []string {
	if xs == nil {
		return []string{}
	}
	return xs
}

func grantDetails(g Grant) map[string]any {
	d := map[string]any{"grant_id": g.ID, "user_id": g.UserID, "role": g.Role, "all": g.Scope.All,
		"sites": g.Scope.Sites, "cameras": g.Scope.Cameras, "departments": g.Scope.Departments, "purposes": g.Scope.Purposes}
	if g.NotBefore != nil {
		d["not_before"] = g.NotBefore.UTC().Format(time.RFC3339)
	}
	if g.ExpiresAt != nil {
		d["expires_at"] = g.ExpiresAt.UTC().Format(time.RFC3339)
	}
	if g.AllowedHours != nil {
		d["allowed_hours"] = fmt.Sprintf("%02d-%02d", g.AllowedHours.From, g.AllowedHours.To)
	}
	if g.MaxPlaybackAge > 0 {
		d["max_playback_age"] = g.MaxPlaybackAge.String()
	}
	return d
}

func validateGrant(in NewGrant, reason string) error {
	if strings.TrimSpace(reason) == "" {
		return invalidf("a grant needs a reason")
	}
	if in.Role == "" {
		return invalidf("a grant needs a role")
	}
	sc := in.Scope
	if !sc.All && len(sc.Sites)+len(sc.Cameras)+len(sc.Departments)+len(sc.Purposes) == 0 {
		return invalidf("the scope is empty (empty means none, not all): name sites, cameras, departments or purposes, or set All")
	}
	for _, xs := range [][]string{sc.Sites, sc.Cameras, sc.Departments} {
		if slices.Contains(xs, "") {
			return invalidf("empty name in the scope")
		}
	}
	for _, p := range sc.Purposes {
		if p.Label() == "" {
			return invalidf("unknown purpose %q", p)
		}
	}
	if in.NotBefore != nil && in.ExpiresAt != nil && !in.ExpiresAt.After(*in.NotBefore) {
		return invalidf("expires_at must be after not_before")
	}
	if h := in.AllowedHours; h != nil {
		if h.From < 0 || h.From > 23 || h.To < 1 || h.To > 24 || h.From == h.To {
			return invalidf("allowed hours must be From 0–23 and To 1–24, different")
		}
	}
	if in.MaxPlaybackAge < 0 || (in.MaxPlaybackAge > 0 && in.MaxPlaybackAge < time.Second) {
		return invalidf("max playback age must be at least a second, or zero for no limit")
	}
	return nil
}

// GrantFilter narrows ListGrants.
type GrantFilter struct {
	UserID         string
	IncludeRevoked bool
}

// ListGrants lists grants. Needs grant.manage, or asking for one's own.
func (s *Service) ListGrants(ctx context.Context, by Principal, f GrantFilter) ([]Grant, error) {
	if f.UserID != by.UserID {
		if err := s.require(by, PermGrantManage); err != nil {
			return nil, err
		}
	}
	where, args := []string{"true"}, []any{}
	if f.UserID != "" {
		if err := validID("user", f.UserID); err != nil {
			return nil, err
		}
		args = append(args, f.UserID)
		where = append(where, "g.user_id = $1")
	}
	if !f.IncludeRevoked {
		where = append(where, "g.revoked_at is null")
	}
	return queryGrants(ctx, s.pool, "where "+strings.Join(where, " and "), args...)
}

// RevokeGrant revokes a grant; it stops counting at the next decision and
// the user's open live views are told (SubjectRevoked). Needs grant.manage
// and a reason.
func (s *Service) RevokeGrant(ctx context.Context, c Change, id string) error {
	if err := s.require(c.By, PermGrantManage); err != nil {
		return err
	}
	if strings.TrimSpace(c.Reason) == "" {
		return invalidf("say why the grant is revoked")
	}
	if err := validID("grant", id); err != nil {
		return err
	}
	return s.write(ctx, func(w *wtx) error {
		var userID string
		var revoked *time.Time
		if err := w.QueryRow(ctx, "select user_id::text, revoked_at from access_grants where id = $1 for update", id).Scan(&userID, &revoked); errors.Is(err, pgx.ErrNoRows) {
			return notFoundf("grant %s", id)
		} else if err != nil {
			return fmt.Errorf("accesscontrol: revoke grant: %w", err)
		}
		if revoked != nil {
			return conflictf("grant %s is already revoked", id)
		}
		var by *string
		if c.By.UserID != "" {
			by = &c.By.UserID
		}
		if _, err := w.Exec(ctx, "update access_grants set revoked_at = $2, revoked_by = $3, revoke_reason = $4 where id = $1",
			id, s.cfg.Now(), by, c.Reason); err != nil {
			return fmt.Errorf("accesscontrol: revoke grant: %w", err)
		}
		w.revoked = append(w.revoked, RevokedNotice{UserID: userID, Event: "grant.revoke"})
		return w.audit(ctx, c, audit.Entry{Type: "grant.revoke", Details: map[string]any{"grant_id": id, "user_id": userID}})
	})
}

// ---- deny rules ----

// CreateDenyRule adds a deny rule. Needs grant.manage and a reason.
func (s *Service) CreateDenyRule(ctx context.Context, c Change, r DenyRule) (DenyRule, error) {
	if err := s.require(c.By, PermGrantManage); err != nil {
		return DenyRule{}, err
	}
	if r.Reason == "" {
		r.Reason = c.Reason
	}
	if strings.TrimSpace(r.Reason) == "" {
		return DenyRule{}, invalidf("a deny rule needs a reason")
	}
	if len(r.Cameras)+len(r.Sites)+len(r.Labels) == 0 {
		return DenyRule{}, invalidf("a deny rule must name cameras, sites or labels")
	}
	var perms []string
	for _, p := range r.Permissions {
		if !p.Valid() {
			return DenyRule{}, invalidf("unknown permission %q", p)
		}
		perms = append(perms, string(p))
	}
	for _, u := range r.Users {
		if err := validID("user", u); err != nil {
			return DenyRule{}, invalidf("deny rule names user %q", u)
		}
	}
	err := s.write(ctx, func(w *wtx) error {
		var by *string
		if c.By.UserID != "" {
			by = &c.By.UserID
		}
		err := w.QueryRow(ctx, `insert into access_deny_rules (cameras, sites, labels, users, roles, permissions, reason, created_by, created_at)
			values ($1, $2, $3, $4::uuid[], $5, $6, $7, $8, $9) returning id::text, created_at`,
			nonNil(r.Cameras), nonNil(r.Sites), nonNil(r.Labels), nonNil(r.Users), nonNil(r.Roles), nonNil(perms), r.Reason, by, s.cfg.Now()).Scan(&r.ID, &r.CreatedAt)
		if err != nil {
			return fmt.Errorf("accesscontrol: create deny rule: %w", err)
		}
		r.CreatedBy = c.By.UserID
		return w.audit(ctx, c, audit.Entry{Type: "grant.deny.create", Cameras: r.Cameras, Details: map[string]any{
			"deny_rule_id": r.ID, "sites": r.Sites, "labels": r.Labels, "users": r.Users, "roles": r.Roles, "permissions": perms}})
	})
	return r, err
}

// ListDenyRules lists the deny rules in force. Needs grant.manage.
func (s *Service) ListDenyRules(ctx context.Context, by Principal) ([]DenyRule, error) {
	if err := s.require(by, PermGrantManage); err != nil {
		return nil, err
	}
	return queryDenyRules(ctx, s.pool, "where revoked_at is null")
}

// RevokeDenyRule lifts a deny rule. Needs grant.manage and a reason.
func (s *Service) RevokeDenyRule(ctx context.Context, c Change, id string) error {
	if err := s.require(c.By, PermGrantManage); err != nil {
		return err
	}
	if strings.TrimSpace(c.Reason) == "" {
		return invalidf("say why the deny rule is lifted")
	}
	if err := validID("deny rule", id); err != nil {
		return err
	}
	return s.write(ctx, func(w *wtx) error {
		var by *string
		if c.By.UserID != "" {
			by = &c.By.UserID
		}
		tag, err := w.Exec(ctx, "update access_deny_rules set revoked_at = $2, revoked_by = $3, revoke_reason = $4 where id = $1 and revoked_at is null",
			id, s.cfg.Now(), by, c.Reason)
		if err != nil {
			return fmt.Errorf("accesscontrol: revoke deny rule: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return notFoundf("deny rule %s in force", id)
		}
		return w.audit(ctx, c, audit.Entry{Type: "grant.deny.revoke", Details: map[string]any{"deny_rule_id": id}})
	})
}

// ---- sessions ----

// SessionFilter narrows ListSessions.
type SessionFilter struct {
	UserID string
	// Open lists only sessions not revoked and not expired.
	Open bool
}

// ListSessions lists login sessions. Needs user.manage or session.manage,
// or asking for one's own.
func (s *Service) ListSessions(ctx context.Context, by Principal, f SessionFilter) ([]Session, error) {
	if f.UserID != by.UserID {
		if s.require(by, PermUserManage) != nil {
			if err := s.require(by, PermSessionManage); err != nil {
				return nil, err
			}
		}
	}
	where, args := []string{"true"}, []any{}
	if f.UserID != "" {
		if err := validID("user", f.UserID); err != nil {
			return nil, err
		}
		args = append(args, f.UserID)
		where = append(where, fmt.Sprintf("s.user_id = $%d", len(args)))
	}
	if f.Open {
		now := s.cfg.Now()
		args = append(args, now, now.Add(-s.cfg.SessionIdleTimeout))
		where = append(where, fmt.Sprintf("s.revoked_at is null and s.expires_at > $%d and s.last_seen_at > $%d", len(args)-1, len(args)))
	}
	return querySessions(ctx, s.pool, "where "+strings.Join(where, " and "), args...)
}

// RevokeSession ends a login session. Ending one's own needs nothing more;
// others' need user.manage or session.manage.
func (s *Service) RevokeSession(ctx context.Context, c Change, sessionID string) error {
	if err := validID("session", sessionID); err != nil {
		return err
	}
	var owner string
	if err := s.pool.QueryRow(ctx, "select user_id::text from access_sessions where id = $1", sessionID).Scan(&owner); errors.Is(err, pgx.ErrNoRows) {
		return notFoundf("session %s", sessionID)
	} else if err != nil {
		return fmt.Errorf("accesscontrol: revoke session: %w", err)
	}
	if owner != c.By.UserID {
		if s.require(c.By, PermUserManage) != nil {
			if err := s.require(c.By, PermSessionManage); err != nil {
				return err
			}
		}
	}
	if c.Reason == "" {
		c.Reason = "revoked"
	}
	return s.endSession(ctx, c, sessionID, "auth.session.revoke")
}
