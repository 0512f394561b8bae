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
	// interned scope names; the three maps share one number space
	camIDs, siteIDs, deptIDs map[string]int32
}

type snapUser struct {
	id, username, orgID string
	orgKind             OrgKind
	disabled            bool
	grants              []snapGrant // by value: one user's grants sit together in memory
}

// snapGrant is a grant compiled for Decide: names interned to small
// integers, purposes as a bit mask, times as unix nanoseconds.
type snapGrant struct {
	perms             permSet
	all               bool
	hasHours          bool
	hFrom, hTo        int8
	purposes          uint16 // bit per purpose (purposeBit)
	notBefore, expiry int64  // unix nanoseconds; open ends are min/max int64
	maxAge            int64  // nanoseconds; 0: no limit
	scope             idSet  // interned camera, site and department names
	id                string
	role              string
	purposeList       []Purpose
}

// idSet is a set of interned names, inline for the usual few.
type idSet struct {
	inl  [6]int32
	n    uint8
	more map[int32]struct{}
}

func (s *idSet) add(id int32) {
	if int(s.n) < len(s.inl) {
		s.inl[s.n] = id
		s.n++
		return
	}
	if s.more == nil {
		s.more = map[int32]struct{}{}
	}
	s.more[id] = struct{}{}
}

func (s *idSet) has(id int32) bool {
	if id == 0 {
		return false
	}
	for i := 0; i < int(s.n); i++ {
		if s.inl[i] == id {
			return true
		}
	}
	if s.more != nil {
		_, ok := s.more[id]
		return ok
	}
	return false
}

func purposeBit(p Purpose) uint16 {
	switch p {
	case PurposeCrimePrevention:
		return 1 << 0
	case PurposeFacilitySafety:
		return 1 << 1
	case PurposeTrafficEnforcement:
		return 1 << 2
	case PurposeTrafficInfo:
		return 1 << 3
	case PurposeDisasterResponse:
		return 1 << 4
	case PurposeSubjectRequest:
		return 1 << 5
	case PurposeMaintenance:
		return 1 << 6
	case PurposeOther:
		return 1 << 7
	}
	return 0
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
	var next int32
	intern := func(m map[string]int32, name string) int32 {
		if id, ok := m[name]; ok {
			return id
		}
		next++
		m[name] = next
		return next
	}
	s.camIDs, s.siteIDs, s.deptIDs = map[string]int32{}, map[string]int32{}, map[string]int32{}
	for _, g := range d.grants {
		u := s.users[g.UserID]
		if u == nil || g.RevokedAt != nil {
			continue
		}
		sg := snapGrant{
			id: g.ID, role: g.Role, perms: s.roles[g.Role], all: g.Scope.All, purposeList: g.Scope.Purposes,
			notBefore: math.MinInt64, expiry: math.MaxInt64, maxAge: int64(g.MaxPlaybackAge),
		}
		for _, c := range g.Scope.Cameras {
			sg.scope.add(intern(s.camIDs, c))
		}
		for _, x := range g.Scope.Sites {
			sg.scope.add(intern(s.siteIDs, x))
		}
		for _, x := range g.Scope.Departments {
			sg.scope.add(intern(s.deptIDs, x))
		}
		for _, p := range g.Scope.Purposes {
			sg.purposes |= purposeBit(p)
		}
		if h := g.AllowedHours; h != nil {
			sg.hasHours, sg.hFrom, sg.hTo = true, int8(h.From), int8(h.To)
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
	var camID, siteID, deptID int32
	resolved := false
	pbit := purposeBit(r.Purpose)
	best := -1
	d.Reason = ReasonNoGrant
	for i := range u.grants {
		g := &u.grants[i]
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
		if stage == 1 && g.hasHours {
			if hour < 0 {
				hour = now.In(s.loc).Hour()
			}
			if !(HourRange{From: int(g.hFrom), To: int(g.hTo)}).contains(hour) {
				reason = ReasonOutsideHours
			} else {
				stage = 2
			}
		} else if stage == 1 {
			stage = 2
		}
		if stage == 2 {
			if info.camera && !g.all && !resolved {
				camID, siteID, deptID, resolved = s.camIDs[r.CameraID], s.siteIDs[r.Site], s.deptIDs[r.Department], true
			}
			if !info.camera || g.all || g.scope.has(camID) || g.scope.has(siteID) || g.scope.has(deptID) {
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
			case pbit == 0, !g.all && g.purposes&pbit == 0:
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
			case nowN-r.FootageFrom.UnixNano() > g.maxAge:
				reason = ReasonFootageTooOld
			default:
				stage = 7
			}
		}
		if stage == 7 {
			d.Allowed, d.Reason, d.GrantID, d.DenyRuleID = true, ReasonGranted, g.id, ""
			if info.purpose && !g.all {
				d.Purposes = g.purposeList
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
				d.Purposes = g.purposeList
			}
		}
	}
	return d
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
	for i := range u.grants {
		g := &u.grants[i]
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
	for i := range u.grants {
		g := &u.grants[i]
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
