package record

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Querier is what the hold functions need: a pool or a transaction, so
// the caller can write the hold and its audit entry in one transaction.
type Querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Hold is a legal hold: footage of Cameras overlapping [From, To) is kept
// past retention while the hold is active.
type Hold struct {
	ID            string
	Cameras       []string
	From, To      time.Time
	CaseRef       string
	Reason        string
	CreatedBy     string
	CreatedAt     time.Time
	Until         *time.Time
	ReleasedAt    *time.Time
	ReleasedBy    string
	ReleaseReason string
}

// Active reports whether the hold protects footage at time now.
func (h Hold) Active(now time.Time) bool {
	return h.ReleasedAt == nil && (h.Until == nil || h.Until.After(now))
}

// HoldRequest creates a hold. Cameras, From < To, CaseRef, Reason and By
// are required; Until (optional) ends the hold by itself.
type HoldRequest struct {
	Cameras []string
	From    time.Time
	To      time.Time
	CaseRef string
	Reason  string
	By      string
	Until   *time.Time
}

const holdCols = `id, cameras, from_at, to_at, case_ref, reason, created_by, created_at, until_at, released_at, released_by, release_reason`

func scanHold(r pgx.Row) (Hold, error) {
	var h Hold
	err := r.Scan(&h.ID, &h.Cameras, &h.From, &h.To, &h.CaseRef, &h.Reason, &h.CreatedBy, &h.CreatedAt, &h.Until,
		&h.ReleasedAt, &h.ReleasedBy, &h.ReleaseReason)
	return h, err
}

// CreateHold writes a hold with q (a pool, or the caller's transaction).
func CreateHold(ctx context.Context, q Querier, req HoldRequest) (Hold, error) {
	var cams []string
	seen := map[string]bool{}
	for _, c := range req.Cameras {
		c = strings.TrimSpace(c)
		if c == "" || seen[c] {
			continue
		}
		seen[c] = true
		cams = append(cams, c)
	}
	switch {
	case len(cams) == 0:
		return Hold{}, fmt.Errorf("%w: a hold names at least one camera", ErrInvalid)
	case req.From.IsZero() || !req.To.After(req.From):
		return Hold{}, fmt.Errorf("%w: a hold needs a time range (from < to)", ErrInvalid)
	case strings.TrimSpace(req.CaseRef) == "":
		return Hold{}, fmt.Errorf("%w: a hold needs a case reference", ErrInvalid)
	case strings.TrimSpace(req.Reason) == "":
		return Hold{}, fmt.Errorf("%w: a hold needs a reason", ErrInvalid)
	case strings.TrimSpace(req.By) == "":
		return Hold{}, fmt.Errorf("%w: a hold needs who placed it", ErrInvalid)
	}
	h, err := scanHold(q.QueryRow(ctx, `insert into recording_holds (id, cameras, from_at, to_at, case_ref, reason, created_by, until_at)
		values ($1, $2, $3, $4, $5, $6, $7, $8) returning `+holdCols,
		newID("hold-"), cams, req.From, req.To, strings.TrimSpace(req.CaseRef), strings.TrimSpace(req.Reason),
		strings.TrimSpace(req.By), req.Until))
	if err != nil {
		return Hold{}, fmt.Errorf("record: create hold: %w", err)
	}
	return h, nil
}

// ReleaseHold releases an active hold; footage it protected becomes
// subject to retention again at the next sweep.
func ReleaseHold(ctx context.Context, q Querier, id, by, reason string) (Hold, error) {
	if strings.TrimSpace(by) == "" {
		return Hold{}, fmt.Errorf("%w: who releases the hold is required", ErrInvalid)
	}
	h, err := scanHold(q.QueryRow(ctx, `update recording_holds set released_at = now(), released_by = $2, release_reason = $3
		where id = $1 and released_at is null returning `+holdCols, id, by, reason))
	if errors.Is(err, pgx.ErrNoRows) {
		return Hold{}, fmt.Errorf("%w: no active hold %q", ErrNotFound, id)
	}
	if err != nil {
		return Hold{}, fmt.Errorf("record: release hold: %w", err)
	}
	return h, nil
}

// ListHolds returns holds, newest first: of one camera when cameraID is
// set, only active ones (at now) when activeOnly.
func ListHolds(ctx context.Context, q Querier, cameraID string, activeOnly bool, now time.Time) ([]Hold, error) {
	rows, err := q.Query(ctx, `select `+holdCols+` from recording_holds
		where ($1 = '' or cameras @> array[$1]) and (not $2 or (released_at is null and (until_at is null or until_at > $3)))
		order by created_at desc, id`, cameraID, activeOnly, now)
	if err != nil {
		return nil, fmt.Errorf("record: holds: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Hold, error) { return scanHold(r) })
	if err != nil {
		return nil, fmt.Errorf("record: holds: %w", err)
	}
	return out, nil
}

// CreateHold, ReleaseHold and ListHolds on the store's pool.
func (s *Store) CreateHold(ctx context.Context, req HoldRequest) (Hold, error) {
	return CreateHold(ctx, s.pool, req)
}

// ReleaseHold releases a hold on the store's pool.
func (s *Store) ReleaseHold(ctx context.Context, id, by, reason string) (Hold, error) {
	return ReleaseHold(ctx, s.pool, id, by, reason)
}

// ListHolds lists holds on the store's pool.
func (s *Store) ListHolds(ctx context.Context, cameraID string, activeOnly bool) ([]Hold, error) {
	return ListHolds(ctx, s.pool, cameraID, activeOnly, s.cfg.Now())
}
