package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/gwanje/gwanje/events"
	gwanjev1 "github.com/gwanje/gwanje/proto/gwanje/v1"
)

// HistoryConfig configures the history recorder (runs in control).
type HistoryConfig struct {
	// Conn is the NATS connection; Pool the PostgreSQL pool. Required.
	Conn *nats.Conn
	Pool *pgxpool.Pool
	// Durable names the JetStream consumer; default "gwanje-health-history".
	// Several control processes share it (each message is stored once).
	Durable string
	// Batch is the number of messages stored per transaction; default 500.
	Batch int
	// Logger; default slog.Default().
	Logger *slog.Logger
}

// History stores every status message of GWANJE_CAMERA in
// health_status_history, through a durable consumer: while PostgreSQL is
// down, messages stay in the stream and are stored when it is back.
type History struct {
	cfg HistoryConfig
	js  jetstream.JetStream

	ctx       context.Context
	cancel    context.CancelFunc
	runOnce   sync.Once
	closeOnce sync.Once
	done      chan struct{}

	mu      sync.Mutex
	stored  int64
	failing bool
}

// NewHistory returns a History; Run starts consuming.
func NewHistory(cfg HistoryConfig) (*History, error) {
	if cfg.Conn == nil || cfg.Pool == nil {
		return nil, errors.New("health: HistoryConfig.Conn and Pool are required")
	}
	if cfg.Durable == "" {
		cfg.Durable = "gwanje-health-history"
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 500
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	js, err := jetstream.New(cfg.Conn)
	if err != nil {
		return nil, fmt.Errorf("health: jetstream: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &History{cfg: cfg, js: js, ctx: ctx, cancel: cancel, done: make(chan struct{})}, nil
}

// Stored returns the number of messages stored since start.
func (h *History) Stored() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.stored
}

// Run consumes until ctx ends or Close is called; it returns nil then.
func (h *History) Run(ctx context.Context) error {
	first := false
	h.runOnce.Do(func() { first = true })
	if !first {
		return errors.New("health: History.Run called twice")
	}
	defer close(h.done)
	stop := context.AfterFunc(ctx, h.cancel)
	defer stop()
	ctx = h.ctx
	backoff := 100 * time.Millisecond
	var cons jetstream.Consumer
	for ctx.Err() == nil {
		var err error
		if cons == nil {
			cons, err = h.js.CreateOrUpdateConsumer(ctx, events.StreamCamera, jetstream.ConsumerConfig{
				Durable: h.cfg.Durable, Description: "camera status history into PostgreSQL",
				FilterSubject: events.CameraStatusAll, AckPolicy: jetstream.AckExplicitPolicy,
				AckWait: time.Minute, MaxAckPending: 20 * h.cfg.Batch, MaxDeliver: -1,
			})
		}
		if err == nil {
			err = h.once(ctx, cons)
		}
		if err == nil {
			backoff = 100 * time.Millisecond
			h.setFailing(false, nil)
			continue
		}
		if ctx.Err() != nil {
			break
		}
		if errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrStreamNotFound) {
			cons = nil
		}
		h.setFailing(true, err)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
		backoff = min(backoff*2, 5*time.Second)
	}
	return nil
}

func (h *History) setFailing(f bool, err error) {
	h.mu.Lock()
	was := h.failing
	h.failing = f
	h.mu.Unlock()
	switch {
	case f && !was:
		h.cfg.Logger.Warn("health: status history cannot be stored now; retrying (messages wait in JetStream)", "err", err)
	case !f && was:
		h.cfg.Logger.Info("health: status history stored again")
	}
}

// once fetches a batch and stores it; on a database error the batch is
// not acknowledged (it is delivered again).
func (h *History) once(ctx context.Context, cons jetstream.Consumer) error {
	batch, err := cons.Fetch(h.cfg.Batch, jetstream.FetchMaxWait(time.Second))
	if err != nil {
		return err
	}
	var msgs []jetstream.Msg
	for m := range batch.Messages() {
		msgs = append(msgs, m)
	}
	if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) && len(msgs) == 0 {
		return err
	}
	if len(msgs) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	for _, m := range msgs {
		md, err := m.Metadata()
		if err != nil {
			continue
		}
		var pm gwanjev1.CameraStatus
		if err := proto.Unmarshal(m.Data(), &pm); err != nil || !validID(pm.GetCameraId()) {
			h.cfg.Logger.Warn("health: status message not understood; skipped", "subject", m.Subject(), "seq", md.Sequence.Stream)
			continue
		}
		s := StatusFromProto(&pm)
		var drift *time.Time
		if !s.ClockDriftSince.IsZero() {
			drift = &s.ClockDriftSince
		}
		b.Queue(`insert into health_status_history (camera_id, observed_at, state, previous_state, since, cause,
			latency_ms, clock_offset_ms, clock_drift_since, site, department, worker, stream_seq)
			values ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13) on conflict do nothing`,
			s.CameraID, s.ObservedAt, s.State.String(), s.Previous.String(), s.Since, s.Cause,
			ms(s.Latency), ms(s.ClockOffset), drift, s.Site, s.Department, s.Worker, int64(md.Sequence.Stream))
	}
	err = pgx.BeginFunc(ctx, h.cfg.Pool, func(tx pgx.Tx) error { return tx.SendBatch(ctx, b).Close() })
	if err != nil {
		for _, m := range msgs {
			_ = m.NakWithDelay(time.Second)
		}
		return fmt.Errorf("health: store status history: %w", err)
	}
	for _, m := range msgs {
		_ = m.Ack()
	}
	h.mu.Lock()
	h.stored += int64(len(msgs))
	h.mu.Unlock()
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Close stops Run and waits for it. Safe to call more than once.
func (h *History) Close() {
	h.closeOnce.Do(func() {
		h.cancel()
		started := true
		h.runOnce.Do(func() { started = false })
		if started {
			<-h.done
		}
	})
}

// Period is the length of an availability bucket.
type Period string

// Periods.
const (
	Daily   Period = "day"
	Monthly Period = "month"
)

// AvailabilityQuery asks for uptime per camera per day or month.
type AvailabilityQuery struct {
	// CameraIDs limits the cameras; empty means every camera with history.
	CameraIDs []string
	// From and To bound the time (To is exclusive; default now).
	From, To time.Time
	Period   Period
	// Location cuts days and months; default time.Local.
	Location *time.Location
}

// Availability is a camera's time per state class in one period.
type Availability struct {
	CameraID   string
	Start, End time.Time
	// Up is online or degraded; Down offline, unauthorized, stream_failed
	// or stalled; Unknown before the first status (or not probed).
	Up, Down, Maintenance, Unknown time.Duration
}

// Ratio is Up / (Up + Down): maintenance and unknown time do not count.
// It is 1 when there was no judged time.
func (a Availability) Ratio() float64 {
	if a.Up+a.Down == 0 {
		return 1
	}
	return float64(a.Up) / float64(a.Up+a.Down)
}

// QueryAvailability computes uptime per camera per period from the history.
// The future (after now) is not counted.
func QueryAvailability(ctx context.Context, db *pgxpool.Pool, q AvailabilityQuery, now time.Time) ([]Availability, error) {
	if q.Location == nil {
		q.Location = time.Local
	}
	if q.To.IsZero() || q.To.After(now) {
		q.To = now
	}
	if q.Period == "" {
		q.Period = Daily
	}
	if q.Period != Daily && q.Period != Monthly {
		return nil, fmt.Errorf("health: availability period %q: want day or month", q.Period)
	}
	if !q.From.Before(q.To) {
		return nil, nil
	}
	var ids any
	if len(q.CameraIDs) > 0 {
		ids = q.CameraIDs
	}
	rows, err := db.Query(ctx, `
		select camera_id, since, state from (
			select distinct on (camera_id) camera_id, since, state from health_status_history
			where since <= $1 and ($3::text[] is null or camera_id = any($3))
			order by camera_id, since desc, observed_at desc) a
		union all
		select camera_id, since, state from health_status_history
		where since > $1 and since < $2 and ($3::text[] is null or camera_id = any($3))
		order by 1, 2`, q.From, q.To, ids)
	if err != nil {
		return nil, fmt.Errorf("health: availability: %w", err)
	}
	type point struct {
		at    time.Time
		state State
	}
	byCam := map[string][]point{}
	var order []string
	for rows.Next() {
		var id, st string
		var at time.Time
		if err := rows.Scan(&id, &at, &st); err != nil {
			return nil, fmt.Errorf("health: availability: %w", err)
		}
		if _, ok := byCam[id]; !ok {
			order = append(order, id)
		}
		if st == "unknown" {
			st = ""
		}
		byCam[id] = append(byCam[id], point{at, State(st)})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("health: availability: %w", err)
	}
	for _, id := range q.CameraIDs {
		if _, ok := byCam[id]; !ok {
			order = append(order, id)
			byCam[id] = nil
		}
	}
	// Period boundaries.
	var bounds []time.Time
	t := q.From.In(q.Location)
	start := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, q.Location)
	if q.Period == Monthly {
		start = time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, q.Location)
	}
	for b := start; b.Before(q.To); {
		bounds = append(bounds, b)
		if q.Period == Monthly {
			b = b.AddDate(0, 1, 0)
		} else {
			b = b.AddDate(0, 0, 1)
		}
	}
	var out []Availability
	for _, id := range order {
		pts := byCam[id]
		for i, b := range bounds {
			end := q.To
			if i+1 < len(bounds) {
				end = bounds[i+1]
			}
			a := Availability{CameraID: id, Start: b, End: end}
			lo, hi := maxTime(b, q.From), minTime(end, q.To)
			// Walk the segments [pts[j].at, pts[j+1].at).
			cur, curState := lo, Unknown
			for _, p := range pts {
				if !p.at.After(lo) {
					curState = p.state
					continue
				}
				if !p.at.Before(hi) {
					break
				}
				a.add(curState, p.at.Sub(cur))
				cur, curState = p.at, p.state
			}
			a.add(curState, hi.Sub(cur))
			out = append(out, a)
		}
	}
	return out, nil
}

