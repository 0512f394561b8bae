package control

import (
	"context"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gwanje/gwanje/privacy/policy"
	pb "github.com/gwanje/gwanje/proto/gwanje/v1"
)

// policyService drafts and publishes the 운영·관리 방침.
type policyService struct {
	pb.UnimplementedPolicyServiceServer
	s *Server
}

func (x *policyService) svc() (*policy.Service, error) {
	if x.s.cfg.Policy == nil {
		return nil, status.Error(codes.Unavailable, "the policy document is not available from this server")
	}
	return x.s.cfg.Policy, nil
}

func (x *policyService) DraftPolicy(ctx context.Context, _ *pb.DraftPolicyRequest) (*pb.DraftPolicyResponse, error) {
	svc, err := x.svc()
	if err != nil {
		return nil, err
	}
	d, err := svc.Draft(ctx)
	if err != nil {
		return nil, err
	}
	out := &pb.DraftPolicyResponse{Unchanged: d.Unchanged, ProposedRevision: d.Revision, Markdown: d.Markdown}
	for _, c := range d.Changes {
		out.Changes = append(out.Changes, &pb.PolicyChange{ClauseId: c.ClauseID, Title: c.Label,
			Before: strings.Join(c.Before, "\n"), After: strings.Join(c.After, "\n")})
	}
	return out, nil
}

func (x *policyService) PublishPolicy(ctx context.Context, r *pb.PublishPolicyRequest) (*pb.PublishPolicyResponse, error) {
	svc, err := x.svc()
	if err != nil {
		return nil, err
	}
	p := mustPrincipal(ctx)
	opts := policy.PublishOptions{UrgentReason: r.GetUrgentReason(), Revision: r.GetRevision()}
	if r.GetAnnounceOn() != nil {
		opts.AnnounceOn = r.GetAnnounceOn().AsTime()
	}
	if r.GetEffectiveOn() != nil {
		opts.EffectiveOn = r.GetEffectiveOn().AsTime()
	}
	v, created, err := svc.Publish(ctx, policy.Actor{Actor: actorOf(p), ClientAddr: p.ClientAddr, SessionID: p.SessionID, RequestID: requestID(ctx)}, opts)
	if err != nil {
		return nil, err
	}
	return &pb.PublishPolicyResponse{Created: created, Number: int32(v.Number), Revision: v.Revision,
		AnnounceOn: ts(v.AnnouncedOn), EffectiveOn: ts(v.EffectiveOn)}, nil
}

func (x *policyService) ListPolicyVersions(ctx context.Context, r *pb.ListPolicyVersionsRequest) (*pb.ListPolicyVersionsResponse, error) {
	svc, err := x.svc()
	if err != nil {
		return nil, err
	}
	vs, err := svc.History(ctx)
	if err != nil {
		return nil, err
	}
	out := &pb.ListPolicyVersionsResponse{}
	for _, v := range vs {
		out.Versions = append(out.Versions, &pb.PolicyVersionInfo{Number: int32(v.Number), Revision: v.Revision,
			AnnounceOn: ts(v.AnnouncedOn), EffectiveOn: ts(v.EffectiveOn), UrgentReason: v.UrgentReason, PublishedBy: v.PublishedBy})
	}
	if out.Versions, out.NextPageToken, err = pageOf(r, out.Versions); err != nil {
		return nil, err
	}
	return out, nil
}
