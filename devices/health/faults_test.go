package health

import (
	"context"
	"net/url"
	"sync"
	"testing"
	"time"
)

// TestNATSRestartLosesNoTransition stops the NATS server while cameras
// change state, changes more while it is away, and starts it again on the
// same store: every status the worker produced is in the stream, once, and
// the KV holds the last one.
func TestNATSRestartLosesNoTransition(t *testing.T) {
	dir := t.TempDir()
	srv := newServer(t, dir, "127.0.0.1:0")
	u, err := url.Parse(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	port := u.Port()
	client := connect(t, srv.ClientURL(), "worker")
	p := newFakeProber()
	targets := fakeTargets(20, 200*time.Millisecond)
	var mu sync.Mutex
	produced := map[string][]Status{}
	w := startWorker(t, WorkerConfig{
		Conn: client.Conn, Targets: staticTargets(targets), ID: "w1", Prober: p, Shards: 4,
		LeaseTTL: 20 * time.Second, KeyframeInterval: -1,
	}, func(w *Worker) {
		w.onStatus = func(s Status) {
			mu.Lock()
			produced[s.CameraID] = append(produced[s.CameraID], s)
			mu.Unlock()
		}
	})
	lastState := func(id string) State {
		mu.Lock()
		defer mu.Unlock()
		l := produced[id]
		if len(l) == 0 {
			return Unknown
		}
		return l[len(l)-1].State
	}
	allIn := func(ids []string, st State) func() bool {
		return func() bool {
			for _, id := range ids {
				if lastState(id) != st {
					return false
				}
			}
			return true
		}
	}
	var ids []string
	for _, tg := range targets {
		ids = append(ids, tg.CameraID)
	}
	waitFor(t, 20*time.Second, "all cameras online", allIn(ids, Online))
	// Half go down while NATS is up, then NATS stops.
	for _, id := range ids[:5] {
		p.set(id, true)
	}
	srv.Close()
	// More change while NATS is away; the worker keeps probing.
	for _, id := range ids[5:10] {
		p.set(id, true)
	}
	waitFor(t, 20*time.Second, "transitions found while NATS is down", allIn(ids[:10], Offline))
	if w.Stats().Pending == 0 {
		t.Fatal("nothing waits for NATS while it is down")
	}
	for _, id := range ids[:3] {
		p.set(id, false)
	}
	waitFor(t, 20*time.Second, "recoveries found while NATS is down", allIn(ids[:3], Online))
	// NATS back on the same store and port.
	srv2 := newServer(t, dir, "127.0.0.1:"+port)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.Flush(ctx); err != nil {
		t.Fatalf("flush after restart: %v (pending %d)", err, w.Stats().Pending)
	}
	got := streamStatuses(t, srv2.JS)
	mu.Lock()
	defer mu.Unlock()
	for _, id := range ids {
		want := produced[id]
		have := got[id]
		if len(have) != len(want) {
			t.Errorf("%s: %d statuses in the stream, %d produced", id, len(have), len(want))
			continue
		}
		for i := range want {
			if !have[i].ObservedAt.Equal(want[i].ObservedAt) || have[i].State != want[i].State {
				t.Errorf("%s #%d: stream %s@%v, produced %s@%v", id, i, have[i].State, have[i].ObservedAt, want[i].State, want[i].ObservedAt)
			}
		}
		s, ok := kvStatus(t, srv2.JS, id)
		if !ok || !s.ObservedAt.Equal(want[len(want)-1].ObservedAt) {
			t.Errorf("%s: KV holds %+v, want the last status", id, s)
		}
	}
	t.Logf("statuses produced and stored: %d cameras, e.g. %s: %d", len(produced), ids[0], len(produced[ids[0]]))
}
