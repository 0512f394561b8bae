package stream

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/liberrors"

	"github.com/gwanje/gwanje/audit"
	"github.com/gwanje/gwanje/internal/revoke"
)

// Audit entry types written by the relay.
const (
	// EntryViewEnd ends every view opened with a redeemed ticket, and
	// records a view that could not start because the camera did not
	// answer (Outcome failed, Reason "camera_unavailable").
	EntryViewEnd = "live.view.end"
)

// End reasons, in live.view.end entries and the views_closed metric.
const (
	ReasonClientClosed      = "client_closed"
	ReasonDisconnected      = "disconnected"
	ReasonTimeout           = "timeout"
	ReasonSlow              = "slow"
	ReasonRevoked           = revoke.ReasonRevoked
	ReasonSessionEnded      = revoke.ReasonSessionEnded
	ReasonStopped           = "stopped"
	ReasonShutdown          = "relay_shutdown"
	ReasonCameraUnavailable = "camera_unavailable"
	ReasonNoPlay            = "never_played"
	ReasonUpstreamChanged   = "upstream_changed"
)

var (
	errBadPath = errors.New("stream: not a live path")
	// ErrNotFound is returned by Stop for an unknown view.
	ErrNotFound = errors.New("stream: no such live view")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("stream: relay closed")
)

// LiveSession describes an open live view.
type LiveSession struct {
	// ID identifies the view on this node (Stop takes it).
	ID         string
	UserID     string
	Username   string
	SessionID  string // the viewer's login session
	CameraID   string
	Profile    string
	Purpose    string
	AuditSeq   int64 // of the live.view.start entry
	Node       string
	RemoteAddr string
	Transport  string // "TCP", "UDP" or "" before SETUP
	Started    time.Time
	Playing    bool
	Bytes      int64
	Drops      int64
}

// Filter selects views in List; empty fields match all.
type Filter struct {
	UserID   string
	CameraID string
}

// view is one viewer: from the redeemed ticket to the end of its RTSP
// session.
type view struct {
	id      string
	grant   Grant
	remote  string
	started time.Time
	hub     *hub
	conn    *gortsplib.ServerConn

	// set once, in the session's goroutine, before the view joins its hub
	ss        atomic.Pointer[gortsplib.ServerSession]
	transport atomic.Pointer[string]
	playing   atomic.Bool

	// hub.mu
	waitingKey   bool
	failingSince time.Time

	bytes  atomic.Int64
	drops  atomic.Int64
	reason atomic.Pointer[string]
	ended  atomic.Bool
	// untrack removes the view from the revocation watcher (set before the
	// view is published).
	untrack func()
}

func (v *view) info(node string) LiveSession {
	return LiveSession{
		ID: v.id, UserID: v.grant.UserID, Username: v.grant.Username, SessionID: v.grant.SessionID,
		CameraID: v.grant.CameraID, Profile: v.grant.Profile, Purpose: v.grant.Purpose,
		AuditSeq: v.grant.AuditSeq, Node: node, RemoteAddr: v.remote, Transport: v.transportName(),
		Started: v.started, Playing: v.playing.Load(), Bytes: v.bytes.Load(), Drops: v.drops.Load(),
	}
}

// Relay is a stream node's live-view server: an RTSP server (gortsplib)
// that admits viewers only with a one-time ticket, and one upstream pull per
// camera profile shared by all its viewers.
type Relay struct {
	cfg Config
	log *slog.Logger
	m   *Metrics

	srv     *gortsplib.Server
	addr    string
	nodeURL string

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	started bool
	closed  bool
	hubs    map[hubKey]*hub
	views   map[string]*view
	ext     map[string]ExternalView         // views served outside the RTSP server (AddView)
	pending map[*gortsplib.ServerConn]*view // redeemed at DESCRIBE, not yet SETUP

	rev    *revoke.Watcher
	auditQ chan audit.Entry

	closeOnce sync.Once
}

// holder is what the revocation watcher re-decides for a live view.
func (g Grant) holder() revoke.Holder {
	return revoke.Holder{UserID: g.UserID, Username: g.Username, SessionID: g.SessionID,
		Permissions: []string{PermissionLiveView}, CameraID: g.CameraID, Purpose: g.Purpose}
}

// PermissionLiveView is the accesscontrol permission a live view is
// re-decided on.
const PermissionLiveView = "live.view"

