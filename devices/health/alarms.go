package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/gwanje/gwanje/audit"
	"github.com/gwanje/gwanje/events"
	gwanjev1 "github.com/gwanje/gwanje/proto/gwanje/v1"
)

// Auditor writes audit entries in the caller's transaction
// (*audit.Store implements it).
type Auditor interface {
	AppendTx(ctx context.Context, tx pgx.Tx, e audit.Entry) (audit.Record, error)
}

// Alarm errors.
var (
	ErrAlarmNotFound            = errors.New("health: no such alarm")
	ErrAlarmAlreadyAcknowledged = errors.New("health: alarm already acknowledged")
)

// AuditAlarmAcknowledge is the audit entry type of an acknowledgement.
const AuditAlarmAcknowledge = "alarm.acknowledge"

// AlarmsConfig configures the alarm manager (runs in control).
type AlarmsConfig struct {
	// Conn is the NATS connection, Pool the PostgreSQL pool, Auditor the
	// audit store. Required.
	Conn    *nats.Conn
	Pool    *pgxpool.Pool
	Auditor Auditor
	// OfflineAfter: a camera offline this long raises an offline alarm.
	// Default 5m.
	OfflineAfter time.Duration
	// DriftAfter: a camera whose clock drift (over the workers'
	// Thresholds.ClockDriftLimit) lasts this long raises a clock_drift
	// alarm. Default 0 (at once).
	DriftAfter time.Duration
	// Sweep is how often conditions are evaluated and unpublished alarm
	// changes published. Default 5s.
	Sweep time.Duration
	// Logger; default slog.Default(). Now; default time.Now.
	Logger *slog.Logger
	Now    func() time.Time
}

// Alarms raises alarms from the current camera status (the status KV
// bucket), stores them in PostgreSQL (at most one open alarm per camera and
// kind, so several control processes may run it), clears them when the
// condition ends, and publishes every change (an outbox: changes not yet
// published are published at the next sweep). Operators acknowledge them
// with Acknowledge, which is audited.
type Alarms struct {
	cfg AlarmsConfig
	js  jetstream.JetStream

	ctx       context.Context
	cancel    context.CancelFunc
	runOnce   sync.Once
	closeOnce sync.Once
	done      chan struct{}
	kick      chan struct{}

	mu     sync.Mutex
	status map[string]Status
	synced bool
}

