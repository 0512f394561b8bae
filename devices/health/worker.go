package health

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	"github.com/gwanje/gwanje/devices/onvif"
	"github.com/gwanje/gwanje/events"
	"github.com/gwanje/gwanje/events/lease"
	gwanjev1 "github.com/gwanje/gwanje/proto/gwanje/v1"
)

// WorkerConfig configures a health worker. Zero values take the documented
// defaults.
type WorkerConfig struct {
	// Conn is the NATS connection (events.Bus.Conn). Required.
	Conn *nats.Conn
	// Targets lists the cameras. Required.
	Targets Targets
	// ID names this worker in leases and statuses; default
	// "<hostname>-<pid>-<random>". Must be unique among running workers.
	ID string
	// Interval between probe rounds of a camera whose Target.Interval is
	// zero. Default 30s.
	Interval time.Duration
	// ConfirmAfter: after a round that points at a new state which the
	// hysteresis does not yet allow, the camera is probed again this soon
	// instead of at its next slot. Default Interval/6; negative disables.
	ConfirmAfter time.Duration
	// ProbeTimeout bounds each ONVIF and RTSP probe. Default 5s.
	ProbeTimeout time.Duration
	// KeyframeInterval is how often the first keyframe of the main stream
	// is awaited (stall detection); while a camera is stalled, every round.
	// Default 5m; negative disables.
	KeyframeInterval time.Duration
	// KeyframeTimeout bounds the keyframe probe. Default 8s.
	KeyframeTimeout time.Duration
	// Concurrency bounds the probe rounds in flight. Default 512.
	Concurrency int
	// Shards cuts the camera set for the leases. Default 64. All workers
	// must use the same value.
	Shards int
	// LeaseTTL is how long a shard lease lasts unless renewed; renewed
	// every LeaseTTL/3. Default 10s. All workers must use the same value.
	LeaseTTL time.Duration
	// RefreshInterval is how often Targets is read again. Default 1m.
	RefreshInterval time.Duration
	// Thresholds and Hysteresis of the state machines; see their types.
	Thresholds Thresholds
	Hysteresis Hysteresis
	// PullTimeout is the long-poll time of ONVIF PullMessages; default 10s.
	// SubscriptionTTL is the termination time requested and renewed;
	// default 60s.
	PullTimeout     time.Duration
	SubscriptionTTL time.Duration
	// MaxBufferedEvents bounds camera events waiting for NATS (status
	// messages are never dropped). Default 100000.
	MaxBufferedEvents int
	// Prober runs probe rounds; default NetProber.
	Prober Prober
	// Pending is told when a camera whose Target.Pending is set is first
	// seen up (online or degraded), to complete its registration; optional.
	Pending PendingResolver
	// Logger; default slog.Default(). Credentials are never logged.
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
}

func (c *WorkerConfig) defaults() error {
	if c.Conn == nil {
		return errors.New("health: WorkerConfig.Conn is required")
	}
	if c.Targets == nil {
		return errors.New("health: WorkerConfig.Targets is required")
	}
	if c.ID == "" {
		host, _ := os.Hostname()
		c.ID = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), strconv.FormatInt(time.Now().UnixNano()%1e6, 36))
	}
	if !validID(c.ID) {
		return fmt.Errorf("health: worker id %q may not contain '.', '*', '>' or spaces", c.ID)
	}
	if c.Interval <= 0 {
		c.Interval = 30 * time.Second
	}
	if c.ConfirmAfter == 0 {
		c.ConfirmAfter = c.Interval / 6
	}
	if c.ProbeTimeout <= 0 {
		c.ProbeTimeout = 5 * time.Second
	}
	if c.KeyframeInterval == 0 {
		c.KeyframeInterval = 5 * time.Minute
	}
	if c.KeyframeTimeout <= 0 {
		c.KeyframeTimeout = 8 * time.Second
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 512
	}
	if c.Shards <= 0 {
		c.Shards = 64
	}
	if c.LeaseTTL <= 0 {
		c.LeaseTTL = 10 * time.Second
	}
	if c.RefreshInterval <= 0 {
		c.RefreshInterval = time.Minute
	}
	if c.PullTimeout <= 0 {
		c.PullTimeout = 10 * time.Second
	}
	if c.SubscriptionTTL <= 0 {
		c.SubscriptionTTL = 60 * time.Second
	}
	if c.MaxBufferedEvents <= 0 {
		c.MaxBufferedEvents = 100000
	}
	if c.Prober == nil {
		c.Prober = NetProber{Now: c.Now}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}

