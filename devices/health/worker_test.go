package health

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gwanje/gwanje/camsim"
)

// TestWorkersShareTakeOver runs three workers on one NATS: the shards
// spread, a new worker gets its share, a worker killed in the middle of
// its probe rounds loses its shards to the others, and no camera is probed
// twice in one slot of its interval.
func TestWorkersShareTakeOver(t *testing.T) {
	srv := newServer(t, t.TempDir(), "127.0.0.1:0")
	const iv = 400 * time.Millisecond
	targets := fakeTargets(120, iv)
	cfg := func(id string, p Prober) WorkerConfig {
		return WorkerConfig{
			Conn: connect(t, srv.ClientURL(), id).Conn, Targets: staticTargets(targets), ID: id, Prober: p,
			Shards: 16, LeaseTTL: 1500 * time.Millisecond, KeyframeInterval: -1,
		}
	}
	p1, p2, p3 := newFakeProber(), newFakeProber(), newFakeProber()
	w1 := startWorker(t, cfg("w1", p1))
	w2 := startWorker(t, cfg("w2", p2))
	owned := func(ws ...*Worker) (total int, disjoint bool) {
		seen := map[int]bool{}
		disjoint = true
		for _, w := range ws {
			for _, n := range w.Owned() {
				if seen[n] {
					disjoint = false
				}
				seen[n] = true
			}
		}
		return len(seen), disjoint
	}
	waitFor(t, 20*time.Second, "two workers to split 16 shards 8/8", func() bool {
		n, _ := owned(w1, w2)
		return n == 16 && len(w1.Owned()) == 8 && len(w2.Owned()) == 8
	})
	if _, dis := owned(w1, w2); !dis {
		t.Fatal("two workers hold the same shard")
	}
	// A third worker joins: the load spreads (ceil(16/3) = 6 at most each).
	p3.hang = true // its rounds never finish: it is killed in the middle of them
	w3 := startWorker(t, cfg("w3", p3))
	waitFor(t, 20*time.Second, "three workers to share the shards", func() bool {
		n, _ := owned(w1, w2, w3)
		return n == 16 && len(w1.Owned()) <= 6 && len(w2.Owned()) <= 6 && len(w3.Owned()) >= 4
	})
	w3cams := w3.Cameras()
	if len(w3cams) == 0 {
		t.Fatal("the third worker probes nothing")
	}
	waitFor(t, 10*time.Second, "the third worker to start probe rounds", func() bool { return p3.count(w3cams[0]) > 0 })
	// Kill it (no lease given back, rounds in flight).
	w3.skipRelease = true
	w3.Close()
	before := map[string]int{}
	for _, id := range w3cams {
		before[id] = p1.count(id) + p2.count(id)
	}
	waitFor(t, 20*time.Second, "the others to take over the dead worker's shards", func() bool {
		n, dis := owned(w1, w2)
		return n == 16 && dis
	})
	waitFor(t, 10*time.Second, "the dead worker's cameras to be probed again", func() bool {
		for _, id := range w3cams {
			if p1.count(id)+p2.count(id) <= before[id] {
				return false
			}
		}
		return true
	})
	// No camera was probed twice in one slot by anyone.
	for _, tg := range targets {
		ph := phaseOf(tg.CameraID, iv)
		slots := map[int64]int{}
		for _, p := range []*fakeProber{p1, p2, p3} {
			p.mu.Lock()
			for _, at := range p.calls[tg.CameraID] {
				slots[(at.UnixNano()-int64(ph))/int64(iv)]++
			}
			p.mu.Unlock()
		}
		for k, n := range slots {
			if n > 1 {
				t.Errorf("%s probed %d times in slot %d", tg.CameraID, n, k)
			}
		}
	}
	st := w1.Stats()
	t.Logf("w1: %d rounds, p99 %s; w2: %d rounds", st.Rounds, st.LatencyP99, w2.Stats().Rounds)
}

