package stream

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/sdp"
)

// BenchmarkCompareMediamtx runs the same work through this relay and through
// mediamtx, one after the other in the same run, and reports each server's
// CPU-seconds per Gbit delivered to the readers:
//
//	GWANJE_MEDIAMTX=/path/to/mediamtx go test ./stream -run '^$' \
//	    -bench CompareMediamtx -benchtime 1x -count 3
//
// The work: a source process (this test binary, role "source2m") serves N
// synthetic H.264 cameras over RTSP/TCP at 25 fps, a 2 s group of pictures
// with an IDR of 80 KB and P frames of 8.5 KB (about 2 Mbit/s each); the
// server under test pulls every camera once over TCP, and a readers process
// (role "cmpreaders") plays each camera V times over RTSP/TCP with a raw
// client that parses the interleaved frames and counts bytes, RTP packets,
// frames (marker bits) and sequence gaps (packets the server dropped).
//
// Both servers are measured the same way: utime+stime of the server's
// process from /proc/<pid>/stat over the same window (GWANJE_CMP_SECONDS,
// default 20, after a 3 s settle), divided by the bytes the readers received
// in that window. Our relay runs in the benchmark process itself (so its
// figure includes the idle benchmark harness and the audit client); source
// and readers run in child processes and are not counted. Everything is on
// 127.0.0.1. The mediamtx half is skipped when GWANJE_MEDIAMTX is unset.
//
// GWANJE_CMP_CAMERAS (default 20) and GWANJE_CMP_VIEWERS (default 25) set
// the load.
func BenchmarkCompareMediamtx(b *testing.B) {
	ncams := envInt("GWANJE_CMP_CAMERAS", 20)
	nview := envInt("GWANJE_CMP_VIEWERS", 25)
	secs := envInt("GWANJE_CMP_SECONDS", 20)

	_, srcIn, srcOut := child(b, "source2m", fmt.Sprintf("GWANJE_CMP_CAMERAS=%d", ncams))
	_ = srcIn
	var srcAddr string
	for srcOut.Scan() {
		if a, ok := strings.CutPrefix(srcOut.Text(), "ADDR "); ok {
			srcAddr = a
		}
		if srcOut.Text() == "READY" {
			break
		}
	}
	if srcAddr == "" {
		b.Fatal("source did not start")
	}
	b.Logf("source: %d synthetic cameras at rtsp://%s/camN (H.264, 25 fps, GOP 2 s, IDR 80 KB, P 8.5 KB)", ncams, srcAddr)

	run := func(name string, f func(b *testing.B) cmpResult) {
		b.Run(name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if i > 0 {
					break // one measured window; use -benchtime 1x
				}
				res := f(b)
				res.report(b, ncams, nview)
			}
		})
	}
	gw := func(b *testing.B) cmpResult { return cmpGwanje(b, srcAddr, ncams, nview, secs) }
	mm := func(b *testing.B) cmpResult { return cmpMediamtx(b, srcAddr, ncams, nview, secs) }
	// Alternate the order between repetitions (-count), so that neither
	// server always runs first on a shared machine.
	if cmpRound.Add(1)%2 == 1 {
		run("gwanje", gw)
		run("mediamtx", mm)
	} else {
		run("mediamtx", mm)
		run("gwanje", gw)
	}
}

var cmpRound atomic.Int64

type cmpResult struct {
	cpu       time.Duration // server process CPU in the window
	wall      time.Duration
	stats     readerStats // received in the window
	up        int
	srvDrops  float64 // the server's own drop count, when known (-1: unknown)
	srvBytes  float64 // the server's own bytes-out count, when known (-1: unknown)
	rss       string
	machIdle  float64 // share of the machine's CPU idle during the window
	otherNote string
}

