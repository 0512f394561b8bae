package record

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/pion/rtp"

	"github.com/gwanje/gwanje/internal/redact"
	"github.com/gwanje/gwanje/stream"
)

// Unit is one video access unit from a camera.
type Unit struct {
	// PTS is the presentation time on the subscription's clock (continuous
	// within a subscription; the origin is arbitrary).
	PTS time.Duration
	// AU holds the NAL units, without start codes.
	AU [][]byte
	// Key marks a random-access unit (IDR / IRAP).
	Key bool
}

// Subscription delivers one camera profile's video.
type Subscription interface {
	// Next blocks until the next unit, the end of the stream (an error:
	// the camera went away) or ctx.
	Next(ctx context.Context) (Unit, error)
	// Track is the codec and the parameter sets announced at the start
	// (in-band parameter sets of keyframes override them).
	Track() Track
	// Close ends the subscription. Safe to call twice.
	Close() error
}

// Source gives the recorder a camera's video. RTSPSource pulls from the
// camera; the shared upstream of the live relay can implement it too.
type Source interface {
	Subscribe(ctx context.Context, cameraID, profile string) (Subscription, error)
}

// Upstreams resolves a camera profile to its RTSP URL and credentials.
// It is stream.Cameras: the devices registry adapter of the relay serves
// the recorder too.
type Upstreams interface {
	Upstream(ctx context.Context, cameraID, profile string) (stream.Upstream, error)
}

// RTSPSource pulls each subscription straight from the camera with its own
// RTSP client (TCP), video only: audio is never set up. The credentials
// come from Upstreams and are never logged.
type RTSPSource struct {
	Upstreams Upstreams
	// Timeout bounds connecting and each read. Default 5s.
	Timeout time.Duration
	// Queue is the number of access units buffered per subscription; when
	// the recorder falls behind, units are dropped until the next
	// keyframe. Default 256.
	Queue  int
	Logger *slog.Logger
}

// Subscribe connects to the camera and starts playing.
func (s *RTSPSource) Subscribe(ctx context.Context, cameraID, profile string) (Subscription, error) {
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	q := s.Queue
	if q <= 0 {
		q = 256
	}
	up, err := s.Upstreams.Upstream(ctx, cameraID, profile)
	if err != nil {
		return nil, fmt.Errorf("record: camera lookup: %w", err)
	}
	u, err := base.ParseURL(up.URL)
	if err != nil {
		return nil, fmt.Errorf("record: camera URL %s: %s", up, redact.Text(err.Error(), up.Password))
	}
	if up.Username != "" {
		u.User = url.UserPassword(up.Username, up.Password)
	}
	tcp := gortsplib.ProtocolTCP
	dialer := &net.Dialer{Timeout: timeout}
	c := &gortsplib.Client{
		Scheme: u.Scheme, Host: u.Host, Protocol: &tcp,
		ReadTimeout: timeout, WriteTimeout: timeout, UserAgent: "gwanje-recorder",
		DialContext: dialer.DialContext,
	}
	if err := c.Start(); err != nil {
		return nil, fmt.Errorf("record: connect %s: %w", up, err)
	}
	sub := &rtspSub{c: c, units: make(chan Unit, q), done: make(chan struct{})}
	ok := false
	defer func() {
		if !ok {
			c.Close()
		}
	}()
	// Requests below are bounded by the client's timeouts; ctx also
	// closes the client.
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	desc, _, err := c.Describe(u)
	if err != nil {
		return nil, fmt.Errorf("record: describe %s: %w", up, err)
	}
	var medi *description.Media
	var forma format.Format
	for _, m := range desc.Medias {
		if m.Type != description.MediaTypeVideo || m.IsBackChannel {
			continue
		}
		for _, f := range m.Formats {
			switch f.(type) {
			case *format.H264, *format.H265:
				medi, forma = m, f
			}
			if medi != nil {
				break
			}
		}
		if medi != nil {
			break
		}
	}
	if medi == nil {
		return nil, fmt.Errorf("record: %s has no H.264 or H.265 video", up)
	}
	if _, err := c.Setup(desc.BaseURL, medi, 0, 0); err != nil {
		return nil, fmt.Errorf("record: setup %s: %w", up, err)
	}
	var decode func(*rtp.Packet) ([][]byte, error)
	switch f := forma.(type) {
	case *format.H264:
		sub.track = Track{Codec: CodecH264, SPS: f.SPS, PPS: f.PPS}
		d, err := f.CreateDecoder()
		if err != nil {
			return nil, fmt.Errorf("record: decoder: %w", err)
		}
		decode = d.Decode
	case *format.H265:
		sub.track = Track{Codec: CodecH265, VPS: f.VPS, SPS: f.SPS, PPS: f.PPS}
		d, err := f.CreateDecoder()
		if err != nil {
			return nil, fmt.Errorf("record: decoder: %w", err)
		}
		decode = d.Decode
	}
	h265c := sub.track.Codec == CodecH265
	clock := forma.ClockRate()
	c.OnPacketRTP(medi, forma, func(pkt *rtp.Packet) {
		// The time decoder must see every packet: it starts at the first
		// packet of a random-access unit, which a fragmented unit's last
		// packet is not.
		pts, ok := c.PacketPTS(medi, pkt)
		au, err := decode(pkt)
		if err != nil || len(au) == 0 || !ok {
			return // fragment of a unit, a unit lost with packets, or before the first keyframe
		}
		var key bool
		if h265c {
			key = h265.IsRandomAccess(au)
		} else {
			key = h264.IsRandomAccess(au)
		}
		sub.push(Unit{PTS: time.Duration(pts) * time.Second / time.Duration(clock), AU: au, Key: key})
	})
	if _, err := c.Play(nil); err != nil {
		return nil, fmt.Errorf("record: play %s: %w", up, err)
	}
	ok = true
	go func() {
		err := c.Wait()
		sub.mu.Lock()
		sub.err = fmt.Errorf("record: camera %s: %w", up, err)
		sub.mu.Unlock()
		close(sub.done)
	}()
	return sub, nil
}

