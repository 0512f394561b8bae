package accesscontrol

import (
	"context"
	"fmt"
	"hash/maphash"
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
	users     map[string]snapUser
	roles     map[string]permSet
	contracts map[string][]*snapContract // by org id
	// deny rules indexed by what they match
	denyByCamera map[string][]*snapDeny
	denyBySite   map[string][]*snapDeny
	denyByLabel  map[string][]*snapDeny
	loc          *time.Location
	hasDenies    bool
	// seeds of the scope name hashes, one per kind
	seedCam, seedSite, seedDept maphash.Seed
}

// snapUser is kept by value in the users map, next to its key.
type snapUser struct {
	orgID    string
	orgKind  OrgKind
	disabled bool
	anyPerms permSet     // union of the permissions of all grants
	gperms   []permSet   // per grant, scanned first: one cache line for ten grants
	grants   []snapGrant // hot part, by value, in the same order
	cold     []grantCold // what is needed only to confirm or report
	// sod: the times of the user's admin and auditor grants, during which
	// no footage permission (nor grant.approve) is allowed whatever other
	// grants say (separation of duties).
	sod []span
}

// snapGrant is the hot part of a grant compiled for Decide: names hashed,
// purposes as a bit mask, times as unix nanoseconds.
type snapGrant struct {
	all               bool
	hasHours          bool
	hFrom, hTo        int8
	purposes          uint16 // bit per purpose (purposeBit)
	notBefore, expiry int64  // unix nanoseconds; open ends are min/max int64
	maxAge            int64  // nanoseconds; 0: no limit
	scope             hashSet
}

type span struct{ from, to int64 }

type grantCold struct {
	id, role           string
	purposes           []Purpose
	cams, sites, depts []string
}

// hashSet holds hashes of a grant's camera, site and department names
// (one seed per kind), inline for the usual few. A hash match is confirmed
// against the names themselves, so collisions cannot widen a scope.
type hashSet struct {
	inl  [6]uint64
	n    uint8
	more map[uint64]struct{}
}

func (h *hashSet) add(x uint64) {
	if int(h.n) < len(h.inl) {
		h.inl[h.n] = x
		h.n++
		return
	}
	if h.more == nil {
		h.more = map[uint64]struct{}{}
	}
	h.more[x] = struct{}{}
}

