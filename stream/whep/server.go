package whep

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"

	"github.com/gwanje/gwanje/internal/netlimit"
	"github.com/gwanje/gwanje/internal/revoke"
	"github.com/gwanje/gwanje/stream"
)

// Paths served by Handler.
const (
	// LivePrefix + <camera>/<profile>?ticket=<token>: POST an offer.
	LivePrefix = stream.WHEPPrefix
	// SessionPrefix + <key>: DELETE ends the session (the Location of 201).
	// The key is a secret of the viewer's, not the view's listed id.
	SessionPrefix = "/whep/session/"
	// ViewHeader in the 201 names the view's id (StartLiveViewResponse's
	// session_id: StopLiveView, SwitchLiveProfile, ListLiveSessions).
	ViewHeader = "Gwanje-View-Id"
	// Transport is the transport of WebRTC views in live.view.end entries.
	Transport = stream.TransportWebRTC
)

// ErrClosed is returned after Close.
var ErrClosed = errors.New("whep: server closed")

// Server is a stream node's WHEP endpoint.
type Server struct {
	cfg Config
	log *slog.Logger
	api *webrtc.API
	rev *revoke.Watcher

	udpConn net.PacketConn
	tcpLn   net.Listener
	udpMux  ice.UDPMux
	tcpMux  ice.TCPMux

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	started  bool
	closed   bool
	sessions map[string]*session
	admitted int                  // sessions plus offers being admitted
	perSrc   map[netip.Prefix]int // the same, by source

	closeOnce sync.Once
	m         *metrics
}

// New checks cfg and returns a server; Start binds its ports.
func New(cfg Config) (*Server, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{
		cfg: cfg, log: cfg.Logger, ctx: ctx, cancel: cancel, m: newMetrics(), sessions: map[string]*session{}, perSrc: map[netip.Prefix]int{},
		rev: revoke.New(revoke.Config{Decider: cfg.Authorizer, Notices: cfg.Notices,
			RecheckInterval: cfg.RecheckInterval, Logger: cfg.Logger}),
	}, nil
}

// Start binds the ICE ports (one UDP port and one TCP port shared by every
// session) and starts revocation handling.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if s.started {
		return errors.New("whep: already started")
	}
	se := webrtc.SettingEngine{}
	var nets []webrtc.NetworkType
	if s.cfg.UDPAddr != "-" {
		c, err := net.ListenPacket("udp", s.cfg.UDPAddr)
		if err != nil {
			return fmt.Errorf("whep: ICE UDP %s: %w", s.cfg.UDPAddr, err)
		}
		s.udpConn = c
		s.udpMux = webrtc.NewICEUDPMux(nil, c)
		se.SetICEUDPMux(s.udpMux)
		nets = append(nets, webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6)
	}
	if s.cfg.TCPAddr != "-" {
		l, err := net.Listen("tcp", s.cfg.TCPAddr)
		if err != nil {
			s.closePorts()
			return fmt.Errorf("whep: ICE TCP %s: %w", s.cfg.TCPAddr, err)
		}
		if s.cfg.WrapTCP != nil {
			l = s.cfg.WrapTCP(l)
		}
		tl := &trackedListener{Listener: l, conns: map[net.Conn]struct{}{}}
		s.tcpLn = tl
		s.tcpMux = ice.NewTCPMuxDefault(ice.TCPMuxParams{
			Listener: tl, ReadBufferSize: 64, WriteBufferSize: 4 << 20,
			// A browser connects its ICE-TCP candidates at once and checks
			// within milliseconds; an idle connection is dropped soon.
			FirstStunBindTimeout: 5 * time.Second,
		})
		se.SetICETCPMux(s.tcpMux)
		nets = append(nets, webrtc.NetworkTypeTCP4, webrtc.NetworkTypeTCP6)
	}
	se.SetNetworkTypes(nets)
	se.SetIncludeLoopbackCandidate(*s.cfg.IncludeLoopback)
	if *s.cfg.IncludeLoopback {
		// Loopback viewers (this machine, the tests) need no mDNS names.
		se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	}
	if len(s.cfg.PublicIPs) > 0 {
		if err := se.SetICEAddressRewriteRules(webrtc.ICEAddressRewriteRule{
			External: s.cfg.PublicIPs, AsCandidateType: webrtc.ICECandidateTypeHost,
		}); err != nil {
			s.closePorts()
			return fmt.Errorf("whep: public IPs: %w", err)
		}
	}
	se.SetICETimeouts(5*time.Second, 10*time.Second, 2*time.Second)
	me, err := mediaEngine()
	if err != nil {
		s.closePorts()
		return err
	}
	ir, err := interceptors(me)
	if err != nil {
		s.closePorts()
		return err
	}
	s.api = webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir))
	if err := s.rev.Start(); err != nil {
		s.closePorts()
		return fmt.Errorf("whep: %w", err)
	}
	s.started = true
	s.log.Info("whep: serving", "udp", addrOf(s.udpConn), "tcp", addrOfLn(s.tcpLn),
		"public_ips", s.cfg.PublicIPs, "ice_servers", len(s.cfg.ICEServers), "loopback", *s.cfg.IncludeLoopback)
	return nil
}

