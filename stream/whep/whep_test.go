package whep_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"

	"github.com/gwanje/gwanje/stream"
	"github.com/gwanje/gwanje/stream/whep"
)

func TestWHEPSessionPlaysAndEnds(t *testing.T) {
	e := newEnv(t, 1)
	tk := e.ticket("alice", "a-login", "cam1", "main")
	c, code := dial(t, e.whepURL(tk, "cam1", "main"))
	if code != http.StatusCreated {
		t.Fatalf("POST offer: %d, want 201", code)
	}
	if !strings.HasPrefix(c.location, whep.SessionPrefix) {
		t.Fatalf("Location %q", c.location)
	}
	// The offer asked for audio too: the answer refuses it (port 0).
	if !strings.Contains(c.answer, "m=audio 0 ") {
		t.Fatalf("the answer does not refuse audio:\n%s", c.answer)
	}
	eventually(t, 15*time.Second, "frames arrive", func() bool { return c.frames.Load() >= 30 })
	// The first packet starts a keyframe: parameter sets (STAP-A or SPS).
	if n := c.firstNAL.Load(); n != 24 && n != 7 {
		t.Fatalf("first NAL unit type %d, want the SPS (7) or a STAP-A (24) holding it", n)
	}
	if e.whep.Sessions() != 1 {
		t.Fatalf("sessions %d", e.whep.Sessions())
	}
	// DELETE on the Location ends the session; its end is audited.
	req, _ := http.NewRequest(http.MethodDelete, e.http.URL+c.location, nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("DELETE: %d", res.StatusCode)
	}
	eventually(t, 10*time.Second, "live.view.end", func() bool { return len(e.audit.ends()) == 1 })
	end := e.audit.ends()[0]
	if end.Reason != stream.ReasonClientClosed || end.Details["transport"] != whep.Transport ||
		end.Details["bytes"].(int64) <= 0 || end.Actor.UserID != "alice" || end.SessionID != "a-login" {
		t.Fatalf("end entry %+v", end)
	}
	if end.Details["duration_ms"].(int64) <= 0 {
		t.Fatalf("duration %v", end.Details["duration_ms"])
	}
	eventually(t, 10*time.Second, "session gone", func() bool { return e.whep.Sessions() == 0 })
	req, _ = http.NewRequest(http.MethodDelete, e.http.URL+c.location, nil)
	if res, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Fatalf("second DELETE: %d, want 404", res.StatusCode)
	}
}

func TestWHEPRefusals(t *testing.T) {
	e := newEnv(t, 1)
	good := e.ticket("alice", "a-login", "cam1", "main")
	url := e.whepURL(good, "cam1", "main")
	offer := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
	for _, tc := range []struct {
		name, url, ctype, body string
		want                   int
	}{
		{"no ticket", e.http.URL + "/whep/live/cam1/main", "application/sdp", offer, http.StatusUnauthorized},
		{"malformed ticket", e.http.URL + "/whep/live/cam1/main?ticket=abc", "application/sdp", offer, http.StatusForbidden},
		{"unknown ticket", stream.LiveURL(e.http.URL+"/whep", "cam1", "main", strings.Repeat("A", 43)), "application/sdp", offer, http.StatusForbidden},
		{"other camera", e.whepURL(good, "cam2", "main"), "application/sdp", offer, http.StatusForbidden},
		{"other profile", e.whepURL(good, "cam1", "sub"), "application/sdp", offer, http.StatusForbidden},
		{"not SDP", url, "text/plain", offer, http.StatusUnsupportedMediaType},
		{"too big", url, "application/sdp", strings.Repeat("a", whep.DefaultMaxOffer+1), http.StatusRequestEntityTooLarge},
		{"garbage offer", url, "application/sdp", "m=video nonsense", http.StatusBadRequest},
		{"no video", url, "application/sdp", "v=0\r\n", http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := http.Post(tc.url, tc.ctype, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", res.StatusCode, tc.want)
			}
		})
	}
	// Nothing above used the ticket: it still opens one view, once.
	c, code := dial(t, url)
	if code != http.StatusCreated {
		t.Fatalf("the good ticket after the refusals: %d", code)
	}
	eventually(t, 15*time.Second, "frames", func() bool { return c.frames.Load() > 0 })
	if _, code := dial(t, url); code != http.StatusForbidden {
		t.Fatalf("replayed ticket: %d, want 403", code)
	}
	if n := len(e.audit.ends()); n != 0 {
		t.Fatalf("%d end entries while the one view is open", n)
	}
}

