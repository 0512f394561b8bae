package stream

import (
	"context"
	"slices"
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
