package stream

import (
	"strconv"
	"strings"
	"testing"
)

// For the WebRTC comparison (whepcompare_test.go, package stream_test: it
// needs stream/whep, which imports this package).

// CmpSource starts the synthetic 2 Mbit/s cameras of BenchmarkCompareMediamtx
// in a child process and returns their RTSP address (rtsp://addr/camN).
func CmpSource(b *testing.B, ncams int) string {
	_, _, out := child(b, "source2m", "GWANJE_CMP_CAMERAS="+strconv.Itoa(ncams))
	var addr string
	for out.Scan() {
		if a, ok := strings.CutPrefix(out.Text(), "ADDR "); ok {
			addr = a
		}
		if out.Text() == "READY" {
			break
		}
	}
	if addr == "" {
		b.Fatal("source did not start")
	}
	return addr
}

// CmpMeasureReport measures pid's CPU while readers of role (cmpreaders:
// RTSP, whepreaders: WebRTC) play urls, and reports it as the comparison
// does.
func CmpMeasureReport(b *testing.B, role string, pid int, urls []string, secs, ncams, nview int, drops func() float64) {
	var d0 float64
	res := cmpMeasureWith(b, role, pid, urls, secs, func() {
		if drops != nil {
			d0 = drops()
		}
	})
	res.srvDrops, res.srvBytes = -1, -1
	if drops != nil {
		res.srvDrops = drops() - d0
	}
	res.report(b, ncams, nview)
}

// EnvInt is envInt.
var EnvInt = envInt

// Value reads a counter or gauge.
var Value = value

// CmpMediamtxWebRTCReport runs mediamtx (GWANJE_MEDIAMTX) with its WebRTC
// server on the source's cameras, measures it with WHEP readers and
// reports it; skipped without GWANJE_MEDIAMTX.
func CmpMediamtxWebRTCReport(b *testing.B, src string, ncams, nview, secs int) {
	cmpMediamtxWith(b, src, ncams, nview, secs, true).report(b, ncams, nview)
}