// New checks cfg and returns a relay; Start (or Run) begins serving.
func New(cfg Config) (*Relay, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	if _, _, err := udpPair(cfg.UDPRTPAddress); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Relay{
		cfg: cfg, log: cfg.Logger, m: cfg.Metrics,
		ctx: ctx, cancel: cancel,
		hubs:    map[hubKey]*hub{},
		views:   map[string]*view{},
		ext:     map[string]ExternalView{},
		pending: map[*gortsplib.ServerConn]*view{},
		rev: revoke.New(revoke.Config{Decider: cfg.Authorizer, Notices: cfg.Notices,
			RecheckInterval: cfg.RecheckInterval, Logger: cfg.Logger}),
		auditQ: make(chan audit.Entry, 1024),
	}, nil
}

// Metrics returns the relay's collectors.
func (r *Relay) Metrics() *Metrics { return r.m }

// Addr returns the RTSP listen address (host:port) once started.
func (r *Relay) Addr() string { return r.addr }

// URL returns the base URL players use (Config.PublicURL or derived).
func (r *Relay) URL() string { return r.nodeURL }

// Node returns this node as registered.
func (r *Relay) Node() Node { return Node{ID: r.cfg.NodeID, URL: r.nodeURL, WebURL: r.cfg.WebURL} }

// Start binds the RTSP (and UDP) listeners and starts the background work:
// the audit writer, revocation handling, the ticket sweeper and the node
// heartbeat. It returns when the relay serves. ctx bounds only the start.
func (r *Relay) Start(ctx context.Context) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return ErrClosed
	}
	if r.started {
		r.mu.Unlock()
		return errors.New("stream: relay already started")
	}
	r.started = true
	r.mu.Unlock()

	rtpAddr, rtcpAddr, _ := udpPair(r.cfg.UDPRTPAddress)
	var ln net.Listener
	r.srv = &gortsplib.Server{
		Handler:        r,
		RTSPAddress:    r.cfg.RTSPAddress,
		UDPRTPAddress:  rtpAddr,
		UDPRTCPAddress: rtcpAddr,
		ReadTimeout:    r.cfg.ReadTimeout,
		WriteTimeout:   r.cfg.WriteTimeout,
		IdleTimeout:    r.cfg.IdleTimeout,
		WriteQueueSize: r.cfg.ViewerQueue,
		Listen: func(network, address string) (net.Listener, error) {
			l, err := net.Listen(network, address)
			if err != nil {
				return nil, err
			}
			ln = l
			var vl net.Listener = viewerListener{l, r.cfg.ViewerSendBuffer}
			if r.cfg.WrapListener != nil {
				vl = r.cfg.WrapListener(vl)
			}
			return vl, nil
		},
	}
	if err := r.srv.Start(); err != nil {
		return fmt.Errorf("stream: RTSP listen %s: %w", r.cfg.RTSPAddress, err)
	}
	r.addr = ln.Addr().String()
	host, port, _ := net.SplitHostPort(r.addr)
	if r.cfg.NodeID == "" {
		r.cfg.NodeID = sanitizeID(hostName() + "-" + port)
	}
	r.nodeURL = r.cfg.PublicURL
	if r.nodeURL == "" {
		if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
			host = hostName()
		}
		r.nodeURL = "rtsp://" + net.JoinHostPort(host, port)
	}
	r.nodeURL = strings.TrimRight(r.nodeURL, "/")

	if err := r.rev.Start(); err != nil {
		r.srv.Close()
		return fmt.Errorf("stream: %w", err)
	}
	r.wg.Add(2)
	go func() { defer r.wg.Done(); r.auditLoop() }()
	go func() { defer r.wg.Done(); r.controlLoop() }()
	if r.cfg.Nodes != nil {
		node := Node{ID: r.cfg.NodeID, URL: r.nodeURL, WebURL: r.cfg.WebURL, Started: time.Now().UTC()}
		if err := r.cfg.Nodes.Put(ctx, node); err != nil {
			r.Close()
			return err
		}
		r.wg.Add(1)
		go func() { defer r.wg.Done(); _ = r.cfg.Nodes.Register(r.ctx, node) }()
	}
	if r.cfg.Views != nil {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			if err := r.cfg.Views.serve(r.ctx, r.cfg.NodeID, func() []LiveSession { return r.List(Filter{}) }, r.Stop, r.SwitchProfile); err != nil {
				r.log.Error("stream: view directory", "err", err)
			}
		}()
	}
	r.log.Info("stream: relay serving", "addr", r.addr, "url", r.nodeURL, "node", r.cfg.NodeID,
		"udp", rtpAddr != "")
	return nil
}

