package accesscontrol

import "time"

// OrgKind is the kind of an organization.
type OrgKind string

// Organization kinds.
const (
	OrgDepartment OrgKind = "department" // a department of the municipality
	OrgPolice     OrgKind = "police"     // a police unit
	OrgContractor OrgKind = "contractor" // a contractor (수탁업체) company
)

// Org is an organization users belong to.
type Org struct {
	ID        string
	Kind      OrgKind
	Name      string
	CreatedAt time.Time
}

// User is one person's account. Secrets (password hash, TOTP secret) are
// never part of it.
type User struct {
	ID                 string
	Username           string
	DisplayName        string
	Email              string
	Phone              string
	OrgID              string
	OrgKind            OrgKind
	MustChangePassword bool
	TOTPEnabled        bool
	LockedUntil        *time.Time
	LastLoginAt        *time.Time
	Disabled           bool
	DisabledAt         *time.Time
	DisabledReason     string
	CreatedAt          time.Time
	UpdatedAt          time.Time
}

// Role is a named set of permissions.
type Role struct {
	Name        string
	Description string
	Permissions []Permission
	BuiltIn     bool
	UpdatedAt   time.Time
}

// Scope is what a grant covers. Empty lists mean none, not all; All covers
// every camera and every purpose. A camera is in scope when its id, its site
// or its department is listed. Purposes limits which purposes of viewing may
// be stated under the grant (empty: none, so footage permissions need them).
type Scope struct {
	All         bool
	Sites       []string
	Cameras     []string
	Departments []string
	Purposes    []Purpose
}

// HourRange is a window of hours of the day, [From, To), in the configured
// time zone. From > To wraps past midnight (22–6).
type HourRange struct {
	From int // 0–23
	To   int // 1–24
}

func (h HourRange) contains(hour int) bool {
	if h.From < h.To {
		return hour >= h.From && hour < h.To
	}
	return hour >= h.From || hour < h.To
}

// GrantStatus is where a grant stands in the four-eyes process.
type GrantStatus string

// Grant statuses. Only active grants count in Decide.
const (
	// GrantPending: the grant gives footage rights (or grant.approve) and
	// waits for a second person's approval; it confers nothing.
	GrantPending GrantStatus = "pending"
	// GrantActive: in force (within its times), approved when it had to be.
	GrantActive GrantStatus = "active"
	// GrantRejected: the approver refused it; it never counts.
	GrantRejected GrantStatus = "rejected"
)

// Grant gives a user a role over a scope for a time.
type Grant struct {
	ID     string
	UserID string
	Role   string
	Scope  Scope
	// NotBefore and ExpiresAt bound the grant; nil is open.
	NotBefore *time.Time
	ExpiresAt *time.Time
	// AllowedHours, when set, limits the grant to those hours of each day.
	AllowedHours *HourRange
	// MaxPlaybackAge, when > 0, limits how far back playback.view and
	// export.request may look (Resource.FootageFrom).
	MaxPlaybackAge time.Duration
	GrantedBy      string
	Reason         string
	CreatedAt      time.Time
	RevokedAt      *time.Time
	RevokedBy      string
	RevokeReason   string
	// Status: pending until approved when the role gives footage rights.
	Status GrantStatus
	// DecidedBy, DecidedAt and DecideReason record the approval or
	// rejection of a pending grant.
	DecidedBy    string
	DecidedAt    *time.Time
	DecideReason string
}

// RoleChangeStatus is where a role change stands.
type RoleChangeStatus string

// Role change statuses.
const (
	RoleChangePending  RoleChangeStatus = "pending"
	RoleChangeApproved RoleChangeStatus = "approved"
	RoleChangeRejected RoleChangeStatus = "rejected"
)

// RoleChange is the part of a role edit that adds footage permissions (or
// grant.approve): it waits for a second person's approval.
type RoleChange struct {
	ID             string
	Role           string
	AddPermissions []Permission
	RequestedBy    string
	Reason         string
	CreatedAt      time.Time
	Status         RoleChangeStatus
	DecidedBy      string
	DecidedAt      *time.Time
	DecideReason   string
}

// DenyRule forbids permissions on matching cameras; it wins over grants.
// A camera matches when its id, site or one of its labels is listed. The
// rule applies to the listed users and roles (both empty: everyone; a role
// matches when the grant that would allow uses it) and the listed
// permissions (empty: every camera permission).
type DenyRule struct {
	ID          string
	Cameras     []string
	Sites       []string
	Labels      []string
	Users       []string
	Roles       []string
	Permissions []Permission
	Reason      string
	CreatedBy   string
	CreatedAt   time.Time
	RevokedAt   *time.Time
}

