package export_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gwanje/gwanje/internal/pgtest"
	"github.com/gwanje/gwanje/privacy/export"
	"github.com/gwanje/gwanje/privacy/manifest"
	"github.com/gwanje/gwanje/stream/record"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// clip is camsim's real H.264 (1 s GOP) split into access units.
type clip struct {
	sps, pps []byte
	aus      [][][]byte
	key      []bool
}

func loadClip(t testing.TB) *clip {
	return loadClipFile(t, filepath.Join("..", "..", "camsim", "testdata", "main_gop1s.h264"))
}

// loadClipFile splits a raw Annex-B H.264 file (no B-frames) into access
// units.
func loadClipFile(t testing.TB, path string) *clip {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c := &clip{}
	var cur [][]byte
	curKey := false
	flush := func() {
		if len(cur) > 0 {
			c.aus = append(c.aus, cur)
			c.key = append(c.key, curKey)
		}
		cur, curKey = nil, false
	}
	for _, n := range splitAnnexB(b) {
		switch typ := n[0] & 0x1f; typ {
		case 7:
			c.sps = n
		case 8:
			c.pps = n
		case 1, 5:
			if len(n) > 1 && n[1]&0x80 != 0 {
				flush()
				curKey = typ == 5
			}
			cur = append(cur, n)
		}
	}
	flush()
	return c
}

func splitAnnexB(b []byte) [][]byte {
	var out [][]byte
	start := -1
	for i := 0; i+2 < len(b); {
		if b[i] == 0 && b[i+1] == 0 && b[i+2] == 1 {
			if start >= 0 {
				end := i
				for end > start && b[end-1] == 0 {
					end--
				}
				out = append(out, b[start:end])
			}
			i += 3
			start = i
			continue
		}
		i++
	}
	if start >= 0 && start < len(b) {
		out = append(out, bytes.TrimRight(b[start:], "\x00"))
	}
	return out
}

// synth replays the clip unpaced, each unit padded with a filler NAL unit
// to size bytes, frames units in all: the recorder's write path at any
// bitrate without RTSP.
type synth struct {
	c            *clip
	fps, size, n int
}

func (s *synth) Subscribe(context.Context, string, string) (record.Subscription, error) {
	return &synthSub{s: s, done: make(chan struct{})}, nil
}

type synthSub struct {
	s    *synth
	i    int
	done chan struct{}
	once sync.Once
}

func (u *synthSub) Next(ctx context.Context) (record.Unit, error) {
	if u.i >= u.s.n {
		select {
		case <-ctx.Done():
			return record.Unit{}, ctx.Err()
		case <-u.done:
			return record.Unit{}, context.Canceled
		}
	}
	c := u.s.c
	k := u.i % len(c.aus)
	au := c.aus[k]
	if c.key[k] {
		au = append([][]byte{c.sps, c.pps}, au...)
	}
	n := 0
	for _, x := range au {
		n += len(x)
	}
	if u.s.size > n+1 {
		filler := bytes.Repeat([]byte{0xff}, u.s.size-n)
		filler[0] = 12
		au = append(au[:len(au):len(au)], filler)
	}
	un := record.Unit{PTS: time.Duration(u.i) * time.Second / time.Duration(u.s.fps), AU: au, Key: c.key[k]}
	u.i++
	return un, nil
}

func (u *synthSub) Track() record.Track {
	return record.Track{Codec: record.CodecH264, SPS: u.s.c.sps, PPS: u.s.c.pps}
}
func (u *synthSub) Close() error { u.once.Do(func() { close(u.done) }); return nil }

// recordSynthetic writes d of footage at bitrate bits/s for camera cam
// through the recorder, starting at t0, and returns the segments.
func recordSynthetic(t testing.TB, st *record.Store, cam string, t0 time.Time, d time.Duration, bitrate int) []record.Segment {
	return recordClip(t, st, loadClip(t), cam, t0, d, bitrate)
}

