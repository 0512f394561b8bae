package accesscontrol

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error the package returns to a caller wraps at most
// one of them, so that the gRPC layer can map them to status codes in one
// place (errors.Is): ErrInvalid → InvalidArgument, ErrNotFound → NotFound,
// ErrAlreadyExists → AlreadyExists, ErrConflict → FailedPrecondition, ErrUnauthenticated →
// Unauthenticated, ErrPermissionDenied → PermissionDenied, ErrUnavailable →
// Unavailable. Errors wrapping none of them are internal.
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
)

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
