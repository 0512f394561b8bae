package devices

import "errors"

// Sentinel errors. Every error returned by the package wraps one of them
// with context (test with errors.Is), so that callers map them to their own
// codes in one place.
var (
	// ErrInvalid: the request is invalid (a field out of range, an unknown
	// purpose, a bad schedule, a bad CSV row). Nothing was changed.
	ErrInvalid = errors.New("devices: invalid request")
	// ErrNotFound: no such camera or site.
	ErrNotFound = errors.New("devices: not found")
	// ErrAlreadyExists: the camera is already registered (its device URL or
	// endpoint reference), or a management number is taken.
	ErrAlreadyExists = errors.New("devices: already exists")
	// ErrConflict: the change collides with the registry's state (the camera
	// is decommissioned, or has no ONVIF device).
	ErrConflict = errors.New("devices: conflict")
	// ErrUnreachable: the camera did not answer (connection refused, no
	// route, or no answer before the deadline).
	ErrUnreachable = errors.New("devices: camera unreachable")
	// ErrUnauthorized: the camera rejected the credentials.
	ErrUnauthorized = errors.New("devices: camera rejected the credentials")
	// ErrNoProfile: the camera has no usable video profile (no H.264/H.265
	// profile with a stream URI, or the stream does not answer DESCRIBE).
	ErrNoProfile = errors.New("devices: camera has no usable profile")
	// ErrBadResponse: the camera answered with something unusable
	// (malformed XML, an oversized response, an unexpected SOAP fault).
	ErrBadResponse = errors.New("devices: camera sent an unusable response")
)
