package control

import (
	"context"
	"errors"
	"io"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	ac "github.com/gwanje/gwanje/accesscontrol"
	"github.com/gwanje/gwanje/camsim"
	"github.com/gwanje/gwanje/internal/pgtest"
	pb "github.com/gwanje/gwanje/proto/gwanje/v1"
)

// fixture is what a camera-scoped request names: a camera, a provision of
// it and an open alarm about it.
type fixture struct{ cam, prov, alarm, purpose string }

// cameraRequests builds, for every camera-scoped method, a request about
// one camera that passes validation, so that the per-camera decision is
// what answers. TestRPCMatrixPerCamera fails when a camera-scoped method of
// the table has no entry here.
var cameraRequests = map[string]func(f fixture) proto.Message{
	pb.DeviceService_GetCamera_FullMethodName:   func(f fixture) proto.Message { return &pb.GetCameraRequest{CameraId: f.cam} },
	pb.DeviceService_ListCameras_FullMethodName: func(f fixture) proto.Message { return &pb.ListCamerasRequest{} },
	pb.DeviceService_BatchUpdateCameras_FullMethodName: func(f fixture) proto.Message {
		return &pb.BatchUpdateCamerasRequest{CameraIds: []string{f.cam}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"coverage"}}, Fields: &pb.CameraFields{Coverage: "교차로 전체"}, Reason: "점검"}
	},
	pb.DeviceService_UpdateCamera_FullMethodName: func(f fixture) proto.Message {
		return &pb.UpdateCameraRequest{CameraId: f.cam, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"coverage"}}, Fields: &pb.CameraFields{Coverage: "교차로 전체"}, Reason: "점검"}
	},
	pb.DeviceService_GetClock_FullMethodName: func(f fixture) proto.Message { return &pb.GetClockRequest{CameraId: f.cam} },
	pb.DeviceService_FixClock_FullMethodName: func(f fixture) proto.Message {
		return &pb.FixClockRequest{CameraId: f.cam, Reason: "시각 보정"}
	},
	pb.DeviceService_GetSnapshot_FullMethodName: func(f fixture) proto.Message {
		return &pb.GetSnapshotRequest{CameraId: f.cam, Purpose: enumOf[pb.Purpose](f.purpose)}
	},
	pb.DeviceService_ControlPTZ_FullMethodName: func(f fixture) proto.Message {
		return &pb.ControlPTZRequest{CameraId: f.cam, Action: "status", Purpose: enumOf[pb.Purpose](f.purpose)}
	},
	pb.StreamService_StartLiveView_FullMethodName: func(f fixture) proto.Message {
		return &pb.StartLiveViewRequest{CameraId: f.cam, Purpose: enumOf[pb.Purpose](f.purpose)}
	},
	pb.HealthService_WatchEvents_FullMethodName: func(f fixture) proto.Message { return &pb.WatchEventsRequest{CameraIds: []string{f.cam}} },
	pb.HealthService_ListAlarms_FullMethodName:  func(f fixture) proto.Message { return &pb.ListAlarmsRequest{CameraIds: []string{f.cam}} },
	pb.HealthService_AcknowledgeAlarm_FullMethodName: func(f fixture) proto.Message {
		return &pb.AcknowledgeAlarmRequest{AlarmId: f.alarm, Note: "현장 확인"}
	},
	pb.HealthService_GetAvailability_FullMethodName: func(f fixture) proto.Message {
		return &pb.GetAvailabilityRequest{CameraIds: []string{f.cam}, Period: "day",
			From: timestamppb.New(time.Now().Add(-48 * time.Hour)), To: timestamppb.Now()}
	},
	pb.RecordingService_ListRecordings_FullMethodName: func(f fixture) proto.Message {
		return &pb.ListRecordingsRequest{CameraId: f.cam, From: timestamppb.New(time.Now().Add(-time.Hour)), To: timestamppb.Now()}
	},
	pb.RecordingService_StartPlayback_FullMethodName: func(f fixture) proto.Message {
		return &pb.StartPlaybackRequest{CameraId: f.cam, Purpose: enumOf[pb.Purpose](f.purpose),
			From: timestamppb.New(time.Now().Add(-time.Hour)), To: timestamppb.New(time.Now().Add(-50 * time.Minute))}
	},
	pb.PrivacyService_RequestProvision_FullMethodName: func(f fixture) proto.Message { return provisionRequest(f.cam) },
	pb.PrivacyService_GetProvision_FullMethodName:     func(f fixture) proto.Message { return &pb.GetProvisionRequest{ProvisionId: f.prov} },
	pb.PrivacyService_ApproveProvision_FullMethodName: func(f fixture) proto.Message {
		return &pb.ApproveProvisionRequest{ProvisionId: f.prov, Note: "승인"}
	},
	pb.PrivacyService_RejectProvision_FullMethodName: func(f fixture) proto.Message {
		return &pb.RejectProvisionRequest{ProvisionId: f.prov, Reason: "근거 부족"}
	},
	pb.PrivacyService_RecordProvisionLetter_FullMethodName: func(f fixture) proto.Message {
		return &pb.RecordProvisionLetterRequest{ProvisionId: f.prov, LetterNo: "형사과-2026-9"}
	},
	pb.PrivacyService_ExportProvision_FullMethodName: func(f fixture) proto.Message { return &pb.ExportProvisionRequest{ProvisionId: f.prov} },
	pb.PrivacyService_RecordProvisionOutcome_FullMethodName: func(f fixture) proto.Message {
		return &pb.RecordProvisionOutcomeRequest{ProvisionId: f.prov, Outcome: "수사 종결"}
	},
	pb.PrivacyService_RecordRecipientDestruction_FullMethodName: func(f fixture) proto.Message {
		return &pb.RecordRecipientDestructionRequest{ProvisionId: f.prov, Note: "파기 확인"}
	},
	pb.PrivacyService_CloseProvision_FullMethodName: func(f fixture) proto.Message {
		return &pb.CloseProvisionRequest{ProvisionId: f.prov, Note: "종결"}
	},
	// Decommissioning is last (see the order below): it ends the camera.
	pb.DeviceService_DecommissionCamera_FullMethodName: func(f fixture) proto.Message {
		return &pb.DecommissionCameraRequest{CameraId: f.cam, Reason: "철거"}
	},
	pb.DeviceService_RebootCamera_FullMethodName: func(f fixture) proto.Message {
		return &pb.RebootCameraRequest{CameraId: f.cam, Reason: "응답 없음"}
	},
}

