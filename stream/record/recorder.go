package record

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
)

// Schedule says whether a camera records at a moment. devices.Schedule
// and *devices.Camera implement it.
type Schedule interface {
	Scheduled(t time.Time) bool
}

// Camera is what the recorder and the sweeper need to know of a camera.
type Camera struct {
	ID string
	// Profile to record. Default "main".
	Profile string
	// Schedule of recording hours; nil records around the clock.
	Schedule Schedule
	// RetentionDays is the retention period (보관기간); NotStored cameras
	// (미보유) are never recorded and keep nothing.
	RetentionDays int
	NotStored     bool
}

// Records reports whether the camera is to be recorded at t.
func (c Camera) Records(t time.Time) bool {
	return !c.NotStored && c.RetentionDays > 0 && (c.Schedule == nil || c.Schedule.Scheduled(t))
}

// Cameras lists the cameras with their schedule and retention. The server
// adapts the devices registry; tests supply them directly.
type Cameras interface {
	RecordingCameras(ctx context.Context) ([]Camera, error)
}

// CamerasFunc adapts a function to Cameras.
type CamerasFunc func(ctx context.Context) ([]Camera, error)

// RecordingCameras implements Cameras.
func (f CamerasFunc) RecordingCameras(ctx context.Context) ([]Camera, error) { return f(ctx) }

// Config configures a Recorder. Zero values take the defaults documented
// on each field.
type Config struct {
	// Store is where segments go. Required.
	Store *Store
	// Cameras gives the cameras, schedules and retention. Required.
	Cameras Cameras
	// Source delivers video. Required (an *RTSPSource, or the relay's
	// shared upstream).
	Source Source
	// SegmentDuration: a segment is cut at the first keyframe after this
	// much media. Default 1m.
	SegmentDuration time.Duration
	// PartDuration is the fMP4 fragment length inside a segment. Default 1s.
	PartDuration time.Duration
	// SealInterval bounds the footage a crash can lose: every
	// SealInterval of media time, the fragment in progress is ended and
	// everything written so far is sealed into an encrypted chunk that
	// reaches the file (a chunk is otherwise sealed only when it holds
	// StoreConfig.ChunkSize bytes, which at low bitrates is tens of
	// seconds). After a SIGKILL the start-up check keeps the segment in
	// progress up to its last seal, so at most SealInterval plus the
	// frame in hand is lost. Default 1s; negative seals full chunks only
	// (not for production: benchmarks).
	SealInterval time.Duration
	// NoSealSync skips the fdatasync after each timed seal. With it (the
	// default) a power cut or kernel crash loses no more than a SIGKILL
	// does; without it, sealed chunks are in the page cache only and the
	// kernel writes them back within its dirty-writeback time (~30 s by
	// default on Linux). A finished segment is fsynced, renamed and its
	// directory fsynced before it is indexed either way. FORMAT.md gives
	// the cost measured.
	NoSealSync bool
	// RefreshInterval reloads the camera list. Default 15s.
	RefreshInterval time.Duration
	// EvaluateInterval re-evaluates schedules (and the disk state).
	// Default 1s. Frames are also checked against the schedule one by one,
	// so recording stops at the end of a window to the frame.
	EvaluateInterval time.Duration
	// ManifestInterval signs manifests of ended hours. Default 1m.
	ManifestInterval time.Duration
	// ReconnectMin and ReconnectMax bound the reconnect backoff. Defaults
	// 500ms and 10s.
	ReconnectMin, ReconnectMax time.Duration
	// Pool, when set, makes this recorder one member of a pool of
	// recorders that share the cameras through leases (pool.go): it
	// records only the cameras it holds. Nil records every camera (one
	// recorder).
	Pool *PoolConfig
	// SkipCheck skips the start-up check in Run (tests).
	SkipCheck bool
	// Now is the clock. Default: the Store's.
	Now func() time.Time
	// Logger. Default: the Store's.
	Logger *slog.Logger
}

