package policy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gwanje/gwanje/audit"
)

// Settings are the institution settings in force and where they come from.
type Settings struct {
	Institution Institution
	// Stored: a manager changed them through the API (policy_settings);
	// false while the server's flags and YAML (Config.Institution) are the
	// settings.
	Stored    bool
	UpdatedAt time.Time
	UpdatedBy string
}

// Settings returns the institution settings the next version is built with:
// those a manager stored, else Config.Institution. Defaults are not filled
// in (an empty request place stays empty; the document describes it by the
// duty that holds it).
func (s *Service) Settings(ctx context.Context) (Settings, error) {
	return s.settings(ctx, s.cfg.Pool)
}

func (s *Service) settings(ctx context.Context, q querier) (Settings, error) {
	var raw []byte
	st := Settings{Stored: true}
	err := q.QueryRow(ctx, `select settings, updated_at, updated_by from policy_settings`).Scan(&raw, &st.UpdatedAt, &st.UpdatedBy)
	if errors.Is(err, pgx.ErrNoRows) {
		return Settings{Institution: s.cfg.Institution}, nil
	}
	if err != nil {
		return Settings{}, fmt.Errorf("policy: read settings: %w", err)
	}
	if err := json.Unmarshal(raw, &st.Institution); err != nil {
		return Settings{}, fmt.Errorf("policy: read settings: %w", err)
	}
	return st, nil
}

// institution is the settings in force with their defaults filled.
func (s *Service) institution(ctx context.Context, q querier) (Institution, error) {
	st, err := s.settings(ctx, q)
	if err != nil {
		return Institution{}, err
	}
	return st.Institution.withDefaults(), nil
}

// UpdateSettings replaces the institution settings with in (the caller
// merged the fields it changes into the current ones), validates them
// (ErrInvalid: nothing changes), stores them and writes
// policy.settings.update, naming the changed fields, to the audit store in
// the same transaction. The published policy changes with the next
// version, which records the settings it was built with.
func (s *Service) UpdateSettings(ctx context.Context, a Actor, in Institution, reason string) (Settings, error) {
	in = in.trimmed()
	if err := in.withDefaults().validate(); err != nil {
		return Settings{}, err
	}
	reason = strings.TrimSpace(reason)
	if err := checkText("reason", reason, 500); err != nil {
		return Settings{}, err
	}
	raw, err := json.Marshal(in)
	if err != nil {
		return Settings{}, fmt.Errorf("policy: settings: %w", err)
	}
	var out Settings
	err = pgx.BeginFunc(ctx, s.cfg.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "select pg_advisory_xact_lock($1)", int64(publishLock)); err != nil {
			return fmt.Errorf("policy: settings: lock: %w", err)
		}
		prev, err := s.settings(ctx, tx)
		if err != nil {
			return err
		}
		changed := in.changedFields(prev.Institution.trimmed())
		out = Settings{Institution: in, Stored: true, UpdatedBy: a.Username}
		if err := tx.QueryRow(ctx, `insert into policy_settings (id, settings, updated_at, updated_by) values (true, $1, now(), $2)
			on conflict (id) do update set settings = excluded.settings, updated_at = excluded.updated_at, updated_by = excluded.updated_by
			returning updated_at`, raw, a.Username).Scan(&out.UpdatedAt); err != nil {
			return fmt.Errorf("policy: settings: %w", err)
		}
		if _, err := s.cfg.Auditor.AppendTx(ctx, tx, audit.Entry{Type: "policy.settings.update", Outcome: audit.Success, Actor: a.Actor,
			ClientAddr: a.ClientAddr, SessionID: a.SessionID, RequestID: a.RequestID, Reason: reason,
			Details: map[string]any{"changed_fields": changed, "institution": in.Name}}); err != nil {
			return fmt.Errorf("policy: settings: audit: %w", err)
		}
		return nil
	})
	if err != nil {
		return Settings{}, err
	}
	s.log.Info("institution settings updated", "by", a.Username, "institution", in.Name)
	return out, nil
}

// trimmed is in with surrounding spaces removed and empty list entries
// dropped, without filling defaults.
func (in Institution) trimmed() Institution {
	t := strings.TrimSpace
	in.Name, in.Scope, in.Homepage = t(in.Name), t(in.Scope), t(in.Homepage)
	in.CPO = Officer{Name: t(in.CPO.Name), Title: t(in.CPO.Title), Department: t(in.CPO.Department), Phone: t(in.CPO.Phone), Email: t(in.CPO.Email)}
	in.ControlCenter, in.RequestPlace, in.ReviewPlace = t(in.ControlCenter), t(in.RequestPlace), t(in.ReviewPlace)
	staff := make([]Staff, 0, len(in.Staff))
	for _, st := range in.Staff {
		staff = append(staff, Staff{Role: t(st.Role), Title: t(st.Title), Department: t(st.Department), Phone: t(st.Phone), Note: t(st.Note)})
	}
	in.Staff = staff
	lines := func(ls []string) []string {
		out := make([]string, 0, len(ls))
		for _, l := range ls {
			if l = t(l); l != "" {
				out = append(out, l)
			}
		}
		return out
	}
	in.Safeguards, in.Remedies = lines(in.Safeguards), lines(in.Remedies)
	if len(in.Statutes) > 0 {
		m := make(map[string]string, len(in.Statutes))
		for k, v := range in.Statutes {
			if k, v = t(k), t(v); k != "" && v != "" {
				m[k] = v
			}
		}
		in.Statutes = m
	}
	return in
}

// changedFields names the settings (by their JSON names) that differ
// between in and prev.
func (in Institution) changedFields(prev Institution) []string {
	a, _ := json.Marshal(in)
	b, _ := json.Marshal(prev)
	var ma, mb map[string]json.RawMessage
	_ = json.Unmarshal(a, &ma)
	_ = json.Unmarshal(b, &mb)
	var out []string
	for k, v := range ma {
		if string(mb[k]) != string(v) {
			out = append(out, k)
		}
	}
	for k := range mb {
		if _, ok := ma[k]; !ok {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}
