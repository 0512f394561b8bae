package record

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gwanje/gwanje/audit"
)

// Auditor commits audit entries; *audit.Store implements it. Append must
// return only once the entry is committed.
type Auditor interface {
	Append(ctx context.Context, e audit.Entry) (audit.Record, error)
}

// Destruction entry (type recording.destroy, ledger kind 파기) detail keys.
const (
	// EntryDestroy is the audit type of a destruction (audit.DefaultLedgerTypes maps it to 파기).
	EntryDestroy = "recording.destroy"
	// EntryRetentionCheck is the audit type of the daily check.
	EntryRetentionCheck = "recording.retention.check"
	// SweeperActor is the Actor.Username of the sweeper's entries.
	SweeperActor = "retention-sweeper"
)

// SweeperConfig configures a Sweeper. Zero values take the defaults
// documented on each field.
type SweeperConfig struct {
	// Store is the node's record store; the sweeper destroys its files.
	// Required.
	Store *Store
	// Cameras gives each camera's retention. Required.
	Cameras Cameras
	// Auditor records every destruction (recording.destroy). Required: a
	// destruction whose entry cannot be written is not done (the files
	// are kept and the sweep fails, to be retried).
	Auditor Auditor
	// Interval between sweeps. Default 5m.
	Interval time.Duration
	// DefaultRetentionDays applies to segments of cameras the Cameras
	// list does not name (deleted from the registry). Default 30.
	DefaultRetentionDays int
	// KeyGrace: a day's data key is destroyed only when the day ended at
	// least this long ago (segments of the day may still be in progress
	// or being salvaged) and no segment of the day remains. Default 2h.
	KeyGrace time.Duration
	// CheckHour is the hour (Store Location) of the daily check. Default 6.
	CheckHour int
	// Now is the clock. Default: the Store's.
	Now func() time.Time
	// Logger. Default: the Store's.
	Logger *slog.Logger
}

// Sweeper destroys footage whose retention has passed (unless a legal
// hold covers it), destroys data keys of days with no footage left, and
// checks daily that nothing is kept past its retention.
type Sweeper struct {
	cfg       SweeperConfig
	s         *Store
	log       *slog.Logger
	mu        sync.Mutex // one sweep at a time
	lastCheck string
}

// NewSweeper checks cfg.
func NewSweeper(cfg SweeperConfig) (*Sweeper, error) {
	if cfg.Store == nil || cfg.Cameras == nil || cfg.Auditor == nil {
		return nil, fmt.Errorf("%w: SweeperConfig.Store, Cameras and Auditor are required", ErrInvalid)
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 5 * time.Minute
	}
	if cfg.DefaultRetentionDays <= 0 {
		cfg.DefaultRetentionDays = 30
	}
	if cfg.KeyGrace <= 0 {
		cfg.KeyGrace = 2 * time.Hour
	}
	if cfg.CheckHour <= 0 || cfg.CheckHour > 23 {
		cfg.CheckHour = 6
	}
	if cfg.Now == nil {
		cfg.Now = cfg.Store.cfg.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = cfg.Store.log
	}
	return &Sweeper{cfg: cfg, s: cfg.Store, log: cfg.Logger}, nil
}

