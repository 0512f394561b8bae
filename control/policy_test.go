package control

import (
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gwanje/gwanje/camsim"
	pb "github.com/gwanje/gwanje/proto/gwanje/v1"
)

func TestManagerPublishesThePolicyOnce(t *testing.T) {
	h := newHarness(t)
	h.registerCamera(camsim.DialectHikvision)
	cl := pb.NewPolicyServiceClient(h.conn)
	if _, err := cl.PublishPolicy(h.as("operator"), &pb.PublishPolicyRequest{}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("operator published: %v", err)
	}
	d, err := cl.DraftPolicy(h.as("manager"), &pb.DraftPolicyRequest{})
	if err != nil || d.Unchanged || d.Markdown == "" {
		t.Fatalf("draft: %v %v", d, err)
	}
	p, err := cl.PublishPolicy(h.as("manager"), &pb.PublishPolicyRequest{})
	if err != nil || !p.Created || p.Number != 1 {
		t.Fatalf("publish: %v %v", p, err)
	}
	if days := p.EffectiveOn.AsTime().Sub(p.AnnounceOn.AsTime()).Hours() / 24; days < 7 {
		t.Fatalf("takes effect %.0f days after announcement", days)
	}
	again, err := cl.PublishPolicy(h.as("manager"), &pb.PublishPolicyRequest{})
	if err != nil || again.Created {
		t.Fatalf("publishing without a change made a version: %v %v", again, err)
	}
	vs, err := cl.ListPolicyVersions(h.as("auditor"), &pb.ListPolicyVersionsRequest{})
	if err != nil || len(vs.Versions) != 1 {
		t.Fatalf("versions: %v %v", vs, err)
	}
}
