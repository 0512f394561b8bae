package stream

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"

	"github.com/gwanje/gwanje/accesscontrol"
	"github.com/gwanje/gwanje/events"
	"github.com/gwanje/gwanje/internal/revoke"
)

// denySet is an Authorizer that denies the users in it.
type denySet struct {
	mu     sync.Mutex
	denied map[string]bool
}

func (d *denySet) StillAllowed(_ context.Context, s revoke.Holder) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return !d.denied[s.UserID]
}

func (d *denySet) deny(user string) {
	d.mu.Lock()
	d.denied[user] = true
	d.mu.Unlock()
}

func newBus(t testing.TB) *events.Bus {
	t.Helper()
	bus, err := events.New(context.Background(), events.Config{DataDir: t.TempDir(), ListenAddr: "127.0.0.1:0", Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bus.Close)
	return bus
}

func TestRevocationClosesViews(t *testing.T) {
	bus := newBus(t)
	authz := &denySet{denied: map[string]bool{}}
	e := newEnv(t, 2, func(c *Config) {
		c.Notices = bus.Notices()
		c.Authorizer = authz
	})
	open := func(user, session, cam string) *viewer {
		v, err := play(e.ticket(user, session, cam, "main").URL, gortsplib.ProtocolTCP)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(v.close)
		return v
	}
	alice1 := open("alice", "a-login-1", "cam1")
	alice2 := open("alice", "a-login-2", "cam2")
	bob := open("bob", "b-login", "cam1")
	eventually(t, 10*time.Second, "all decode", func() bool {
		return alice1.decodable() && alice2.decodable() && bob.decodable()
	})
	publish := func(n accesscontrol.RevokedNotice) time.Time {
		b, _ := json.Marshal(n)
		at := time.Now()
		if err := bus.Notices().Publish(events.AccessRevoked, b); err != nil {
			t.Fatal(err)
		}
		return at
	}
	closedWithin := func(what string, at time.Time, pred func() bool) {
		t.Helper()
		eventually(t, 10*time.Second, what, pred)
		t.Logf("%s: closed %v after the notice", what, time.Since(at).Round(time.Millisecond))
	}

	// Alice logs out of session 1: only that session's view closes, even
	// though she is still allowed.
	at := publish(accesscontrol.RevokedNotice{UserID: "alice", SessionID: "a-login-1", Event: "session.logout"})
	closedWithin("alice's logged-out view", at, alice1.closed)
	if alice2.closed() || bob.closed() {
		t.Fatal("other views closed by a session end")
	}
	// A notice for Alice while she is still allowed changes nothing.
	publish(accesscontrol.RevokedNotice{UserID: "alice", Event: "grant.revoke"})
	// Her right goes: her remaining view closes; Bob's stays.
	authz.deny("alice")
	at = publish(accesscontrol.RevokedNotice{UserID: "alice", Event: "grant.revoke"})
	closedWithin("alice's revoked view", at, alice2.closed)
	if bob.closed() {
		t.Fatal("bob's view closed by alice's revocation")
	}
	eventually(t, 5*time.Second, "end entries", func() bool { return len(e.audit.ends()) == 2 })
	reasons := map[string]bool{}
	for _, en := range e.audit.ends() {
		reasons[en.Reason] = true
	}
	if !reasons[ReasonSessionEnded] || !reasons[ReasonRevoked] {
		t.Errorf("end reasons = %v", reasons)
	}
	// Malformed notices are ignored.
	if err := bus.Notices().Publish(events.AccessRevoked, []byte("{nope")); err != nil {
		t.Fatal(err)
	}
	// A revoked user's unused ticket is refused at the door.
	tk := e.ticket("alice", "a-login-2", "cam1", "main")
	if _, err := play(tk.URL, gortsplib.ProtocolTCP); err == nil || !containsStatus(err, 403) {
		t.Errorf("denied user's ticket: err = %v, want 403", err)
	}
	if bob.closed() || len(e.relay.List(Filter{})) != 1 {
		t.Errorf("bob's view should be the only one open: %+v", e.relay.List(Filter{}))
	}
}

func TestStopListAndCloseUserSessions(t *testing.T) {
	e := newEnv(t, 2)
	var vs []*viewer
	for _, c := range []struct{ user, cam string }{{"op1", "cam1"}, {"op1", "cam2"}, {"op2", "cam1"}} {
		v, err := play(e.ticket(c.user, c.user+"-s", c.cam, "main").URL, gortsplib.ProtocolTCP)
		if err != nil {
			t.Fatal(err)
		}
		defer v.close()
		vs = append(vs, v)
	}
	cases := []struct {
		f    Filter
		want int
	}{
		{Filter{}, 3},
		{Filter{UserID: "op1"}, 2},
		{Filter{CameraID: "cam1"}, 2},
		{Filter{UserID: "op2", CameraID: "cam2"}, 0},
	}
	for _, c := range cases {
		if got := len(e.relay.List(c.f)); got != c.want {
			t.Errorf("List(%+v) = %d views, want %d", c.f, got, c.want)
		}
	}
	op2 := e.relay.List(Filter{UserID: "op2"})[0]
	if err := e.relay.Stop(op2.ID, "manager_stop"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "op2's view closed", vs[2].closed)
	if err := e.relay.Stop(op2.ID, ""); !errors.Is(err, ErrNotFound) {
		t.Errorf("Stop of an ended view: %v, want ErrNotFound", err)
	}
	if n := e.relay.CloseUserSessions("op1", ""); n != 2 {
		t.Errorf("CloseUserSessions = %d, want 2", n)
	}
	eventually(t, 5*time.Second, "op1's views closed", func() bool { return vs[0].closed() && vs[1].closed() })
	eventually(t, 5*time.Second, "three end entries", func() bool { return len(e.audit.ends()) == 3 })
	for _, en := range e.audit.ends() {
		want := ReasonRevoked
		if en.Actor.UserID == "op2" {
			want = "manager_stop"
		}
		if en.Reason != want {
			t.Errorf("%s: reason %q, want %q", en.Actor.UserID, en.Reason, want)
		}
	}
}

func TestCloseIsIdempotentAndEndsViews(t *testing.T) {
	e := newEnv(t, 1)
	v, err := play(e.ticket("u", "s", "cam1", "main").URL, gortsplib.ProtocolTCP)
	if err != nil {
		t.Fatal(err)
	}
	defer v.close()
	eventually(t, 10*time.Second, "decodable", v.decodable)
	e.relay.Close()
	e.relay.Close()
	eventually(t, 5*time.Second, "viewer closed", v.closed)
	ends := e.audit.ends()
	if len(ends) != 1 || ends[0].Reason != ReasonShutdown {
		t.Errorf("ends = %+v", ends)
	}
	if err := e.relay.Start(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Start after Close: %v", err)
	}
}
