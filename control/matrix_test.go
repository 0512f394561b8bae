package control

import (
	"maps"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	ac "github.com/gwanje/gwanje/accesscontrol"
	pb "github.com/gwanje/gwanje/proto/gwanje/v1"
)

// rolePerms is the built-in role table as the README's ROLES.md states it,
// written out here independently, so that a change to either shows.
var rolePerms = map[string][]ac.Permission{
	"operator":   {ac.PermLiveView, ac.PermPlaybackView, ac.PermPTZControl, ac.PermSnapshotView, ac.PermDeviceRead, ac.PermHealthRead, ac.PermAlarmAck},
	"manager":    {ac.PermLiveView, ac.PermPlaybackView, ac.PermSnapshotView, ac.PermExportRequest, ac.PermExportApprove, ac.PermDeviceRead, ac.PermHealthRead, ac.PermAlarmAck, ac.PermReportRead, ac.PermRequestHandle, ac.PermSessionManage, ac.PermPolicyPublish, ac.PermGrantApprove},
	"police":     {ac.PermLiveView, ac.PermPlaybackView, ac.PermSnapshotView, ac.PermExportRequest, ac.PermDeviceRead},
	"technician": {ac.PermDeviceRead, ac.PermDeviceDiscover, ac.PermDeviceRegister, ac.PermDeviceConfigure, ac.PermHealthRead, ac.PermAlarmAck},
	"contractor": {ac.PermLiveView, ac.PermDeviceRead, ac.PermDeviceConfigure, ac.PermHealthRead},
	"auditor":    {ac.PermAuditRead, ac.PermAuditVerify, ac.PermReportRead},
	"admin":      {ac.PermUserManage, ac.PermGrantManage, ac.PermContractManage, ac.PermSessionManage, ac.PermDeviceRead, ac.PermHealthRead},
}

func holdsAny(role string, want []ac.Permission) bool {
	for _, p := range rolePerms[role] {
		for _, w := range want {
			if p == w {
				return true
			}
		}
	}
	return false
}

// TestRPCMatrix calls every method of every gwanje service as every
// built-in role and as an anonymous caller, through the real gRPC server,
// and checks the code: Unauthenticated without a session, PermissionDenied
// exactly when the role lacks the method's permission. The requests are
// empty, so an allowed call fails validation (InvalidArgument, NotFound) or
// succeeds; it is never refused for rights. Streaming methods are called
// too. The per-camera decisions, which empty requests never reach, are
// TestRPCMatrixPerCamera's.
func TestRPCMatrix(t *testing.T) {
	h := newHarness(t)
	files := []protoreflect.FileDescriptor{pb.File_gwanje_v1_access_proto, pb.File_gwanje_v1_system_proto, pb.File_gwanje_v1_audit_proto, pb.File_gwanje_v1_device_proto, pb.File_gwanje_v1_stream_proto, pb.File_gwanje_v1_health_proto, pb.File_gwanje_v1_policy_proto, pb.File_gwanje_v1_recording_proto, pb.File_gwanje_v1_privacy_proto}
	var calls int
	for _, fd := range files {
		for i := 0; i < fd.Services().Len(); i++ {
			sd := fd.Services().Get(i)
			for j := 0; j < sd.Methods().Len(); j++ {
				md := sd.Methods().Get(j)
				full := "/" + string(sd.FullName()) + "/" + string(md.Name())
				a, ok := methods[full]
				if !ok {
					t.Errorf("%s has no entry in the permission table", full)
					continue
				}
				if md.Name() == "Logout" {
					continue // ends the caller's session; tested on its own
				}
				for _, role := range append([]string{""}, roles...) {
					name := role
					if name == "" {
						name = "anonymous"
					}
					t.Run(strings.TrimPrefix(full, "/gwanje.v1.")+"/"+name, func(t *testing.T) {
						req := dynamicpb.NewMessage(md.Input())
						_, err := invoke(h.as(role), h.conn, full, md, req)
						calls++
						code := status.Code(err)
						switch {
						case a.public:
							if code == codes.Unauthenticated && md.Name() != "Login" || code == codes.PermissionDenied {
								t.Fatalf("public method refused: %v", err)
							}
						case role == "":
							if code != codes.Unauthenticated {
								t.Fatalf("anonymous call got %v, want Unauthenticated", err)
							}
						case len(a.perms) == 0:
							if code == codes.PermissionDenied || code == codes.Unauthenticated {
								t.Fatalf("logged-in call refused: %v", err)
							}
						case holdsAny(role, a.perms):
							if code == codes.PermissionDenied || code == codes.Unauthenticated {
								t.Fatalf("%s holds %v but got %v", role, a.perms, err)
							}
						default:
							if code != codes.PermissionDenied {
								t.Fatalf("%s lacks %v but got %v", role, a.perms, err)
							}
							if s := status.Convert(err).Message(); s != "permission denied" {
								t.Fatalf("denial leaks detail to the client: %q", s)
							}
						}
					})
				}
			}
		}
	}
	if calls == 0 {
		t.Fatal("no call made")
	}
}

func TestEveryRegisteredMethodHasAnEntry(t *testing.T) {
	h := newHarness(t)
	if err := checkMethodTable(h.srv.grpc, methods); err != nil {
		t.Fatal(err)
	}
	table := maps.Clone(methods)
	delete(table, pb.AccessService_WhoAmI_FullMethodName)
	if err := checkMethodTable(h.srv.grpc, table); err == nil || !strings.Contains(err.Error(), "WhoAmI") {
		t.Fatalf("a method without an entry was not caught: %v", err)
	}
}

// TestTableRefusesCameraMethodsWithGlobalPermissions: New refuses a table
// where a camera-scoped method's permission is not decided per camera.
func TestTableRefusesCameraMethodsWithGlobalPermissions(t *testing.T) {
	h := newHarness(t)
	for name, a := range map[string]access{
		"global permission":  needCamera(ac.PermAuditRead),
		"two permissions":    {perms: []ac.Permission{ac.PermLiveView, ac.PermPlaybackView}, camera: true},
		"no permission":      {camera: true},
		"unknown permission": need("camera.teleport"),
	} {
		table := maps.Clone(methods)
		table[pb.StreamService_StartLiveView_FullMethodName] = a
		if err := checkMethodTable(h.srv.grpc, table); err == nil || !strings.Contains(err.Error(), "StartLiveView") {
			t.Errorf("%s: not refused: %v", name, err)
		}
	}
	for full, a := range methods {
		if a.camera && !a.perm().CameraScoped() {
			t.Errorf("%s is camera-scoped with %s", full, a.perm())
		}
	}
}
