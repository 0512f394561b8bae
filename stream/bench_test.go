package stream

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"

	"github.com/gwanje/gwanje/camsim"
)

// The fan-out benchmark runs the cameras and the readers in child processes
// (this test binary, re-executed with GWANJE_BENCH_ROLE), so that getrusage
// of the benchmark process measures the relay alone.
//
//	go test ./stream -run '^$' -bench Fanout -benchtime 1x
//
// GWANJE_BENCH_CAMERAS, GWANJE_BENCH_VIEWERS and GWANJE_BENCH_SECONDS change
// the load (defaults 20, 25 and 20).

func envInt(name string, def int) int {
	var v int
	if _, err := fmt.Sscan(os.Getenv(name), &v); err != nil || v <= 0 {
		return def
	}
	return v
}

type benchCam struct {
	ID, URL, User, Pass string
}

// TestBenchHelperProcess is the child side of the fan-out benchmark.
func TestBenchHelperProcess(t *testing.T) {
	switch os.Getenv("GWANJE_BENCH_ROLE") {
	case "cameras":
		benchCameras(t)
	case "readers":
		benchReaders(t)
	case "source2m":
		cmpSource(t)
	case "cmpreaders":
		cmpReaders(t)
	case "whepreaders":
		whepReaders(t)
	default:
		t.Skip("helper process for BenchmarkFanout")
	}
	os.Exit(0)
}

// benchCameras starts N cameras, prints them as JSON lines, and runs until
// stdin closes.
func benchCameras(t *testing.T) {
	n := envInt("GWANJE_BENCH_CAMERAS", 20)
	ctx := context.Background()
	for i := 0; i < n; i++ {
		cam, err := camsim.New(camsim.Config{ID: fmt.Sprintf("bcam%d", i), KeyframeInterval: 2 * time.Second, Logger: testLogger()})
		if err != nil {
			t.Fatal(err)
		}
		if err := cam.Start(ctx); err != nil {
			t.Fatal(err)
		}
		defer cam.Close()
		info := cam.Info()
		b, _ := json.Marshal(benchCam{ID: info.ID, URL: info.RTSPURLs[camsim.ProfileMain], User: info.Username, Pass: info.Password})
		fmt.Println(string(b))
	}
	fmt.Println("READY")
	io.Copy(io.Discard, os.Stdin)
}

// benchReaders reads URLs (one a line) from stdin, plays each over TCP with
// a raw RTSP client that only counts bytes, prints "UP n" when all play,
// and on "STOP" prints the total bytes and exits.
func benchReaders(t *testing.T) {
	sc := bufio.NewScanner(os.Stdin)
	var urls []string
	for sc.Scan() {
		if sc.Text() == "GO" {
			break
		}
		urls = append(urls, sc.Text())
	}
	var total atomic.Int64
	var up atomic.Int32
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for _, u := range urls {
		wg.Add(1)
		sem <- struct{}{}
		go func(u string) {
			defer wg.Done()
			r := dialRaw(t, strings.TrimPrefix(strings.SplitN(strings.TrimPrefix(u, "rtsp://"), "/", 2)[0], ""), 0)
			if res, err := r.do("DESCRIBE", u, nil); err != nil || res.StatusCode != 200 {
				<-sem
				fmt.Fprintln(os.Stderr, "DESCRIBE", err, res)
				return
			}
			res, err := r.do("SETUP", strings.Replace(u, "?", "/trackID=0?", 1),
				base.Header{"Transport": base.HeaderValue{"RTP/AVP/TCP;unicast;interleaved=0-1"}})
			if err != nil || res.StatusCode != 200 {
				<-sem
				fmt.Fprintln(os.Stderr, "SETUP", err)
				return
			}
			sess := strings.Split(res.Header["Session"][0], ";")[0]
			if res, err := r.do("PLAY", u, base.Header{"Session": base.HeaderValue{sess}}); err != nil || res.StatusCode != 200 {
				<-sem
				fmt.Fprintln(os.Stderr, "PLAY", err)
				return
			}
			<-sem
			up.Add(1)
			r.c.SetReadDeadline(time.Time{})
			buf := make([]byte, 64<<10)
			for {
				n, err := r.br.Read(buf)
				total.Add(int64(n))
				if err != nil {
					return
				}
			}
		}(u)
	}
	deadline := time.Now().Add(60 * time.Second)
	for int(up.Load()) < len(urls) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	fmt.Printf("UP %d\n", up.Load())
	for sc.Scan() {
		if sc.Text() == "STOP" {
			break
		}
	}
	fmt.Printf("BYTES %d\n", total.Load())
}

func child(b *testing.B, role string, env ...string) (*exec.Cmd, io.WriteCloser, *bufio.Scanner) {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestBenchHelperProcess$")
	cmd.Env = append(append(os.Environ(), "GWANJE_BENCH_ROLE="+role), env...)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { in.Close(); cmd.Process.Kill(); cmd.Wait() })
	return cmd, in, bufio.NewScanner(out)
}

func rusageCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func vmRSS() string {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			return strings.TrimSpace(strings.TrimPrefix(l, "VmRSS:"))
		}
	}
	return "?"
}

