package record

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/gwanje/gwanje/events"
	"github.com/gwanje/gwanje/events/lease"
)

// The recorder pool. With Config.Pool set, recorders share the cameras
// through leases in NATS KV (package events/lease, bucket
// GWANJE_RECORDER_LEASES: item.<camera>, member.<node>): each records only
// the cameras it holds. A node's share is weighted by its declared
// capacity (PoolConfig.Capacity: cameras or Mbit/s, the same unit on every
// node) times a free-disk factor (1 while at least PoolConfig.DiskLow of
// the disk or quota is free, falling linearly to 0 when it is full; 0 while
// writing is stopped for lack of space). A node that joins takes its share
// over a few renewals (MaxMoves per renewal, Hysteresis items kept beyond
// the share); a node that dies or is cut off loses its cameras when its
// leases run out (TTL), and the others claim them at once: they watch the
// bucket for leases given back or run out (lease.Pool.Freed), besides
// renewing every Renew.
//
// Fencing. Before it records a camera the holder writes a row in
// recording_fences: the lease's (epoch, token), its node and since, the
// moment from which it records. Every segment is indexed in a transaction
// that first checks that no later lease of the camera held by another node
// began before the segment ends (insertSegment); a refused segment is
// removed (ErrFenced). A recorder stops writing a camera when its lease has
// less than PoolConfig.Margin left without a renewal, before any other
// node can take it, so a holder that merely lost NATS loses nothing it
// recorded; a recorder frozen past its lease (a stopped process, a long
// pause) that comes back cannot index time another node recorded. A
// camera given back on purpose (rebalancing, shutdown) is stopped and its
// segment indexed before the lease is released (lease.Config.BeforeRelease).

// PoolConfig makes the recorder one member of a pool of recorders. Zero
// values take the defaults documented on each field; every member of a
// pool must use the same Bucket and TTL.
type PoolConfig struct {
	// JS is the JetStream context of the NATS the pool meets in. Required.
	JS jetstream.JetStream
	// Bucket is the lease bucket. Default events.BucketRecorderLeases.
	Bucket string
	// TTL is the lease time: a node that dies loses its cameras this long
	// after its last renewal. Default 3s.
	TTL time.Duration
	// Renew is how often leases are renewed and free cameras claimed.
	// Default TTL/3 (1s).
	Renew time.Duration
	// Margin: a camera stops being recorded when its lease has less than
	// this left without a renewal (NATS away). Default Renew/2.
	Margin time.Duration
	// Capacity is this node's declared capacity, the weight of its share:
	// a number of cameras or Mbit/s, the same unit on every node. Default
	// 100.
	Capacity float64
	// DiskLow: the weight falls linearly from full to 0 as the free part
	// of the disk (or quota) falls from DiskLow to nothing. Default 0.1.
	DiskLow float64
	// MaxMoves bounds the cameras given back per renewal to rebalance
	// when a node joins. Default 4.
	MaxMoves int
	// Hysteresis: cameras held beyond the share without giving them back
	// while no other member is below its own share. Default 1; negative:
	// none.
	Hysteresis int
}

func (c *PoolConfig) defaults() error {
	if c.JS == nil {
		return fmt.Errorf("%w: PoolConfig.JS is required", ErrInvalid)
	}
	if c.Bucket == "" {
		c.Bucket = events.BucketRecorderLeases
	}
	if c.TTL <= 0 {
		c.TTL = 3 * time.Second
	}
	if c.Renew <= 0 {
		c.Renew = c.TTL / 3
	}
	if c.Renew >= c.TTL {
		return fmt.Errorf("%w: the lease renewal (%v) must be shorter than the lease time (%v)", ErrInvalid, c.Renew, c.TTL)
	}
	if c.Margin <= 0 {
		c.Margin = c.Renew / 2
	}
	if c.Capacity < 0 || math.IsNaN(c.Capacity) || math.IsInf(c.Capacity, 0) {
		return fmt.Errorf("%w: recorder capacity %v", ErrInvalid, c.Capacity)
	}
	if c.Capacity == 0 {
		c.Capacity = 100
	}
	if c.DiskLow <= 0 || c.DiskLow > 1 {
		c.DiskLow = 0.1
	}
	if c.MaxMoves <= 0 {
		c.MaxMoves = 4
	}
	if c.Hysteresis < 0 {
		c.Hysteresis = 0
	} else if c.Hysteresis == 0 {
		c.Hysteresis = 1
	}
	return nil
}

