// Package playback serves recorded footage to players over RTSP: a
// gortsplib server on its own listener, one session per one-time ticket,
// reading the encrypted segments of package record at real time, with
// seeking (RTSP Range: npt relative to the ticket's start, or clock) and
// pause. Every segment is verified while read (each chunk authenticated,
// the file's SHA-256 checked at its end); a mismatch stops the session and
// raises record.AlarmTampered. Each session that redeemed a ticket ends
// with one playback.end audit entry (duration, bytes, frames, reason).
//
// Revocation works exactly as for live view, through the same package
// (internal/revoke): a ticket is redeemed only when Config.Authorizer still
// allows its holder (login session open, playback.view still granted), and
// an open session ends within a second of an access.revoked notice that
// ends its login session or takes the right away (reason "session_ended"
// or "revoked" in playback.end).
//
// Flow: control authorizes playback.view, commits playback.start with the
// footage range, calls Tickets.IssueTicket and returns the URL
// rtsp://node:port/playback/<camera>?ticket=<token> of the node holding
// the footage. The player's DESCRIBE checks the ticket; SETUP redeems it.
//
// Browsers get the same footage through the same server's second door,
// Handler, on the node's HTTPS address: a ticket issued for TransportMSE
// opens a session whose media requests stream fMP4 for Media Source
// Extensions, paced at the chosen speed (browser.go has the protocol and
// why it is not HLS). Tickets are bound to their transport. playback.end
// of either door lists the footage actually sent ("ranges": the union of
// the runs of frames, split at holes), not only the range asked for.
package playback

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/headers"
	"github.com/bluenviron/gortsplib/v5/pkg/liberrors"
	"github.com/pion/rtp"

	"github.com/gwanje/gwanje/audit"
	"github.com/gwanje/gwanje/internal/revoke"
	"github.com/gwanje/gwanje/stream/record"
)

// EntryEnd is the audit type written when a playback session ends.
const EntryEnd = "playback.end"

// Auditor commits audit entries; *audit.Store implements it.
type Auditor interface {
	Append(ctx context.Context, e audit.Entry) (audit.Record, error)
}

// Config configures a Server. Zero values take the defaults documented on
// each field.
type Config struct {
	// Store is this node's record store. Required.
	Store *record.Store
	// Tickets redeems tickets. Required.
	Tickets *Tickets
	// Auditor records playback.end. Required.
	Auditor Auditor
	// RTSPAddress is the listen address (TCP). Port 0 picks one. Default ":8555".
	RTSPAddress string
	// PublicURL is the base URL players use; registered for the node
	// (recording_nodes). Default rtsp://<listen host or host name>:<port>.
	PublicURL string
	// ReadTimeout and WriteTimeout of player connections. Defaults 10s, 5s.
	ReadTimeout, WriteTimeout time.Duration
	// IdleTimeout closes a player connection that sends nothing (no
	// request, no keep-alive) for this long. Default 60s.
	IdleTimeout time.Duration
	// WrapListener, when set, wraps the RTSP listener; gwanjed caps
	// connections in total and per source with it (internal/netlimit).
	WrapListener func(net.Listener) net.Listener
	// GapSkip: a hole in the footage longer than this is skipped instead of
	// waited through (the RTP timestamps still jump by the hole). Default 1s.
	GapSkip time.Duration
	// Authorizer re-decides a ticket's holder when it is redeemed and an
	// open session's when a notice names its user (revoke.Decider; the
	// Holder names PermissionPlaybackView). Optional: without it every
	// ticket is honoured and a notice naming a user ends all of that user's
	// sessions.
	Authorizer revoke.Decider
	// Notices delivers access.revoked notices (events.Notices). Optional.
	Notices revoke.Subscriber
	// RecheckInterval re-decides every open session even without a notice.
	// Default 1m; negative disables.
	RecheckInterval time.Duration
	// BrowserURL is the HTTPS base URL at which browsers reach Handler on
	// this node (the node's HTTPS address, e.g. https://rec-1:7443),
	// registered for the node so browser tickets point here. Empty: no
	// browser playback tickets name this node.
	BrowserURL string
	// BrowserLead is how far ahead of the picture a browser stream is sent
	// (wall time): what a revoked browser may still show. Default 1s.
	BrowserLead time.Duration
	// BrowserIdle ends a browser session with no media request open for
	// this long (a paused or closed page). Default 60s.
	BrowserIdle time.Duration
	// Logger. Default slog.Default().
	Logger *slog.Logger
}

