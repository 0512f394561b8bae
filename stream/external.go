package stream

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/gwanje/gwanje/audit"
)

// TapFromKeyframe is Tap for a viewer served outside the RTSP server (a
// WebRTC session): it starts at once with the keyframe cache (the group of
// pictures since the last keyframe) when the upstream has one, else at the
// next keyframe, so the picture appears without waiting for the camera's
// next keyframe. Like every Tap it never blocks the camera: a reader that
// falls behind drops to the next keyframe.
func (r *Relay) TapFromKeyframe(ctx context.Context, cameraID, profile string) (*Tap, error) {
	t, err := r.Tap(ctx, cameraID, profile)
	if err != nil {
		return nil, err
	}
	h := t.h
	h.mu.Lock()
	defer h.mu.Unlock()
	if !t.waitingKey || !h.up || !h.gopValid || len(h.gop) == 0 {
		return t, nil
	}
	gop := slices.Clone(h.gop) // h.gop's array is reused at the next keyframe
	start := 0
	for i := 1; i <= len(gop); i++ {
		if i == len(gop) || gop[i].p.Timestamp != gop[start].p.Timestamp {
			t.offerLocked(gop[start:i:i], start == 0)
			start = i
		}
	}
	return t, nil
}

// ViewEndEntry returns the live.view.end entry of a view served outside the
// RTSP server (transport "webrtc"), in the same form as the relay's own, so
// that one query finds every view's end whatever its transport.
func ViewEndEntry(g Grant, node, remote, transport string, dur time.Duration, bytes, drops int64, reason string, cause error) audit.Entry {
	return endEntry(g, node, remote, transport, dur, bytes, drops, reason, cause)
}

// ExternalView is a live view served outside the RTSP server (a WebRTC
// session of stream/whep). The relay lists it with its own views (List,
// Get, the view directory), ends it (Stop, CloseUserSessions) and switches
// its profile (SwitchProfile), so that control handles every view alike.
type ExternalView interface {
	// Info describes the view now; the relay fills in Node.
	Info() LiveSession
	// End asks the view to end with reason; it must not block.
	End(reason string)
	// SwitchProfile moves the view to another profile of its camera.
	SwitchProfile(ctx context.Context, profile string) error
}

// ErrCannotSwitch is returned by SwitchProfile for a view that cannot
// change profile in place (an RTSP view: its player described the stream).
var ErrCannotSwitch = errors.New("stream: this live view cannot switch profile in place")

// AddView lists v among the relay's views until remove is called (once,
// when the view has ended; later calls do nothing).
func (r *Relay) AddView(v ExternalView) (remove func()) {
	id := v.Info().ID
	r.mu.Lock()
	r.ext[id] = v
	r.mu.Unlock()
	if d := r.cfg.Views; d != nil {
		d.put(r.ctx, r.extInfo(v))
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			r.mu.Lock()
			if r.ext[id] == v {
				delete(r.ext, id)
			}
			r.mu.Unlock()
			if d := r.cfg.Views; d != nil {
				d.remove(context.WithoutCancel(r.ctx), id)
			}
		})
	}
}

func (r *Relay) extInfo(v ExternalView) LiveSession {
	i := v.Info()
	i.Node = r.cfg.NodeID
	return i
}

// SwitchProfile moves one open view to another profile of its camera:
// ErrNotFound for an unknown view, ErrCannotSwitch for an RTSP view. The
// caller authorizes and audits the change.
func (r *Relay) SwitchProfile(ctx context.Context, id, profile string) error {
	if !validName(profile) {
		return fmt.Errorf("%w: profile %q", ErrInvalidRequest, profile)
	}
	r.mu.Lock()
	_, rtsp := r.views[id]
	e := r.ext[id]
	r.mu.Unlock()
	switch {
	case e != nil:
		if err := e.SwitchProfile(ctx, profile); err != nil {
			return err
		}
		if d := r.cfg.Views; d != nil {
			d.put(r.ctx, r.extInfo(e))
		}
		return nil
	case rtsp:
		return ErrCannotSwitch
	}
	return ErrNotFound
}
