package stream

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"

	"github.com/gwanje/gwanje/internal/redact"
)

// maxAUPackets flushes an access unit that never ends (a camera that
// never sets the marker bit): it is sent as is.
const maxAUPackets = 4096

type hubKey struct{ camera, profile string }

// pkt is one RTP packet as relayed: normalized, with its arrival time and
// marshaled size.
type pkt struct {
	p    *rtp.Packet
	ntp  time.Time
	size int
}

// hub is the single upstream pull of one camera profile and its fan-out to
// viewers. Its goroutine (run) owns the RTSP client and reconnects it with
// backoff while the hub lives; the relay removes the hub a Linger after its
// last viewer left.
//
// Locking: refs, linger and removed belong to Relay.mu; everything else to
// hub.mu. Relay.mu is never taken while hub.mu is held.
type hub struct {
	r   *Relay
	key hubKey

	// Relay.mu
	refs      int
	linger    *time.Timer
	lingerGen uint64 // the linger timer that may remove the hub
	removed   bool

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	stream  *gortsplib.ServerStream
	media   *description.Media // the stream's only media
	codec   codec
	pt      uint8
	up      bool          // upstream playing
	fails   int           // failed attempts so far
	lastErr error         // of the last failed attempt
	changed chan struct{} // closed and replaced when up or fails change
	viewers []*view
	taps    []*Tap // in-process readers (the recorder)

	// normalization: continuous timestamps and sequence numbers across
	// reconnects.
	resync     bool
	haveOut    bool
	tsOff      uint32
	seqOff     uint16
	lastOutTS  uint32
	lastOutSeq uint16
	lastOutAt  time.Time
	clockRate  int

	au    []pkt
	auTS  uint32
	auKey bool

	gop      []pkt // from the last keyframe, when gopValid
	gopValid bool
}

func newHub(r *Relay, key hubKey) *hub {
	ctx, cancel := context.WithCancel(r.ctx)
	return &hub{r: r, key: key, ctx: ctx, cancel: cancel, done: make(chan struct{}), changed: make(chan struct{})}
}

func (h *hub) broadcastLocked() {
	close(h.changed)
	h.changed = make(chan struct{})
}

// waitReady waits until the upstream plays and returns its stream, or
// returns the error of an attempt that failed after the call began.
func (h *hub) waitReady(ctx context.Context, timeout time.Duration) (*gortsplib.ServerStream, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	h.mu.Lock()
	start := h.fails
	for {
		if h.up && h.stream != nil {
			st := h.stream
			h.mu.Unlock()
			return st, nil
		}
		if h.fails > start {
			err := h.lastErr
			h.mu.Unlock()
			return nil, err
		}
		ch := h.changed
		h.mu.Unlock()
		select {
		case <-ch:
		case <-t.C:
			return nil, fmt.Errorf("camera did not answer within %v", timeout)
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-h.ctx.Done():
			return nil, errors.New("relay closing")
		}
		h.mu.Lock()
	}
}

// run pulls the upstream until the hub is removed, reconnecting with backoff.
func (h *hub) run() {
	defer close(h.done)
	defer func() {
		h.mu.Lock()
		st := h.stream
		for _, t := range h.taps {
			t.loseLocked(errors.New("relay closing"))
		}
		h.taps = nil
		h.stream, h.up, h.viewers = nil, false, nil
		h.gop, h.au = nil, nil
		h.mu.Unlock()
		if st != nil {
			st.Close()
		}
	}()
	cfg := &h.r.cfg
	backoff := cfg.ReconnectMin
	for {
		played, err := h.pull()
		if h.ctx.Err() != nil {
			return
		}
		h.mu.Lock()
		h.up = false
		h.fails++
		h.lastErr = err
		h.flushLocked() // an unfinished access unit is dropped with the connection
		for _, t := range h.taps {
			t.loseLocked(err) // readers start over, so the gap shows
		}
		h.taps = nil
		h.broadcastLocked()
		h.mu.Unlock()
		if played {
			backoff = cfg.ReconnectMin
		}
		h.r.m.Reconnects.Inc()
		h.r.log.Warn("stream: camera connection lost; reconnecting",
			"camera", h.key.camera, "profile", h.key.profile, "err", err, "retry_in", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-h.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(backoff*2, cfg.ReconnectMax)
	}
}

// pull runs one upstream session: connect, DESCRIBE, SETUP the video media
// only (audio is never pulled), PLAY, and relay until the camera drops or
// the hub ends. played says whether it got as far as PLAY.
func (h *hub) pull() (played bool, err error) {
	cfg := &h.r.cfg
	up, err := cfg.Cameras.Upstream(h.ctx, h.key.camera, h.key.profile)
	if err != nil {
		return false, fmt.Errorf("camera lookup: %w", err)
	}
	u, err := base.ParseURL(up.URL)
	if err != nil {
		return false, fmt.Errorf("camera URL %s: %s", redactURL(up.URL), redact.Text(err.Error(), up.Password))
	}
	if up.Username != "" {
		u.User = url.UserPassword(up.Username, up.Password)
	}
	tcp := gortsplib.ProtocolTCP
	dialer := &net.Dialer{Timeout: cfg.UpstreamTimeout}
	c := &gortsplib.Client{
		Scheme:       u.Scheme,
		Host:         u.Host,
		Protocol:     &tcp,
		ReadTimeout:  cfg.UpstreamReadTimeout,
		WriteTimeout: cfg.UpstreamReadTimeout,
		UserAgent:    "gwanje",
		DialContext:  dialer.DialContext,
	}
	if err := c.Start(); err != nil {
		return false, fmt.Errorf("connect %s: %w", up, err)
	}
	// The watcher closes the client when the hub ends; it ends with pull.
	stop := make(chan struct{})
	watcher := make(chan struct{})
	go func() {
		defer close(watcher)
		select {
		case <-h.ctx.Done():
			c.Close()
		case <-stop:
		}
	}()
	defer func() {
		close(stop)
		<-watcher
		c.Close()
	}()

	desc, _, err := c.Describe(u)
	if err != nil {
		return false, fmt.Errorf("describe %s: %w", up, err)
	}
	medi, forma, cd := pickVideo(desc)
	if medi == nil {
		return false, fmt.Errorf("%s has no H.264 or H.265 video", up)
	}
	if _, err := c.Setup(desc.BaseURL, medi, 0, 0); err != nil {
		return false, fmt.Errorf("setup %s: %w", up, err)
	}
	if err := h.prepare(forma, cd); err != nil {
		return false, err
	}
	c.OnPacketRTP(medi, forma, h.onPacket)
	if _, err := c.Play(nil); err != nil {
		return false, fmt.Errorf("play %s: %w", up, err)
	}
	h.mu.Lock()
	h.up = true
	h.broadcastLocked()
	h.mu.Unlock()
	h.r.log.Info("stream: camera connected", "camera", h.key.camera, "profile", h.key.profile, "codec", cd)
	err = c.Wait()
	return true, fmt.Errorf("camera %s: %w", up, err)
}

// pickVideo returns the first H.264 or H.265 media of desc.
func pickVideo(desc *description.Session) (*description.Media, format.Format, codec) {
	for _, m := range desc.Medias {
		if m.Type != description.MediaTypeVideo || m.IsBackChannel {
			continue
		}
		for _, f := range m.Formats {
			switch f.(type) {
			case *format.H264:
				return m, f, codecH264
			case *format.H265:
				return m, f, codecH265
			}
		}
	}
	return nil, nil, 0
}

// prepare readies the viewer-side stream for a (re)connected upstream. The
// stream is kept across reconnects when the codec is the same, so viewers
// stay connected; its description is the camera's video only.
func (h *hub) prepare(forma format.Format, cd codec) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.resync = true
	h.au, h.auKey = nil, false
	h.gop, h.gopValid = h.gop[:0], false
	h.clockRate = forma.ClockRate()
	for _, v := range h.viewers {
		v.waitingKey = true // the new session starts over at a keyframe
	}
	if h.stream != nil && h.codec == cd {
		return nil
	}
	if h.stream != nil { // codec changed: viewers must start over
		for _, v := range h.viewers {
			h.r.closeView(v, "upstream_changed")
		}
		h.viewers = nil
		h.stream.Close()
		h.stream = nil
	}
	var out format.Format
	switch f := forma.(type) {
	case *format.H264:
		out = &format.H264{PayloadTyp: f.PayloadTyp, SPS: f.SPS, PPS: f.PPS, PacketizationMode: 1}
	case *format.H265:
		out = &format.H265{PayloadTyp: f.PayloadTyp, VPS: f.VPS, SPS: f.SPS, PPS: f.PPS}
	}
	medi := &description.Media{Type: description.MediaTypeVideo, Formats: []format.Format{out}}
	st := &gortsplib.ServerStream{
		Server: h.r.srv,
		Desc:   &description.Session{Title: "gwanje live", Medias: []*description.Media{medi}},
	}
	if err := st.Initialize(); err != nil {
		return fmt.Errorf("stream: %w", err)
	}
	h.stream, h.media, h.codec, h.pt = st, medi, cd, out.PayloadType()
	return nil
}

// onPacket is called by the RTSP client, in order, for each video packet.
func (h *hub) onPacket(p *rtp.Packet) {
	now := time.Now()
	size := p.MarshalSize()
	h.r.m.BytesIn.Add(float64(size))

	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stream == nil {
		return
	}
	if h.resync {
		h.resync = false
		if h.haveOut {
			gap := now.Sub(h.lastOutAt)
			if gap < 0 {
				gap = 0
			}
			adv := uint32(gap.Seconds()*float64(h.clockRate)) + 1
			h.tsOff = h.lastOutTS + adv - p.Timestamp
			h.seqOff = h.lastOutSeq + 1 - p.SequenceNumber
		} else {
			h.tsOff, h.seqOff = 0, 0
		}
	}
	p.Timestamp += h.tsOff
	p.SequenceNumber += h.seqOff
	p.PayloadType = h.pt
	h.haveOut, h.lastOutTS, h.lastOutSeq, h.lastOutAt = true, p.Timestamp, p.SequenceNumber, now

	if len(h.au) > 0 && p.Timestamp != h.auTS {
		h.flushLocked()
	}
	h.au = append(h.au, pkt{p: p, ntp: now, size: size})
	h.auTS = p.Timestamp
	if !h.auKey && isRandomAccess(h.codec, p.Payload) {
		h.auKey = true
	}
	if p.Marker || len(h.au) >= maxAUPackets {
		h.flushLocked()
	}
}

// flushLocked sends the access unit gathered so far to every viewer and
// keeps it in the keyframe cache.
func (h *hub) flushLocked() {
	au, key := h.au, h.auKey
	if len(au) == 0 {
		return
	}
	h.au, h.auKey = make([]pkt, 0, len(au)), false

	gopMax := h.r.cfg.GOPCache
	switch {
	case key && len(au) <= gopMax:
		h.gop = append(h.gop[:0], au...)
		h.gopValid = true
	case key:
		h.gop, h.gopValid = h.gop[:0], false
	case h.gopValid && len(h.gop)+len(au) <= gopMax:
		h.gop = append(h.gop, au...)
	default:
		h.gop, h.gopValid = h.gop[:0], false
	}

	for _, t := range h.taps {
		t.offerLocked(au, key)
	}
	now := au[len(au)-1].ntp
	var sent int64
	var drops int
	for _, v := range h.viewers {
		if v.waitingKey {
			if !key {
				continue
			}
			v.waitingKey = false
		}
		n, ok := h.writeLocked(v, au)
		sent += n
		if ok {
			v.failingSince = time.Time{}
			continue
		}
		drops++
		v.drops.Add(1)
		v.waitingKey = true
		if v.failingSince.IsZero() {
			v.failingSince = now
		} else if now.Sub(v.failingSince) > h.r.cfg.StallTimeout {
			h.r.closeView(v, "slow")
		}
	}
	if sent > 0 {
		h.r.m.BytesOut.Add(float64(sent))
	}
	if drops > 0 {
		h.r.m.Drops.Add(float64(drops))
	}
}

// writeLocked queues packets to one viewer; ok is false when its queue is
// full (the rest of the packets are not queued).
func (h *hub) writeLocked(v *view, ps []pkt) (n int64, ok bool) {
	ss := v.ss.Load()
	if ss == nil {
		return 0, false
	}
	for _, p := range ps {
		if err := ss.WritePacketRTPWithNTP(h.media, p.p, p.ntp); err != nil {
			v.bytes.Add(n)
			return n, false
		}
		n += int64(p.size)
	}
	v.bytes.Add(n)
	return n, true
}

// join adds a playing viewer: it gets the cached group of pictures at once,
// then every access unit from the next one on.
func (h *hub) join(v *view) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, o := range h.viewers {
		if o == v {
			return
		}
	}
	v.waitingKey = true
	if h.up && h.gopValid && len(h.gop) > 0 {
		n, ok := h.writeLocked(v, h.gop)
		h.r.m.BytesOut.Add(float64(n))
		v.waitingKey = !ok
	}
	h.viewers = append(h.viewers, v)
}

// leave removes a viewer.
func (h *hub) leave(v *view) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, o := range h.viewers {
		if o == v {
			h.viewers = append(h.viewers[:i], h.viewers[i+1:]...)
			return
		}
	}
}