// Run starts the relay, serves until ctx ends, and closes it.
func (r *Relay) Run(ctx context.Context) error {
	if err := r.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	r.Close()
	return nil
}

// Close ends every view (reason relay_shutdown, each audited), stops the
// upstreams and the background work, and waits for them. Safe to call more
// than once.
func (r *Relay) Close() error {
	r.closeOnce.Do(func() {
		r.mu.Lock()
		r.closed = true
		started := r.started
		for _, v := range r.views {
			v.setReason(ReasonShutdown)
		}
		for _, h := range r.hubs {
			if h.linger != nil {
				h.linger.Stop()
			}
		}
		r.mu.Unlock()
		r.rev.Close()
		// Stop the upstreams and pending admissions first, so that closing
		// the server does not wait for a camera.
		r.cancel()
		if started {
			r.srv.Close() // closes connections and sessions: views finish
		}
		r.mu.Lock()
		hubs := make([]*hub, 0, len(r.hubs))
		for _, h := range r.hubs {
			hubs = append(hubs, h)
		}
		r.hubs = map[hubKey]*hub{}
		left := make([]*view, 0, len(r.views))
		for _, v := range r.views {
			left = append(left, v)
		}
		r.mu.Unlock()
		for _, v := range left { // views that never reached a session
			r.finish(v, nil)
		}
		for _, h := range hubs {
			<-h.done
			r.m.Upstreams.Dec()
		}
		close(r.auditQ)
		r.wg.Wait()
	})
	return nil
}

// viewerListener sets the send buffer of accepted connections (when size
// > 0) and makes them coalesce the packets of an access unit into one write
// (see coalescingConn).
type viewerListener struct {
	net.Listener
	size int
}

func (l viewerListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return c, err
	}
	if tc, ok := c.(*net.TCPConn); ok && l.size > 0 {
		_ = tc.SetWriteBuffer(l.size)
	}
	return newCoalescingConn(c), nil
}

// ---- RTSP handler ----

// parseLivePath splits /live/<camera>/<profile>.
func parseLivePath(p string) (camera, profile string, err error) {
	rest, ok := strings.CutPrefix(p, "/live/")
	if !ok {
		return "", "", errBadPath
	}
	camera, profile, ok = strings.Cut(strings.TrimSuffix(rest, "/"), "/")
	if !ok || !validName(camera) || !validName(profile) {
		return "", "", errBadPath
	}
	return camera, profile, nil
}

func ticketFromQuery(q string) string {
	vals, err := url.ParseQuery(q)
	if err != nil {
		return ""
	}
	return vals.Get("ticket")
}

func status(code base.StatusCode) *base.Response { return &base.Response{StatusCode: code} }

func remoteOf(c *gortsplib.ServerConn) string {
	if c == nil || c.NetConn() == nil {
		return ""
	}
	return c.NetConn().RemoteAddr().String()
}

// reject logs and counts a refused request. Never the token: a hash prefix.
func (r *Relay) reject(remote, method, path, token string, err error) {
	reason := RejectReason(err)
	r.m.TicketRejections.WithLabelValues(reason).Inc()
	attrs := []any{"reason", reason, "method", method, "remote", remote, "path", path}
	if token != "" {
		attrs = append(attrs, "ticket", HashPrefix(token))
	}
	if reason == "error" {
		attrs = append(attrs, "err", err)
	}
	r.log.Warn("stream: live view refused", attrs...)
}

func refusal(err error) *base.Response {
	switch RejectReason(err) {
	case "bad_path":
		return status(base.StatusNotFound)
	case "error":
		return status(base.StatusServiceUnavailable)
	}
	return status(base.StatusForbidden)
}

