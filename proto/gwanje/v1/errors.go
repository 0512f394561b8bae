package gwanjev1

import (
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/status"
)

// ErrorDomain is the domain of the google.rpc.ErrorInfo every error of the
// gwanje API carries.
const ErrorDomain = "gwanje.io"

// Reasons of the google.rpc.ErrorInfo every error of the API carries (its
// domain is ErrorDomain). A reason is stable: clients decide on it, never on
// the message, which is for people and may change. The gRPC code says the
// class of failure; the reason says which one. ERRORS.md beside this file
// lists them with their codes.
const (
	ReasonInvalidArgument        = "INVALID_ARGUMENT"         // InvalidArgument: the request is malformed or beyond a limit
	ReasonNotFound               = "NOT_FOUND"                // NotFound
	ReasonAlreadyExists          = "ALREADY_EXISTS"           // AlreadyExists: a duplicate name, username or camera
	ReasonFailedPrecondition     = "FAILED_PRECONDITION"      // FailedPrecondition: the target's state does not allow it
	ReasonUnauthenticated        = "UNAUTHENTICATED"          // Unauthenticated: bad credentials or no session
	ReasonSessionExpired         = "SESSION_EXPIRED"          // Unauthenticated: the session ended; log in again
	ReasonPermissionDenied       = "PERMISSION_DENIED"        // PermissionDenied
	ReasonPasswordChangeRequired = "PASSWORD_CHANGE_REQUIRED" // FailedPrecondition: change the one-time password first
	ReasonFourEyesRequired       = "FOUR_EYES_REQUIRED"       // PermissionDenied: another person must approve
	ReasonResourceExhausted      = "RESOURCE_EXHAUSTED"       // ResourceExhausted: too many requests; retry later
	ReasonDiskFull               = "DISK_FULL"                // ResourceExhausted: the recorder's storage is full
	ReasonAuditUnavailable       = "AUDIT_UNAVAILABLE"        // Unavailable: nothing was done because it could not be recorded
	ReasonUnavailable            = "UNAVAILABLE"              // Unavailable: the service is stopping or not configured here
	ReasonNoStreamNode           = "NO_STREAM_NODE"           // Unavailable: no stream node runs
	ReasonCameraUnreachable      = "CAMERA_UNREACHABLE"       // FailedPrecondition: the camera does not answer
	ReasonCameraUnauthorized     = "CAMERA_UNAUTHORIZED"      // FailedPrecondition: the camera refused the credentials
	ReasonCameraBadResponse      = "CAMERA_BAD_RESPONSE"      // FailedPrecondition: the camera's answer was unusable
	ReasonCameraUnsupported      = "CAMERA_UNSUPPORTED"       // FailedPrecondition: the camera lacks the feature
	ReasonCameraNoProfile        = "CAMERA_NO_PROFILE"        // FailedPrecondition: no H.264/H.265 profile with a stream URI
	ReasonTicketExpired          = "TICKET_EXPIRED"           // FailedPrecondition: a ticket or download link expired or was used
	ReasonNoFootage              = "NO_FOOTAGE"               // NotFound: no recorded footage in the range
	ReasonFootageDestroyed       = "FOOTAGE_DESTROYED"        // NotFound: the footage's key was destroyed (retention)
	ReasonFootageTampered        = "FOOTAGE_TAMPERED"         // DataLoss: stored footage failed verification
	ReasonFootageOtherNode       = "FOOTAGE_ON_OTHER_NODE"    // FailedPrecondition: ask the node that holds it
	ReasonMaskingUnavailable     = "MASKING_UNAVAILABLE"      // FailedPrecondition: no masker (ffmpeg) on this server
	ReasonVerificationFailed     = "VERIFICATION_FAILED"      // FailedPrecondition: a manifest or file did not verify
	ReasonAlreadyAcknowledged    = "ALREADY_ACKNOWLEDGED"     // FailedPrecondition: the alarm was acknowledged before
	ReasonCanceled               = "CANCELED"                 // Canceled
	ReasonDeadlineExceeded       = "DEADLINE_EXCEEDED"        // DeadlineExceeded
	ReasonInternal               = "INTERNAL"                 // Internal: a bug; the server log has the cause
)

// ErrorInfoOf returns the ErrorInfo of an error returned by the API, or nil
// when it has none (an error raised by the client's own transport).
func ErrorInfoOf(err error) *errdetails.ErrorInfo {
	st, ok := status.FromError(err)
	if !ok {
		return nil
	}
	for _, d := range st.Details() {
		if ei, ok := d.(*errdetails.ErrorInfo); ok && ei.GetDomain() == ErrorDomain {
			return ei
		}
	}
	return nil
}

// ReasonOf returns the reason of an error returned by the API, or "" when it
// carries none.
func ReasonOf(err error) string {
	return ErrorInfoOf(err).GetReason()
}
