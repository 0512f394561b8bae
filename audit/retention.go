package audit

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"time"
)

// DroppedMonth is a month of entries removed by retention.
type DroppedMonth struct {
	Month     time.Time // first instant of the month, UTC
	Partition string
	FirstSeq  int64
	LastSeq   int64
	Entries   int64
}

var partitionRE = regexp.MustCompile(`^audit_entry_(\d{4})_(\d{2})$`)

// DropExpired drops whole expired months, oldest first, and stops at the
// first month that must be kept: a month (by log time, UTC) goes when all
// of it is older than AccessRetentionMonths — or GrantRetentionMonths when
// it holds a GrantTypes entry. Each drop happens in one transaction with a
// retention record (the last dropped entry's seq and hash, which anchors
// the chain of what remains; see Verify) and an audit entry
// "audit.retention.drop" by actor. This is the only path that removes
// entries: it drops partitions, which the append-only triggers do not
// cover, and needs the AdminPool's DDL rights.
func (s *Store) DropExpired(ctx context.Context, actor Actor) ([]DroppedMonth, error) {
	// The retention entry itself goes into this month's partition.
	if err := s.ensurePartitions(ctx, s.now()); err != nil {
		return nil, err
	}
	rows, err := s.admin.Query(ctx, `select c.relname from pg_inherits i
		join pg_class c on c.oid = i.inhrelid
		where i.inhparent = 'audit_entry'::regclass`)
	if err != nil {
		return nil, fmt.Errorf("audit: retention: %w", err)
	}
	var parts []DroppedMonth
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return nil, fmt.Errorf("audit: retention: %w", err)
		}
		m := partitionRE.FindStringSubmatch(name)
		if m == nil {
			continue
		}
		t, err := time.Parse("2006-01", m[1]+"-"+m[2])
		if err != nil {
			continue
		}
		parts = append(parts, DroppedMonth{Month: t, Partition: name})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit: retention: %w", err)
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i].Month.Before(parts[j].Month) })

	now := s.now().UTC()
	thisMonth := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	accessCut := thisMonth.AddDate(0, -s.cfg.AccessRetentionMonths, 0)
	grantCut := thisMonth.AddDate(0, -s.cfg.GrantRetentionMonths, 0)
	var grantLike []string
	for _, p := range s.cfg.GrantTypes {
		grantLike = append(grantLike, likePrefix(p))
	}
	var dropped []DroppedMonth
	for _, p := range parts {
		end := p.Month.AddDate(0, 1, 0)
		if end.After(accessCut) {
			break
		}
		d, keep, err := s.dropMonth(ctx, p, end, grantCut, grantLike, actor)
		if err != nil {
			return dropped, err
		}
		if keep {
			break
		}
		s.log.Info("audit retention: dropped a month", "month", d.Month.Format("2006-01"), "entries", d.Entries, "last_seq", d.LastSeq)
		dropped = append(dropped, d)
	}
	return dropped, nil
}

func likePrefix(p string) string {
	out := make([]rune, 0, len(p)+1)
	for _, r := range p {
		if r == '%' || r == '_' || r == '\\' {
			out = append(out, '\\')
		}
		out = append(out, r)
	}
	return string(out) + "%"
}

func (s *Store) dropMonth(ctx context.Context, p DroppedMonth, end, grantCut time.Time, grantLike []string, actor Actor) (DroppedMonth, bool, error) {
	tx, err := s.admin.Begin(ctx)
	if err != nil {
		return p, false, fmt.Errorf("audit: retention: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	// The head's lock keeps appends out while the month goes.
	if _, err := readHead(ctx, tx, true); err != nil {
		return p, false, fmt.Errorf("audit: retention: %w", err)
	}
	q := fmt.Sprintf(`select count(*), coalesce(min(seq), 0), coalesce(max(seq), 0),
		coalesce(bool_or(type like any($1)), false) from %q`, p.Partition)
	var grants bool
	if err := tx.QueryRow(ctx, q, grantLike).Scan(&p.Entries, &p.FirstSeq, &p.LastSeq, &grants); err != nil {
		return p, false, fmt.Errorf("audit: retention: %w", err)
	}
	if grants && end.After(grantCut) {
		return p, true, nil
	}
	if p.Entries > 0 {
		var lastHash []byte
		if err := tx.QueryRow(ctx, fmt.Sprintf("select hash from %q where seq = $1", p.Partition), p.LastSeq).Scan(&lastHash); err != nil {
			return p, false, fmt.Errorf("audit: retention: %w", err)
		}
		var prevLast int64
		err := tx.QueryRow(ctx, "select last_seq from audit_retention order by last_seq desc limit 1").Scan(&prevLast)
		if err != nil && !isNoRows(err) {
			return p, false, fmt.Errorf("audit: retention: %w", err)
		}
		if prevLast != 0 && p.FirstSeq != prevLast+1 {
			return p, false, fmt.Errorf("audit: retention: month %s starts at entry %d but the last dropped entry is %d: verify the log first", p.Month.Format("2006-01"), p.FirstSeq, prevLast)
		}
		if _, err := tx.Exec(ctx, `insert into audit_retention (month, first_seq, last_seq, last_hash, entries, dropped_by)
			values ($1, $2, $3, $4, $5, $6)`, p.Month, p.FirstSeq, p.LastSeq, lastHash, p.Entries, actor.Username); err != nil {
			return p, false, fmt.Errorf("audit: retention: %w", err)
		}
	}
	if _, err := tx.Exec(ctx, fmt.Sprintf("drop table %q", p.Partition)); err != nil {
		return p, false, fmt.Errorf("audit: retention: drop %s: %w", p.Partition, err)
	}
	if _, err := s.AppendTx(ctx, tx, Entry{Type: "audit.retention.drop", Outcome: Success, Actor: actor,
		Reason: "retention period ended",
		Details: map[string]any{"month": p.Month.Format("2006-01"), "first_seq": p.FirstSeq, "last_seq": p.LastSeq,
			"entries": p.Entries, "grant_entries": grants}}); err != nil {
		return p, false, err
	}
	if err := tx.Commit(ctx); err != nil {
		return p, false, fmt.Errorf("audit: retention: %w", err)
	}
	s.headStale.Store(true)
	return p, false, nil
}

// RetentionActor is the audit actor of the scheduled retention job.
var RetentionActor = Actor{Username: "system:retention"}

// RunRetention runs DropExpired now and then every interval (default one
// day) until ctx ends. Failures are logged and retried at the next round;
// nothing is dropped on a failed round.
func (s *Store) RunRetention(ctx context.Context, every time.Duration) error {
	if every <= 0 {
		every = 24 * time.Hour
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		dropped, err := s.DropExpired(ctx, RetentionActor)
		switch {
		case err != nil && ctx.Err() == nil:
			s.log.Error("audit retention round failed; retrying at the next round", "err", err)
		case len(dropped) > 0:
			for _, d := range dropped {
				s.log.Info("audit retention dropped an expired month", "month", d.Month.Format("2006-01"), "entries", d.Entries, "first_seq", d.FirstSeq, "last_seq", d.LastSeq)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