// TestWorkerMarksFaultyCameras probes simulated cameras with faults: each
// is marked with its state and cause, and the healthy ones stay online.
func TestWorkerMarksFaultyCameras(t *testing.T) {
	ctx := context.Background()
	fleet, err := camsim.StartFleet(ctx, camsim.FleetConfig{Count: 9, Template: camsim.Config{Logger: testLogger(), KeyframeInterval: time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fleet.Close)
	cams := fleet.Cameras()
	faults := map[int]camsim.Faults{
		1: {Offline: true},
		2: {WrongPassword: true},
		3: {MalformedXML: true},
		4: {Latency: time.Minute}, // hangs
		5: {ClockDrift: 90 * time.Second},
		6: {StreamStall: true},
		7: {TruncatedXML: true},
	}
	want := map[int]State{0: Online, 1: Offline, 2: Unauthorized, 3: Degraded, 4: Offline, 5: Degraded, 6: Stalled, 7: Degraded, 8: Online}
	var targets []Target
	for i, c := range cams {
		c.SetFaults(faults[i])
		info := c.Info()
		targets = append(targets, Target{CameraID: info.ID, DeviceURL: info.DeviceServiceURL, StreamURL: c.RTSPURL(camsim.ProfileMain),
			Username: info.Username, Password: info.Password})
	}
	srv := newServer(t, t.TempDir(), "127.0.0.1:0")
	w := startWorker(t, WorkerConfig{
		Conn: srv.Conn, Targets: staticTargets(targets), ID: "w1", Interval: time.Second, ProbeTimeout: time.Second,
		KeyframeInterval: 2 * time.Second, KeyframeTimeout: 3 * time.Second, Shards: 4, LeaseTTL: 3 * time.Second,
	})
	for i, st := range want {
		id := targets[i].CameraID
		waitFor(t, 30*time.Second, fmt.Sprintf("%s (%+v) to be %s", id, faults[i], st), func() bool {
			s, ok := kvStatus(t, srv.JS, id)
			return ok && s.State == st
		})
	}
	for i := range want {
		s, _ := kvStatus(t, srv.JS, targets[i].CameraID)
		t.Logf("%s %-13s %s", s.CameraID, s.State, s.Cause)
		if strings.Contains(s.Cause, targets[i].Password) && targets[i].Password != "" {
			t.Errorf("cause contains the password: %s", s.Cause)
		}
	}
	if s, _ := kvStatus(t, srv.JS, targets[5].CameraID); s.ClockDriftSince.IsZero() || s.ClockOffset < 80*time.Second {
		t.Errorf("drifting camera: %+v", s)
	}
	// The hanging camera cost only its own rounds: the healthy ones were
	// never anything but online.
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	all := streamStatuses(t, srv.JS)
	for _, i := range []int{0, 8} {
		for _, s := range all[targets[i].CameraID] {
			if s.State != Online {
				t.Errorf("healthy camera %s was %s: %s", s.CameraID, s.State, s.Cause)
			}
		}
	}
	// Recovery: the offline camera comes back, online after one success.
	cams[1].SetFaults(camsim.Faults{})
	waitFor(t, 30*time.Second, "the offline camera to come back online", func() bool {
		s, ok := kvStatus(t, srv.JS, targets[1].CameraID)
		return ok && s.State == Online && s.Previous == Offline
	})
	if got := w.Cameras(); !slices.Equal(got, sortedIDs(targets)) {
		t.Fatalf("worker probes %v", got)
	}
}

func sortedIDs(ts []Target) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.CameraID)
	}
	slices.Sort(out)
	return out
}

// TestPullPointEvents subscribes to a simulated camera's events: motion and
// tamper become events on NATS, and after a reboot the subscription is
// created again and events keep coming.
func TestPullPointEvents(t *testing.T) {
	ctx := context.Background()
	cam, err := camsim.New(camsim.Config{Dialect: camsim.DialectAxis, Logger: testLogger(), RebootDuration: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := cam.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cam.Close() })
	info := cam.Info()
	srv := newServer(t, t.TempDir(), "127.0.0.1:0")
	w := startWorker(t, WorkerConfig{
		Conn: srv.Conn, ID: "w1", Shards: 1, LeaseTTL: 3 * time.Second, Interval: time.Second, KeyframeInterval: -1,
		PullTimeout: time.Second, SubscriptionTTL: 4 * time.Second,
		Targets: staticTargets([]Target{{CameraID: info.ID, DeviceURL: info.DeviceServiceURL, StreamURL: cam.RTSPURL(camsim.ProfileMain),
			Username: info.Username, Password: info.Password, Events: true}}),
	})
	wt, _ := NewWatcher(WatcherConfig{Conn: srv.Conn})
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err := wt.Watch(wctx, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	waitEvent := func(kind EventKind, active bool) {
		t.Helper()
		for {
			u := next(t, ch)
			if u.Event != nil && u.Event.Kind == kind && u.Event.Active == active && !u.Snapshot {
				return
			}
		}
	}
	cam.SetFaults(camsim.Faults{Tamper: true})
	waitEvent(EventTamper, true)
	cam.SetFaults(camsim.Faults{})
	waitEvent(EventTamper, false)
	subs := w.Stats().Subscribed
	cam.Reboot()
	waitFor(t, 30*time.Second, "a new subscription after the reboot", func() bool { return w.Stats().Subscribed > subs })
	cam.SetFaults(camsim.Faults{Tamper: true})
	waitEvent(EventTamper, true)
	t.Logf("events %d, subscriptions %d", w.Stats().Events, w.Stats().Subscribed)
}