func (r cmpResult) report(b *testing.B, ncams, nview int) {
	gbit := float64(r.stats.Bytes) * 8 / 1e9
	el := r.wall.Seconds()
	b.ReportMetric(float64(r.stats.Bytes)*8/el/1e6, "Mbit/s-out")
	b.ReportMetric(r.cpu.Seconds()/el, "cores")
	b.ReportMetric(r.cpu.Seconds()/gbit, "CPU-s/Gbit")
	b.ReportMetric(float64(r.stats.Gaps), "lost-pkts")
	b.ReportMetric(float64(r.stats.Frames)/float64(r.up)/el, "fps/reader")
	b.Logf("%d cameras x %d readers (%d playing), window %v: readers got %d bytes (%.1f Mbit/s), %d RTP packets, %d frames (%.2f fps/reader), %d packets lost (seq gaps); server CPU %.2fs (%.3f cores) = %.3f CPU-s/Gbit; server drops %v, server bytes-out %v; RSS %s; machine idle %.0f%%%s",
		ncams, nview, r.up, r.wall.Round(time.Millisecond), r.stats.Bytes, float64(r.stats.Bytes)*8/el/1e6,
		r.stats.Packets, r.stats.Frames, float64(r.stats.Frames)/float64(r.up)/el, r.stats.Gaps,
		r.cpu.Seconds(), r.cpu.Seconds()/el, r.cpu.Seconds()/gbit, unknownIfNeg(r.srvDrops), unknownIfNeg(r.srvBytes),
		r.rss, 100*r.machIdle, r.otherNote)
}

