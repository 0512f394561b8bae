package policy

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gwanje/gwanje/audit"
	"github.com/gwanje/gwanje/devices"
	"github.com/gwanje/gwanje/internal/textcheck"
)

// MinNoticeDays is the least number of days between a version's
// announcement (공고일자) and its effect (시행일자) unless an urgent reason is
// recorded.
const MinNoticeDays = 7

// publishLock is the advisory lock serializing Publish ("policy" in hex).
const publishLock = 0x706f6c696379

// civil returns t's calendar date in Korea Standard Time, as midnight UTC
// (how dates are stored and compared).
func civil(t time.Time) time.Time {
	y, m, d := t.In(devices.Seoul).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// compute is the document the registry and the institution settings in
// force give now, and those settings.
func (s *Service) compute(ctx context.Context, q querier) (Document, Institution, error) {
	inst, err := s.institution(ctx, q)
	if err != nil {
		return Document{}, Institution{}, err
	}
	rep, err := s.cfg.Registry.InstallationReport(ctx, s.cfg.ReportFilter)
	if err != nil {
		return Document{}, Institution{}, fmt.Errorf("policy: installation report: %w", err)
	}
	var contracts []Outsourcing
	if s.cfg.Contracts != nil {
		if contracts, err = s.cfg.Contracts.Contracts(ctx, s.cfg.Now()); err != nil {
			return Document{}, Institution{}, fmt.Errorf("policy: contracts: %w", err)
		}
	}
	return Build(inst, rep, contracts), inst, nil
}

// Draft is what Publish would publish now.
type Draft struct {
	Document Document
	// Latest is the latest published version, nil when there is none.
	Latest *VersionInfo
	// Changes against Latest (empty when there is none).
	Changes []Change
	// Revision is the proposed 개정 연혁 line.
	Revision string
	// Unchanged: the document equals Latest; Publish would publish nothing.
	Unchanged bool
	// HTML and Markdown render the draft (without a version header).
	HTML     string
	Markdown string
}

// Draft computes the document from the registry now and compares it with
// the latest version, without publishing anything.
func (s *Service) Draft(ctx context.Context) (Draft, error) {
	doc, _, err := s.compute(ctx, s.cfg.Pool)
	if err != nil {
		return Draft{}, err
	}
	priors, err := s.priors(ctx, s.cfg.Pool)
	if err != nil {
		return Draft{}, err
	}
	d := Draft{Document: doc}
	latest, err := s.latest(ctx, s.cfg.Pool)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Draft{}, err
	}
	if err == nil {
		d.Latest = &latest.VersionInfo
		d.Unchanged = bytes.Equal(latest.ContentHash, doc.Hash())
		d.Changes = Compare(&latest.Document, &doc)
	}
	d.Revision = ProposeRevision(d.Latest == nil, d.Changes)
	if d.Latest == nil && len(priors) > 0 {
		d.Revision = RevisionMigrated
	}
	if d.HTML, err = RenderHTML(&doc, VersionInfo{}, nil, d.Changes); err != nil {
		return Draft{}, err
	}
	d.Markdown = RenderMarkdown(&doc, VersionInfo{}, nil, d.Changes)
	return d, nil
}

// PublishOptions are the dates and texts of a new version.
type PublishOptions struct {
	// AnnounceOn is the 공고일자; default today (KST). Not before today.
	AnnounceOn time.Time
	// EffectiveOn is the 시행일자; default AnnounceOn + 7 days (AnnounceOn
	// when UrgentReason is set). At least 7 days after AnnounceOn unless
	// UrgentReason is set; never before the previous version's.
	EffectiveOn time.Time
	// UrgentReason records why the version takes effect less than 7 days
	// after its announcement.
	UrgentReason string
	// Revision overrides the proposed 개정 연혁 line.
	Revision string
}

func checkText(name, v string, max int) error {
	if err := textcheck.Field(name, v); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if len(v) > max {
		return fmt.Errorf("%w: %s is longer than %d bytes", ErrInvalid, name, max)
	}
	if strings.ContainsAny(v, "\x00\r\n") {
		return fmt.Errorf("%w: %s contains a control character", ErrInvalid, name)
	}
	return nil
}

