package control

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gwanje/gwanje/audit"
	"github.com/gwanje/gwanje/camsim"
	"github.com/gwanje/gwanje/internal/browsertest"
	pb "github.com/gwanje/gwanje/proto/gwanje/v1"
	"github.com/gwanje/gwanje/stream"
)

//go:embed testdata/whep.html
var whepPage []byte

// browserStack is the control harness (control, relay, camsim) with the
// WHEP endpoint and a test page on one HTTPS origin, and a headless
// Chromium on that page.
type browserStack struct {
	*harness
	origin string
	tab    context.Context
}

func newBrowserStack(t *testing.T) *browserStack {
	t.Helper()
	tab := browsertest.Start(t, "--ignore-certificate-errors") // skips without chromium, before any setup
	h := newHarness(t)
	_, srv := h.startWHEP(map[string]http.Handler{"GET /{$}": http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(whepPage)
	})})
	if err := chromedp.Do(tab, chromedp.Navigate(srv.URL+"/")); err != nil {
		t.Fatal(err)
	}
	return &browserStack{harness: h, origin: srv.URL, tab: tab}
}

type viewStart struct {
	Status int
	Body   string
	ViewID string `json:"viewId"`
}

type viewStats struct {
	State          string
	Status         int
	Frames         int     // presented (requestVideoFrameCallback)
	FirstFrameMs   float64 // from startView to the first presented frame
	FirstFrameWall float64 // the browser's wall clock then, ms since the epoch
	Width, Height  int
	FramesDecoded  int
	FramesDropped  int
	FramesReceived int
	Audio          bool
	Paused         bool
}

// startView does the WHEP exchange for url in the page as view name.
func (b *browserStack) startView(name, url string) viewStart {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.tab, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[viewStart](fmt.Sprintf("startView(%q, %q)", name, url), chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("startView %s: %v", name, err)
	}
	return v
}

func (b *browserStack) stats(name string) viewStats {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.tab, 10*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[viewStats](fmt.Sprintf("stats(%q)", name), chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("stats %s: %v", name, err)
	}
	return s
}

func (b *browserStack) variance(name string) float64 {
	b.t.Helper()
	v, err := chromedp.Run(b.tab, chromedp.Evaluate[float64](fmt.Sprintf("variance(%q)", name)))
	if err != nil {
		b.t.Fatalf("variance %s: %v", name, err)
	}
	return v
}

