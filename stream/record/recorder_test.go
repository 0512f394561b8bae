package record

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// filesOnDisk lists segment files (relative paths) under the store, and
// whether any .partial remains.
func filesOnDisk(t testing.TB, s *Store) (finals []string, partials int) {
	t.Helper()
	_ = filepath.WalkDir(s.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(s.dir, p)
		switch {
		case strings.HasSuffix(p, ".gseg"):
			finals = append(finals, filepath.ToSlash(rel))
		case strings.Contains(p, ".partial") && !strings.HasPrefix(filepath.ToSlash(rel), quarantineDir+"/"):
			partials++
		}
		return nil
	})
	return finals, partials
}

// checkAgree asserts that index rows and files agree and every segment
// verifies.
func checkAgree(t *testing.T, s *Store) []Segment {
	t.Helper()
	var segs []Segment
	for _, sg := range allSegments(t, s) {
		if sg.Node == s.node { // a pool: other nodes' segments are theirs
			segs = append(segs, sg)
		}
	}
	finals, partials := filesOnDisk(t, s)
	if partials != 0 {
		t.Errorf("%d .partial files remain", partials)
	}
	onDisk := map[string]bool{}
	for _, f := range finals {
		if !strings.HasPrefix(f, quarantineDir) {
			onDisk[f] = true
		}
	}
	for _, sg := range segs {
		if sg.Status != StatusOK {
			continue
		}
		if !onDisk[sg.Path] {
			t.Errorf("segment %d (%s) has no file", sg.ID, sg.Path)
		}
		delete(onDisk, sg.Path)
		if err := s.Verify(context.Background(), sg); err != nil {
			t.Errorf("segment %s: %v", sg.Path, err)
		}
	}
	for f := range onDisk {
		t.Errorf("file %s has no index row", f)
	}
	return segs
}

func TestRecordCamsim(t *testing.T) {
	cam := startCamsim(t, "cam-rec")
	s := newTestStore(t, StoreConfig{})
	r := runRecorder(t, Config{Store: s, Cameras: fixedCameras(Camera{ID: "cam-rec", RetentionDays: 30}),
		Source: &RTSPSource{Upstreams: camsimUpstreams{"cam-rec": cam}}, SegmentDuration: 2 * time.Second})
	poll(t, 30*time.Second, "three segments", func() bool { return countSegments(t, s, "cam-rec") >= 3 })
	r.Close()
	segs := checkAgree(t, s)
	ctx := context.Background()
	var prev Segment
	for i, sg := range segs {
		if sg.Codec != CodecH264 || (i < len(segs)-1 && (sg.Frames < 10 || sg.Duration() < 2*time.Second-150*time.Millisecond)) {
			t.Errorf("segment %d: %+v", i, sg)
		}
		if i > 0 && !sg.Start.Equal(prev.End) {
			t.Errorf("segment %d starts at %v, the previous ended at %v", i, sg.Start, prev.End)
		}
		prev = sg
	}
	l, err := s.ListRecordings(ctx, "cam-rec", segs[0].Start, segs[len(segs)-1].End)
	if err != nil || len(l.Gaps) != 0 || len(l.Segments) < 3 {
		t.Fatalf("listing: %v, %d segments, gaps %v", err, len(l.Segments), l.Gaps)
	}
	// A gap before the recording and after it.
	l, _ = s.ListRecordings(ctx, "cam-rec", segs[0].Start.Add(-time.Minute), segs[len(segs)-1].End.Add(time.Minute))
	if len(l.Gaps) != 2 || !l.Gaps[0].To.Equal(segs[0].Start) {
		t.Fatalf("gaps %v", l.Gaps)
	}
	// Signed manifests of every hour verify.
	if _, err := s.SignManifests(ctx, time.Now(), true); err != nil {
		t.Fatal(err)
	}
	rep, err := s.VerifyManifest(ctx, "cam-rec", segs[0].Start)
	if err != nil || !rep.OK() || rep.Present == 0 {
		t.Fatalf("manifest: %v %+v", err, rep)
	}
	// An edited index row breaks custody.
	if _, err := s.pool.Exec(ctx, `update recording_segments set size = size + 1 where id = $1`, segs[0].ID); err != nil {
		t.Fatal(err)
	}
	rep, _ = s.VerifyManifest(ctx, "cam-rec", segs[0].Start)
	if rep.OK() || len(rep.Mismatch) != 1 {
		t.Fatalf("edited row not found: %+v", rep)
	}
}

