package audit

import "time"

// Outcome is how an audited action ended.
type Outcome string

// Outcomes.
const (
	Success Outcome = "success"
	Denied  Outcome = "denied"
	Failed  Outcome = "failed"
)

// Actor is who acted. For actions without a logged-in user (a failed login
// for an unknown name, the retention sweeper) UserID is empty and Username
// says what was claimed or which system job acted.
type Actor struct {
	UserID   string
	Username string
	Role     string
	Org      string
}

// Entry is one audited action as callers hand it to the store. The store
// assigns the sequence number, the time (when zero) and the hashes.
type Entry struct {
	// Time of the action; the store sets it when zero.
	Time time.Time
	// Type is a dotted action name, e.g. "live.view.start", "grant.create".
	Type    string
	Outcome Outcome
	Actor   Actor
	// ClientAddr is the client's network address.
	ClientAddr string
	// SessionID identifies the login session (never the token itself).
	SessionID string
	// Cameras are the camera IDs the action touched.
	Cameras []string
	// FootageFrom/FootageTo bound the footage's own time range (생성일시)
	// for playback and export; Live marks a live view.
	FootageFrom *time.Time
	FootageTo   *time.Time
	Live        bool
	// Purpose is a purpose-of-viewing code (accesscontrol.Purpose) and
	// PurposeText the free text the viewer gave.
	Purpose     string
	PurposeText string
	// Reason explains a denial or failure, or why a change was made.
	Reason    string
	RequestID string
	// Details holds action-specific fields. Secrets must be replaced by
	// keyed hashes (see Store.Redact) before they get here.
	Details map[string]any
}

// Record is what the store returns for an appended entry.
type Record struct {
	Seq  int64
	Time time.Time
	Hash []byte
}
