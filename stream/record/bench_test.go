package record

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/gwanje/gwanje/camsim"
)

// Recorder capacity on this machine (DESIGN.md: benchmarks go into the
// issue's note). Run:
//
//	go test -run '^$' -bench Recorder -benchtime 1x ./stream/record/
//
// GWANJE_BENCH_SECONDS (default 15) sets how long each load runs and
// GWANJE_BENCH_CAMERAS (default "100,200,300,400") the camera counts of
// the paced 4 Mbps runs. Each load runs in three crash-safety modes
// (sealModes): the default timed seals with fdatasync, timed seals
// without it, and full chunks only; the difference is the cost of the
// fsync policy (FORMAT.md).

func benchSeconds() time.Duration {
	if v, err := strconv.Atoi(os.Getenv("GWANJE_BENCH_SECONDS")); err == nil && v > 0 {
		return time.Duration(v) * time.Second
	}
	return 15 * time.Second
}

func benchCounts() []int {
	v := os.Getenv("GWANJE_BENCH_CAMERAS")
	if v == "" {
		v = "100,200,300,400"
	}
	var out []int
	for _, f := range strings.Split(v, ",") {
		if n, err := strconv.Atoi(strings.TrimSpace(f)); err == nil && n > 0 {
			out = append(out, n)
		}
	}
	return out
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func rssMB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				kb, _ := strconv.ParseFloat(f[0], 64)
				return kb / 1024
			}
		}
	}
	return 0
}

// BenchmarkRecorderDiskBaseline measures the disk's sequential write rate
// with fdatasync after every MiB (like dd bs=1M oflag=dsync).
func BenchmarkRecorderDiskBaseline(b *testing.B) {
	dir := b.TempDir()
	buf := make([]byte, 1<<20)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	const total = 512
	for range b.N {
		f, err := os.Create(filepath.Join(dir, "dd"))
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		for range total {
			if _, err := f.Write(buf); err != nil {
				b.Fatal(err)
			}
			if err := syscall.Fdatasync(int(f.Fd())); err != nil {
				b.Fatal(err)
			}
		}
		el := time.Since(start)
		f.Close()
		os.Remove(f.Name())
		mbps := float64(total) / el.Seconds()
		b.ReportMetric(mbps, "MB/s")
		b.ReportMetric(mbps/0.5, "4Mbps-cameras")
		b.Logf("disk: %d MiB with fdatasync per MiB in %v = %.0f MB/s (= %.0f cameras at 4 Mbit/s)", total, el.Round(time.Millisecond), mbps, mbps/0.5)
	}
}

// sealModes are the crash-safety settings the paced runs compare: the
// default (seal every second, fdatasync after each seal), timed seals
// without fdatasync, and full chunks only (the behaviour before timed
// seals: a crash lost up to a chunk of 128 KiB per camera).
var sealModes = []struct {
	name string
	set  func(*Config)
}{
	{"seal=1s+fdatasync", func(*Config) {}},
	{"seal=1s-nosync", func(c *Config) { c.NoSealSync = true }},
	{"seal=off", func(c *Config) { c.SealInterval = -1 }},
}

