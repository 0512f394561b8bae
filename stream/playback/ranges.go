package playback

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/gwanje/gwanje/stream/record"
)

// Span is a range of footage [From, To).
type Span struct {
	From, To time.Time
}

// spanSet is the union of the footage a session showed: runs of frames
// sent, merged where they overlap or touch. Not safe for concurrent use.
type spanSet []Span

// add joins [from, to) to the union.
func (s *spanSet) add(from, to time.Time) {
	if !to.After(from) {
		return
	}
	out := (*s)[:0:0]
	for _, sp := range *s {
		if sp.To.Before(from) || to.Before(sp.From) {
			out = append(out, sp)
			continue
		}
		if sp.From.Before(from) {
			from = sp.From
		}
		if sp.To.After(to) {
			to = sp.To
		}
	}
	out = append(out, Span{From: from, To: to})
	slices.SortFunc(out, func(a, b Span) int { return a.From.Compare(b.From) })
	*s = out
}

// details is the union as playback.end records it: a list of
// {"from", "to"} in RFC 3339 (UTC), in time order.
func (s spanSet) details() []map[string]any {
	out := make([]map[string]any, 0, len(s))
	for _, sp := range s {
		out = append(out, map[string]any{"from": sp.From.UTC().Format(time.RFC3339Nano), "to": sp.To.UTC().Format(time.RFC3339Nano)})
	}
	return out
}

// run tracks one contiguous run of frames being sent, for a spanSet: a
// hole longer than the gap skip starts a new run.
type run struct {
	from, last time.Time
	dur        time.Duration // of the last frame
}

// frame records a frame sent at t lasting d; it returns the run that a
// hole ended (zero when none).
func (r *run) frame(t time.Time, d time.Duration, gap time.Duration) (Span, bool) {
	var ended Span
	var ok bool
	if !r.from.IsZero() && t.Sub(r.last) > gap {
		ended, ok = r.span(), true
		r.from = time.Time{}
	}
	if r.from.IsZero() {
		r.from = t
	}
	r.last, r.dur = t, d
	return ended, ok
}

// span is the run so far.
func (r *run) span() Span { return Span{From: r.from, To: r.last.Add(r.dur)} }

// findKeyframe finds where playing from pos starts: the segment index and
// the time of the last keyframe at or before pos that is not before
// notBefore, else the first keyframe after it (no frame before notBefore
// is ever sent: the ticket's range starts there).
func findKeyframe(ctx context.Context, store *record.Store, segs []record.Segment, pos, notBefore time.Time) (int, time.Time, error) {
	if pos.Before(notBefore) {
		pos = notBefore
	}
	keyIdx, key := -1, time.Time{}
	for i, sg := range segs {
		if !sg.End.After(pos) && keyIdx < 0 {
			continue
		}
		if keyIdx < 0 && !sg.Start.Before(pos) && !sg.Start.Before(notBefore) {
			return i, sg.Start, nil // segments start on a keyframe
		}
		r, err := store.OpenSegment(ctx, sg)
		if err != nil {
			return 0, time.Time{}, err
		}
		for {
			f, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				r.Close()
				return 0, time.Time{}, err
			}
			if !f.Key || f.Time.Before(notBefore) {
				continue
			}
			if f.Time.After(pos) {
				r.Close()
				if keyIdx >= 0 {
					return keyIdx, key, nil
				}
				return i, f.Time, nil
			}
			keyIdx, key = i, f.Time
		}
		r.Close()
		if keyIdx >= 0 {
			return keyIdx, key, nil
		}
	}
	return 0, time.Time{}, fmt.Errorf("%w after %v", ErrNoFootage, pos)
}