// Server is the playback RTSP server of a node.
type Server struct {
	cfg Config
	log *slog.Logger
	srv *gortsplib.Server
	ln  net.Listener
	url string

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	rev *revoke.Watcher

	mu       sync.Mutex
	pending  map[*gortsplib.ServerConn]*session // described, not yet set up
	sessions map[*session]struct{}
	browser  map[string]*browserSession // by session ID
	closed   bool
}

// PermissionPlaybackView is the accesscontrol permission a playback ticket
// and session are re-decided on.
const PermissionPlaybackView = "playback.view"

// holder is what the revocation watcher re-decides for a ticket's grant.
func (g Grant) holder() revoke.Holder {
	return revoke.Holder{UserID: g.UserID, Username: g.Username, SessionID: g.SessionID,
		Permissions: []string{PermissionPlaybackView}, CameraID: g.CameraID, Purpose: g.Purpose, FootageFrom: g.From}
}

// errDenied: the ticket's holder may no longer play back (logged out,
// disabled, right revoked); answered 403 like any refused ticket.
var errDenied = errors.New("playback: the ticket's holder may no longer play back")

// New checks cfg.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil || cfg.Tickets == nil || cfg.Auditor == nil {
		return nil, errors.New("playback: Config.Store, Tickets and Auditor are required")
	}
	if cfg.RTSPAddress == "" {
		cfg.RTSPAddress = ":8555"
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = 10 * time.Second
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 5 * time.Second
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = time.Minute
	}
	if cfg.GapSkip <= 0 {
		cfg.GapSkip = time.Second
	}
	if cfg.BrowserLead <= 0 {
		cfg.BrowserLead = time.Second
	}
	if cfg.BrowserIdle <= 0 {
		cfg.BrowserIdle = time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	log := cfg.Logger.With("component", "playback")
	rev := revoke.New(revoke.Config{Decider: cfg.Authorizer, Notices: cfg.Notices,
		RecheckInterval: cfg.RecheckInterval, Logger: log})
	return &Server{cfg: cfg, log: log, ctx: ctx, cancel: cancel, rev: rev,
		pending: map[*gortsplib.ServerConn]*session{}, sessions: map[*session]struct{}{},
		browser: map[string]*browserSession{}}, nil
}

// Start listens and registers the node's playback URL. Run calls it.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return nil
	}
	if s.closed {
		return errors.New("playback: server closed")
	}
	s.srv = &gortsplib.Server{
		Handler:      s,
		RTSPAddress:  s.cfg.RTSPAddress,
		ReadTimeout:  s.cfg.ReadTimeout,
		WriteTimeout: s.cfg.WriteTimeout,
		IdleTimeout:  s.cfg.IdleTimeout,
		Listen: func(network, address string) (net.Listener, error) {
			l, err := net.Listen(network, address)
			s.ln = l
			if err != nil || s.cfg.WrapListener == nil {
				return l, err
			}
			return s.cfg.WrapListener(l), nil
		},
	}
	if err := s.rev.Start(); err != nil {
		s.srv = nil
		return fmt.Errorf("playback: %w", err)
	}
	if err := s.srv.Start(); err != nil {
		s.srv = nil
		return fmt.Errorf("playback: listen %s: %w", s.cfg.RTSPAddress, err)
	}
	s.url = s.cfg.PublicURL
	if s.url == "" {
		host, _, _ := net.SplitHostPort(s.cfg.RTSPAddress)
		if host == "" || host == "0.0.0.0" || host == "::" {
			host, _ = os.Hostname()
		}
		s.url = "rtsp://" + net.JoinHostPort(host, strconv.Itoa(s.ln.Addr().(*net.TCPAddr).Port))
	}
	if err := s.cfg.Store.RegisterNode(ctx, s.url); err != nil {
		s.srv.Close()
		s.srv = nil
		return err
	}
	if s.cfg.BrowserURL != "" {
		if err := s.cfg.Store.RegisterBrowserURL(ctx, s.cfg.BrowserURL); err != nil {
			s.srv.Close()
			s.srv = nil
			return err
		}
	}
	s.wg.Add(1)
	go s.janitor()
	return nil
}