// NewAlarms returns an alarm manager; Run starts it.
func NewAlarms(cfg AlarmsConfig) (*Alarms, error) {
	if cfg.Conn == nil || cfg.Pool == nil || cfg.Auditor == nil {
		return nil, errors.New("health: AlarmsConfig.Conn, Pool and Auditor are required")
	}
	if cfg.OfflineAfter <= 0 {
		cfg.OfflineAfter = 5 * time.Minute
	}
	if cfg.Sweep <= 0 {
		cfg.Sweep = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	js, err := jetstream.New(cfg.Conn)
	if err != nil {
		return nil, fmt.Errorf("health: jetstream: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Alarms{cfg: cfg, js: js, ctx: ctx, cancel: cancel, done: make(chan struct{}), kick: make(chan struct{}, 1), status: map[string]Status{}}, nil
}

// Run evaluates and publishes until ctx ends or Close is called.
func (a *Alarms) Run(ctx context.Context) error {
	first := false
	a.runOnce.Do(func() { first = true })
	if !first {
		return errors.New("health: Alarms.Run called twice")
	}
	defer close(a.done)
	stop := context.AfterFunc(ctx, a.cancel)
	defer stop()
	ctx = a.ctx
	kv, err := ensureStatusBucket(ctx, a.js)
	if err != nil {
		return err
	}
	watchDone := make(chan struct{})
	go func() { defer close(watchDone); a.watchStatus(ctx, kv) }()
	defer func() { <-watchDone }()
	t := time.NewTicker(a.cfg.Sweep)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-a.kick:
		}
		err := a.sweep(ctx)
		if err == nil {
			err = a.publishPending(ctx)
		}
		switch {
		case err != nil && ctx.Err() == nil && !failing:
			a.cfg.Logger.Warn("health: alarm sweep failed; retrying", "err", err)
			failing = true
		case err == nil && failing:
			a.cfg.Logger.Info("health: alarm sweep works again")
			failing = false
		}
	}
}

// watchStatus mirrors the status bucket in memory.
func (a *Alarms) watchStatus(ctx context.Context, kv jetstream.KeyValue) {
	for ctx.Err() == nil {
		w, err := kv.WatchAll(ctx)
		if err != nil {
			t := time.NewTimer(time.Second)
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
			continue
		}
		for e := range w.Updates() {
			if e == nil {
				a.mu.Lock()
				a.synced = true
				a.mu.Unlock()
				a.poke()
				continue
			}
			a.mu.Lock()
			if e.Operation() == jetstream.KeyValuePut {
				var m gwanjev1.CameraStatus
				if proto.Unmarshal(e.Value(), &m) == nil {
					a.status[e.Key()] = StatusFromProto(&m)
				}
			} else {
				delete(a.status, e.Key())
			}
			synced := a.synced
			a.mu.Unlock()
			if synced {
				a.poke()
			}
		}
		_ = w.Stop()
	}
}

func (a *Alarms) poke() {
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

type alarmKey struct {
	camera string
	kind   AlarmKind
}

type condition struct {
	since time.Time
	cause string
	st    Status
}

// conditions returns the alarm conditions that hold now.
func (a *Alarms) conditions(now time.Time) (map[alarmKey]condition, map[string]Status, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	want := map[alarmKey]condition{}
	for id, s := range a.status {
		if s.State == Maintenance {
			continue
		}
		if s.State == Offline && now.Sub(s.Since) >= a.cfg.OfflineAfter {
			want[alarmKey{id, AlarmOffline}] = condition{s.Since, "offline since " + s.Since.Format(time.RFC3339) + ": " + s.Cause, s}
		}
		if !s.ClockDriftSince.IsZero() && now.Sub(s.ClockDriftSince) >= a.cfg.DriftAfter {
			want[alarmKey{id, AlarmClockDrift}] = condition{s.ClockDriftSince, fmt.Sprintf("clock offset %s", s.ClockOffset.Round(time.Second)), s}
		}
	}
	cur := make(map[string]Status, len(a.status))
	for k, v := range a.status {
		cur[k] = v
	}
	return want, cur, a.synced
}

// sweep raises and clears alarms in PostgreSQL.
func (a *Alarms) sweep(ctx context.Context) error {
	now := a.cfg.Now()
	want, cur, synced := a.conditions(now)
	if !synced {
		return nil
	}
	// Only the alarms of the health workers (source ''): a Reporter's are
	// raised and cleared by the component that reports them.
	rows, err := a.cfg.Pool.Query(ctx, `select id::text, camera_id, kind from health_alarms where cleared_at is null and source = ''`)
	if err != nil {
		return fmt.Errorf("health: open alarms: %w", err)
	}
	open := map[alarmKey]string{}
	for rows.Next() {
		var id, cam, kind string
		if err := rows.Scan(&id, &cam, &kind); err != nil {
			return fmt.Errorf("health: open alarms: %w", err)
		}
		open[alarmKey{cam, AlarmKind(kind)}] = id
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("health: open alarms: %w", err)
	}
	for k, c := range want {
		if _, ok := open[k]; ok {
			continue
		}
		_, err := a.cfg.Pool.Exec(ctx, `insert into health_alarms (camera_id, kind, cause, condition_since, raised_at, site, department)
			values ($1, $2, $3, $4, $5, $6, $7)
			on conflict (camera_id, source, kind) where cleared_at is null do nothing`,
			k.camera, string(k.kind), c.cause, c.since, now, c.st.Site, c.st.Department)
		if err != nil {
			return fmt.Errorf("health: raise alarm: %w", err)
		}
	}
	for k, id := range open {
		if _, ok := want[k]; ok {
			continue
		}
		// Clear only what the current status contradicts; a camera whose
		// status is not known (yet) keeps its alarm.
		s, known := cur[k.camera]
		if !known {
			continue
		}
		cause := "recovered: " + s.State.String()
		if s.State == Maintenance {
			cause = "maintenance"
		}
		if _, err := a.cfg.Pool.Exec(ctx, `update health_alarms set cleared_at = $2, version = version + 1,
			cause = cause || ' / ' || $3 where id = $1 and cleared_at is null`, id, now, cause); err != nil {
			return fmt.Errorf("health: clear alarm: %w", err)
		}
	}
	return nil
}

const alarmColumns = `id::text, camera_id, kind, cause, condition_since, raised_at, acknowledged_at, acknowledged_by,
	acknowledged_by_name, acknowledge_note, cleared_at, site, department, version, source, occurrences`

func scanAlarm(row pgx.Row) (Alarm, error) {
	var al Alarm
	var kind string
	var ack, cleared *time.Time
	err := row.Scan(&al.ID, &al.CameraID, &kind, &al.Cause, &al.ConditionSince, &al.RaisedAt, &ack, &al.AcknowledgedBy,
		&al.AcknowledgedByName, &al.AcknowledgeNote, &cleared, &al.Site, &al.Department, &al.Version, &al.Source, &al.Occurrences)
	al.Kind = AlarmKind(kind)
	if ack != nil {
		al.AcknowledgedAt = *ack
	}
	if cleared != nil {
		al.ClearedAt = *cleared
	}
	return al, err
}

// publishPending publishes alarm changes not yet published.
func (a *Alarms) publishPending(ctx context.Context) error {
	rows, err := a.cfg.Pool.Query(ctx, `select `+alarmColumns+` from health_alarms where published_version < version order by raised_at limit 1000`)
	if err != nil {
		return fmt.Errorf("health: unpublished alarms: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Alarm, error) { return scanAlarm(r) })
	if err != nil {
		return fmt.Errorf("health: unpublished alarms: %w", err)
	}
	for _, al := range list {
		subject := events.CameraAlarm(al.CameraID, string(al.Kind))
		if al.CameraID == "" {
			subject = events.SystemAlarm(al.Source, string(al.Kind))
		}
		_, err := a.js.Publish(ctx, subject, marshal(AlarmToProto(al)),
			jetstream.WithMsgID(al.ID+"/"+strconv.FormatInt(al.Version, 10)))
		if err != nil {
			return fmt.Errorf("health: publish alarm: %w", err)
		}
		if _, err := a.cfg.Pool.Exec(ctx, `update health_alarms set published_version = $2 where id = $1 and published_version < $2`, al.ID, al.Version); err != nil {
			return fmt.Errorf("health: mark alarm published: %w", err)
		}
	}
	return nil
}

// Acknowledge records that an operator saw the alarm: who and when, with
// an optional note, in the same transaction as its audit entry (fail
// closed: without the audit entry nothing changes). Acknowledging a cleared
// alarm is allowed; acknowledging twice is ErrAlarmAlreadyAcknowledged.
// An event-like alarm (a Reporter's, e.g. a quarantined segment) is
// cleared by its acknowledgement.
func (a *Alarms) Acknowledge(ctx context.Context, alarmID string, by audit.Actor, note string) (Alarm, error) {
	var al Alarm
	err := pgx.BeginFunc(ctx, a.cfg.Pool, func(tx pgx.Tx) error {
		var err error
		al, err = scanAlarm(tx.QueryRow(ctx, `select `+alarmColumns+` from health_alarms where id::text = $1 for update`, alarmID))
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrAlarmNotFound
		}
		if err != nil {
			return fmt.Errorf("health: acknowledge: %w", err)
		}
		if !al.AcknowledgedAt.IsZero() {
			return ErrAlarmAlreadyAcknowledged
		}
		now := a.cfg.Now()
		var cleared *time.Time
		if err := tx.QueryRow(ctx, `update health_alarms set acknowledged_at = $2, acknowledged_by = $3, acknowledged_by_name = $4,
			acknowledge_note = $5, version = version + 1,
			cleared_at = case when clear_on_ack and cleared_at is null then $2 else cleared_at end
			where id = $1 returning version, cleared_at`,
			al.ID, now, by.UserID, by.Username, note).Scan(&al.Version, &cleared); err != nil {
			return fmt.Errorf("health: acknowledge: %w", err)
		}
		if cleared != nil {
			al.ClearedAt = *cleared
		}
		al.AcknowledgedAt, al.AcknowledgedBy, al.AcknowledgedByName, al.AcknowledgeNote = now, by.UserID, by.Username, note
		_, err = a.cfg.Auditor.AppendTx(ctx, tx, audit.Entry{
			Time: now, Type: AuditAlarmAcknowledge, Outcome: audit.Success, Actor: by, Cameras: cameras(al.CameraID),
			Reason: note, Details: map[string]any{"alarm_id": al.ID, "kind": string(al.Kind), "source": al.Source,
				"condition_since": al.ConditionSince.UTC().Format(time.RFC3339)},
		})
		if err != nil {
			return fmt.Errorf("health: acknowledge: audit: %w", err)
		}
		return nil
	})
	if err != nil {
		return Alarm{}, err
	}
	a.poke()
	return al, nil
}

func cameras(id string) []string {
	if id == "" {
		return nil
	}
	return []string{id}
}

// AlarmFilter selects alarms for ListAlarms.
type AlarmFilter struct {
	// Open: only alarms not cleared.
	Open bool
	// CameraIDs limits the cameras; empty means all.
	CameraIDs []string
	// Limit; default (0) 1000; NoLimit: every alarm of the filter.
	Limit int
}

// NoLimit as AlarmFilter.Limit lists every alarm of the filter (a caller
// that pages them itself).
const NoLimit = -1

// ListAlarms returns alarms, newest first.
func (a *Alarms) ListAlarms(ctx context.Context, f AlarmFilter) ([]Alarm, error) {
	var limit any // null: no limit
	switch {
	case f.Limit == 0 || f.Limit < NoLimit:
		limit = 1000
	case f.Limit > 0:
		limit = f.Limit
	}
	var ids any
	if len(f.CameraIDs) > 0 {
		ids = f.CameraIDs
	}
	rows, err := a.cfg.Pool.Query(ctx, `select `+alarmColumns+` from health_alarms
		where (not $1 or cleared_at is null) and ($2::text[] is null or camera_id = any($2))
		order by raised_at desc, id limit $3::bigint`, f.Open, ids, limit)
	if err != nil {
		return nil, fmt.Errorf("health: list alarms: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Alarm, error) { return scanAlarm(r) })
	if err != nil {
		return nil, fmt.Errorf("health: list alarms: %w", err)
	}
	return list, nil
}

// Close stops Run and waits for it. Safe to call more than once.
func (a *Alarms) Close() {
	a.closeOnce.Do(func() {
		a.cancel()
		started := true
		a.runOnce.Do(func() { started = false })
		if started {
			<-a.done
		}
	})
}
