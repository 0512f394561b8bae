package accesscontrol

import (
	"errors"
	"fmt"
	"time"
)

// Sentinel errors. Every error the package returns to a caller wraps at most
// one of them, so that the gRPC layer can map them to status codes in one
// place (errors.Is): ErrInvalid → InvalidArgument, ErrNotFound → NotFound,
// ErrAlreadyExists → AlreadyExists, ErrConflict → FailedPrecondition, ErrUnauthenticated →
// Unauthenticated, ErrPermissionDenied → PermissionDenied, ErrUnavailable →
// Unavailable, ErrTooMany → ResourceExhausted (with RetryAfter's delay).
// Errors wrapping none of them are internal.
var (
	// ErrInvalid: the request is malformed or breaks a rule; nothing changed.
	ErrInvalid = errors.New("invalid request")
	// ErrNotFound: the named user, role, grant, organization, contract or
	// session does not exist.
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists: the name is taken (an organization's name, a
	// username); nothing changed.
	ErrAlreadyExists = errors.New("already exists")
	// ErrConflict: the change collides with existing state (an already
	// revoked grant, an already ended contract).
	ErrConflict = errors.New("conflict")
	// ErrUnauthenticated: bad credentials, or an unknown, expired or revoked
	// session. Its text is deliberately generic.
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrPermissionDenied: the caller is authenticated but may not do this.
	ErrPermissionDenied = errors.New("permission denied")
	// ErrUnavailable: the audit store (or the database) could not record the
	// change; nothing was changed (fail closed).
	ErrUnavailable = errors.New("unavailable")
	// ErrTooMany: refused before any work because too much is asked: the
	// password-hashing queue is full, or the client's address (or the
	// account from that address) is throttled after failures. Nothing was
	// checked or recorded one by one; RetryAfter says when to try again.
	ErrTooMany = errors.New("too many requests")
)

// retryError wraps ErrTooMany with the delay after which trying again can
// succeed.
type retryError struct {
	reason string // a fixed code of why, for the audit's counts
	msg    string
	after  time.Duration
}

func (e *retryError) Error() string { return e.msg }
func (e *retryError) Unwrap() error { return ErrTooMany }

func tooMany(after time.Duration, reason, msg string) error {
	if after < time.Second {
		after = time.Second
	}
	return &retryError{reason: reason, msg: msg, after: after.Round(time.Second)}
}

// refusalReason is the fixed code of a refusal wrapping ErrTooMany.
func refusalReason(err error) string {
	var r *retryError
	if errors.As(err, &r) {
		return r.reason
	}
	return "too many requests"
}

// RetryAfter is how long the caller of a request refused with an error
// wrapping ErrTooMany should wait before trying again (false for other
// errors).
func RetryAfter(err error) (time.Duration, bool) {
	var r *retryError
	if errors.As(err, &r) {
		return r.after, true
	}
	return 0, false
}

func invalidf(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, a...))
}

func notFoundf(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrNotFound, fmt.Sprintf(format, a...))
}

func conflictf(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrConflict, fmt.Sprintf(format, a...))
}

func existsf(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrAlreadyExists, fmt.Sprintf(format, a...))
}

func deniedf(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrPermissionDenied, fmt.Sprintf(format, a...))
}
