package control

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/gwanje/gwanje/audit"
	"github.com/gwanje/gwanje/camsim"
	pb "github.com/gwanje/gwanje/proto/gwanje/v1"
)

// TestUnknownCameraLooksOutOfScope (issue 14, finding 9): for a caller
// without scope all, every camera-scoped method answers a camera ID that
// does not exist exactly as it answers a camera outside the caller's scope,
// so IDs cannot be probed; a caller with scope all is told NotFound.
func TestUnknownCameraLooksOutOfScope(t *testing.T) {
	h := newHarness(t)
	outside := h.registerCamera(camsim.DialectHikvision) // not on the contractor's site
	const unknown = "00000000-0000-4000-8000-000000000000"
	from, to := timestamppb.New(time.Now().Add(-time.Hour)), timestamppb.Now()
	dc := pb.NewDeviceServiceClient(h.conn)
	sc := pb.NewStreamServiceClient(h.conn)
	rc := pb.NewRecordingServiceClient(h.conn)
	for _, m := range []struct {
		name string
		call func(ctx context.Context, id string) error
	}{
		{"GetCamera", func(ctx context.Context, id string) error {
			_, err := dc.GetCamera(ctx, &pb.GetCameraRequest{CameraId: id})
			return err
		}},
		{"UpdateCamera", func(ctx context.Context, id string) error {
			_, err := dc.UpdateCamera(ctx, &pb.UpdateCameraRequest{CameraId: id, Reason: "점검", Fields: &pb.CameraFields{Name: "x"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"name"}}})
			return err
		}},
		{"DecommissionCamera", func(ctx context.Context, id string) error {
			_, err := dc.DecommissionCamera(ctx, &pb.DecommissionCameraRequest{CameraId: id, Reason: "철거"})
			return err
		}},
		{"GetClock", func(ctx context.Context, id string) error {
			_, err := dc.GetClock(ctx, &pb.GetClockRequest{CameraId: id})
			return err
		}},
		{"FixClock", func(ctx context.Context, id string) error {
			_, err := dc.FixClock(ctx, &pb.FixClockRequest{CameraId: id, Reason: "시각 보정"})
			return err
		}},
		{"RebootCamera", func(ctx context.Context, id string) error {
			_, err := dc.RebootCamera(ctx, &pb.RebootCameraRequest{CameraId: id, Reason: "재시작"})
			return err
		}},
		{"GetSnapshot", func(ctx context.Context, id string) error {
			_, err := dc.GetSnapshot(ctx, &pb.GetSnapshotRequest{CameraId: id, Purpose: pb.Purpose_PURPOSE_MAINTENANCE})
			return err
		}},
		{"ControlPTZ", func(ctx context.Context, id string) error {
			_, err := dc.ControlPTZ(ctx, &pb.ControlPTZRequest{CameraId: id, Action: "status", Purpose: pb.Purpose_PURPOSE_MAINTENANCE})
			return err
		}},
		{"StartLiveView", func(ctx context.Context, id string) error {
			_, err := sc.StartLiveView(ctx, &pb.StartLiveViewRequest{CameraId: id, Purpose: pb.Purpose_PURPOSE_MAINTENANCE})
			return err
		}},
		{"ListRecordings", func(ctx context.Context, id string) error {
			_, err := rc.ListRecordings(ctx, &pb.ListRecordingsRequest{CameraId: id, From: from, To: to})
			return err
		}},
		{"StartPlayback", func(ctx context.Context, id string) error {
			_, err := rc.StartPlayback(ctx, &pb.StartPlaybackRequest{CameraId: id, From: from, To: to, Purpose: pb.Purpose_PURPOSE_MAINTENANCE})
			return err
		}},
		{"CreateHold", func(ctx context.Context, id string) error {
			_, err := rc.CreateHold(ctx, &pb.CreateHoldRequest{Cameras: []string{id}, From: from, To: to, CaseRef: "2026-1", Reason: "보존"})
			return err
		}},
	} {
		t.Run(m.name, func(t *testing.T) {
			errUnknown := m.call(h.as("contractor"), unknown)
			errOutside := m.call(h.as("contractor"), outside)
			su, so := status.Convert(errUnknown), status.Convert(errOutside)
			if su.Code() != codes.PermissionDenied || su.Code() != so.Code() || su.Message() != so.Message() {
				t.Fatalf("unknown camera: %v %q; camera out of scope: %v %q; want the same PermissionDenied", su.Code(), su.Message(), so.Code(), so.Message())
			}
		})
	}
	// Scope all: NotFound is no leak.
	if _, err := dc.GetCamera(h.as("technician"), &pb.GetCameraRequest{CameraId: unknown}); status.Code(err) != codes.NotFound {
		t.Fatalf("technician (scope all), unknown camera: %v, want NotFound", err)
	}
	if _, err := sc.StartLiveView(h.as("operator"), &pb.StartLiveViewRequest{CameraId: unknown, Purpose: pb.Purpose_PURPOSE_CRIME_PREVENTION}); status.Code(err) != codes.NotFound {
		t.Fatalf("operator (scope all), unknown camera: %v, want NotFound", err)
	}
	// The probe of an unknown ID is recorded like any denial.
	page, err := h.audit.Query(context.Background(), audit.Filter{Camera: unknown, Outcome: audit.Denied})
	if err != nil || len(page.Entries) == 0 {
		t.Fatalf("denied probes of an unknown camera recorded: %d %v", len(page.Entries), err)
	}
}

// TestBidiControlsRefusedOverTheAPI (issue 14, finding 9): user, org, site
// and camera names with a bidirectional override are answered
// InvalidArgument.
func TestBidiControlsRefusedOverTheAPI(t *testing.T) {
	h := newHarness(t)
	ac := pb.NewAccessServiceClient(h.conn)
	dc := pb.NewDeviceServiceClient(h.conn)
	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"user display name", func() error {
			_, err := ac.CreateUser(h.asAdmin(), &pb.CreateUserRequest{Username: "mallory", DisplayName: "admin\u202e", OrgId: h.users["operator"].OrgID})
			return err
		}},
		{"organization name", func() error {
			_, err := ac.CreateOrganization(h.asAdmin(), &pb.CreateOrganizationRequest{Kind: "police", Name: "경찰서\u202e"})
			return err
		}},
		{"site name", func() error {
			_, err := dc.CreateSite(h.as("technician"), &pb.CreateSiteRequest{Reason: "설치", Fields: &pb.SiteFields{Name: "역\u2066 광장", Department: "안전총괄과"}})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); status.Code(err) != codes.InvalidArgument {
				t.Fatalf("err = %v, want InvalidArgument", err)
			}
		})
	}
}
