package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// The outbox is the entry table itself plus a cursor (audit_outbox.seq):
// entries commit in seq order under the chain head's lock, so every entry
// with seq > cursor is committed and unpublished. A relay round locks the
// cursor row (SKIP LOCKED: one process relays at a time), publishes entries
// in order and moves the cursor past those the publisher accepted. A failed
// publish stops the round; the next round starts again from that entry.
// Delivery is at least once (a crash between publish and cursor update
// republishes); consumers deduplicate by seq.

// relay publishes committed entries until the writer has stopped, then does
// a last round.
func (s *Store) relay(ctx context.Context, writerDone <-chan struct{}) {
	if s.cfg.Publisher == nil {
		return
	}
	t := time.NewTicker(s.cfg.RelayInterval)
	defer t.Stop()
	for {
		select {
		case <-writerDone:
			s.relayRound(ctx)
			return
		case <-s.relayWake:
		case <-t.C:
		}
		for {
			n, err := s.relayRound(ctx)
			if err != nil {
				s.log.Warn("audit outbox: publish delayed", "err", err)
				break // retry on the next tick
			}
			if n < s.cfg.RelayBatch {
				break
			}
		}
	}
}

// relayRound publishes up to RelayBatch entries and returns how many.
func (s *Store) relayRound(ctx context.Context) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.WriteTimeout+5*time.Second)
	defer cancel()
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("outbox: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	var cursor int64
	err = tx.QueryRow(ctx, "select seq from audit_outbox for update skip locked").Scan(&cursor)
	if err != nil {
		return 0, nil // another process is relaying (or the row is gone)
	}
	rows, err := tx.Query(ctx, "select "+entryCols+" from audit_entry where seq > $1 order by seq limit $2", cursor, s.cfg.RelayBatch)
	if err != nil {
		return 0, fmt.Errorf("outbox: %w", err)
	}
	var batch []Stored
	for rows.Next() {
		st, err := scanStored(rows)
		if err != nil {
			rows.Close()
			return 0, fmt.Errorf("outbox: %w", err)
		}
		batch = append(batch, st)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("outbox: %w", err)
	}
	if len(batch) == 0 {
		return 0, nil
	}
	sent := 0
	var pubErr error
	for _, st := range batch {
		data, err := json.Marshal(st)
		if err != nil {
			pubErr = err
			break
		}
		pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
		err = s.cfg.Publisher.Publish(pctx, SubjectPrefix+st.Entry.Type, data)
		pcancel()
		if err != nil {
			pubErr = fmt.Errorf("publish seq %d: %w", st.Seq, err)
			break
		}
		sent++
	}
	if sent > 0 {
		if _, err := tx.Exec(ctx, "update audit_outbox set seq = $1", batch[sent-1].Seq); err != nil {
			return 0, fmt.Errorf("outbox: %w", err)
		}
		if err := tx.Commit(ctx); err != nil {
			return 0, fmt.Errorf("outbox: %w", err)
		}
	}
	return sent, pubErr
}

// OutboxCursor returns the seq up to which entries have been published.
func (s *Store) OutboxCursor(ctx context.Context) (int64, error) {
	var seq int64
	if err := s.pool.QueryRow(ctx, "select seq from audit_outbox").Scan(&seq); err != nil {
		return 0, fmt.Errorf("audit: outbox cursor: %w", err)
	}
	return seq, nil
}
