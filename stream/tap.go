package stream

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"
)

// ErrUpstreamLost ends a Tap when the camera connection it reads drops;
// the reader subscribes again (the relay reconnects with backoff), so that
// the gap shows where it is.
var ErrUpstreamLost = errors.New("stream: camera connection lost")

// AccessUnit is one video frame as a Tap delivers it.
type AccessUnit struct {
	// PTS is on the tap's clock: continuous, origin arbitrary.
	PTS time.Duration
	// NALUs without start codes.
	NALUs [][]byte
	// Key marks a random-access unit.
	Key bool
}

// tapQueue bounds the access units waiting for a slow reader; past it the
// tap drops frames until the next keyframe, like a slow viewer.
const tapQueue = 256

type tapAU struct {
	pkts []pkt
	key  bool
}

// Tap reads a camera profile's shared upstream inside gwanje — the recorder
// is one — as access units, from the same pull the viewers get: a camera
// recorded and watched is connected to once.
type Tap struct {
	r   *Relay
	h   *hub
	out format.Format

	ch        chan tapAU
	lost      chan struct{}
	lostErr   error
	lostOnce  sync.Once
	closeOnce sync.Once

	waitingKey bool // hub.mu
	drops      atomic.Int64

	// decoder state: Next only.
	dec interface {
		Decode(*rtp.Packet) ([][]byte, error)
	}
	lastTS  uint32
	pts     int64
	havePTS bool
}

// Tap joins (or opens) the upstream of a camera profile and returns a
// reader of its access units, starting at the next keyframe.
func (r *Relay) Tap(ctx context.Context, cameraID, profile string) (*Tap, error) {
	h, err := r.acquireHub(hubKey{camera: cameraID, profile: profile})
	if err != nil {
		return nil, err
	}
	if _, err := h.waitReady(ctx, r.cfg.UpstreamTimeout); err != nil {
		r.releaseHub(h)
		return nil, fmt.Errorf("stream: tap %s/%s: %w", cameraID, profile, err)
	}
	h.mu.Lock()
	t := &Tap{r: r, h: h, out: h.media.Formats[0], ch: make(chan tapAU, tapQueue), lost: make(chan struct{}), waitingKey: true}
	switch f := t.out.(type) {
	case *format.H264:
		t.dec, err = f.CreateDecoder()
	case *format.H265:
		t.dec, err = f.CreateDecoder()
	default:
		err = fmt.Errorf("stream: tap: unsupported format %T", t.out)
	}
	if err != nil {
		h.mu.Unlock()
		r.releaseHub(h)
		return nil, err
	}
	h.taps = append(h.taps, t)
	h.mu.Unlock()
	return t, nil
}

// Format is the video format with the parameter sets the camera announced.
func (t *Tap) Format() format.Format { return t.out }

// Drops counts the frames dropped because the reader fell behind.
func (t *Tap) Drops() int64 { return t.drops.Load() }

// offerLocked hands an access unit to the tap without ever blocking the
// camera (hub.mu held).
func (t *Tap) offerLocked(au []pkt, key bool) {
	if t.waitingKey {
		if !key {
			return
		}
		t.waitingKey = false
	}
	select {
	case t.ch <- tapAU{pkts: au, key: key}:
	default:
		t.drops.Add(1)
		t.waitingKey = true
	}
}

// loseLocked ends the tap: its upstream session is over (hub.mu held).
func (t *Tap) loseLocked(err error) {
	t.lostOnce.Do(func() {
		t.lostErr = fmt.Errorf("%w: %v", ErrUpstreamLost, err)
		close(t.lost)
	})
}

// Next returns the next access unit; ErrUpstreamLost when the camera
// connection dropped (after the units received before it).
func (t *Tap) Next(ctx context.Context) (AccessUnit, error) {
	for {
		var au tapAU
		select {
		case au = <-t.ch:
		default:
			select {
			case au = <-t.ch:
			case <-t.lost:
				select {
				case au = <-t.ch: // drain what came before the loss
				default:
					return AccessUnit{}, t.lostErr
				}
			case <-ctx.Done():
				return AccessUnit{}, ctx.Err()
			}
		}
		out, ok := t.decode(au)
		if ok {
			return out, nil
		}
	}
}

func (t *Tap) decode(a tapAU) (AccessUnit, bool) {
	au := a.pkts
	var nalus [][]byte
	for _, p := range au {
		n, err := t.dec.Decode(p.p)
		if err == nil && len(n) > 0 {
			nalus = n
		}
	}
	if len(nalus) == 0 {
		return AccessUnit{}, false
	}
	ts := au[0].p.Timestamp
	if t.havePTS {
		t.pts += int64(int32(ts - t.lastTS))
	}
	t.lastTS, t.havePTS = ts, true
	rate := int64(t.out.ClockRate())
	return AccessUnit{
		PTS:   time.Duration(t.pts * int64(time.Second) / rate),
		NALUs: nalus,
		Key:   a.key,
	}, true
}

// Close leaves the upstream (which stops a linger after its last reader).
// Safe to call twice.
func (t *Tap) Close() error {
	t.closeOnce.Do(func() {
		t.h.mu.Lock()
		for i, o := range t.h.taps {
			if o == t {
				t.h.taps = append(t.h.taps[:i], t.h.taps[i+1:]...)
				break
			}
		}
		t.loseLocked(errors.New("tap closed"))
		t.h.mu.Unlock()
		t.r.releaseHub(t.h)
	})
	return nil
}
