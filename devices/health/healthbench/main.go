// Command healthbench measures the health workers against simulated
// cameras started by cmd/camsim:
//
//	camsim --count 5000 --distinct-ports --manifest /tmp/m1.json --admin 127.0.0.1:8099 &
//	healthbench --manifests /tmp/m1.json --admins 127.0.0.1:8099 --workers 1 --interval 15s
//
// It runs an embedded NATS, starts --workers worker processes (itself with
// --role worker), and a Watch client. It reports, per worker process, the
// CPU used and the resident memory over a steady window, probe round
// latency p50/p99, and the time from a camera going offline (set through
// the camsim admin endpoint) to its offline status reaching the Watch
// client (p50/p99/max).
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gwanje/gwanje/camsim"
	"github.com/gwanje/gwanje/devices/health"
	"github.com/gwanje/gwanje/events"
)

type opts struct {
	role, natsURL, id string
	manifests         []string
	admins            []string
	workers           int
	interval          time.Duration
	steady            time.Duration
	offline           int
	concurrency       int
	keyframe          time.Duration
}

func main() {
	var o opts
	var manifests, admins string
	flag.StringVar(&o.role, "role", "bench", "bench or worker")
	flag.StringVar(&o.natsURL, "nats", "", "NATS URL (worker role)")
	flag.StringVar(&o.id, "id", "w1", "worker id (worker role)")
	flag.StringVar(&manifests, "manifests", "", "camsim manifests, comma-separated")
	flag.StringVar(&admins, "admins", "", "camsim admin addresses, same order")
	flag.IntVar(&o.workers, "workers", 1, "worker processes")
	flag.DurationVar(&o.interval, "interval", 15*time.Second, "probe interval")
	flag.DurationVar(&o.steady, "steady", 0, "steady-state window for CPU and memory (default 2 intervals)")
	flag.IntVar(&o.offline, "offline", 100, "cameras taken offline to measure the time to the watcher")
	flag.IntVar(&o.concurrency, "concurrency", 512, "probe rounds in flight per worker")
	flag.DurationVar(&o.keyframe, "keyframe-interval", -1, "keyframe probe interval (negative: off)")
	flag.Parse()
	o.manifests = strings.Split(manifests, ",")
	if admins != "" {
		o.admins = strings.Split(admins, ",")
	}
	if o.steady == 0 {
		o.steady = 2 * o.interval
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	if o.role == "worker" {
		err = runWorker(ctx, o)
	} else {
		err = runBench(ctx, o)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "healthbench:", err)
		os.Exit(1)
	}
}

type cam struct {
	target health.Target
	admin  string
	simID  string
}

func loadCams(o opts) ([]cam, error) {
	var out []cam
	for i, m := range o.manifests {
		b, err := os.ReadFile(m)
		if err != nil {
			return nil, err
		}
		var infos []camsim.Info
		if err := json.Unmarshal(b, &infos); err != nil {
			return nil, fmt.Errorf("%s: %w", m, err)
		}
		admin := ""
		if i < len(o.admins) {
			admin = o.admins[i]
		}
		for _, in := range infos {
			out = append(out, cam{
				target: health.Target{CameraID: fmt.Sprintf("m%d-%s", i, in.ID), Site: "site", DeviceURL: in.DeviceServiceURL,
					StreamURL: in.RTSPURLs["main"], Username: in.Username, Password: in.Password},
				admin: admin, simID: in.ID,
			})
		}
	}
	return out, nil
}

type workerReport struct {
	ID        string        `json:"id"`
	Cameras   int           `json:"cameras"`
	Shards    int           `json:"shards"`
	Rounds    int64         `json:"rounds"`
	Failed    int64         `json:"failed"`
	Skipped   int64         `json:"skipped"`
	Pending   int           `json:"pending"`
	P50       time.Duration `json:"p50"`
	P99       time.Duration `json:"p99"`
	Published int64         `json:"published"`
}

func runWorker(ctx context.Context, o opts) error {
	cams, err := loadCams(o)
	if err != nil {
		return err
	}
	targets := make([]health.Target, len(cams))
	for i, c := range cams {
		targets[i] = c.target
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	bus, err := events.New(ctx, events.Config{URL: o.natsURL, Name: o.id, Logger: log})
	if err != nil {
		return err
	}
	defer bus.Close()
	w, err := health.NewWorker(health.WorkerConfig{
		Conn: bus.Conn, ID: o.id, Interval: o.interval, Concurrency: o.concurrency, KeyframeInterval: o.keyframe,
		Targets: health.TargetsFunc(func(context.Context) ([]health.Target, error) { return targets, nil }), Logger: log,
	})
	if err != nil {
		return err
	}
	go func() {
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		enc := json.NewEncoder(os.Stdout)
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			s := w.Stats()
			_ = enc.Encode(workerReport{ID: o.id, Cameras: len(w.Cameras()), Shards: len(w.Owned()), Rounds: s.Rounds, Failed: s.Failed,
				Skipped: s.Skipped, Pending: s.Pending, P50: s.LatencyP50, P99: s.LatencyP99, Published: s.Published})
		}
	}()
	err = w.Run(ctx)
	w.Close()
	return err
}

type proc struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	last workerReport
}

func (p *proc) report() workerReport {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.last
}

// cpuTicks returns utime+stime of pid in clock ticks (100/s).
func cpuTicks(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return u + s
}

func rssMiB(pid int) int64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			kb, _ := strconv.ParseInt(strings.Fields(l)[1], 10, 64)
			return kb >> 10
		}
	}
	return 0
}