func addrOf(c net.PacketConn) string {
	if c == nil {
		return "off"
	}
	return c.LocalAddr().String()
}

func addrOfLn(l net.Listener) string {
	if l == nil {
		return "off"
	}
	return l.Addr().String()
}

// UDPAddr and TCPAddr return the bound ICE ports ("" when off).
func (s *Server) UDPAddr() string {
	if s.udpConn == nil {
		return ""
	}
	return s.udpConn.LocalAddr().String()
}

// TCPAddr returns the bound ICE-TCP port ("" when off).
func (s *Server) TCPAddr() string {
	if s.tcpLn == nil {
		return ""
	}
	return s.tcpLn.Addr().String()
}

func (s *Server) closePorts() {
	if s.udpMux != nil {
		_ = s.udpMux.Close()
	}
	if s.udpConn != nil {
		_ = s.udpConn.Close()
	}
	if s.tcpMux != nil {
		_ = s.tcpMux.Close()
	}
	if s.tcpLn != nil {
		_ = s.tcpLn.Close()
	}
}

// mediaEngine offers H.264 only, in the packetization modes and profiles
// browsers offer: audio m-lines are rejected in the answer, so audio never
// leaves.
func mediaEngine() (*webrtc.MediaEngine, error) {
	me := &webrtc.MediaEngine{}
	fb := []webrtc.RTCPFeedback{{Type: "goog-remb"}, {Type: "ccm", Parameter: "fir"}, {Type: "nack"}, {Type: "nack", Parameter: "pli"}}
	for i, fmtp := range []string{
		"level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f",
		"level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
		"level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=4d001f",
		"level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=640032",
	} {
		if err := me.RegisterCodec(webrtc.RTPCodecParameters{
			RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
				SDPFmtpLine: fmtp, RTCPFeedback: fb},
			PayloadType: webrtc.PayloadType(102 + 2*i),
		}, webrtc.RTPCodecTypeVideo); err != nil {
			return nil, fmt.Errorf("whep: codec: %w", err)
		}
	}
	return me, nil
}

// interceptors are what a send-only video session needs: NACK (the
// browser asks again for lost packets), RTCP sender reports and
// transport-wide congestion control feedback. Not pion's defaults: their
// stats interceptor wraps every packet for figures nobody reads here
// (BenchmarkCompareWebRTC: about a third of the CPU per Gbit).
func interceptors(me *webrtc.MediaEngine) (*interceptor.Registry, error) {
	ir := &interceptor.Registry{}
	for _, f := range []func(*webrtc.MediaEngine, *interceptor.Registry) error{
		webrtc.ConfigureNack, webrtc.ConfigureTWCCSender,
		func(_ *webrtc.MediaEngine, ir *interceptor.Registry) error { return webrtc.ConfigureRTCPReports(ir) },
	} {
		if err := f(me, ir); err != nil {
			return nil, fmt.Errorf("whep: interceptors: %w", err)
		}
	}
	return ir, nil
}

