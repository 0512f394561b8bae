package control

import (
	"context"
	"errors"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	ac "github.com/gwanje/gwanje/accesscontrol"
	"github.com/gwanje/gwanje/audit"
	"github.com/gwanje/gwanje/devices"
	"github.com/gwanje/gwanje/privacy/export"
	"github.com/gwanje/gwanje/privacy/policy"
	"github.com/gwanje/gwanje/privacy/requests"
	"github.com/gwanje/gwanje/stream"
	"github.com/gwanje/gwanje/stream/playback"
	"github.com/gwanje/gwanje/stream/record"
)

// errInvalidRequest is a request refused at the edge (limits.go) before any
// handler ran.
var errInvalidRequest = errors.New("invalid request")

// toStatus maps a handler's error to a gRPC status: the one place where
// domain errors become codes. Errors that are already statuses pass through;
// anything unknown becomes Internal with a generic message, and the cause
// goes to the log, never to the client.
func (s *Server) toStatus(ctx context.Context, method string, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	switch {
	case errors.Is(err, errInvalidRequest):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, ac.ErrUnauthenticated):
		// One generic answer for every failed login or bad session.
		return status.Error(codes.Unauthenticated, "invalid username, password, code or session")
	case errors.Is(err, ac.ErrPermissionDenied):
		s.log.Info("permission denied by the domain", "method", method, "err", err)
		return errDenied
	case errors.Is(err, ac.ErrInvalid):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, ac.ErrNotFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, ac.ErrConflict):
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, ac.ErrUnavailable), errors.Is(err, audit.ErrUnavailable):
		s.log.Error("refused: the audit store or database is unavailable", "method", method, "err", err)
		return status.Error(codes.Unavailable, "the audit store cannot record this action right now, so it was not done; try again shortly")
	case errors.Is(err, devices.ErrInvalid):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, devices.ErrNotFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, devices.ErrConflict):
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, devices.ErrUnreachable):
		return status.Error(codes.FailedPrecondition, "the camera does not answer: "+err.Error())
	case errors.Is(err, devices.ErrUnauthorized):
		return status.Error(codes.FailedPrecondition, "the camera rejected the credentials: "+err.Error())
	case errors.Is(err, devices.ErrNoProfile), errors.Is(err, devices.ErrBadResponse):
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, stream.ErrNoNode):
		return status.Error(codes.Unavailable, "no stream node is running to serve the video; start gwanjed with the stream role")
	case errors.Is(err, stream.ErrInvalidRequest):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, policy.ErrInvalid):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, policy.ErrNotFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, record.ErrInvalid):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, record.ErrNotFound), errors.Is(err, playback.ErrNoFootage):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, requests.ErrPermissionDenied):
		s.log.Info("permission denied by privacy/requests", "method", method, "err", err)
		return errDenied
	case errors.Is(err, requests.ErrInvalid), errors.Is(err, export.ErrInvalid), errors.Is(err, export.ErrTooLarge):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, export.ErrMaskingUnavailable):
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, requests.ErrNotFound), errors.Is(err, export.ErrNotFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, requests.ErrConflict), errors.Is(err, export.ErrOtherNode):
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, requests.ErrUnavailable):
		return status.Error(codes.Unavailable, "the audit store cannot record this step right now, so it was not done; try again shortly")
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "canceled")
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "deadline exceeded")
	}
	s.log.Error("internal error", "method", method, "err", err)
	return status.Error(codes.Internal, "internal error: see the server log")
}

func timestamp(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}
