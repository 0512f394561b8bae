package audit

// LedgerKind is a row kind of the ledger (개인영상정보 관리대장).
type LedgerKind string

// Ledger kinds.
const (
	LedgerUse     LedgerKind = "이용"
	LedgerProvide LedgerKind = "제공"
	LedgerView    LedgerKind = "열람"
	LedgerDestroy LedgerKind = "파기"
)

// DefaultLedgerTypes maps entry types to ledger kinds.
var DefaultLedgerTypes = map[string]LedgerKind{}

// ReviewConfig tunes the monthly access-log review.
type ReviewConfig struct{}

func (c *ReviewConfig) defaults() {}