// Worker probes the cameras of the shards it leases, runs their state
// machines, subscribes to their events and publishes transitions and
// events to NATS.
type Worker struct {
	cfg WorkerConfig
	log *slog.Logger
	js  jetstream.JetStream
	tr  *http.Transport
	pub *publisher
	ls  *lease.Pool
	kv  jetstream.KeyValue // status bucket

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // probe rounds and event subscriptions
	sem    chan struct{}

	mu     sync.Mutex
	cams   map[string]*camera
	owned  map[int]bool
	loaded bool

	rebuild chan struct{}
	soon    chan soonReq

	runOnce     sync.Once
	closeOnce   sync.Once
	done        chan struct{}
	skipRelease bool         // tests: die like a killed process
	onStatus    func(Status) // tests: every status handed to the publisher

	stats workerStats
}

type soonReq struct {
	c   *camera
	due time.Time
}

type camera struct {
	shard int
	phase time.Duration

	mu           sync.Mutex
	t            Target
	client       *onvif.Client
	m            *Machine
	restored     bool
	lastKeyframe time.Time
	evCancel     context.CancelFunc
	upReported   bool // a pending camera's coming up was reported

	inflight atomic.Bool
}

func (c *camera) target() Target {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// NewWorker checks cfg and returns a worker; Run starts it.
func NewWorker(cfg WorkerConfig) (*Worker, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	js, err := jetstream.New(cfg.Conn, jetstream.WithPublishAsyncTimeout(5*time.Second), jetstream.WithPublishAsyncMaxPending(4*publishBatch))
	if err != nil {
		return nil, fmt.Errorf("health: jetstream: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &Worker{
		cfg: cfg, log: cfg.Logger.With("worker", cfg.ID), js: js, tr: sharedTransport(cfg.ProbeTimeout),
		ctx: ctx, cancel: cancel, sem: make(chan struct{}, cfg.Concurrency),
		cams: map[string]*camera{}, owned: map[int]bool{},
		rebuild: make(chan struct{}, 1), soon: make(chan soonReq, 1024), done: make(chan struct{}),
	}
	w.pub = newPublisher(js, w.log, cfg.MaxBufferedEvents, 5*time.Second)
	w.stats.lat = make([]time.Duration, 0, 4096)
	w.stats.probe = newProbeHistogram()
	return w, nil
}

// ID returns the worker id.
func (w *Worker) ID() string { return w.cfg.ID }

// Run works until ctx ends or Close is called. It returns nil then, or an
// error when it cannot start (the buckets cannot be created).
func (w *Worker) Run(ctx context.Context) error {
	started := false
	w.runOnce.Do(func() { started = true })
	if !started {
		return errors.New("health: Worker.Run called twice")
	}
	defer close(w.done)
	stop := context.AfterFunc(ctx, w.cancel)
	defer stop()
	ctx = w.ctx
	var err error
	if w.kv, err = ensureStatusBucket(ctx, w.js); err != nil {
		return err
	}
	if w.ls, err = newLeases(ctx, w.js, w.cfg.ID, w.cfg.LeaseTTL, w.cfg.Now); err != nil {
		return err
	}
	w.log.Info("health worker started", "shards", w.cfg.Shards, "interval", w.cfg.Interval)

	pubCtx, pubCancel := context.WithCancel(context.Background())
	var loops sync.WaitGroup
	pubDone := make(chan struct{})
	go func() { defer close(pubDone); w.pub.run(pubCtx, 3*time.Second) }()
	loops.Add(3)
	go func() { defer loops.Done(); w.leaseLoop(ctx) }()
	go func() { defer loops.Done(); w.refreshLoop(ctx) }()
	go func() { defer loops.Done(); w.schedule(ctx) }()
	<-ctx.Done()
	loops.Wait()
	w.wg.Wait() // probe rounds and event subscriptions end with ctx
	pubCancel()
	<-pubDone // flushes what it can
	if !w.skipRelease {
		rctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		w.ls.Release(rctx)
		cancel()
	}
	w.mu.Lock()
	for _, c := range w.cams {
		if c.client != nil {
			c.client.Close()
		}
	}
	w.mu.Unlock()
	w.tr.CloseIdleConnections()
	w.log.Info("health worker stopped")
	return nil
}

// Close stops Run and waits for it. Safe to call more than once, and
// before or without Run.
func (w *Worker) Close() {
	w.closeOnce.Do(func() {
		w.cancel()
		started := true
		w.runOnce.Do(func() { started = false })
		if started {
			<-w.done
		}
	})
}

func (w *Worker) leaseLoop(ctx context.Context) {
	t := time.NewTicker(w.cfg.LeaseTTL / 3)
	defer t.Stop()
	failing := false
	items := shardItems(w.cfg.Shards)
	for {
		held, err := w.ls.Tick(ctx, items)
		shards := heldShards(held, w.cfg.Shards)
		if err != nil && ctx.Err() == nil {
			if !failing {
				w.log.Warn("health: lease renewal failed", "err", err)
			}
			failing = true
		} else {
			failing = false
		}
		w.setOwned(shards)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (w *Worker) setOwned(shards []int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	next := map[int]bool{}
	for _, n := range shards {
		next[n] = true
	}
	changed := len(next) != len(w.owned)
	for n := range w.owned {
		if !next[n] {
			changed = true
		}
	}
	if !changed {
		return
	}
	for _, c := range w.cams {
		if w.owned[c.shard] && !next[c.shard] {
			// Another worker may change its state while we do not own it:
			// start from the status bucket when we get it back.
			c.mu.Lock()
			c.restored = false
			c.mu.Unlock()
		}
	}
	w.owned = next
	w.reconcileEventsLocked()
	w.kick()
}

func (w *Worker) kick() {
	select {
	case w.rebuild <- struct{}{}:
	default:
	}
}

func (w *Worker) refreshLoop(ctx context.Context) {
	t := time.NewTicker(w.cfg.RefreshInterval)
	defer t.Stop()
	for {
		if err := w.refresh(ctx); err != nil && ctx.Err() == nil {
			w.log.Warn("health: reading probe targets failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// refresh reads the targets and updates the camera set.
func (w *Worker) refresh(ctx context.Context) error {
	ts, err := w.cfg.Targets.ProbeTargets(ctx)
	if err != nil {
		return fmt.Errorf("health: probe targets: %w", err)
	}
	seen := map[string]bool{}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, t := range ts {
		if !validID(t.CameraID) {
			w.log.Warn("health: camera id unusable as a NATS subject token; not probed", "camera", t.CameraID)
			continue
		}
		seen[t.CameraID] = true
		c, ok := w.cams[t.CameraID]
		if !ok {
			c = &camera{shard: shardOf(t.CameraID, w.cfg.Shards), m: NewMachine(w.cfg.Thresholds, w.cfg.Hysteresis)}
			c.phase = phaseOf(t.CameraID, w.interval(t))
			// Spread the keyframe checks over their interval too.
			if w.cfg.KeyframeInterval > 0 {
				c.lastKeyframe = w.cfg.Now().Add(-time.Duration(float64(w.cfg.KeyframeInterval) * float64(c.phase) / float64(w.interval(t))))
			}
			w.cams[t.CameraID] = c
		}
		c.mu.Lock()
		if c.client == nil || c.t.DeviceURL != t.DeviceURL || c.t.Username != t.Username || c.t.Password != t.Password {
			if c.client != nil {
				c.client.Close()
			}
			c.client, err = onvif.New(onvif.Config{
				Endpoint: t.DeviceURL, Username: t.Username, Password: t.Password,
				Timeout: w.cfg.ProbeTimeout, Transport: w.tr, Logger: w.log,
			})
			if err != nil {
				w.log.Warn("health: camera device URL unusable", "camera", t.CameraID, "err", err)
				c.client = nil
			}
		}
		if w.interval(c.t) != w.interval(t) {
			c.phase = phaseOf(t.CameraID, w.interval(t))
		}
		c.t = t
		c.mu.Unlock()
	}
	for id, c := range w.cams {
		if !seen[id] {
			c.mu.Lock()
			if c.evCancel != nil {
				c.evCancel()
				c.evCancel = nil
			}
			if c.client != nil {
				c.client.Close()
			}
			c.mu.Unlock()
			delete(w.cams, id)
		}
	}
	w.loaded = true
	w.reconcileEventsLocked()
	w.kick()
	return nil
}

func (w *Worker) interval(t Target) time.Duration {
	if t.Interval > 0 {
		return t.Interval
	}
	return w.cfg.Interval
}

// phaseOf places a camera's probe slots within its interval, evenly by
// hash, the same in every worker: a camera handed over is probed on the
// same grid, never twice in one interval.
func phaseOf(id string, iv time.Duration) time.Duration {
	h := fnv.New64a()
	h.Write([]byte(id))
	return time.Duration(h.Sum64() % uint64(iv))
}

// nextSlot returns the first slot of the grid (phase + k*iv) after now.
func nextSlot(now time.Time, iv, phase time.Duration) time.Time {
	n, p, i := now.UnixNano(), int64(phase), int64(iv)
	k := (n - p) / i
	return time.Unix(0, (k+1)*i+p)
}

type slot struct {
	due time.Time
	c   *camera
}

type slotHeap []slot

func (h slotHeap) Len() int           { return len(h) }
func (h slotHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h slotHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *slotHeap) Push(x any)        { *h = append(*h, x.(slot)) }
func (h *slotHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// schedule starts probe rounds when they are due; it is the only goroutine
// touching the heap.
func (w *Worker) schedule(ctx context.Context) {
	var h slotHeap
	confirm := map[*camera]time.Time{} // confirmation rounds, kept across rebuilds
	build := func() {
		now := w.cfg.Now()
		h = h[:0]
		w.mu.Lock()
		for _, c := range w.cams {
			if w.owned[c.shard] {
				c.mu.Lock()
				iv := w.interval(c.t)
				c.mu.Unlock()
				h = append(h, slot{nextSlot(now, iv, c.phase), c})
			}
		}
		w.mu.Unlock()
		heap.Init(&h)
		for c, due := range confirm {
			heap.Push(&h, slot{due, c})
		}
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		if len(h) > 0 {
			timer.Reset(max(h[0].due.Sub(w.cfg.Now()), 0))
		} else {
			timer.Reset(time.Hour)
		}
		select {
		case <-ctx.Done():
			return
		case <-w.rebuild:
			timer.Stop()
			build()
			continue
		case r := <-w.soon:
			timer.Stop()
			if _, dup := confirm[r.c]; !dup {
				confirm[r.c] = r.due
				heap.Push(&h, slot{r.due, r.c})
			}
			continue
		case <-timer.C:
		}
		now := w.cfg.Now()
		for len(h) > 0 && !h[0].due.After(now) {
			s := heap.Pop(&h).(slot)
			c := s.c
			t := c.target()
			regular := s.due.Equal(nextSlot(s.due.Add(-1), w.interval(t), c.phase))
			if regular {
				heap.Push(&h, slot{nextSlot(now, w.interval(t), c.phase), c})
			} else if confirm[c].Equal(s.due) {
				delete(confirm, c)
			} else {
				continue // a confirmation round dropped by a rebuild
			}
			if !w.ls.Valid(strconv.Itoa(c.shard), now) {
				continue
			}
			if !c.inflight.CompareAndSwap(false, true) {
				w.stats.skipped.Add(1)
				continue
			}
			select {
			case w.sem <- struct{}{}:
			case <-ctx.Done():
				c.inflight.Store(false)
				return
			}
			w.wg.Add(1)
			go func() {
				defer w.wg.Done()
				defer func() { <-w.sem }()
				defer c.inflight.Store(false)
				w.round(ctx, c, t)
			}()
		}
	}
}

// round runs one probe round of c and publishes what changed.
func (w *Worker) round(ctx context.Context, c *camera, t Target) {
	c.mu.Lock()
	restored := c.restored
	client := c.client
	c.mu.Unlock()
	if !restored {
		// Continue from the state the previous owner published.
		e, err := w.kv.Get(ctx, t.CameraID)
		switch {
		case err == nil:
			var m gwanjev1.CameraStatus
			if err := proto.Unmarshal(e.Value(), &m); err == nil {
				c.mu.Lock()
				c.m.Restore(StatusFromProto(&m))
				c.mu.Unlock()
			}
		case errors.Is(err, jetstream.ErrKeyNotFound):
		default:
			if ctx.Err() == nil {
				w.stats.restoreFailed.Add(1)
			}
			return // NATS away: try again next round
		}
		c.mu.Lock()
		c.restored = true
		c.mu.Unlock()
	}
	now := w.cfg.Now()
	c.mu.Lock()
	st, changed := c.m.SetMaintenance(t.Maintenance, now)
	c.mu.Unlock()
	if changed {
		w.publishStatus(t, st)
	}
	if t.Maintenance {
		return
	}
	c.mu.Lock()
	kf := w.cfg.KeyframeInterval > 0 && (c.m.Stalled() || now.Sub(c.lastKeyframe) >= w.cfg.KeyframeInterval)
	c.mu.Unlock()
	start := time.Now()
	o := w.cfg.Prober.Probe(ctx, ProbeRequest{Target: t, Keyframe: kf, Timeout: w.cfg.ProbeTimeout, KeyframeTimeout: w.cfg.KeyframeTimeout, Client: client})
	if ctx.Err() != nil {
		return // cancelled, not a miss
	}
	w.stats.record(time.Since(start), o)
	c.mu.Lock()
	if o.Keyframe != nil {
		c.lastKeyframe = o.At
	}
	st, changed = c.m.Observe(o)
	pending := c.m.cand != "" && c.m.cand != c.m.state
	state, _, _ := c.m.State()
	report := t.Pending && w.cfg.Pending != nil && state.Up() && !c.upReported
	c.mu.Unlock()
	if changed {
		w.publishStatus(t, st)
	}
	if report {
		if err := w.cfg.Pending.CameraUp(ctx, t.CameraID, state); err != nil {
			if ctx.Err() == nil {
				w.log.Warn("health: pending camera is up but its registration could not be completed (retried next round)",
					"camera", t.CameraID, "err", err)
			}
		} else {
			c.mu.Lock()
			c.upReported = true
			c.mu.Unlock()
		}
	}
	if pending && w.cfg.ConfirmAfter > 0 {
		select {
		case w.soon <- soonReq{c, w.cfg.Now().Add(w.cfg.ConfirmAfter)}:
		default:
		}
	}
}

func (w *Worker) publishStatus(t Target, s Status) {
	s.CameraID, s.Site, s.Department, s.Worker = t.CameraID, t.Site, t.Department, w.cfg.ID
	w.stats.published.Add(1)
	if w.onStatus != nil {
		w.onStatus(s)
	}
	if s.Transition() {
		w.log.Info("camera state", "camera", t.CameraID, "state", s.State.String(), "previous", s.Previous.String(), "cause", s.Cause)
	}
	w.pub.enqueue(outMsg{
		subject: events.CameraStatus(t.CameraID),
		data:    marshal(StatusToProto(s)),
		msgID:   t.CameraID + "/" + strconv.FormatInt(s.ObservedAt.UnixNano(), 10),
		kvKey:   t.CameraID,
	})
}

// Owned returns the shards this worker holds now, sorted.
func (w *Worker) Owned() []int {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]int, 0, len(w.owned))
	for n := range w.owned {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// Cameras returns the ids of the cameras this worker probes now, sorted.
func (w *Worker) Cameras() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for id, c := range w.cams {
		if w.owned[c.shard] {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// Flush waits until every status and event found so far is published.
func (w *Worker) Flush(ctx context.Context) error { return w.pub.waitIdle(ctx) }

// WorkerStats are counters of a worker since it started.
type WorkerStats struct {
	Rounds       int64 // probe rounds run
	Failed       int64 // rounds whose ONVIF probe failed
	Skipped      int64 // slots skipped because the previous round still ran
	Published    int64 // status messages handed to the publisher
	Pending      int   // messages waiting for NATS
	DroppedEvent int64 // camera events dropped because the buffer was full
	Events       int64 // camera events received
	Subscribed   int64 // event subscriptions created (again after reboots)
	// LatencyP50/P99 are of whole probe rounds (recent 4096).
	LatencyP50, LatencyP99 time.Duration
}

type workerStats struct {
	rounds, failed, skipped, published, restoreFailed, events, subscriptions atomic.Int64
	probe                                                                    prometheus.Histogram

	mu  sync.Mutex
	lat []time.Duration
	pos int
}

func (s *workerStats) record(d time.Duration, o Observation) {
	s.observe(d)
	s.rounds.Add(1)
	if !o.ONVIF.OK {
		s.failed.Add(1)
	}
	s.mu.Lock()
	if len(s.lat) < cap(s.lat) {
		s.lat = append(s.lat, d)
	} else {
		s.lat[s.pos] = d
		s.pos = (s.pos + 1) % len(s.lat)
	}
	s.mu.Unlock()
}

// Stats returns the worker's counters.
func (w *Worker) Stats() WorkerStats {
	st := WorkerStats{
		Rounds: w.stats.rounds.Load(), Failed: w.stats.failed.Load(), Skipped: w.stats.skipped.Load(),
		Published: w.stats.published.Load(), Pending: w.pub.pending(),
		Events: w.stats.events.Load(), Subscribed: w.stats.subscriptions.Load(),
	}
	w.pub.mu.Lock()
	st.DroppedEvent = w.pub.dropped
	w.pub.mu.Unlock()
	w.stats.mu.Lock()
	lat := slices.Clone(w.stats.lat)
	w.stats.mu.Unlock()
	if len(lat) > 0 {
		slices.Sort(lat)
		st.LatencyP50 = lat[len(lat)*50/100]
		st.LatencyP99 = lat[min(len(lat)*99/100, len(lat)-1)]
	}
	return st
}
