// Package accesscontrol owns accounts, sessions, roles, scoped and time-bound
// grants, contractor companies and their contracts, and the decisions made
// from them.
//
// # Decisions
//
// Decide(principal, permission, resource, now) runs on an immutable in-memory
// snapshot of users, roles, grants, deny rules and contracts, swapped in
// atomically after every change; it never touches the database, takes no
// lock and does not allocate when it allows. Camera facts (site, department,
// labels) come in the Resource from the device registry. See ROLES.md for the
// roles and Decide for the order of the checks. A contractor's rights are the
// intersection of their grants with their company's contracts live at `now`,
// so a contract that ends or loses a site ends the rights without cleanup.
//
// # Changes
//
// Every management call (CreateGrant, RevokeGrant, UpdateRole, CreateUser,
// DisableUser, CreateContract, …) takes a Change (who, why, from where),
// checks the caller's permission, writes the change, its audit entry
// (Config.Auditor.AppendTx, in the same transaction: if the audit store
// fails, nothing changes and the error wraps ErrUnavailable) and a bump of
// the access_version counter in one transaction, then reloads the local
// snapshot (so the change holds for the next decision in this process) and
// announces it through Config.Notifier on SubjectChanged, plus SubjectRevoked
// with the user id when rights shrank or a session ended.
//
// Other processes learn of changes in Run: it reloads when a notice arrives
// through Config.Subscriber and, as a fallback that needs nothing but the
// database, whenever access_version moved (checked every PollInterval).
//
// # Logins
//
// Login audits itself (auth.login, outcome success/failed/denied with the
// reason; the claimed name for unknown users), because failed logins must be
// recorded even though no change is made. Callers audit nothing for logins.
// Errors map to gRPC codes through the sentinel errors (ErrInvalid,
// ErrNotFound, ErrAlreadyExists, ErrConflict, ErrUnauthenticated, ErrPermissionDenied,
// ErrUnavailable).
package accesscontrol
