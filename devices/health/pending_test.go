package health

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/gwanje/gwanje/camsim"
)

// TestPendingCameraComesUp probes cameras registered pending: one whose
// RTSP port refuses connections (stream_failed, not completed) until the
// fault clears, and one whose GetSystemDateAndTime faults (degraded: its
// stream answers, so it counts as up). The worker reports each exactly once,
// only when it is up.
func TestPendingCameraComesUp(t *testing.T) {
	ctx := context.Background()
	newCam := func(f camsim.Faults) *camsim.Camera {
		cam, err := camsim.New(camsim.Config{Logger: testLogger(), Faults: f})
		if err != nil {
			t.Fatal(err)
		}
		if err := cam.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cam.Close() })
		return cam
	}
	refused := newCam(camsim.Faults{RTSPRefused: true})
	noClock := newCam(camsim.Faults{ClockFault: true})
	var targets []Target
	for _, c := range []*camsim.Camera{refused, noClock} {
		info := c.Info()
		targets = append(targets, Target{CameraID: info.ID, DeviceURL: info.DeviceServiceURL, StreamURL: c.RTSPURL(camsim.ProfileMain),
			Username: info.Username, Password: info.Password, Pending: true})
	}
	var mu sync.Mutex
	ups := map[string][]State{}
	resolver := PendingFunc(func(_ context.Context, id string, st State) error {
		mu.Lock()
		defer mu.Unlock()
		ups[id] = append(ups[id], st)
		return nil
	})
	srv := newServer(t, t.TempDir(), "127.0.0.1:0")
	startWorker(t, WorkerConfig{Conn: srv.Conn, Targets: staticTargets(targets), ID: "w1", Interval: 500 * time.Millisecond,
		ProbeTimeout: time.Second, KeyframeInterval: -1, Shards: 2, LeaseTTL: 3 * time.Second, Pending: resolver})
	waitFor(t, 30*time.Second, "the camera without a clock answer to be reported up", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(ups[targets[1].CameraID]) > 0
	})
	waitFor(t, 30*time.Second, "the refused camera to be stream_failed", func() bool {
		s, ok := kvStatus(t, srv.JS, targets[0].CameraID)
		return ok && s.State == StreamFailed
	})
	mu.Lock()
	if got := ups[targets[0].CameraID]; len(got) != 0 {
		t.Fatalf("camera with an unreachable stream reported up: %v", got)
	}
	if got := ups[targets[1].CameraID]; len(got) != 1 || got[0] != Degraded {
		t.Fatalf("camera without a clock answer reported %v, want [degraded]", got)
	}
	mu.Unlock()
	refused.SetFaults(camsim.Faults{})
	waitFor(t, 30*time.Second, "the refused camera to be reported up once its stream answers", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(ups[targets[0].CameraID]) > 0
	})
	// More rounds pass; nothing is reported twice.
	waitFor(t, 30*time.Second, "two more rounds", func() bool {
		s, ok := kvStatus(t, srv.JS, targets[0].CameraID)
		return ok && s.State == Online && time.Since(s.Since) > 1200*time.Millisecond
	})
	mu.Lock()
	defer mu.Unlock()
	for id, got := range ups {
		if len(got) != 1 || !got[0].Up() {
			t.Errorf("%s reported %v, want once up", id, got)
		}
	}
}
