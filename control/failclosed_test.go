package control

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gwanje/gwanje/camsim"
	"github.com/gwanje/gwanje/internal/pgdb"
	"github.com/gwanje/gwanje/internal/pgtest"
	pb "github.com/gwanje/gwanje/proto/gwanje/v1"
)

// TestFailClosedWhenTheDatabaseDies stops PostgreSQL under a running
// service: reading the audit trail (which must be recorded first) and
// changes (recorded in their own transaction) are refused with Unavailable,
// and nothing is done.
func TestFailClosedWhenTheDatabaseDies(t *testing.T) {
	srv, url := pgtest.PrivateServer(t)
	pool, err := pgdb.Open(context.Background(), pgdb.Config{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	h := newHarnessOn(t, pool)
	audits := pb.NewAuditServiceClient(h.conn)
	if _, err := audits.QueryEntries(h.as("auditor"), &pb.QueryEntriesRequest{}); err != nil {
		t.Fatalf("before the crash: %v", err)
	}

	camID := h.registerCamera(camsim.DialectHikvision)
	srv.Kill()

	_, err = pb.NewStreamServiceClient(h.conn).StartLiveView(h.as("operator"), &pb.StartLiveViewRequest{CameraId: camID, Purpose: pb.Purpose_PURPOSE_CRIME_PREVENTION})
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("live view with the audit store down: got %v, want Unavailable (and no ticket)", err)
	}

	_, err = audits.QueryEntries(h.as("auditor"), &pb.QueryEntriesRequest{})
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("audit read with the audit store down: got %v, want Unavailable", err)
	}
	_, err = pb.NewAccessServiceClient(h.conn).CreateOrganization(h.asAdmin(), &pb.CreateOrganizationRequest{Kind: "department", Name: "교통행정과", Reason: "test"})
	if code := status.Code(err); code != codes.Unavailable {
		t.Fatalf("change with the database down: got %v, want Unavailable", err)
	}
}