// Clauses are the five items a CCTV outsourcing contract must contain
// (개인정보 보호법 시행령 제26조 / 영상정보처리기기 위탁 계약 사항).
type Clauses struct {
	// PurposeAndScope: 위탁하는 사무의 목적 및 범위.
	PurposeAndScope string
	// SubcontractingRestriction: 재위탁 제한에 관한 사항.
	SubcontractingRestriction string
	// AccessRestrictionAndSafeguards: 영상정보에 대한 접근 제한 등 안전성 확보 조치.
	AccessRestrictionAndSafeguards string
	// Inspection: 영상정보의 관리 현황 점검에 관한 사항.
	Inspection string
	// Liability: 위반 시 손해배상 등 책임에 관한 사항.
	Liability string
}

// Contract is a contractor company's outsourcing contract. It is live from
// StartsAt until the earlier of EndsAt and EndedAt.
type Contract struct {
	ID           string
	OrgID        string
	Title        string
	Sites        []string
	StartsAt     time.Time
	EndsAt       time.Time
	ContactName  string
	ContactPhone string
	Clauses      Clauses
	EndedAt      *time.Time
	EndReason    string
	CreatedBy    string
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// LiveAt reports whether the contract is in force at t.
func (c Contract) LiveAt(t time.Time) bool {
	if t.Before(c.StartsAt) || !t.Before(c.EndsAt) {
		return false
	}
	return c.EndedAt == nil || t.Before(*c.EndedAt)
}

// Session is a login session (never its token).
type Session struct {
	ID           string
	UserID       string
	Username     string
	ClientAddr   string
	CreatedAt    time.Time
	LastSeenAt   time.Time
	ExpiresAt    time.Time
	RevokedAt    *time.Time
	RevokeReason string
}

// Principal is an authenticated caller, as Authenticate returns it.
type Principal struct {
	UserID    string
	Username  string
	OrgID     string
	OrgKind   OrgKind
	SessionID string
	// Roles are the roles of the user's grants in force when authenticated
	// (informational: Decide reads the live snapshot, not this).
	Roles []string
	// MustChangePassword and MustEnrollTOTP restrict the session: Decide
	// denies every permission until the password is changed (ChangePassword)
	// or TOTP enrolled (BeginTOTP/ConfirmTOTP).
	MustChangePassword bool
	MustEnrollTOTP     bool
	ClientAddr         string
}

// Resource is what a decision is about: a camera (its facts come from the
// device registry) or nothing for global permissions. Purpose and
// FootageFrom describe the request itself.
type Resource struct {
	CameraID   string
	Site       string
	Department string
	Labels     []string
	// Purpose is the stated purpose of viewing; needed for permissions
	// whose PurposeRequired is true.
	Purpose Purpose
	// FootageFrom is the oldest footage time asked for (playback, export);
	// checked against a grant's MaxPlaybackAge.
	FootageFrom time.Time
	// AllCameras: the resource concerns every camera rather than one (an
	// alarm about a recorder node or the system), with CameraID empty. A
	// camera permission is then allowed only by a grant whose scope is
	// all, and never to a contractor (no contract covers every site).
	AllCameras bool
}

// Reason is why a decision came out as it did.
type Reason string

// Decision reasons. When several grants fail, the reason of the grant that
// got furthest through the checks is reported.
const (
	ReasonGranted            Reason = "granted"
	ReasonUnknownPermission  Reason = "unknown_permission"
	ReasonUnknownUser        Reason = "unknown_user"
	ReasonUserDisabled       Reason = "user_disabled"
	ReasonPasswordChange     Reason = "password_change_required"
	ReasonTOTPEnrollment     Reason = "totp_enrollment_required"
	ReasonContractorForbid   Reason = "contractor_forbidden"
	ReasonCameraRequired     Reason = "camera_required"
	ReasonNoGrant            Reason = "no_grant"
	ReasonNotYetValid        Reason = "grant_not_yet_valid"
	ReasonExpired            Reason = "grant_expired"
	ReasonOutsideHours       Reason = "outside_allowed_hours"
	ReasonOutOfScope         Reason = "out_of_scope"
	ReasonNoContract         Reason = "no_live_contract"
	ReasonDenyRule           Reason = "deny_rule"
	ReasonPurposeRequired    Reason = "purpose_required"
	ReasonPurposeNotAllowed  Reason = "purpose_not_allowed"
	ReasonFootageTooOld      Reason = "footage_too_old"
	ReasonFootageTimeMissing Reason = "footage_time_required"
	// ReasonSeparation: the user holds the admin or auditor role, which
	// rules out footage rights whatever other grants say.
	ReasonSeparation Reason = "separation_of_duties"
)

// Decision is the answer of Decide.
type Decision struct {
	Allowed bool
	Reason  Reason
	// GrantID is the grant that allowed (or the one that came closest).
	GrantID string
	// DenyRuleID is set when a deny rule decided.
	DenyRuleID string
	// PurposeRequired: the permission needs a stated purpose of viewing.
	PurposeRequired bool
	// Purposes lists the purposes the matching grant accepts (nil with All).
	Purposes []Purpose
}