// recordClip is recordSynthetic with clip c (replayed at 25 fps).
func recordClip(t testing.TB, st *record.Store, c *clip, cam string, t0 time.Time, d time.Duration, bitrate int) []record.Segment {
	const fps = 25
	frames := int(d.Seconds())*fps + fps // one more second: the last segment is cut at its keyframe
	src := &synth{c: c, fps: fps, size: bitrate / 8 / fps, n: frames}
	rec, err := record.New(record.Config{Store: st, SkipCheck: true, Source: src, Now: func() time.Time { return t0 },
		Cameras: record.CamerasFunc(func(context.Context) ([]record.Camera, error) {
			return []record.Camera{{ID: cam, RetentionDays: 30}}, nil
		})})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- rec.Run(context.Background()) }()
	want := int(d / time.Minute)
	for {
		l, err := st.ListRecordings(context.Background(), cam, t0, t0.Add(d+time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if len(l.Segments) >= want {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	rec.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	l, err := st.ListRecordings(context.Background(), cam, t0, t0.Add(d+time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return l.Segments
}

func newStore(t testing.TB) *record.Store {
	st, err := record.NewStore(record.StoreConfig{Pool: pgtest.Pool(t), Dir: t.TempDir(), Node: "node-a", MinFreeBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestExportSyntheticRangeAndTampering(t *testing.T) {
	st := newStore(t)
	t0 := time.Date(2026, 5, 18, 9, 0, 0, 0, record.KST)
	segs := recordSynthetic(t, st, "cam-s", t0, 3*time.Minute, 1_000_000)
	x, err := export.New(export.Config{Store: st, DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// The file starts at the first keyframe at or after From.
	from, to := t0.Add(30*time.Second+100*time.Millisecond), t0.Add(90*time.Second)
	res, err := x.Export(ctx, export.Job{CameraID: "cam-s", From: from, To: to})
	if err != nil {
		t.Fatal(err)
	}
	m := res.Manifest
	if m.FirstFrame.Before(from) || !m.FirstFrame.Before(from.Add(time.Second)) || !m.LastFrame.Before(to) ||
		m.LastFrame.Before(to.Add(-100*time.Millisecond)) || m.Frames != int(m.LastFrame.Sub(m.FirstFrame)/(40*time.Millisecond))+1 {
		t.Fatalf("range: first %v last %v frames %d", res.Manifest.FirstFrame, res.Manifest.LastFrame, res.Manifest.Frames)
	}
	if _, err := manifest.VerifyFiles(res.Path, res.ManifestPath, filepath.Join(filepath.Dir(x.Dir()), "export-signing.pem.pub")); err != nil {
		t.Fatal(err)
	}
	// No footage: not found. Masks without a masker: refused.
	if _, err := x.Export(ctx, export.Job{CameraID: "cam-s", From: t0.Add(-2 * time.Hour), To: t0.Add(-time.Hour)}); !errorsIs(err, export.ErrNotFound) {
		t.Fatalf("empty range: %v", err)
	}
	if _, err := x.Export(ctx, export.Job{CameraID: "cam-s", From: from, To: to,
		Masks: []manifest.Mask{{X: 0, Y: 0, W: 0.5, H: 0.5, From: from, To: to}}}); !errorsIs(err, export.ErrMaskingUnavailable) {
		t.Fatalf("masks: %v", err)
	}
	// A tampered source segment fails the export.
	p := filepath.Join(st.Dir(), segs[1].Path)
	b, _ := os.ReadFile(p)
	b[len(b)/2] ^= 1
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := x.Export(ctx, export.Job{CameraID: "cam-s", From: from, To: to}); !errorsIs(err, export.ErrTampered) {
		t.Fatalf("tampered source: %v", err)
	}
}

// BenchmarkExportHour exports one hour of 4 Mbps footage (synthesized
// through the record store's write path: 60 encrypted one-minute
// segments) to a signed MP4. Reported: time, MB/s, CPU seconds per export
// and the process's peak RSS.
func BenchmarkExportHour(b *testing.B) {
	st := newStore(b)
	t0 := time.Date(2026, 5, 18, 9, 0, 0, 0, record.KST)
	segs := recordSynthetic(b, st, "cam-b", t0, time.Hour, 4_000_000)
	var total int64
	for _, s := range segs {
		total += s.Size
	}
	b.Logf("recorded %d segments, %d bytes", len(segs), total)
	x, err := export.New(export.Config{Store: st, DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	var ru0, ru1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	b.SetBytes(total)
	b.ResetTimer()
	var size int64
	n := 0
	for b.Loop() {
		res, err := x.Export(context.Background(), export.Job{CameraID: "cam-b", From: t0, To: t0.Add(time.Hour)})
		if err != nil {
			b.Fatal(err)
		}
		size = res.Size
		b.StopTimer()
		_ = x.Remove(res.ID)
		b.StartTimer()
		n++
	}
	b.StopTimer()
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	runtime.ReadMemStats(&ms1)
	cpu := time.Duration(ru1.Utime.Nano()-ru0.Utime.Nano()) + time.Duration(ru1.Stime.Nano()-ru0.Stime.Nano())
	b.ReportMetric(cpu.Seconds()/float64(n), "cpu-s/op")
	b.ReportMetric(float64(ms1.TotalAlloc-ms0.TotalAlloc)/float64(n)/(1<<20), "alloc-MiB/op")
	b.ReportMetric(float64(ru1.Maxrss)/1024, "peak-RSS-MiB")
	b.ReportMetric(float64(size)/(1<<20), "file-MiB")
}

// BenchmarkExportMasked exports 5 minutes of 4 Mbps footage with a mask
// (over a quarter of the frame for half the range) through FFmpegMasker:
// decode, drawbox and libx264 re-encode (preset veryfast, CRF 20). Two
// pictures: camsim's 640x360 clip (padded to 4 Mbps with filler NAL units,
// as BenchmarkExportHour), and a 1920x1080 testsrc2 clip made with ffmpeg
// at 4 Mbps, closer to what a 4 Mbps camera sends. Reported per export:
// time, CPU seconds of this process and of the ffmpeg child (rusage of
// children), this process's allocations and peak RSS, ffmpeg's peak RSS,
// and the figures for one hour extrapolated linearly from the 5 minutes
// (hour-extrap-*: an extrapolation, not a measurement; re-encoding is
// linear in the frames).
func BenchmarkExportMasked(b *testing.B) {
	masker := needFFmpeg(b)
	big := filepath.Join(b.TempDir(), "testsrc2_1080p25.h264")
	gen := exec.Command(masker.Path, "-v", "error", "-nostdin", "-y", "-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=25:duration=4",
		"-c:v", "libx264", "-profile:v", "main", "-preset", "veryfast", "-b:v", "4M", "-g", "25", "-keyint_min", "25",
		"-sc_threshold", "0", "-bf", "0", "-pix_fmt", "yuv420p", "-f", "h264", big)
	if out, err := gen.CombinedOutput(); err != nil {
		b.Fatalf("making the 1080p clip: %v %s", err, out)
	}
	const rng = 5 * time.Minute
	for _, tc := range []struct {
		name string
		clip func(testing.TB) *clip
	}{
		{"camsim-640x360", loadClip},
		{"testsrc2-1920x1080", func(t testing.TB) *clip { return loadClipFile(t, big) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			st := newStore(b)
			t0 := time.Date(2026, 5, 18, 9, 0, 0, 0, record.KST)
			segs := recordClip(b, st, tc.clip(b), "cam-b", t0, rng, 4_000_000)
			var total int64
			for _, s := range segs {
				total += s.Size
			}
			b.Logf("recorded %d segments, %d bytes", len(segs), total)
			m := *masker
			var childRSS int64
			m.OnExit = func(ps *os.ProcessState) {
				if ru, ok := ps.SysUsage().(*syscall.Rusage); ok && ru.Maxrss > childRSS {
					childRSS = ru.Maxrss
				}
			}
			x, err := export.New(export.Config{Store: st, DataDir: b.TempDir(), Masker: &m})
			if err != nil {
				b.Fatal(err)
			}
			mask := manifest.Mask{X: 0.25, Y: 0.25, W: 0.5, H: 0.5, From: t0.Add(rng / 4), To: t0.Add(3 * rng / 4)}
			runtime.GC()
			var ru0, ru1, ch0, ch1 syscall.Rusage
			_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
			_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ch0)
			var ms0, ms1 runtime.MemStats
			runtime.ReadMemStats(&ms0)
			b.SetBytes(total)
			b.ResetTimer()
			start := time.Now()
			var size int64
			n := 0
			for b.Loop() {
				res, err := x.Export(context.Background(), export.Job{CameraID: "cam-b", From: t0, To: t0.Add(rng),
					Masks: []manifest.Mask{mask}})
				if err != nil {
					b.Fatal(err)
				}
				size = res.Size
				b.StopTimer()
				_ = x.Remove(res.ID)
				b.StartTimer()
				n++
			}
			b.StopTimer()
			wall := time.Since(start) // includes the Removes: negligible
			_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
			_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ch1)
			runtime.ReadMemStats(&ms1)
			cpu := func(a, z syscall.Rusage) float64 {
				return (time.Duration(z.Utime.Nano()-a.Utime.Nano()) + time.Duration(z.Stime.Nano()-a.Stime.Nano())).Seconds() / float64(n)
			}
			self, child := cpu(ru0, ru1), cpu(ch0, ch1)
			scale := float64(time.Hour) / float64(rng)
			b.ReportMetric(self, "cpu-s/op")
			b.ReportMetric(child, "ffmpeg-cpu-s/op")
			b.ReportMetric(float64(ms1.TotalAlloc-ms0.TotalAlloc)/float64(n)/(1<<20), "alloc-MiB/op")
			b.ReportMetric(float64(ru1.Maxrss)/1024, "peak-RSS-MiB")
			b.ReportMetric(float64(childRSS)/1024, "ffmpeg-peak-RSS-MiB")
			b.ReportMetric(float64(size)/(1<<20), "file-MiB")
			b.ReportMetric(wall.Seconds()/float64(n)*scale, "hour-extrap-s")
			b.ReportMetric((self+child)*scale, "hour-extrap-cpu-s")
		})
	}
}
