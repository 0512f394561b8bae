package camsim

import (
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"
)

type auStats struct {
	mu       sync.Mutex
	aus      int
	sps, pps bool
	vps      bool
	idr      int
	lastPTS  int64
	monotone bool
}

// readStream plays url with the gortsplib client until cond holds.
func readStream(t *testing.T, url string, cond func(s *auStats) bool) *auStats {
	t.Helper()
	u, err := base.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Protocol: ptr(gortsplib.ProtocolTCP)}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	desc, _, err := c.Describe(u)
	if err != nil {
		t.Fatalf("DESCRIBE %s: %v", url, err)
	}
	st := &auStats{monotone: true, lastPTS: -1}
	var h264 *format.H264
	var h265 *format.H265
	var medi *description.Media
	if medi = desc.FindFormat(&h264); medi == nil {
		if medi = desc.FindFormat(&h265); medi == nil {
			t.Fatal("no H.264/H.265 media")
		}
	}
	if _, err := c.Setup(desc.BaseURL, medi, 0, 0); err != nil {
		t.Fatal(err)
	}
	if h264 != nil {
		dec, err := h264.CreateDecoder()
		if err != nil {
			t.Fatal(err)
		}
		c.OnPacketRTP(medi, h264, func(pkt *rtp.Packet) {
			pts, ok := c.PacketPTS(medi, pkt)
			au, err := dec.Decode(pkt)
			if err != nil || !ok {
				return // fragments and the first non-IDR frames
			}
			st.mu.Lock()
			defer st.mu.Unlock()
			st.aus++
			for _, n := range au {
				switch n[0] & 0x1f {
				case 7:
					st.sps = true
				case 8:
					st.pps = true
				case 5:
					st.idr++
				}
			}
			if pts <= st.lastPTS {
				st.monotone = false
			}
			st.lastPTS = pts
		})
	} else {
		dec, err := h265.CreateDecoder()
		if err != nil {
			t.Fatal(err)
		}
		c.OnPacketRTP(medi, h265, func(pkt *rtp.Packet) {
			pts, ok := c.PacketPTS(medi, pkt)
			au, err := dec.Decode(pkt)
			if err != nil || !ok {
				return
			}
			st.mu.Lock()
			defer st.mu.Unlock()
			st.aus++
			for _, n := range au {
				switch (n[0] >> 1) & 0x3f {
				case 32:
					st.vps = true
				case 33:
					st.sps = true
				case 34:
					st.pps = true
				case 19, 20:
					st.idr++
				}
			}
			if pts <= st.lastPTS {
				st.monotone = false
			}
			st.lastPTS = pts
		})
	}
	if _, err := c.Play(nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "access units", 30*time.Second, func() bool {
		st.mu.Lock()
		defer st.mu.Unlock()
		return cond(st)
	})
	return st
}

func ptr[T any](v T) *T { return &v }

func TestRTSPStreamsDecodableAccessUnits(t *testing.T) {
	for _, d := range Dialects {
		t.Run(string(d), func(t *testing.T) {
			cam := startCam(t, Config{Dialect: d, Username: "op", Password: "pw", KeyframeInterval: time.Second})
			for _, p := range cam.Profiles() {
				url := cam.RTSPURL(p)
				authURL := "rtsp://op:pw@" + url[len("rtsp://"):]
				// 45 AUs cross the 40-frame loop boundary: timestamps must stay monotonic.
				st := readStream(t, authURL, func(s *auStats) bool { return s.aus >= 45 && s.idr >= 2 })
				if !st.sps || !st.pps || st.idr < 2 || !st.monotone || (p == ProfileH265 && !st.vps) {
					t.Errorf("%s: %+v", p, st)
				}
			}
			// Once every reader has left, production stops.
			waitFor(t, "producers to stop", 10*time.Second, func() bool {
				cam.mu.Lock()
				rs := cam.rtsp
				cam.mu.Unlock()
				rs.mu.Lock()
				defer rs.mu.Unlock()
				for _, ps := range rs.streams {
					if ps.readers != 0 || ps.stop != nil {
						return false
					}
				}
				return true
			})
		})
	}
}

func TestRTSPAuthAndBadRequests(t *testing.T) {
	cam := startCam(t, Config{Dialect: DialectDahua})
	for name, url := range map[string]string{
		"no credentials":    cam.RTSPURL(ProfileMain),
		"wrong credentials": "rtsp://admin:bad@" + cam.RTSPURL(ProfileMain)[len("rtsp://"):],
		"unknown path":      "rtsp://admin:camsim@" + cam.RTSPAddr() + "/nope",
	} {
		u, err := base.ParseURL(url)
		if err != nil {
			t.Fatal(err)
		}
		c := gortsplib.Client{Scheme: u.Scheme, Host: u.Host}
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.Describe(u); err == nil {
			t.Errorf("%s: DESCRIBE succeeded", name)
		}
		c.Close()
	}
	// The camera still serves after bad requests.
	st := readStream(t, "rtsp://admin:camsim@"+cam.RTSPURL(ProfileSub)[len("rtsp://"):], func(s *auStats) bool { return s.aus >= 3 })
	if !st.sps {
		t.Errorf("after bad requests: %+v", st)
	}
}