// Run serves until ctx ends, then closes.
func (s *Server) Run(ctx context.Context) error {
	if err := s.Start(ctx); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
	case <-s.ctx.Done():
	}
	s.Close()
	return nil
}

// URL is the base URL players use.
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.url
}

// Close ends every session (each audited) and stops listening. Safe twice.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	srv := s.srv
	s.mu.Unlock()
	s.rev.Close()
	s.closeBrowser()
	s.cancel()
	if srv != nil {
		srv.Close() // closes sessions: OnSessionClose audits them
	}
	s.wg.Wait()
}

// session is one playback.
type session struct {
	s      *Server
	g      Grant
	token  string
	ss     *gortsplib.ServerSession
	stream *gortsplib.ServerStream
	media  *description.Media
	forma  format.Format
	segs   []record.Segment
	tsBase uint32

	mu       sync.Mutex
	redeemed bool
	pos      time.Time // footage position to resume from
	cancel   context.CancelFunc
	done     chan struct{}
	reason   string
	started  time.Time
	played   bool    // a frame was sent: PLAY without a Range resumes
	spans    spanSet // footage sent, for playback.end
	untrack  func()  // from the revocation watcher; set at SETUP

	bytes  atomic.Int64
	frames atomic.Int64
}

var errBadPath = errors.New("playback: not a playback path")

func parsePath(path, query string) (camera, token string, err error) {
	cam, ok := strings.CutPrefix(strings.TrimSuffix(path, "/"), "/playback/")
	if !ok || !validName(cam) {
		return "", "", errBadPath
	}
	vals, err := url.ParseQuery(query)
	if err != nil {
		return cam, "", ErrMalformed
	}
	return cam, vals.Get("ticket"), nil
}

func status(err error) base.StatusCode {
	switch {
	case errors.Is(err, errBadPath), errors.Is(err, ErrNoFootage):
		return base.StatusNotFound
	case errors.Is(err, ErrNoTicket), errors.Is(err, ErrMalformed), errors.Is(err, ErrUnknownTicket),
		errors.Is(err, ErrTicketUsed), errors.Is(err, ErrTicketExpired), errors.Is(err, ErrWrongCamera),
		errors.Is(err, ErrWrongTransport), errors.Is(err, errDenied):
		return base.StatusForbidden
	}
	return base.StatusServiceUnavailable
}