// admit checks a ticket, opens or joins the upstream, and redeems the ticket.
// The ticket is used only when the camera answered, so a viewer refused
// with 503 may retry with the same ticket while it is valid.
func (r *Relay) admit(conn *gortsplib.ServerConn, method, path, query string) (*view, *base.Response) {
	remote := remoteOf(conn)
	cam, prof, err := parseLivePath(path)
	if err != nil {
		r.reject(remote, method, path, "", err)
		return nil, refusal(err)
	}
	token := ticketFromQuery(query)
	ctx, cancel := context.WithTimeout(r.ctx, r.cfg.UpstreamTimeout+10*time.Second)
	defer cancel()
	g, err := r.cfg.Tickets.Check(ctx, token, cam, prof)
	if err == nil {
		err = g.ForTransport(TransportRTSP)
	}
	if err != nil {
		r.reject(remote, method, path, token, err)
		return nil, refusal(err)
	}
	if !r.rev.Allowed(ctx, g.holder()) {
		r.m.TicketRejections.WithLabelValues("denied").Inc()
		r.log.Warn("stream: live view refused", "reason", "denied", "remote", remote, "path", path,
			"ticket", g.HashPrefix, "user", g.UserID)
		return nil, status(base.StatusForbidden)
	}
	h, err := r.acquireHub(hubKey{cam, prof})
	if err != nil {
		return nil, status(base.StatusServiceUnavailable)
	}
	if _, err := h.waitReady(ctx, r.cfg.UpstreamTimeout); err != nil {
		r.releaseHub(h)
		r.log.Warn("stream: camera unavailable; live view refused", "camera", cam, "profile", prof,
			"remote", remote, "user", g.UserID, "ticket", g.HashPrefix, "err", err)
		r.m.Closed.WithLabelValues(ReasonCameraUnavailable).Inc()
		r.enqueueAudit(endEntry(g, r.cfg.NodeID, remote, "", 0, 0, 0, ReasonCameraUnavailable, err))
		return nil, status(base.StatusServiceUnavailable)
	}
	g, err = r.cfg.Tickets.Redeem(ctx, token, cam, prof, remote)
	if err != nil {
		r.releaseHub(h)
		r.reject(remote, method, path, token, err)
		return nil, refusal(err)
	}
	id := g.ViewID
	if id == "" {
		id = newID()
	}
	v := &view{id: id, grant: g, remote: remote, started: time.Now(), hub: h, conn: conn}
	v.untrack = r.rev.Track(g.holder(), func(reason string) { r.closeView(v, reason) })
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		v.untrack()
		r.releaseHub(h)
		r.enqueueAudit(endEntry(g, r.cfg.NodeID, remote, "", 0, 0, 0, ReasonShutdown, nil))
		return nil, status(base.StatusServiceUnavailable)
	}
	r.views[v.id] = v
	r.mu.Unlock()
	if d := r.cfg.Views; d != nil {
		d.put(r.ctx, v.info(r.cfg.NodeID))
	}
	r.m.Viewers.Inc()
	r.log.Info("stream: live view opened", "view", v.id, "user", g.UserID, "camera", cam, "profile", prof,
		"remote", remote, "ticket", g.HashPrefix, "audit_seq", g.AuditSeq)
	return v, nil
}

func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// OnConnClose implements gortsplib.ServerHandlerOnConnClose.
func (r *Relay) OnConnClose(ctx *gortsplib.ServerHandlerOnConnCloseCtx) {
	r.mu.Lock()
	v := r.pending[ctx.Conn]
	delete(r.pending, ctx.Conn)
	r.mu.Unlock()
	if v != nil {
		r.finish(v, ctx.Error)
	}
	if ctx.Error != nil && !isQuietClose(ctx.Error) {
		r.log.Info("stream: RTSP connection closed", "remote", remoteOf(ctx.Conn), "err", ctx.Error)
	}
}

func isQuietClose(err error) bool {
	var torn liberrors.ErrServerSessionTornDown
	var term liberrors.ErrServerTerminated
	return errors.Is(err, io.EOF) || errors.As(err, &torn) || errors.As(err, &term) ||
		errors.Is(err, net.ErrClosed)
}

// OnDescribe implements gortsplib.ServerHandlerOnDescribe: the ticket is
// checked and redeemed here for players that DESCRIBE first (all common
// ones); the view then waits on the connection for its SETUP.
func (r *Relay) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	v, res := r.admit(ctx.Conn, "DESCRIBE", ctx.Path, ctx.Query)
	if res != nil {
		return res, nil, nil
	}
	r.mu.Lock()
	old := r.pending[ctx.Conn]
	r.pending[ctx.Conn] = v
	r.mu.Unlock()
	if old != nil {
		r.finish(old, nil)
	}
	st := v.hub.currentStream()
	if st == nil {
		r.finish(v, nil)
		return status(base.StatusServiceUnavailable), nil, nil
	}
	return status(base.StatusOK), st, nil
}