type windowSchedule struct{ from, to time.Time }

func (w windowSchedule) Scheduled(t time.Time) bool { return !t.Before(w.from) && t.Before(w.to) }

func TestScheduleWindowStartsAndStopsOnTime(t *testing.T) {
	day := time.Date(2026, 5, 4, 0, 0, 0, 0, KST)
	open, shut := day.Add(7*time.Hour), day.Add(9*time.Hour)
	clock := newClock(open.Add(-time.Second))
	s := newTestStore(t, StoreConfig{Now: clock.Now})
	src := &synthSource{c: loadClip(t), fps: 25, paced: true}
	cams := &mutableCameras{}
	cams.set(Camera{ID: "cam-bus", RetentionDays: 30, Schedule: windowSchedule{open, shut}},
		Camera{ID: "cam-nostore", NotStored: true, RetentionDays: 0})
	r := runRecorder(t, Config{Store: s, Cameras: cams, Source: src, SegmentDuration: time.Second,
		EvaluateInterval: time.Hour, RefreshInterval: time.Hour})
	ctx := context.Background()
	if err := r.Evaluate(ctx); err != nil {
		t.Fatal(err)
	}
	if st := r.Status(); len(st) != 0 {
		t.Fatalf("recording before the window: %+v", st)
	}
	clock.Set(open)
	if err := r.Evaluate(ctx); err != nil {
		t.Fatal(err)
	}
	poll(t, 20*time.Second, "two segments in the window", func() bool { return countSegments(t, s, "cam-bus") >= 2 })
	clock.Set(shut)
	// The window's end is seen frame by frame, without an evaluation.
	poll(t, 20*time.Second, "recording to stop", func() bool {
		st := r.Status()
		return len(st) == 1 && !st[0].Recording
	})
	// The camera is let go once its last segment is closed and indexed;
	// count from there (Recording turns false a moment before the index row
	// of the segment in progress lands).
	poll(t, 10*time.Second, "the camera to be let go", func() bool {
		return r.Evaluate(ctx) == nil && len(r.Status()) == 0
	})
	n := countSegments(t, s, "cam-bus")
	if err := r.Evaluate(ctx); err != nil {
		t.Fatal(err)
	}
	if m := countSegments(t, s, "cam-bus"); m != n {
		t.Fatalf("segments after the window: %d, then %d", n, m)
	}
	segs := checkAgree(t, s)
	for _, sg := range segs {
		if sg.CameraID != "cam-bus" {
			t.Fatalf("not-stored camera written: %+v", sg)
		}
		if sg.Start.Before(open) || !sg.Start.Before(shut) {
			t.Fatalf("segment outside the window: %v", sg.Start)
		}
	}
	if !segs[0].Start.Equal(open) {
		t.Fatalf("first segment starts at %v, want %v", segs[0].Start, open)
	}
	src.mu.Lock()
	subs := src.subs
	src.mu.Unlock()
	if subs != 1 {
		t.Fatalf("%d subscriptions, want 1 (the not-stored camera is never pulled)", subs)
	}
}

