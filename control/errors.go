package control

import (
	"context"
	"errors"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	ac "github.com/gwanje/gwanje/accesscontrol"
	"github.com/gwanje/gwanje/audit"
	"github.com/gwanje/gwanje/devices"
	"github.com/gwanje/gwanje/devices/health"
	"github.com/gwanje/gwanje/devices/onvif"
	"github.com/gwanje/gwanje/internal/textcheck"
	"github.com/gwanje/gwanje/privacy/export"
	"github.com/gwanje/gwanje/privacy/manifest"
	"github.com/gwanje/gwanje/privacy/policy"
	"github.com/gwanje/gwanje/privacy/requests"
	pb "github.com/gwanje/gwanje/proto/gwanje/v1"
	"github.com/gwanje/gwanje/stream"
	"github.com/gwanje/gwanje/stream/playback"
	"github.com/gwanje/gwanje/stream/record"
	"github.com/gwanje/gwanje/stream/whep"
)

// errInvalidRequest is a request refused at the edge (limits.go) before any
// handler ran.
var errInvalidRequest = errors.New("invalid request")

// errorClass is how one domain sentinel reaches a client: its code, the
// stable reason of its google.rpc.ErrorInfo, and its message.
type errorClass struct {
	err    error
	code   codes.Code
	reason string
	// message makes the client's message from the error; nil: the error's
	// own text (domain errors are written for people and hold no secrets).
	message func(error) string
}

func fixed(msg string) func(error) string { return func(error) string { return msg } }
func prefixed(p string) func(error) string {
	return func(err error) string { return p + err.Error() }
}

const auditUnavailableMsg = "the audit store cannot record this action right now, so it was not done; try again shortly"