func (h *hashSet) has(x uint64) bool {
	for i := 0; i < int(h.n); i++ {
		if h.inl[i] == x {
			return true
		}
	}
	if h.more != nil {
		_, ok := h.more[x]
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
		users:        make(map[string]snapUser, len(d.users)),
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
		// Defence in depth: a permission a role may never hold (a row
		// edited behind the service's back) confers nothing.
		var ps []Permission
		for _, p := range r.Permissions {
			if RoleForbids(r.Name, p) == "" {
				ps = append(ps, p)
			}
		}
		s.roles[r.Name] = setOf(ps)
	}
	s.seedCam, s.seedSite, s.seedDept = maphash.MakeSeed(), maphash.MakeSeed(), maphash.MakeSeed()
	users := make(map[string]*snapUser, len(d.users))
	for _, u := range d.users {
		users[u.ID] = &snapUser{orgID: u.OrgID, orgKind: kinds[u.OrgID], disabled: u.Disabled}
	}
	for _, g := range d.grants {
		u := users[g.UserID]
		if u == nil || g.RevokedAt != nil || g.Status != GrantActive {
			continue // pending and rejected grants confer nothing
		}
		sg := snapGrant{all: g.Scope.All, notBefore: math.MinInt64, expiry: math.MaxInt64, maxAge: int64(g.MaxPlaybackAge)}
		for _, c := range g.Scope.Cameras {
			sg.scope.add(maphash.String(s.seedCam, c))
		}
		for _, x := range g.Scope.Sites {
			sg.scope.add(maphash.String(s.seedSite, x))
		}
		for _, x := range g.Scope.Departments {
			sg.scope.add(maphash.String(s.seedDept, x))
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
		if sodRole(g.Role) {
			u.sod = append(u.sod, span{sg.notBefore, sg.expiry})
		}
		perms := s.roles[g.Role]
		u.anyPerms |= perms
		u.gperms = append(u.gperms, perms)
		u.grants = append(u.grants, sg)
		u.cold = append(u.cold, grantCold{id: g.ID, role: g.Role, purposes: g.Scope.Purposes,
			cams: g.Scope.Cameras, sites: g.Scope.Sites, depts: g.Scope.Departments})
	}
	for id, u := range users {
		s.users[id] = *u
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
		s.hasDenies = true
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
// enrollment pending); contractors never get playback or export; holders
// of an admin or auditor grant in force never get footage permissions or
// grant.approve (separation of duties); camera
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
	u, ok := s.users[p.UserID]
	switch {
	case !ok:
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
		if r.CameraID == "" && !r.AllCameras {
			d.Reason = ReasonCameraRequired
			return d
		}
		if id := s.denyFor(p.UserID, "", info.bit, r); id != "" {
			d.Reason, d.DenyRuleID = ReasonDenyRule, id
			return d
		}
	}
	d.Reason = ReasonNoGrant
	if u.anyPerms&info.bit == 0 {
		return d
	}
	nowN := now.UnixNano()
	if info.approval && separated(u.sod, nowN) {
		d.Reason = ReasonSeparation
		return d
	}
	hour := -1
	var hc, hs, hd uint64
	hashed := false
	pbit := purposeBit(r.Purpose)
	best := -1
	for i, gp := range u.gperms {
		if gp&info.bit == 0 {
			continue
		}
		g := &u.grants[i]
		stage, reason := 0, ReasonGranted
		switch {
		case nowN < g.notBefore:
			reason = ReasonNotYetValid
		case nowN >= g.expiry:
			reason = ReasonExpired
		default:
			stage = 1
		}
		if stage == 1 {
			if g.hasHours {
				if hour < 0 {
					hour = now.In(s.loc).Hour()
				}
				if (HourRange{From: int(g.hFrom), To: int(g.hTo)}).contains(hour) {
					stage = 2
				} else {
					reason = ReasonOutsideHours
				}
			} else {
				stage = 2
			}
		}
		if stage == 2 {
			if !info.camera || g.all {
				stage = 3
			} else if r.AllCameras {
				reason = ReasonOutOfScope
			} else {
				if !hashed {
					hc, hs, hd, hashed = maphash.String(s.seedCam, r.CameraID), maphash.String(s.seedSite, r.Site), maphash.String(s.seedDept, r.Department), true
				}
				c := &u.cold[i]
				if (g.scope.has(hc) && slices.Contains(c.cams, r.CameraID)) ||
					(r.Site != "" && g.scope.has(hs) && slices.Contains(c.sites, r.Site)) ||
					(r.Department != "" && g.scope.has(hd) && slices.Contains(c.depts, r.Department)) {
					stage = 3
				} else {
					reason = ReasonOutOfScope
				}
			}
		}
		if stage == 3 {
			if !contractor || s.contractCovers(u.orgID, info.camera, r.Site, nowN) {
				stage = 4
			} else {
				reason = ReasonNoContract
			}
		}
		denyID := ""
		if stage == 4 {
			if info.camera && s.hasDenies {
				denyID = s.denyFor(p.UserID, u.cold[i].role, info.bit, r)
			}
			if denyID != "" {
				reason = ReasonDenyRule
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
		if stage == 7 || stage > best {
			best, d.Reason, d.GrantID, d.DenyRuleID, d.Purposes = stage, reason, u.cold[i].id, denyID, nil
			if info.purpose && !g.all {
				d.Purposes = u.cold[i].purposes
			}
			if stage == 7 {
				d.Allowed = true
				return d
			}
		}
	}
	return d
}

// separated reports whether one of the spans (a user's admin and auditor
// grants) covers now.
func separated(sod []span, now int64) bool {
	for _, sp := range sod {
		if now >= sp.from && now < sp.to {
			return true
		}
	}
	return false
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
func (s *snapshot) denyFor(userID, role string, bit permSet, r Resource) string {
	if !s.hasDenies {
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
			if !d.users.empty() && !d.users.has(userID) {
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
	n := now.UnixNano()
	var roles []string
	for i := range u.grants {
		g := &u.grants[i]
		if role := u.cold[i].role; n >= g.notBefore && n < g.expiry && !slices.Contains(roles, role) {
			roles = append(roles, role)
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
	u, found := snap.users[p.UserID]
	if !ok || !found || u.disabled || p.MustChangePassword || p.MustEnrollTOTP {
		return false
	}
	if u.orgKind == OrgContractor && info.contractorForbidden {
		return false
	}
	n := now.UnixNano()
	if info.approval && separated(u.sod, n) {
		return false
	}
	for i := range u.grants {
		g := &u.grants[i]
		if u.gperms[i]&info.bit != 0 && n >= g.notBefore && n < g.expiry {
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
	if d.grants, err = queryGrants(ctx, tx, "where g.revoked_at is null and g.status = 'active'"); err != nil {
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
