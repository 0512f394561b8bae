// Package revoke ends access to footage when the access behind it ends. It
// is the one mechanism behind live views (stream), playback sessions and
// tickets (stream/playback) and export download links (privacy/export):
//
//   - at the door: a ticket or link is redeemed only when Watcher.Allowed
//     re-decides its holder on current data (the login session it was issued
//     to is still open, the account enabled, the right still granted), so a
//     ticket issued before a logout, a session revocation, a disabled
//     account, a revoked grant or an ended contract opens nothing afterwards;
//   - while open: every open session registered with Watcher.Track is
//     re-decided when an access.revoked notice (events.AccessRevoked,
//     published by accesscontrol after the change commits) names its user,
//     and ended at once when the notice names its login session; a periodic
//     recheck catches a lost notice and rights that lapse with time.
//
// A Watcher knows nothing about RTSP or HTTP: a server registers a Holder
// and the function that ends its session. The Decider (control implements it
// over accesscontrol and the camera registry) says whether a Holder may
// still have what it holds.
package revoke

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/gwanje/gwanje/events"
)

// End reasons given to the end function of a tracked session.
const (
	// ReasonSessionEnded: the holder's login session ended (logout or
	// session revocation).
	ReasonSessionEnded = "session_ended"
	// ReasonRevoked: the Decider no longer allows the holder (account
	// disabled, grant revoked or expired, contract ended, …).
	ReasonRevoked = "revoked"
)

// Holder is who holds a ticket, a link or an open session, and what for.
type Holder struct {
	UserID   string
	Username string
	// SessionID is the login session the ticket or link was issued to;
	// when it ends, so does what it opened. Empty: not tied to a session.
	SessionID string
	// Permissions are the accesscontrol permissions that allow it; any one
	// of them still granted suffices (e.g. export.request or
	// export.approve for a download link).
	Permissions []string
	// CameraID and Purpose are the resource the permission is decided on.
	CameraID string
	Purpose  string
	// FootageFrom is the oldest footage held (playback, export); zero for
	// live view.
	FootageFrom time.Time
}

// Decider re-decides a Holder on current data: it returns false when the
// holder's login session ended, the account is disabled or none of the
// permissions is granted any more for the camera and purpose. It must read
// current data (a snapshot reloaded after the change that caused a notice)
// and fail closed when it cannot.
type Decider interface {
	StillAllowed(ctx context.Context, h Holder) bool
}

// DeciderFunc adapts a function to Decider.
type DeciderFunc func(ctx context.Context, h Holder) bool

// StillAllowed implements Decider.
func (f DeciderFunc) StillAllowed(ctx context.Context, h Holder) bool { return f(ctx, h) }

// Subscriber delivers core-NATS notices. events.Notices implements it.
type Subscriber interface {
	Subscribe(subject string, handler func(data []byte)) (unsubscribe func() error, err error)
}

// Notice is the payload of events.AccessRevoked (accesscontrol.RevokedNotice):
// SessionID set when one login session ended, otherwise the user's rights
// shrank. An empty UserID asks for every session to be re-decided.
type Notice struct {
	UserID    string `json:"user_id"`
	SessionID string `json:"session_id,omitempty"`
	Event     string `json:"event"`
}

// Config configures a Watcher. Zero values take the defaults documented on
// each field.
type Config struct {
	// Decider re-decides holders. Optional: without it every holder is
	// allowed at the door, and a notice naming a user ends all of that
	// user's sessions.
	Decider Decider
	// Notices delivers access.revoked notices. Optional (then only the
	// periodic recheck ends sessions early).
	Notices Subscriber
	// RecheckInterval re-decides every tracked session even without a
	// notice (a notice may be lost; a grant may lapse with time). Default
	// 1m; negative disables.
	RecheckInterval time.Duration
	// DecideTimeout bounds one decision. Default 5s.
	DecideTimeout time.Duration
	// Logger. Default slog.Default().
	Logger *slog.Logger
}

// Watcher tracks open sessions and ends them when their access ends.
type Watcher struct {
	cfg Config
	log *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	queue  chan Notice

	mu      sync.Mutex
	started bool
	closed  bool
	next    uint64
	tracked map[uint64]*entry
	unsub   func() error
}

type entry struct {
	h     Holder
	end   func(reason string)
	ended bool // under Watcher.mu
}