func unknownIfNeg(v float64) string {
	if v < 0 {
		return "n/a"
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}

// cmpGwanje relays the source's cameras through this package's relay (in
// this process) to the readers.
func cmpGwanje(b *testing.B, srcAddr string, ncams, nview, secs int) cmpResult {
	e := newEnv(b, 0)
	for i := 0; i < ncams; i++ {
		id := fmt.Sprintf("cam%d", i)
		e.extUpstream(benchCam{ID: id, URL: fmt.Sprintf("rtsp://%s/%s", srcAddr, id)})
	}
	var urls []string
	for c := 0; c < ncams; c++ {
		for v := 0; v < nview; v++ {
			urls = append(urls, e.ticket(fmt.Sprintf("user%d", v), "s", fmt.Sprintf("cam%d", c), "main").URL)
		}
	}
	m := e.relay.Metrics()
	var d0, o0 float64
	res := cmpMeasure(b, os.Getpid(), urls, secs, func() { d0, o0 = value(m.Drops), value(m.BytesOut) })
	res.srvDrops, res.srvBytes = value(m.Drops)-d0, value(m.BytesOut)-o0
	return res
}

// cmpMediamtx runs the mediamtx binary named by GWANJE_MEDIAMTX on loopback
// with one always-on path per camera that pulls it over TCP.
func cmpMediamtx(b *testing.B, srcAddr string, ncams, nview, secs int) cmpResult {
	return cmpMediamtxWith(b, srcAddr, ncams, nview, secs, false)
}

// cmpMediamtxWith is cmpMediamtx with, when webrtc is set, mediamtx's
// WebRTC server on (its WHEP endpoint on loopback, one UDP port) and the
// readers WHEP viewers (whepreaders) instead of RTSP ones.
func cmpMediamtxWith(b *testing.B, srcAddr string, ncams, nview, secs int, webrtc bool) cmpResult {
	bin := os.Getenv("GWANJE_MEDIAMTX")
	if bin == "" {
		b.Skip("GWANJE_MEDIAMTX is not set: the mediamtx half of the comparison is skipped (set it to a mediamtx binary)")
	}
	dir := b.TempDir()
	port := freeTCPPort(b)
	webrtcCfg := "webrtc: no\n"
	var whepPort int
	if webrtc {
		whepPort = freeTCPPort(b)
		webrtcCfg = fmt.Sprintf(`webrtc: yes
webrtcAddress: 127.0.0.1:%d
webrtcEncryption: no
webrtcLocalUDPAddress: 127.0.0.1:%d
webrtcLocalTCPAddress: ""
webrtcIPsFromInterfaces: no
webrtcAdditionalHosts: [127.0.0.1]
`, whepPort, freeTCPPort(b)) // a free TCP port number is most likely free for UDP too
	}
	var cfg strings.Builder
	fmt.Fprintf(&cfg, `logLevel: info
logDestinations: [stdout]
api: no
metrics: no
pprof: no
playback: no
rtsp: yes
rtspTransports: [tcp]
rtspEncryption: "no"
rtspAddress: 127.0.0.1:%d
rtmp: no
hls: no
%ssrt: no
moq: no
authInternalUsers:
  - user: any
    pass:
    ips: ["127.0.0.1"]
    permissions:
      - action: read
paths:
`, port, webrtcCfg)
	for i := 0; i < ncams; i++ {
		fmt.Fprintf(&cfg, "  cam%d:\n    source: rtsp://%s/cam%d\n    rtspTransport: tcp\n    sourceOnDemand: no\n", i, srcAddr, i)
	}
	conf := filepath.Join(dir, "mediamtx.yml")
	if err := os.WriteFile(conf, []byte(cfg.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "mediamtx.log"))
	if err != nil {
		b.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(bin, conf)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	if ver, err := exec.Command(bin, "--version").Output(); err == nil {
		b.Logf("mediamtx %s at %s, rtsp 127.0.0.1:%d", strings.TrimSpace(string(ver)), bin, port)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logf.Name())
			b.Fatalf("mediamtx did not listen on %s: %s", addr, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Wait until every path pulls its camera.
	for {
		log, _ := os.ReadFile(logf.Name())
		if n := strings.Count(string(log), "stream is available"); n >= ncams {
			break
		}
		if time.Now().After(deadline.Add(20 * time.Second)) {
			b.Fatalf("mediamtx did not pull all %d cameras: %s", ncams, log)
		}
		time.Sleep(100 * time.Millisecond)
	}
	var urls []string
	for c := 0; c < ncams; c++ {
		for v := 0; v < nview; v++ {
			if webrtc {
				urls = append(urls, fmt.Sprintf("http://127.0.0.1:%d/cam%d/whep", whepPort, c))
			} else {
				urls = append(urls, fmt.Sprintf("rtsp://%s/cam%d", addr, c))
			}
		}
	}
	role := "cmpreaders"
	if webrtc {
		role = "whepreaders"
	}
	res := cmpMeasureWith(b, role, cmd.Process.Pid, urls, secs, nil)
	res.srvDrops, res.srvBytes = -1, -1
	log, _ := os.ReadFile(logf.Name())
	var warns []string
	for _, l := range strings.Split(string(log), "\n") {
		if strings.Contains(l, " WAR ") || strings.Contains(l, " ERR ") {
			warns = append(warns, l)
		}
	}
	if len(warns) > 0 {
		res.otherNote = fmt.Sprintf("; mediamtx logged %d warnings/errors (first: %.300q)", len(warns), warns[0])
	}
	return res
}

// cmpMeasure starts the readers on urls, waits until they play and a 3 s
// settle, then measures pid's CPU and the readers' counts over secs.
func cmpMeasure(b *testing.B, pid int, urls []string, secs int, atStart func()) cmpResult {
	return cmpMeasureWith(b, "cmpreaders", pid, urls, secs, atStart)
}

// cmpMeasureWith is cmpMeasure with the readers of role: cmpreaders (RTSP)
// or whepreaders (WebRTC).
func cmpMeasureWith(b *testing.B, role string, pid int, urls []string, secs int, atStart func()) cmpResult {
	_, rdIn, rdOut := child(b, role)
	for _, u := range urls {
		fmt.Fprintln(rdIn, u)
	}
	fmt.Fprintln(rdIn, "GO")
	if !rdOut.Scan() || !strings.HasPrefix(rdOut.Text(), "UP ") {
		b.Fatal("readers did not start")
	}
	up, _ := strconv.Atoi(strings.TrimPrefix(rdOut.Text(), "UP "))
	if up < len(urls) {
		b.Logf("only %d of %d readers play", up, len(urls))
	}
	mark := func() readerStats {
		fmt.Fprintln(rdIn, "MARK")
		if !rdOut.Scan() {
			b.Fatal("readers gone")
		}
		var s readerStats
		if err := json.Unmarshal(rdOut.Bytes(), &s); err != nil {
			b.Fatalf("readers: %q: %v", rdOut.Text(), err)
		}
		return s
	}
	time.Sleep(3 * time.Second) // settle: the keyframe bursts of joining readers are over
	s0 := mark()
	if atStart != nil {
		atStart()
	}
	idle0, total0 := machineCPU()
	cpu0, t0 := procCPU(b, pid), time.Now()
	b.ResetTimer()
	time.Sleep(time.Duration(secs) * time.Second)
	b.StopTimer()
	cpu1, el := procCPU(b, pid), time.Since(t0)
	idle1, total1 := machineCPU()
	s1 := mark()
	fmt.Fprintln(rdIn, "STOP")
	return cmpResult{
		cpu: cpu1 - cpu0, wall: el, up: up,
		stats: readerStats{Bytes: s1.Bytes - s0.Bytes, Packets: s1.Packets - s0.Packets,
			Frames: s1.Frames - s0.Frames, Gaps: s1.Gaps - s0.Gaps},
		rss:      procRSS(pid),
		machIdle: float64(idle1-idle0) / float64(max(total1-total0, 1)),
	}
}

// procCPU returns utime+stime of a process, from /proc/<pid>/stat.
func procCPU(b *testing.B, pid int) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	s := string(raw)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:]) // fields from 3 (state) on
	ut, _ := strconv.ParseInt(f[11], 10, 64)                 // field 14
	st, _ := strconv.ParseInt(f[12], 10, 64)                 // field 15
	const clkTck = 100                                       // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / clkTck
}

