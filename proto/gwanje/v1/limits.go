package gwanjev1

// Message sizes of the API, shared by the server and its clients. The
// largest request is an open-data CSV import (12 MiB of CSV); the largest
// responses are reports (XLSX, CSV) and pages of audit entries (at most
// 1,000 entries of bounded fields). Every text and list field of a request
// has its own limit (LIMITS.md beside this file).
const (
	// MaxRequestBytes is the largest request the server reads.
	MaxRequestBytes = 16 << 20
	// MaxResponseBytes is the largest response the server sends; clients
	// accept responses this large.
	MaxResponseBytes = 32 << 20
)
