package control

import (
	"context"
	"errors"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"

	"github.com/gwanje/gwanje/accesscontrol"
	"github.com/gwanje/gwanje/audit"
	pb "github.com/gwanje/gwanje/proto/gwanje/v1"
)

type principalKey struct{}

// principalFrom returns the authenticated caller; handlers of non-public
// methods always have one.
func principalFrom(ctx context.Context) (accesscontrol.Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(accesscontrol.Principal)
	return p, ok
}

// mustPrincipal is principalFrom for handlers that the interceptor has
// authenticated.
func mustPrincipal(ctx context.Context) accesscontrol.Principal {
	p, ok := principalFrom(ctx)
	if !ok {
		panic("control: handler of an authenticated method ran without a principal")
	}
	return p
}

func clientAddr(ctx context.Context) string {
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		return p.Addr.String()
	}
	return ""
}

func requestID(ctx context.Context) string {
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if v := md.Get("x-request-id"); len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

// bearerToken is the caller's session token: a browser's from its session
// cookie (browser.go), anyone else's from the authorization metadata.
func bearerToken(ctx context.Context) string {
	if b := browserFrom(ctx); b != nil {
		return b.token
	}
	md, ok := metadata.FromIncomingContext(ctx)
	if !ok {
		return ""
	}
	for _, v := range md.Get("authorization") {
		if t, ok := strings.CutPrefix(v, "Bearer "); ok {
			return strings.TrimSpace(t)
		}
	}
	return ""
}

var (
	errLoginRequired = statusError(codes.Unauthenticated, pb.ReasonUnauthenticated, "login required")
	errDenied        = statusError(codes.PermissionDenied, pb.ReasonPermissionDenied, "permission denied")
	errSessionEnded  = statusError(codes.Unauthenticated, pb.ReasonSessionExpired, "session invalid or expired: log in again")
)

// authorize authenticates the caller of method and checks the permission
// table. Camera-scoped and domain-checked methods only need a login here:
// their handlers decide with the resource in hand.
func (s *Server) authorize(ctx context.Context, method string) (context.Context, error) {
	a, ok := s.methods[method]
	if !ok {
		s.log.Warn("call to a method without a permission entry refused", "method", method)
		return nil, errDenied
	}
	ctx = withAccess(ctx, method, a)
	if a.public {
		return ctx, nil
	}
	if s.cfg.Access == nil {
		return nil, errLoginRequired
	}
	token := bearerToken(ctx)
	if token == "" {
		return nil, errLoginRequired
	}
	// accesscontrol throttles the caller's address and audits bad tokens
	// itself (coalesced per address, so strangers cannot flood the trail).
	p, err := s.cfg.Access.AuthenticateCall(ctx, token, accesscontrol.Caller{Addr: clientAddr(ctx), RequestID: requestID(ctx), Method: method})
	if err != nil {
		if errors.Is(err, accesscontrol.ErrUnauthenticated) {
			if b := browserFrom(ctx); b != nil {
				b.end() // the cookie names a session that is over
			}
			return nil, errSessionEnded
		}
		return nil, s.toStatus(ctx, method, err)
	}
	if p.ClientAddr == "" {
		p.ClientAddr = clientAddr(ctx)
	}
	ctx = context.WithValue(ctx, principalKey{}, p)
	if len(a.perms) == 0 {
		return ctx, nil
	}
	now := s.now()
	if a.camera {
		// The handler decides on the camera; here only whether the caller
		// holds the permission anywhere at all.
		if s.cfg.Access.CanAny(p, a.perms[0], now) {
			return ctx, nil
		}
		s.log.Info("permission denied", "method", method, "user", p.Username, "permission", a.perms[0], "reason", "held nowhere")
		s.auditDenied(ctx, p, "access.denied", method, string(a.perms[0]), "no grant of this permission")
		return nil, errDenied
	}
	var last accesscontrol.Decision
	for _, perm := range a.perms {
		if last = s.cfg.Access.Decide(p, perm, accesscontrol.Resource{}, now); last.Allowed {
			return ctx, nil
		}
	}
	s.log.Info("permission denied", "method", method, "user", p.Username, "permission", a.perms, "reason", last.Reason)
	s.auditDenied(ctx, p, "access.denied", method, permList(a.perms), string(last.Reason))
	return nil, errDenied
}

// allowed reports whether p holds the global permission perm now.
func (s *Server) allowed(p accesscontrol.Principal, perm accesscontrol.Permission) bool {
	return s.cfg.Access.Decide(p, perm, accesscontrol.Resource{}, s.now()).Allowed
}

func permList(ps []accesscontrol.Permission) string {
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = string(p)
	}
	return strings.Join(parts, "|")
}

// auditDenied records a refused call. A denial is refused whatever happens
// to its record; a record that cannot be written is logged.
func (s *Server) auditDenied(ctx context.Context, p accesscontrol.Principal, typ, method, perm, reason string, cameras ...string) {
	if s.cfg.Audit == nil {
		return
	}
	e := audit.Entry{
		Type: typ, Outcome: audit.Denied, Actor: actorOf(p), ClientAddr: p.ClientAddr, SessionID: p.SessionID,
		Reason: reason, RequestID: requestID(ctx), Cameras: cameras,
		Details: map[string]any{"method": method},
	}
	if perm != "" {
		e.Details["permission"] = perm
	}
	// The record outlives the call: a client hanging up does not cancel it.
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if _, err := s.cfg.Audit.Append(actx, e); err != nil {
		s.log.Error("could not record a denied call", "method", method, "err", err)
	}
}

func actorOf(p accesscontrol.Principal) audit.Actor {
	role := ""
	if len(p.Roles) > 0 {
		role = strings.Join(p.Roles, ",")
	}
	return audit.Actor{UserID: p.UserID, Username: p.Username, Role: role, Org: p.OrgID}
}

func (s *Server) now() time.Time {
	if s.cfg.Now != nil {
		return s.cfg.Now()
	}
	return time.Now()
}

// change is the accesscontrol.Change of a call: who, from where, why.
func change(ctx context.Context, reason string) accesscontrol.Change {
	p := mustPrincipal(ctx)
	return accesscontrol.Change{By: p, Reason: reason, ClientAddr: p.ClientAddr, RequestID: requestID(ctx)}
}