// prepare checks a ticket and builds the session's stream from its footage.
func (s *Server) prepare(ctx context.Context, path, query string) (*session, error) {
	cam, token, err := parsePath(path, query)
	if err != nil {
		return nil, err
	}
	g, err := s.cfg.Tickets.Check(ctx, token, cam, TransportRTSP)
	if err != nil {
		s.log.Warn("playback: ticket refused", "camera", cam, "ticket", hashPrefix(token), "reason", err)
		return nil, err
	}
	if !s.rev.Allowed(ctx, g.holder()) {
		s.log.Warn("playback: ticket refused", "camera", cam, "ticket", g.HashPrefix, "user", g.UserID, "reason", errDenied)
		return nil, errDenied
	}
	segs, err := s.cfg.Store.Segments(ctx, cam, g.From, g.To)
	if err != nil {
		return nil, err
	}
	if len(segs) == 0 {
		return nil, ErrNoFootage
	}
	r, err := s.cfg.Store.OpenSegment(ctx, segs[0])
	if err != nil {
		return nil, err
	}
	tr := r.Track()
	r.Close()
	var forma format.Format
	switch tr.Codec {
	case record.CodecH264:
		forma = &format.H264{PayloadTyp: 96, PacketizationMode: 1, SPS: tr.SPS, PPS: tr.PPS}
	case record.CodecH265:
		forma = &format.H265{PayloadTyp: 96, VPS: tr.VPS, SPS: tr.SPS, PPS: tr.PPS}
	default:
		return nil, fmt.Errorf("playback: codec %q", tr.Codec)
	}
	medi := &description.Media{Type: description.MediaTypeVideo, Formats: []format.Format{forma}}
	st := &gortsplib.ServerStream{Server: s.srv, Desc: &description.Session{Title: "gwanje playback " + cam,
		Medias: []*description.Media{medi}}}
	if err := st.Initialize(); err != nil {
		return nil, fmt.Errorf("playback: stream: %w", err)
	}
	return &session{s: s, g: g, token: token, stream: st, media: medi, forma: forma, segs: segs,
		tsBase: rand.Uint32(), pos: g.From}, nil
}

func hashPrefix(token string) string {
	h, err := ticketHash(token)
	if err != nil {
		return "-"
	}
	return fmt.Sprintf("%x", h[:6])
}

// OnConnClose drops a described session that was never set up.
func (s *Server) OnConnClose(ctx *gortsplib.ServerHandlerOnConnCloseCtx) {
	s.mu.Lock()
	p := s.pending[ctx.Conn]
	delete(s.pending, ctx.Conn)
	s.mu.Unlock()
	if p != nil && !p.redeemed {
		p.stream.Close()
	}
}

// OnDescribe checks the ticket and describes the footage's video.
func (s *Server) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	sess, err := s.prepare(s.ctx, ctx.Path, ctx.Query)
	if err != nil {
		return &base.Response{StatusCode: status(err)}, nil, nil
	}
	s.mu.Lock()
	if old := s.pending[ctx.Conn]; old != nil {
		old.stream.Close()
	}
	s.pending[ctx.Conn] = sess
	s.mu.Unlock()
	return &base.Response{StatusCode: base.StatusOK}, sess.stream, nil
}

// OnSetup redeems the ticket (once) and binds it to the RTSP session.
func (s *Server) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if sess, ok := ctx.Session.UserData().(*session); ok && sess != nil {
		return &base.Response{StatusCode: base.StatusOK}, sess.stream, nil
	}
	cam, token, err := parsePath(ctx.Path, ctx.Query)
	if err != nil {
		return &base.Response{StatusCode: base.StatusNotFound}, nil, nil
	}
	s.mu.Lock()
	sess := s.pending[ctx.Conn]
	if sess != nil && (sess.token != token || sess.g.CameraID != cam) {
		sess = nil
	}
	if sess != nil {
		delete(s.pending, ctx.Conn)
	}
	s.mu.Unlock()
	if sess == nil { // a player that skipped DESCRIBE
		if sess, err = s.prepare(s.ctx, ctx.Path, ctx.Query); err != nil {
			return &base.Response{StatusCode: status(err)}, nil, nil
		}
	}
	if !s.rev.Allowed(s.ctx, sess.g.holder()) { // again: DESCRIBE may have been a while ago
		sess.stream.Close()
		s.log.Warn("playback: ticket refused", "camera", cam, "ticket", sess.g.HashPrefix, "user", sess.g.UserID, "reason", errDenied)
		return &base.Response{StatusCode: status(errDenied)}, nil, nil
	}
	g, err := s.cfg.Tickets.Redeem(s.ctx, token, cam, TransportRTSP, ctx.Conn.NetConn().RemoteAddr().String())
	if err != nil {
		sess.stream.Close()
		s.log.Warn("playback: ticket refused", "camera", cam, "ticket", hashPrefix(token), "reason", err)
		return &base.Response{StatusCode: status(err)}, nil, nil
	}
	sess.g = g
	sess.ss = ctx.Session
	sess.redeemed = true
	sess.started = time.Now()
	sess.untrack = s.rev.Track(g.holder(), sess.revoked)
	s.mu.Lock()
	s.sessions[sess] = struct{}{}
	s.mu.Unlock()
	ctx.Session.SetUserData(sess)
	s.log.Info("playback: session opened", "camera", cam, "user", g.UserID, "ticket", g.HashPrefix,
		"from", g.From, "to", g.To)
	return &base.Response{StatusCode: base.StatusOK}, sess.stream, nil
}