// ErrFenced is returned (wrapped) when a segment covers time that a later
// lease of the camera, held by another node, already holds: it is not
// indexed.
var ErrFenced = errors.New("record: fenced: another recorder holds this camera's time")

// fence is the lease under which a segment is written.
type fence struct {
	Epoch int64
	Token uint64
}

// registerFence records that this node holds camera under f from since,
// which is now or, if another node's footage of the camera indexed last
// ends later (its clock ran ahead, or its last frame), that end. It
// returns since: this node's footage of the camera starts there at the
// earliest. Under the camera's advisory lock, like the index, so either an
// earlier holder's segment is indexed first (and since follows it) or it
// is checked against this fence.
func (s *Store) registerFence(ctx context.Context, camera string, f fence, now time.Time) (time.Time, error) {
	since := now.Truncate(time.Microsecond)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := lockCamera(ctx, tx, camera); err != nil {
			return err
		}
		var last *time.Time
		if err := tx.QueryRow(ctx, `select max(end_at) from (select end_at from recording_segments
			where camera_id = $1 and node <> $2 and status = 'ok' order by start_at desc limit 16) s`,
			camera, s.node).Scan(&last); err != nil {
			return err
		}
		if last != nil && last.After(since) {
			since = *last
		}
		_, err := tx.Exec(ctx, `insert into recording_fences (camera_id, epoch, token, node, since)
			values ($1, $2, $3, $4, $5) on conflict do nothing`, camera, f.Epoch, int64(f.Token), s.node, since)
		return err
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("record: fence: %w", err)
	}
	return since, nil
}

// lockCamera takes the camera's fencing lock for the transaction.
func lockCamera(ctx context.Context, tx pgx.Tx, camera string) error {
	if _, err := tx.Exec(ctx, `select pg_advisory_xact_lock(hashtextextended('gwanje.recording.fence:' || $1, 0))`, camera); err != nil {
		return fmt.Errorf("record: fence: %w", err)
	}
	return nil
}

// checkFence runs in the transaction that indexes seg: under an advisory
// lock per camera (so a fence registered concurrently is seen), it refuses
// the segment when a later lease of the camera held by another node began
// before the segment ends. f nil (the start-up check: a salvaged or
// orphaned file) takes this node's latest lease that began by the
// segment's start; a camera without fences (no pool) is not checked.
func (s *Store) checkFence(ctx context.Context, tx pgx.Tx, seg *Segment, f *fence) error {
	if err := lockCamera(ctx, tx, seg.CameraID); err != nil {
		return err
	}
	var ep, tok int64
	if f != nil {
		ep, tok = f.Epoch, int64(f.Token)
	} else {
		err := tx.QueryRow(ctx, `select epoch, token from recording_fences where camera_id = $1 and node = $2 and since <= $3
			order by epoch desc, token desc limit 1`, seg.CameraID, s.node, seg.Start).Scan(&ep, &tok)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("record: fence: %w", err)
		}
	}
	var other string
	var since time.Time
	err := tx.QueryRow(ctx, `select node, since from recording_fences where camera_id = $1 and node <> $2
		and (epoch, token) > ($3::bigint, $4::bigint) and since < $5 order by since limit 1`,
		seg.CameraID, s.node, ep, tok, seg.End).Scan(&other, &since)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("record: fence: %w", err)
	}
	return fmt.Errorf("%w: %s holds %s from %s, this segment ends %s", ErrFenced, other, seg.CameraID,
		since.Format(time.RFC3339Nano), seg.End.Format(time.RFC3339Nano))
}

// diskFactor is the free-disk factor of the pool weight: 1 while at least
// low of the file system (and of the quota) is free, falling linearly to 0.
func (s *Store) diskFactor(low float64) float64 {
	if s.DiskFull() {
		return 0
	}
	free := 1.0
	var st syscall.Statfs_t
	if err := syscall.Statfs(s.dir, &st); err == nil && st.Blocks > 0 {
		free = float64(st.Bavail) / float64(st.Blocks)
	}
	if q := s.cfg.MaxBytes; q > 0 {
		free = min(free, float64(q-s.used.Load())/float64(q))
	}
	return max(0, min(1, free/low))
}

