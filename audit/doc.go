// Package audit is gwanje's tamper-evident, append-only audit store on
// PostgreSQL: a hash-chained log of every view, playback and change, with
// signed checkpoints, verification and the ledger and access-log reports.
//
// New builds a Store from a Config; Run runs its group-commit writer, the
// outbox relay (to a Publisher, e.g. NATS), the checkpointer (which anchors
// each checkpoint outside PostgreSQL, Config.Anchors) and the integrity
// check (head >= outbox cursor >= newest anchor); Close stops
// them after committing what is queued. Append returns once the entry is
// committed (or an error wrapping ErrUnavailable: refuse the action);
// AppendTx writes inside the caller's transaction. Verify reports the first
// broken entry; Query pages through entries; Ledger/WriteLedger* and
// AccessReview build the 개인영상정보 관리대장 and the monthly 접속기록 점검;
// DropExpired is the only path that removes (whole months of) entries.
//
// FORMAT.md beside this file documents the hash and checkpoint formats
// (stable forever, with a test vector) and how the chain stays correct with
// concurrent writers and several processes.
package audit