// Publish computes the document from the registry now. When it equals the
// latest version nothing is published and Publish returns the latest version
// and false. Otherwise it stores the next version (immutable) with its
// 개정 연혁 line, 전·후 비교, dates, HTML and Markdown, writes policy.publish to
// the audit store in the same transaction, and returns it and true.
func (s *Service) Publish(ctx context.Context, a Actor, opts PublishOptions) (Version, bool, error) {
	opts.UrgentReason = strings.TrimSpace(opts.UrgentReason)
	opts.Revision = strings.TrimSpace(opts.Revision)
	if err := checkText("urgent reason", opts.UrgentReason, 500); err != nil {
		return Version{}, false, err
	}
	if err := checkText("revision", opts.Revision, 500); err != nil {
		return Version{}, false, err
	}
	today := civil(s.cfg.Now())
	announce := today
	if !opts.AnnounceOn.IsZero() {
		announce = civil(opts.AnnounceOn)
	}
	if announce.Before(today) {
		return Version{}, false, fmt.Errorf("%w: the announcement date %s is in the past", ErrInvalid, Date(announce))
	}
	effective := announce.AddDate(0, 0, MinNoticeDays)
	if opts.UrgentReason != "" {
		effective = announce
	}
	if !opts.EffectiveOn.IsZero() {
		effective = civil(opts.EffectiveOn)
	}
	if effective.Before(announce) {
		return Version{}, false, fmt.Errorf("%w: the effective date %s is before the announcement %s", ErrInvalid, Date(effective), Date(announce))
	}
	if effective.Before(announce.AddDate(0, 0, MinNoticeDays)) && opts.UrgentReason == "" {
		return Version{}, false, fmt.Errorf("%w: the effective date %s is less than %d days after the announcement %s; record an urgent reason",
			ErrInvalid, Date(effective), MinNoticeDays, Date(announce))
	}

	var out Version
	created := false
	err := pgx.BeginFunc(ctx, s.cfg.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "select pg_advisory_xact_lock($1)", int64(publishLock)); err != nil {
			return fmt.Errorf("policy: publish: lock: %w", err)
		}
		prev, err := s.latest(ctx, tx)
		first := errors.Is(err, ErrNotFound)
		if err != nil && !first {
			return err
		}
		doc, inst, err := s.compute(ctx, tx)
		if err != nil {
			return err
		}
		priors, err := s.priors(ctx, tx)
		if err != nil {
			return err
		}
		hash := doc.Hash()
		if !first && bytes.Equal(prev.ContentHash, hash) {
			out = prev
			return nil
		}
		v := Version{VersionInfo: VersionInfo{Number: 1, PublishedAt: s.cfg.Now(), AnnouncedOn: announce,
			EffectiveOn: effective, UrgentReason: opts.UrgentReason, PublishedBy: a.Username, ContentHash: hash}, Document: doc}
		if first && len(priors) > 0 {
			// The first gwanje version numbers on from the city's earlier
			// revisions and is announced no earlier than the last of them.
			last := priors[len(priors)-1]
			if announce.Before(last.AnnouncedOn) || effective.Before(last.EffectiveOn) {
				return fmt.Errorf("%w: revision %d was announced %s effective %s; a new version cannot be announced or take effect earlier",
					ErrInvalid, last.Number, Date(last.AnnouncedOn), Date(last.EffectiveOn))
			}
			v.Number = last.Number + 1
		}
		if !first {
			if announce.Before(prev.AnnouncedOn) || effective.Before(prev.EffectiveOn) {
				return fmt.Errorf("%w: version %d was announced %s effective %s; a new version cannot be announced or take effect earlier",
					ErrInvalid, prev.Number, Date(prev.AnnouncedOn), Date(prev.EffectiveOn))
			}
			v.Number = prev.Number + 1
			v.Changes = Compare(&prev.Document, &doc)
		}
		v.Revision = opts.Revision
		if v.Revision == "" {
			v.Revision = ProposeRevision(first, v.Changes)
			if first && len(priors) > 0 {
				v.Revision = RevisionMigrated
			}
		}
		v.Institution = &inst
		history, err := s.history(ctx, tx)
		if err != nil {
			return err
		}
		history = append(history, v.VersionInfo)
		if v.HTML, err = RenderHTML(&doc, v.VersionInfo, history, v.Changes); err != nil {
			return err
		}
		v.Markdown = RenderMarkdown(&doc, v.VersionInfo, history, v.Changes)
		docJSON, err := json.Marshal(doc)
		if err != nil {
			return fmt.Errorf("policy: publish: %w", err)
		}
		changes := v.Changes
		if changes == nil {
			changes = []Change{}
		}
		chJSON, err := json.Marshal(changes)
		if err != nil {
			return fmt.Errorf("policy: publish: %w", err)
		}
		instJSON, err := json.Marshal(inst)
		if err != nil {
			return fmt.Errorf("policy: publish: %w", err)
		}
		if err := tx.QueryRow(ctx, `insert into policy_versions (number, published_at, announced_on, effective_on, urgent_reason,
			revision, published_by, content_hash, document, changes, html, markdown, institution)
			values ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13) returning published_at`,
			v.Number, v.PublishedAt, v.AnnouncedOn, v.EffectiveOn, v.UrgentReason, v.Revision, v.PublishedBy, hash,
			docJSON, chJSON, v.HTML, v.Markdown, instJSON).Scan(&v.PublishedAt); err != nil {
			return fmt.Errorf("policy: publish: %w", err)
		}
		ids := make([]string, len(v.Changes))
		for i, c := range v.Changes {
			ids[i] = c.ClauseID
		}
		if _, err := s.cfg.Auditor.AppendTx(ctx, tx, audit.Entry{Type: "policy.publish", Outcome: audit.Success, Actor: a.Actor,
			ClientAddr: a.ClientAddr, SessionID: a.SessionID, RequestID: a.RequestID, Reason: v.UrgentReason,
			Details: map[string]any{"version": v.Number, "announced_on": v.AnnouncedOn.Format(time.DateOnly),
				"effective_on": v.EffectiveOn.Format(time.DateOnly), "revision": v.Revision, "changed_clauses": ids,
				"content_hash": hex.EncodeToString(hash)}}); err != nil {
			return fmt.Errorf("policy: publish: audit: %w", err)
		}
		out, created = v, true
		return nil
	})
	if err != nil {
		return Version{}, false, err
	}
	if created {
		s.log.Info("policy version published", "version", out.Number, "revision", out.Revision,
			"announced_on", out.AnnouncedOn.Format(time.DateOnly), "effective_on", out.EffectiveOn.Format(time.DateOnly),
			"changed_clauses", len(out.Changes), "by", a.Username)
	}
	return out, created, nil
}

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

