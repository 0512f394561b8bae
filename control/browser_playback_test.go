package control

import (
	"context"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/gwanje/gwanje/audit"
	"github.com/gwanje/gwanje/camsim"
	"github.com/gwanje/gwanje/internal/browsertest"
	pb "github.com/gwanje/gwanje/proto/gwanje/v1"
	"github.com/gwanje/gwanje/stream/playback"
	"github.com/gwanje/gwanje/stream/record"
)

// browserFixture is recorded footage with a hole in it, a node serving
// browser playback over HTTPS (with the test player page on the same
// origin) and a headless Chromium.
type browserFixture struct {
	h      *harness
	cam    string
	spans  []*pb.RecordedSpan
	srv    *httptest.Server
	ctx    context.Context // the browser's tab
	mu     sync.Mutex
	starts map[string]int64 // ticket → playback.start seq expected committed
	early  []string         // media requests that came before their playback.start was readable
	segDur time.Duration    // recorder segments (default 1 s)
}

// recordFor records the camera with the real recorder (through the relay's
// shared upstream, as gwanjed does) until n segments more exist.
func (f *browserFixture) recordFor(n int) {
	h := f.h
	before := len(f.segments())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rec, err := record.New(record.Config{Store: h.recStore, Cameras: RecordingCameras(h.devices),
		Source: record.RelaySource{Relay: h.relay}, SegmentDuration: f.segDur, RefreshInterval: time.Second})
	if err != nil {
		h.t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- rec.Run(ctx) }()
	deadline := time.Now().Add(time.Minute + time.Duration(n)*f.segDur)
	for len(f.segments()) < before+n {
		if time.Now().After(deadline) {
			h.t.Fatalf("recording: %d segments after a minute", len(f.segments())-before)
		}
		time.Sleep(50 * time.Millisecond)
	}
	rec.Close()
	if err := <-done; err != nil {
		h.t.Fatal(err)
	}
}

func (f *browserFixture) segments() []record.Segment {
	l, err := f.h.recStore.ListRecordings(context.Background(), f.cam, time.Now().Add(-time.Hour), time.Now().Add(time.Minute))
	if err != nil {
		f.h.t.Fatal(err)
	}
	return l.Segments
}

// newBrowserFixture records before segments of segDur, waits 3 s (a hole),
// records after segments more.
func newBrowserFixture(t *testing.T, segDur time.Duration, before, after int) *browserFixture {
	h := newHarness(t)
	f := &browserFixture{h: h, cam: h.registerCamera(camsim.DialectHikvision), starts: map[string]int64{}, segDur: segDur}
	f.recordFor(before)
	time.Sleep(3 * time.Second) // the hole in the footage (a camera that was off)
	f.recordFor(after)
	rc := pb.NewRecordingServiceClient(h.conn)
	l, err := rc.ListRecordings(h.as("manager"), &pb.ListRecordingsRequest{CameraId: f.cam,
		From: timestamppb.New(time.Now().Add(-time.Hour)), To: timestamppb.New(time.Now())})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Spans) != 2 {
		t.Fatalf("recorded spans %d, want 2 around the hole", len(l.Spans))
	}
	f.spans = l.Spans

	page, err := os.ReadFile("../stream/playback/testdata/mse-player.html")
	if err != nil {
		t.Fatal(err)
	}
	pbh := h.playback.Handler()
	mux := http.NewServeMux()
	mux.HandleFunc("/player.html", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(page)
	})
	mux.HandleFunc(playback.MSEPrefix, func(w http.ResponseWriter, r *http.Request) {
		// Fail closed, seen from outside: when a browser first asks for
		// anything with a ticket, its playback.start is already committed
		// (readable on another connection).
		if tk := r.URL.Query().Get("ticket"); tk != "" && r.URL.Query().Get("session") == "" {
			f.mu.Lock()
			seq, ok := f.starts[tk]
			f.mu.Unlock()
			if ok && !f.committed(seq) {
				f.mu.Lock()
				f.early = append(f.early, r.URL.Path)
				f.mu.Unlock()
			}
		}
		pbh.ServeHTTP(w, r)
	})
	f.srv = httptest.NewUnstartedServer(mux)
	f.srv.EnableHTTP2 = true
	f.srv.StartTLS()
	t.Cleanup(f.srv.Close)
	if err := h.recStore.RegisterBrowserURL(context.Background(), f.srv.URL); err != nil {
		t.Fatal(err)
	}
	f.ctx = browsertest.Start(t, "--ignore-certificate-errors")
	if err := chromedp.Do(f.ctx, chromedp.Navigate(f.srv.URL+"/player.html")); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *browserFixture) committed(seq int64) bool {
	page, err := f.h.audit.Query(context.Background(), audit.Filter{Camera: f.cam, Types: []string{"playback.start"}})
	if err != nil {
		return false
	}
	for _, e := range page.Entries {
		if e.Seq == seq {
			return true
		}
	}
	return false
}