// Run starts the server, serves until ctx ends, and closes it.
func (s *Server) Run(ctx context.Context) error {
	if err := s.Start(); err != nil {
		return err
	}
	<-ctx.Done()
	return s.Close()
}

// Close ends every session (reason relay_shutdown, each audited), waits for
// them and releases the ports. Safe to call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		started := s.started
		for _, ss := range s.sessions {
			ss.end(stream.ReasonShutdown)
		}
		s.mu.Unlock()
		s.rev.Close()
		s.cancel()
		s.wg.Wait()
		if started {
			s.closePorts()
		}
	})
	return nil
}

// Sessions returns the number of open sessions.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// Handler serves POST LivePrefix<camera>/<profile> (an SDP offer, the
// ticket in ?ticket= or as a bearer token; 201 with the answer and the
// session's Location) and DELETE SessionPrefix<id>.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+LivePrefix+"{camera}/{profile}", s.offer)
	mux.HandleFunc("DELETE "+SessionPrefix+"{key}", s.remove)
	mux.HandleFunc("PATCH "+SessionPrefix+"{key}", func(w http.ResponseWriter, _ *http.Request) {
		// Candidates are all in the answer (no trickle ICE).
		http.Error(w, "trickle ICE is not supported: the answer carries every candidate", http.StatusMethodNotAllowed)
	})
	return mux
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func ticketOf(r *http.Request) string {
	if t := r.URL.Query().Get("ticket"); t != "" {
		return t
	}
	if t, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return strings.TrimSpace(t)
	}
	return ""
}

// refuse answers a refused offer; never with the token (a hash prefix).
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, code int, reason, msg string, token string, err error) {
	attrs := []any{"reason", reason, "remote", r.RemoteAddr, "path", r.URL.Path}
	if token != "" {
		attrs = append(attrs, "ticket", stream.HashPrefix(token))
	}
	if err != nil && reason == "error" {
		attrs = append(attrs, "err", err)
	}
	s.log.Warn("whep: offer refused", attrs...)
	s.m.refused.WithLabelValues(reason).Inc()
	http.Error(w, msg, code)
}

func ticketStatus(err error) (int, string) {
	switch stream.RejectReason(err) {
	case "error":
		return http.StatusServiceUnavailable, "the ticket store is unavailable; try again"
	case "replayed":
		return http.StatusForbidden, "this ticket was already used: ask StartLiveView for a new one"
	case "expired":
		return http.StatusForbidden, "this ticket expired: ask StartLiveView for a new one"
	case "no_ticket":
		return http.StatusUnauthorized, "a ticket from StartLiveView is required"
	}
	return http.StatusForbidden, "the ticket does not open this stream"
}

// reserve takes a session slot for src: 0 when it got one, else the HTTP
// status of the refusal.
func (s *Server) reserve(src netip.Prefix) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed || !s.started || s.admitted >= s.cfg.MaxSessions:
		return http.StatusServiceUnavailable
	case s.perSrc[src] >= s.cfg.MaxPerSource:
		return http.StatusTooManyRequests
	}
	s.admitted++
	s.perSrc[src]++
	return 0
}

func (s *Server) unreserve(src netip.Prefix) {
	s.mu.Lock()
	s.unreserveLocked(src)
	s.mu.Unlock()
}

func (s *Server) unreserveLocked(src netip.Prefix) {
	s.admitted--
	if s.perSrc[src]--; s.perSrc[src] <= 0 {
		delete(s.perSrc, src)
	}
}

