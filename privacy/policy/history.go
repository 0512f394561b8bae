package policy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gwanje/gwanje/audit"
)

// Prior is a revision a city published before it used gwanje (개정 연혁:
// 번호, 년월, 제·개정 내용), with its past 공고일자 and 시행일자 and, where the
// city has it, the earlier document's text.
type Prior struct {
	Number      int
	AnnouncedOn time.Time // 공고일자 (civil date)
	// EffectiveOn is the 시행일자; default AnnouncedOn (earlier revisions
	// often record one date).
	EffectiveOn time.Time
	Revision    string // 제·개정 내용, e.g. "제정", "설치 및 운영현황 현행화"
	// Document is the earlier document's text (Markdown or plain), or empty.
	Document   string
	ImportedAt time.Time
	ImportedBy string
}

// ImportHistory stores a city's earlier revisions, so that its first gwanje
// version numbers on from them (the 14th, not 제정) and the 개정 연혁 lists
// them. It is allowed until the first gwanje version is published and
// replaces an earlier import; numbers must be distinct and dates in order
// (a later number never announced earlier), all in the past or today.
// policy.history.import is written to the audit store in the same
// transaction. Bad input changes nothing (ErrInvalid).
func (s *Service) ImportHistory(ctx context.Context, a Actor, priors []Prior, reason string) ([]Prior, error) {
	if len(priors) == 0 {
		return nil, fmt.Errorf("%w: no revisions to import", ErrInvalid)
	}
	if len(priors) > 1000 {
		return nil, fmt.Errorf("%w: %d revisions (at most 1000)", ErrInvalid, len(priors))
	}
	reason = strings.TrimSpace(reason)
	if err := checkText("reason", reason, 500); err != nil {
		return nil, err
	}
	today := civil(s.cfg.Now())
	ps := make([]Prior, len(priors))
	for i, p := range priors {
		p.Revision = strings.TrimSpace(p.Revision)
		if p.Number < 1 {
			return nil, fmt.Errorf("%w: revision number %d", ErrInvalid, p.Number)
		}
		if p.Revision == "" {
			return nil, fmt.Errorf("%w: revision %d has no 제·개정 내용", ErrInvalid, p.Number)
		}
		if err := checkText("revision", p.Revision, 500); err != nil {
			return nil, err
		}
		if len(p.Document) > 1<<20 {
			return nil, fmt.Errorf("%w: revision %d: document longer than 1 MiB", ErrInvalid, p.Number)
		}
		if strings.ContainsRune(p.Document, 0) {
			return nil, fmt.Errorf("%w: revision %d: document contains NUL", ErrInvalid, p.Number)
		}
		if p.AnnouncedOn.IsZero() {
			return nil, fmt.Errorf("%w: revision %d has no 공고일자", ErrInvalid, p.Number)
		}
		p.AnnouncedOn = civilDate(p.AnnouncedOn)
		if p.EffectiveOn.IsZero() {
			p.EffectiveOn = p.AnnouncedOn
		}
		p.EffectiveOn = civilDate(p.EffectiveOn)
		if p.EffectiveOn.Before(p.AnnouncedOn) {
			return nil, fmt.Errorf("%w: revision %d takes effect %s before its announcement %s", ErrInvalid, p.Number,
				Date(p.EffectiveOn), Date(p.AnnouncedOn))
		}
		if p.AnnouncedOn.After(today) {
			return nil, fmt.Errorf("%w: revision %d is announced %s, after today: publish it as a gwanje version", ErrInvalid,
				p.Number, Date(p.AnnouncedOn))
		}
		ps[i] = p
	}
	slices.SortFunc(ps, func(a, b Prior) int { return a.Number - b.Number })
	for i := 1; i < len(ps); i++ {
		if ps[i].Number == ps[i-1].Number {
			return nil, fmt.Errorf("%w: revision %d listed twice", ErrInvalid, ps[i].Number)
		}
		if ps[i].AnnouncedOn.Before(ps[i-1].AnnouncedOn) {
			return nil, fmt.Errorf("%w: revision %d (%s) is announced before revision %d (%s)", ErrInvalid,
				ps[i].Number, Date(ps[i].AnnouncedOn), ps[i-1].Number, Date(ps[i-1].AnnouncedOn))
		}
	}
	err := pgx.BeginFunc(ctx, s.cfg.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "select pg_advisory_xact_lock($1)", int64(publishLock)); err != nil {
			return fmt.Errorf("policy: import history: lock: %w", err)
		}
		_, err := s.latest(ctx, tx)
		if err == nil {
			return fmt.Errorf("%w: a gwanje version is already published; earlier revisions are imported before the first", ErrInvalid)
		}
		if !errors.Is(err, ErrNotFound) {
			return err
		}
		if _, err := tx.Exec(ctx, `delete from policy_prior_versions`); err != nil {
			return fmt.Errorf("policy: import history: %w", err)
		}
		for i := range ps {
			if err := tx.QueryRow(ctx, `insert into policy_prior_versions (number, announced_on, effective_on, revision, document, imported_by)
				values ($1,$2,$3,$4,$5,$6) returning imported_at`, ps[i].Number, ps[i].AnnouncedOn, ps[i].EffectiveOn, ps[i].Revision,
				ps[i].Document, a.Username).Scan(&ps[i].ImportedAt); err != nil {
				return fmt.Errorf("policy: import history: %w", err)
			}
			ps[i].ImportedBy = a.Username
		}
		nums := make([]int, len(ps))
		for i, p := range ps {
			nums[i] = p.Number
		}
		if _, err := s.cfg.Auditor.AppendTx(ctx, tx, audit.Entry{Type: "policy.history.import", Outcome: audit.Success, Actor: a.Actor,
			ClientAddr: a.ClientAddr, SessionID: a.SessionID, RequestID: a.RequestID, Reason: reason,
			Details: map[string]any{"revisions": nums, "first_announced_on": ps[0].AnnouncedOn.Format(time.DateOnly),
				"last_announced_on": ps[len(ps)-1].AnnouncedOn.Format(time.DateOnly)}}); err != nil {
			return fmt.Errorf("policy: import history: audit: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.log.Info("earlier policy revisions imported", "revisions", len(ps), "by", a.Username)
	return ps, nil
}

// civilDate keeps t's calendar date as given (a date typed as 2019-03-04
// is that date), as midnight UTC.
func civilDate(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// Priors lists the imported earlier revisions, oldest first.
func (s *Service) Priors(ctx context.Context) ([]Prior, error) { return s.priors(ctx, s.cfg.Pool) }

func (s *Service) priors(ctx context.Context, q querier) ([]Prior, error) {
	rows, err := q.Query(ctx, `select number, announced_on, effective_on, revision, document, imported_at, imported_by
		from policy_prior_versions order by number`)
	if err != nil {
		return nil, fmt.Errorf("policy: earlier revisions: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Prior, error) {
		var p Prior
		err := r.Scan(&p.Number, &p.AnnouncedOn, &p.EffectiveOn, &p.Revision, &p.Document, &p.ImportedAt, &p.ImportedBy)
		return p, err
	})
	if err != nil {
		return nil, fmt.Errorf("policy: earlier revisions: %w", err)
	}
	return out, nil
}

// Prior returns the imported earlier revision n (ErrNotFound when none).
func (s *Service) Prior(ctx context.Context, n int) (Prior, error) {
	var p Prior
	err := s.cfg.Pool.QueryRow(ctx, `select number, announced_on, effective_on, revision, document, imported_at, imported_by
		from policy_prior_versions where number = $1`, n).Scan(&p.Number, &p.AnnouncedOn, &p.EffectiveOn, &p.Revision, &p.Document,
		&p.ImportedAt, &p.ImportedBy)
	if errors.Is(err, pgx.ErrNoRows) {
		return Prior{}, fmt.Errorf("%w: no such policy version", ErrNotFound)
	}
	if err != nil {
		return Prior{}, fmt.Errorf("policy: earlier revision: %w", err)
	}
	return p, nil
}
