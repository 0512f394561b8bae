package whep_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gwanje/gwanje/stream"
)

// TestLifecycleRaces runs the session lifecycle's paths at once on one
// camera (run it with -race): WebRTC viewers that come and go by DELETE,
// by the relay's Stop, by revocation and by closing their peer connection,
// profile switches back and forth racing those ends, and RTSP viewers on
// the same upstream throughout. Afterwards every WebRTC session that
// opened has ended with exactly one live.view.end, none is left listed,
// and the RTSP viewers still play.
func TestLifecycleRaces(t *testing.T) {
	e := newEnv(t, 1)
	var rtspFrames atomic.Int64
	for i := range 2 {
		tk := e.ticketFor(stream.TransportRTSP, fmt.Sprintf("rtsp%d", i), "s", "cam1", "sub")
		playRTSP(t, tk.URL, func() { rtspFrames.Add(1) })
	}
	const viewers = 12
	var opened atomic.Int64
	var wg sync.WaitGroup
	for i := range viewers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			user, sess := fmt.Sprintf("u%d", i), fmt.Sprintf("s%d", i)
			tk := e.ticket(user, sess, "cam1", "sub")
			c, code := dial(t, tk.URL)
			if code != http.StatusCreated {
				t.Errorf("%s: POST %d", user, code)
				return
			}
			opened.Add(1)
			deadline := time.Now().Add(15 * time.Second)
			for c.frames.Load() < 3 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var sw sync.WaitGroup
			for j := range 3 { // switches racing with the end below
				sw.Add(1)
				go func() {
					defer sw.Done()
					_ = e.relay.SwitchProfile(ctx, tk.ViewID, []string{"main", "sub"}[j%2])
				}()
			}
			switch i % 4 {
			case 0:
				req, _ := http.NewRequest(http.MethodDelete, e.http.URL+c.location, nil)
				if res, err := http.DefaultClient.Do(req); err == nil {
					res.Body.Close()
				}
			case 1:
				_ = e.relay.Stop(tk.ViewID, "stopped")
				_ = e.relay.Stop(tk.ViewID, "stopped twice")
			case 2:
				e.revokeSession(user, sess)
			case 3:
				c.pc.Close()
			}
			sw.Wait()
		}()
	}
	wg.Wait()
	n := int(opened.Load())
	if n != viewers {
		t.Fatalf("%d of %d viewers opened", n, viewers)
	}
	eventually(t, 30*time.Second, "every WebRTC session ends", func() bool { return e.whep.Sessions() == 0 })
	eventually(t, 30*time.Second, "one live.view.end each", func() bool { return len(e.audit.ends()) == n })
	seen := map[string]int{}
	for _, end := range e.audit.ends() {
		if end.Details["transport"] != "webrtc" {
			t.Fatalf("an RTSP view ended: %+v", end)
		}
		seen[end.Details["view"].(string)]++
	}
	if len(seen) != n {
		t.Fatalf("%d distinct views ended, want %d", len(seen), n)
	}
	if l := e.relay.List(stream.Filter{}); len(l) != 2 {
		t.Fatalf("listed after the WebRTC views ended: %+v (want the 2 RTSP views)", l)
	}
	f := rtspFrames.Load()
	eventually(t, 10*time.Second, "the RTSP viewers still play", func() bool { return rtspFrames.Load() > f+10 })
	t.Logf("camsim pulls for sub and main: %d", e.cams.pc["cam1"].pulls.Load())
}
