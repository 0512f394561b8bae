package whep_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"

	"github.com/gwanje/gwanje/stream"
	"github.com/gwanje/gwanje/stream/whep"
)

// A ticket opens a view only on the transport it was issued for, and a
// refusal for the wrong one leaves it unused.
func TestTicketBoundToTransport(t *testing.T) {
	e := newEnv(t, 1)
	rtspTk := e.ticketFor(stream.TransportRTSP, "alice", "a-login", "cam1", "main")
	if _, code := dial(t, e.whepURL(rtspTk, "cam1", "main")); code != http.StatusForbidden {
		t.Fatalf("an RTSP ticket at the WHEP endpoint: %d, want 403", code)
	}
	webTk := e.ticket("alice", "a-login", "cam1", "main")
	if !strings.HasPrefix(webTk.URL, e.http.URL+whep.LivePrefix+"cam1/main?ticket=") {
		t.Fatalf("WebRTC ticket URL %q: want the node's WHEP URL", webTk.URL)
	}
	rtspURL := stream.LiveURL(e.relay.URL(), "cam1", "main", webTk.Token)
	var frames atomic.Int64
	if err := tryRTSP(rtspURL); err == nil {
		t.Fatal("a WebRTC ticket opened an RTSP view")
	}
	// Both still open their own view, once.
	playRTSP(t, rtspTk.URL, func() { frames.Add(1) })
	c, code := dial(t, webTk.URL)
	if code != http.StatusCreated {
		t.Fatalf("the WebRTC ticket after the refusal: %d", code)
	}
	if c.viewID != webTk.ViewID || c.viewID == "" {
		t.Fatalf("view id %q, want the ticket's %q", c.viewID, webTk.ViewID)
	}
	eventually(t, 15*time.Second, "frames on both", func() bool { return c.frames.Load() > 0 && frames.Load() > 0 })
}