// runLoad records n synthetic cameras for d and reports the figures.
func runLoad(b *testing.B, n int, paced bool, d time.Duration, mode func(*Config)) {
	s := newTestStore(b, StoreConfig{})
	src := &synthSource{c: loadClip(b), fps: 25, size: 20000, paced: paced}
	var cams []Camera
	for i := range n {
		cams = append(cams, Camera{ID: fmt.Sprintf("bench-%04d", i), RetentionDays: 30})
	}
	cfg := Config{Store: s, Cameras: fixedCameras(cams...), Source: src, SegmentDuration: 5 * time.Second,
		SkipCheck: true}
	mode(&cfg)
	r, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	framesBefore := s.m.Frames
	_ = framesBefore
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	poll(b, 30*time.Second, "all cameras recording", func() bool {
		st := r.Status()
		k := 0
		for _, c := range st {
			if c.Recording {
				k++
			}
		}
		return k == n
	})
	used0, cpu0, t0 := s.UsedBytes(), cpuTime(), time.Now()
	time.Sleep(d) // the load runs for d: a measurement window, not a wait for an event
	used1, cpu1, el := s.UsedBytes(), cpuTime(), time.Since(t0)
	rss := rssMB()
	cancel()
	<-done
	var segs int
	_ = s.pool.QueryRow(context.Background(), `select count(*) from recording_segments`).Scan(&segs)
	var seals, syncs dto.Metric
	_ = s.m.Seals.Write(&seals)
	_ = s.m.SealSync.Write(&syncs)
	var syncMean float64
	if c := syncs.GetHistogram().GetSampleCount(); c > 0 {
		syncMean = syncs.GetHistogram().GetSampleSum() / float64(c)
	}
	mbps := float64(used1-used0) / 1e6 / el.Seconds()
	cores := (cpu1 - cpu0).Seconds() / el.Seconds()
	want := float64(n) * 0.5 // MB/s at 4 Mbit/s
	b.ReportMetric(mbps, "MB/s")
	b.ReportMetric(cores, "cpu-cores")
	b.ReportMetric(rss, "RSS-MB")
	b.ReportMetric(float64(segs), "segments")
	b.ReportMetric(seals.GetCounter().GetValue(), "seals")
	b.ReportMetric(syncMean*1e3, "fdatasync-ms")
	if paced {
		b.ReportMetric(mbps/want, "keep-up")
		b.Logf("%d cameras × 4 Mbit/s paced: %.1f MB/s written (%.0f%% of the offered %.1f MB/s), %.2f CPU cores (%.1f%% of a core per camera), RSS %.0f MB, %d segments, %.0f timed seals, fdatasync mean %.2f ms",
			n, mbps, 100*mbps/want, want, cores, 100*cores/float64(n), rss, segs, seals.GetCounter().GetValue(), syncMean*1e3)
	} else {
		b.ReportMetric(mbps/0.5, "4Mbps-cameras")
		b.ReportMetric(mbps/cores/0.5, "cameras-per-core")
		b.Logf("%d cameras unpaced (write path flat out): %.1f MB/s = %.0f cameras at 4 Mbit/s; %.2f CPU cores (%.0f cameras per core), RSS %.0f MB",
			n, mbps, mbps/0.5, cores, mbps/cores/0.5, rss)
	}
	// Leave the disk as found.
	_ = os.RemoveAll(s.Dir())
}

func BenchmarkRecorderSynthetic(b *testing.B) {
	d := benchSeconds()
	for _, n := range benchCounts() {
		for _, m := range sealModes {
			b.Run(fmt.Sprintf("paced-4Mbps-cameras=%d/%s", n, m.name), func(b *testing.B) {
				for range b.N {
					runLoad(b, n, true, d, m.set)
				}
			})
		}
	}
	for _, m := range sealModes {
		b.Run("unpaced-cameras=8/"+m.name, func(b *testing.B) {
			for range b.N {
				runLoad(b, 8, false, d, m.set)
			}
		})
	}
}

// BenchmarkRecorderCamsim records real camsim RTSP streams (small clips:
// this measures the per-camera cost of the RTSP path, camsim's own CPU
// included since it runs in this process).
func BenchmarkRecorderCamsim(b *testing.B) {
	n := 50
	if v, err := strconv.Atoi(os.Getenv("GWANJE_BENCH_CAMSIM")); err == nil && v > 0 {
		n = v
	}
	for range b.N {
		fleet, err := camsim.StartFleet(context.Background(), camsim.FleetConfig{Count: n})
		if err != nil {
			b.Fatal(err)
		}
		ups := camsimUpstreams{}
		var cams []Camera
		for _, c := range fleet.Cameras() {
			id := c.Info().ID
			ups[id] = c
			cams = append(cams, Camera{ID: id, RetentionDays: 30})
		}
		s := newTestStore(b, StoreConfig{})
		r, err := New(Config{Store: s, Cameras: fixedCameras(cams...), Source: &RTSPSource{Upstreams: ups},
			SegmentDuration: 5 * time.Second, SkipCheck: true})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- r.Run(ctx) }()
		poll(b, 60*time.Second, "all camsim cameras recording", func() bool {
			k := 0
			for _, c := range r.Status() {
				if c.Recording {
					k++
				}
			}
			return k == n
		})
		d := benchSeconds()
		used0, cpu0, t0 := s.UsedBytes(), cpuTime(), time.Now()
		time.Sleep(d) // measurement window
		used1, cpu1, el := s.UsedBytes(), cpuTime(), time.Since(t0)
		cancel()
		<-done
		fleet.Close()
		mbps := float64(used1-used0) / 1e6 / el.Seconds()
		cores := (cpu1 - cpu0).Seconds() / el.Seconds()
		b.ReportMetric(mbps, "MB/s")
		b.ReportMetric(cores, "cpu-cores")
		b.Logf("%d camsim cameras over RTSP: %.2f MB/s written, %.2f CPU cores incl. camsim (%.2f%% of a core per camera)",
			n, mbps, cores, 100*cores/float64(n))
	}
}