// New returns a Watcher; Start begins listening.
func New(cfg Config) *Watcher {
	if cfg.RecheckInterval == 0 {
		cfg.RecheckInterval = time.Minute
	}
	if cfg.DecideTimeout <= 0 {
		cfg.DecideTimeout = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Watcher{cfg: cfg, log: cfg.Logger, ctx: ctx, cancel: cancel,
		queue: make(chan Notice, 256), tracked: map[uint64]*entry{}}
}

// ErrClosed is returned by Start after Close.
var ErrClosed = errors.New("revoke: watcher closed")

// Start subscribes to the notices and starts the recheck. Calling it again
// does nothing.
func (w *Watcher) Start() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return ErrClosed
	}
	if w.started {
		return nil
	}
	if w.cfg.Notices != nil {
		unsub, err := w.cfg.Notices.Subscribe(events.AccessRevoked, w.onNotice)
		if err != nil {
			return err
		}
		w.unsub = unsub
	}
	w.started = true
	w.wg.Add(1)
	go func() { defer w.wg.Done(); w.loop() }()
	return nil
}

// Close stops listening and waits for a decision in progress. Tracked
// sessions are left to their owner. Safe to call more than once.
func (w *Watcher) Close() {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	w.closed = true
	unsub := w.unsub
	w.mu.Unlock()
	if unsub != nil {
		_ = unsub()
	}
	w.cancel()
	w.wg.Wait()
}

// Allowed decides at the door whether h may redeem what it holds: true
// without a Decider; otherwise the Decider's answer.
func (w *Watcher) Allowed(ctx context.Context, h Holder) bool {
	if w.cfg.Decider == nil {
		return true
	}
	ctx, cancel := context.WithTimeout(ctx, w.cfg.DecideTimeout)
	defer cancel()
	return w.cfg.Decider.StillAllowed(ctx, h)
}

// Track registers an open session of h; end is called at most once, from
// the Watcher's goroutine, with ReasonSessionEnded or ReasonRevoked, and
// must not block (close the connection; let its owner clean up). untrack
// removes it (call it when the session ends for any reason); it is safe to
// call more than once.
func (w *Watcher) Track(h Holder, end func(reason string)) (untrack func()) {
	w.mu.Lock()
	w.next++
	id := w.next
	w.tracked[id] = &entry{h: h, end: end}
	w.mu.Unlock()
	return func() {
		w.mu.Lock()
		delete(w.tracked, id)
		w.mu.Unlock()
	}
}

// Tracked returns how many sessions are tracked.
func (w *Watcher) Tracked() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.tracked)
}

// Revoke handles a notice at once (the notice path calls it too): the
// sessions of n.SessionID end; the other sessions of n.UserID (all
// sessions when n.UserID is empty) are re-decided.
func (w *Watcher) Revoke(n Notice) {
	w.mu.Lock()
	var es []*entry
	for _, e := range w.tracked {
		if !e.ended && (n.UserID == "" || e.h.UserID == n.UserID) {
			es = append(es, e)
		}
	}
	w.mu.Unlock()
	for _, e := range es {
		reason := ""
		switch {
		case n.SessionID != "" && e.h.SessionID == n.SessionID:
			reason = ReasonSessionEnded
		case w.cfg.Decider != nil:
			if !w.Allowed(w.ctx, e.h) {
				reason = ReasonRevoked
			}
		case n.UserID != "":
			reason = ReasonRevoked
		}
		if reason == "" {
			continue
		}
		w.mu.Lock()
		already := e.ended
		e.ended = true
		w.mu.Unlock()
		if already {
			continue
		}
		w.log.Info("revoke: ending a session", "user", e.h.UserID, "camera", e.h.CameraID,
			"permissions", e.h.Permissions, "reason", reason, "event", n.Event)
		e.end(reason)
	}
}

func (w *Watcher) onNotice(data []byte) {
	var n Notice
	if err := json.Unmarshal(data, &n); err != nil || n.UserID == "" {
		w.log.Warn("revoke: ignoring a malformed access.revoked notice", "bytes", len(data))
		return
	}
	select {
	case w.queue <- n:
	default:
		// Overflow: re-decide everyone rather than lose a revocation.
		select {
		case w.queue <- Notice{Event: "overflow"}:
		default:
		}
	}
}

func (w *Watcher) loop() {
	var recheck <-chan time.Time
	if w.cfg.RecheckInterval > 0 {
		t := time.NewTicker(w.cfg.RecheckInterval)
		defer t.Stop()
		recheck = t.C
	}
	for {
		select {
		case <-w.ctx.Done():
			return
		case n := <-w.queue:
			w.Revoke(n)
		case <-recheck:
			w.Revoke(Notice{Event: "recheck"})
		}
	}
}
