package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"
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
	defer close(s.relayDone)
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
	var summarised []Stored
	limit := s.cfg.MaxPublish
	if mp, ok := s.cfg.Publisher.(interface{ MaxPayload() int64 }); ok {
		// Leave room for the subject and headers.
		if m := int(mp.MaxPayload()) - 512; m > 0 && m < limit {
			limit = m
		}
	}
	for _, st := range batch {
		data, err := json.Marshal(st)
		if err != nil {
			pubErr = err
			break
		}
		if len(data) > limit {
			// Never stall on one entry: a message the bus would refuse
			// (NATS max_payload) goes out as a bounded summary naming the
			// entry's hash; the entry itself stays in the database.
			data = summary(st, len(data), limit)
			summarised = append(summarised, st)
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
		for _, st := range summarised {
			if st.Seq > batch[sent-1].Seq {
				break
			}
			detail := fmt.Sprintf("audit entry %d (%s) is larger than the bus takes; published as a summary with its hash (the entry is intact in the database)", st.Seq, st.Entry.Type)
			s.log.Warn(detail, "seq", st.Seq, "type", st.Entry.Type)
			s.raise(Alarm{Kind: AlarmOversize, Active: true, Seq: st.Seq, Detail: detail})
		}
		if last := batch[sent-1].Seq; last-s.ckptSeq.Load() >= int64(s.cfg.CheckpointEvery) {
			select {
			case s.ckptWake <- struct{}{}:
			default:
			}
		}
	}
	return sent, pubErr
}

// summaryText bounds each text field kept in a summary.
const summaryText = 256

// summary is the published form of an entry too large to publish: the
// entry's identity, who, what and when, its hash, and its text fields cut
// to summaryText bytes; "summary": true and "size" (the full message's
// bytes) say so. Consumers fetch the entry itself by seq (Query) and check
// it against the hash.
func summary(st Stored, size, limit int) []byte {
	cut := func(v string) string {
		if len(v) <= summaryText {
			return v
		}
		i := summaryText
		for i > 0 && !utf8.RuneStart(v[i]) {
			i--
		}
		return v[:i] + "…"
	}
	e := st.Entry
	cams := e.Cameras
	if len(cams) > 16 {
		cams = cams[:16]
	}
	data, _ := json.Marshal(map[string]any{
		"summary": true, "size": size,
		"seq": st.Seq, "logged_at": st.LoggedAt, "hash": fmt.Sprintf("%x", st.Hash), "prev_hash": fmt.Sprintf("%x", st.PrevHash),
		"time": e.Time, "type": cut(e.Type), "outcome": e.Outcome,
		"user_id": cut(e.Actor.UserID), "username": cut(e.Actor.Username), "role": cut(e.Actor.Role),
		"cameras": cams, "cameras_total": len(e.Cameras), "purpose": cut(e.Purpose),
		"purpose_text": cut(e.PurposeText), "reason": cut(e.Reason), "request_id": cut(e.RequestID),
	})
	if len(data) > limit {
		// A bus with a tiny payload limit still gets the identity and hash.
		data, _ = json.Marshal(map[string]any{"summary": true, "size": size, "seq": st.Seq,
			"hash": fmt.Sprintf("%x", st.Hash), "type": cut(e.Type)})
	}
	return data
}

// OutboxCursor returns the seq up to which entries have been published.
func (s *Store) OutboxCursor(ctx context.Context) (int64, error) {
	var seq int64
	if err := s.pool.QueryRow(ctx, "select seq from audit_outbox").Scan(&seq); err != nil {
		return 0, fmt.Errorf("audit: outbox cursor: %w", err)
	}
	return seq, nil
}
