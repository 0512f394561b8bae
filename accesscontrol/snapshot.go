package accesscontrol

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// snapshot is an immutable view of everything Decide needs. It is rebuilt
// whole after a change and swapped in atomically; Decide never locks and
// never touches the database.
type snapshot struct {
	version   int64
	users     map[string]*snapUser
	roles     map[string]permSet
	contracts map[string][]*snapContract // by org id
	// deny rules indexed by what they match
	denyByCamera map[string][]*snapDeny
	denyBySite   map[string][]*snapDeny
	denyByLabel  map[string][]*snapDeny
	loc          *time.Location
}

type snapUser struct {
	id, username, orgID string
	orgKind             OrgKind
	disabled            bool
	grants              []*snapGrant
}

type snapGrant struct {
	id                string
	role              string
	perms             permSet
	all               bool
	sites             strSet
	cameras           strSet
	departments       strSet
	purposes          []Purpose
	notBefore, expiry int64 // unix nanoseconds; open ends are min/max int64
	hours             *HourRange
	maxAge            time.Duration
}

type snapContract struct {
	id       string
	from, to int64
	sites    strSet
}

type snapDeny struct {
	id    string
	users strSet
	roles strSet
	perms permSet // 0: every camera permission
}

// strSet is a set of strings tuned for the usually tiny sets of a grant.
type strSet struct {
	list []string
	m    map[string]struct{}
}

func newStrSet(xs []string) strSet {
	s := strSet{list: xs}
	if len(xs) > 8 {
		s.m = make(map[string]struct{}, len(xs))
		for _, x := range xs {
			s.m[x] = struct{}{}
		}
	}
	return s
}

func (s strSet) has(x string) bool {
	if x == "" {
		return false
	}
	if s.m != nil {
		_, ok := s.m[x]
		return ok
	}
	for _, y := range s.list {
		if y == x {
			return true
		}
	}
	return false
}

func (s strSet) empty() bool { return len(s.list) == 0 }

// snapshotData is the raw material of a snapshot.
type snapshotData struct {
	version   int64
	orgs      []Org
	users     []User
	roles     []Role
	grants    []Grant // in force or future; revoked ones are left out
	denies    []DenyRule
	contracts []Contract
}

func buildSnapshot(d snapshotData, loc *time.Location) *snapshot {
	s := &snapshot{
		version:      d.version,
		users:        make(map[string]*snapUser, len(d.users)),
		roles:        make(map[string]permSet, len(d.roles)),
		contracts:    map[string][]*snapContract{},
		denyByCamera: map[string][]*snapDeny{},
		denyBySite:   map[string][]*snapDeny{},
		denyByLabel:  map[string][]*snapDeny{},
		loc:          loc,
	}
	kinds := make(map[string]OrgKind, len(d.orgs))
	for _, o := range d.orgs {
		kinds[o.ID] = o.Kind
	}
	for _, r := range d.roles {
		s.roles[r.Name] = setOf(r.Permissions)
	}
	for _, u := range d.users {
		s.users[u.ID] = &snapUser{id: u.ID, username: u.Username, orgID: u.OrgID, orgKind: kinds[u.OrgID], disabled: u.Disabled}
	}
	for _, g := range d.grants {
		u := s.users[g.UserID]
		if u == nil || g.RevokedAt != nil {
			continue
		}
		sg := &snapGrant{
			id: g.ID, role: g.Role, perms: s.roles[g.Role], all: g.Scope.All,
			sites: newStrSet(g.Scope.Sites), cameras: newStrSet(g.Scope.Cameras), departments: newStrSet(g.Scope.Departments),
			purposes: g.Scope.Purposes, notBefore: math.MinInt64, expiry: math.MaxInt64,
			hours: g.AllowedHours, maxAge: g.MaxPlaybackAge,
		}
		if g.NotBefore != nil {
			sg.notBefore = g.NotBefore.UnixNano()
		}
		if g.ExpiresAt != nil {
			sg.expiry = g.ExpiresAt.UnixNano()
		}
		u.grants = append(u.grants, sg)
	}
	for _, c := range d.contracts {
		sc := &snapContract{id: c.ID, from: c.StartsAt.UnixNano(), to: c.EndsAt.UnixNano(), sites: newStrSet(c.Sites)}
		if c.EndedAt != nil && c.EndedAt.UnixNano() < sc.to {
			sc.to = c.EndedAt.UnixNano()
		}
		s.contracts[c.OrgID] = append(s.contracts[c.OrgID], sc)
	}
	for _, r := range d.denies {
		if r.RevokedAt != nil {
			continue
		}
		sd := &snapDeny{id: r.ID, users: newStrSet(r.Users), roles: newStrSet(r.Roles), perms: setOf(r.Permissions)}
		for _, c := range r.Cameras {
			s.denyByCamera[c] = append(s.denyByCamera[c], sd)
		}
		for _, x := range r.Sites {
			s.denyBySite[x] = append(s.denyBySite[x], sd)
		}
		for _, l := range r.Labels {
			s.denyByLabel[l] = append(s.denyByLabel[l], sd)
		}
	}
	return s
}

