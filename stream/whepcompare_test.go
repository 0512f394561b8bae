package stream_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gwanje/gwanje/audit"
	"github.com/gwanje/gwanje/internal/pgtest"
	"github.com/gwanje/gwanje/stream"
	"github.com/gwanje/gwanje/stream/whep"
)

// BenchmarkCompareWebRTC measures this node's CPU per Gbit delivered to
// WebRTC (WHEP) viewers, and to RTSP viewers of the same relay in the same
// run, on the load of BenchmarkCompareMediamtx: a child process serves
// GWANJE_CMP_CAMERAS synthetic cameras (default 4; H.264, 25 fps, about
// 2 Mbit/s), the relay pulls each once, and a readers child plays each
// camera GWANJE_CMP_VIEWERS times (default 10): pion WHEP viewers over
// UDP, then RTSP/TCP readers. The server's CPU (this process: relay, WHEP
// endpoint, the idle benchmark) is measured over GWANJE_CMP_SECONDS
// (default 20) after a 3 s settle. Bytes are RTP as received (after SRTP
// for WebRTC; with the 4-byte interleave header for RTSP).
//
//	go test ./stream -run '^$' -bench CompareWebRTC -benchtime 1x -count 3
//
// With GWANJE_MEDIAMTX (a mediamtx binary, built outside the repo as for
// BenchmarkCompareMediamtx) the same readers also play the cameras through
// mediamtx's WebRTC server, measured the same way; without it that part is
// skipped, saying so.
func BenchmarkCompareWebRTC(b *testing.B) {
	ncams := stream.EnvInt("GWANJE_CMP_CAMERAS", 4)
	nview := stream.EnvInt("GWANJE_CMP_VIEWERS", 10)
	secs := stream.EnvInt("GWANJE_CMP_SECONDS", 20)
	src := stream.CmpSource(b, ncams)
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	pool := pgtest.Pool(b)
	cams := srcCameras(src)
	var seq atomic.Int64
	aud := auditorFunc(func(context.Context, audit.Entry) (audit.Record, error) { return audit.Record{Seq: seq.Add(1)}, nil })
	relay, err := stream.New(stream.Config{RTSPAddress: "127.0.0.1:0", UDPRTPAddress: "-", Tickets: stream.NewTickets(pool, nil),
		Cameras: cams, Auditor: aud, Linger: time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	if err := relay.Start(ctx); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { relay.Close() })
	node := &webNode{relay: relay}
	tickets := stream.NewTickets(pool, node)
	w, err := whep.New(whep.Config{Source: whep.RelaySource{Relay: relay}, Tickets: tickets, Auditor: aud, Views: relay,
		NodeID: "bench", UDPAddr: "127.0.0.1:0", TCPAddr: "-", MaxSessions: 4096, MaxPerSource: 4096})
	if err != nil {
		b.Fatal(err)
	}
	if err := w.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { w.Close() })
	srv := httptest.NewServer(w.Handler())
	b.Cleanup(srv.Close)
	node.web = srv.URL
	urls := func(transport string) []string {
		var out []string
		for c := range ncams {
			for v := range nview {
				tk, err := tickets.IssueTicket(ctx, stream.TicketRequest{UserID: fmt.Sprintf("u%d", v), CameraID: fmt.Sprintf("cam%d", c),
					Profile: "main", AuditSeq: seq.Add(1), Transport: transport, TTL: 5 * time.Minute})
				if err != nil {
					b.Fatal(err)
				}
				out = append(out, tk.URL)
			}
		}
		return out
	}
	drops := func() float64 { return stream.Value(relay.Metrics().Drops) }
	gw := func() {
		b.Run("webrtc", func(b *testing.B) {
			// The previous round's sessions (-count) are gone first.
			t0, n0 := time.Now(), w.Sessions()
			for deadline := time.Now().Add(time.Minute); w.Sessions() > 0 && time.Now().Before(deadline); {
				time.Sleep(100 * time.Millisecond)
			}
			if n0 > 0 {
				b.Logf("waited %v for the previous round's %d WebRTC sessions to end; %d left", time.Since(t0).Round(time.Millisecond), n0, w.Sessions())
			}
			stream.CmpMeasureReport(b, "whepreaders", os.Getpid(), urls(stream.TransportWebRTC), secs, ncams, nview, drops)
		})
	}
	mm := func() {
		b.Run("mediamtx-webrtc", func(b *testing.B) {
			stream.CmpMediamtxWebRTCReport(b, src, ncams, nview, secs)
		})
	}
	// Alternate the order between repetitions (-count), so that neither
	// server always runs first on a shared machine.
	if webrtcRound.Add(1)%2 == 1 {
		gw()
		mm()
	} else {
		mm()
		gw()
	}
	b.Run("rtsp", func(b *testing.B) {
		stream.CmpMeasureReport(b, "cmpreaders", os.Getpid(), urls(stream.TransportRTSP), secs, ncams, nview, drops)
	})
}

var webrtcRound atomic.Int64

type auditorFunc func(context.Context, audit.Entry) (audit.Record, error)

func (f auditorFunc) Append(ctx context.Context, e audit.Entry) (audit.Record, error) {
	return f(ctx, e)
}

type srcCameras string

func (s srcCameras) Upstream(_ context.Context, id, _ string) (stream.Upstream, error) {
	return stream.Upstream{URL: fmt.Sprintf("rtsp://%s/%s", string(s), id)}, nil
}

type webNode struct {
	relay *stream.Relay
	web   string
}

func (n *webNode) PickNode(context.Context, string) (stream.Node, error) {
	node := n.relay.Node()
	node.WebURL = n.web
	return node, nil
}
