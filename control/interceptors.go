package control

import (
	"context"
	"fmt"
	"runtime/debug"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	pb "github.com/gwanje/gwanje/proto/gwanje/v1"
)

// errPanic is what a client gets when its call panicked.
var errPanic = statusError(codes.Internal, pb.ReasonInternal, "internal error: see the server log")

// recovered turns a panic of a call into Internal with its stack in the log,
// so that one bad request never takes the server down.
func (s *Server) recovered(method string, r any, err *error) {
	s.log.Error("panic in a call", "method", method, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
	s.metrics.observe(method, errPanic)
	*err = errPanic
}

// recoverUnary is the outermost unary interceptor.
func (s *Server) recoverUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	defer func() {
		if r := recover(); r != nil {
			resp = nil
			s.recovered(info.FullMethod, r, &err)
		}
	}()
	return handler(ctx, req)
}

// recoverStream is the outermost stream interceptor.
func (s *Server) recoverStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
	defer func() {
		if r := recover(); r != nil {
			s.recovered(info.FullMethod, r, &err)
		}
	}()
	return handler(srv, ss)
}

func (s *Server) unaryInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	// Bad input is refused before anything else: no session lookup, no
	// audit record, nothing written.
	if m, ok := req.(proto.Message); ok {
		if err := checkLimits(m); err != nil {
			err = s.toStatus(ctx, info.FullMethod, err)
			s.metrics.observe(info.FullMethod, err)
			return nil, err
		}
	}
	actx, err := s.authorize(ctx, info.FullMethod)
	if err == nil {
		err = s.passwordGate(actx, info.FullMethod)
	}
	if err != nil {
		err = s.toStatus(ctx, info.FullMethod, err)
		s.metrics.denied.WithLabelValues(info.FullMethod).Inc()
		s.metrics.observe(info.FullMethod, err)
		return nil, err
	}
	resp, err := handler(actx, req)
	err = s.toStatus(actx, info.FullMethod, err)
	s.metrics.observe(info.FullMethod, err)
	return resp, err
}

// wrappedStream gives a stream handler the authorized context and checks
// the limits of every message it receives.
type wrappedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (w *wrappedStream) Context() context.Context { return w.ctx }

func (w *wrappedStream) RecvMsg(m any) error {
	if err := w.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	if pm, ok := m.(proto.Message); ok {
		return checkLimits(pm)
	}
	return nil
}

func (s *Server) streamInterceptor(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	ctx, err := s.authorize(ss.Context(), info.FullMethod)
	if err == nil {
		err = s.passwordGate(ctx, info.FullMethod)
	}
	if err != nil {
		err = s.toStatus(ss.Context(), info.FullMethod, err)
		s.metrics.denied.WithLabelValues(info.FullMethod).Inc()
		s.metrics.observe(info.FullMethod, err)
		return err
	}
	err = s.toStatus(ctx, info.FullMethod, handler(srv, &wrappedStream{ServerStream: ss, ctx: ctx}))
	s.metrics.observe(info.FullMethod, err)
	return err
}