type rtspSub struct {
	c     *gortsplib.Client
	units chan Unit
	done  chan struct{}

	mu       sync.Mutex
	track    Track
	err      error
	skipping bool
	once     sync.Once
}

// push is called by the client's reader goroutine, in order.
func (s *rtspSub) push(u Unit) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u.Key {
		s.skipping = false
	}
	if s.skipping {
		return
	}
	select {
	case s.units <- u:
	default:
		s.skipping = true // the recorder is behind: resume at the next keyframe
	}
}

// withParams returns t with the in-band parameter sets of au.
func withParams(t Track, au [][]byte) Track {
	for _, n := range au {
		if len(n) == 0 {
			continue
		}
		if t.Codec == CodecH264 {
			switch h264.NALUType(n[0] & 0x1f) {
			case h264.NALUTypeSPS:
				t.SPS = n
			case h264.NALUTypePPS:
				t.PPS = n
			}
			continue
		}
		switch h265.NALUType((n[0] >> 1) & 0x3f) {
		case h265.NALUType_VPS_NUT:
			t.VPS = n
		case h265.NALUType_SPS_NUT:
			t.SPS = n
		case h265.NALUType_PPS_NUT:
			t.PPS = n
		}
	}
	return t
}

func (s *rtspSub) Next(ctx context.Context) (Unit, error) {
	select {
	case u := <-s.units:
		return u, nil
	default:
	}
	select {
	case u := <-s.units:
		return u, nil
	case <-s.done:
		select {
		case u := <-s.units:
			return u, nil
		default:
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.err == nil {
			return Unit{}, errors.New("record: stream ended")
		}
		return Unit{}, s.err
	case <-ctx.Done():
		return Unit{}, ctx.Err()
	}
}

func (s *rtspSub) Track() Track {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.track
}

func (s *rtspSub) Close() error {
	s.once.Do(func() {
		s.c.Close()
		<-s.done
	})
	return nil
}