func procRSS(pid int) string {
	raw, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, l := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}

// machineCPU returns the idle and total jiffies of the whole machine.
func machineCPU() (idle, total int64) {
	raw, _ := os.ReadFile("/proc/stat")
	line, _, _ := strings.Cut(string(raw), "\n")
	for i, f := range strings.Fields(line)[1:] {
		v, _ := strconv.ParseInt(f, 10, 64)
		total += v
		if i == 3 || i == 4 { // idle, iowait
			idle += v
		}
	}
	return idle, total
}

func freeTCPPort(b *testing.B) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// ---- child: the 2 Mbit/s source ----

// A 1920x1080 SPS and its PPS (real encoder output); the slices are random.
var (
	cmpSPS = []byte{0x67, 0x64, 0x00, 0x28, 0xac, 0xd9, 0x40, 0x78, 0x02, 0x27, 0xe5, 0x84, 0x00, 0x00, 0x03, 0x00,
		0x04, 0x00, 0x00, 0x03, 0x00, 0xf0, 0x3c, 0x60, 0xc6, 0x58}
	cmpPPS = []byte{0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0}
)

const (
	cmpIDRSize = 80_000
	cmpPSize   = 8_500
	cmpGOP     = 50 // frames: 2 s at 25 fps
)

type srcHandler struct {
	streams map[string]*gortsplib.ServerStream
}

func (h *srcHandler) stream(path string) (*base.Response, *gortsplib.ServerStream, error) {
	st := h.streams[strings.TrimSuffix(strings.TrimPrefix(path, "/"), "/")]
	if st == nil {
		return &base.Response{StatusCode: base.StatusNotFound}, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, st, nil
}

func (h *srcHandler) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	return h.stream(ctx.Path)
}

func (h *srcHandler) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	return h.stream(ctx.Path)
}

