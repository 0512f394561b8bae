package whep

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"

	"github.com/gwanje/gwanje/audit"
	"github.com/gwanje/gwanje/stream"
)

// rtpPayload is the most H.264 payload per RTP packet (fits a 1280-byte
// MTU with SRTP and the headers).
const rtpPayload = 1100

// session is one WebRTC viewer: from the redeemed ticket to the end of its
// peer connection. Its goroutine (run) owns the reader and the peer
// connection.
type session struct {
	s       *Server
	id      string // the view's id (listed)
	key     string // the DELETE capability (the viewer's secret)
	grant   stream.Grant
	remote  string
	src     netip.Prefix
	started time.Time

	pc    *webrtc.PeerConnection
	track *webrtc.TrackLocalStaticRTP
	rd    Reader // run only (replaced after an upstream loss)

	ctx       context.Context
	cancel    context.CancelFunc
	connected chan struct{}
	connOnce  sync.Once
	reason    atomic.Pointer[string]
	untrack   func()
	unlist    func()

	// mu guards the profile switch: the profile served, a reader opened
	// for the next one, and the cancel of the read in progress.
	mu         sync.Mutex
	profile    string
	profiles   []string // every profile served, in order
	next       Reader
	readCancel context.CancelFunc

	bytes   atomic.Int64
	drops   atomic.Int64 // of readers closed so far
	playing atomic.Bool

	// packetizer state: run only
	seq    uint16
	lastTS uint32
	tsOff  uint32
	rebase bool
}

func newSession(s *Server, id string, g stream.Grant, remote string, pc *webrtc.PeerConnection, track *webrtc.TrackLocalStaticRTP, rd Reader) *session {
	ctx, cancel := context.WithCancel(s.ctx)
	var b [2]byte
	_, _ = rand.Read(b[:])
	ss := &session{s: s, id: id, key: newID(), grant: g, remote: remote, started: time.Now(), pc: pc, track: track, rd: rd,
		ctx: ctx, cancel: cancel, connected: make(chan struct{}), seq: uint16(b[0])<<8 | uint16(b[1]),
		profile: g.Profile, profiles: []string{g.Profile}}
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		switch st {
		case webrtc.PeerConnectionStateConnected:
			ss.connOnce.Do(func() { close(ss.connected) })
		case webrtc.PeerConnectionStateFailed:
			ss.end(stream.ReasonDisconnected)
		case webrtc.PeerConnectionStateClosed:
			ss.end(stream.ReasonClientClosed)
		}
	})
	return ss
}

// answer makes the SDP answer with every candidate gathered (no trickle).
func (ss *session) answer(ctx context.Context) (string, error) {
	ans, err := ss.pc.CreateAnswer(nil)
	if err != nil {
		return "", fmt.Errorf("create answer: %w", err)
	}
	gathered := webrtc.GatheringCompletePromise(ss.pc)
	if err := ss.pc.SetLocalDescription(ans); err != nil {
		return "", fmt.Errorf("set local description: %w", err)
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return "", fmt.Errorf("gathering candidates: %w", ctx.Err())
	}
	return ss.pc.LocalDescription().SDP, nil
}

// readRTCP feeds the viewer's RTCP (receiver reports, NACK, PLI) to the
// interceptors until the peer connection closes. (A viewer's DTLS close is
// not seen here: one that hangs up without DELETE ends at the ICE timeout,
// about 15s.)
func (ss *session) readRTCP(sender *webrtc.RTPSender) {
	buf := make([]byte, 1500)
	for {
		if _, _, err := sender.Read(buf); err != nil {
			return
		}
	}
}

// end asks the session to end with reason (the first reason wins). It
// never blocks: revocation and the peer connection's callbacks call it.
func (ss *session) end(reason string) {
	ss.reason.CompareAndSwap(nil, &reason)
	ss.cancel()
}