// waitStats polls the view's figures until cond holds.
func (b *browserStack) waitStats(name, what string, within time.Duration, cond func(viewStats) bool) viewStats {
	b.t.Helper()
	deadline := time.Now().Add(within)
	for {
		s := b.stats(name)
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("%s: timed out after %v waiting for %s; last %+v", name, within, what, s)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stopped waits until the view presents no more frames (none for 1s) and
// returns when the last one came.
func (b *browserStack) stopped(name string, within time.Duration) time.Time {
	b.t.Helper()
	deadline := time.Now().Add(within)
	last, lastAt := b.stats(name).Frames, time.Now()
	for time.Since(lastAt) < time.Second {
		if time.Now().After(deadline) {
			b.t.Fatalf("%s: video still playing after %v", name, within)
		}
		time.Sleep(50 * time.Millisecond)
		if n := b.stats(name).Frames; n != last {
			last, lastAt = n, time.Now()
		}
	}
	return lastAt
}

func (b *browserStack) start(role, camera, profile string) *pb.StartLiveViewResponse {
	b.t.Helper()
	res, err := pb.NewStreamServiceClient(b.conn).StartLiveView(b.as(role), &pb.StartLiveViewRequest{CameraId: camera, Profile: profile,
		Purpose: pb.Purpose_PURPOSE_CRIME_PREVENTION, Transport: pb.Transport_TRANSPORT_WEBRTC})
	if err != nil {
		b.t.Fatal(err)
	}
	return res
}

func (b *browserStack) entry(seq int64, typ string) audit.Stored {
	b.t.Helper()
	page, err := b.audit.Query(context.Background(), audit.Filter{Types: []string{typ}})
	if err != nil {
		b.t.Fatal(err)
	}
	for _, e := range page.Entries {
		if e.Seq == seq {
			return e
		}
	}
	b.t.Fatalf("no committed %s entry %d", typ, seq)
	return audit.Stored{}
}

// TestWebRTCPlaysInChromium: a StartLiveView (transport WEBRTC) ticket
// plays in a real browser through the WHEP endpoint: frames are decoded and
// keep coming, a decoded frame is a picture (not blank), no audio track,
// the live.view.start entry was committed before the first frame, the view
// is listed as WebRTC, the switch to main changes the picture's size in the
// same view, and the ticket does not play twice.
func TestWebRTCPlaysInChromium(t *testing.T) {
	b := newBrowserStack(t)
	cam := b.registerCamera(camsim.DialectHikvision)
	res := b.start("operator", cam, "sub")
	committed := b.entry(res.AuditSeq, "live.view.start") // before the browser has the URL

	if v := b.startView("a", res.Url); v.Status != http.StatusCreated || v.ViewID != res.SessionId {
		t.Fatalf("WHEP POST: %+v, want 201 and view %s", v, res.SessionId)
	}
	s := b.waitStats("a", "10 decoded frames", 20*time.Second, func(s viewStats) bool { return s.FramesDecoded >= 10 && s.Frames >= 10 })
	t.Logf("first frame %.0f ms after the offer; %dx%d", s.FirstFrameMs, s.Width, s.Height)
	if s.Width != 320 || s.Height != 180 || s.Audio {
		t.Fatalf("sub profile: %dx%d, audio %v", s.Width, s.Height, s.Audio)
	}
	if first := time.UnixMilli(int64(s.FirstFrameWall)); !committed.LoggedAt.Before(first) {
		t.Fatalf("live.view.start committed at %v, first frame at %v", committed.LoggedAt, first)
	}
	b.waitStats("a", "frames keep coming", 10*time.Second, func(n viewStats) bool { return n.FramesDecoded >= s.FramesDecoded+10 })
	if v := b.variance("a"); v < 100 {
		t.Fatalf("luma variance %.1f: the decoded picture is blank", v)
	}

	sc := pb.NewStreamServiceClient(b.conn)
	list, err := sc.ListLiveSessions(b.as("operator"), &pb.ListLiveSessionsRequest{})
	if err != nil || len(list.Sessions) != 1 || list.Sessions[0].SessionId != res.SessionId ||
		list.Sessions[0].Transport != pb.Transport_TRANSPORT_WEBRTC || list.Sessions[0].Profile != "sub" {
		t.Fatalf("ListLiveSessions: %+v %v", list, err)
	}

	// The tile is enlarged: main, in the same view, recorded.
	sw, err := sc.SwitchLiveProfile(b.as("operator"), &pb.SwitchLiveProfileRequest{SessionId: res.SessionId, Profile: "main"})
	if err != nil {
		t.Fatal(err)
	}
	if e := b.entry(sw.AuditSeq, "live.view.profile"); e.Entry.Details["from"] != "sub" || e.Entry.Details["to"] != "main" ||
		e.Entry.Details["view"] != res.SessionId || e.Entry.Purpose != "crime_prevention" {
		t.Fatalf("live.view.profile %+v", e.Entry)
	}
	b.waitStats("a", "the main profile's 640x360 picture", 20*time.Second, func(s viewStats) bool { return s.Width == 640 && s.Height == 360 })
	if s := b.stats("a"); s.State != "connected" {
		t.Fatalf("state after the switch: %s", s.State)
	}

	// The same ticket again: refused, no media.
	if v := b.startView("replay", res.Url); v.Status != http.StatusForbidden {
		t.Fatalf("replayed ticket: %+v, want 403", v)
	}
	if s := b.stats("replay"); s.Frames != 0 || s.FramesDecoded != 0 {
		t.Fatalf("replayed ticket got media: %+v", s)
	}

	// A manager ends it: the video stops.
	at := time.Now()
	if _, err := sc.StopLiveView(b.as("manager"), &pb.StopLiveViewRequest{SessionId: res.SessionId, Reason: "점검"}); err != nil {
		t.Fatal(err)
	}
	last := b.stopped("a", 10*time.Second)
	t.Logf("StopLiveView: last frame presented %v after the call", last.Sub(at).Round(10*time.Millisecond))
	eventually(t, "live.view.end", func() bool {
		page, err := b.audit.Query(context.Background(), audit.Filter{Camera: cam, Types: []string{stream.EntryViewEnd}})
		if err != nil || len(page.Entries) == 0 {
			return false
		}
		d := page.Entries[0].Entry.Details
		return d["transport"] == "webrtc" && d["view"] == res.SessionId && d["bytes"].(float64) > 0 && d["profile"] == "main"
	})
}

// An expired ticket gets no media; a revoked user's video stops.
func TestWebRTCRefusedAndRevokedInChromium(t *testing.T) {
	b := newBrowserStack(t)
	cam := b.registerCamera(camsim.DialectAxis)

	// Expired: a ticket of one millisecond (the store's own clock decides).
	res := b.start("police", cam, "sub")
	tk, err := b.tickets.IssueTicket(context.Background(), stream.TicketRequest{UserID: b.users["police"].ID, CameraID: cam, Profile: "sub",
		Purpose: "crime_prevention", AuditSeq: res.AuditSeq, Transport: stream.TransportWebRTC, TTL: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the ticket expires", func() bool {
		_, err := b.tickets.Check(context.Background(), tk.Token, cam, "sub")
		return errors.Is(err, stream.ErrTicketExpired)
	})
	if v := b.startView("expired", tk.URL); v.Status != http.StatusForbidden {
		t.Fatalf("expired ticket: %+v, want 403", v)
	}
	// An RTSP ticket is no WHEP ticket.
	rtsp, err := pb.NewStreamServiceClient(b.conn).StartLiveView(b.as("police"), &pb.StartLiveViewRequest{CameraId: cam, Profile: "sub",
		Purpose: pb.Purpose_PURPOSE_CRIME_PREVENTION})
	if err != nil {
		t.Fatal(err)
	}
	if v := b.startView("rtsp-ticket", stream.WHEPURL(b.origin, cam, "sub", ticketOf(t, rtsp.Url))); v.Status != http.StatusForbidden {
		t.Fatalf("RTSP ticket at WHEP: %+v, want 403", v)
	}
	for _, n := range []string{"expired", "rtsp-ticket"} {
		if s := b.stats(n); s.Frames != 0 || s.FramesDecoded != 0 {
			t.Fatalf("%s got media: %+v", n, s)
		}
	}

	// Revocation: the police officer's account is disabled while watching;
	// the operator's view of the same camera goes on.
	if v := b.startView("police", res.Url); v.Status != http.StatusCreated {
		t.Fatalf("police view: %+v", v)
	}
	op := b.start("operator", cam, "sub")
	if v := b.startView("operator", op.Url); v.Status != http.StatusCreated {
		t.Fatalf("operator view: %+v", v)
	}
	for _, n := range []string{"police", "operator"} {
		b.waitStats(n, "frames", 20*time.Second, func(s viewStats) bool { return s.FramesDecoded >= 5 })
	}
	at := time.Now()
	if _, err := pb.NewAccessServiceClient(b.conn).DisableUser(b.asAdmin(), &pb.DisableUserRequest{UserId: b.users["police"].ID, Reason: "전출"}); err != nil {
		t.Fatal(err)
	}
	last := b.stopped("police", 10*time.Second)
	t.Logf("revocation: the police officer's last frame %v after DisableUser", last.Sub(at).Round(10*time.Millisecond))
	n := b.stats("operator").FramesDecoded
	b.waitStats("operator", "the operator's video goes on", 10*time.Second, func(s viewStats) bool { return s.FramesDecoded > n+10 })
}