func runBench(ctx context.Context, o opts) error {
	cams, err := loadCams(o)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "healthbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	bus, err := events.New(ctx, events.Config{DataDir: dir, ListenAddr: "127.0.0.1:0", Logger: log})
	if err != nil {
		return err
	}
	defer bus.Close()
	fmt.Printf("cameras %d, interval %s (%.0f rounds/s), workers %d\n", len(cams), o.interval, float64(len(cams))/o.interval.Seconds(), o.workers)

	// Watch first, so that every status is seen.
	wt, err := health.NewWatcher(health.WatcherConfig{Conn: bus.Conn, Buffer: 4096})
	if err != nil {
		return err
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err := wt.Watch(wctx, nil, 0)
	if err != nil {
		return err
	}
	var mu sync.Mutex
	state := map[string]health.State{}
	seenAt := map[string]time.Time{} // last time a status arrived per camera
	go func() {
		for u := range ch {
			if u.Status != nil {
				mu.Lock()
				state[u.CameraID] = u.Status.State
				seenAt[u.CameraID] = time.Now()
				mu.Unlock()
			}
		}
	}()
	count := func(st health.State) int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, s := range state {
			if s == st {
				n++
			}
		}
		return n
	}

	self, _ := os.Executable()
	var procs []*proc
	for i := range o.workers {
		args := []string{"--role", "worker", "--nats", bus.ClientURL(), "--id", fmt.Sprintf("w%d", i+1), "--manifests", strings.Join(o.manifests, ","),
			"--interval", o.interval.String(), "--concurrency", strconv.Itoa(o.concurrency), "--keyframe-interval", o.keyframe.String()}
		cmd := exec.CommandContext(ctx, self, args...)
		cmd.Stderr = os.Stderr
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			return err
		}
		p := &proc{cmd: cmd}
		procs = append(procs, p)
		go func(r io.Reader) {
			sc := bufio.NewScanner(r)
			for sc.Scan() {
				var rep workerReport
				if json.Unmarshal(sc.Bytes(), &rep) == nil {
					p.mu.Lock()
					p.last = rep
					p.mu.Unlock()
				}
			}
		}(out)
	}
	defer func() {
		for _, p := range procs {
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
			_ = p.cmd.Wait()
		}
	}()
	start := time.Now()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for count(health.Online) < len(cams) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		if time.Since(start) > 5*o.interval+time.Minute {
			return fmt.Errorf("only %d of %d cameras online after %s", count(health.Online), len(cams), time.Since(start))
		}
	}
	fmt.Printf("all %d cameras online at the watcher after %s\n", len(cams), time.Since(start).Round(time.Millisecond))

	// Steady window.
	cpu0 := make([]int64, len(procs))
	for i, p := range procs {
		cpu0[i] = cpuTicks(p.cmd.Process.Pid)
	}
	t0 := time.Now()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(o.steady):
	}
	wall := time.Since(t0).Seconds()
	for i, p := range procs {
		cpu := float64(cpuTicks(p.cmd.Process.Pid)-cpu0[i]) / 100
		r := p.report()
		fmt.Printf("worker %s: %d cameras, %d shards, CPU %.2f s over %.0f s = %.1f%% of one core, RSS %d MiB, rounds %d (failed %d, skipped %d), round latency p50 %s p99 %s\n",
			r.ID, r.Cameras, r.Shards, cpu, wall, 100*cpu/wall, rssMiB(p.cmd.Process.Pid), r.Rounds, r.Failed, r.Skipped, r.P50.Round(time.Microsecond), r.P99.Round(time.Microsecond))
	}

	// Offline → watcher latency.
	if o.offline > 0 && len(o.admins) > 0 {
		n := min(o.offline, len(cams))
		step := len(cams) / n
		var lat []time.Duration
		setAt := map[string]time.Time{}
		client := &http.Client{Timeout: 5 * time.Second}
		put := func(c cam, body string) error {
			req, _ := http.NewRequestWithContext(ctx, http.MethodPut, "http://"+c.admin+"/cameras/"+c.simID+"/faults", strings.NewReader(body))
			resp, err := client.Do(req)
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode/100 != 2 {
				return fmt.Errorf("admin %s: %s", c.admin, resp.Status)
			}
			return nil
		}
		// Spread the faults over one interval, so they hit random phases.
		gap := o.interval / time.Duration(n)
		var chosen []cam
		for i := 0; i < n; i++ {
			c := cams[i*step]
			chosen = append(chosen, c)
			if err := put(c, `{"offline":true}`); err != nil {
				return err
			}
			setAt[c.target.CameraID] = time.Now()
			time.Sleep(gap)
		}
		deadline := time.Now().Add(4*o.interval + 30*time.Second)
		for {
			mu.Lock()
			done := 0
			for _, c := range chosen {
				if state[c.target.CameraID] == health.Offline {
					done++
				}
			}
			mu.Unlock()
			if done == n || time.Now().After(deadline) {
				break
			}
			<-tick.C
		}
		mu.Lock()
		for _, c := range chosen {
			if state[c.target.CameraID] == health.Offline {
				lat = append(lat, seenAt[c.target.CameraID].Sub(setAt[c.target.CameraID]))
			}
		}
		mu.Unlock()
		slices.Sort(lat)
		if len(lat) > 0 {
			fmt.Printf("offline → watcher: %d of %d cameras, p50 %s, p99 %s, max %s (interval %s)\n", len(lat), n,
				lat[len(lat)/2].Round(time.Millisecond), lat[min(len(lat)*99/100, len(lat)-1)].Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond), o.interval)
		} else {
			fmt.Printf("offline → watcher: none of %d cameras reported offline\n", n)
		}
		for _, c := range chosen {
			_ = put(c, `{}`)
		}
	}
	return nil
}