// start asks StartPlayback for a browser source over [from, to).
func (f *browserFixture) start(role string, from, to time.Time) *pb.StartPlaybackResponse {
	f.h.t.Helper()
	res, err := pb.NewRecordingServiceClient(f.h.conn).StartPlayback(f.h.as(role), &pb.StartPlaybackRequest{
		CameraId: f.cam, From: timestamppb.New(from), To: timestamppb.New(to),
		Purpose: pb.Purpose_PURPOSE_CRIME_PREVENTION, Transport: pb.PlaybackTransport_PLAYBACK_TRANSPORT_MSE})
	if err != nil {
		f.h.t.Fatal(err)
	}
	if res.Transport != pb.PlaybackTransport_PLAYBACK_TRANSPORT_MSE || !strings.HasPrefix(res.Url, f.srv.URL+playback.MSEPrefix) {
		f.h.t.Fatalf("browser playback URL %q (%v)", res.Url, res.Transport)
	}
	i := strings.Index(res.Url, "ticket=")
	f.mu.Lock()
	f.starts[res.Url[i+len("ticket="):]] = res.AuditSeq
	f.mu.Unlock()
	return res
}

func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	return v
}

// waitJS polls a JavaScript condition.
func waitJS(t *testing.T, ctx context.Context, what, cond string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !eval[bool](t, ctx, cond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s (%s); player: %s", what, cond,
				eval[string](t, ctx, `JSON.stringify({state: P.state, reason: P.reason, status: P.status, frames: P.frames, t: P.mediaTime, ct: v.currentTime, jumps: P.gapJumps, pending: P.pendingSeek, requests: P.requests, paused: v.paused, ready: v.readyState, buffered: Array.from({length: v.buffered.length}, (_, i) => [v.buffered.start(i), v.buffered.end(i)]), gaps: P.manifest && P.manifest.gaps.map(g => [(g.from_ms - P.manifest.from_ms) / 1000, (g.to_ms - P.manifest.from_ms) / 1000])})`))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// playbackEnd waits for the playback.end of the session whose
// playback.start was seq.
func (f *browserFixture) playbackEnd(seq int64) audit.Entry {
	f.h.t.Helper()
	var out audit.Entry
	eventually(f.h.t, "playback.end", func() bool {
		page, err := f.h.audit.Query(context.Background(), audit.Filter{Camera: f.cam, Types: []string{"playback.end"}})
		if err != nil {
			f.h.t.Fatal(err)
		}
		for _, e := range page.Entries {
			if s, ok := e.Entry.Details["start_seq"].(float64); ok && int64(s) == seq {
				out = e.Entry
				return true
			}
		}
		return false
	})
	return out
}

type jsRange struct{ From, To time.Time }

func ranges(t *testing.T, e audit.Entry) []jsRange {
	t.Helper()
	raw, ok := e.Details["ranges"].([]any)
	if !ok {
		t.Fatalf("playback.end has no ranges: %v", e.Details)
	}
	var out []jsRange
	for _, r := range raw {
		m := r.(map[string]any)
		a, err1 := time.Parse(time.RFC3339Nano, m["from"].(string))
		b, err2 := time.Parse(time.RFC3339Nano, m["to"].(string))
		if err1 != nil || err2 != nil {
			t.Fatalf("range %v", m)
		}
		out = append(out, jsRange{a, b})
	}
	return out
}

// TestBrowserPlayback plays recorded footage in headless Chromium through
// StartPlayback (transport MSE) alone: it plays (frames presented, not
// blank), the hole is marked and skipped, ×4 advances faster than ×1, a
// seek lands on its position, positions outside the ticket are refused,
// the ticket opens once, an expired one opens nothing, playback.start is
// committed before the browser's first request, and playback.end lists
// the footage sent as ranges; then revocation stops a second playback and
// a tampered segment stops a third with an error, never showing it.
func TestBrowserPlayback(t *testing.T) {
	f := newBrowserFixture(t, time.Second, 5, 4)
	h, ctx := f.h, f.ctx
	from, to := f.spans[0].Start.AsTime(), f.spans[1].End.AsTime()
	hole := jsRange{f.spans[0].End.AsTime(), f.spans[1].Start.AsTime()}

	res := f.start("operator", from, to)
	if st := eval[string](t, ctx, `P.open(`+strconv.Quote(res.Url)+`)`); st != "playing" {
		t.Fatalf("open: %s (%s)", st, eval[string](t, ctx, `P.reason`))
	}
	waitJS(t, ctx, "frames presented", `P.frames > 10`, 20*time.Second)
	if sd := eval[float64](t, ctx, `P.lumaSD()`); sd < 2 {
		t.Fatalf("the picture is blank (luma standard deviation %.2f)", sd)
	}
	// The hole is in the manifest, for the console to draw.
	gaps := eval[[]map[string]int64](t, ctx, `P.manifest.gaps.map(g => ({from_ms: g.from_ms, to_ms: g.to_ms}))`)
	marked := false
	for _, g := range gaps {
		marked = marked || (g["from_ms"] <= hole.From.UnixMilli()+1000 && g["to_ms"] >= hole.To.UnixMilli()-1000)
	}
	if !marked {
		t.Fatalf("gaps %v do not mark the hole %v–%v", gaps, hole.From, hole.To)
	}
	// The ticket opens once: a replay gets nothing.
	if st := eval[int](t, ctx, `P.fetchStatus(new URL(`+strconv.Quote(res.Url)+`).pathname + new URL(`+strconv.Quote(res.Url)+`).search)`); st != http.StatusForbidden {
		t.Fatalf("replayed ticket: %d, want 403", st)
	}
	// Without the session (the ticket alone) no media.
	if st := eval[int](t, ctx, `P.fetchStatus(P.manifest.media.replace(/session=[^&]*/, "session=x"))`); st != http.StatusForbidden {
		t.Fatalf("media without the session: %d, want 403", st)
	}

	// Paused, nothing more is asked for or shown; play resumes.
	reqs := eval[int](t, ctx, `v.pause(), P.requests`)
	paused := eval[float64](t, ctx, `P.mediaTime`)
	time.Sleep(1500 * time.Millisecond)
	if r, mt := eval[int](t, ctx, `P.requests`), eval[float64](t, ctx, `P.mediaTime`); r != reqs || mt != paused {
		t.Fatalf("paused: requests %d → %d, picture %.2f → %.2f", reqs, r, paused, mt)
	}
	eval[bool](t, ctx, `v.play(), true`)
	waitJS(t, ctx, "playing after the pause", `P.mediaTime > `+strconv.FormatFloat(paused+0.5, 'f', 3, 64), 10*time.Second)

	// Speed: ×4 advances the picture faster than ×1.
	advance := func(rate int) float64 {
		eval[bool](t, ctx, `P.setRate(`+strconv.Itoa(rate)+`), true`)
		time.Sleep(500 * time.Millisecond)
		t0 := eval[float64](t, ctx, `P.mediaTime`)
		time.Sleep(1500 * time.Millisecond)
		return eval[float64](t, ctx, `P.mediaTime`) - t0
	}
	eval[bool](t, ctx, `P.seek(P.manifest.from_ms), true`)
	waitJS(t, ctx, "the seek to the start", `P.pendingSeek == null && P.mediaTime < 1`, 10*time.Second)
	a1 := advance(1)
	a4 := advance(4)
	t.Logf("in 1.5 s the picture advanced %.2f s at ×1 and %.2f s at ×4", a1, a4)
	if a4 < 2*a1 || a1 <= 0 {
		t.Fatalf("×4 advanced %.2f s, ×1 %.2f s", a4, a1)
	}
	eval[bool](t, ctx, `P.setRate(1), true`)

	// The picture crosses the hole at ×8 without stalling in it.
	eval[bool](t, ctx, `P.setRate(8), true`)
	holeEnd := hole.To.Sub(from).Seconds()
	waitJS(t, ctx, "the picture past the hole", `P.mediaTime > `+strconv.FormatFloat(holeEnd+0.3, 'f', 3, 64), 20*time.Second)
	eval[bool](t, ctx, `P.setRate(1), true`)

	// Seek into the second span: the first frame shown is at the position.
	target := f.spans[1].Start.AsTime().Add(1500 * time.Millisecond)
	eval[bool](t, ctx, `P.seek(`+strconv.FormatInt(target.UnixMilli(), 10)+`), true`)
	waitJS(t, ctx, "the first frame at the seek position", `P.pendingSeek == null`, 10*time.Second)
	got := eval[float64](t, ctx, `P.mediaTime`)
	if want := target.Sub(from).Seconds(); got < want-0.25 || got > want+1 {
		t.Fatalf("after the seek the picture is at %.2f s, want %.2f s", got, want)
	}
	waitJS(t, ctx, "frames after the seek", `P.mediaTime > `+strconv.FormatFloat(target.Sub(from).Seconds()+0.5, 'f', 3, 64), 10*time.Second)

	// Positions outside the ticket's range are refused.
	for _, at := range []time.Time{from.Add(-10 * time.Second), to.Add(time.Second)} {
		if st := eval[int](t, ctx, `P.fetchStatus(P.manifest.media + "&at=`+strconv.FormatInt(at.UnixMilli(), 10)+`")`); st != http.StatusRequestedRangeNotSatisfiable {
			t.Fatalf("media at %v (outside %v–%v): %d, want 416", at, from, to, st)
		}
	}
	if st := eval[int](t, ctx, `P.end()`); st != http.StatusNoContent {
		t.Fatalf("end: %d", st)
	}
	end := f.playbackEnd(res.AuditSeq)
	rs := ranges(t, end)
	t.Logf("playback.end: reason %v, %v frames, ranges %v", end.Details["reason"], end.Details["frames"], rs)
	if end.Details["reason"] != "closed" || end.Details["transport"] != "mse" || len(rs) < 2 {
		t.Fatalf("playback.end %v", end.Details)
	}
	for i, r := range rs {
		if r.From.Before(from) || r.To.After(to.Add(time.Second)) || !r.To.After(r.From) || (i > 0 && !r.From.After(rs[i-1].To)) {
			t.Fatalf("range %d %v–%v outside %v–%v or not a union", i, r.From, r.To, from, to)
		}
		if r.From.Before(hole.To) && r.To.After(hole.From.Add(time.Second)) {
			t.Fatalf("range %v–%v covers the hole %v–%v", r.From, r.To, hole.From, hole.To)
		}
	}
	if !slices.ContainsFunc(rs, func(r jsRange) bool { return !r.From.After(target) && r.To.After(target) }) {
		t.Fatalf("the ranges %v do not hold the seek target %v", rs, target)
	}

	// An expired ticket opens nothing.
	exp, err := playback.NewTickets(h.recStore.Pool()).IssueTicket(context.Background(), playback.TicketRequest{UserID: h.users["operator"].ID,
		CameraID: f.cam, From: from, To: to, AuditSeq: res.AuditSeq, TTL: time.Millisecond, Transport: playback.TransportMSE})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	eval[bool](t, ctx, `location.reload(), true`)
	waitJS(t, ctx, "the page reloaded", `typeof P === "object" && P.state === "idle"`, 10*time.Second)
	if st := eval[string](t, ctx, `P.open(`+strconv.Quote(exp.URL)+`)`); st != "refused" || eval[string](t, ctx, `P.reason`) != "ticket_expired" {
		t.Fatalf("expired ticket: %s %s", st, eval[string](t, ctx, `P.reason`))
	}

	// Revocation: the manager logs out mid-playback; the session ends within
	// a second and the picture stops.
	eval[bool](t, ctx, `location.reload(), true`)
	waitJS(t, ctx, "the page reloaded", `typeof P === "object" && P.state === "idle"`, 10*time.Second)
	res2 := f.start("manager", from, to)
	eval[string](t, ctx, `P.open(`+strconv.Quote(res2.Url)+`)`)
	waitJS(t, ctx, "frames presented", `P.frames > 5`, 20*time.Second)
	at := time.Now()
	if _, err := pb.NewAccessServiceClient(h.conn).Logout(h.as("manager"), &pb.LogoutRequest{}); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the player to learn the session ended", `P.state === "ended"`, 10*time.Second)
	stopped := time.Since(at)
	if r := eval[string](t, ctx, `P.reason`); r != "session_ended" {
		t.Fatalf("revoked playback ended with %q", r)
	}
	n := eval[int](t, ctx, `P.frames`)
	time.Sleep(time.Second)
	if m := eval[int](t, ctx, `P.frames`); m != n {
		t.Fatalf("frames still presented after the session ended: %d → %d", n, m)
	}
	e2 := f.playbackEnd(res2.AuditSeq)
	t.Logf("revocation: the player stopped %v after the logout call; playback.end reason %v", stopped.Round(time.Millisecond), e2.Details["reason"])
	if e2.Details["reason"] != "session_ended" {
		t.Fatalf("playback.end %v", e2.Details)
	}
	// It records the footage shown (a moment of it, plus the lead), not the
	// ticket's whole range.
	var shown time.Duration
	for _, r := range ranges(t, e2) {
		shown += r.To.Sub(r.From)
	}
	if shown <= 0 || shown > to.Sub(from)/2 {
		t.Fatalf("the revoked playback records %v of footage shown out of the %v granted", shown, to.Sub(from))
	}

	// A tampered segment stops playback with an error and is never shown.
	segs := f.segments()
	bad := segs[2]
	path := h.recStore.Dir() + "/" + bad.Path
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x01
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	eval[bool](t, ctx, `location.reload(), true`)
	waitJS(t, ctx, "the page reloaded", `typeof P === "object" && P.state === "idle"`, 10*time.Second)
	res3 := f.start("operator", from, to)
	eval[string](t, ctx, `P.open(`+strconv.Quote(res3.Url)+`)`)
	eval[bool](t, ctx, `P.setRate(8), true`)
	waitJS(t, ctx, "playback to stop on the tampered segment", `P.state === "ended"`, 20*time.Second)
	if r := eval[string](t, ctx, `P.reason`); r != "tampered" {
		t.Fatalf("tampered playback ended with %q", r)
	}
	if mt := eval[float64](t, ctx, `P.mediaTime`); mt >= bad.End.Sub(from).Seconds() {
		t.Fatalf("the picture reached %.2f s, past the tampered segment (%.2f–%.2f s)", mt, bad.Start.Sub(from).Seconds(), bad.End.Sub(from).Seconds())
	}
	e3 := f.playbackEnd(res3.AuditSeq)
	for _, r := range ranges(t, e3) {
		if r.To.After(bad.End) {
			t.Fatalf("footage after the tampered segment was sent: %v", r)
		}
	}
	if e3.Details["reason"] != "tampered" {
		t.Fatalf("playback.end %v", e3.Details)
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.early) > 0 {
		t.Fatalf("requests served before their playback.start was committed: %v", f.early)
	}
	if _, err := pb.NewRecordingServiceClient(h.conn).StartPlayback(h.as("contractor"), &pb.StartPlaybackRequest{CameraId: f.cam,
		From: timestamppb.New(from), To: timestamppb.New(to), Purpose: pb.Purpose_PURPOSE_MAINTENANCE,
		Transport: pb.PlaybackTransport_PLAYBACK_TRANSPORT_MSE}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("contractor: %v", err)
	}
}

// TestBrowserPlaybackSeekBench (opt-in: GWANJE_PLAYBACK_BENCH=1; figures,
// not assertions) measures seek → first frame of the new position in
// headless Chromium over loopback: GWANJE_PLAYBACK_SEEKS seeks (default
// 100) to random positions of about 30 s of recorded footage, each timed in
// the page from the seek call to the requestVideoFrameCallback of the
// first frame presented at the position (or its seeked event, when that
// comes first). GWANJE_PLAYBACK_SEGMENT sets the recorder's segment length
// (default 10s: a seek reads its segment from the start to the position).
func TestBrowserPlaybackSeekBench(t *testing.T) {
	if os.Getenv("GWANJE_PLAYBACK_BENCH") == "" {
		t.Skip("set GWANJE_PLAYBACK_BENCH=1 to measure seek → first frame in Chromium")
	}
	n := 100
	if v, err := strconv.Atoi(os.Getenv("GWANJE_PLAYBACK_SEEKS")); err == nil && v > 0 {
		n = v
	}
	seg := 10 * time.Second
	if v, err := time.ParseDuration(os.Getenv("GWANJE_PLAYBACK_SEGMENT")); err == nil && v > 0 {
		seg = v
	}
	f := newBrowserFixture(t, seg, max(1, int(30*time.Second/seg)), max(1, int(10*time.Second/seg)))
	ctx := f.ctx
	from, to := f.spans[0].Start.AsTime(), f.spans[1].End.AsTime()
	res := f.start("operator", from, to)
	if st := eval[string](t, ctx, `P.open(`+strconv.Quote(res.Url)+`)`); st != "playing" {
		t.Fatalf("open: %s", st)
	}
	waitJS(t, ctx, "frames presented", `P.frames > 5`, 20*time.Second)
	rng := rand.New(rand.NewPCG(1, 2))
	for _, cold := range []bool{true, false} {
		done := len(eval[[]float64](t, ctx, `P.seeks`))
		for i := 0; i < n; i++ {
			sp := f.spans[rng.IntN(len(f.spans))]
			a, b := sp.Start.AsTime(), sp.End.AsTime().Add(-1500*time.Millisecond)
			at := a.Add(time.Duration(rng.Int64N(int64(b.Sub(a)))))
			eval[bool](t, ctx, `P.seek(`+strconv.FormatInt(at.UnixMilli(), 10)+`, `+strconv.FormatBool(cold)+`).then(() => true)`)
			waitJS(t, ctx, "the first frame at the seek position", `P.pendingSeek == null`, 10*time.Second)
		}
		ms := eval[[]float64](t, ctx, `P.seeks`)[done:]
		hows := eval[[]string](t, ctx, `P.seekHows`)[done:]
		if len(ms) != n {
			t.Fatalf("%d seeks timed of %d", len(ms), n)
		}
		frames := 0
		for _, h := range hows {
			if h == "frame" {
				frames++
			}
		}
		slices.Sort(ms)
		q := func(p float64) float64 { return ms[min(len(ms)-1, int(p*float64(len(ms))))] }
		kind := "warm (what the browser already holds helps)"
		if cold {
			kind = "cold (buffer dropped first: request, keyframe search, decryption, decode)"
		}
		t.Logf("seek → first frame of the new position, %s, %d seeks (headless Chromium, loopback, H.264 640x360 10 fps, GOP 1 s, %v segments): p50 %.0f ms, p90 %.0f ms, p99 %.0f ms, max %.0f ms; ended by a presented frame %d times, by seeked %d",
			kind, n, seg, q(0.5), q(0.9), q(0.99), ms[len(ms)-1], frames, n-frames)
	}
}
