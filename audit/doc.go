// Package audit is gwanje's tamper-evident, append-only audit store on
// PostgreSQL: a hash-chained log of every view, playback and change, with
// signed checkpoints, verification and the ledger and access-log reports.
package audit
