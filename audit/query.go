package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Stored is an entry as read back from the store.
type Stored struct {
	Record
	Entry Entry
	// LoggedAt is when the store committed the entry (never decreasing
	// with Seq); Entry.Time is when the action happened.
	LoggedAt time.Time
	PrevHash []byte
}

// Filter selects entries for Query. Zero fields select everything.
type Filter struct {
	// From (inclusive) and To (exclusive) bound the entry time.
	From, To time.Time
	// UserID or Username of the actor.
	UserID   string
	Username string
	// Camera: entries touching this camera.
	Camera string
	// Types: exact types, or prefixes ending in ".*" ("playback.*").
	Types   []string
	Outcome Outcome
	Purpose string
	// Newest returns the newest entries first.
	Newest bool
	// Limit bounds the page. Default 100, at most 1000.
	Limit int
	// Cursor continues after the page that returned it.
	Cursor string
}

// Page is one page of a query. Next is empty on the last page.
type Page struct {
	Entries []Stored
	Next    string
}

const entryCols = `seq, logged_at, time, type, outcome, user_id, username, role, org, client_addr,
	session_id, cameras, footage_from, footage_to, live, purpose, purpose_text, reason, request_id,
	details, prev_hash, hash`

func scanStored(rows pgx.Rows) (Stored, error) {
	var s Stored
	var outcome, details string
	e := &s.Entry
	err := rows.Scan(&s.Seq, &s.LoggedAt, &e.Time, &e.Type, &outcome, &e.Actor.UserID, &e.Actor.Username,
		&e.Actor.Role, &e.Actor.Org, &e.ClientAddr, &e.SessionID, &e.Cameras, &e.FootageFrom, &e.FootageTo,
		&e.Live, &e.Purpose, &e.PurposeText, &e.Reason, &e.RequestID, &details, &s.PrevHash, &s.Hash)
	if err != nil {
		return Stored{}, err
	}
	e.Outcome = Outcome(outcome)
	s.LoggedAt = s.LoggedAt.UTC()
	e.Time = e.Time.UTC()
	if e.FootageFrom != nil {
		t := e.FootageFrom.UTC()
		e.FootageFrom = &t
	}
	if e.FootageTo != nil {
		t := e.FootageTo.UTC()
		e.FootageTo = &t
	}
	if details != "{}" {
		_ = json.Unmarshal([]byte(details), &e.Details)
	}
	s.Time = e.Time
	return s, nil
}

// where builds the SQL condition of f (without cursor and order).
func (f Filter) where(args *[]any) string {
	var conds []string
	add := func(cond string, v any) {
		*args = append(*args, v)
		conds = append(conds, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(*args))))
	}
	if !f.From.IsZero() {
		add("time >= ?", f.From)
	}
	if !f.To.IsZero() {
		add("time < ?", f.To)
	}
	if f.UserID != "" {
		add("user_id = ?", f.UserID)
	}
	if f.Username != "" {
		add("username = ?", f.Username)
	}
	if f.Camera != "" {
		add("cameras @> array[?::text]", f.Camera)
	}
	if f.Outcome != "" {
		add("outcome = ?", string(f.Outcome))
	}
	if f.Purpose != "" {
		add("purpose = ?", f.Purpose)
	}
	if len(f.Types) > 0 {
		var exact, prefixes []string
		for _, t := range f.Types {
			if p, ok := strings.CutSuffix(t, "*"); ok {
				prefixes = append(prefixes, strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(p)+"%")
			} else {
				exact = append(exact, t)
			}
		}
		var ors []string
		if len(exact) > 0 {
			*args = append(*args, exact)
			ors = append(ors, fmt.Sprintf("type = any($%d)", len(*args)))
		}
		if len(prefixes) > 0 {
			*args = append(*args, prefixes)
			ors = append(ors, fmt.Sprintf("type like any($%d)", len(*args)))
		}
		conds = append(conds, "("+strings.Join(ors, " or ")+")")
	}
	if len(conds) == 0 {
		return "true"
	}
	return strings.Join(conds, " and ")
}

