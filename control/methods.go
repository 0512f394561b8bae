package control

import (
	"context"
	"fmt"
	"sort"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	ac "github.com/gwanje/gwanje/accesscontrol"
	gwanjev1 "github.com/gwanje/gwanje/proto/gwanje/v1"
)

// access says what a method needs before its handler runs. The interceptor
// hands the handler its method's entry (called), so handlers never restate
// the method or its permission.
type access struct {
	// method is the full method name (set when the entry is handed over).
	method string
	// public methods need no login (health, server info, login itself).
	public bool
	// perms: the caller must hold one of these (checked by the interceptor
	// for global permissions). Empty with public false: any logged-in user
	// (WhoAmI, Logout, ChangePassword), or a method whose handler lets a
	// user see their own records and otherwise needs a permission the
	// domain package checks (noted per method).
	perms []ac.Permission
	// camera: perms are about one camera; the interceptor only
	// authenticates and the handler decides with the camera in hand.
	camera bool
}

func need(p ...ac.Permission) access    { return access{perms: p} }
func needCamera(p ac.Permission) access { return access{perms: []ac.Permission{p}, camera: true} }
func loggedIn() access                  { return access{} }
func public() access                    { return access{public: true} }

// methods maps every gRPC method to what it needs. Default deny: a method
// missing here is refused, and New fails (checkMethodTable), so a test fails
// when an RPC has no entry.
var methods = map[string]access{
	healthpb.Health_Check_FullMethodName:                             public(),
	healthpb.Health_Watch_FullMethodName:                             public(),
	healthpb.Health_List_FullMethodName:                              public(),
	"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo":      public(),
	"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": public(),

	gwanjev1.SystemService_GetInfo_FullMethodName: public(),

	gwanjev1.AccessService_Login_FullMethodName:          public(),
	gwanjev1.AccessService_Logout_FullMethodName:         loggedIn(),
	gwanjev1.AccessService_WhoAmI_FullMethodName:         loggedIn(),
	gwanjev1.AccessService_ChangePassword_FullMethodName: loggedIn(),
	gwanjev1.AccessService_BeginTOTP_FullMethodName:      loggedIn(),
	gwanjev1.AccessService_ConfirmTOTP_FullMethodName:    loggedIn(),

	gwanjev1.AccessService_CreateOrganization_FullMethodName: need(ac.PermUserManage),
	gwanjev1.AccessService_ListOrganizations_FullMethodName:  need(ac.PermUserManage, ac.PermContractManage),
	gwanjev1.AccessService_CreateUser_FullMethodName:         need(ac.PermUserManage),
	gwanjev1.AccessService_GetUser_FullMethodName:            need(ac.PermUserManage),
	gwanjev1.AccessService_ListUsers_FullMethodName:          need(ac.PermUserManage, ac.PermGrantManage),
	gwanjev1.AccessService_UpdateUser_FullMethodName:         need(ac.PermUserManage),
	gwanjev1.AccessService_DisableUser_FullMethodName:        need(ac.PermUserManage),
	gwanjev1.AccessService_ResetPassword_FullMethodName:      need(ac.PermUserManage),
	gwanjev1.AccessService_ListRoles_FullMethodName:          loggedIn(), // roles and their permissions are not secret
	gwanjev1.AccessService_UpdateRole_FullMethodName:         need(ac.PermGrantManage),
	// Four eyes: role changes and grants that give footage rights wait for
	// someone with grant.approve (never the requester; checked by
	// accesscontrol).
	gwanjev1.AccessService_ListRoleChanges_FullMethodName:   need(ac.PermGrantManage, ac.PermGrantApprove),
	gwanjev1.AccessService_ApproveRoleChange_FullMethodName: need(ac.PermGrantApprove),
	gwanjev1.AccessService_RejectRoleChange_FullMethodName:  need(ac.PermGrantApprove),
	gwanjev1.AccessService_ApproveGrant_FullMethodName:      need(ac.PermGrantApprove),
	gwanjev1.AccessService_RejectGrant_FullMethodName:       need(ac.PermGrantApprove),
	gwanjev1.AccessService_CreateGrant_FullMethodName:       need(ac.PermGrantManage),
	// Own grants for anyone; others' (and the pending ones) need grant.manage
	// or grant.approve (checked by accesscontrol).
	gwanjev1.AccessService_ListGrants_FullMethodName:     loggedIn(),
	gwanjev1.AccessService_RevokeGrant_FullMethodName:    need(ac.PermGrantManage),
	gwanjev1.AccessService_CreateDenyRule_FullMethodName: need(ac.PermGrantManage),
	gwanjev1.AccessService_ListDenyRules_FullMethodName:  need(ac.PermGrantManage),
	gwanjev1.AccessService_RevokeDenyRule_FullMethodName: need(ac.PermGrantManage),
	gwanjev1.AccessService_CreateContract_FullMethodName: need(ac.PermContractManage),
	gwanjev1.AccessService_ListContracts_FullMethodName:  need(ac.PermContractManage),
	gwanjev1.AccessService_UpdateContract_FullMethodName: need(ac.PermContractManage),
	gwanjev1.AccessService_EndContract_FullMethodName:    need(ac.PermContractManage),
	// Own sessions for anyone; others' need user.manage or session.manage
	// (checked by accesscontrol).
	gwanjev1.AccessService_ListSessions_FullMethodName:  loggedIn(),
	gwanjev1.AccessService_RevokeSession_FullMethodName: loggedIn(),

	gwanjev1.AuditService_QueryEntries_FullMethodName:    need(ac.PermAuditRead),
	gwanjev1.AuditService_Verify_FullMethodName:          need(ac.PermAuditVerify),
	gwanjev1.AuditService_GetPublicKey_FullMethodName:    need(ac.PermAuditVerify),
	gwanjev1.AuditService_GetLedger_FullMethodName:       need(ac.PermAuditRead),
	gwanjev1.AuditService_GetAccessReview_FullMethodName: need(ac.PermAuditRead),

	gwanjev1.DeviceService_CreateSite_FullMethodName:            need(ac.PermDeviceRegister),
	gwanjev1.DeviceService_UpdateSite_FullMethodName:            need(ac.PermDeviceRegister),
	gwanjev1.DeviceService_ListSites_FullMethodName:             loggedIn(), // site names and addresses are public (signage, open data)
	gwanjev1.DeviceService_Discover_FullMethodName:              need(ac.PermDeviceDiscover),
	gwanjev1.DeviceService_RegisterCamera_FullMethodName:        need(ac.PermDeviceRegister),
	gwanjev1.DeviceService_CreateCamera_FullMethodName:          need(ac.PermDeviceRegister),
	gwanjev1.DeviceService_GetCamera_FullMethodName:             needCamera(ac.PermDeviceRead),
	gwanjev1.DeviceService_ListCameras_FullMethodName:           needCamera(ac.PermDeviceRead),
	gwanjev1.DeviceService_UpdateCamera_FullMethodName:          needCamera(ac.PermDeviceConfigure),
	gwanjev1.DeviceService_DecommissionCamera_FullMethodName:    needCamera(ac.PermDeviceConfigure),
	gwanjev1.DeviceService_BatchUpdateCameras_FullMethodName:    needCamera(ac.PermDeviceConfigure), // decided on every camera
	gwanjev1.DeviceService_ImportOpenData_FullMethodName:        need(ac.PermDeviceRegister),
	gwanjev1.DeviceService_ExportOpenData_FullMethodName:        need(ac.PermReportRead),
	gwanjev1.DeviceService_GetInstallationReport_FullMethodName: need(ac.PermReportRead),
	gwanjev1.DeviceService_GetClock_FullMethodName:              needCamera(ac.PermDeviceRead),
	gwanjev1.DeviceService_FixClock_FullMethodName:              needCamera(ac.PermDeviceConfigure),
	gwanjev1.DeviceService_RebootCamera_FullMethodName:          needCamera(ac.PermDeviceConfigure),
	gwanjev1.DeviceService_GetSnapshot_FullMethodName:           needCamera(ac.PermSnapshotView),
	gwanjev1.DeviceService_ControlPTZ_FullMethodName:            needCamera(ac.PermPTZControl),

	gwanjev1.StreamService_StartLiveView_FullMethodName: needCamera(ac.PermLiveView),
	// One's own views for anyone; others' need session.manage on the camera
	// (checked by the handler).
	gwanjev1.StreamService_StopLiveView_FullMethodName: loggedIn(),
	// One's own WebRTC views; the handler re-decides live.view on the
	// view's camera with the view's purpose.
	gwanjev1.StreamService_SwitchLiveProfile_FullMethodName: loggedIn(),
	// One's own views; all in scope with session.manage or audit.read.
	gwanjev1.StreamService_ListLiveSessions_FullMethodName: loggedIn(),

	gwanjev1.HealthService_WatchEvents_FullMethodName:      needCamera(ac.PermHealthRead),
	gwanjev1.HealthService_ListAlarms_FullMethodName:       needCamera(ac.PermHealthRead),
	gwanjev1.HealthService_AcknowledgeAlarm_FullMethodName: needCamera(ac.PermAlarmAck),
	gwanjev1.HealthService_GetAvailability_FullMethodName:  needCamera(ac.PermHealthRead),

	// The published policy is public; drafts show what is about to be.
	gwanjev1.PolicyService_DraftPolicy_FullMethodName:               need(ac.PermPolicyPublish, ac.PermReportRead),
	gwanjev1.PolicyService_PublishPolicy_FullMethodName:             need(ac.PermPolicyPublish),
	gwanjev1.PolicyService_ListPolicyVersions_FullMethodName:        loggedIn(),
	gwanjev1.PolicyService_GetInstitutionSettings_FullMethodName:    need(ac.PermPolicyPublish, ac.PermReportRead),
	gwanjev1.PolicyService_UpdateInstitutionSettings_FullMethodName: need(ac.PermPolicyPublish),
	gwanjev1.PolicyService_ImportPolicyHistory_FullMethodName:       need(ac.PermPolicyPublish),

	gwanjev1.RecordingService_ListRecordings_FullMethodName: needCamera(ac.PermDeviceRead),
	gwanjev1.RecordingService_StartPlayback_FullMethodName:  needCamera(ac.PermPlaybackView),
	// Holding footage is the managers' case handling; the handler checks the
	// cameras are in their scope.
	gwanjev1.RecordingService_CreateHold_FullMethodName:  need(ac.PermRequestHandle),
	gwanjev1.RecordingService_ReleaseHold_FullMethodName: need(ac.PermRequestHandle),
	gwanjev1.RecordingService_ListHolds_FullMethodName:   need(ac.PermRequestHandle, ac.PermAuditRead),

	// Subject requests are the managers' (request.handle); provisions are
	// decided per camera by privacy/requests (export.request to ask,
	// export.approve by another person to approve).
	gwanjev1.PrivacyService_OpenSubjectRequest_FullMethodName:         need(ac.PermRequestHandle),
	gwanjev1.PrivacyService_GetSubjectRequest_FullMethodName:          need(ac.PermRequestHandle),
	gwanjev1.PrivacyService_ListSubjectRequests_FullMethodName:        need(ac.PermRequestHandle),
	gwanjev1.PrivacyService_DecideSubjectRequest_FullMethodName:       need(ac.PermRequestHandle),
	gwanjev1.PrivacyService_GrantDeletion_FullMethodName:              need(ac.PermRequestHandle),
	gwanjev1.PrivacyService_CloseSubjectRequest_FullMethodName:        need(ac.PermRequestHandle),
	gwanjev1.PrivacyService_CopyForRequester_FullMethodName:           need(ac.PermRequestHandle),
	gwanjev1.PrivacyService_RequestProvision_FullMethodName:           needCamera(ac.PermExportRequest),
	gwanjev1.PrivacyService_GetProvision_FullMethodName:               needCamera(ac.PermExportRequest),
	gwanjev1.PrivacyService_ApproveProvision_FullMethodName:           needCamera(ac.PermExportApprove),
	gwanjev1.PrivacyService_RejectProvision_FullMethodName:            needCamera(ac.PermExportApprove),
	gwanjev1.PrivacyService_RecordProvisionLetter_FullMethodName:      needCamera(ac.PermExportRequest),
	gwanjev1.PrivacyService_ExportProvision_FullMethodName:            needCamera(ac.PermExportRequest),
	gwanjev1.PrivacyService_RecordProvisionOutcome_FullMethodName:     needCamera(ac.PermExportRequest),
	gwanjev1.PrivacyService_RecordRecipientDestruction_FullMethodName: needCamera(ac.PermExportRequest),
	gwanjev1.PrivacyService_CloseProvision_FullMethodName:             needCamera(ac.PermExportApprove),
	gwanjev1.PrivacyService_GetProvisionRegister_FullMethodName:       need(ac.PermReportRead),
}