// OnSetup implements gortsplib.ServerHandlerOnSetup: the session takes the
// view redeemed on its connection, or redeems the ticket in the SETUP URL
// (players that skip DESCRIBE).
func (r *Relay) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if ctx.Transport != nil && ctx.Transport.Protocol == gortsplib.ProtocolUDPMulticast {
		return status(base.StatusUnsupportedTransport), nil, nil
	}
	if v, ok := ctx.Session.UserData().(*view); ok {
		cam, prof, err := parseLivePath(ctx.Path)
		if err != nil || cam != v.grant.CameraID || prof != v.grant.Profile {
			return status(base.StatusBadRequest), nil, nil
		}
		return status(base.StatusOK), v.hub.currentStream(), nil
	}
	cam, prof, perr := parseLivePath(ctx.Path)
	var v *view
	r.mu.Lock()
	if p := r.pending[ctx.Conn]; p != nil && perr == nil && p.grant.CameraID == cam && p.grant.Profile == prof {
		v = p
		delete(r.pending, ctx.Conn)
	}
	r.mu.Unlock()
	if v == nil {
		var res *base.Response
		v, res = r.admit(ctx.Conn, "SETUP", ctx.Path, ctx.Query)
		if res != nil {
			return res, nil, nil
		}
	}
	v.ss.Store(ctx.Session)
	if ctx.Transport != nil {
		t := ctx.Transport.Protocol.String()
		v.transport.Store(&t)
	}
	ctx.Session.SetUserData(v)
	st := v.hub.currentStream()
	if st == nil {
		return status(base.StatusServiceUnavailable), nil, nil
	}
	return status(base.StatusOK), st, nil
}

// OnPlay implements gortsplib.ServerHandlerOnPlay: the view joins its hub
// and gets the cached keyframe at once.
func (r *Relay) OnPlay(ctx *gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	v, ok := ctx.Session.UserData().(*view)
	if !ok {
		r.reject(remoteOf(ctx.Conn), "PLAY", ctx.Path, "", ErrNoTicket)
		return status(base.StatusForbidden), nil
	}
	if v.reason.Load() != nil {
		return status(base.StatusForbidden), nil
	}
	v.playing.Store(true)
	v.hub.join(v)
	return status(base.StatusOK), nil
}

// OnPause implements gortsplib.ServerHandlerOnPause: a paused view leaves
// its hub and rejoins at a keyframe on PLAY.
func (r *Relay) OnPause(ctx *gortsplib.ServerHandlerOnPauseCtx) (*base.Response, error) {
	if v, ok := ctx.Session.UserData().(*view); ok {
		v.playing.Store(false)
		v.hub.leave(v)
	}
	return status(base.StatusOK), nil
}

// OnSessionClose implements gortsplib.ServerHandlerOnSessionClose.
func (r *Relay) OnSessionClose(ctx *gortsplib.ServerHandlerOnSessionCloseCtx) {
	if v, ok := ctx.Session.UserData().(*view); ok {
		r.finish(v, ctx.Error)
	}
}

// OnStreamWriteError implements gortsplib.ServerHandlerOnStreamWriteError
// (unused: the relay writes to sessions, never to streams).
func (r *Relay) OnStreamWriteError(*gortsplib.ServerHandlerOnStreamWriteErrorCtx) {}

func (h *hub) currentStream() *gortsplib.ServerStream {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.stream
}

// ---- hubs ----

func (r *Relay) acquireHub(key hubKey) (*hub, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, ErrClosed
	}
	h := r.hubs[key]
	if h == nil {
		h = newHub(r, key)
		r.hubs[key] = h
		r.m.Upstreams.Inc()
		r.wg.Add(1)
		go func() { defer r.wg.Done(); h.run() }()
	}
	h.refs++
	h.lingerGen++
	if h.linger != nil {
		h.linger.Stop()
		h.linger = nil
	}
	return h, nil
}

func (r *Relay) releaseHub(h *hub) {
	r.mu.Lock()
	defer r.mu.Unlock()
	h.refs--
	if h.refs > 0 || h.removed || r.closed {
		return
	}
	h.lingerGen++
	gen := h.lingerGen
	h.linger = time.AfterFunc(r.cfg.Linger, func() { r.expireHub(h, gen) })
}

