// Command camsim runs simulated ONVIF/RTSP cameras for the demo and load tests.
//
//	camsim --count 100                      # 127.0.1.1..127.0.1.100, ports 80/554/3702 each
//	camsim --count 10000 --distinct-ports   # 127.0.0.1, random ports per camera
//	camsim --manifest cams.json --admin 127.0.0.1:8099
//
// The admin endpoint sets faults at run time:
//
//	curl -X PUT -d '{"clock_drift":90000000000,"latency":2000000000}' http://127.0.0.1:8099/cameras/cam-0001/faults
//	curl -X POST http://127.0.0.1:8099/cameras/cam-0001/reboot
//	curl http://127.0.0.1:8099/cameras
//	camsim --load cams.json --load-workers 64 --load-duration 10s   # ONVIF req/s against a running camsim
//
// Faults are JSON with the fields of camsim.Faults (durations in nanoseconds,
// or strings such as "2s"); "*" as the camera id applies to every camera.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/gwanje/gwanje/camsim"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "camsim:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("camsim", flag.ContinueOnError)
	count := fs.Int("count", 1, "number of cameras")
	distinct := fs.Bool("distinct-ports", false, "listen on --host with random distinct ports instead of one address per camera")
	host := fs.String("host", "127.0.0.1", "address for --distinct-ports")
	baseIP := fs.String("base-ip", "127.0.1.1", "first camera address (one address per camera)")
	httpPort := fs.Int("http-port", 80, "ONVIF HTTP port per address")
	rtspPort := fs.Int("rtsp-port", 554, "RTSP port per address")
	discPort := fs.Int("discovery-port", 3702, "WS-Discovery UDP port per address")
	user := fs.String("username", "admin", "camera username")
	pass := fs.String("password", "camsim", "camera password")
	dialects := fs.String("dialects", "hikvision,axis,dahua", "dialects assigned round-robin")
	ptzEvery := fs.Int("ptz-every", 4, "every n-th camera is PTZ (0 = none)")
	manifest := fs.String("manifest", "", "write a JSON manifest of the cameras to this file")
	admin := fs.String("admin", "127.0.0.1:8099", "admin HTTP address (empty = off)")
	faultsJSON := fs.String("faults", "", "initial faults for every camera, JSON")
	keyint := fs.Duration("keyframe-interval", 2*time.Second, "main profile keyframe interval (1s, 2s or 4s)")
	verbose := fs.Bool("v", false, "debug logging")
	loadManifest := fs.String("load", "", "load-test mode: send ONVIF requests to the cameras of this manifest, print req/s, exit")
	loadWorkers := fs.Int("load-workers", 64, "concurrent requests in load-test mode")
	loadDuration := fs.Duration("load-duration", 10*time.Second, "length of the load test")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *loadManifest != "" {
		return runLoad(context.Background(), *loadManifest, *loadWorkers, *loadDuration)
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	var faults camsim.Faults
	if *faultsJSON != "" {
		f, err := parseFaults([]byte(*faultsJSON))
		if err != nil {
			return err
		}
		faults = f
	}
	var ds []camsim.Dialect
	for _, d := range strings.Split(*dialects, ",") {
		ds = append(ds, camsim.Dialect(strings.TrimSpace(d)))
	}
	fc := camsim.FleetConfig{
		Count: *count, Dialects: ds, PTZEvery: *ptzEvery,
		Template: camsim.Config{Username: *user, Password: *pass, Faults: faults, Logger: log, KeyframeInterval: *keyint},
	}
	if *distinct {
		fc.Host = *host
	} else {
		fc.BaseIP, fc.HTTPPort, fc.RTSPPort, fc.DiscoveryPort = *baseIP, *httpPort, *rtspPort, *discPort
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	start := time.Now()
	fleet, err := camsim.StartFleet(ctx, fc)
	if err != nil {
		return err
	}
	defer fleet.Close()
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	log.Info("cameras started", "count", *count, "took", time.Since(start).Round(time.Millisecond),
		"rss_mib", rssMiB(), "heap_mib", ms.HeapInuse>>20, "goroutines", runtime.NumGoroutine())

	byID := map[string]*camsim.Camera{}
	infos := make([]camsim.Info, 0, len(fleet.Cameras()))
	for _, c := range fleet.Cameras() {
		in := c.Info()
		byID[in.ID] = c
		infos = append(infos, in)
	}
	if *manifest != "" {
		b, err := json.MarshalIndent(infos, "", "  ")
		if err != nil {
			return fmt.Errorf("manifest: %w", err)
		}
		if err := os.WriteFile(*manifest, b, 0o600); err != nil {
			return fmt.Errorf("manifest: %w", err)
		}
		log.Info("manifest written", "file", *manifest)
	}
	if *admin != "" {
		ln, err := net.Listen("tcp", *admin)
		if err != nil {
			return fmt.Errorf("admin listen: %w", err)
		}
		srv := &http.Server{Handler: adminHandler(byID, infos), ReadHeaderTimeout: 10 * time.Second}
		errc := make(chan error, 1)
		go func() { errc <- srv.Serve(ln) }()
		defer func() {
			_ = srv.Close()
			<-errc
		}()
		log.Info("admin endpoint", "addr", ln.Addr().String())
	}
	<-ctx.Done()
	log.Info("stopping")
	return nil
}

// rssMiB reads the resident set size from /proc (Linux); 0 elsewhere.
func rssMiB() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			var kb int64
			_, _ = fmt.Sscanf(strings.TrimSpace(l[6:]), "%d", &kb)
			return kb >> 10
		}
	}
	return 0
}

