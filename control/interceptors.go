package control

import (
	"context"

	"google.golang.org/grpc"
)

func (s *Server) unaryInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	ctx, err := s.authorize(ctx, info.FullMethod)
	if err != nil {
		s.metrics.denied.WithLabelValues(info.FullMethod).Inc()
		s.metrics.observe(info.FullMethod, err)
		return nil, err
	}
	resp, err := handler(ctx, req)
	err = s.toStatus(ctx, info.FullMethod, err)
	s.metrics.observe(info.FullMethod, err)
	return resp, err
}

type wrappedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (w *wrappedStream) Context() context.Context { return w.ctx }

func (s *Server) streamInterceptor(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	ctx, err := s.authorize(ss.Context(), info.FullMethod)
	if err != nil {
		s.metrics.denied.WithLabelValues(info.FullMethod).Inc()
		s.metrics.observe(info.FullMethod, err)
		return err
	}
	err = s.toStatus(ctx, info.FullMethod, handler(srv, &wrappedStream{ServerStream: ss, ctx: ctx}))
	s.metrics.observe(info.FullMethod, err)
	return err
}