// offer admits a viewer. The ticket is checked, the holder re-decided and
// the offer parsed before anything is used; the ticket is redeemed only
// when the camera answered, and the answer is sent only after that.
func (s *Server) offer(w http.ResponseWriter, r *http.Request) {
	cam, prof := r.PathValue("camera"), r.PathValue("profile")
	token := ticketOf(r)
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/sdp") {
		s.refuse(w, r, http.StatusUnsupportedMediaType, "bad_offer", "the offer must be application/sdp", token, nil)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxOffer))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			s.refuse(w, r, http.StatusRequestEntityTooLarge, "bad_offer",
				fmt.Sprintf("the offer is larger than %d bytes", s.cfg.MaxOffer), token, nil)
			return
		}
		s.refuse(w, r, http.StatusBadRequest, "bad_offer", "could not read the offer", token, nil)
		return
	}
	src := netlimit.SourceOf(r.RemoteAddr)
	switch s.reserve(src) {
	case 0:
	case http.StatusTooManyRequests:
		s.refuse(w, r, http.StatusTooManyRequests, "capacity_source",
			fmt.Sprintf("this address has %d WebRTC sessions open, the most one source may; close some", s.cfg.MaxPerSource), token, nil)
		return
	default:
		s.refuse(w, r, http.StatusServiceUnavailable, "capacity", "too many WebRTC sessions on this node; try again later", token, nil)
		return
	}
	reserved := true
	defer func() {
		if reserved {
			s.unreserve(src)
		}
	}()
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.UpstreamTimeout+10*time.Second)
	defer cancel()

	g, err := s.cfg.Tickets.Check(ctx, token, cam, prof)
	if err == nil {
		err = g.ForTransport(stream.TransportWebRTC)
	}
	if err != nil {
		code, msg := ticketStatus(err)
		s.refuse(w, r, code, stream.RejectReason(err), msg, token, err)
		return
	}
	h := holder(g)
	if !s.rev.Allowed(ctx, h) {
		s.refuse(w, r, http.StatusForbidden, "denied", "the ticket's holder may not view this camera any more", token, nil)
		return
	}
	pc, track, sender, err := s.peer(string(body))
	if err != nil {
		s.refuse(w, r, http.StatusBadRequest, "bad_offer", "the offer is not usable: "+err.Error(), token, nil)
		return
	}
	ok := false
	defer func() {
		if !ok {
			_ = pc.Close()
		}
	}()
	rd, err := s.cfg.Source.Open(ctx, cam, prof)
	if err != nil {
		s.log.Warn("whep: camera unavailable; live view refused", "camera", cam, "profile", prof,
			"remote", r.RemoteAddr, "user", g.UserID, "ticket", g.HashPrefix, "err", err)
		s.audit(stream.ViewEndEntry(g, s.cfg.NodeID, r.RemoteAddr, Transport, 0, 0, 0, stream.ReasonCameraUnavailable, err))
		http.Error(w, "the camera is not available; try again", http.StatusServiceUnavailable)
		return
	}
	if _, isH264 := rd.Format().(*format.H264); !isH264 {
		_ = rd.Close()
		s.refuse(w, r, http.StatusConflict, "codec", "this profile is not H.264: ask for the sub profile", token, nil)
		return
	}
	g, err = s.cfg.Tickets.Redeem(ctx, token, cam, prof, r.RemoteAddr)
	if err != nil {
		_ = rd.Close()
		code, msg := ticketStatus(err)
		s.refuse(w, r, code, stream.RejectReason(err), msg, token, err)
		return
	}
	id := g.ViewID
	if id == "" {
		id = newID()
	}
	ss := newSession(s, id, g, r.RemoteAddr, pc, track, rd)
	ss.src = src
	answer, err := ss.answer(ctx)
	if err != nil {
		// The ticket is used: the view is recorded as never played.
		_ = rd.Close()
		s.log.Warn("whep: answer failed", "user", g.UserID, "camera", cam, "err", err)
		s.audit(stream.ViewEndEntry(g, s.cfg.NodeID, r.RemoteAddr, Transport, 0, 0, 0, stream.ReasonNoPlay, err))
		http.Error(w, "could not answer the offer", http.StatusInternalServerError)
		return
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = rd.Close()
		s.audit(stream.ViewEndEntry(g, s.cfg.NodeID, r.RemoteAddr, Transport, 0, 0, 0, stream.ReasonShutdown, nil))
		http.Error(w, "the server is closing", http.StatusServiceUnavailable)
		return
	}
	s.sessions[ss.key] = ss
	s.wg.Add(1)
	s.mu.Unlock()
	ok, reserved = true, false // the session owns pc, the reader and the reservation now
	ss.untrack = s.rev.Track(h, ss.end)
	go ss.readRTCP(sender)
	if s.cfg.Views != nil {
		ss.unlist = s.cfg.Views.AddView(ss)
	}
	go func() { defer s.wg.Done(); ss.run() }()
	s.log.Info("whep: live view opened", "view", ss.id, "user", g.UserID, "camera", cam, "profile", prof,
		"remote", r.RemoteAddr, "ticket", g.HashPrefix, "audit_seq", g.AuditSeq)
	w.Header().Set("Content-Type", "application/sdp")
	w.Header().Set("Location", SessionPrefix+ss.key)
	w.Header().Set(ViewHeader, ss.id)
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, answer)
}