// Decide answers whether the principal may use the permission on the
// resource at now. It works on the in-memory snapshot only: no database, no
// locks, no allocation on the allow path.
//
// The checks, in order: the permission is known; the user exists and is not
// disabled; the session is not restricted (password change or TOTP
// enrollment pending); contractors never get playback or export; camera
// permissions need a camera; deny rules that apply to the user as a whole
// (no roles listed) win outright. Then each of the user's grants is tried:
// its role has the permission, it is in force (not_before, expires_at), the
// hour is allowed, the camera is in its scope, for contractors a live
// contract of their company covers the camera's site (or, for global
// permissions, any live contract exists), no role-specific deny rule
// matches, the stated purpose is one the grant accepts, and the footage is
// not older than its max playback age. The first grant that passes allows;
// otherwise the reason of the grant that got furthest is returned.
//
// Permissions with PurposeRequired are denied (ReasonPurposeRequired, with
// the acceptable Purposes) when Resource.Purpose is empty: callers ask the
// user for a purpose and decide again. Global permissions ignore the scope.
func (s *Service) Decide(p Principal, perm Permission, r Resource, now time.Time) Decision {
	return s.snap.Load().decide(p, perm, r, now)
}

func (s *snapshot) decide(p Principal, perm Permission, r Resource, now time.Time) Decision {
	info, ok := permInfos[perm]
	if !ok {
		return Decision{Reason: ReasonUnknownPermission}
	}
	d := Decision{PurposeRequired: info.purpose}
	u := s.users[p.UserID]
	switch {
	case u == nil:
		d.Reason = ReasonUnknownUser
		return d
	case u.disabled:
		d.Reason = ReasonUserDisabled
		return d
	case p.MustChangePassword:
		d.Reason = ReasonPasswordChange
		return d
	case p.MustEnrollTOTP:
		d.Reason = ReasonTOTPEnrollment
		return d
	}
	contractor := u.orgKind == OrgContractor
	if contractor && info.contractorForbidden {
		d.Reason = ReasonContractorForbid
		return d
	}
	if info.camera {
		if r.CameraID == "" {
			d.Reason = ReasonCameraRequired
			return d
		}
		if id := s.denyFor(u, "", info.bit, r); id != "" {
			d.Reason, d.DenyRuleID = ReasonDenyRule, id
			return d
		}
	}
	nowN := now.UnixNano()
	hour := -1
	best := -1
	d.Reason = ReasonNoGrant
	for _, g := range u.grants {
		if g.perms&info.bit == 0 {
			continue
		}
		stage, reason := 0, ReasonGranted
		switch {
		case nowN < g.notBefore:
			reason = ReasonNotYetValid
		case nowN >= g.expiry:
			reason = ReasonExpired
		default:
			stage = 1
		}
		if stage == 1 && g.hours != nil {
			if hour < 0 {
				hour = now.In(s.loc).Hour()
			}
			if !g.hours.contains(hour) {
				reason = ReasonOutsideHours
			} else {
				stage = 2
			}
		} else if stage == 1 {
			stage = 2
		}
		if stage == 2 {
			if !info.camera || g.inScope(r) {
				stage = 3
			} else {
				reason = ReasonOutOfScope
			}
		}
		if stage == 3 {
			if !contractor || s.contractCovers(u.orgID, info.camera, r.Site, nowN) {
				stage = 4
			} else {
				reason = ReasonNoContract
			}
		}
		if stage == 4 {
			if info.camera {
				if id := s.denyFor(u, g.role, info.bit, r); id != "" {
					reason, d.DenyRuleID = ReasonDenyRule, id
				} else {
					stage = 5
				}
			} else {
				stage = 5
			}
		}
		if stage == 5 {
			switch {
			case !info.purpose:
				stage = 6
			case r.Purpose == "":
				reason = ReasonPurposeRequired
			case r.Purpose.Label() == "", !g.all && !slices.Contains(g.purposes, r.Purpose):
				reason = ReasonPurposeNotAllowed
			default:
				stage = 6
			}
		}
		if stage == 6 {
			switch {
			case g.maxAge <= 0 || (perm != PermPlaybackView && perm != PermExportRequest):
				stage = 7
			case r.FootageFrom.IsZero():
				reason = ReasonFootageTimeMissing
			case nowN-r.FootageFrom.UnixNano() > int64(g.maxAge):
				reason = ReasonFootageTooOld
			default:
				stage = 7
			}
		}
		if stage == 7 {
			d.Allowed, d.Reason, d.GrantID, d.DenyRuleID = true, ReasonGranted, g.id, ""
			if info.purpose && !g.all {
				d.Purposes = g.purposes
			}
			return d
		}
		if stage > best {
			best, d.Reason, d.GrantID = stage, reason, g.id
			if reason != ReasonDenyRule {
				d.DenyRuleID = ""
			}
			d.Purposes = nil
			if info.purpose && !g.all {
				d.Purposes = g.purposes
			}
		}
	}
	return d
}

