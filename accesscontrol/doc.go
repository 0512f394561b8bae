// Package accesscontrol owns accounts, sessions, roles, scoped and time-bound
// grants, contractor companies and their contracts, and the decisions made
// from them.
package accesscontrol
