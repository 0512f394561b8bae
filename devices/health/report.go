package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gwanje/gwanje/audit"
)

// ReporterConfig configures a Reporter.
type ReporterConfig struct {
	// Pool is the database holding the alarms. Required.
	Pool *pgxpool.Pool
	// Source names what reports, e.g. "recorder/node-1". Required.
	Source string
	// Queue bounds the reports waiting to be written. Default 1024. When
	// it is full (the database has been unreachable for a long time)
	// further reports are dropped and logged.
	Queue int
	// Retry is the pause after a failed write before it is tried again.
	// Default 2s.
	Retry time.Duration
	// Logger; default slog.Default(). Now; default time.Now.
	Logger *slog.Logger
	Now    func() time.Time
}

// Report is one alarm raised or cleared by a Reporter.
type Report struct {
	// CameraID is the camera concerned; "" for the reporting source itself
	// (a recorder node's storage).
	CameraID string
	Kind     AlarmKind
	Cause    string
	// Time of the event; default the Reporter's clock.
	Time time.Time
	// Condition: the alarm lasts until a Report with Clear. Otherwise it
	// is an event, cleared when an operator acknowledges it.
	Condition bool
	// Clear ends the open alarm of CameraID and Kind from this source.
	Clear bool
}

// Reporter lets a component other than the health workers (the recorder)
// raise and clear alarms through the same table as camera health alarms:
// control's Alarms publishes them (outbox) to the same events, so they show
// in ListAlarms and WatchEvents and are acknowledged alike. At most one
// alarm per source, camera and kind is open; another occurrence while it
// is open counts in Occurrences. Report never blocks: reports are queued
// and written by Run, retried while the database is unreachable.
type Reporter struct {
	cfg ReporterConfig
	ch  chan Report

	ctx       context.Context
	cancel    context.CancelFunc
	runOnce   sync.Once
	closeOnce sync.Once
	done      chan struct{}
}

// NewReporter returns a Reporter; Run writes its reports.
func NewReporter(cfg ReporterConfig) (*Reporter, error) {
	if cfg.Pool == nil || cfg.Source == "" {
		return nil, errors.New("health: ReporterConfig.Pool and Source are required")
	}
	if cfg.Queue <= 0 {
		cfg.Queue = 1024
	}
	if cfg.Retry <= 0 {
		cfg.Retry = 2 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Reporter{cfg: cfg, ch: make(chan Report, cfg.Queue), ctx: ctx, cancel: cancel, done: make(chan struct{})}, nil
}

// Report queues r; it never blocks.
func (r *Reporter) Report(rep Report) {
	if rep.Time.IsZero() {
		rep.Time = r.cfg.Now()
	}
	select {
	case r.ch <- rep:
	default:
		r.cfg.Logger.Error("health: alarm report queue full; alarm dropped", "source", r.cfg.Source,
			"camera", rep.CameraID, "kind", rep.Kind, "cause", rep.Cause)
	}
}

// Run writes reports until ctx ends or Close; then it writes what is
// queued, if the database answers within a few seconds.
func (r *Reporter) Run(ctx context.Context) error {
	first := false
	r.runOnce.Do(func() { first = true })
	if !first {
		return errors.New("health: Reporter.Run called twice")
	}
	defer close(r.done)
	stop := context.AfterFunc(ctx, r.cancel)
	defer stop()
	for {
		select {
		case <-r.ctx.Done():
			r.drain()
			return nil
		case rep := <-r.ch:
			for {
				err := r.write(r.ctx, rep)
				if err == nil {
					break
				}
				if r.ctx.Err() != nil {
					r.retryOnce(rep)
					r.drain()
					return nil
				}
				r.cfg.Logger.Warn("health: writing an alarm failed; retrying", "source", r.cfg.Source, "kind", rep.Kind, "err", err)
				t := time.NewTimer(r.cfg.Retry)
				select {
				case <-r.ctx.Done():
				case <-t.C:
				}
				t.Stop()
			}
		}
	}
}

func (r *Reporter) retryOnce(rep Report) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.write(ctx, rep); err != nil {
		r.cfg.Logger.Error("health: alarm not written at shutdown", "source", r.cfg.Source, "kind", rep.Kind, "err", err)
	}
}

func (r *Reporter) drain() {
	for {
		select {
		case rep := <-r.ch:
			r.retryOnce(rep)
		default:
			return
		}
	}
}

func (r *Reporter) write(ctx context.Context, rep Report) error {
	if rep.Clear {
		_, err := r.cfg.Pool.Exec(ctx, `update health_alarms set cleared_at = $4, version = version + 1,
			cause = cause || ' / ' || $5
			where camera_id = $1 and source = $2 and kind = $3 and cleared_at is null`,
			rep.CameraID, r.cfg.Source, string(rep.Kind), rep.Time, rep.Cause)
		if err != nil {
			return fmt.Errorf("health: clear alarm: %w", err)
		}
		return nil
	}
	_, err := r.cfg.Pool.Exec(ctx, `insert into health_alarms
			(camera_id, source, kind, cause, condition_since, raised_at, clear_on_ack, site, department)
		select $1, $2, $3, $4, $5, $5, $6, coalesce(c.site_id::text, ''), coalesce(c.department, '')
		from (select 1) one left join devices_cameras c on c.id::text = $1
		on conflict (camera_id, source, kind) where cleared_at is null do update set
			occurrences = health_alarms.occurrences + 1, cause = excluded.cause, version = health_alarms.version + 1`,
		rep.CameraID, r.cfg.Source, string(rep.Kind), rep.Cause, rep.Time, !rep.Condition)
	if err != nil {
		return fmt.Errorf("health: raise alarm: %w", err)
	}
	return nil
}

// Close stops Run and waits for it. Safe to call more than once.
func (r *Reporter) Close() {
	r.closeOnce.Do(func() {
		r.cancel()
		started := true
		r.runOnce.Do(func() { started = false })
		if started {
			<-r.done
		}
	})
}

// AuditAlarm reports an alarm of the audit store (audit.Config.Alarm):
// a cut tail (audit.AlarmIntegrity) is a condition, cleared when the
// integrity check holds again; an entry published as a summary
// (audit.AlarmOversize) an event, cleared when acknowledged. Use a
// Reporter with Source "audit".
func (r *Reporter) AuditAlarm(a audit.Alarm) {
	kind := AlarmAuditOversize
	if a.Kind == audit.AlarmIntegrity {
		kind = AlarmAuditIntegrity
	}
	r.cfg.Logger.Warn("audit alarm", "kind", a.Kind, "active", a.Active, "seq", a.Seq, "detail", a.Detail)
	r.Report(Report{Kind: kind, Cause: a.Detail, Condition: kind == AlarmAuditIntegrity, Clear: !a.Active})
}