// checkMethodTable fails when a registered method has no entry in table,
// or when an entry is inconsistent: a camera-scoped entry must name exactly
// one permission and it must be decided per camera (ac.Permission.
// CameraScoped), and every permission must exist.
func checkMethodTable(srv *grpc.Server, table map[string]access) error {
	var missing, bad []string
	for svc, info := range srv.GetServiceInfo() {
		for _, m := range info.Methods {
			full := "/" + svc + "/" + m.Name
			if _, ok := table[full]; !ok {
				missing = append(missing, full)
			}
		}
	}
	for full, a := range table {
		for _, p := range a.perms {
			if !p.Valid() {
				bad = append(bad, fmt.Sprintf("%s: unknown permission %q", full, p))
			}
		}
		if a.camera && (len(a.perms) != 1 || !a.perms[0].CameraScoped()) {
			bad = append(bad, fmt.Sprintf("%s: camera-scoped with %v, which is not one camera-scoped permission", full, a.perms))
		}
	}
	sort.Strings(missing)
	sort.Strings(bad)
	switch {
	case len(missing) > 0:
		return fmt.Errorf("control: methods without an entry in the permission table: %v", missing)
	case len(bad) > 0:
		return fmt.Errorf("control: inconsistent permission table: %v", bad)
	}
	return nil
}