// peer makes the session's peer connection from an offer: one send-only
// H.264 track on the offer's video m-line.
func (s *Server) peer(offer string) (*webrtc.PeerConnection, *webrtc.TrackLocalStaticRTP, *webrtc.RTPSender, error) {
	if !strings.Contains(offer, "m=video") {
		return nil, nil, nil, errors.New("it has no video m-line")
	}
	pc, err := s.api.NewPeerConnection(webrtc.Configuration{ICEServers: s.cfg.ICEServers})
	if err != nil {
		return nil, nil, nil, err
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		_ = pc.Close()
		return nil, nil, nil, err
	}
	track, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000}, "video", "gwanje")
	if err != nil {
		_ = pc.Close()
		return nil, nil, nil, err
	}
	sender, err := pc.AddTrack(track)
	if err != nil {
		_ = pc.Close()
		return nil, nil, nil, err
	}
	return pc, track, sender, nil
}

// remove ends a session (WHEP DELETE).
func (s *Server) remove(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	ss := s.sessions[r.PathValue("key")]
	s.mu.Unlock()
	if ss == nil {
		http.Error(w, "no such session", http.StatusNotFound)
		return
	}
	ss.end(stream.ReasonClientClosed)
	w.WriteHeader(http.StatusOK)
}

// holder is what revocation re-decides for a WebRTC view: the same as an
// RTSP view of the same ticket.
func holder(g stream.Grant) revoke.Holder {
	return revoke.Holder{UserID: g.UserID, Username: g.Username, SessionID: g.SessionID,
		Permissions: []string{stream.PermissionLiveView}, CameraID: g.CameraID, Purpose: g.Purpose}
}

// trackedListener closes the connections it accepted when it closes:
// pion's TCP mux waits, at Close, for connections that never sent their
// first STUN message (a browser's unused ICE-TCP candidate), which would
// hold Close for up to FirstStunBindTimeout.
type trackedListener struct {
	net.Listener
	mu     sync.Mutex
	closed bool
	conns  map[net.Conn]struct{}
}

func (l *trackedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		_ = c.Close()
		return nil, net.ErrClosed
	}
	tc := &trackedConn{Conn: c, l: l}
	l.conns[tc] = struct{}{}
	return tc, nil
}

func (l *trackedListener) Close() error {
	err := l.Listener.Close()
	l.mu.Lock()
	l.closed = true
	conns := l.conns
	l.conns = map[net.Conn]struct{}{}
	l.mu.Unlock()
	for c := range conns {
		_ = c.(*trackedConn).Conn.Close()
	}
	return err
}

type trackedConn struct {
	net.Conn
	l    *trackedListener
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}
