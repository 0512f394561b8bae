package accesscontrol

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/gwanje/gwanje/audit"
)

// failureTrail audits the failures of unauthenticated callers (failed
// logins, unknown session tokens, throttled requests) without letting a
// stranger flood the audit store: per client address and entry type, the
// first failure of a window of Config.FailureAuditWindow is recorded as it
// happens (synchronously, with all its details), and the others are counted
// and recorded as one entry after the window closes (its count, the reasons
// with their counts and a sample of the claimed usernames), by flush (Run
// calls it every few seconds and at shutdown). At most
// Config.MaxTrackedSources windows are open; failures beyond them are counted
// in one window per type for "other addresses". Strangers' failures take at
// most one database connection at a time: a first failure that finds the
// writer busy is counted in its window instead of written, so that a flood
// from many addresses cannot hold the pool that serves the operators.
// Successful logins and the denials of authenticated users are not
// coalesced: they are recorded one by one before the answer, as before.
type failureTrail struct {
	window  time.Duration
	max     int
	write   func(ctx context.Context, e audit.Entry) error
	writing chan struct{} // one write at a time

	mu      sync.Mutex
	windows map[trailKey]*trailWindow
	closed  []audit.Entry // counted entries of closed windows, for flush
}

type trailKey struct{ source, typ string }

// overflowSource is the source of the window that counts failures from
// addresses beyond the bound.
const overflowSource = "(other addresses)"

// maxSampleNames bounds the usernames a coalesced entry names.
const maxSampleNames = 20

type trailWindow struct {
	start, last time.Time
	outcome     audit.Outcome
	count       int
	reasons     map[string]int
	names       map[string]struct{}
	addrs       map[string]struct{} // for the overflow window: distinct addresses (bounded)
}

func newFailureTrail(window time.Duration, max int, write func(context.Context, audit.Entry) error) *failureTrail {
	return &failureTrail{window: window, max: max, write: write, writing: make(chan struct{}, 1), windows: map[trailKey]*trailWindow{}}
}

// record audits the failure e from the client address src: written now
// when it is the first of its window and the writer is free (or wait is
// set: for rare events, such as a lockout, that must show on their own),
// counted otherwise. recorded reports that it was written.
func (t *failureTrail) record(ctx context.Context, src string, e audit.Entry, wait bool) (recorded bool, err error) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	k := trailKey{src, e.Type}
	t.mu.Lock()
	defer t.mu.Unlock()
	w := t.window1(k, e.Time)
	if w == nil && len(t.windows) >= t.max {
		k = trailKey{overflowSource, e.Type}
		w = t.window1(k, e.Time)
	}
	if w == nil {
		free := false
		select {
		case t.writing <- struct{}{}:
			free = true
		default:
		}
		if !free && wait {
			t.mu.Unlock()
			select {
			case t.writing <- struct{}{}:
				free = true
			case <-ctx.Done():
			}
			t.mu.Lock()
			if w = t.window1(k, e.Time); w != nil && free { // opened meanwhile: count it there
				<-t.writing
				free = false
			}
		}
		switch {
		case free:
			t.windows[k] = &trailWindow{start: e.Time, outcome: e.Outcome, reasons: map[string]int{}, names: map[string]struct{}{}, addrs: map[string]struct{}{}}
			t.mu.Unlock()
			if e.Details == nil {
				e.Details = map[string]any{}
			}
			e.Details["coalescing"] = fmt.Sprintf("first failure of this kind from this address in %s; the next are counted in one entry", t.window)
			err := t.write(ctx, e)
			<-t.writing
			t.mu.Lock()
			return err == nil, err
		case w == nil:
			// The writer is busy: count this one too.
			w = &trailWindow{start: e.Time, outcome: e.Outcome, reasons: map[string]int{}, names: map[string]struct{}{}, addrs: map[string]struct{}{}}
			t.windows[k] = w
		}
	}
	w.count++
	w.last = e.Time
	w.reasons[e.Reason]++
	if n := e.Actor.Username; n != "" && len(w.names) < maxSampleNames {
		w.names[n] = struct{}{}
	}
	if k.source == overflowSource && len(w.addrs) < maxSampleNames {
		w.addrs[src] = struct{}{}
	}
	return false, nil
}

// window1 is the open window of k, nil when there is none; a window that
// has closed by now is set aside for flush. Called with mu held.
func (t *failureTrail) window1(k trailKey, now time.Time) *trailWindow {
	w := t.windows[k]
	if w != nil && now.Sub(w.start) >= t.window {
		t.closed = append(t.closed, t.summary(k, w, now)...)
		delete(t.windows, k)
		return nil
	}
	return w
}

// flush writes the counted entries of the windows that have closed by now,
// or of every window when all is set (at shutdown).
func (t *failureTrail) flush(ctx context.Context, now time.Time, all bool) error {
	t.mu.Lock()
	out := t.closed
	t.closed = nil
	for k, w := range t.windows {
		if all || now.Sub(w.start) >= t.window {
			out = append(out, t.summary(k, w, now)...)
			delete(t.windows, k)
		}
	}
	t.mu.Unlock()
	var first error
	for _, e := range out {
		select {
		case t.writing <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		err := t.write(ctx, e)
		<-t.writing
		if err != nil && first == nil {
			first = err
		}
	}
	return first
}

// summary is the counted entry of a window, none when only its first
// failure happened. Called with mu held.
func (t *failureTrail) summary(k trailKey, w *trailWindow, now time.Time) []audit.Entry {
	if w.count == 0 {
		return nil
	}
	end := w.start.Add(t.window)
	if now.Before(end) {
		end = now
	}
	details := map[string]any{
		"coalesced":    w.count,
		"window_start": w.start.UTC().Format(time.RFC3339Nano),
		"window_end":   end.UTC().Format(time.RFC3339Nano),
		"last":         w.last.UTC().Format(time.RFC3339Nano),
		"reasons":      w.reasons,
	}
	if len(w.names) > 0 {
		details["usernames"] = sortedKeys(w.names)
	}
	addr, from := k.source, "this address"
	if k.source == overflowSource {
		addr, from = "", "addresses beyond the tracked bound"
		details["addresses_sample"] = sortedKeys(w.addrs)
	}
	return []audit.Entry{{
		Time: end, Type: k.typ, Outcome: w.outcome, ClientAddr: addr,
		Reason:  fmt.Sprintf("%d more failures of this kind from %s, counted, not recorded one by one", w.count, from),
		Details: details,
	}}
}

func sortedKeys(m map[string]struct{}) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