// run sends the camera's access units until the session ends, then
// closes it and records its end.
func (ss *session) run() {
	defer ss.finish()
	t := time.NewTimer(ss.s.cfg.ConnectTimeout)
	select {
	case <-ss.connected:
		t.Stop()
	case <-t.C:
		ss.end(stream.ReasonNoPlay)
		return
	case <-ss.ctx.Done():
		t.Stop()
		return
	}
	ss.playing.Store(true)
	for {
		rctx, rcancel := context.WithCancel(ss.ctx)
		ss.mu.Lock()
		next := ss.next
		ss.next, ss.readCancel = nil, rcancel
		ss.mu.Unlock()
		if next != nil { // SwitchProfile: continue from the new profile's keyframe
			ss.drops.Add(ss.rd.Drops())
			_ = ss.rd.Close()
			ss.rd, ss.rebase = next, true
		}
		au, err := ss.rd.Next(rctx)
		rcancel()
		if err == nil {
			if err := ss.write(au); err != nil {
				ss.end(stream.ReasonDisconnected)
				return
			}
			continue
		}
		if ss.ctx.Err() != nil {
			return
		}
		if rctx.Err() != nil {
			continue // a switch interrupted the read
		}
		if !errors.Is(err, stream.ErrUpstreamLost) || !ss.reopen() {
			ss.end(stream.ReasonCameraUnavailable)
			return
		}
	}
}

// reopen joins the upstream again after the camera connection dropped (the
// relay reconnects it); false when it does not come back in time.
func (ss *session) reopen() bool {
	ss.drops.Add(ss.rd.Drops())
	_ = ss.rd.Close()
	ss.rd = nil
	deadline := time.Now().Add(ss.s.cfg.UpstreamRetry)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithDeadline(ss.ctx, deadline)
		ss.mu.Lock()
		prof := ss.profile
		ss.mu.Unlock()
		rd, err := ss.s.cfg.Source.Open(ctx, ss.grant.CameraID, prof)
		cancel()
		if err == nil {
			ss.rd = rd
			return true
		}
		if ss.ctx.Err() != nil {
			return false
		}
		select { // Open waited for an attempt; pause before the next
		case <-ss.ctx.Done():
			return false
		case <-time.After(500 * time.Millisecond):
		}
	}
	return false
}

// write packetizes one access unit (parameter sets first on a keyframe
// that lacks them) with its own timestamp and sends it.
func (ss *session) write(au stream.AccessUnit) error {
	nalus := au.NALUs
	if f, ok := ss.rd.Format().(*format.H264); ok && au.Key && !hasSPS(nalus) && len(f.SPS) > 0 && len(f.PPS) > 0 {
		nalus = append([][]byte{f.SPS, f.PPS}, nalus...)
	}
	ts := uint32(au.PTS * 90000 / time.Second)
	if ss.rebase {
		// Another upstream's clock: keep the viewer's timeline going.
		ss.tsOff, ss.rebase = ss.lastTS+3000-ts, false
	}
	ts += ss.tsOff
	ss.lastTS = ts
	var p codecs.H264Payloader
	payloads := p.Payload(rtpPayload, annexB(nalus))
	for i, pl := range payloads {
		pk := &rtp.Packet{Header: rtp.Header{Version: 2, Marker: i == len(payloads)-1, SequenceNumber: ss.seq, Timestamp: ts}, Payload: pl}
		ss.seq++
		if err := ss.track.WriteRTP(pk); err != nil {
			// The peer connection is closing; its state change ends
			// the session.
			return nil
		}
		ss.bytes.Add(int64(len(pl) + 12))
		ss.s.m.bytes.Add(float64(len(pl) + 12))
	}
	return nil
}

// annexB joins NAL units with start codes (what the payloader splits).
func annexB(nalus [][]byte) []byte {
	n := 0
	for _, u := range nalus {
		n += 4 + len(u)
	}
	out := make([]byte, 0, n)
	for _, u := range nalus {
		out = append(append(out, 0, 0, 0, 1), u...)
	}
	return out
}

func hasSPS(nalus [][]byte) bool {
	for _, n := range nalus {
		if len(n) > 0 && n[0]&0x1f == 7 {
			return true
		}
	}
	return false
}

