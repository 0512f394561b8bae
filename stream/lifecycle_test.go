package stream

import (
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"

	"github.com/gwanje/gwanje/audit"
	"github.com/gwanje/gwanje/camsim"
)

func TestTwoViewersShareOneUpstreamThatStopsAfterLinger(t *testing.T) {
	e := newEnv(t, 1)
	v1, err := play(e.ticket("u1", "s1", "cam1", "main").URL, gortsplib.ProtocolTCP)
	if err != nil {
		t.Fatal(err)
	}
	defer v1.close()
	v2, err := play(e.ticket("u2", "s2", "cam1", "main").URL, gortsplib.ProtocolTCP)
	if err != nil {
		t.Fatal(err)
	}
	defer v2.close()
	eventually(t, 10*time.Second, "both viewers decode", func() bool { return v1.decodable() && v2.decodable() })
	if n := e.cams.lookups.Load(); n != 1 {
		t.Errorf("camera connections = %d, want 1 shared upstream", n)
	}
	if g := value(e.relay.Metrics().Upstreams); g != 1 {
		t.Errorf("upstreams gauge = %v, want 1", g)
	}
	if g := value(e.relay.Metrics().Viewers); g != 2 {
		t.Errorf("viewers gauge = %v, want 2", g)
	}
	// The second viewer started at the cached keyframe: its first access
	// unit was an IDR (it decoded SPS/PPS/IDR without waiting).
	v1.close()
	_, _, _, _, _, _, b2 := v2.stats()
	eventually(t, 5*time.Second, "v2 keeps receiving after v1 left", func() bool {
		_, _, _, _, _, _, b := v2.stats()
		return b > b2
	})
	if g := value(e.relay.Metrics().Upstreams); g != 1 {
		t.Errorf("upstreams gauge = %v with one viewer left, want 1", g)
	}
	v2.close()
	eventually(t, 10*time.Second, "upstream closed after the linger", func() bool {
		return value(e.relay.Metrics().Upstreams) == 0
	})
	// A new viewer opens a new upstream.
	v3, err := play(e.ticket("u3", "s3", "cam1", "main").URL, gortsplib.ProtocolTCP)
	if err != nil {
		t.Fatal(err)
	}
	defer v3.close()
	eventually(t, 10*time.Second, "v3 decodes", v3.decodable)
	if n := e.cams.lookups.Load(); n != 2 {
		t.Errorf("camera connections = %d, want 2 (one per upstream lifetime)", n)
	}
}

func TestUpstreamReconnectsWhileViewerStays(t *testing.T) {
	cases := []struct {
		name  string
		fault func(cam *camsim.Camera)
		heal  func(cam *camsim.Camera)
	}{
		{"reboot", func(c *camsim.Camera) { c.Reboot() }, func(*camsim.Camera) {}},
		{"offline", func(c *camsim.Camera) { c.SetFaults(camsim.Faults{Offline: true}) },
			func(c *camsim.Camera) { c.SetFaults(camsim.Faults{}) }},
		{"stall", func(c *camsim.Camera) { c.SetFaults(camsim.Faults{StreamStall: true}) },
			func(c *camsim.Camera) { c.SetFaults(camsim.Faults{}) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, 1, func(c *Config) {
				c.UpstreamReadTimeout = time.Second
				c.ReconnectMax = time.Second
			})
			cam := e.cam("cam1")
			v, err := play(e.ticket("u1", "s1", "cam1", "main").URL, gortsplib.ProtocolTCP)
			if err != nil {
				t.Fatal(err)
			}
			defer v.close()
			eventually(t, 10*time.Second, "decodable", v.decodable)
			tc.fault(cam)
			eventually(t, 15*time.Second, "the relay notices the camera is gone", func() bool {
				return value(e.relay.Metrics().Reconnects) > 0
			})
			tc.heal(cam)
			_, idr0, _, _, _, _, _ := v.stats()
			eventually(t, 20*time.Second, "new keyframes after the camera came back", func() bool {
				_, idr, _, _, _, _, _ := v.stats()
				return idr >= idr0+2
			})
			if v.closed() {
				t.Fatal("viewer was disconnected by the camera's outage")
			}
			_, _, _, _, nonMono, tsBack, _ := v.stats()
			if nonMono != 0 || tsBack != 0 {
				t.Errorf("timestamps went back across the reconnect: %d PTS, %d RTP", nonMono, tsBack)
			}
			if n := len(e.relay.List(Filter{})); n != 1 {
				t.Errorf("open views = %d, want 1", n)
			}
		})
	}
}

func TestCameraOfflineAtStart(t *testing.T) {
	e := newEnv(t, 1, func(c *Config) { c.UpstreamTimeout = 2 * time.Second })
	cam := e.cam("cam1")
	cam.SetFaults(camsim.Faults{Offline: true})
	tk := e.ticket("u1", "s1", "cam1", "main")
	_, err := play(tk.URL, gortsplib.ProtocolTCP)
	if err == nil || !containsStatus(err, 503) {
		t.Fatalf("play with the camera offline: err = %v, want 503", err)
	}
	eventually(t, 5*time.Second, "failed live.view.end", func() bool { return len(e.audit.ends()) == 1 })
	end := e.audit.ends()[0]
	if end.Outcome != audit.Failed || end.Reason != ReasonCameraUnavailable || end.Actor.UserID != "u1" {
		t.Errorf("entry = %+v", end)
	}
	// The ticket was not used: once the camera is back it still opens.
	cam.SetFaults(camsim.Faults{})
	eventually(t, 15*time.Second, "the same ticket plays once the camera is back", func() bool {
		v, err := play(tk.URL, gortsplib.ProtocolTCP)
		if err != nil {
			return false
		}
		defer v.close()
		eventually(t, 10*time.Second, "decodable", v.decodable)
		return true
	})
}
