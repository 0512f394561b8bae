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
)

// Permissions lists every permission, in a fixed order.
var Permissions = []Permission{
	PermLiveView, PermPlaybackView, PermPTZControl, PermSnapshotView, PermExportRequest, PermExportApprove,
	PermDeviceRead, PermDeviceDiscover, PermDeviceRegister, PermDeviceConfigure, PermHealthRead, PermAlarmAck,
	PermAuditRead, PermAuditVerify, PermReportRead, PermUserManage, PermGrantManage, PermContractManage,
	PermRequestHandle, PermSessionManage, PermPolicyPublish,
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
		PermPlaybackView, PermExportRequest, PermExportApprove)
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

func checkRolePermissions(role string, perms []Permission) error {
	for _, p := range perms {
		if !p.Valid() {
			return invalidf("unknown permission %q", p)
		}
		if role == RoleAdmin && p.Footage() {
			return invalidf("the admin role may not have %s: administrators get no footage rights (separation of duties)", p)
		}
		if role == RoleContractor && permInfos[p].contractorForbidden {
			return invalidf("the contractor role may not have %s: contractors never play back or export", p)
		}
	}
	if slices.Contains(perms, "") {
		return invalidf("empty permission")
	}
	return nil
}