// finish closes the peer connection and the reader and records the end.
func (ss *session) finish() {
	ss.end(stream.ReasonClientClosed) // no-op when a reason was given
	if ss.untrack != nil {
		ss.untrack()
	}
	if ss.unlist != nil {
		ss.unlist()
	}
	_ = ss.pc.Close()
	drops := ss.drops.Load()
	if ss.rd != nil {
		drops += ss.rd.Drops()
		_ = ss.rd.Close()
	}
	ss.mu.Lock()
	if ss.next != nil {
		_ = ss.next.Close()
		ss.next = nil
	}
	g := ss.grant
	g.Profile = ss.profile
	profiles := ss.profiles
	ss.mu.Unlock()
	reason := *ss.reason.Load()
	if !ss.playing.Load() && reason == stream.ReasonClientClosed {
		reason = stream.ReasonNoPlay
	}
	ss.s.mu.Lock()
	delete(ss.s.sessions, ss.key)
	ss.s.unreserveLocked(ss.src)
	ss.s.mu.Unlock()
	dur := time.Since(ss.started)
	ss.s.log.Info("whep: live view ended", "view", ss.id, "user", g.UserID, "camera", g.CameraID,
		"profile", g.Profile, "reason", reason, "duration", dur.Round(time.Millisecond),
		"bytes", ss.bytes.Load(), "drops", drops)
	e := stream.ViewEndEntry(g, ss.s.cfg.NodeID, ss.remote, Transport, dur, ss.bytes.Load(), drops, reason, nil)
	if len(profiles) > 1 {
		e.Details["profiles"] = profiles
	}
	ss.s.audit(e)
}

// Info implements stream.ExternalView.
func (ss *session) Info() stream.LiveSession {
	ss.mu.Lock()
	prof := ss.profile
	ss.mu.Unlock()
	g := ss.grant
	return stream.LiveSession{ID: ss.id, UserID: g.UserID, Username: g.Username, SessionID: g.SessionID,
		CameraID: g.CameraID, Profile: prof, Purpose: g.Purpose, AuditSeq: g.AuditSeq, Node: ss.s.cfg.NodeID,
		RemoteAddr: ss.remote, Transport: Transport, Started: ss.started, Playing: ss.playing.Load(),
		Bytes: ss.bytes.Load(), Drops: ss.drops.Load()}
}

// End implements stream.ExternalView.
func (ss *session) End(reason string) { ss.end(reason) }

// ErrNotH264 is returned by SwitchProfile for a profile WebRTC cannot carry.
var ErrNotH264 = errors.New("whep: that profile is not H.264")

// SwitchProfile implements stream.ExternalView: it joins the profile's
// shared upstream (from its keyframe cache) and hands the reader to the
// session, which continues with it on the same track.
func (ss *session) SwitchProfile(ctx context.Context, profile string) error {
	ss.mu.Lock()
	cur := ss.profile
	ss.mu.Unlock()
	if profile == cur {
		return nil
	}
	rd, err := ss.s.cfg.Source.Open(ctx, ss.grant.CameraID, profile)
	if err != nil {
		return fmt.Errorf("whep: switch to %s: %w", profile, err)
	}
	if _, ok := rd.Format().(*format.H264); !ok {
		_ = rd.Close()
		return fmt.Errorf("%w: %s", ErrNotH264, profile)
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.ctx.Err() != nil {
		_ = rd.Close()
		return stream.ErrNotFound
	}
	if ss.next != nil {
		_ = ss.next.Close()
	}
	ss.next, ss.profile = rd, profile
	ss.profiles = append(ss.profiles, profile)
	if ss.readCancel != nil {
		ss.readCancel()
	}
	ss.s.log.Info("whep: live view switched profile", "view", ss.id, "user", ss.grant.UserID,
		"camera", ss.grant.CameraID, "from", cur, "to", profile)
	return nil
}

// audit commits an entry, retrying while the audit store is unavailable
// (up to about a minute), like the relay's live.view.end entries.
func (s *Server) audit(e audit.Entry) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	backoff := 100 * time.Millisecond
	deadline := time.Now().Add(time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := s.cfg.Auditor.Append(ctx, e)
		cancel()
		if err == nil {
			return
		}
		if !errors.Is(err, audit.ErrUnavailable) || time.Now().After(deadline) {
			s.log.Error("whep: live.view.end not recorded", "user", e.Actor.UserID, "cameras", e.Cameras,
				"reason", e.Reason, "err", err)
			return
		}
		time.Sleep(backoff) // this goroutine is the session's, ending
		backoff = min(backoff*2, 5*time.Second)
	}
}
