package audit

import (
	"bytes"
	"context"
	"fmt"
	"time"
)

// Alarm kinds the store raises through Config.Alarm.
const (
	// AlarmIntegrity: the chain head, the outbox cursor and the newest
	// anchored checkpoint disagree (head >= cursor >= anchor does not
	// hold, or the chain does not contain the anchored entry): entries were
	// cut from the tail. Raised until the condition ends.
	AlarmIntegrity = "audit_integrity"
	// AlarmOversize: an entry larger than Config.MaxPublish was published
	// as a summary (FORMAT.md, "Outbox"). Raised once per entry, never
	// cleared by the store (an operator acknowledges it).
	AlarmOversize = "audit_oversize"
)

// Alarm is a condition of the audit store that operators must see.
type Alarm struct {
	Kind string
	// Active is true when the condition is raised, false when it ended.
	Active bool
	// Seq is the entry concerned (the first missing one for
	// AlarmIntegrity when known; the summarised entry for AlarmOversize).
	Seq    int64
	Detail string
}

// IntegrityReport is what CheckIntegrity found.
type IntegrityReport struct {
	// Head is the chain head's seq, Cursor the outbox cursor, Anchored the
	// newest anchored checkpoint's seq (0: none) and AnchorLog where it is.
	Head, Cursor, Anchored int64
	AnchorLog              string
	// Problem is empty when head >= cursor >= anchor holds and the chain
	// contains the anchored entry; FirstMissing is then 0.
	Problem      string
	FirstMissing int64
}

// OK reports whether no problem was found.
func (r *IntegrityReport) OK() bool { return r.Problem == "" }

// CheckIntegrity compares the chain head with the outbox cursor and the
// newest anchored checkpoint (FORMAT.md, "Anchors"). It is cheap (a few
// queries and one read per anchor log). An error means a check could not
// run (database or anchor log unreachable), not that something is wrong.
func (s *Store) CheckIntegrity(ctx context.Context) (*IntegrityReport, error) {
	h, err := readHead(ctx, s.pool, false)
	if err != nil {
		return nil, fmt.Errorf("audit: integrity: %w", err)
	}
	rep := &IntegrityReport{Head: h.seq}
	if rep.Cursor, err = s.OutboxCursor(ctx); err != nil {
		return nil, fmt.Errorf("audit: integrity: %w", err)
	}
	a, where, ok, err := s.NewestAnchor(ctx)
	if err != nil {
		return nil, fmt.Errorf("audit: integrity: %w", err)
	}
	if ok {
		rep.Anchored, rep.AnchorLog = a.Seq, where
	}
	switch {
	case rep.Cursor > h.seq:
		rep.FirstMissing = h.seq + 1
		rep.Problem = fmt.Sprintf("the outbox cursor (entry %d already published) is ahead of the chain head (entry %d): entries from %d on were cut", rep.Cursor, h.seq, h.seq+1)
	case ok && a.Seq > h.seq:
		rep.FirstMissing = h.seq + 1
		rep.Problem = fmt.Sprintf("the checkpoint anchored in %s covers entry %d but the chain head is entry %d: entries from %d on were cut", where, a.Seq, h.seq, h.seq+1)
	case ok:
		at, err := s.hashAt(ctx, a.Seq)
		if err != nil {
			return nil, fmt.Errorf("audit: integrity: %w", err)
		}
		if at == nil {
			var kept int64
			if err := s.pool.QueryRow(ctx, "select coalesce(max(last_seq), 0) from audit_retention").Scan(&kept); err != nil {
				return nil, fmt.Errorf("audit: integrity: %w", err)
			}
			if a.Seq > kept {
				rep.FirstMissing = a.Seq
				rep.Problem = fmt.Sprintf("entry %d, covered by the checkpoint anchored in %s, is missing", a.Seq, where)
			}
		} else if !bytes.Equal(at, a.Hash) {
			rep.Problem = fmt.Sprintf("entry %d does not match the checkpoint anchored in %s: the chain was cut before it and written again", a.Seq, where)
		}
		if rep.Problem == "" && s.cfg.Publisher != nil && rep.Cursor < a.Seq {
			rep.Problem = fmt.Sprintf("the outbox cursor (entry %d) is behind the checkpoint anchored in %s (entry %d), which only names published entries: the cursor was moved back", rep.Cursor, where, a.Seq)
		}
	}
	return rep, nil
}

// kickCheck asks the checker for a check now.
func (s *Store) kickCheck() {
	select {
	case s.checkWake <- struct{}{}:
	default:
	}
}

// checker runs CheckIntegrity at start, every IntegrityInterval and when
// kicked, and raises or clears AlarmIntegrity on changes.
func (s *Store) checker(ctx context.Context, writerDone <-chan struct{}) {
	t := time.NewTicker(s.cfg.IntegrityInterval)
	defer t.Stop()
	for {
		cctx, cancel := context.WithTimeout(ctx, s.cfg.WriteTimeout+10*time.Second)
		rep, err := s.CheckIntegrity(cctx)
		cancel()
		if err != nil {
			s.log.Warn("audit integrity check could not run", "err", err)
		} else {
			s.setBroken(rep)
		}
		select {
		case <-writerDone:
			return
		case <-t.C:
		case <-s.checkWake:
		}
	}
}

// setBroken raises AlarmIntegrity when rep shows a (new) problem and
// clears it when the problem ended.
func (s *Store) setBroken(rep *IntegrityReport) {
	s.integrityMu.Lock()
	prev := s.broken
	s.broken = rep.Problem
	s.integrityMu.Unlock()
	switch {
	case rep.Problem != "" && rep.Problem != prev:
		s.log.Error("AUDIT TRAIL CUT: "+rep.Problem, "head", rep.Head, "outbox_cursor", rep.Cursor, "anchored", rep.Anchored, "anchor_log", rep.AnchorLog)
		s.raise(Alarm{Kind: AlarmIntegrity, Active: true, Seq: rep.FirstMissing, Detail: rep.Problem})
	case rep.Problem == "" && prev != "":
		s.log.Warn("audit integrity holds again", "head", rep.Head, "outbox_cursor", rep.Cursor, "anchored", rep.Anchored)
		s.raise(Alarm{Kind: AlarmIntegrity, Active: false, Detail: "head >= outbox cursor >= newest anchor holds again"})
	}
}

func (s *Store) raise(a Alarm) {
	if s.cfg.Alarm != nil {
		s.cfg.Alarm(a)
	}
}