// Query returns one page of entries matching f, oldest first unless
// f.Newest.
func (s *Store) Query(ctx context.Context, f Filter) (Page, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	if limit > 1000 {
		limit = 1000
	}
	var args []any
	where := f.where(&args)
	if f.Cursor != "" {
		after, err := strconv.ParseInt(strings.TrimPrefix(f.Cursor, "s"), 10, 64)
		if err != nil || !strings.HasPrefix(f.Cursor, "s") {
			return Page{}, fmt.Errorf("%w: bad cursor", ErrInvalid)
		}
		args = append(args, after)
		if f.Newest {
			where += fmt.Sprintf(" and seq < $%d", len(args))
		} else {
			where += fmt.Sprintf(" and seq > $%d", len(args))
		}
	}
	order := "seq"
	if f.Newest {
		order = "seq desc"
	}
	args = append(args, limit+1)
	sql := fmt.Sprintf("select %s from audit_entry where %s order by %s limit $%d", entryCols, where, order, len(args))
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return Page{}, fmt.Errorf("audit: query: %w", err)
	}
	defer rows.Close()
	var p Page
	for rows.Next() {
		st, err := scanStored(rows)
		if err != nil {
			return Page{}, fmt.Errorf("audit: query: %w", err)
		}
		p.Entries = append(p.Entries, st)
	}
	if err := rows.Err(); err != nil {
		return Page{}, fmt.Errorf("audit: query: %w", err)
	}
	if len(p.Entries) > limit {
		p.Entries = p.Entries[:limit]
		p.Next = "s" + strconv.FormatInt(p.Entries[limit-1].Seq, 10)
	}
	return p, nil
}

// each calls fn for every entry matching f (Limit and Cursor ignored),
// oldest first.
func (s *Store) each(ctx context.Context, f Filter, fn func(*Stored) error) error {
	f.Cursor, f.Newest, f.Limit = "", false, 1000
	for {
		p, err := s.Query(ctx, f)
		if err != nil {
			return err
		}
		for i := range p.Entries {
			if err := fn(&p.Entries[i]); err != nil {
				return err
			}
		}
		if p.Next == "" {
			return nil
		}
		f.Cursor = p.Next
	}
}

// payload is the JSON published for an entry (subject gwanje.v1.audit.<type>).
type payload struct {
	Seq         int64          `json:"seq"`
	Time        time.Time      `json:"time"`
	LoggedAt    time.Time      `json:"logged_at"`
	Type        string         `json:"type"`
	Outcome     Outcome        `json:"outcome"`
	UserID      string         `json:"user_id,omitempty"`
	Username    string         `json:"username,omitempty"`
	Role        string         `json:"role,omitempty"`
	Org         string         `json:"org,omitempty"`
	ClientAddr  string         `json:"client_addr,omitempty"`
	SessionID   string         `json:"session_id,omitempty"`
	Cameras     []string       `json:"cameras,omitempty"`
	FootageFrom *time.Time     `json:"footage_from,omitempty"`
	FootageTo   *time.Time     `json:"footage_to,omitempty"`
	Live        bool           `json:"live,omitempty"`
	Purpose     string         `json:"purpose,omitempty"`
	PurposeText string         `json:"purpose_text,omitempty"`
	Reason      string         `json:"reason,omitempty"`
	RequestID   string         `json:"request_id,omitempty"`
	Details     map[string]any `json:"details,omitempty"`
	PrevHash    string         `json:"prev_hash"`
	Hash        string         `json:"hash"`
}

// MarshalJSON encodes a stored entry as the outbox publishes it.
func (s Stored) MarshalJSON() ([]byte, error) {
	e := s.Entry
	return json.Marshal(payload{
		Seq: s.Seq, Time: e.Time, LoggedAt: s.LoggedAt, Type: e.Type, Outcome: e.Outcome,
		UserID: e.Actor.UserID, Username: e.Actor.Username, Role: e.Actor.Role, Org: e.Actor.Org,
		ClientAddr: e.ClientAddr, SessionID: e.SessionID, Cameras: e.Cameras,
		FootageFrom: e.FootageFrom, FootageTo: e.FootageTo, Live: e.Live, Purpose: e.Purpose,
		PurposeText: e.PurposeText, Reason: e.Reason, RequestID: e.RequestID, Details: e.Details,
		PrevHash: fmt.Sprintf("%x", s.PrevHash), Hash: fmt.Sprintf("%x", s.Hash),
	})
}

func isNoRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }
