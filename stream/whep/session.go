package whep

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
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
	id      string
	grant   stream.Grant
	remote  string
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

	bytes   atomic.Int64
	drops   atomic.Int64 // of readers closed so far
	playing atomic.Bool

	// packetizer state: run only
	seq uint16
}

func newSession(s *Server, id string, g stream.Grant, remote string, pc *webrtc.PeerConnection, track *webrtc.TrackLocalStaticRTP, rd Reader) *session {
	ctx, cancel := context.WithCancel(s.ctx)
	var b [2]byte
	_, _ = rand.Read(b[:])
	ss := &session{s: s, id: id, grant: g, remote: remote, started: time.Now(), pc: pc, track: track, rd: rd,
		ctx: ctx, cancel: cancel, connected: make(chan struct{}), seq: uint16(b[0])<<8 | uint16(b[1])}
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
		au, err := ss.rd.Next(ss.ctx)
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
		rd, err := ss.s.cfg.Source.Open(ctx, ss.grant.CameraID, ss.grant.Profile)
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
	_ = ss.pc.Close()
	drops := ss.drops.Load()
	if ss.rd != nil {
		drops += ss.rd.Drops()
		_ = ss.rd.Close()
	}
	reason := *ss.reason.Load()
	if !ss.playing.Load() && reason == stream.ReasonClientClosed {
		reason = stream.ReasonNoPlay
	}
	ss.s.mu.Lock()
	delete(ss.s.sessions, ss.id)
	ss.s.admitted--
	ss.s.mu.Unlock()
	dur := time.Since(ss.started)
	ss.s.log.Info("whep: live view ended", "view", ss.id, "user", ss.grant.UserID, "camera", ss.grant.CameraID,
		"profile", ss.grant.Profile, "reason", reason, "duration", dur.Round(time.Millisecond),
		"bytes", ss.bytes.Load(), "drops", drops)
	ss.s.audit(stream.ViewEndEntry(ss.grant, ss.s.cfg.NodeID, ss.remote, Transport, dur, ss.bytes.Load(), drops, reason, nil))
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