const infoCols = `number, published_at, announced_on, effective_on, urgent_reason, revision, published_by, content_hash, institution`
const versionCols = infoCols + `, document, changes, html, markdown`

func scanVersion(row pgx.Row) (Version, error) {
	var v Version
	var doc, ch, inst []byte
	if err := row.Scan(&v.Number, &v.PublishedAt, &v.AnnouncedOn, &v.EffectiveOn, &v.UrgentReason, &v.Revision,
		&v.PublishedBy, &v.ContentHash, &inst, &doc, &ch, &v.HTML, &v.Markdown); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return Version{}, fmt.Errorf("%w: no such policy version", ErrNotFound)
		}
		return Version{}, fmt.Errorf("policy: read version: %w", err)
	}
	if err := v.scanInstitution(inst); err != nil {
		return Version{}, err
	}
	if err := json.Unmarshal(doc, &v.Document); err != nil {
		return Version{}, fmt.Errorf("policy: version %d document: %w", v.Number, err)
	}
	if err := json.Unmarshal(ch, &v.Changes); err != nil {
		return Version{}, fmt.Errorf("policy: version %d changes: %w", v.Number, err)
	}
	return v, nil
}

func (s *Service) latest(ctx context.Context, q querier) (Version, error) {
	return scanVersion(q.QueryRow(ctx, `select `+versionCols+` from policy_versions order by number desc limit 1`))
}

// history lists the imported earlier revisions and the published versions,
// oldest first: the 개정 연혁.
func (s *Service) history(ctx context.Context, q querier) ([]VersionInfo, error) {
	priors, err := s.priors(ctx, q)
	if err != nil {
		return nil, err
	}
	rows, err := q.Query(ctx, `select `+infoCols+` from policy_versions order by number`)
	if err != nil {
		return nil, fmt.Errorf("policy: history: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (VersionInfo, error) {
		var v VersionInfo
		var inst []byte
		if err := r.Scan(&v.Number, &v.PublishedAt, &v.AnnouncedOn, &v.EffectiveOn, &v.UrgentReason, &v.Revision,
			&v.PublishedBy, &v.ContentHash, &inst); err != nil {
			return v, err
		}
		return v, v.scanInstitution(inst)
	})
	if err != nil {
		return nil, fmt.Errorf("policy: history: %w", err)
	}
	hs := make([]VersionInfo, 0, len(priors)+len(out))
	for _, p := range priors {
		hs = append(hs, VersionInfo{Number: p.Number, PublishedAt: p.ImportedAt, AnnouncedOn: p.AnnouncedOn, EffectiveOn: p.EffectiveOn,
			Revision: p.Revision, PublishedBy: p.ImportedBy, Imported: true, HasDocument: p.Document != ""})
	}
	return append(hs, out...), nil
}

// History lists every version, oldest first: the imported earlier
// revisions (Imported) and the published ones.
func (s *Service) History(ctx context.Context) ([]VersionInfo, error) {
	return s.history(ctx, s.cfg.Pool)
}

// Version returns version n (ErrNotFound when there is none).
func (s *Service) Version(ctx context.Context, n int) (Version, error) {
	if n < 1 {
		return Version{}, fmt.Errorf("%w: version %d", ErrNotFound, n)
	}
	return scanVersion(s.cfg.Pool.QueryRow(ctx, `select `+versionCols+` from policy_versions where number = $1`, n))
}

// Latest returns the latest published version, in force or announced
// (ErrNotFound when nothing was published).
func (s *Service) Latest(ctx context.Context) (Version, error) { return s.latest(ctx, s.cfg.Pool) }

// Current returns the version in force at t: the latest whose 시행일자 is on
// or before t's date (ErrNotFound when none is in force yet).
func (s *Service) Current(ctx context.Context, t time.Time) (Version, error) {
	return scanVersion(s.cfg.Pool.QueryRow(ctx, `select `+versionCols+` from policy_versions where effective_on <= $1
		order by number desc limit 1`, civil(t)))
}

func (v *VersionInfo) scanInstitution(raw []byte) error {
	if len(raw) == 0 {
		return nil
	}
	var in Institution
	if err := json.Unmarshal(raw, &in); err != nil {
		return fmt.Errorf("policy: version %d settings: %w", v.Number, err)
	}
	v.Institution = &in
	return nil
}
