package whep_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/gwanje/gwanje/accesscontrol"
	"github.com/gwanje/gwanje/audit"
	"github.com/gwanje/gwanje/camsim"
	"github.com/gwanje/gwanje/events"
	"github.com/gwanje/gwanje/internal/pgtest"
	"github.com/gwanje/gwanje/internal/revoke"
	"github.com/gwanje/gwanje/stream"
	"github.com/gwanje/gwanje/stream/whep"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func testLogger() *slog.Logger {
	if os.Getenv("GWANJE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// pullCounter is a TCP proxy in front of a camsim camera's RTSP port: it
// counts the connections the camera gets (upstream pulls).
type pullCounter struct {
	ln    net.Listener
	pulls atomic.Int64
	wg    sync.WaitGroup
}

func newPullCounter(t testing.TB, target string) *pullCounter {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &pullCounter{ln: ln}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.pulls.Add(1)
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.wg.Add(2)
			go func() { defer p.wg.Done(); _, _ = io.Copy(up, c); up.Close() }()
			go func() { defer p.wg.Done(); _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return p
}

// cams implements stream.Cameras over camsim cameras behind pull counters.
type cams struct {
	mu   sync.Mutex
	cams map[string]*camsim.Camera
	pc   map[string]*pullCounter
}

func (c *cams) Upstream(_ context.Context, id, profile string) (stream.Upstream, error) {
	c.mu.Lock()
	cam, pc := c.cams[id], c.pc[id]
	c.mu.Unlock()
	if cam == nil {
		return stream.Upstream{}, fmt.Errorf("camera %s: %w", id, stream.ErrUnknownCamera)
	}
	info := cam.Info()
	u, ok := info.RTSPURLs[profile]
	if !ok {
		return stream.Upstream{}, fmt.Errorf("camera %s profile %s: %w", id, profile, stream.ErrUnknownCamera)
	}
	u = "rtsp://" + pc.ln.Addr().String() + u[len("rtsp://")+len(cam.RTSPAddr()):]
	return stream.Upstream{URL: u, Username: info.Username, Password: info.Password}, nil
}

// recAuditor is the real audit store, keeping what it committed.
type recAuditor struct {
	store *audit.Store
	mu    sync.Mutex
	ents  []audit.Entry
}

func (a *recAuditor) Append(ctx context.Context, e audit.Entry) (audit.Record, error) {
	rec, err := a.store.Append(ctx, e)
	if err == nil {
		a.mu.Lock()
		a.ents = append(a.ents, e)
		a.mu.Unlock()
	}
	return rec, err
}

func (a *recAuditor) ends() []audit.Entry {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []audit.Entry
	for _, e := range a.ents {
		if e.Type == stream.EntryViewEnd {
			out = append(out, e)
		}
	}
	return out
}

// denySet is an Authorizer that denies the users in it.
type denySet struct {
	mu     sync.Mutex
	denied map[string]bool
}

func (d *denySet) StillAllowed(_ context.Context, h revoke.Holder) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return !d.denied[h.UserID]
}

func (d *denySet) deny(user string) {
	d.mu.Lock()
	d.denied[user] = true
	d.mu.Unlock()
}

// env: real PostgreSQL, audit store, NATS, camsim, the RTSP relay and the
// WHEP server on loopback.
type env struct {
	t       testing.TB
	ctx     context.Context
	tickets *stream.Tickets
	audit   *recAuditor
	cams    *cams
	relay   *stream.Relay
	views   *stream.Views // the view directory the relay keeps its views in
	whep    *whep.Server
	http    *httptest.Server
	bus     *events.Bus
	authz   *denySet
}

// relayNode is the test's node: the relay, with the test's HTTPS server as
// its WHEP address.
type relayNode struct{ e *env }

func (n relayNode) PickNode(context.Context, string) (stream.Node, error) {
	node := n.e.relay.Node()
	node.WebURL = n.e.http.URL
	return node, nil
}

func newEnv(t testing.TB, ncams int) *env {
	t.Helper()
	return newEnvWith(t, ncams, nil)
}

// newEnvWith is newEnv with the WHEP server's Config changed by with.
func newEnvWith(t testing.TB, ncams int, with func(*whep.Config)) *env {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	pool := pgtest.Pool(t)
	leakCheck(t)
	store, err := audit.New(audit.Config{Pool: pool, SigningKey: ed25519.NewKeyFromSeed(make([]byte, 32))})
	if err != nil {
		t.Fatal(err)
	}
	storeDone := make(chan struct{})
	go func() { defer close(storeDone); _ = store.Run(ctx) }()
	t.Cleanup(func() { store.Close(); <-storeDone })
	bus, err := events.New(ctx, events.Config{DataDir: t.TempDir(), ListenAddr: "127.0.0.1:0", Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bus.Close)

	e := &env{t: t, ctx: ctx, audit: &recAuditor{store: store}, bus: bus,
		cams: &cams{cams: map[string]*camsim.Camera{}, pc: map[string]*pullCounter{}}, authz: &denySet{denied: map[string]bool{}}}
	for i := 1; i <= ncams; i++ {
		id := fmt.Sprintf("cam%d", i)
		cam, err := camsim.New(camsim.Config{ID: id, KeyframeInterval: time.Second, Logger: testLogger()})
		if err != nil {
			t.Fatal(err)
		}
		if err := cam.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cam.Close() })
		e.cams.cams[id] = cam
		e.cams.pc[id] = newPullCounter(t, cam.RTSPAddr())
	}
	tickets := stream.NewTickets(pool, nil)
	e.views, err = stream.NewViews(ctx, bus.JS, bus.Conn, 0, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	r, err := stream.New(stream.Config{RTSPAddress: "127.0.0.1:0", UDPRTPAddress: "-", Tickets: tickets, Cameras: e.cams,
		Auditor: e.audit, Authorizer: e.authz, Notices: bus.Notices(), Linger: 300 * time.Millisecond, Views: e.views, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	e.relay = r
	e.tickets = stream.NewTickets(pool, relayNode{e})
	wcfg := whep.Config{Source: whep.RelaySource{Relay: r}, Tickets: e.tickets, Auditor: e.audit,
		Authorizer: e.authz, Notices: bus.Notices(), NodeID: "test", UDPAddr: "127.0.0.1:0", TCPAddr: "127.0.0.1:0", Views: r,
		Logger: testLogger()}
	if with != nil {
		with(&wcfg)
	}
	w, err := whep.New(wcfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() }) // before the relay closes (cleanups run last first)
	e.whep = w
	mux := http.NewServeMux()
	mux.Handle("/whep/", w.Handler())
	mux.Handle("/", http.FileServer(http.Dir("testdata")))
	e.http = httptest.NewServer(mux)
	t.Cleanup(e.http.Close)
	return e
}

// ticket commits a live.view.start entry and issues a WebRTC ticket for it.
func (e *env) ticket(user, session, camera, profile string) stream.Ticket {
	e.t.Helper()
	return e.ticketFor(stream.TransportWebRTC, user, session, camera, profile)
}

// ticketFor is ticket for a transport (stream.TransportRTSP or WebRTC).
func (e *env) ticketFor(transport, user, session, camera, profile string) stream.Ticket {
	e.t.Helper()
	rec, err := e.audit.store.Append(e.ctx, audit.Entry{
		Type: "live.view.start", Outcome: audit.Success, Actor: audit.Actor{UserID: user},
		SessionID: session, Cameras: []string{camera}, Live: true, Purpose: "crime_prevention",
	})
	if err != nil {
		e.t.Fatal(err)
	}
	tk, err := e.tickets.IssueTicket(e.ctx, stream.TicketRequest{
		UserID: user, SessionID: session, CameraID: camera, Profile: profile,
		Purpose: "crime_prevention", AuditSeq: rec.Seq, Transport: transport,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return tk
}

// whepURL is the WHEP URL of a ticket on the test server.
func (e *env) whepURL(tk stream.Ticket, camera, profile string) string {
	return stream.WHEPURL(e.http.URL, camera, profile, tk.Token)
}

func (e *env) revokeSession(user, session string) time.Time {
	b, _ := json.Marshal(accesscontrol.RevokedNotice{UserID: user, SessionID: session, Event: "logout"})
	at := time.Now()
	if err := e.bus.Notices().Publish(events.AccessRevoked, b); err != nil {
		e.t.Fatal(err)
	}
	return at
}

// client is a pion WebRTC viewer: it does the WHEP exchange and counts
// the video it receives.
type client struct {
	pc       *webrtc.PeerConnection
	location string
	viewID   string // the Gwanje-View-Id header
	pkts     atomic.Int64
	frames   atomic.Int64 // RTP packets with the marker bit
	answer   string
	firstNAL atomic.Int32 // NAL unit type of the first packet's payload
	ended    chan struct{}
	endOnce  sync.Once
}

// post sends an offer to url and returns the status and the answer.
func post(url, offer string, opts ...func(*http.Request)) (int, string, http.Header, error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewBufferString(offer))
	if err != nil {
		return 0, "", nil, err
	}
	req.Header.Set("Content-Type", "application/sdp")
	for _, o := range opts {
		o(req)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", nil, err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b), res.Header, nil
}

// dial makes a recvonly video (and audio, which the server must refuse)
// offer and does the WHEP exchange; status is the POST's.
func withBearer(token string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }
}

func dial(t testing.TB, url string, opts ...func(*http.Request)) (*client, int) {
	t.Helper()
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeTCP4})
	api := webrtc.NewAPI(webrtc.WithSettingEngine(se))
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	c := &client{pc: pc, ended: make(chan struct{})}
	t.Cleanup(func() { pc.Close() })
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		if tr.Kind() != webrtc.RTPCodecTypeVideo {
			t.Errorf("got a %s track", tr.Kind())
		}
		for {
			p, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			if c.pkts.Add(1) == 1 && len(p.Payload) > 0 {
				c.firstNAL.Store(int32(p.Payload[0] & 0x1f))
			}
			if p.Marker {
				c.frames.Add(1)
			}
		}
	})
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateClosed || s == webrtc.PeerConnectionStateFailed || s == webrtc.PeerConnectionStateDisconnected {
			c.endOnce.Do(func() { close(c.ended) })
		}
	})
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	code, answer, hdr, err := post(url, pc.LocalDescription().SDP, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if code != http.StatusCreated {
		return c, code
	}
	c.location, c.answer, c.viewID = hdr.Get("Location"), answer, hdr.Get(whep.ViewHeader)
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	return c, code
}

func (c *client) isEnded() bool {
	select {
	case <-c.ended:
		return true
	default:
		return false
	}
}

func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for: %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// leakCheck waits at cleanup until the goroutine count is back.
func leakCheck(t testing.TB) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(10 * time.Second)
		for {
			n := runtime.NumGoroutine()
			if n <= before {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				t.Errorf("goroutine leak: %d before, %d after\n%s", before, n, buf)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}
