package control

import (
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
// succeeds; it is never refused for rights.
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
						if md.IsStreamingServer() || md.IsStreamingClient() {
							t.Skip("streaming methods are covered by their own tests")
						}
						req := dynamicpb.NewMessage(md.Input())
						resp := dynamicpb.NewMessage(md.Output())
						err := h.conn.Invoke(h.as(role), full, req, resp)
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
	if err := checkMethodTable(h.srv.grpc); err != nil {
		t.Fatal(err)
	}
	delete(methods, pb.AccessService_WhoAmI_FullMethodName)
	defer func() { methods[pb.AccessService_WhoAmI_FullMethodName] = loggedIn() }()
	if err := checkMethodTable(h.srv.grpc); err == nil || !strings.Contains(err.Error(), "WhoAmI") {
		t.Fatalf("a method without an entry was not caught: %v", err)
	}
}
