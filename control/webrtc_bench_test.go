package control

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gwanje/gwanje/camsim"
)

// TestWebRTCLoad measures browser live view in headless Chromium on
// loopback; opt-in (GWANJE_WEBRTC_BENCH=1), it asserts no timings and
// logs the figures for the note:
//
//   - ticket issued → first decoded frame: StartLiveView returns, the page
//     POSTs its offer, and the video element presents its first frame
//     (requestVideoFrameCallback); GWANJE_WEBRTC_VIEWS views (default 100)
//     one after another on one camera whose upstream is kept warm (as the
//     recorder keeps it in a center), then 10 on cameras nobody watches
//     (cold: the relay pulls the camera first); p50, p90, p99, max;
//
//   - GWANJE_WEBRTC_TILES sub-stream tiles (default 16, each its own
//     camera) on one page for GWANJE_WEBRTC_SECONDS (default 30):
//     frames decoded against the cameras' 10 fps, getStats' framesDropped
//     and the frames presented.
//
//     GWANJE_WEBRTC_BENCH=1 go test ./control -run TestWebRTCLoad -v -timeout 30m
func TestWebRTCLoad(t *testing.T) {
	if os.Getenv("GWANJE_WEBRTC_BENCH") == "" {
		t.Skip("opt-in load test: set GWANJE_WEBRTC_BENCH=1 to measure WebRTC live view in headless Chromium")
	}
	views, tiles, seconds := envInt("GWANJE_WEBRTC_VIEWS", 100), envInt("GWANJE_WEBRTC_TILES", 16), envInt("GWANJE_WEBRTC_SECONDS", 30)
	b := newBrowserStack(t)

	// 1. Ticket → first frame, warm upstream.
	warm := b.registerCamera(camsim.DialectHikvision)
	keep := b.start("manager", warm, "sub") // keeps the upstream warm
	if v := b.startView("keep", keep.Url); v.Status != 201 {
		t.Fatalf("keep: %+v", v)
	}
	b.waitStats("keep", "frames", 20*time.Second, func(s viewStats) bool { return s.FramesDecoded > 0 })
	lat := func(camera string, name string) time.Duration {
		res := b.start("operator", camera, "sub")
		issued := time.Now()
		if v := b.startView(name, res.Url); v.Status != 201 {
			t.Fatalf("%s: %+v", name, v)
		}
		s := b.waitStats(name, "first frame", 30*time.Second, func(s viewStats) bool { return s.FirstFrameWall > 0 })
		d := time.UnixMilli(int64(s.FirstFrameWall)).Sub(issued)
		b.stopView(name)
		return d
	}
	var warmLat []time.Duration
	for i := range views {
		warmLat = append(warmLat, lat(warm, fmt.Sprintf("w%d", i)))
	}
	t.Logf("ticket issued → first decoded frame, warm upstream, %d views: %s", views, percentiles(warmLat))
	var coldLat []time.Duration
	for i := range 10 {
		cam := b.registerCamera(camsim.DialectAxis)
		coldLat = append(coldLat, lat(cam, fmt.Sprintf("c%d", i)))
	}
	t.Logf("ticket issued → first decoded frame, cold upstream (the relay pulls the camera first), 10 views: %s", percentiles(coldLat))
	b.stopView("keep")

	// 2. Tiles.
	names := make([]string, tiles)
	for i := range tiles {
		cam := b.registerCamera(camsim.DialectHikvision)
		res := b.start("operator", cam, "sub")
		names[i] = fmt.Sprintf("tile%d", i)
		if v := b.startView(names[i], res.Url); v.Status != 201 {
			t.Fatalf("%s: %+v", names[i], v)
		}
	}
	for _, n := range names {
		b.waitStats(n, "playing", 30*time.Second, func(s viewStats) bool { return s.FramesDecoded > 0 })
	}
	start := make([]viewStats, tiles)
	for i, n := range names {
		start[i] = b.stats(n)
	}
	t0 := time.Now()
	time.Sleep(time.Duration(seconds) * time.Second)
	el := time.Since(t0).Seconds()
	var decoded, dropped, received, presented int
	minFPS := 1e9
	for i, n := range names {
		s := b.stats(n)
		d := s.FramesDecoded - start[i].FramesDecoded
		decoded += d
		dropped += s.FramesDropped - start[i].FramesDropped
		received += s.FramesReceived - start[i].FramesReceived
		presented += s.Frames - start[i].Frames
		minFPS = min(minFPS, float64(d)/el)
	}
	expected := float64(tiles) * 10 * el
	t.Logf("%d sub-stream tiles (320x180, 10 fps) for %.0fs: %d frames received, %d decoded (%.1f%% of the cameras' %.0f; slowest tile %.1f fps), %d dropped by the decoder (%.2f%% of received), %d presented (%.1f%%)",
		tiles, el, received, decoded, 100*float64(decoded)/expected, expected, minFPS, dropped, 100*float64(dropped)/float64(max(received, 1)),
		presented, 100*float64(presented)/expected)
}

func (b *browserStack) stopView(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.tab, 10*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](fmt.Sprintf("stopView(%q)", name), chromedp.EvalAwaitPromise)); err != nil {
		b.t.Fatalf("stopView %s: %v", name, err)
	}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func percentiles(ds []time.Duration) string {
	s := slices.Clone(ds)
	slices.Sort(s)
	p := func(q float64) time.Duration { return s[min(len(s)-1, int(q*float64(len(s))))].Round(time.Millisecond) }
	return fmt.Sprintf("p50 %v, p90 %v, p99 %v, max %v", p(0.50), p(0.90), p(0.99), s[len(s)-1].Round(time.Millisecond))
}
