package requests

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// NATS subjects of the subject-request clock. Payload: JSON Alarm.
const (
	SubjectReminder = "gwanje.v1.privacy.request.reminder"
	SubjectOverdue  = "gwanje.v1.privacy.request.overdue"
)

// Alarm is a reminder or an overdue alarm about a subject request.
type Alarm struct {
	Kind      string    `json:"kind"` // reminder or overdue
	RequestID string    `json:"request_id"`
	Request   string    `json:"request"` // view, confirm, delete
	Deadline  time.Time `json:"deadline"`
	Received  time.Time `json:"received"`
	Cameras   []string  `json:"cameras"`
	Time      time.Time `json:"time"`
}

// Run checks the deadlines every CheckInterval (and once at start) until
// ctx ends or Close: a reminder RemindBefore the deadline, an overdue
// alarm at the deadline, each sent once per request and deadline (a
// postponement starts a new one), shared safely by several processes.
func (s *Service) Run(ctx context.Context) error {
	t := time.NewTicker(s.cfg.CheckInterval)
	defer t.Stop()
	for {
		if _, err := s.Tick(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("requests: deadline check failed; retrying", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-s.stop:
			return nil
		case <-t.C:
		}
	}
}

// Tick runs one deadline check and returns the alarms it sent.
func (s *Service) Tick(ctx context.Context) ([]Alarm, error) {
	now := s.cfg.Now()
	var out []Alarm
	for _, k := range []struct {
		kind, col, subject string
		at                 time.Time
	}{
		{"overdue", "overdue_alarmed_at", SubjectOverdue, now},
		{"reminder", "reminded_at", SubjectReminder, now.Add(s.cfg.RemindBefore)},
	} {
		// Claim the requests (one process wins each), then publish; a
		// failed publish un-claims so the next tick retries.
		rows, err := s.pool.Query(ctx, `update privacy_subject_requests set `+k.col+` = $1
			where decided_at is null and closed_at is null and `+k.col+` is null and deadline_at <= $2
			returning id, kind, deadline_at, received_at, cameras`, now, k.at)
		if err != nil {
			return out, fmt.Errorf("requests: clock: %w", err)
		}
		claimed, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Alarm, error) {
			a := Alarm{Kind: k.kind, Time: now}
			return a, r.Scan(&a.RequestID, &a.Request, &a.Deadline, &a.Received, &a.Cameras)
		})
		if err != nil {
			return out, fmt.Errorf("requests: clock: %w", err)
		}
		for _, a := range claimed {
			if k.kind == "reminder" && !now.Before(a.Deadline) {
				// Past the deadline already: the overdue alarm says it.
				continue
			}
			if err := s.publish(k.subject, a); err != nil {
				s.log.Warn("requests: alarm not published; will retry", "request", a.RequestID, "kind", k.kind, "err", err)
				_, _ = s.pool.Exec(ctx, `update privacy_subject_requests set `+k.col+` = null where id = $1`, a.RequestID)
				continue
			}
			lvl := s.log.Info
			if k.kind == "overdue" {
				lvl = s.log.Warn
			}
			lvl("requests: subject request "+k.kind, "request", a.RequestID, "deadline", a.Deadline)
			out = append(out, a)
		}
	}
	return out, nil
}

func (s *Service) publish(subject string, a Alarm) error {
	if s.cfg.Publisher == nil {
		return nil
	}
	b, err := json.Marshal(a)
	if err != nil {
		return err
	}
	return s.cfg.Publisher.Publish(subject, b)
}