func (h *srcHandler) OnPlay(*gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// cmpSource serves GWANJE_CMP_CAMERAS synthetic cameras /cam0.. over
// RTSP/TCP on loopback, prints "ADDR host:port" and "READY", and runs
// until stdin closes.
func cmpSource(t *testing.T) {
	n := envInt("GWANJE_CMP_CAMERAS", 20)
	h := &srcHandler{streams: map[string]*gortsplib.ServerStream{}}
	srv := &gortsplib.Server{Handler: h, RTSPAddress: "127.0.0.1:0", WriteQueueSize: 1024}
	var ln net.Listener
	srv.Listen = func(network, address string) (net.Listener, error) {
		l, err := net.Listen(network, address)
		ln = l
		return l, err
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	slice := func(hdr byte, size int) []byte {
		p := make([]byte, size)
		for i := range p {
			p[i] = byte(rng.UintN(256))
		}
		p[0] = hdr
		return p
	}
	idr := slice(0x65, cmpIDRSize)
	ps := make([][]byte, 8) // a few different P slices
	for i := range ps {
		ps[i] = slice(0x41, cmpPSize)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		forma := &format.H264{PayloadTyp: 96, PacketizationMode: 1, SPS: cmpSPS, PPS: cmpPPS}
		medi := &description.Media{Type: description.MediaTypeVideo, Formats: []format.Format{forma}}
		st := &gortsplib.ServerStream{Server: srv, Desc: &description.Session{Medias: []*description.Media{medi}}}
		if err := st.Initialize(); err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		name := fmt.Sprintf("cam%d", i)
		h.streams[name] = st
		enc, err := forma.CreateEncoder()
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			// Stagger the cameras over the frame period and the GOP.
			frame := i * cmpGOP / max(n, 1)
			time.Sleep(time.Duration(i) * 40 * time.Millisecond / time.Duration(max(n, 1)))
			tick := time.NewTicker(40 * time.Millisecond)
			defer tick.Stop()
			for {
				var au [][]byte
				if frame%cmpGOP == 0 {
					au = [][]byte{cmpSPS, cmpPPS, idr}
				} else {
					au = [][]byte{ps[frame%len(ps)]}
				}
				pkts, err := enc.Encode(au)
				if err != nil {
					panic(err)
				}
				now := time.Now()
				for _, p := range pkts {
					p.Timestamp = uint32(frame * 3600)
					st.WritePacketRTPWithNTP(medi, p, now)
				}
				frame++
				select {
				case <-tick.C:
				case <-stop:
					return
				}
			}
		}(i)
	}
	fmt.Printf("ADDR %s\n", ln.Addr())
	fmt.Println("READY")
	io.Copy(io.Discard, os.Stdin)
	close(stop)
	wg.Wait()
}

// ---- child: the readers ----

type readerStats struct {
	Bytes, Packets, Frames, Gaps int64
}

// cmpReaders reads URLs (one a line) from stdin until "GO", plays each over
// RTSP/TCP, prints "UP n"; then on each "MARK" prints the counts so far as
// JSON, and on "STOP" (or EOF) exits.
func cmpReaders(t *testing.T) {
	sc := bufio.NewScanner(os.Stdin)
	var urls []string
	for sc.Scan() && sc.Text() != "GO" {
		urls = append(urls, sc.Text())
	}
	var bytes, packets, frames, gaps atomic.Int64
	var up atomic.Int32
	sem := make(chan struct{}, 32)
	for _, u := range urls {
		sem <- struct{}{}
		go func(u string) {
			br, err := cmpPlay(u)
			<-sem
			if err != nil {
				fmt.Fprintln(os.Stderr, "reader:", err)
				return
			}
			up.Add(1)
			var last uint16
			var have bool
			for {
				hdr, err := br.Peek(4)
				if err != nil {
					return
				}
				if hdr[0] != '$' { // an RTSP message from the server: skip its line
					line, err := br.ReadSlice('\n')
					bytes.Add(int64(len(line)))
					if err != nil && err != bufio.ErrBufferFull {
						return
					}
					continue
				}
				ch, size := hdr[1], int(binary.BigEndian.Uint16(hdr[2:]))
				if ch == 0 && size >= 12 {
					h, err := br.Peek(4 + 12)
					if err != nil {
						return
					}
					seq := binary.BigEndian.Uint16(h[4+2:])
					if have {
						if d := seq - last - 1; d != 0 && d < 0x8000 {
							gaps.Add(int64(d))
						}
					}
					last, have = seq, true
					packets.Add(1)
					if h[4+1]&0x80 != 0 {
						frames.Add(1)
					}
				}
				if _, err := br.Discard(4 + size); err != nil {
					return
				}
				bytes.Add(int64(4 + size))
			}
		}(u)
	}
	deadline := time.Now().Add(60 * time.Second)
	for int(up.Load()) < len(urls) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	fmt.Printf("UP %d\n", up.Load())
	for sc.Scan() {
		switch sc.Text() {
		case "MARK":
			out, _ := json.Marshal(readerStats{bytes.Load(), packets.Load(), frames.Load(), gaps.Load()})
			fmt.Println(string(out))
		case "STOP":
			return
		}
	}
}

// cmpPlay opens u over RTSP/TCP (DESCRIBE, SETUP of the first media, PLAY),
// retrying DESCRIBE while the server has no stream yet, and returns the
// connection's reader.
func cmpPlay(u string) (*bufio.Reader, error) {
	pu, err := base.ParseURL(u)
	if err != nil {
		return nil, err
	}
	var c net.Conn
	var br *bufio.Reader
	cseq := 0
	do := func(method string, ru *base.URL, hdr base.Header) (*base.Response, error) {
		cseq++
		if hdr == nil {
			hdr = base.Header{}
		}
		hdr["CSeq"] = base.HeaderValue{strconv.Itoa(cseq)}
		req := base.Request{Method: base.Method(method), URL: ru, Header: hdr}
		raw, _ := req.Marshal()
		if _, err := c.Write(raw); err != nil {
			return nil, err
		}
		c.SetReadDeadline(time.Now().Add(15 * time.Second))
		var res base.Response
		if err := res.Unmarshal(br); err != nil {
			return nil, err
		}
		if res.StatusCode != base.StatusOK {
			return &res, fmt.Errorf("%s %s: %d", method, u, res.StatusCode)
		}
		return &res, nil
	}
	var res *base.Response
	for try := 0; ; try++ {
		// A new connection for each attempt: a server may close it after
		// refusing (mediamtx before its source is ready).
		c, err = net.Dial("tcp", pu.Host)
		if err == nil {
			br = bufio.NewReaderSize(c, 64<<10)
			res, err = do("DESCRIBE", pu, base.Header{"Accept": base.HeaderValue{"application/sdp"}})
			if err == nil {
				break
			}
			c.Close()
		}
		if try >= 100 {
			return nil, err
		}
		time.Sleep(100 * time.Millisecond)
	}
	var ssd sdp.SessionDescription
	if err := ssd.Unmarshal(res.Body); err != nil {
		c.Close()
		return nil, err
	}
	var desc description.Session
	if err := desc.Unmarshal(&ssd); err != nil {
		c.Close()
		return nil, err
	}
	baseURL := pu
	if cb, ok := res.Header["Content-Base"]; ok && len(cb) == 1 {
		if bu, err := base.ParseURL(cb[0]); err == nil {
			baseURL = bu
		}
	}
	mu, err := desc.Medias[0].URL(baseURL)
	if err != nil {
		c.Close()
		return nil, err
	}
	res, err = do("SETUP", mu, base.Header{"Transport": base.HeaderValue{"RTP/AVP/TCP;unicast;interleaved=0-1"}})
	if err != nil {
		c.Close()
		return nil, err
	}
	sess, _, _ := strings.Cut(res.Header["Session"][0], ";")
	if _, err := do("PLAY", pu, base.Header{"Session": base.HeaderValue{sess}}); err != nil {
		c.Close()
		return nil, err
	}
	c.SetReadDeadline(time.Time{})
	return br, nil
}