// Run sweeps every Interval (and once at start) and runs the daily check
// once a day after CheckHour, until ctx ends.
func (w *Sweeper) Run(ctx context.Context) error {
	t := time.NewTicker(w.cfg.Interval)
	defer t.Stop()
	for {
		if _, err := w.Sweep(ctx); err != nil && ctx.Err() == nil {
			w.log.Error("record: retention sweep failed; retrying next cycle", "err", err)
		}
		now := w.cfg.Now().In(w.s.cfg.Location)
		day := now.Format(time.DateOnly)
		if now.Hour() >= w.cfg.CheckHour && w.lastCheck != day {
			if _, err := w.DailyCheck(ctx); err != nil && ctx.Err() == nil {
				w.log.Error("record: retention check failed", "err", err)
			} else {
				w.lastCheck = day
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Close is a no-op (Run owns no goroutine); it exists for symmetry.
func (w *Sweeper) Close() {}

// CameraDestruction is what one sweep destroyed of one camera.
type CameraDestruction struct {
	CameraID      string
	RetentionDays int
	NotStored     bool
	Segments      int
	Bytes         int64
	From, To      time.Time // footage period destroyed
	Files         []string
	Keys          []string // data keys destroyed
	Held          int      // expired segments kept by a legal hold
	AuditSeq      int64
}

// SweepReport is the result of one cycle.
type SweepReport struct {
	Cycle     string
	CheckedAt time.Time
	Cameras   []CameraDestruction
	Held      int
}

type camRetention struct {
	days      int
	notStored bool
}

func (w *Sweeper) retentions(ctx context.Context) (map[string]camRetention, error) {
	cams, err := w.cfg.Cameras.RecordingCameras(ctx)
	if err != nil {
		return nil, fmt.Errorf("record: sweep: cameras: %w", err)
	}
	out := make(map[string]camRetention, len(cams))
	for _, c := range cams {
		out[c.ID] = camRetention{days: c.RetentionDays, notStored: c.NotStored}
	}
	return out, nil
}

// cutoff is the end time before which a camera's footage has expired.
func (w *Sweeper) cutoff(now time.Time, r camRetention) time.Time {
	if r.notStored || r.days <= 0 {
		return now.Add(time.Hour * 24 * 365 * 100) // everything
	}
	return now.AddDate(0, 0, -r.days)
}

// Sweep runs one cycle: for every camera, the segments of this node whose
// footage ended more than its retention ago (all of them for "not stored"
// cameras) and that no active legal hold overlaps are destroyed — the
// file removed, the index row deleted — and one recording.destroy entry
// per camera is committed first; then data keys of days that have no
// segment left are destroyed. Shortened retention applies here at once.
func (w *Sweeper) Sweep(ctx context.Context) (SweepReport, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.cfg.Now()
	rep := SweepReport{Cycle: newID("sweep-"), CheckedAt: now}
	w.s.m.SweepRuns.Inc()
	ret, err := w.retentions(ctx)
	if err != nil {
		return rep, err
	}
	rows, err := w.s.pool.Query(ctx, `select distinct camera_id from recording_segments where node = $1`, w.s.node)
	if err != nil {
		return rep, fmt.Errorf("record: sweep: %w", err)
	}
	cams, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return rep, fmt.Errorf("record: sweep: %w", err)
	}
	sort.Strings(cams)
	for _, cam := range cams {
		r, ok := ret[cam]
		if !ok {
			r = camRetention{days: w.cfg.DefaultRetentionDays}
		}
		d, err := w.sweepCamera(ctx, rep.Cycle, now, cam, r)
		if err != nil {
			return rep, err
		}
		rep.Held += d.Held
		if d.Segments > 0 {
			rep.Cameras = append(rep.Cameras, d)
		}
	}
	if err := w.sweepQuarantine(now, ret); err != nil {
		w.log.Warn("record: sweep quarantine", "err", err)
	}
	keys, err := w.destroyKeys(ctx, rep.Cycle, now)
	if err != nil {
		return rep, err
	}
	for cam, ids := range keys {
		found := false
		for i := range rep.Cameras {
			if rep.Cameras[i].CameraID == cam {
				rep.Cameras[i].Keys = ids
				found = true
			}
		}
		if !found {
			rep.Cameras = append(rep.Cameras, CameraDestruction{CameraID: cam, Keys: ids})
		}
	}
	return rep, nil
}

func (w *Sweeper) sweepCamera(ctx context.Context, cycle string, now time.Time, cam string, r camRetention) (CameraDestruction, error) {
	d := CameraDestruction{CameraID: cam, RetentionDays: r.days, NotStored: r.notStored}
	cut := w.cutoff(now, r)
	rows, err := w.s.pool.Query(ctx, `select `+segCols+`,
		exists (select 1 from recording_holds h where $2 = any(h.cameras) and h.released_at is null
		        and (h.until_at is null or h.until_at > $4) and h.from_at < s.end_at and h.to_at > s.start_at)
		from recording_segments s where node = $1 and camera_id = $2 and end_at <= $3 order by start_at, id`,
		w.s.node, cam, cut, now)
	if err != nil {
		return d, fmt.Errorf("record: sweep: %w", err)
	}
	type cand struct {
		Segment
		held bool
	}
	cands, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (cand, error) {
		var c cand
		err := row.Scan(&c.ID, &c.CameraID, &c.Node, &c.Start, &c.End, &c.Path, &c.Size, &c.SHA256, &c.KeyID,
			&c.Codec, &c.Frames, &c.Status, &c.Chain, &c.held)
		return c, err
	})
	if err != nil {
		return d, fmt.Errorf("record: sweep: %w", err)
	}
	var del []Segment
	for _, c := range cands {
		if c.held {
			d.Held++
			continue
		}
		del = append(del, c.Segment)
	}
	if len(del) == 0 {
		return d, nil
	}
	d.From, d.To = del[0].Start, del[0].End
	for _, sg := range del {
		d.Segments++
		d.Bytes += sg.Size
		d.Files = append(d.Files, path.Base(sg.Path))
		if sg.Start.Before(d.From) {
			d.From = sg.Start
		}
		if sg.End.After(d.To) {
			d.To = sg.End
		}
	}
	// The destruction entry is committed before anything is destroyed
	// (fail closed: no entry, no destruction; a crash after it leaves
	// the segments for the next cycle, which writes its own entry).
	reason := fmt.Sprintf("보관기간(%d일) 경과", r.days)
	if r.notStored {
		reason = "미보유 카메라: 저장하지 않음"
	}
	loc := w.s.cfg.Location
	period := fmt.Sprintf("보관기간 %d일; 자동 파기 (주기 %s, 확인 %s); 결과: %d개 파일 %d바이트 영구 삭제",
		r.days, cycle, now.In(loc).Format("2006-01-02 15:04:05"), d.Segments, d.Bytes)
	from, to := d.From, d.To
	rec, err := w.cfg.Auditor.Append(ctx, audit.Entry{
		Time: now, Type: EntryDestroy, Outcome: audit.Success,
		Actor:   audit.Actor{Username: SweeperActor},
		Cameras: []string{cam}, FootageFrom: &from, FootageTo: &to, Reason: reason,
		Details: map[string]any{
			"camera":         cam,
			"period":         period,
			"file":           fmt.Sprintf("%s 영상 %s ~ %s (%d개 파일, 암호화 fMP4)", cam, from.In(loc).Format("2006-01-02 15:04:05"), to.In(loc).Format("2006-01-02 15:04:05"), d.Segments),
			"files":          d.Files,
			"cycle":          cycle,
			"checked_at":     now.UTC().Format(time.RFC3339Nano),
			"node":           w.s.node,
			"bytes":          d.Bytes,
			"retention_days": r.days,
			"method":         "file deletion; day keys destroyed when no footage of the day remains (crypto-shredding)",
		},
	})
	if err != nil {
		return d, fmt.Errorf("record: sweep: destruction entry not written, nothing destroyed: %w", err)
	}
	d.AuditSeq = rec.Seq
	for _, sg := range del {
		err := os.Remove(w.s.abs(sg.Path))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return d, fmt.Errorf("record: sweep: remove %s: %w", sg.Path, err)
		}
		if err == nil {
			w.s.releaseDeleted(sg.Size)
		}
		if _, err := w.s.pool.Exec(ctx, `delete from recording_segments where id = $1`, sg.ID); err != nil {
			return d, fmt.Errorf("record: sweep: %w", err)
		}
		w.s.m.SweepDeleted.Inc()
		w.s.m.SweepBytes.Add(float64(sg.Size))
	}
	// Remove empty day directories.
	dirs := map[string]bool{}
	for _, sg := range del {
		dirs[filepath.Dir(w.s.abs(sg.Path))] = true
	}
	for dir := range dirs {
		_ = os.Remove(dir) // only succeeds when empty
	}
	w.log.Info("record: footage destroyed", "camera", cam, "segments", d.Segments, "bytes", d.Bytes,
		"from", d.From, "to", d.To, "cycle", cycle, "audit_seq", rec.Seq)
	return d, nil
}

// destroyKeys destroys (overwrites with NULL) the wrapped data keys of
// camera-days that ended KeyGrace ago and have no segment left (on any
// node): copies of their files can no longer be decrypted. A VACUUM then
// clears the old row versions.
func (w *Sweeper) destroyKeys(ctx context.Context, cycle string, now time.Time) (map[string][]string, error) {
	// Days (in Location) that ended before now - KeyGrace.
	lastDay := now.Add(-w.cfg.KeyGrace).In(w.s.cfg.Location).AddDate(0, 0, -1).Format(time.DateOnly)
	rows, err := w.s.pool.Query(ctx, `select id, camera_id, day from recording_keys k
		where wrapped is not null and day <= $1::date
		  and not exists (select 1 from recording_segments s where s.key_id = k.id)
		order by camera_id, day`, lastDay)
	if err != nil {
		return nil, fmt.Errorf("record: destroy keys: %w", err)
	}
	type kc struct {
		id, cam string
		day     time.Time
	}
	ks, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (kc, error) {
		var k kc
		return k, r.Scan(&k.id, &k.cam, &k.day)
	})
	if err != nil {
		return nil, fmt.Errorf("record: destroy keys: %w", err)
	}
	byCam := map[string][]kc{}
	var order []string
	for _, k := range ks {
		if _, ok := byCam[k.cam]; !ok {
			order = append(order, k.cam)
		}
		byCam[k.cam] = append(byCam[k.cam], k)
	}
	out := map[string][]string{}
	for _, cam := range order {
		var ids, days []string
		for _, k := range byCam[cam] {
			ids = append(ids, k.id)
			days = append(days, k.day.Format(time.DateOnly))
		}
		// Entry first (fail closed), then the destruction.
		if _, err := w.cfg.Auditor.Append(ctx, audit.Entry{
			Time: now, Type: EntryDestroy, Outcome: audit.Success, Actor: audit.Actor{Username: SweeperActor},
			Cameras: []string{cam}, Reason: "보관기간 경과 영상의 암호 키 파기 (해당일 영상 모두 파기됨)",
			Details: map[string]any{
				"camera": cam, "keys": ids, "days": days, "cycle": cycle,
				"checked_at": now.UTC().Format(time.RFC3339Nano), "node": w.s.node,
				"file":   fmt.Sprintf("%s 촬영일 %s 영상 암호 키", cam, strings.Join(days, ", ")),
				"period": fmt.Sprintf("자동 파기 (주기 %s); 결과: 키 %d개 파기, 사본 복호화 불가", cycle, len(ids)),
				"method": "crypto-shredding: the wrapped data key is overwritten and vacuumed",
			},
		}); err != nil {
			return out, fmt.Errorf("record: destroy keys: entry not written, nothing destroyed: %w", err)
		}
		tag, err := w.s.pool.Exec(ctx, `update recording_keys k set wrapped = null, destroyed_at = $2, destroyed_cycle = $3
			where id = any($1) and wrapped is not null
			  and not exists (select 1 from recording_segments s where s.key_id = k.id)`, ids, now, cycle)
		if err != nil {
			return out, fmt.Errorf("record: destroy keys: %w", err)
		}
		for _, id := range ids {
			w.s.keys.forget(id)
		}
		out[cam] = ids
		w.s.m.KeysDestroyed.Add(float64(tag.RowsAffected()))
	}
	if len(ks) > 0 {
		if _, err := w.s.pool.Exec(ctx, `vacuum recording_keys`); err != nil {
			w.log.Warn("record: vacuum after key destruction", "err", err)
		}
		w.log.Info("record: data keys destroyed", "keys", len(ks), "cycle", cycle)
	}
	return out, nil
}

