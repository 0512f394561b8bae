package health

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/gwanje/gwanje/events"
	"github.com/gwanje/gwanje/internal/pgtest"
	gwanjev1 "github.com/gwanje/gwanje/proto/gwanje/v1"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func testLogger() *slog.Logger {
	if os.Getenv("HEALTH_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// newServer starts an embedded NATS on dir; listen "127.0.0.1:0" picks a port.
func newServer(t *testing.T, dir, listen string) *events.Bus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := events.New(ctx, events.Config{DataDir: dir, ListenAddr: listen, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

// connect opens another client connection (as another process would).
func connect(t *testing.T, url, name string) *events.Bus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := events.New(ctx, events.Config{URL: url, Name: name, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// fakeProber answers from per-camera switches and records every round.
type fakeProber struct {
	mu    sync.Mutex
	down  map[string]bool
	calls map[string][]time.Time
	hang  bool // every round blocks until its context ends
}

func newFakeProber() *fakeProber {
	return &fakeProber{down: map[string]bool{}, calls: map[string][]time.Time{}}
}

func (p *fakeProber) set(id string, down bool) {
	p.mu.Lock()
	p.down[id] = down
	p.mu.Unlock()
}

func (p *fakeProber) count(id string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.calls[id])
}

func (p *fakeProber) Probe(ctx context.Context, req ProbeRequest) Observation {
	p.mu.Lock()
	p.calls[req.Target.CameraID] = append(p.calls[req.Target.CameraID], time.Now())
	down, hang := p.down[req.Target.CameraID], p.hang
	p.mu.Unlock()
	if hang {
		<-ctx.Done()
		return Observation{At: time.Now(), ONVIF: ProbeResult{Probe: ProbeONVIF, Err: ErrKindTimeout}}
	}
	if down {
		return Observation{At: time.Now(), ONVIF: ProbeResult{Probe: ProbeONVIF, Err: ErrKindUnreachable, Detail: "connection refused"}}
	}
	return Observation{At: time.Now(), ONVIF: ProbeResult{Probe: ProbeONVIF, OK: true}, RTSP: &ProbeResult{Probe: ProbeRTSP, OK: true}, Latency: time.Millisecond, ClockKnown: true}
}

func fakeTargets(n int, iv time.Duration) []Target {
	out := make([]Target, n)
	for i := range out {
		out[i] = Target{CameraID: fmt.Sprintf("cam-%04d", i+1), Site: "site-" + fmt.Sprint(i%3), DeviceURL: "http://192.0.2.1/onvif/device_service", Interval: iv}
	}
	return out
}

func staticTargets(ts []Target) Targets {
	return TargetsFunc(func(context.Context) ([]Target, error) { return ts, nil })
}

// startWorker runs a worker until the test ends.
func startWorker(t *testing.T, cfg WorkerConfig, setup ...func(*Worker)) *Worker {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testLogger()
	}
	w, err := NewWorker(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range setup {
		f(w)
	}
	errc := make(chan error, 1)
	go func() { errc <- w.Run(context.Background()) }()
	t.Cleanup(func() {
		w.Close()
		if err := <-errc; err != nil {
			t.Errorf("worker %s: %v", w.ID(), err)
		}
	})
	return w
}

// kvStatus reads a camera's current status from the KV bucket.
func kvStatus(t *testing.T, js jetstream.JetStream, id string) (Status, bool) {
	t.Helper()
	kv, err := js.KeyValue(context.Background(), events.BucketCameraStatus)
	if err != nil {
		return Status{}, false
	}
	e, err := kv.Get(context.Background(), id)
	if err != nil {
		return Status{}, false
	}
	var m gwanjev1.CameraStatus
	if err := proto.Unmarshal(e.Value(), &m); err != nil {
		t.Fatal(err)
	}
	return StatusFromProto(&m), true
}

// streamStatuses reads every status message of the camera stream.
func streamStatuses(t *testing.T, js jetstream.JetStream) map[string][]Status {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, events.StreamCamera)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]Status{}
	if info.State.Msgs == 0 {
		return out
	}
	c, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{events.CameraStatusAll}})
	if err != nil {
		t.Fatal(err)
	}
	last := info.State.LastSeq
	for {
		b, err := c.Fetch(500, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		var seq uint64
		for m := range b.Messages() {
			n++
			u, ok := decodeUpdate(m.Subject(), m.Data())
			if ok && u.Status != nil {
				out[u.CameraID] = append(out[u.CameraID], *u.Status)
			}
			md, _ := m.Metadata()
			seq = md.Sequence.Stream
		}
		if n == 0 || seq >= last {
			return out
		}
	}
}
