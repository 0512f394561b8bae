package control

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/gwanje/gwanje/audit"
	pb "github.com/gwanje/gwanje/proto/gwanje/v1"
)

func TestAuditorReadsAndEveryReadIsRecorded(t *testing.T) {
	h := newHarness(t)
	cl := pb.NewAuditServiceClient(h.conn)
	ctx := h.as("auditor")

	res, err := cl.QueryEntries(ctx, &pb.QueryEntriesRequest{Types: []string{"grant.*"}, Username: "system:provision"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Entries) != len(roles) {
		t.Fatalf("want the %d grants of the setup, got %d entries", len(roles), len(res.Entries))
	}
	for _, e := range res.Entries {
		if e.Username != "system:provision" || e.Outcome != pb.AuditOutcome_AUDIT_OUTCOME_SUCCESS || len(e.Hash) != 32 {
			t.Fatalf("entry %+v", e)
		}
	}
	v, err := cl.Verify(ctx, &pb.VerifyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if !v.Ok || v.Checked == 0 {
		t.Fatalf("verify: %+v", v)
	}
	key, err := cl.GetPublicKey(ctx, &pb.GetPublicKeyRequest{})
	if err != nil || !strings.Contains(key.PublicKeyPem, "PUBLIC KEY") {
		t.Fatalf("public key: %v %v", key, err)
	}
	page, err := h.audit.Query(context.Background(), audit.Filter{Types: []string{"audit.query", "audit.verify"}, Username: "u-auditor"})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Entries) != 2 {
		t.Fatalf("the auditor's query and verification are not both recorded: %d entries", len(page.Entries))
	}
}

func TestLedgerAndReviewReports(t *testing.T) {
	h := newHarness(t)
	cl := pb.NewAuditServiceClient(h.conn)
	ctx := h.as("auditor")
	now := time.Now()
	for _, f := range []string{"xlsx", "csv"} {
		rep, err := cl.GetLedger(ctx, &pb.GetLedgerRequest{From: timestamppb.New(now.Add(-24 * time.Hour)), To: timestamppb.New(now.Add(time.Hour)), Format: f})
		if err != nil || len(rep.Content) == 0 || !strings.HasSuffix(rep.Filename, "."+f) {
			t.Fatalf("ledger %s: %v", f, err)
		}
		rev, err := cl.GetAccessReview(ctx, &pb.GetAccessReviewRequest{Month: now.In(seoul).Format("2006-01"), Format: f})
		if err != nil || len(rev.Content) == 0 {
			t.Fatalf("review %s: %v", f, err)
		}
	}
	if _, err := cl.GetAccessReview(ctx, &pb.GetAccessReviewRequest{Month: "last month"}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("bad month: %v", err)
	}
	page, err := h.audit.Query(context.Background(), audit.Filter{Types: []string{"report.download"}, Username: "u-auditor"})
	if err != nil || len(page.Entries) != 4 {
		t.Fatalf("report downloads recorded: %d (%v)", len(page.Entries), err)
	}
}
