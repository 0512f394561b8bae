package revoke

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/gwanje/gwanje/events"
)

// denied is a Decider that denies the users in it.
type denied struct {
	mu    sync.Mutex
	users map[string]bool
	calls int
}

func (d *denied) StillAllowed(_ context.Context, h Holder) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls++
	return !d.users[h.UserID]
}

func (d *denied) deny(u string) {
	d.mu.Lock()
	d.users[u] = true
	d.mu.Unlock()
}

// ended records the end reasons of tracked sessions.
type ended struct {
	mu sync.Mutex
	m  map[string]string
}

func (e *ended) fn(name string) func(string) {
	return func(reason string) {
		e.mu.Lock()
		defer e.mu.Unlock()
		if _, dup := e.m[name]; dup {
			panic("end called twice for " + name)
		}
		e.m[name] = reason
	}
}

func (e *ended) get() map[string]string {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := map[string]string{}
	for k, v := range e.m {
		out[k] = v
	}
	return out
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func equal(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestNoticesEndSessions sends access.revoked notices over a real NATS
// server and checks which tracked sessions end, and why, for each kind of
// notice; with and without a Decider.
func TestNoticesEndSessions(t *testing.T) {
	bus, err := events.New(context.Background(), events.Config{DataDir: t.TempDir(), ListenAddr: "127.0.0.1:0", Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bus.Close)

	for _, tc := range []struct {
		name       string
		decider    bool
		denyBefore string // user the Decider denies before the notice
		notice     string // raw JSON
		want       map[string]string
	}{
		{name: "logout ends only that session's", decider: true,
			notice: `{"user_id":"alice","session_id":"a1","event":"auth.logout"}`,
			want:   map[string]string{"alice-a1-live": ReasonSessionEnded, "alice-a1-playback": ReasonSessionEnded}},
		{name: "user still allowed: nothing ends", decider: true,
			notice: `{"user_id":"alice","event":"grant.revoke"}`, want: map[string]string{}},
		{name: "user denied: all of the user's end", decider: true, denyBefore: "alice",
			notice: `{"user_id":"alice","event":"user.disable"}`,
			want: map[string]string{"alice-a1-live": ReasonRevoked, "alice-a1-playback": ReasonRevoked,
				"alice-a2-download": ReasonRevoked}},
		{name: "without a Decider a user notice ends all of the user's",
			notice: `{"user_id":"alice","event":"contract.end"}`,
			want: map[string]string{"alice-a1-live": ReasonRevoked, "alice-a1-playback": ReasonRevoked,
				"alice-a2-download": ReasonRevoked}},
		{name: "malformed notice ignored", decider: true, denyBefore: "bob",
			notice: `{nope`, want: map[string]string{}},
		{name: "notice without a user ignored", decider: true, denyBefore: "bob",
			notice: `{"session_id":"b1"}`, want: map[string]string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &denied{users: map[string]bool{}}
			cfg := Config{Notices: bus.Notices(), RecheckInterval: -1, Logger: quiet()}
			if tc.decider {
				cfg.Decider = d
			}
			w := New(cfg)
			if err := w.Start(); err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			got := &ended{m: map[string]string{}}
			for _, s := range []struct{ name, user, session string }{
				{"alice-a1-live", "alice", "a1"}, {"alice-a1-playback", "alice", "a1"},
				{"alice-a2-download", "alice", "a2"}, {"bob-b1-live", "bob", "b1"},
			} {
				w.Track(Holder{UserID: s.user, SessionID: s.session, Permissions: []string{"live.view"}, CameraID: "cam"}, got.fn(s.name))
			}
			if tc.denyBefore != "" {
				d.deny(tc.denyBefore)
			}
			if err := bus.Notices().Publish(events.AccessRevoked, []byte(tc.notice)); err != nil {
				t.Fatal(err)
			}
			// A marker notice for a user nobody tracks: once it has been
			// handled, so has the notice before it (one queue, in order).
			marker := make(chan struct{})
			w.Track(Holder{UserID: "marker"}, func(string) { close(marker) })
			b, _ := json.Marshal(Notice{UserID: "marker", Event: "test"})
			d.deny("marker")
			if err := bus.Notices().Publish(events.AccessRevoked, b); err != nil {
				t.Fatal(err)
			}
			select {
			case <-marker:
			case <-time.After(10 * time.Second):
				t.Fatal("the marker notice was not handled")
			}
			if g := got.get(); !equal(g, tc.want) {
				t.Fatalf("ended = %v, want %v", g, tc.want)
			}
		})
	}
}

// TestAllowedAndUntrack: the door asks the Decider (everyone passes without
// one); an untracked session is never ended; a session ends once even when
// several notices name it.
func TestAllowedAndUntrack(t *testing.T) {
	d := &denied{users: map[string]bool{"mallory": true}}
	w := New(Config{Decider: d, RecheckInterval: -1, Logger: quiet()})
	if w.Allowed(context.Background(), Holder{UserID: "mallory"}) || !w.Allowed(context.Background(), Holder{UserID: "alice"}) {
		t.Fatal("Allowed does not follow the Decider")
	}
	if !New(Config{Logger: quiet()}).Allowed(context.Background(), Holder{UserID: "mallory"}) {
		t.Fatal("without a Decider everyone is allowed at the door")
	}
	got := &ended{m: map[string]string{}}
	untrack := w.Track(Holder{UserID: "alice", SessionID: "s1"}, got.fn("gone"))
	untrack()
	untrack()
	w.Track(Holder{UserID: "alice", SessionID: "s1"}, got.fn("open"))
	w.Revoke(Notice{UserID: "alice", SessionID: "s1"})
	w.Revoke(Notice{UserID: "alice", SessionID: "s1"}) // would panic in ended.fn if called twice
	if g := got.get(); !equal(g, map[string]string{"open": ReasonSessionEnded}) {
		t.Fatalf("ended = %v", g)
	}
}

// TestRecheckEndsWithoutNotice: a right that lapses without a notice (a
// grant's end time, a lost notice) ends the session at the next recheck.
func TestRecheckEndsWithoutNotice(t *testing.T) {
	d := &denied{users: map[string]bool{}}
	w := New(Config{Decider: d, RecheckInterval: 20 * time.Millisecond, Logger: quiet()})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	got := &ended{m: map[string]string{}}
	w.Track(Holder{UserID: "alice"}, got.fn("alice"))
	w.Track(Holder{UserID: "bob"}, got.fn("bob"))
	d.deny("alice")
	eventually(t, "alice's session ended by the recheck", func() bool { return got.get()["alice"] == ReasonRevoked })
	if _, ok := got.get()["bob"]; ok {
		t.Fatal("bob's session ended")
	}
	w.Close()
	w.Close()
	if err := w.Start(); err != ErrClosed {
		t.Fatalf("Start after Close = %v", err)
	}
}
