package onvif

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
)

// Sentinel errors. Every error returned by a Client or by Discover wraps one of
// them (test with errors.Is); SOAP faults are also *FaultError and every
// operation error is an *OpError (test with errors.As).
var (
	// ErrUnreachable: the device could not be contacted (connection refused,
	// no route, DNS failure, connection reset before a response).
	ErrUnreachable = errors.New("onvif: device unreachable")
	// ErrUnauthorized: the device rejected the credentials (HTTP 401/403 or a
	// SOAP NotAuthorized fault).
	ErrUnauthorized = errors.New("onvif: unauthorized")
	// ErrFault: the device answered with a SOAP fault; see *FaultError.
	ErrFault = errors.New("onvif: SOAP fault")
	// ErrMalformed: the response is not a SOAP envelope that could be parsed
	// into the expected response (bad XML, truncated, wrong body element,
	// missing required fields).
	ErrMalformed = errors.New("onvif: malformed response")
	// ErrNotSupported: the device does not implement the operation or the
	// service (ActionNotSupported fault, no service address, HTTP 404/501).
	ErrNotSupported = errors.New("onvif: not supported")
	// ErrTimeout: the context deadline (or the default timeout) passed before
	// the response was complete.
	ErrTimeout = errors.New("onvif: timeout")
	// ErrTooLarge: the response is larger than Config.MaxResponseBytes. It also
	// matches ErrMalformed.
	ErrTooLarge = errors.New("onvif: response too large")
	// ErrInvalidArgument: the caller passed an unusable argument (e.g. an
	// empty profile token, a CIDR range above the configured maximum).
	ErrInvalidArgument = errors.New("onvif: invalid argument")
)

// OpError describes a failed operation. Endpoint never contains credentials.
type OpError struct {
	Op       string // e.g. "GetDeviceInformation"
	Endpoint string // service URL without user info
	Err      error
}

func (e *OpError) Error() string {
	if e.Endpoint == "" {
		return fmt.Sprintf("onvif %s: %v", e.Op, e.Err)
	}
	return fmt.Sprintf("onvif %s %s: %v", e.Op, e.Endpoint, e.Err)
}

func (e *OpError) Unwrap() error { return e.Err }

// FaultError is a SOAP 1.2 (or 1.1) fault sent by the device.
type FaultError struct {
	// Code is the local part of the fault code value, e.g. "Sender",
	// "Receiver" (SOAP 1.1: "Client", "Server").
	Code string
	// Subcodes are the local parts of the nested subcode values, outermost
	// first, e.g. ["InvalidArgVal", "NoProfile"].
	Subcodes []string
	// Reason is the first non-empty reason text (may be empty).
	Reason string
	// Detail is the trimmed text content of the fault detail, if any.
	Detail string
	// HTTPStatus is the HTTP status the fault came with (0 when parsed
	// without HTTP).
	HTTPStatus int
}

func (e *FaultError) Error() string {
	var b strings.Builder
	b.WriteString("SOAP fault ")
	b.WriteString(e.Code)
	for _, s := range e.Subcodes {
		b.WriteString("/")
		b.WriteString(s)
	}
	if e.Reason != "" {
		b.WriteString(": ")
		b.WriteString(truncate(e.Reason, 200))
	}
	return b.String()
}

// HasSubcode reports whether one of the subcodes has the given local name
// (case-insensitive).
func (e *FaultError) HasSubcode(name string) bool {
	for _, s := range e.Subcodes {
		if strings.EqualFold(s, name) {
			return true
		}
	}
	return false
}

// Is makes a FaultError match ErrFault and, depending on its subcodes and
// reason, ErrUnauthorized or ErrNotSupported.
func (e *FaultError) Is(target error) bool {
	switch target {
	case ErrFault:
		return true
	case ErrUnauthorized:
		return e.unauthorized()
	case ErrNotSupported:
		return e.notSupported()
	}
	return false
}

func (e *FaultError) unauthorized() bool {
	if e.HasSubcode("NotAuthorized") || e.HasSubcode("FailedAuthentication") ||
		e.HasSubcode("InvalidSecurityToken") || e.HasSubcode("FailedCheck") {
		return true
	}
	r := strings.ToLower(e.Reason)
	return e.HTTPStatus == 401 || strings.Contains(r, "not authorized") ||
		strings.Contains(r, "unauthorized") || strings.Contains(r, "authority failure") ||
		strings.Contains(r, "invalid username or password")
}

func (e *FaultError) notSupported() bool {
	for _, s := range []string{"ActionNotSupported", "NoSuchService", "NotSupported",
		"ServiceNotSupported", "ActionNotImplemented", "EndpointUnavailable"} {
		if e.HasSubcode(s) {
			return true
		}
	}
	r := strings.ToLower(e.Reason)
	return strings.Contains(r, "not implemented") || strings.Contains(r, "not supported") ||
		strings.Contains(r, "method name or namespace not recognized")
}

// malformed builds an error matching ErrMalformed.
func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// tooLargeError matches both ErrTooLarge and ErrMalformed.
type tooLargeError struct{ limit int64 }

func (e *tooLargeError) Error() string {
	return fmt.Sprintf("onvif: response too large (limit %d bytes)", e.limit)
}
func (e *tooLargeError) Is(target error) bool { return target == ErrTooLarge || target == ErrMalformed }

// classifyTransport maps an error from the HTTP round trip to a sentinel.
func classifyTransport(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), ctx.Err() == context.DeadlineExceeded:
		return fmt.Errorf("%w: %w", ErrTimeout, err)
	case errors.Is(err, context.Canceled):
		return err
	case errors.As(err, &ne) && ne.Timeout():
		return fmt.Errorf("%w: %w", ErrTimeout, err)
	}
	return fmt.Errorf("%w: %w", ErrUnreachable, err)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