// OnPlay starts or resumes playing, from the Range when one is given.
func (s *Server) OnPlay(ctx *gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	sess, ok := ctx.Session.UserData().(*session)
	if !ok || sess == nil {
		return &base.Response{StatusCode: base.StatusSessionNotFound}, nil
	}
	sess.stop()
	sess.mu.Lock()
	pos, resume := sess.pos, sess.played
	sess.mu.Unlock()
	if v, ok := ctx.Request.Header["Range"]; ok {
		var rh headers.Range
		if err := rh.Unmarshal(v); err != nil {
			return &base.Response{StatusCode: base.StatusBadRequest}, nil
		}
		switch r := rh.Value.(type) {
		case *headers.RangeNPT:
			// "npt=0-" after a pause resumes (some clients, gortsplib's
			// among them, always send it); any other npt seeks.
			if !(resume && r.Start == 0 && r.End == nil) {
				resume = false
				pos = sess.g.From.Add(r.Start)
			}
		case *headers.RangeUTC:
			resume = false
			pos = r.Start
		default:
			return &base.Response{StatusCode: 457}, nil // Invalid Range
		}
	}
	if pos.Before(sess.g.From) {
		pos = sess.g.From
	}
	if !pos.Before(sess.g.To) {
		return &base.Response{StatusCode: 457}, nil
	}
	var idx int
	var key time.Time
	var err error
	if resume {
		// Resume after the last frame sent: the player's decoder has the
		// pictures before it.
		idx, key, err = sess.resumeAt(pos)
	} else {
		idx, key, err = sess.seek(s.ctx, pos)
	}
	if err != nil {
		s.log.Warn("playback: seek failed", "camera", sess.g.CameraID, "err", err)
		if errors.Is(err, record.ErrTampered) {
			sess.tampered(err)
		}
		return &base.Response{StatusCode: base.StatusServiceUnavailable}, nil
	}
	sess.start(idx, key)
	npt := headers.RangeNPT{Start: key.Sub(sess.g.From)}
	end := sess.g.To.Sub(sess.g.From)
	npt.End = &end
	return &base.Response{StatusCode: base.StatusOK, Header: base.Header{"Range": headers.Range{Value: &npt}.Marshal()}}, nil
}

