package policy

import "errors"

// Sentinel errors. Every error the package returns for a bad request or a
// missing version wraps one of them (test with errors.Is), so that callers map
// them to their own codes in one place.
var (
	// ErrInvalid: the request is invalid (an effective date less than 7 days
	// after the announcement without an urgent reason, a date in the past, a
	// bad version number). Nothing was published.
	ErrInvalid = errors.New("policy: invalid request")
	// ErrNotFound: no such version, or nothing published yet.
	ErrNotFound = errors.New("policy: not found")
)