// recorderPool is the recorder's membership of the pool.
type recorderPool struct {
	cfg PoolConfig
	ls  *lease.Pool
}

// leaseOf returns the fence of camera if this node holds its lease with
// more than the margin left at now.
func (p *recorderPool) leaseOf(camera string, now time.Time) (fence, bool) {
	if p == nil {
		return fence{}, false
	}
	le, ok := p.ls.Get(camera, now.Add(p.cfg.Margin))
	return fence{Epoch: le.Epoch, Token: le.Token}, ok
}

// heldCameras lists the cameras whose leases this recorder holds now
// (none without a pool, or before Run joined it).
func (r *Recorder) heldCameras() []string {
	if p := r.lp.Load(); p != nil {
		return p.ls.Items()
	}
	return nil
}

// joinPool joins the recorders' pool (creating the bucket).
func (r *Recorder) joinPool(ctx context.Context) error {
	pc := r.cfg.Pool
	ls, err := lease.New(ctx, lease.Config{JS: pc.JS, Bucket: pc.Bucket,
		Description: "recorder camera leases and presence (stream/record)", ID: r.s.node, TTL: pc.TTL,
		Capacity: func() lease.Capacity {
			return lease.Capacity{Weight: pc.Capacity * r.s.diskFactor(pc.DiskLow)}
		},
		MaxMoves: pc.MaxMoves, Hysteresis: pc.Hysteresis, Now: r.cfg.Now, BeforeRelease: r.stopCameras})
	if err != nil {
		return fmt.Errorf("record: pool: %w", err)
	}
	r.lp.Store(&recorderPool{cfg: *pc, ls: ls})
	return nil
}

// leaseLoop renews leases and claims cameras every Renew until ctx ends.
// A camera given back or whose lease ran out (a dead recorder's) is
// claimed at once.
func (r *Recorder) leaseLoop(ctx context.Context) {
	p := r.lp.Load()
	t := time.NewTicker(p.cfg.Renew)
	defer t.Stop()
	freed, err := p.ls.Freed(ctx)
	if err != nil {
		r.log.Warn("record: not watching the leases; cameras are claimed at each renewal", "err", err)
	}
	for {
		r.renew(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-freed:
		}
	}
}

// renew runs one lease Tick over the cameras to record now, then starts
// and stops cameras at once.
func (r *Recorder) renew(ctx context.Context) {
	if r.pauseRenew.Load() {
		return
	}
	now := r.cfg.Now()
	r.mu.Lock()
	var items []string
	for _, c := range r.list {
		if c.Records(now) && validName(c.ID) {
			items = append(items, c.ID)
		}
	}
	r.mu.Unlock()
	if _, err := r.lp.Load().ls.Tick(ctx, items); err != nil && ctx.Err() == nil {
		r.log.Warn("record: lease renewal failed", "err", err)
	}
	r.evaluate()
}

// stopCameras stops recording cameras (finishing and indexing their
// segments in progress) before their leases are given back.
func (r *Recorder) stopCameras(ids []string) {
	var wait []chan struct{}
	r.mu.Lock()
	for _, id := range ids {
		if st, ok := r.cams[id]; ok {
			st.cancel()
			wait = append(wait, st.done)
		}
	}
	r.mu.Unlock()
	t := time.NewTimer(15 * time.Second)
	defer t.Stop()
	for _, d := range wait {
		select {
		case <-d:
		case <-t.C:
			r.log.Warn("record: a camera given back did not stop in time")
			return
		}
	}
}

// dropFenced removes a finished segment that was refused by the fence.
func (s *Store) dropFenced(rel string, why error) {
	abs := s.abs(rel)
	if fi, err := os.Stat(abs); err == nil {
		s.release(fi.Size())
	}
	if err := os.Remove(abs); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.log.Warn("record: could not remove a fenced segment", "path", rel, "err", err)
	}
	s.m.Fenced.Inc()
	s.log.Warn("record: segment not indexed: another recorder holds its time", "path", rel, "err", why)
}