// faultsJSON accepts durations as nanoseconds or Go duration strings.
type faultsJSON struct {
	camsim.Faults
	Latency    json.RawMessage `json:"latency,omitempty"`
	ClockDrift json.RawMessage `json:"clock_drift,omitempty"`
}

func parseDur(raw json.RawMessage) (time.Duration, error) {
	if len(raw) == 0 {
		return 0, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return time.ParseDuration(s)
	}
	var n int64
	if err := json.Unmarshal(raw, &n); err != nil {
		return 0, fmt.Errorf("duration: %w", err)
	}
	return time.Duration(n), nil
}

func parseFaults(b []byte) (camsim.Faults, error) {
	var fj faultsJSON
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&fj); err != nil {
		return camsim.Faults{}, fmt.Errorf("faults: %w", err)
	}
	f := fj.Faults
	var err error
	if f.Latency, err = parseDur(fj.Latency); err != nil {
		return f, fmt.Errorf("faults latency: %w", err)
	}
	if f.ClockDrift, err = parseDur(fj.ClockDrift); err != nil {
		return f, fmt.Errorf("faults clock_drift: %w", err)
	}
	if f.PacketLoss < 0 || f.PacketLoss > 1 {
		return f, errors.New("faults: packet_loss must be within 0..1")
	}
	return f, nil
}

func adminHandler(byID map[string]*camsim.Camera, infos []camsim.Info) http.Handler {
	mux := http.NewServeMux()
	writeJSON := func(w http.ResponseWriter, v any) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	}
	targets := func(id string) []*camsim.Camera {
		if id == "*" {
			out := make([]*camsim.Camera, 0, len(byID))
			for _, c := range byID {
				out = append(out, c)
			}
			return out
		}
		if c, ok := byID[id]; ok {
			return []*camsim.Camera{c}
		}
		return nil
	}
	mux.HandleFunc("GET /cameras", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, infos) })
	mux.HandleFunc("GET /cameras/{id}/faults", func(w http.ResponseWriter, r *http.Request) {
		c := targets(r.PathValue("id"))
		if len(c) != 1 {
			http.Error(w, "unknown camera", http.StatusNotFound)
			return
		}
		writeJSON(w, c[0].Faults())
	})
	mux.HandleFunc("PUT /cameras/{id}/faults", func(w http.ResponseWriter, r *http.Request) {
		cs := targets(r.PathValue("id"))
		if len(cs) == 0 {
			http.Error(w, "unknown camera", http.StatusNotFound)
			return
		}
		b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 4096))
		if err != nil {
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		f, err := parseFaults(b)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		for _, c := range cs {
			c.SetFaults(f)
		}
		writeJSON(w, map[string]int{"updated": len(cs)})
	})
	mux.HandleFunc("POST /cameras/{id}/reboot", func(w http.ResponseWriter, r *http.Request) {
		cs := targets(r.PathValue("id"))
		if len(cs) == 0 {
			http.Error(w, "unknown camera", http.StatusNotFound)
			return
		}
		for _, c := range cs {
			c.Reboot()
		}
		writeJSON(w, map[string]int{"rebooting": len(cs)})
	})
	return mux
}