// errorClasses is the one table from domain errors to codes, in the order
// they are tried: a more specific sentinel comes before the one it wraps.
// TestEveryDomainSentinelIsMapped fails when an exported Err* of a domain
// package is missing or would become Internal. Bad input is never Internal.
var errorClasses = []errorClass{
	{errInvalidRequest, codes.InvalidArgument, pb.ReasonInvalidArgument, nil},
	{textcheck.ErrBidiControl, codes.InvalidArgument, pb.ReasonInvalidArgument, nil},
	{textcheck.ErrInvalidUTF8, codes.InvalidArgument, pb.ReasonInvalidArgument, nil},

	// accesscontrol. One generic answer for every failed login or bad
	// session (ErrTOTPRequired included: telling it apart would tell that the
	// password was right).
	{ac.ErrTOTPRequired, codes.Unauthenticated, pb.ReasonUnauthenticated, fixed("invalid username, password, code or session")},
	{ac.ErrUnauthenticated, codes.Unauthenticated, pb.ReasonUnauthenticated, fixed("invalid username, password, code or session")},
	{ac.ErrPermissionDenied, codes.PermissionDenied, pb.ReasonPermissionDenied, fixed("permission denied")},
	{ac.ErrInvalid, codes.InvalidArgument, pb.ReasonInvalidArgument, nil},
	{ac.ErrNotFound, codes.NotFound, pb.ReasonNotFound, nil},
	{ac.ErrAlreadyExists, codes.AlreadyExists, pb.ReasonAlreadyExists, nil},
	{ac.ErrConflict, codes.FailedPrecondition, pb.ReasonFailedPrecondition, nil},
	{ac.ErrUnavailable, codes.Unavailable, pb.ReasonAuditUnavailable, fixed(auditUnavailableMsg)},
	// Refused before any work (hashing queue full, address or account
	// throttled); the status carries a RetryInfo with the wait.
	{ac.ErrTooMany, codes.ResourceExhausted, pb.ReasonResourceExhausted, nil},

	// audit
	{audit.ErrUnavailable, codes.Unavailable, pb.ReasonAuditUnavailable, fixed(auditUnavailableMsg)},
	{audit.ErrClosed, codes.Unavailable, pb.ReasonAuditUnavailable, fixed(auditUnavailableMsg)},
	{audit.ErrInvalid, codes.InvalidArgument, pb.ReasonInvalidArgument, nil},

	// devices and the cameras behind them
	{devices.ErrInvalid, codes.InvalidArgument, pb.ReasonInvalidArgument, nil},
	{devices.ErrNotFound, codes.NotFound, pb.ReasonNotFound, nil},
	{devices.ErrAlreadyExists, codes.AlreadyExists, pb.ReasonAlreadyExists, nil},
	{devices.ErrConflict, codes.FailedPrecondition, pb.ReasonFailedPrecondition, nil},
	{devices.ErrUnreachable, codes.FailedPrecondition, pb.ReasonCameraUnreachable, prefixed("the camera does not answer: ")},
	{devices.ErrUnauthorized, codes.FailedPrecondition, pb.ReasonCameraUnauthorized, prefixed("the camera rejected the credentials: ")},
	{devices.ErrNoProfile, codes.FailedPrecondition, pb.ReasonCameraNoProfile, nil},
	{devices.ErrBadResponse, codes.FailedPrecondition, pb.ReasonCameraBadResponse, nil},
	{onvif.ErrUnreachable, codes.FailedPrecondition, pb.ReasonCameraUnreachable, prefixed("the camera does not answer: ")},
	{onvif.ErrTimeout, codes.FailedPrecondition, pb.ReasonCameraUnreachable, prefixed("the camera does not answer: ")},
	{onvif.ErrUnauthorized, codes.FailedPrecondition, pb.ReasonCameraUnauthorized, prefixed("the camera rejected the credentials: ")},
	{onvif.ErrNotSupported, codes.FailedPrecondition, pb.ReasonCameraUnsupported, nil},
	{onvif.ErrFault, codes.FailedPrecondition, pb.ReasonCameraBadResponse, nil},
	{onvif.ErrMalformed, codes.FailedPrecondition, pb.ReasonCameraBadResponse, nil},
	{onvif.ErrTooLarge, codes.FailedPrecondition, pb.ReasonCameraBadResponse, nil},
	{onvif.ErrInvalidArgument, codes.InvalidArgument, pb.ReasonInvalidArgument, nil},
	{health.ErrAlarmNotFound, codes.NotFound, pb.ReasonNotFound, fixed("no such alarm")},
	{health.ErrAlarmAlreadyAcknowledged, codes.FailedPrecondition, pb.ReasonAlreadyAcknowledged, fixed("the alarm was already acknowledged")},

	// live view
	{whep.ErrClosed, codes.Unavailable, pb.ReasonUnavailable, fixed("the browser video service is stopping; try again shortly")},
	{stream.ErrNoNode, codes.Unavailable, pb.ReasonNoStreamNode, fixed("no stream node is running to serve the video; start gwanjed with the stream role")},
	{stream.ErrInvalidRequest, codes.InvalidArgument, pb.ReasonInvalidArgument, nil},
	{stream.ErrNoTicket, codes.InvalidArgument, pb.ReasonInvalidArgument, nil},
	{stream.ErrMalformed, codes.InvalidArgument, pb.ReasonInvalidArgument, nil},
	{stream.ErrWrongCamera, codes.InvalidArgument, pb.ReasonInvalidArgument, nil},
	{stream.ErrWrongProfile, codes.InvalidArgument, pb.ReasonInvalidArgument, nil},
	{stream.ErrWrongTransport, codes.InvalidArgument, pb.ReasonInvalidArgument, nil},
	{stream.ErrCannotSwitch, codes.FailedPrecondition, pb.ReasonFailedPrecondition, fixed("an RTSP view cannot switch profile in place: start a new live view with the other profile")},
	{whep.ErrNotH264, codes.FailedPrecondition, pb.ReasonCameraUnsupported, fixed("that profile is not H.264, which WebRTC carries; use RTSP for it")},
	{stream.ErrUnknownTicket, codes.NotFound, pb.ReasonNotFound, nil},
	{stream.ErrTicketUsed, codes.FailedPrecondition, pb.ReasonTicketExpired, nil},
	{stream.ErrTicketExpired, codes.FailedPrecondition, pb.ReasonTicketExpired, nil},
	{stream.ErrNotFound, codes.NotFound, pb.ReasonNotFound, nil},
	{stream.ErrUnknownCamera, codes.NotFound, pb.ReasonNotFound, nil},
	{stream.ErrUpstreamLost, codes.FailedPrecondition, pb.ReasonCameraUnreachable, nil},
	{stream.ErrClosed, codes.Unavailable, pb.ReasonUnavailable, nil},

	// recordings and playback
	{record.ErrInvalid, codes.InvalidArgument, pb.ReasonInvalidArgument, nil},
	{record.ErrNotFound, codes.NotFound, pb.ReasonNotFound, nil},
	{record.ErrKeyDestroyed, codes.NotFound, pb.ReasonFootageDestroyed, nil},
	{record.ErrTampered, codes.DataLoss, pb.ReasonFootageTampered, nil},
	{record.ErrDiskFull, codes.ResourceExhausted, pb.ReasonDiskFull, nil},
	// The recorder pool's fence (a segment another recorder's lease covers
	// is not indexed); not the answer to any request today.
	{record.ErrFenced, codes.FailedPrecondition, pb.ReasonFailedPrecondition, fixed("another recorder holds this camera's footage for that time")},
	{playback.ErrNoFootage, codes.NotFound, pb.ReasonNoFootage, nil},
	{playback.ErrWrongTransport, codes.InvalidArgument, pb.ReasonInvalidArgument, nil},

	// privacy. The masking and four-eyes sentinels come before the
	// requests' own, which they travel with.
	{export.ErrMaskingUnavailable, codes.FailedPrecondition, pb.ReasonMaskingUnavailable, nil},
	{export.ErrFFmpegNotFound, codes.FailedPrecondition, pb.ReasonMaskingUnavailable, nil},
	{requests.ErrSelfApproval, codes.PermissionDenied, pb.ReasonFourEyesRequired, fixed("another person must approve this (four eyes): the requester cannot approve their own request")},
	{requests.ErrPermissionDenied, codes.PermissionDenied, pb.ReasonPermissionDenied, fixed("permission denied")},
	{requests.ErrInvalid, codes.InvalidArgument, pb.ReasonInvalidArgument, nil},
	{requests.ErrNotFound, codes.NotFound, pb.ReasonNotFound, nil},
	{requests.ErrConflict, codes.FailedPrecondition, pb.ReasonFailedPrecondition, nil},
	{requests.ErrUnavailable, codes.Unavailable, pb.ReasonAuditUnavailable, fixed("the audit store cannot record this step right now, so it was not done; try again shortly")},
	{export.ErrInvalid, codes.InvalidArgument, pb.ReasonInvalidArgument, nil},
	{export.ErrTooLarge, codes.InvalidArgument, pb.ReasonInvalidArgument, nil},
	{export.ErrNotFound, codes.NotFound, pb.ReasonNotFound, nil},
	{export.ErrOtherNode, codes.FailedPrecondition, pb.ReasonFootageOtherNode, nil},
	{export.ErrExpired, codes.FailedPrecondition, pb.ReasonTicketExpired, nil},
	{export.ErrRevoked, codes.FailedPrecondition, pb.ReasonTicketExpired, nil},
	{export.ErrTampered, codes.DataLoss, pb.ReasonFootageTampered, nil},
	{manifest.ErrVerify, codes.FailedPrecondition, pb.ReasonVerificationFailed, nil},
	{manifest.ErrKey, codes.InvalidArgument, pb.ReasonInvalidArgument, nil},
	{policy.ErrInvalid, codes.InvalidArgument, pb.ReasonInvalidArgument, nil},
	{policy.ErrNotFound, codes.NotFound, pb.ReasonNotFound, nil},

	{context.Canceled, codes.Canceled, pb.ReasonCanceled, fixed("canceled")},
	{context.DeadlineExceeded, codes.DeadlineExceeded, pb.ReasonDeadlineExceeded, fixed("deadline exceeded")},
}

