package stream

import (
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"

	"github.com/gwanje/gwanje/audit"
)

func TestViewerGetsDecodableH264(t *testing.T) {
	for _, proto := range []gortsplib.Protocol{gortsplib.ProtocolTCP, gortsplib.ProtocolUDP} {
		t.Run(proto.String(), func(t *testing.T) {
			var opts []envOpt
			if proto == gortsplib.ProtocolUDP {
				rtp := freeUDPPair(t)
				opts = append(opts, func(c *Config) { c.UDPRTPAddress = rtp })
			}
			e := newEnv(t, 1, opts...)
			tk := e.ticket("u1", "s1", "cam1", "main")
			v, err := play(tk.URL, proto)
			if err != nil {
				t.Fatalf("play: %v", err)
			}
			eventually(t, 10*time.Second, "decodable H.264 and 30 access units", func() bool {
				aus, _, _, _, _, _, _ := v.stats()
				return v.decodable() && aus >= 30
			})
			aus, idr, sps, pps, nonMono, tsBack, bytes := v.stats()
			t.Logf("aus=%d idr=%d sps=%v pps=%v bytes=%d", aus, idr, sps, pps, bytes)
			if nonMono != 0 || tsBack != 0 {
				t.Errorf("timestamps not monotonic: %d PTS and %d RTP steps back", nonMono, tsBack)
			}
			if len(v.mediaKind) != 1 || v.mediaKind[0] != "video" {
				t.Errorf("medias offered = %v, want video only", v.mediaKind)
			}
			list := e.relay.List(Filter{UserID: "u1"})
			if len(list) != 1 || !list[0].Playing || list[0].CameraID != "cam1" || list[0].Transport != proto.String() {
				t.Errorf("List = %+v", list)
			}
			v.close()
			eventually(t, 5*time.Second, "live.view.end", func() bool { return len(e.audit.ends()) == 1 })
			end := e.audit.ends()[0]
			if end.Actor.UserID != "u1" || end.SessionID != "s1" || end.Cameras[0] != "cam1" || !end.Live ||
				end.Outcome != audit.Success || end.Reason != ReasonClientClosed {
				t.Errorf("end entry = %+v", end)
			}
			if b, _ := end.Details["bytes"].(int64); b <= 0 {
				t.Errorf("end entry bytes = %v", end.Details["bytes"])
			}
			if d, _ := end.Details["duration_ms"].(int64); d <= 0 {
				t.Errorf("end entry duration = %v", end.Details["duration_ms"])
			}
			// And it is in the audit store.
			page, err := e.audit.store.Query(e.ctx, audit.Filter{Types: []string{EntryViewEnd}, UserID: "u1"})
			if err != nil || len(page.Entries) != 1 {
				t.Fatalf("audit query: %v, %d entries", err, len(page.Entries))
			}
			if got := value(e.relay.Metrics().Viewers); got != 0 {
				t.Errorf("viewers gauge = %v after close", got)
			}
		})
	}
}