// perm is the permission a camera-scoped method decides on each camera.
func (a access) perm() ac.Permission {
	if len(a.perms) == 0 {
		return ""
	}
	return a.perms[0]
}

type accessKey struct{}

// withAccess hands a handler its method's entry of the permission table.
func withAccess(ctx context.Context, method string, a access) context.Context {
	a.method = method
	return context.WithValue(ctx, accessKey{}, a)
}

// called returns the permission-table entry of the method being served, as
// the interceptor handed it over.
func called(ctx context.Context) access {
	a, ok := ctx.Value(accessKey{}).(access)
	if !ok {
		panic("control: handler ran without its permission-table entry")
	}
	return a
}

// duringPasswordChange lists the only methods a session may call while its
// password must still be changed (a one-time password set by someone
// else): change it, see who one is, leave.
var duringPasswordChange = map[string]bool{
	gwanjev1.AccessService_ChangePassword_FullMethodName: true,
	gwanjev1.AccessService_WhoAmI_FullMethodName:         true,
	gwanjev1.AccessService_Logout_FullMethodName:         true,
}

var errChangePassword = statusError(codes.FailedPrecondition, gwanjev1.ReasonPasswordChangeRequired,
	"this account has a one-time password: change it first (gwanje passwd); until then the session can do nothing else")

// passwordGate refuses every method but those of duringPasswordChange to a
// session whose password must be changed. The refusal is audited.
func (s *Server) passwordGate(ctx context.Context, method string) error {
	p, ok := principalFrom(ctx)
	if !ok || !p.MustChangePassword || duringPasswordChange[method] {
		return nil
	}
	s.auditDenied(ctx, p, "access.denied", method, "", string(ac.ReasonPasswordChange))
	return errChangePassword
}