// reasonOfCode is the reason of a status made without one (by a handler
// or by gRPC itself).
var reasonOfCode = map[codes.Code]string{
	codes.InvalidArgument:    pb.ReasonInvalidArgument,
	codes.OutOfRange:         pb.ReasonInvalidArgument,
	codes.NotFound:           pb.ReasonNotFound,
	codes.AlreadyExists:      pb.ReasonAlreadyExists,
	codes.FailedPrecondition: pb.ReasonFailedPrecondition,
	codes.Aborted:            pb.ReasonFailedPrecondition,
	codes.Unauthenticated:    pb.ReasonUnauthenticated,
	codes.PermissionDenied:   pb.ReasonPermissionDenied,
	codes.ResourceExhausted:  pb.ReasonResourceExhausted,
	codes.Unavailable:        pb.ReasonUnavailable,
	codes.Canceled:           pb.ReasonCanceled,
	codes.DeadlineExceeded:   pb.ReasonDeadlineExceeded,
}

// classify finds err's class; false for an error no sentinel explains.
func classify(err error) (errorClass, bool) {
	for _, c := range errorClasses {
		if errors.Is(err, c.err) {
			return c, true
		}
	}
	return errorClass{}, false
}

// statusError is a status with its google.rpc.ErrorInfo and any further
// details (a RetryInfo for refusals that say when to try again).
func statusError(code codes.Code, reason, msg string, more ...protoadapt.MessageV1) error {
	st := status.New(code, msg)
	details := append([]protoadapt.MessageV1{&errdetails.ErrorInfo{Reason: reason, Domain: pb.ErrorDomain}}, more...)
	if ds, err := st.WithDetails(details...); err == nil {
		st = ds
	}
	return st.Err()
}

// toStatus maps a handler's error to a gRPC status: the one place where
// domain errors become codes, each with the stable reason and domain of its
// google.rpc.ErrorInfo. A status passes through, given the reason of its code
// when it has none; anything unknown becomes Internal with a generic message,
// and the cause goes to the log, never to the client.
func (s *Server) toStatus(ctx context.Context, method string, err error) error {
	if err == nil {
		return nil
	}
	if st, ok := status.FromError(err); ok {
		if pb.ErrorInfoOf(err) != nil || st.Code() == codes.OK {
			return err
		}
		reason, ok := reasonOfCode[st.Code()]
		if !ok {
			reason = pb.ReasonInternal
		}
		return statusError(st.Code(), reason, st.Message())
	}
	c, ok := classify(err)
	if !ok {
		s.log.Error("internal error", "method", method, "err", err)
		return statusError(codes.Internal, pb.ReasonInternal, "internal error: see the server log")
	}
	switch c.code {
	case codes.PermissionDenied:
		s.log.Info("permission denied by the domain", "method", method, "err", err)
	case codes.Unavailable:
		s.log.Error("refused: a store or service this needs is unavailable", "method", method, "err", err)
	}
	msg := err.Error()
	if c.message != nil {
		msg = c.message(err)
	}
	if after, ok := ac.RetryAfter(err); ok {
		return statusError(c.code, c.reason, msg, &errdetails.RetryInfo{RetryDelay: durationpb.New(after)})
	}
	return statusError(c.code, c.reason, msg)
}

func timestamp(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}
