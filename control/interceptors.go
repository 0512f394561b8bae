package control

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// errUnknownMethod is what a caller of a method missing from the table gets.
var errUnknownMethod = status.Error(codes.PermissionDenied, "permission denied")

func (s *Server) authorize(ctx context.Context, method string) (context.Context, error) {
	a, ok := methods[method]
	if !ok {
		s.log.Warn("call to a method without a permission entry refused", "method", method)
		return nil, errUnknownMethod
	}
	if a.public {
		return ctx, nil
	}
	// Authentication and authorization arrive with the access-control
	// service; until then nothing but public methods is served.
	return nil, status.Error(codes.Unauthenticated, "login required")
}

func (s *Server) unaryInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	ctx, err := s.authorize(ctx, info.FullMethod)
	if err != nil {
		return nil, err
	}
	resp, err := handler(ctx, req)
	return resp, s.toStatus(ctx, info.FullMethod, err)
}

type wrappedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (w *wrappedStream) Context() context.Context { return w.ctx }

func (s *Server) streamInterceptor(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	ctx, err := s.authorize(ss.Context(), info.FullMethod)
	if err != nil {
		return err
	}
	return s.toStatus(ctx, info.FullMethod, handler(srv, &wrappedStream{ServerStream: ss, ctx: ctx}))
}
