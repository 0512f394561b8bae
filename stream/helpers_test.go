package stream

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/liberrors"
	"github.com/pion/rtp"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/gwanje/gwanje/audit"
	"github.com/gwanje/gwanje/camsim"
	"github.com/gwanje/gwanje/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// testLogger discards unless GWANJE_TEST_LOG is set.
func testLogger() *slog.Logger {
	if os.Getenv("GWANJE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// camSet implements Cameras over camsim cameras and counts lookups (one per
// upstream connection attempt).
type camSet struct {
	mu      sync.Mutex
	cams    map[string]*camsim.Camera
	ext     map[string]Upstream // cameras in another process (benchmarks)
	lookups atomic.Int64
}

func (c *camSet) Upstream(_ context.Context, id, profile string) (Upstream, error) {
	c.lookups.Add(1)
	c.mu.Lock()
	cam := c.cams[id]
	up, isExt := c.ext[id]
	c.mu.Unlock()
	if isExt {
		return up, nil
	}
	if cam == nil {
		return Upstream{}, fmt.Errorf("camera %s: %w", id, ErrUnknownCamera)
	}
	info := cam.Info()
	u, ok := info.RTSPURLs[profile]
	if !ok {
		return Upstream{}, fmt.Errorf("camera %s profile %s: %w", id, profile, ErrUnknownCamera)
	}
	return Upstream{URL: u, Username: info.Username, Password: info.Password}, nil
}

// recAuditor wraps the real audit store and keeps the entries it committed.
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
		if e.Type == EntryViewEnd {
			out = append(out, e)
		}
	}
	return out
}

// env is a relay on loopback with real PostgreSQL, audit store and camsim.
type env struct {
	t       testing.TB
	ctx     context.Context
	tickets *Tickets
	audit   *recAuditor
	cams    *camSet
	relay   *Relay
	node    *relayNode
}

// relayNode is a NodePicker that points at the test's relay.
type relayNode struct{ r atomic.Pointer[Relay] }

func (n *relayNode) PickNode(context.Context, string) (Node, error) {
	r := n.r.Load()
	if r == nil {
		return Node{}, ErrNoNode
	}
	return r.Node(), nil
}

type envOpt func(*Config)

// newEnv starts cameras cam1..camN (camsim, 1s keyframes) and a relay.
func newEnv(t testing.TB, ncams int, opts ...envOpt) *env {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	pool := pgtest.Pool(t)
	leakCheck(t) // after the test binary's shared PostgreSQL server is up
	store, err := audit.New(audit.Config{Pool: pool, SigningKey: ed25519.NewKeyFromSeed(make([]byte, 32))})
	if err != nil {
		t.Fatal(err)
	}
	storeDone := make(chan struct{})
	go func() { defer close(storeDone); _ = store.Run(ctx) }()
	t.Cleanup(func() { store.Close(); <-storeDone })

	e := &env{t: t, ctx: ctx, audit: &recAuditor{store: store}, cams: &camSet{cams: map[string]*camsim.Camera{}}}
	e.node = &relayNode{}
	e.tickets = NewTickets(pool, e.node)
	for i := 1; i <= ncams; i++ {
		e.addCamera(fmt.Sprintf("cam%d", i))
	}
	cfg := Config{
		RTSPAddress:   "127.0.0.1:0",
		UDPRTPAddress: "-",
		Tickets:       e.tickets,
		Cameras:       e.cams,
		Auditor:       e.audit,
		Linger:        300 * time.Millisecond,
		Logger:        testLogger(),
	}
	for _, o := range opts {
		o(&cfg)
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	e.relay = r
	e.node.r.Store(r)
	return e
}

func (e *env) addCamera(id string) *camsim.Camera {
	e.t.Helper()
	cam, err := camsim.New(camsim.Config{ID: id, KeyframeInterval: time.Second, Logger: testLogger()})
	if err != nil {
		e.t.Fatal(err)
	}
	if err := cam.Start(e.ctx); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { cam.Close() })
	e.cams.mu.Lock()
	e.cams.cams[id] = cam
	e.cams.mu.Unlock()
	return cam
}

func (e *env) cam(id string) *camsim.Camera {
	e.cams.mu.Lock()
	defer e.cams.mu.Unlock()
	return e.cams.cams[id]
}

