// Package failclosed holds the audit store's fail-closed test, which kills
// its own PostgreSQL server mid-run and starts it again on the same data
// directory; it lives apart so that no other test shares that server.
package failclosed
