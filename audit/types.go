package audit

import (
	"sort"
	"strings"
)

// TypeInfo describes one audit entry type: the one list of what the code
// emits, from which the view, grant-change (long retention) and ledger
// filters derive (FORMAT.md, "Entry types"). A Type ending in "." is a
// prefix (ptz.<action>).
type TypeInfo struct {
	Type string
	// View: a viewing of footage or images (the monthly access review).
	View bool
	// GrantChange: a change of who may do what (accounts, roles, grants,
	// contracts, organisations); months holding one are kept
	// GrantRetentionMonths.
	GrantChange bool
	// Ledger is the 관리대장 kind of a successful entry ("" for none).
	Ledger LedgerKind
}

// Types is every audit entry type gwanje emits. A test (types_test.go)
// greps the source for the types the code writes and fails when one is
// missing here.
var Types = []TypeInfo{
	// Sign-in and sessions.
	{Type: "auth.login"}, {Type: "auth.logout"}, {Type: "auth.session.revoke"}, {Type: "auth.session.invalid"}, {Type: "auth.throttled"}, {Type: "auth.lockout"}, {Type: "auth.account.slowed"},
	{Type: "access.denied"},
	// Accounts, organisations, roles, grants, contracts.
	{Type: "user.create", GrantChange: true}, {Type: "user.update", GrantChange: true},
	{Type: "user.disable", GrantChange: true}, {Type: "user.password.reset", GrantChange: true},
	{Type: "user.password.change", GrantChange: true}, {Type: "user.totp.enable", GrantChange: true},
	{Type: "org.create", GrantChange: true},
	{Type: "role.update", GrantChange: true}, {Type: "role.change.approve", GrantChange: true},
	{Type: "role.change.reject", GrantChange: true},
	{Type: "grant.create", GrantChange: true}, {Type: "grant.revoke", GrantChange: true},
	{Type: "grant.approve", GrantChange: true}, {Type: "grant.reject", GrantChange: true},
	{Type: "grant.deny.create", GrantChange: true}, {Type: "grant.deny.revoke", GrantChange: true},
	{Type: "contract.create", GrantChange: true}, {Type: "contract.update", GrantChange: true},
	{Type: "contract.end", GrantChange: true},
	// Cameras and sites.
	{Type: "device.create"}, {Type: "device.update"}, {Type: "device.update.batch"}, {Type: "device.decommission"},
	{Type: "device.credentials"}, {Type: "device.credentials.reseal"}, {Type: "device.discover"},
	{Type: "device.clock.fix"}, {Type: "device.reboot"}, {Type: "site.create"}, {Type: "site.update"},
	{Type: "ptz."}, {Type: "alarm.acknowledge"},
	// Viewing.
	{Type: "live.view.start", View: true}, {Type: "live.view.profile"}, {Type: "live.view.stop"}, {Type: "live.view.end"},
	{Type: "playback.start", View: true, Ledger: LedgerUse}, {Type: "playback.view"}, {Type: "playback.end"},
	{Type: "snapshot.view", View: true},
	// Recordings.
	{Type: "recording.hold.create"}, {Type: "recording.hold.release"},
	{Type: "recording.destroy", Ledger: LedgerDestroy}, {Type: "recording.retention.check"},
	// Exports, third-party provision, subject requests.
	{Type: "export.create", View: true, Ledger: LedgerUse}, {Type: "export.provide", View: true, Ledger: LedgerProvide},
	{Type: "export.destroy", View: true, Ledger: LedgerDestroy},
	{Type: "provision.request", Ledger: LedgerProvide}, {Type: "provision.approve", Ledger: LedgerProvide},
	{Type: "provision.reject", Ledger: LedgerProvide}, {Type: "provision.close", Ledger: LedgerProvide},
	{Type: "provision.letter", Ledger: LedgerProvide}, {Type: "provision.outcome", Ledger: LedgerProvide},
	{Type: "provision.read", Ledger: LedgerProvide},
	{Type: "request.view", Ledger: LedgerView}, {Type: "request.copy", Ledger: LedgerView},
	// Ledger entries written for the ledger alone (e.g. a viewing on paper).
	{Type: "ledger.use", Ledger: LedgerUse}, {Type: "ledger.provide", Ledger: LedgerProvide},
	{Type: "ledger.view", Ledger: LedgerView}, {Type: "ledger.destroy", Ledger: LedgerDestroy},
	// The policy, reports, the audit store itself.
	{Type: "policy.publish"}, {Type: "policy.settings.update"}, {Type: "policy.history.import"}, {Type: "report.download"},
	{Type: "audit.query"}, {Type: "audit.verify"}, {Type: "audit.retention.drop"},
}

// LookupType returns the TypeInfo of an entry type (a prefix entry matches
// every type it starts).
func LookupType(t string) (TypeInfo, bool) {
	for _, ti := range Types {
		if ti.Type == t || (strings.HasSuffix(ti.Type, ".") && strings.HasPrefix(t, ti.Type)) {
			return ti, true
		}
	}
	return TypeInfo{}, false
}

// GrantChangeTypes returns the grant-change types (Config.GrantTypes'
// default: each is matched as a prefix of an entry's type).
func GrantChangeTypes() []string { return typesWhere(func(t TypeInfo) bool { return t.GrantChange }) }

// ViewTypes returns the view types (ReviewConfig.ViewTypes' default).
func ViewTypes() []string { return typesWhere(func(t TypeInfo) bool { return t.View }) }

// LedgerTypes returns the ledger map (DefaultLedgerTypes).
func LedgerTypes() map[string]LedgerKind {
	m := map[string]LedgerKind{}
	for _, t := range Types {
		if t.Ledger != "" {
			m[t.Type] = t.Ledger
		}
	}
	return m
}

func typesWhere(f func(TypeInfo) bool) []string {
	var out []string
	for _, t := range Types {
		if f(t) {
			out = append(out, t.Type)
		}
	}
	sort.Strings(out)
	return out
}