// OnPause stops sending; PLAY without a Range resumes where it stopped.
func (s *Server) OnPause(ctx *gortsplib.ServerHandlerOnPauseCtx) (*base.Response, error) {
	if sess, ok := ctx.Session.UserData().(*session); ok && sess != nil {
		sess.stop()
	}
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// OnSessionClose ends a session and audits it.
func (s *Server) OnSessionClose(ctx *gortsplib.ServerHandlerOnSessionCloseCtx) {
	sess, ok := ctx.Session.UserData().(*session)
	if !ok || sess == nil {
		return
	}
	if sess.untrack != nil {
		sess.untrack()
	}
	sess.stop()
	sess.stream.Close()
	s.mu.Lock()
	delete(s.sessions, sess)
	s.mu.Unlock()
	reason := "closed"
	sess.mu.Lock()
	if sess.reason != "" {
		reason = sess.reason
	}
	spans := append(spanSet(nil), sess.spans...)
	sess.mu.Unlock()
	if ctx.Error != nil && reason == "closed" {
		var terr liberrors.ErrServerSessionTornDown
		if !errors.As(ctx.Error, &terr) {
			reason = "connection: " + ctx.Error.Error()
		} else {
			reason = "teardown"
		}
	}
	s.auditEnd(sess.g, TransportRTSP, sess.started, sess.bytes.Load(), sess.frames.Load(), reason, spans, nil)
}

// seek finds the segment holding pos and the keyframe at or before it
// (the first frame of the next segment when pos is in a gap), never one
// before the ticket's range.
func (sess *session) seek(ctx context.Context, pos time.Time) (int, time.Time, error) {
	return findKeyframe(ctx, sess.s.cfg.Store, sess.segs, pos, sess.g.From)
}

// resumeAt finds the segment of the frame after pos.
func (sess *session) resumeAt(pos time.Time) (int, time.Time, error) {
	next := pos.Add(time.Microsecond)
	for i, sg := range sess.segs {
		if sg.End.After(next) {
			return i, next, nil
		}
	}
	return 0, time.Time{}, fmt.Errorf("%w after %v", ErrNoFootage, pos)
}

func (sess *session) start(idx int, from time.Time) {
	ctx, cancel := context.WithCancel(sess.s.ctx)
	done := make(chan struct{})
	sess.mu.Lock()
	sess.cancel, sess.done = cancel, done
	sess.mu.Unlock()
	sess.s.wg.Add(1)
	go func() {
		defer sess.s.wg.Done()
		defer close(done)
		sess.send(ctx, idx, from)
	}()
}

// stop stops the sender and waits for it.
func (sess *session) stop() {
	sess.mu.Lock()
	cancel, done := sess.cancel, sess.done
	sess.cancel, sess.done = nil, nil
	sess.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

func (sess *session) tampered(err error) {
	sess.mu.Lock()
	sess.reason = "tampered"
	sess.mu.Unlock()
	sess.s.cfg.Store.RaiseAlarm(record.Alarm{Kind: record.AlarmTampered, CameraID: sess.g.CameraID,
		Detail: "playback stopped: " + err.Error()})
}

type encoder interface {
	Encode([][]byte) ([]*rtp.Packet, error)
}

// send plays from the keyframe at from, at real time, until the ticket's
// end, the footage's end, ctx, or a verification failure.
func (sess *session) send(ctx context.Context, idx int, from time.Time) {
	var enc encoder
	switch f := sess.forma.(type) {
	case *format.H264:
		e, err := f.CreateEncoder()
		if err != nil {
			return
		}
		enc = e
	case *format.H265:
		e, err := f.CreateEncoder()
		if err != nil {
			return
		}
		enc = e
	}
	var w0, t0, last time.Time
	first := true
	var ru run
	defer func() {
		if !ru.from.IsZero() {
			sess.mu.Lock()
			sess.spans.add(ru.span().From, ru.span().To)
			sess.mu.Unlock()
		}
	}()
	for i := idx; i < len(sess.segs); i++ {
		r, err := sess.s.cfg.Store.OpenSegment(ctx, sess.segs[i])
		if err != nil {
			if ctx.Err() == nil {
				sess.failed(err)
			}
			return
		}
		for {
			f, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				r.Close()
				if ctx.Err() == nil {
					sess.failed(err)
				}
				return
			}
			if f.Time.Before(from) {
				continue
			}
			if !f.Time.Before(sess.g.To) {
				r.Close()
				sess.finished()
				return
			}
			switch {
			case first:
				w0, t0, first = time.Now(), f.Time, false
			case f.Time.Sub(last) > sess.s.cfg.GapSkip:
				t0 = t0.Add(f.Time.Sub(last) - 40*time.Millisecond) // skip the hole
			}
			fdur := f.Time.Sub(last) // this frame's length, taken as the last one's
			if last.IsZero() || fdur <= 0 || fdur > sess.s.cfg.GapSkip {
				fdur = 40 * time.Millisecond
			}
			last = f.Time
			if d := time.Until(w0.Add(f.Time.Sub(t0))); d > 0 {
				t := time.NewTimer(d)
				select {
				case <-ctx.Done():
					t.Stop()
					r.Close()
					return
				case <-t.C:
				}
			}
			pkts, err := enc.Encode(f.AU)
			if err != nil {
				continue
			}
			ts := sess.tsBase + uint32(f.Time.Sub(sess.g.From).Seconds()*record.Timescale+0.5) + uint32(f.PTS-f.DTS)
			for _, p := range pkts {
				p.Timestamp = ts
				if err := sess.ss.WritePacketRTPWithNTP(sess.media, p, f.Time); err != nil {
					r.Close()
					return
				}
				sess.bytes.Add(int64(p.MarshalSize()))
			}
			sess.frames.Add(1)
			sess.mu.Lock()
			sess.pos, sess.played = f.Time, true
			if sp, ok := ru.frame(f.Time, fdur, sess.s.cfg.GapSkip); ok {
				sess.spans.add(sp.From, sp.To)
			}
			sess.mu.Unlock()
		}
		r.Close()
	}
	sess.finished()
}

// revoked ends the session because its access ended (the revocation
// watcher calls it): the reason goes into playback.end.
func (sess *session) revoked(reason string) {
	sess.mu.Lock()
	if sess.reason == "" || sess.reason == "end_of_footage" {
		sess.reason = reason
	}
	sess.mu.Unlock()
	sess.ss.Close() // OnSessionClose stops the sender and audits
}

func (sess *session) finished() {
	sess.mu.Lock()
	if sess.reason == "" {
		sess.reason = "end_of_footage"
	}
	sess.mu.Unlock()
}

func (sess *session) failed(err error) {
	if errors.Is(err, record.ErrTampered) {
		sess.tampered(err)
	} else {
		sess.mu.Lock()
		sess.reason = "read_error: " + err.Error()
		sess.mu.Unlock()
	}
	sess.s.log.Warn("playback: stopped", "camera", sess.g.CameraID, "err", err)
	sess.ss.Close() // only cancels the session; OnSessionClose runs on its goroutine
}

// auditEnd commits a session's playback.end through the Auditor (the
// durable spool in gwanjed): how it ended, what it cost, and the footage
// actually shown (ranges: the union of what was sent), for RTSP and browser
// sessions alike. extra adds transport-specific details.
func (s *Server) auditEnd(g Grant, transport string, started time.Time, bytes, frames int64, reason string, spans spanSet, extra map[string]any) {
	from, to := g.From, g.To
	details := map[string]any{
		"transport":   transport,
		"duration_ms": time.Since(started).Milliseconds(),
		"bytes":       bytes,
		"frames":      frames,
		"reason":      reason,
		"start_seq":   g.AuditSeq,
		"node":        s.cfg.Store.Node(),
		"ticket":      g.HashPrefix,
		"ranges":      spans.details(),
	}
	for k, v := range extra {
		details[k] = v
	}
	if len(spans) > 0 {
		details["played_from"] = spans[0].From.UTC().Format(time.RFC3339Nano)
		details["played_to"] = spans[len(spans)-1].To.UTC().Format(time.RFC3339Nano)
	}
	actx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := s.cfg.Auditor.Append(actx, audit.Entry{Type: EntryEnd, Outcome: audit.Success,
		Actor: audit.Actor{UserID: g.UserID, Username: g.Username}, SessionID: g.SessionID,
		Cameras: []string{g.CameraID}, FootageFrom: &from, FootageTo: &to, Purpose: g.Purpose,
		Details: details}); err != nil {
		s.log.Error("playback: playback.end not recorded", "camera", g.CameraID, "transport", transport, "err", err)
	}
	s.log.Info("playback: session closed", "camera", g.CameraID, "user", g.UserID, "transport", transport,
		"reason", reason, "bytes", bytes, "ranges", len(spans))
}