// WebRTC views are listed with the relay's views (ListLiveSessions, the
// view directory), and the relay's Stop and CloseUserSessions end them.
func TestWebRTCViewsListedAndStopped(t *testing.T) {
	e := newEnv(t, 1)
	tk := e.ticket("alice", "a-login", "cam1", "sub")
	c, code := dial(t, tk.URL)
	if code != http.StatusCreated {
		t.Fatalf("POST: %d", code)
	}
	eventually(t, 15*time.Second, "frames", func() bool { return c.frames.Load() > 0 })
	v, ok := e.relay.Get(tk.ViewID)
	if !ok || v.Transport != whep.Transport || v.UserID != "alice" || v.Profile != "sub" || v.CameraID != "cam1" ||
		v.AuditSeq <= 0 || !v.Playing {
		t.Fatalf("relay.Get(%s) = %+v, %v", tk.ViewID, v, ok)
	}
	if l := e.relay.List(stream.Filter{UserID: "alice"}); len(l) != 1 || l[0].ID != tk.ViewID {
		t.Fatalf("List = %+v", l)
	}
	at := time.Now()
	if err := e.relay.Stop(tk.ViewID, "stopped by manager"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the session ends", c.isEnded)
	t.Logf("Stop closed the WebRTC view in %v", time.Since(at).Round(time.Millisecond))
	eventually(t, 10*time.Second, "audited", func() bool { return len(e.audit.ends()) == 1 })
	if end := e.audit.ends()[0]; end.Reason != "stopped by manager" || end.Details["view"] != tk.ViewID {
		t.Fatalf("end %+v", end)
	}
	if _, ok := e.relay.Get(tk.ViewID); ok {
		t.Fatal("the ended view is still listed")
	}
	// CloseUserSessions (revocation without a decider) ends them too.
	c2 := dialOK(t, e, "bob", "b-login", "cam1")
	eventually(t, 15*time.Second, "bob plays", func() bool { return c2.frames.Load() > 0 })
	if n := e.relay.CloseUserSessions("bob", ""); n != 1 {
		t.Fatalf("CloseUserSessions: %d", n)
	}
	eventually(t, 5*time.Second, "bob's session ends", c2.isEnded)
}

// A view switches profile in place: frames keep coming on the same peer
// connection, the listing shows the new profile, and the end entry names
// every profile served.
func TestSwitchProfileInPlace(t *testing.T) {
	e := newEnv(t, 1)
	tk := e.ticket("alice", "a-login", "cam1", "sub")
	c, code := dial(t, tk.URL)
	if code != http.StatusCreated {
		t.Fatalf("POST: %d", code)
	}
	eventually(t, 15*time.Second, "frames", func() bool { return c.frames.Load() > 5 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.relay.SwitchProfile(ctx, tk.ViewID, "main"); err != nil {
		t.Fatal(err)
	}
	n := c.frames.Load()
	eventually(t, 15*time.Second, "frames after the switch", func() bool { return c.frames.Load() > n+10 })
	if v, _ := e.relay.Get(tk.ViewID); v.Profile != "main" {
		t.Fatalf("listed profile %q after the switch", v.Profile)
	}
	if c.isEnded() {
		t.Fatal("the switch ended the session")
	}
	if err := e.relay.SwitchProfile(ctx, "nosuchview", "main"); !errors.Is(err, stream.ErrNotFound) {
		t.Fatalf("unknown view: %v", err)
	}
	if err := e.relay.SwitchProfile(ctx, tk.ViewID, "../x"); !errors.Is(err, stream.ErrInvalidRequest) {
		t.Fatalf("bad profile: %v", err)
	}
	// An RTSP view cannot switch in place.
	rtk := e.ticketFor(stream.TransportRTSP, "bob", "b-login", "cam1", "main")
	var rf atomic.Int64
	playRTSP(t, rtk.URL, func() { rf.Add(1) })
	eventually(t, 15*time.Second, "the RTSP view plays", func() bool { return rf.Load() > 0 })
	if err := e.relay.SwitchProfile(ctx, rtk.ViewID, "sub"); !errors.Is(err, stream.ErrCannotSwitch) {
		t.Fatalf("RTSP view switch: %v", err)
	}
	e.relay.Stop(tk.ViewID, "")
	eventually(t, 10*time.Second, "audited", func() bool {
		for _, end := range e.audit.ends() {
			if end.Details["view"] == tk.ViewID {
				return true
			}
		}
		return false
	})
	for _, end := range e.audit.ends() {
		if end.Details["view"] == tk.ViewID {
			if end.Details["profile"] != "main" || !slices.Equal(end.Details["profiles"].([]string), []string{"sub", "main"}) {
				t.Fatalf("end entry %+v", end.Details)
			}
		}
	}
	// One pull per profile, shared: the switch opened main's, nothing else.
	if p := e.cams.pc["cam1"].pulls.Load(); p != 2 {
		t.Fatalf("camsim saw %d pulls, want 2 (sub and main)", p)
	}
}

// tryRTSP asks the relay to DESCRIBE url and returns its refusal.
func tryRTSP(url string) error {
	u, err := base.ParseURL(url)
	if err != nil {
		return err
	}
	tcp := gortsplib.ProtocolTCP
	c := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Protocol: &tcp, ReadTimeout: 5 * time.Second}
	if err := c.Start(); err != nil {
		return err
	}
	defer c.Close()
	_, _, err = c.Describe(u)
	return err
}

// One source holds at most MaxPerSource sessions, the node MaxSessions:
// the refusal comes before the ticket is looked at, so it stays usable.
func TestSessionCaps(t *testing.T) {
	e := newEnvWith(t, 1, func(c *whep.Config) { c.MaxPerSource = 1; c.MaxSessions = 2 })
	first, code := dial(t, e.ticket("alice", "a", "cam1", "sub").URL)
	if code != http.StatusCreated {
		t.Fatalf("first: %d", code)
	}
	tk := e.ticket("alice", "a", "cam1", "sub")
	if _, code := dial(t, tk.URL); code != http.StatusTooManyRequests {
		t.Fatalf("second from the same source: %d, want 429", code)
	}
	if err := e.relay.Stop(first.viewID, ""); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the first session ends", func() bool { return e.whep.Sessions() == 0 })
	c, code := dial(t, tk.URL)
	if code != http.StatusCreated {
		t.Fatalf("the refused ticket after the first ended: %d", code)
	}
	eventually(t, 15*time.Second, "frames", func() bool { return c.frames.Load() > 0 })
}

// ICE-TCP alone (a network that blocks UDP): the session plays over the
// one TCP port, and Close does not wait for idle TCP candidates.
func TestICETCPOnly(t *testing.T) {
	e := newEnvWith(t, 1, func(c *whep.Config) { c.UDPAddr = "-" })
	if e.whep.UDPAddr() != "" || e.whep.TCPAddr() == "" {
		t.Fatalf("ports: udp %q tcp %q", e.whep.UDPAddr(), e.whep.TCPAddr())
	}
	c, code := dial(t, e.ticket("alice", "a", "cam1", "sub").URL)
	if code != http.StatusCreated {
		t.Fatalf("POST: %d", code)
	}
	if !strings.Contains(c.answer, " tcp ") || strings.Contains(c.answer, " udp ") {
		t.Fatalf("the answer's candidates are not TCP only:\n%s", c.answer)
	}
	eventually(t, 15*time.Second, "frames over ICE-TCP", func() bool { return c.frames.Load() > 10 })
	// An idle connection to the ICE-TCP port (no STUN yet) is closed by
	// Close, not left to hold it until the first-STUN timeout (5s).
	idle, err := net.Dial("tcp", e.whep.TCPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	e.whep.Close()
	_ = idle.SetReadDeadline(time.Now().Add(2 * time.Second))
	var nerr net.Error
	if _, err := idle.Read(make([]byte, 1)); err == nil || (errors.As(err, &nerr) && nerr.Timeout()) {
		t.Fatalf("the idle ICE-TCP connection is still open after Close: %v", err)
	}
}

// Through the view directory (control on another machine than the stream
// node): a WebRTC view is listed with its figures, switched and stopped
// over NATS.
func TestWebRTCViewsInTheDirectory(t *testing.T) {
	e := newEnv(t, 1)
	tk := e.ticket("alice", "a-login", "cam1", "sub")
	c, code := dial(t, tk.URL)
	if code != http.StatusCreated {
		t.Fatalf("POST: %d", code)
	}
	eventually(t, 15*time.Second, "frames", func() bool { return c.frames.Load() > 0 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var v stream.LiveSession
	eventually(t, 10*time.Second, "listed in the directory", func() bool {
		l, err := e.views.List(ctx, stream.Filter{UserID: "alice"})
		if err != nil || len(l) != 1 {
			return false
		}
		v = l[0]
		return true
	})
	if v.ID != tk.ViewID || v.Transport != whep.Transport || v.Profile != "sub" || v.Node != e.relay.Node().ID {
		t.Fatalf("directory entry %+v", v)
	}
	if err := e.views.Switch(ctx, v, "main"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the directory shows main", func() bool {
		got, ok, err := e.views.Get(ctx, v.ID)
		return err == nil && ok && got.Profile == "main"
	})
	n := c.frames.Load()
	eventually(t, 15*time.Second, "frames after the switch", func() bool { return c.frames.Load() > n+10 })
	if err := e.views.Stop(ctx, v, "stopped by manager"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the session ends", c.isEnded)
	eventually(t, 10*time.Second, "gone from the directory", func() bool {
		_, ok, err := e.views.Get(ctx, v.ID)
		return err == nil && !ok
	})
	if err := e.views.Stop(ctx, v, ""); !errors.Is(err, stream.ErrNotFound) {
		t.Fatalf("stopping it again: %v", err)
	}
}