// A ticket is also accepted as a bearer token.
func TestWHEPBearerTicket(t *testing.T) {
	e := newEnv(t, 1)
	tk := e.ticket("alice", "a-login", "cam1", "sub")
	c, code := dial(t, e.http.URL+"/whep/live/cam1/sub", withBearer(tk.Token))
	if code != http.StatusCreated {
		t.Fatalf("POST with bearer: %d", code)
	}
	eventually(t, 15*time.Second, "frames", func() bool { return c.frames.Load() > 0 })
}

func TestWHEPRevocation(t *testing.T) {
	e := newEnv(t, 1)
	alice := dialOK(t, e, "alice", "a-login", "cam1")
	bob := dialOK(t, e, "bob", "b-login", "cam1")
	eventually(t, 15*time.Second, "both play", func() bool { return alice.frames.Load() > 0 && bob.frames.Load() > 0 })
	at := e.revokeSession("alice", "a-login")
	eventually(t, 5*time.Second, "alice's session ends", func() bool { return alice.isEnded() })
	t.Logf("alice's WebRTC session closed %v after the notice", time.Since(at).Round(time.Millisecond))
	eventually(t, 10*time.Second, "audited", func() bool { return len(e.audit.ends()) == 1 })
	if r := e.audit.ends()[0]; r.Reason != stream.ReasonSessionEnded || r.Actor.UserID != "alice" {
		t.Fatalf("end %+v", r)
	}
	n := bob.frames.Load()
	eventually(t, 10*time.Second, "bob still plays", func() bool { return bob.frames.Load() > n+5 })
	if bob.isEnded() {
		t.Fatal("bob's session ended too")
	}
	// A ticket issued before a revocation opens nothing after it.
	e.authz.deny("carol")
	tk := e.ticket("carol", "c-login", "cam1", "main")
	if _, code := dial(t, e.whepURL(tk, "cam1", "main")); code != http.StatusForbidden {
		t.Fatalf("denied holder: %d, want 403", code)
	}
}

func dialOK(t *testing.T, e *env, user, session, cam string) *client {
	t.Helper()
	c, code := dial(t, e.whepURL(e.ticket(user, session, cam, "main"), cam, "main"))
	if code != http.StatusCreated {
		t.Fatalf("%s: POST offer: %d", user, code)
	}
	return c
}

// One camera, RTSP and WebRTC viewers at once: one upstream pull.
func TestMixedViewersShareOneUpstream(t *testing.T) {
	e := newEnv(t, 1)
	var wg sync.WaitGroup
	var webrtcs []*client
	var mu sync.Mutex
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tk := e.ticket("user"+string(rune('a'+i)), "s", "cam1", "main")
			c, code := dial(t, e.whepURL(tk, "cam1", "main"))
			if code != http.StatusCreated {
				t.Errorf("POST: %d", code)
				return
			}
			mu.Lock()
			webrtcs = append(webrtcs, c)
			mu.Unlock()
		}()
	}
	var rtspFrames [3]int64
	var rmu sync.Mutex
	for i := range 3 {
		tk := e.ticketFor(stream.TransportRTSP, "rtsp"+string(rune('a'+i)), "s", "cam1", "main")
		playRTSP(t, tk.URL, func() { rmu.Lock(); rtspFrames[i]++; rmu.Unlock() })
	}
	wg.Wait()
	if len(webrtcs) != 4 {
		t.Fatalf("%d WebRTC viewers", len(webrtcs))
	}
	eventually(t, 20*time.Second, "every viewer gets frames", func() bool {
		rmu.Lock()
		defer rmu.Unlock()
		for _, n := range rtspFrames {
			if n < 10 {
				return false
			}
		}
		for _, c := range webrtcs {
			if c.frames.Load() < 10 {
				return false
			}
		}
		return true
	})
	if n := e.cams.pc["cam1"].pulls.Load(); n != 1 {
		t.Fatalf("camsim saw %d upstream connections, want 1", n)
	}
}

// playRTSP plays an RTSP URL and calls onAU per access unit.
func playRTSP(t *testing.T, url string, onAU func()) {
	t.Helper()
	u, err := base.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	tcp := gortsplib.ProtocolTCP
	c := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Protocol: &tcp, ReadTimeout: 5 * time.Second}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	desc, _, err := c.Describe(u)
	if err != nil {
		t.Fatal(err)
	}
	var h264 *format.H264
	medi := desc.FindFormat(&h264)
	if medi == nil {
		t.Fatal("no H.264")
	}
	if _, err := c.Setup(desc.BaseURL, medi, 0, 0); err != nil {
		t.Fatal(err)
	}
	c.OnPacketRTP(medi, h264, func(p *rtp.Packet) {
		if p.Marker {
			onAU()
		}
	})
	if _, err := c.Play(nil); err != nil {
		t.Fatal(err)
	}
}