// sweepQuarantine deletes unindexed quarantined files of expired days
// (their day directory tells the day).
func (w *Sweeper) sweepQuarantine(now time.Time, ret map[string]camRetention) error {
	root := filepath.Join(w.s.dir, quarantineDir)
	cams, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, c := range cams {
		r, ok := ret[c.Name()]
		if !ok {
			r = camRetention{days: w.cfg.DefaultRetentionDays}
		}
		days, err := os.ReadDir(filepath.Join(root, c.Name()))
		if err != nil {
			continue
		}
		for _, d := range days {
			day, err := time.ParseInLocation(time.DateOnly, d.Name(), w.s.cfg.Location)
			if err != nil || !day.AddDate(0, 0, 1).Before(w.cutoff(now, r)) {
				continue
			}
			dir := filepath.Join(root, c.Name(), d.Name())
			files, _ := os.ReadDir(dir)
			for _, f := range files {
				rel := quarantineDir + "/" + c.Name() + "/" + d.Name() + "/" + f.Name()
				var n int
				_ = w.s.pool.QueryRow(context.Background(), `select count(*) from recording_segments where node = $1 and path = $2`,
					w.s.node, rel).Scan(&n)
				if n > 0 {
					continue // indexed: the ordinary sweep destroys it
				}
				if fi, err := f.Info(); err == nil {
					if os.Remove(filepath.Join(dir, f.Name())) == nil {
						w.s.releaseDeleted(fi.Size())
					}
				}
			}
			_ = os.Remove(dir)
		}
	}
	return nil
}