func TestDiskFullStopsAndKeepsWhatIsWritten(t *testing.T) {
	al := &alarms{}
	s := newTestStore(t, StoreConfig{MaxBytes: 600 << 10, Alarm: al.add, ChunkSize: 16 << 10})
	src := &synthSource{c: loadClip(t), fps: 25, size: 10 << 10}
	r := runRecorder(t, Config{Store: s, Cameras: fixedCameras(Camera{ID: "cam-full", RetentionDays: 30}),
		Source: src, SegmentDuration: time.Second, EvaluateInterval: 50 * time.Millisecond})
	poll(t, 20*time.Second, "disk full", s.DiskFull)
	poll(t, 10*time.Second, "recording to stop", func() bool {
		for _, st := range r.Status() {
			if st.Recording {
				return false
			}
		}
		return true
	})
	if al.count(AlarmDiskFull) != 1 {
		t.Fatalf("disk-full alarms: %d", al.count(AlarmDiskFull))
	}
	if s.UsedBytes() > 600<<10 {
		t.Fatalf("used %d bytes, quota %d", s.UsedBytes(), 600<<10)
	}
	segs := checkAgree(t, s)
	if len(segs) == 0 {
		t.Fatal("nothing was recorded before the disk filled")
	}
	// Space comes back (retention of a not-stored camera empties it).
	sw, err := NewSweeper(SweeperConfig{Store: s, Auditor: &memAuditor{},
		Cameras: fixedCameras(Camera{ID: "cam-full", NotStored: true})})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sw.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Recording resumes (and, the camera being always on, fills it again).
	poll(t, 10*time.Second, "disk ok", func() bool { return al.count(AlarmDiskOK) >= 1 })
}

func TestTamperedSegmentIsDetected(t *testing.T) {
	al := &alarms{}
	s := newTestStore(t, StoreConfig{Alarm: al.add, ChunkSize: 8 << 10})
	writeSegments(t, s, "cam-t", time.Now().Add(-time.Hour), 4, 50)
	segs := allSegments(t, s)
	ctx := context.Background()
	for i, mutate := range []func(p string) error{
		func(p string) error { // one bit in the middle
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			b[len(b)/2] ^= 0x10
			return os.WriteFile(p, b, 0o600)
		},
		func(p string) error { // cut
			fi, err := os.Stat(p)
			if err != nil {
				return err
			}
			return os.Truncate(p, fi.Size()-100)
		},
		func(p string) error { // replaced by another valid segment of the same camera and key
			b, err := os.ReadFile(s.abs(segs[3].Path))
			if err != nil {
				return err
			}
			return os.WriteFile(p, b, 0o600)
		},
	} {
		if err := mutate(s.abs(segs[i].Path)); err != nil {
			t.Fatal(err)
		}
		if err := s.Verify(ctx, segs[i]); !errors.Is(err, ErrTampered) {
			t.Fatalf("tamper %d: err %v", i, err)
		}
	}
	if err := s.Verify(ctx, segs[3]); err != nil {
		t.Fatalf("untouched segment: %v", err)
	}
	if al.count(AlarmTampered) != 3 {
		t.Fatalf("alarms %d", al.count(AlarmTampered))
	}
}

// writeSegments writes n segments of frames frames (25 fps) each,
// back to back from start, straight through the segment writer.
func writeSegments(t testing.TB, s *Store, cam string, start time.Time, n, frames int) []Segment {
	t.Helper()
	c := loadClip(t)
	ctx := context.Background()
	var out []Segment
	i := 0
	at := start
	for range n {
		sf, err := s.openSegment(ctx, cam, at, c.track(), segmentOptions{Part: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		for f := range frames {
			// Start every segment at a keyframe of the clip.
			if f == 0 {
				for !c.key[i%len(c.aus)] {
					i++
				}
			}
			u := c.unit(i, 25, 0)
			ts := int64(u.PTS) * Timescale / int64(time.Second)
			if err := sf.add(&sample{dts: ts, pts: ts, key: u.Key, au: u.AU}); err != nil {
				t.Fatal(err)
			}
			i++
		}
		seg, err := sf.finish(ctx, int64(time.Duration(i)*time.Second/25)*Timescale/int64(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, seg)
		at = seg.End
	}
	return out
}