// Recorder records every camera whose schedule says so, into the Store.
type Recorder struct {
	cfg Config
	s   *Store
	log *slog.Logger

	mu      sync.Mutex
	cams    map[string]*camState
	list    []Camera
	closed  bool
	wg      sync.WaitGroup
	ctx     context.Context
	cancel  context.CancelFunc
	evalReq chan chan struct{}

	// lp is the pool membership (Config.Pool), set when Run joins.
	lp atomic.Pointer[recorderPool]
	// Tests: pauseRenew stops lease renewals (a recorder cut off from
	// NATS); ignoreLease keeps recording whatever the lease says (a
	// recorder frozen past its lease); skipRelease makes Close keep the
	// leases, as a killed process does.
	pauseRenew  atomic.Bool
	ignoreLease atomic.Bool
	skipRelease atomic.Bool
	leaseWG     sync.WaitGroup
}

type camState struct {
	// fence is the lease the camera is recorded under (pool); its footage
	// starts at since at the earliest.
	fence   fence
	since   time.Time
	cam     atomic.Pointer[Camera]
	cancel  context.CancelFunc
	done    chan struct{}
	open    atomic.Bool
	segs    atomic.Int64
	lastErr atomic.Pointer[string]
}

// New checks cfg and returns a recorder; Run starts it.
func New(cfg Config) (*Recorder, error) {
	if cfg.Store == nil || cfg.Cameras == nil || cfg.Source == nil {
		return nil, fmt.Errorf("%w: Config.Store, Cameras and Source are required", ErrInvalid)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.SegmentDuration, time.Minute)
	def(&cfg.PartDuration, time.Second)
	if cfg.SealInterval == 0 {
		cfg.SealInterval = time.Second
	}
	def(&cfg.RefreshInterval, 15*time.Second)
	def(&cfg.EvaluateInterval, time.Second)
	def(&cfg.ManifestInterval, time.Minute)
	def(&cfg.ReconnectMin, 500*time.Millisecond)
	def(&cfg.ReconnectMax, 10*time.Second)
	if cfg.Now == nil {
		cfg.Now = cfg.Store.cfg.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = cfg.Store.log
	}
	if cfg.Pool != nil {
		pc := *cfg.Pool
		if err := pc.defaults(); err != nil {
			return nil, err
		}
		cfg.Pool = &pc
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Recorder{cfg: cfg, s: cfg.Store, log: cfg.Logger, cams: map[string]*camState{}, ctx: ctx, cancel: cancel,
		evalReq: make(chan chan struct{})}, nil
}

// Run runs the start-up check, then records until ctx ends or Close;
// then it finishes the segments in progress and signs their manifests.
func (r *Recorder) Run(ctx context.Context) error {
	if !r.cfg.SkipCheck {
		rep, err := r.s.Check(ctx)
		if err != nil {
			return err
		}
		r.log.Info("record: start-up check", "files", rep.Files, "indexed", rep.Indexed, "salvaged", rep.Salvaged,
			"quarantined", rep.Quarantined, "missing", rep.Missing)
	}
	stop := context.AfterFunc(ctx, r.cancel)
	defer stop()
	if r.cfg.Pool != nil {
		if err := r.joinPool(r.ctx); err != nil {
			return err
		}
	}
	defer r.shutdown()
	eval := time.NewTicker(r.cfg.EvaluateInterval)
	defer eval.Stop()
	manifest := time.NewTicker(r.cfg.ManifestInterval)
	defer manifest.Stop()
	var lastRefresh time.Time
	refresh := func() {
		cams, err := r.cfg.Cameras.RecordingCameras(r.ctx)
		if err != nil {
			r.log.Warn("record: camera list", "err", err)
			return
		}
		r.mu.Lock()
		r.list = cams
		r.mu.Unlock()
		lastRefresh = time.Now()
	}
	refresh()
	r.evaluate()
	if r.cfg.Pool != nil {
		r.leaseWG.Add(1)
		go func() { defer r.leaseWG.Done(); r.leaseLoop(r.ctx) }()
	}
	for {
		select {
		case <-r.ctx.Done():
			return nil
		case <-eval.C:
			if time.Since(lastRefresh) >= r.cfg.RefreshInterval {
				refresh()
			}
			r.evaluate()
		case done := <-r.evalReq:
			refresh()
			r.evaluate()
			close(done)
		case <-manifest.C:
			if _, err := r.s.SignManifests(r.ctx, r.cfg.Now(), false); err != nil && r.ctx.Err() == nil {
				r.log.Warn("record: manifests", "err", err)
			}
		}
	}
}

// Evaluate reloads the camera list and re-evaluates schedules now, without
// waiting for the next tick (tests with an injected clock; or after a
// registry change). It returns when done, or when ctx ends.
func (r *Recorder) Evaluate(ctx context.Context) error {
	done := make(chan struct{})
	select {
	case r.evalReq <- done:
	case <-ctx.Done():
		return ctx.Err()
	case <-r.ctx.Done():
		return errors.New("record: recorder closed")
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (r *Recorder) evaluate() {
	now := r.cfg.Now()
	spaceOK := r.s.checkSpace()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	want := map[string]Camera{}
	fences := map[string]fence{}
	for _, c := range r.list {
		if c.Records(now) && spaceOK && validName(c.ID) {
			if r.cfg.Pool != nil {
				f, ok := r.lp.Load().leaseOf(c.ID, now)
				if !ok && !r.ignoreLease.Load() {
					continue
				}
				fences[c.ID] = f
			}
			want[c.ID] = c
		}
	}
	for id, st := range r.cams {
		c, ok := want[id]
		if ok && r.cfg.Pool != nil && !r.ignoreLease.Load() && fences[id] != st.fence {
			ok = false // held again under a new lease: stopped, then started again
		}
		if !ok {
			st.cancel()
			select {
			case <-st.done:
				delete(r.cams, id)
			default: // removed at a later evaluation, once it has ended
			}
			continue
		}
		select {
		case <-st.done: // ended by itself (schedule at frame level, disk full): start again below
			delete(r.cams, id)
			continue
		default:
		}
		cc := c
		st.cam.Store(&cc)
		delete(want, id)
	}
	for id, st := range r.cams {
		select {
		case <-st.done:
			delete(r.cams, id)
		default:
		}
	}
	for id, c := range want {
		if _, running := r.cams[id]; running {
			continue
		}
		ctx, cancel := context.WithCancel(r.ctx)
		st := &camState{cancel: cancel, done: make(chan struct{}), fence: fences[id]}
		cc := c
		st.cam.Store(&cc)
		r.cams[id] = st
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			defer close(st.done)
			r.runCamera(ctx, st)
		}()
	}
	n := 0
	for _, st := range r.cams {
		if st.open.Load() {
			n++
		}
	}
	r.s.m.Recording.Set(float64(n))
	if r.cfg.Pool != nil {
		r.s.m.Leases.Set(float64(len(fences)))
	}
}

// CameraStatus is one camera's recording state.
type CameraStatus struct {
	ID        string
	Recording bool // a segment is open
	Segments  int64
	LastError string
}

// Status lists the cameras the recorder works on.
func (r *Recorder) Status() []CameraStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []CameraStatus
	for id, st := range r.cams {
		cs := CameraStatus{ID: id, Recording: st.open.Load(), Segments: st.segs.Load()}
		if e := st.lastErr.Load(); e != nil {
			cs.LastError = *e
		}
		out = append(out, cs)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Close stops recording (finishing segments in progress) and waits. Safe
// to call twice.
func (r *Recorder) Close() {
	r.cancel()
	r.shutdown()
}

func (r *Recorder) shutdown() {
	r.mu.Lock()
	first := !r.closed
	r.closed = true
	for _, st := range r.cams {
		st.cancel()
	}
	r.mu.Unlock()
	r.wg.Wait()
	r.leaseWG.Wait()
	if first {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		// Segments are indexed: the leases go back, so the other
		// recorders take the cameras at their next renewal.
		if p := r.lp.Load(); p != nil {
			if r.skipRelease.Load() {
				p.ls.Drop()
			} else {
				p.ls.Release(ctx)
			}
		}
		if _, err := r.s.SignManifests(ctx, r.cfg.Now(), true); err != nil {
			r.log.Warn("record: manifests at shutdown", "err", err)
		}
	}
}

var (
	errOutOfSchedule = errors.New("record: out of schedule")
	errLeaseLost     = errors.New("record: camera lease lost")
)

// runCamera subscribes and records, reconnecting with backoff, until ctx
// ends or the camera leaves its schedule.
func (r *Recorder) runCamera(ctx context.Context, st *camState) {
	backoff := r.cfg.ReconnectMin
	if r.cfg.Pool != nil {
		// The fence first: from now on no earlier holder indexes this
		// camera's time.
		for {
			if !r.holds(st) || st.fence.Token == 0 {
				return
			}
			since, err := r.s.registerFence(ctx, st.cam.Load().ID, st.fence, r.cfg.Now())
			if err == nil {
				st.since = since
				break
			}
			r.log.Warn("record: fence not registered; retrying", "camera", st.cam.Load().ID, "err", err)
			t := time.NewTimer(backoff)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
	}
	for ctx.Err() == nil {
		cam := st.cam.Load()
		profile := cam.Profile
		if profile == "" {
			profile = "main"
		}
		sub, err := r.cfg.Source.Subscribe(ctx, cam.ID, profile)
		if err == nil {
			err = r.record(ctx, st, sub)
			sub.Close()
			if errors.Is(err, errOutOfSchedule) || errors.Is(err, ErrDiskFull) || errors.Is(err, errLeaseLost) ||
				errors.Is(err, ErrFenced) || ctx.Err() != nil {
				return
			}
			backoff = r.cfg.ReconnectMin
		}
		if ctx.Err() != nil {
			return
		}
		msg := err.Error()
		st.lastErr.Store(&msg)
		r.s.m.Reconnects.Inc()
		r.log.Warn("record: camera stream lost; reconnecting", "camera", cam.ID, "err", err, "retry_in", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(backoff*2, r.cfg.ReconnectMax)
	}
}

// holds reports whether this recorder may record the camera now: always
// without a pool; with one, while it holds the camera's lease it started
// under with more than the margin left.
func (r *Recorder) holds(st *camState) bool {
	if r.cfg.Pool == nil || r.ignoreLease.Load() {
		return true
	}
	f, ok := r.lp.Load().leaseOf(st.cam.Load().ID, r.cfg.Now())
	return ok && f == st.fence
}

// dtsExtractor computes decode timestamps (B-frames).
type dtsExtractor interface {
	Extract(au [][]byte, pts int64) (int64, error)
}

// record writes one subscription into segments.
func (r *Recorder) record(ctx context.Context, st *camState, sub Subscription) error {
	track := sub.Track()
	var seg *segmentFile
	var ex dtsExtractor
	var t0 time.Time
	var dts0, lastDTS int64
	haveT0 := false
	var fenceErr error
	finish := func(next int64) {
		if seg == nil {
			return
		}
		sf := seg
		seg = nil
		// Recording turns false once the segment is indexed.
		defer st.open.Store(false)
		// The segment's index row is written even when ctx ended.
		ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, err := sf.finish(ictx, next); err != nil {
			if errors.Is(err, ErrFenced) {
				fenceErr = err
			}
			r.log.Warn("record: segment not indexed", "camera", sf.camera, "err", err)
			return
		}
		st.segs.Add(1)
	}
	defer finish(-1)
	for {
		u, err := sub.Next(ctx)
		if err != nil {
			return err
		}
		cam := st.cam.Load()
		if !cam.Records(r.cfg.Now()) {
			return errOutOfSchedule
		}
		if !r.holds(st) {
			return errLeaseLost
		}
		if fenceErr != nil {
			return fenceErr
		}
		if u.Key {
			track = withParams(track, u.AU)
			u.AU = ensureParams(track, u.AU)
		}
		pts := int64(u.PTS) * Timescale / int64(time.Second)
		if ex == nil {
			if !u.Key {
				r.s.m.FramesDropped.Inc()
				continue
			}
			if track.Codec == CodecH265 {
				e := &h265.DTSExtractor{}
				e.Initialize()
				ex = e
			} else {
				e := &h264.DTSExtractor{}
				e.Initialize()
				ex = e
			}
		}
		dts, err := ex.Extract(u.AU, pts)
		if err != nil {
			dts = pts
		}
		if haveT0 && dts <= lastDTS {
			dts = lastDTS + 1
		}
		lastDTS = dts
		if !haveT0 {
			t0, dts0, haveT0 = r.cfg.Now(), dts, true
			if t0.Before(st.since) {
				t0 = st.since // after the previous holder's footage
			}
		}
		if seg != nil && u.Key && (seg.duration(dts) >= r.cfg.SegmentDuration || !track.same(seg.track)) {
			finish(dts)
		}
		if seg == nil {
			if !u.Key {
				r.s.m.FramesDropped.Inc()
				continue
			}
			if r.s.DiskFull() {
				return ErrDiskFull
			}
			start := t0.Add(time.Duration(dts-dts0) * time.Second / Timescale)
			opt := segmentOptions{Part: r.cfg.PartDuration, Seal: max(r.cfg.SealInterval, 0), Sync: !r.cfg.NoSealSync}
			if r.cfg.Pool != nil {
				f := st.fence
				opt.Fence = &f
			}
			seg, err = r.s.openSegment(ctx, cam.ID, start, track, opt)
			if err != nil {
				if errors.Is(err, ErrDiskFull) {
					return err
				}
				r.s.raise(Alarm{Kind: AlarmWriteFailed, CameraID: cam.ID, Detail: err.Error()})
				return err
			}
			st.open.Store(true)
		}
		if err := seg.add(&sample{dts: dts, pts: pts, key: u.Key, au: u.AU}); err != nil {
			sf := seg
			seg = nil
			st.open.Store(false)
			sf.abort()
			if !errors.Is(err, ErrDiskFull) {
				r.s.raise(Alarm{Kind: AlarmWriteFailed, CameraID: cam.ID, Detail: err.Error()})
			}
			return err
		}
		r.s.m.Frames.Inc()
	}
}

// ensureParams prepends the track's parameter sets to a keyframe that
// lacks them, so every segment (and every seek point) is decodable alone.
func ensureParams(t Track, au [][]byte) [][]byte {
	var hasSPS, hasPPS bool
	for _, n := range au {
		if len(n) == 0 {
			continue
		}
		if t.Codec == CodecH264 {
			switch h264.NALUType(n[0] & 0x1f) {
			case h264.NALUTypeSPS:
				hasSPS = true
			case h264.NALUTypePPS:
				hasPPS = true
			}
		} else {
			switch h265.NALUType((n[0] >> 1) & 0x3f) {
			case h265.NALUType_SPS_NUT:
				hasSPS = true
			case h265.NALUType_PPS_NUT:
				hasPPS = true
			}
		}
	}
	if (hasSPS && hasPPS) || t.SPS == nil || t.PPS == nil {
		return au
	}
	out := make([][]byte, 0, len(au)+3)
	if t.Codec == CodecH265 && t.VPS != nil {
		out = append(out, t.VPS)
	}
	out = append(out, t.SPS, t.PPS)
	return append(out, au...)
}