func (a *Availability) add(s State, d time.Duration) {
	if d <= 0 {
		return
	}
	switch {
	case s.Up():
		a.Up += d
	case s == Maintenance:
		a.Maintenance += d
	case s == Unknown:
		a.Unknown += d
	default:
		a.Down += d
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// StatusHistory returns the stored statuses of a camera in [from, to),
// oldest first, at most limit (default 1000).
func StatusHistory(ctx context.Context, db *pgxpool.Pool, cameraID string, from, to time.Time, limit int) ([]Status, error) {
	if limit <= 0 {
		limit = 1000
	}
	rows, err := db.Query(ctx, `select camera_id, observed_at, state, previous_state, since, cause,
		coalesce(latency_ms, 0), coalesce(clock_offset_ms, 0), clock_drift_since, site, department, worker
		from health_status_history where camera_id = $1 and observed_at >= $2 and observed_at < $3
		order by observed_at limit $4`, cameraID, from, to, limit)
	if err != nil {
		return nil, fmt.Errorf("health: status history: %w", err)
	}
	defer rows.Close()
	var out []Status
	for rows.Next() {
		var s Status
		var st, prev string
		var lat, off float64
		var drift *time.Time
		if err := rows.Scan(&s.CameraID, &s.ObservedAt, &st, &prev, &s.Since, &s.Cause, &lat, &off, &drift, &s.Site, &s.Department, &s.Worker); err != nil {
			return nil, fmt.Errorf("health: status history: %w", err)
		}
		s.State, s.Previous = parseState(st), parseState(prev)
		s.Latency, s.ClockOffset = time.Duration(lat*float64(time.Millisecond)), time.Duration(off*float64(time.Millisecond))
		if drift != nil {
			s.ClockDriftSince = *drift
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

func parseState(s string) State {
	if s == "unknown" {
		return Unknown
	}
	return State(s)
}