// expireHub removes a hub whose linger ran out with no viewer back.
func (r *Relay) expireHub(h *hub, gen uint64) {
	r.mu.Lock()
	if r.closed || h.removed || h.refs > 0 || h.lingerGen != gen {
		r.mu.Unlock()
		return
	}
	h.removed = true
	h.linger = nil
	if r.hubs[h.key] == h {
		delete(r.hubs, h.key)
	}
	r.mu.Unlock()
	h.cancel()
	<-h.done
	r.m.Upstreams.Dec()
	r.log.Info("stream: upstream closed after its last viewer", "camera", h.key.camera, "profile", h.key.profile)
}

// ---- views ----

func (v *view) transportName() string {
	if t := v.transport.Load(); t != nil {
		return *t
	}
	return ""
}

func (v *view) setReason(reason string) {
	v.reason.CompareAndSwap(nil, &reason)
}

// closeView ends a view with reason. It never blocks and takes no relay
// lock, so the hub may call it.
func (r *Relay) closeView(v *view, reason string) {
	v.setReason(reason)
	if ss := v.ss.Load(); ss != nil {
		ss.Close()
	} else if v.conn != nil {
		v.conn.Close()
	}
}

// finish ends a view once: it leaves its hub, and its live.view.end entry
// is queued for the audit store.
func (r *Relay) finish(v *view, cause error) {
	if !v.ended.CompareAndSwap(false, true) {
		return
	}
	reason := endReason(v, cause)
	if v.untrack != nil {
		v.untrack()
	}
	v.playing.Store(false)
	v.hub.leave(v)
	r.mu.Lock()
	delete(r.views, v.id)
	if r.pending[v.conn] == v {
		delete(r.pending, v.conn)
	}
	r.mu.Unlock()
	if d := r.cfg.Views; d != nil {
		d.remove(context.WithoutCancel(r.ctx), v.id)
	}
	r.releaseHub(v.hub)
	r.m.Viewers.Dec()
	r.m.Closed.WithLabelValues(reason).Inc()
	dur := time.Since(v.started)
	r.log.Info("stream: live view ended", "view", v.id, "user", v.grant.UserID, "camera", v.grant.CameraID,
		"profile", v.grant.Profile, "reason", reason, "duration", dur.Round(time.Millisecond),
		"bytes", v.bytes.Load(), "drops", v.drops.Load())
	r.enqueueAudit(endEntry(v.grant, r.cfg.NodeID, v.remote, v.transportName(), dur, v.bytes.Load(), v.drops.Load(), reason, nil))
}

func endReason(v *view, cause error) string {
	if p := v.reason.Load(); p != nil {
		return *p
	}
	if !v.playing.Load() && v.ss.Load() == nil {
		return ReasonNoPlay
	}
	var torn liberrors.ErrServerSessionTornDown
	var timedOut liberrors.ErrServerSessionTimedOut
	var ne net.Error
	switch {
	case cause == nil:
		return ReasonClientClosed
	case errors.As(cause, &torn), errors.Is(cause, io.EOF):
		return ReasonClientClosed
	case errors.As(cause, &timedOut), errors.As(cause, &ne) && ne.Timeout():
		return ReasonTimeout
	}
	return ReasonDisconnected
}

func endEntry(g Grant, node, remote, transport string, dur time.Duration, bytes, drops int64, reason string, cause error) audit.Entry {
	e := audit.Entry{
		Type:       EntryViewEnd,
		Outcome:    audit.Success,
		Actor:      audit.Actor{UserID: g.UserID, Username: g.Username},
		ClientAddr: remote,
		SessionID:  g.SessionID,
		Cameras:    []string{g.CameraID},
		Live:       true,
		Purpose:    g.Purpose,
		Reason:     reason,
		Details: map[string]any{
			"profile":     g.Profile,
			"start_seq":   g.AuditSeq,
			"node":        node,
			"transport":   transport,
			"duration_ms": dur.Milliseconds(),
			"bytes":       bytes,
			"drops":       drops,
			"ticket_hash": g.HashPrefix,
		},
	}
	if g.ViewID != "" {
		e.Details["view"] = g.ViewID
	}
	if reason == ReasonCameraUnavailable {
		e.Outcome = audit.Failed
		if cause != nil {
			e.Details["error"] = cause.Error()
		}
	}
	return e
}