func (g *snapGrant) inScope(r Resource) bool {
	return g.all || g.cameras.has(r.CameraID) || g.sites.has(r.Site) || g.departments.has(r.Department)
}

func (s *snapshot) contractCovers(org string, camera bool, site string, now int64) bool {
	for _, c := range s.contracts[org] {
		if now < c.from || now >= c.to {
			continue
		}
		if !camera || c.sites.has(site) {
			return true
		}
	}
	return false
}

// denyFor returns the id of a deny rule matching the resource for this
// user and permission. With role == "" only rules that list no roles are
// considered; otherwise only rules that list that role.
func (s *snapshot) denyFor(u *snapUser, role string, bit permSet, r Resource) string {
	if len(s.denyByCamera)+len(s.denyBySite)+len(s.denyByLabel) == 0 {
		return ""
	}
	match := func(rules []*snapDeny) string {
		for _, d := range rules {
			if d.perms != 0 && d.perms&bit == 0 {
				continue
			}
			if role == "" {
				if !d.roles.empty() {
					continue
				}
			} else if !d.roles.has(role) {
				continue
			}
			if !d.users.empty() && !d.users.has(u.id) {
				continue
			}
			return d.id
		}
		return ""
	}
	if id := match(s.denyByCamera[r.CameraID]); id != "" {
		return id
	}
	if r.Site != "" {
		if id := match(s.denyBySite[r.Site]); id != "" {
			return id
		}
	}
	for _, l := range r.Labels {
		if id := match(s.denyByLabel[l]); id != "" {
			return id
		}
	}
	return ""
}

// rolesAt lists the roles of the user's grants in force at now.
func (s *snapshot) rolesAt(userID string, now time.Time) []string {
	u := s.users[userID]
	if u == nil {
		return nil
	}
	n := now.UnixNano()
	var roles []string
	for _, g := range u.grants {
		if n >= g.notBefore && n < g.expiry && !slices.Contains(roles, g.role) {
			roles = append(roles, g.role)
		}
	}
	slices.Sort(roles)
	return roles
}

// CanAny reports whether some camera or purpose exists for which the
// principal could be allowed perm now, ignoring scope, deny rules and
// purposes: for menus and early refusals, never for access itself.
func (s *Service) CanAny(p Principal, perm Permission, now time.Time) bool {
	snap := s.snap.Load()
	info, ok := permInfos[perm]
	u := snap.users[p.UserID]
	if !ok || u == nil || u.disabled || p.MustChangePassword || p.MustEnrollTOTP {
		return false
	}
	if u.orgKind == OrgContractor && info.contractorForbidden {
		return false
	}
	n := now.UnixNano()
	for _, g := range u.grants {
		if g.perms&info.bit != 0 && n >= g.notBefore && n < g.expiry {
			if u.orgKind == OrgContractor && !snap.contractCovers(u.orgID, false, "", n) {
				return false
			}
			return true
		}
	}
	return false
}

func (s *Service) loadSnapshot(ctx context.Context) (*snapshot, error) {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("accesscontrol: load snapshot: %w", err)
	}
	defer tx.Rollback(context.Background())
	var d snapshotData
	if err := tx.QueryRow(ctx, "select version from access_version").Scan(&d.version); err != nil {
		return nil, fmt.Errorf("accesscontrol: load snapshot: %w", err)
	}
	if d.orgs, err = queryOrgs(ctx, tx, ""); err != nil {
		return nil, err
	}
	if d.users, err = queryUsers(ctx, tx, "", nil); err != nil {
		return nil, err
	}
	if d.roles, err = queryRoles(ctx, tx); err != nil {
		return nil, err
	}
	if d.grants, err = queryGrants(ctx, tx, "where g.revoked_at is null"); err != nil {
		return nil, err
	}
	if d.denies, err = queryDenyRules(ctx, tx, "where revoked_at is null"); err != nil {
		return nil, err
	}
	if d.contracts, err = queryContracts(ctx, tx, ""); err != nil {
		return nil, err
	}
	return buildSnapshot(d, s.cfg.Location), nil
}