func BenchmarkFanout(b *testing.B) {
	ncams := envInt("GWANJE_BENCH_CAMERAS", 20)
	nview := envInt("GWANJE_BENCH_VIEWERS", 25)
	secs := envInt("GWANJE_BENCH_SECONDS", 20)
	for i := 0; i < b.N; i++ {
		if i > 0 {
			break // one measured window; use -benchtime 1x
		}
		_, camIn, camOut := child(b, "cameras", fmt.Sprintf("GWANJE_BENCH_CAMERAS=%d", ncams))
		_ = camIn
		e := newEnv(b, 0)
		for camOut.Scan() && camOut.Text() != "READY" {
			var c benchCam
			if err := json.Unmarshal(camOut.Bytes(), &c); err != nil {
				b.Fatal(err)
			}
			e.cams.mu.Lock()
			e.cams.cams[c.ID] = nil
			e.cams.mu.Unlock()
			e.extUpstream(c)
		}
		_, rdIn, rdOut := child(b, "readers")
		for c := 0; c < ncams; c++ {
			for v := 0; v < nview; v++ {
				fmt.Fprintln(rdIn, e.ticket(fmt.Sprintf("user%d", v), "s", fmt.Sprintf("bcam%d", c), "main").URL)
			}
		}
		fmt.Fprintln(rdIn, "GO")
		if !rdOut.Scan() || !strings.HasPrefix(rdOut.Text(), "UP") {
			b.Fatal("readers did not start")
		}
		b.Logf("readers: %s of %d", rdOut.Text(), ncams*nview)
		time.Sleep(3 * time.Second) // settle: the keyframe-cache bursts are over
		m := e.relay.Metrics()
		runtime.GC()
		cpu0, out0, in0, drop0, t0 := rusageCPU(), value(m.BytesOut), value(m.BytesIn), value(m.Drops), time.Now()
		b.ResetTimer()
		time.Sleep(time.Duration(secs) * time.Second)
		b.StopTimer()
		cpu, outB, inB, drops, el := rusageCPU()-cpu0, value(m.BytesOut)-out0, value(m.BytesIn)-in0, value(m.Drops)-drop0, time.Since(t0)
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		fmt.Fprintln(rdIn, "STOP")
		var readBytes string
		if rdOut.Scan() {
			readBytes = rdOut.Text()
		}
		gbit := outB * 8 / 1e9
		b.ReportMetric(outB*8/el.Seconds()/1e6, "Mbit/s-out")
		b.ReportMetric(inB*8/el.Seconds()/1e6, "Mbit/s-in")
		b.ReportMetric(cpu.Seconds()/el.Seconds(), "cores")
		b.ReportMetric(cpu.Seconds()/gbit, "CPU-s/Gbit")
		b.ReportMetric(drops, "drops")
		b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MiB")
		b.Logf("%d cameras x %d viewers over %v: out %.1f Mbit/s, in %.2f Mbit/s, relay CPU %.2fs (%.3f cores) = %.2f CPU-s/Gbit, drops %.0f, heap in use %.1f MiB, sys %.1f MiB, RSS %s, goroutines %d, readers' %s",
			ncams, nview, el.Round(time.Millisecond), outB*8/el.Seconds()/1e6, inB*8/el.Seconds()/1e6,
			cpu.Seconds(), cpu.Seconds()/el.Seconds(), cpu.Seconds()/gbit, drops,
			float64(ms.HeapInuse)/(1<<20), float64(ms.Sys)/(1<<20), vmRSS(), runtime.NumGoroutine(), readBytes)
	}
}

// extUpstream registers a camera that runs in another process.
func (e *env) extUpstream(c benchCam) {
	e.cams.mu.Lock()
	defer e.cams.mu.Unlock()
	if e.cams.ext == nil {
		e.cams.ext = map[string]Upstream{}
	}
	e.cams.ext[c.ID] = Upstream{URL: c.URL, Username: c.User, Password: c.Pass}
}

// BenchmarkTimeToFirstFrame measures, over real RTSP on loopback, the time
// from IssueTicket to the first decodable frame (SPS, PPS and IDR decoded)
// at a new viewer joining an upstream that already plays, i.e. with the
// keyframe cache; the camera's keyframe interval is 4s.
func BenchmarkTimeToFirstFrame(b *testing.B) {
	e := newEnv(b, 0)
	cam, err := camsim.New(camsim.Config{ID: "cam1", KeyframeInterval: 4 * time.Second, Logger: testLogger()})
	if err != nil {
		b.Fatal(err)
	}
	if err := cam.Start(e.ctx); err != nil {
		b.Fatal(err)
	}
	defer cam.Close()
	e.cams.mu.Lock()
	e.cams.cams["cam1"] = cam
	e.cams.mu.Unlock()
	// A resident viewer keeps the upstream open.
	resident, err := play(e.ticket("r", "s", "cam1", "main").URL, gortsplib.ProtocolTCP)
	if err != nil {
		b.Fatal(err)
	}
	defer resident.close()
	eventually(b, 10*time.Second, "resident decodes", resident.decodable)
	n := max(b.N, envInt("GWANJE_BENCH_TTFF", 50))
	var lat []time.Duration
	b.ResetTimer()
	for i := 0; i < n; i++ {
		start := time.Now()
		tk := e.ticket("u", "s", "cam1", "main")
		v, err := play(tk.URL, gortsplib.ProtocolTCP)
		if err != nil {
			b.Fatal(err)
		}
		for !v.decodable() {
			time.Sleep(time.Millisecond)
		}
		v.mu.Lock()
		lat = append(lat, v.firstIDR.Sub(start))
		v.mu.Unlock()
		v.close()
	}
	b.StopTimer()
	slices.Sort(lat)
	p := func(q float64) time.Duration { return lat[int(q*float64(len(lat)-1))] }
	b.ReportMetric(float64(p(0.5).Microseconds())/1000, "ms-p50")
	b.ReportMetric(float64(p(0.99).Microseconds())/1000, "ms-p99")
	b.Logf("ticket issue (incl. audit commit) to first decodable frame over %d viewers: p50 %v, p99 %v, max %v",
		len(lat), p(0.5).Round(100*time.Microsecond), p(0.99).Round(100*time.Microsecond), lat[len(lat)-1].Round(100*time.Microsecond))
}