// lastMethods run after every other: they take the camera away.
var lastMethods = []string{pb.DeviceService_RebootCamera_FullMethodName, pb.DeviceService_DecommissionCamera_FullMethodName}

func provisionRequest(cam string) *pb.RequestProvisionRequest {
	return &pb.RequestProvisionRequest{
		Recipient: &pb.Recipient{Org: "○○경찰서", Unit: "형사과", Rank: "경위", Name: "김수사", Contact: "02-000-0112"},
		LetterNo:  "형사과-2026-1", Reason: "절도", Basis: "investigation", Cameras: []string{cam},
		From: timestamppb.New(time.Now().Add(-2 * time.Hour)), To: timestamppb.New(time.Now().Add(-time.Hour)),
		UseUntil: timestamppb.New(time.Now().AddDate(0, 3, 0)), Safeguards: "수사 목적 외 사용 금지", Purpose: pb.Purpose_PURPOSE_CRIME_PREVENTION,
		Form: "video", Delivery: "download",
	}
}

// TestRPCMatrixPerCamera calls every camera-scoped method, as every role
// with a grant limited to site A, once about a camera of site A and once
// about a camera of site B, through the real gRPC server (streaming methods
// included). A role without the permission is refused both; a role with it
// is not refused on A, and on B is refused or answered without a word about
// B's camera, provision or alarm.
func TestRPCMatrixPerCamera(t *testing.T) {
	pool := pgtest.Pool(t)
	h := newHarnessOn(t, pool)
	ctx := context.Background()
	siteA, siteB := h.site("A 사거리"), h.site("B 공원")
	camsimA, err := camsim.New(camsim.Config{Dialect: camsim.DialectHikvision, PTZ: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := camsimA.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { camsimA.Close() })
	a := fixture{cam: h.registerAt(camsimA, siteA, "A-1")}
	b := fixture{cam: h.registerAt(startCamera(t, camsim.DialectAxis), siteB, "B-1")}

	// The contractor's company maintains site A.
	if _, err := h.access.CreateContract(ctx, ac.Change{By: h.admin, Reason: "test setup"}, ac.ContractInput{
		OrgID: h.users["contractor"].OrgID, Title: "A 사거리 유지보수", Sites: []string{siteA},
		StartsAt: time.Now().Add(-time.Hour), EndsAt: time.Now().AddDate(1, 0, 0),
		Clauses: ac.Clauses{PurposeAndScope: "유지보수", SubcontractingRestriction: "재위탁 금지",
			AccessRestrictionAndSafeguards: "지정 계정", Inspection: "분기 점검", Liability: "손해배상"},
	}); err != nil {
		t.Fatal(err)
	}
	tokens := map[string]string{}
	for _, role := range roles {
		// A grant limited to sites must name the purposes it allows.
		scope := ac.Scope{Sites: []string{siteA}, Purposes: []ac.Purpose{ac.PurposeCrimePrevention}}
		if role == "contractor" {
			scope.Purposes = []ac.Purpose{ac.PurposeMaintenance}
		}
		if _, err := h.access.Provision(ctx, "test setup", ac.NewUser{Username: "s-" + role, DisplayName: role,
			OrgID: h.users[role].OrgID}, testPassword, ac.NewGrant{Role: role, Scope: scope}); err != nil {
			t.Fatalf("scoped %s: %v", role, err)
		}
	}
	if err := h.access.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	for _, role := range roles {
		res, err := h.access.Login(ctx, ac.LoginRequest{Username: "s-" + role, Password: testPassword})
		if err != nil {
			t.Fatal(err)
		}
		tokens[role] = res.Token
	}

	// A provision and an open alarm about each camera (the police officer
	// with scope all asks for both).
	priv := pb.NewPrivacyServiceClient(h.conn)
	for _, f := range []*fixture{&a, &b} {
		p, err := priv.RequestProvision(h.as("police"), provisionRequest(f.cam))
		if err != nil {
			t.Fatal(err)
		}
		f.prov = p.GetId()
		if err := pool.QueryRow(ctx, `insert into health_alarms (camera_id, kind, cause, condition_since)
			values ($1, 'offline', 'test', now()) returning id::text`, f.cam).Scan(&f.alarm); err != nil {
			t.Fatal(err)
		}
	}

	descs := map[string]protoreflect.MethodDescriptor{}
	for _, sd := range apiServices() {
		for i := 0; i < sd.Methods().Len(); i++ {
			md := sd.Methods().Get(i)
			descs["/"+string(sd.FullName())+"/"+string(md.Name())] = md
		}
	}
	var order []string
	for full, acc := range methods {
		if !acc.camera {
			continue
		}
		if cameraRequests[full] == nil {
			t.Errorf("%s is camera-scoped but has no request in cameraRequests", full)
			continue
		}
		if !slices.Contains(lastMethods, full) {
			order = append(order, full)
		}
	}
	sort.Strings(order)
	order = append(order, lastMethods...)

	bWords := []string{b.cam, b.prov, b.alarm}
	var calls int
	for _, full := range order {
		acc, md := methods[full], descs[full]
		for _, role := range roles {
			t.Run(strings.TrimPrefix(full, "/gwanje.v1.")+"/"+role, func(t *testing.T) {
				purpose := "crime_prevention"
				if role == "contractor" {
					purpose = "maintenance"
				}
				call := func(f fixture) (string, error) {
					f.purpose = purpose
					calls++
					return invoke(withToken(context.Background(), tokens[role]), h.conn, full, md, cameraRequests[full](f))
				}
				_, errA := call(a)
				textB, errB := call(b)
				if !holdsAny(role, acc.perms) {
					if status.Code(errA) != codes.PermissionDenied || status.Code(errB) != codes.PermissionDenied {
						t.Fatalf("%s lacks %s but got %v / %v", role, acc.perm(), errA, errB)
					}
					return
				}
				if c := status.Code(errA); c == codes.PermissionDenied || c == codes.Unauthenticated {
					t.Fatalf("%s holds %s on site A but was refused: %v", role, acc.perm(), errA)
				}
				switch c := status.Code(errB); c {
				case codes.PermissionDenied:
				case codes.OK:
					// A list filtered by scope: nothing about B.
					for _, w := range bWords {
						if strings.Contains(textB, w) {
							t.Fatalf("answered about site B (%s): %s", w, textB)
						}
					}
				default:
					t.Fatalf("site B answered %v: the per-camera decision did not answer", errB)
				}
			})
		}
	}
	if calls == 0 {
		t.Fatal("no call made")
	}
}

// invoke calls full with req, unary or streaming, and returns the text of
// the answer; a stream's messages are read until it ends or a second passes
// (a watch never ends by itself).
func invoke(ctx context.Context, conn *grpc.ClientConn, full string, md protoreflect.MethodDescriptor, req proto.Message) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if !md.IsStreamingServer() && !md.IsStreamingClient() {
		resp := dynamicpb.NewMessage(md.Output())
		if err := conn.Invoke(ctx, full, req, resp); err != nil {
			return "", err
		}
		return prototext.Format(resp), nil
	}
	sctx, scancel := context.WithTimeout(ctx, time.Second)
	defer scancel()
	st, err := conn.NewStream(sctx, &grpc.StreamDesc{ServerStreams: md.IsStreamingServer(), ClientStreams: md.IsStreamingClient()}, full)
	if err != nil {
		return "", err
	}
	if err := st.SendMsg(req); err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	if err := st.CloseSend(); err != nil {
		return "", err
	}
	var text strings.Builder
	for {
		m := dynamicpb.NewMessage(md.Output())
		err := st.RecvMsg(m)
		switch {
		case errors.Is(err, io.EOF):
			return text.String(), nil
		case status.Code(err) == codes.DeadlineExceeded && ctx.Err() == nil:
			// Still open at the stream's deadline: accepted. The server may
			// see the deadline (RST_STREAM) before the client's timer fires.
			return text.String(), nil
		case err != nil:
			return "", err
		}
		text.WriteString(prototext.Format(m))
	}
}