// ticket commits a live.view.start entry and issues a ticket for it.
func (e *env) ticket(user, session, camera, profile string) Ticket {
	e.t.Helper()
	rec, err := e.audit.store.Append(e.ctx, audit.Entry{
		Type: "live.view.start", Outcome: audit.Success, Actor: audit.Actor{UserID: user},
		SessionID: session, Cameras: []string{camera}, Live: true, Purpose: "crime_prevention",
	})
	if err != nil {
		e.t.Fatal(err)
	}
	tk, err := e.tickets.IssueTicket(e.ctx, TicketRequest{
		UserID: user, SessionID: session, CameraID: camera, Profile: profile,
		Purpose: "crime_prevention", AuditSeq: rec.Seq,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return tk
}

// eventually polls cond until it holds or the deadline passes.
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

// leakCheck records the goroutine count now and, at cleanup, waits until
// it is back (registered first, it runs after every later cleanup).
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

// viewer is an RTSP client that plays a live URL and checks what it gets.
type viewer struct {
	c       *gortsplib.Client
	started time.Time

	mu        sync.Mutex
	pkts      int
	bytes     int64
	aus       int
	sps, pps  bool
	idr       int
	firstIDR  time.Time
	lastPTS   int64
	nonMono   int
	lastTS    uint32
	haveTS    bool
	tsBack    int
	mediaKind []string
	done      chan error
}

// play opens url with the gortsplib client over proto and decodes H.264.
func play(url string, proto gortsplib.Protocol) (*viewer, error) {
	u, err := base.ParseURL(url)
	if err != nil {
		return nil, err
	}
	v := &viewer{started: time.Now(), lastPTS: -1 << 62, done: make(chan error, 1)}
	v.c = &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Protocol: &proto, ReadTimeout: 5 * time.Second}
	if err := v.c.Start(); err != nil {
		return nil, err
	}
	desc, _, err := v.c.Describe(u)
	if err != nil {
		v.c.Close()
		return nil, err
	}
	for _, m := range desc.Medias {
		v.mediaKind = append(v.mediaKind, string(m.Type))
	}
	var h264 *format.H264
	medi := desc.FindFormat(&h264)
	if medi == nil {
		v.c.Close()
		return nil, errors.New("no H.264 media")
	}
	if _, err := v.c.Setup(desc.BaseURL, medi, 0, 0); err != nil {
		v.c.Close()
		return nil, err
	}
	dec, err := h264.CreateDecoder()
	if err != nil {
		v.c.Close()
		return nil, err
	}
	v.c.OnPacketRTP(medi, h264, func(p *rtp.Packet) { v.onPacket(medi, dec, p) })
	if _, err := v.c.Play(nil); err != nil {
		v.c.Close()
		return nil, err
	}
	go func() { v.done <- v.c.Wait() }()
	return v, nil
}

type h264Decoder interface {
	Decode(*rtp.Packet) ([][]byte, error)
}

func (v *viewer) onPacket(medi *description.Media, dec h264Decoder, p *rtp.Packet) {
	pts, ptsOK := v.c.PacketPTS(medi, p)
	au, err := dec.Decode(p)
	v.mu.Lock()
	defer v.mu.Unlock()
	v.pkts++
	v.bytes += int64(p.MarshalSize())
	if v.haveTS && int32(p.Timestamp-v.lastTS) < 0 {
		v.tsBack++
	}
	v.lastTS, v.haveTS = p.Timestamp, true
	if err != nil || !ptsOK {
		return
	}
	v.aus++
	for _, n := range au {
		if len(n) == 0 {
			continue
		}
		switch n[0] & 0x1f {
		case 7:
			v.sps = true
		case 8:
			v.pps = true
		case 5:
			if v.idr == 0 {
				v.firstIDR = time.Now()
			}
			v.idr++
		}
	}
	if pts < v.lastPTS {
		v.nonMono++
	}
	v.lastPTS = pts
}

func (v *viewer) stats() (aus, idr int, sps, pps bool, nonMono, tsBack int, bytes int64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.aus, v.idr, v.sps, v.pps, v.nonMono, v.tsBack, v.bytes
}

func (v *viewer) decodable() bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.sps && v.pps && v.idr > 0
}

func (v *viewer) close() { v.c.Close() }

// closed reports whether the server ended the viewer's session.
func (v *viewer) closed() bool {
	select {
	case err := <-v.done:
		v.done <- err
		return true
	default:
		return false
	}
}

// freeUDPPair finds an even UDP port whose successor is free too on
// 127.0.0.1 and returns "127.0.0.1:port" (a small race with other
// processes is possible; the test then fails at Start and says so).
func freeUDPPair(t testing.TB) string {
	t.Helper()
	for i := 0; i < 100; i++ {
		a, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := a.LocalAddr().(*net.UDPAddr).Port
		a.Close()
		if p%2 == 1 {
			p--
		}
		c1, err1 := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", p))
		c2, err2 := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", p+1))
		if c1 != nil {
			c1.Close()
		}
		if c2 != nil {
			c2.Close()
		}
		if err1 == nil && err2 == nil {
			return fmt.Sprintf("127.0.0.1:%d", p)
		}
	}
	t.Fatal("no free UDP port pair")
	return ""
}

// value reads a gauge or counter.
func value(m prometheus.Metric) float64 {
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		return -1
	}
	if d.Gauge != nil {
		return d.Gauge.GetValue()
	}
	if d.Counter != nil {
		return d.Counter.GetValue()
	}
	return -1
}

// containsStatus reports whether a client error carries an RTSP status.
func containsStatus(err error, code int) bool {
	var bad liberrors.ErrClientBadStatusCode
	if errors.As(err, &bad) {
		return int(bad.Code) == code
	}
	return false
}