// OverRetained is footage found by the daily check older than its
// retention (and not held).
type OverRetained struct {
	CameraID string
	Segments int
	Oldest   time.Time
}

// DailyCheck reports the segments of this node older than their camera's
// retention that still exist and no hold covers — it must find none. It
// writes a recording.retention.check entry with the result, and raises
// AlarmOverRetained when something is found.
func (w *Sweeper) DailyCheck(ctx context.Context) ([]OverRetained, error) {
	now := w.cfg.Now()
	ret, err := w.retentions(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := w.s.pool.Query(ctx, `select camera_id, end_at, start_at,
		exists (select 1 from recording_holds h where s.camera_id = any(h.cameras) and h.released_at is null
		        and (h.until_at is null or h.until_at > $2) and h.from_at < s.end_at and h.to_at > s.start_at)
		from recording_segments s where node = $1`, w.s.node, now)
	if err != nil {
		return nil, fmt.Errorf("record: check retention: %w", err)
	}
	over := map[string]*OverRetained{}
	var total int
	var cam string
	var end, start time.Time
	var held bool
	_, err = pgx.ForEachRow(rows, []any{&cam, &end, &start, &held}, func() error {
		r, ok := ret[cam]
		if !ok {
			r = camRetention{days: w.cfg.DefaultRetentionDays}
		}
		// A sweep interval of slack: footage expiring since the last
		// sweep is not late yet.
		if held || !end.Before(w.cutoff(now, r).Add(-w.cfg.Interval)) {
			return nil
		}
		o := over[cam]
		if o == nil {
			o = &OverRetained{CameraID: cam, Oldest: start}
			over[cam] = o
		}
		o.Segments++
		total++
		if start.Before(o.Oldest) {
			o.Oldest = start
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("record: check retention: %w", err)
	}
	var out []OverRetained
	for _, o := range over {
		out = append(out, *o)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CameraID < out[j].CameraID })
	w.s.m.OverRetained.Set(float64(total))
	outcome := audit.Success
	var camsOver []string
	for _, o := range out {
		camsOver = append(camsOver, o.CameraID)
	}
	if total > 0 {
		outcome = audit.Failed
		w.s.raise(Alarm{Kind: AlarmOverRetained, Detail: fmt.Sprintf("%d segments of %s kept past retention",
			total, strings.Join(camsOver, ", "))})
	}
	if _, err := w.cfg.Auditor.Append(ctx, audit.Entry{Time: now, Type: EntryRetentionCheck, Outcome: outcome,
		Actor: audit.Actor{Username: SweeperActor}, Cameras: camsOver,
		Details: map[string]any{"node": w.s.node, "checked_at": now.UTC().Format(time.RFC3339Nano),
			"over_retained_segments": total}}); err != nil {
		return out, fmt.Errorf("record: check retention: audit: %w", err)
	}
	return out, nil
}