// List returns the open views that match f, oldest first.
func (r *Relay) List(f Filter) []LiveSession {
	r.mu.Lock()
	out := make([]LiveSession, 0, len(r.views)+len(r.ext))
	for _, v := range r.views {
		if (f.UserID == "" || v.grant.UserID == f.UserID) && (f.CameraID == "" || v.grant.CameraID == f.CameraID) {
			out = append(out, v.info(r.cfg.NodeID))
		}
	}
	exts := slices.Collect(maps.Values(r.ext))
	r.mu.Unlock()
	for _, e := range exts {
		if i := r.extInfo(e); (f.UserID == "" || i.UserID == f.UserID) && (f.CameraID == "" || i.CameraID == f.CameraID) {
			out = append(out, i)
		}
	}
	sortSessions(out)
	return out
}

// Get returns one open view.
func (r *Relay) Get(id string) (LiveSession, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v, ok := r.views[id]
	if !ok {
		if e, ok := r.ext[id]; ok {
			return r.extInfo(e), true
		}
		return LiveSession{}, false
	}
	return v.info(r.cfg.NodeID), true
}

// Stop ends one view (StopLiveView; a manager ending someone's view) with
// reason (default "stopped"); its live.view.end entry records the reason.
// The caller audits the stop request itself.
func (r *Relay) Stop(id, reason string) error {
	if reason == "" {
		reason = ReasonStopped
	}
	r.mu.Lock()
	v, ok := r.views[id]
	e := r.ext[id]
	r.mu.Unlock()
	if e != nil {
		e.End(reason)
		return nil
	}
	if !ok {
		return ErrNotFound
	}
	r.closeView(v, reason)
	return nil
}

// CloseUserSessions ends every view of a user and returns how many.
func (r *Relay) CloseUserSessions(userID, reason string) int {
	if reason == "" {
		reason = ReasonRevoked
	}
	r.mu.Lock()
	var vs []*view
	for _, v := range r.views {
		if v.grant.UserID == userID {
			vs = append(vs, v)
		}
	}
	exts := slices.Collect(maps.Values(r.ext))
	r.mu.Unlock()
	for _, v := range vs {
		r.closeView(v, reason)
	}
	n := len(vs)
	for _, e := range exts {
		if e.Info().UserID == userID {
			e.End(reason)
			n++
		}
	}
	return n
}

// ---- background: sweeping, audit ----

func (r *Relay) controlLoop() {
	if r.cfg.TicketRetention <= 0 {
		return
	}
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(r.ctx, time.Minute)
			if n, err := r.cfg.Tickets.Sweep(ctx, r.cfg.TicketRetention); err != nil {
				r.log.Warn("stream: ticket sweep failed", "err", err)
			} else if n > 0 {
				r.log.Info("stream: expired tickets deleted", "count", n)
			}
			cancel()
		}
	}
}

func (r *Relay) enqueueAudit(e audit.Entry) {
	defer func() {
		if recover() != nil { // auditQ closed: only after Close waited for every view
			r.log.Error("stream: audit entry after close; lost", "type", e.Type, "reason", e.Reason)
		}
	}()
	r.auditQ <- e
}

// auditLoop commits live.view.end entries in order, retrying while the
// audit store is unavailable (up to about a minute per entry).
func (r *Relay) auditLoop() {
	for e := range r.auditQ {
		if e.Time.IsZero() {
			e.Time = time.Now()
		}
		backoff := 100 * time.Millisecond
		deadline := time.Now().Add(time.Minute)
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, err := r.cfg.Auditor.Append(ctx, e)
			cancel()
			if err == nil {
				break
			}
			if !errors.Is(err, audit.ErrUnavailable) || time.Now().After(deadline) || r.ctx.Err() != nil {
				r.log.Error("stream: live.view.end not recorded", "user", e.Actor.UserID, "cameras", e.Cameras,
					"reason", e.Reason, "details", detailsString(e.Details), "err", err)
				break
			}
			r.log.Warn("stream: audit store unavailable; retrying", "err", err, "retry_in", backoff)
			time.Sleep(backoff) // this goroutine only writes audit entries
			backoff = min(backoff*2, 5*time.Second)
		}
	}
}

func detailsString(d map[string]any) string {
	b, _ := json.Marshal(d)
	return string(b)
}

func sortSessions(s []LiveSession) {
	slices.SortFunc(s, func(a, b LiveSession) int {
		if c := a.Started.Compare(b.Started); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}
