package accesscontrol

import "slices"

// Permission is an explicit verb checked by Decide. Every gRPC method maps
// to exactly one of them (the table lives in control).
type Permission string

// The permissions.
const (
	PermLiveView        Permission = "live.view"
	PermPlaybackView    Permission = "playback.view"
	PermPTZControl      Permission = "ptz.control"
	PermSnapshotView    Permission = "snapshot.view"
	PermExportRequest   Permission = "export.request"
	PermExportApprove   Permission = "export.approve"
	PermDeviceRead      Permission = "device.read"
	PermDeviceDiscover  Permission = "device.discover"
	PermDeviceRegister  Permission = "device.register"
	PermDeviceConfigure Permission = "device.configure"
	PermHealthRead      Permission = "health.read"
	PermAlarmAck        Permission = "alarm.ack"
	PermAuditRead       Permission = "audit.read"
	PermAuditVerify     Permission = "audit.verify"
	PermReportRead      Permission = "report.read"
	PermUserManage      Permission = "user.manage"
	PermGrantManage     Permission = "grant.manage"
	PermContractManage  Permission = "contract.manage"
	PermRequestHandle   Permission = "request.handle"
	PermSessionManage   Permission = "session.manage"
	PermPolicyPublish   Permission = "policy.publish"
	// PermGrantApprove approves (or rejects) a grant or role change that
	// gives footage rights: the second pair of eyes (ROLES.md).
	PermGrantApprove Permission = "grant.approve"
)

// Permissions lists every permission, in a fixed order.
var Permissions = []Permission{
	PermLiveView, PermPlaybackView, PermPTZControl, PermSnapshotView, PermExportRequest, PermExportApprove,
	PermDeviceRead, PermDeviceDiscover, PermDeviceRegister, PermDeviceConfigure, PermHealthRead, PermAlarmAck,
	PermAuditRead, PermAuditVerify, PermReportRead, PermUserManage, PermGrantManage, PermContractManage,
	PermRequestHandle, PermSessionManage, PermPolicyPublish, PermGrantApprove,
}

type permInfo struct {
	bit permSet
	// camera: the permission is about one camera, so Decide needs the
	// resource and checks the grant's scope against it.
	camera bool
	// purpose: a purpose of viewing must be stated (footage permissions).
	purpose bool
	// footage: the permission shows footage (never for the admin role).
	footage bool
	// contractorForbidden: never allowed to contractor accounts, whatever
	// their roles say.
	contractorForbidden bool
	// approval: a grant or role change that gives it takes effect only
	// when a second person approves (footage, and approving itself).
	approval bool
}

type permSet uint32

var permInfos = func() map[Permission]permInfo {
	m := make(map[Permission]permInfo, len(Permissions))
	for i, p := range Permissions {
		m[p] = permInfo{bit: 1 << uint(i)}
	}
	set := func(f func(*permInfo), ps ...Permission) {
		for _, p := range ps {
			pi := m[p]
			f(&pi)
			m[p] = pi
		}
	}
	set(func(p *permInfo) { p.camera = true },
		PermLiveView, PermPlaybackView, PermPTZControl, PermSnapshotView, PermExportRequest, PermExportApprove,
		PermDeviceRead, PermDeviceConfigure, PermHealthRead, PermAlarmAck)
	set(func(p *permInfo) { p.purpose = true },
		PermLiveView, PermPlaybackView, PermSnapshotView, PermExportRequest, PermExportApprove)
	set(func(p *permInfo) { p.footage = true },
		PermLiveView, PermPlaybackView, PermSnapshotView, PermExportRequest, PermExportApprove, PermPTZControl)
	set(func(p *permInfo) { p.contractorForbidden = true },
		PermPlaybackView, PermExportRequest, PermExportApprove, PermGrantApprove)
	set(func(p *permInfo) { p.approval = true },
		PermLiveView, PermPlaybackView, PermSnapshotView, PermExportRequest, PermExportApprove, PermPTZControl, PermGrantApprove)
	return m
}()

// Valid reports whether p is a known permission.
func (p Permission) Valid() bool { _, ok := permInfos[p]; return ok }

// CameraScoped reports whether p is decided per camera (Decide needs a
// Resource naming the camera); the others are global.
func (p Permission) CameraScoped() bool { return permInfos[p].camera }

// PurposeRequired reports whether a purpose of viewing must be stated.
func (p Permission) PurposeRequired() bool { return permInfos[p].purpose }

// Footage reports whether p shows or moves footage or cameras' views.
func (p Permission) Footage() bool { return permInfos[p].footage }

// NeedsApproval reports whether a grant or role change that gives p takes
// effect only once a second person approves it: the footage permissions
// and grant.approve itself (so a single administrator can never make an
// approver either).
func (p Permission) NeedsApproval() bool { return permInfos[p].approval }

func setOf(ps []Permission) permSet {
	var s permSet
	for _, p := range ps {
		s |= permInfos[p].bit
	}
	return s
}

// Built-in role names. The roles are rows in the database; admins may edit
// their permissions (UpdateRole), within the invariants in ROLES.md.
const (
	RoleOperator   = "operator"
	RoleManager    = "manager"
	RolePolice     = "police"
	RoleTechnician = "technician"
	RoleContractor = "contractor"
	RoleAuditor    = "auditor"
	RoleAdmin      = "admin"
)

// BuiltinRoles lists the built-in roles.
var BuiltinRoles = []string{RoleOperator, RoleManager, RolePolice, RoleTechnician, RoleContractor, RoleAuditor, RoleAdmin}

// RoleForbids says why role may never hold p, or "" when it may. These are
// the separation-of-duties invariants of ROLES.md, checked when roles are
// edited, when grants are made and approved, and again when the snapshot
// is built (so rows written behind the service's back confer nothing):
//
//   - admin: no footage permission and no grant.approve — whoever manages
//     accounts and grants neither watches nor approves;
//   - auditor: no footage permission and no grant.approve — the auditor
//     checks the others and is not part of what is checked;
//   - contractor: never playback.view, export.* or grant.approve.
func RoleForbids(role string, p Permission) string {
	info := permInfos[p]
	switch role {
	case RoleAdmin:
		if info.footage || p == PermGrantApprove {
			return "administrators get no footage rights and approve nothing (separation of duties)"
		}
	case RoleAuditor:
		if info.footage || p == PermGrantApprove {
			return "auditors get no footage rights and approve nothing: they check the others"
		}
	case RoleContractor:
		if info.contractorForbidden {
			return "contractors never play back, export or approve"
		}
	}
	return ""
}

// sodRole reports whether holding role rules out footage rights for the
// same person (whatever other grants say).
func sodRole(role string) bool { return role == RoleAdmin || role == RoleAuditor }

func checkRolePermissions(role string, perms []Permission) error {
	for _, p := range perms {
		if !p.Valid() {
			return invalidf("unknown permission %q", p)
		}
		if why := RoleForbids(role, p); why != "" {
			return invalidf("the %s role may not have %s: %s", role, p, why)
		}
	}
	if slices.Contains(perms, "") {
		return invalidf("empty permission")
	}
	return nil
}
