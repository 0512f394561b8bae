package playback

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gwanje/gwanje/stream/record"
)

// Browser playback: fMP4 over HTTPS for Media Source Extensions.
//
// Why MSE and not HLS: the server paces what it sends (footage at the
// requested speed, at most Config.BrowserLead ahead of real time), so
// playback.end records the footage a browser was shown rather than what a
// player prefetched (hls.js buffers 30 s ahead by default), revocation
// leaves at most that lead in the browser, and the console needs no
// third-party player: a page of script appends the stream to a
// SourceBuffer. Seeking is a new request from a keyframe, speeds are the
// pacing multiplier plus the video element's playbackRate.
//
// Protocol (every response carries Access-Control-Allow-Origin: *; the
// credentials are in the URL, never cookies):
//
//	GET  /playback/mse/<camera>?ticket=T
//	     redeems the one-time ticket (transport mse) and opens a session:
//	     200 application/json Manifest. A used, expired, unknown or revoked
//	     ticket gets 403 and nothing else.
//	GET  /playback/mse/<camera>/media?ticket=T&session=S&at=<unix ms>&rate=<1|2|4|8>
//	     200 video/mp4: an init segment, then one fragment per frame from
//	     the keyframe at or before at (header Gwanje-Start: its unix ms),
//	     paced at rate, until the ticket's end or the footage's. A new
//	     media request of the session ends the previous one (seek, speed
//	     change). at outside the ticket's range: 416. A segment that fails
//	     verification stops the stream (the response is reset, never
//	     completed) and ends the session: later requests get 410 with the
//	     reason ("tampered", "revoked", "session_ended", "idle", "ended").
//	POST /playback/mse/<camera>/rate?ticket=T&session=S&rate=<1|2|4|8>
//	     changes the pace of the open media stream in place (set the video
//	     element's playbackRate to the same); 204.
//	POST /playback/mse/<camera>/end?ticket=T&session=S
//	     ends the session (navigator.sendBeacon on unload); 204.
//
// A session also ends when no media request has been open for
// Config.BrowserIdle, on revocation (within a second) and when the server
// closes. Each session ends with one playback.end entry (transport "mse")
// whose details list the footage sent ("ranges", the union of the runs of
// frames sent, split at holes) besides duration, bytes, frames and seeks.

// MSEPrefix is the path prefix of browser playback (Server.Handler).
const MSEPrefix = "/playback/mse/"

// Speeds a media request may ask for.
var speeds = map[string]int{"1": 1, "2": 2, "4": 4, "8": 8}

// Manifest is the JSON answer to a browser's first request.
type Manifest struct {
	// Session is the session's secret; media and end requests carry it
	// with the ticket.
	Session string `json:"session"`
	Camera  string `json:"camera"`
	// From and To are the ticket's footage range; the media timeline's
	// zero (currentTime 0) is From.
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// FromMS is From in unix milliseconds (the unit of at).
	FromMS int64 `json:"from_ms"`
	// MIME is the SourceBuffer type, e.g. video/mp4; codecs="avc1.640028".
	MIME string `json:"mime"`
	// Spans are the recorded runs inside [From, To); Gaps the holes between
	// them (and at either end), which a player skips and a console draws.
	Spans []Span `json:"spans"`
	Gaps  []Span `json:"gaps"`
	// Media and End are the session's URLs (relative to the node).
	Media string `json:"media"`
	End   string `json:"end"`
	// Lead is how far (ms of wall time) the server sends ahead.
	LeadMS int64 `json:"lead_ms"`
}

// MarshalJSON writes times as RFC 3339.
func (s Span) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]any{"from": s.From.UTC(), "to": s.To.UTC(),
		"from_ms": s.From.UnixMilli(), "to_ms": s.To.UnixMilli()})
}

// browserSession is one redeemed browser ticket.
type browserSession struct {
	s     *Server
	id    string
	thash [32]byte
	g     Grant
	segs  []record.Segment

	mu         sync.Mutex
	ended      bool
	reason     string
	stream     context.CancelFunc // the open media request, if any
	streamDone chan struct{}
	lastActive time.Time
	spans      spanSet
	seeks      int
	started    time.Time
	untrack    func()

	rate   atomic.Int32 // the pace of the open media stream
	bytes  atomic.Int64
	frames atomic.Int64
}

// Handler serves browser playback under MSEPrefix; mount it on the node's
// HTTPS listener (Config.BrowserURL names where browsers reach it).
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+MSEPrefix+"{camera}", s.openBrowser)
	mux.HandleFunc("GET "+MSEPrefix+"{camera}/media", s.media)
	mux.HandleFunc("POST "+MSEPrefix+"{camera}/end", s.endBrowser)
	mux.HandleFunc("POST "+MSEPrefix+"{camera}/rate", s.rateBrowser)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Access-Control-Expose-Headers", "Gwanje-Start")
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		mux.ServeHTTP(w, r)
	})
}

func httpError(w http.ResponseWriter, code int, reason, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg, "reason": reason})
}

func httpStatus(err error) (int, string) {
	switch {
	case errors.Is(err, ErrNoFootage):
		return http.StatusNotFound, "no_footage"
	case errors.Is(err, ErrTicketUsed):
		return http.StatusForbidden, "ticket_used"
	case errors.Is(err, ErrTicketExpired):
		return http.StatusForbidden, "ticket_expired"
	case errors.Is(err, ErrNoTicket), errors.Is(err, ErrMalformed), errors.Is(err, ErrUnknownTicket),
		errors.Is(err, ErrWrongCamera), errors.Is(err, ErrWrongTransport):
		return http.StatusForbidden, "ticket_refused"
	case errors.Is(err, errDenied):
		return http.StatusForbidden, "denied"
	}
	return http.StatusServiceUnavailable, "unavailable"
}

func bearer(r *http.Request) string {
	if t := r.URL.Query().Get("ticket"); t != "" {
		return t
	}
	if a, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return a
	}
	return ""
}

// openBrowser redeems a ticket and answers the session's manifest.
func (s *Server) openBrowser(w http.ResponseWriter, r *http.Request) {
	cam, token := r.PathValue("camera"), bearer(r)
	if !validName(cam) {
		httpError(w, http.StatusNotFound, "not_found", "not a playback path")
		return
	}
	refuse := func(err error) {
		s.log.Warn("playback: browser ticket refused", "camera", cam, "ticket", hashPrefix(token), "reason", err)
		code, reason := httpStatus(err)
		httpError(w, code, reason, "playback refused")
	}
	g, err := s.cfg.Tickets.Check(r.Context(), token, cam, TransportMSE)
	if err != nil {
		refuse(err)
		return
	}
	if !s.rev.Allowed(r.Context(), g.holder()) {
		refuse(errDenied)
		return
	}
	segs, err := s.cfg.Store.Segments(r.Context(), cam, g.From, g.To)
	if err == nil && len(segs) == 0 {
		err = ErrNoFootage
	}
	if err != nil {
		refuse(err)
		return
	}
	rd, err := s.cfg.Store.OpenSegment(r.Context(), segs[0])
	if err != nil {
		refuse(err)
		return
	}
	tr := rd.Track()
	rd.Close()
	codec, err := codecString(tr)
	if err != nil {
		httpError(w, http.StatusUnsupportedMediaType, "codec", err.Error())
		return
	}
	g, err = s.cfg.Tickets.Redeem(r.Context(), token, cam, TransportMSE, r.RemoteAddr)
	if err != nil {
		refuse(err)
		return
	}
	var raw [24]byte
	if _, err := rand.Read(raw[:]); err != nil {
		refuse(err)
		return
	}
	bs := &browserSession{s: s, id: base64.RawURLEncoding.EncodeToString(raw[:]), g: g, segs: segs,
		started: time.Now(), lastActive: time.Now()}
	bs.thash, _ = tokenHash(token)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		refuse(errClosed)
		return
	}
	s.browser[bs.id] = bs
	s.mu.Unlock()
	untrack := s.rev.Track(g.holder(), func(reason string) { bs.end(reason) })
	bs.mu.Lock()
	bs.untrack = untrack
	bs.mu.Unlock()
	s.log.Info("playback: browser session opened", "camera", cam, "user", g.UserID, "ticket", g.HashPrefix,
		"from", g.From, "to", g.To)

	q := "?ticket=" + token + "&session=" + bs.id
	m := Manifest{Session: bs.id, Camera: cam, From: g.From.UTC(), To: g.To.UTC(), FromMS: g.From.UnixMilli(),
		MIME: `video/mp4; codecs="` + codec + `"`, Media: MSEPrefix + cam + "/media" + q, End: MSEPrefix + cam + "/end" + q,
		LeadMS: s.cfg.BrowserLead.Milliseconds(), Spans: []Span{}, Gaps: []Span{}}
	cur := g.From
	for _, sg := range segs {
		a, b := maxTime(sg.Start, g.From), minTime(sg.End, g.To)
		if n := len(m.Spans); n > 0 && !a.After(m.Spans[n-1].To.Add(s.cfg.GapSkip)) {
			m.Spans[n-1].To = maxTime(m.Spans[n-1].To, b)
		} else {
			m.Spans = append(m.Spans, Span{From: a, To: b})
		}
		if a.Sub(cur) > s.cfg.GapSkip {
			m.Gaps = append(m.Gaps, Span{From: cur, To: a})
		}
		cur = maxTime(cur, b)
	}
	if g.To.Sub(cur) > s.cfg.GapSkip {
		m.Gaps = append(m.Gaps, Span{From: cur, To: g.To})
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(m)
}

// errClosed: the server is closing.
var errClosed = errors.New("playback: server closed")

func tokenHash(token string) ([32]byte, error) {
	h, err := ticketHash(token)
	var out [32]byte
	copy(out[:], h)
	return out, err
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// session finds the open session a request names (ticket and session).
func (s *Server) session(w http.ResponseWriter, r *http.Request) *browserSession {
	q := r.URL.Query()
	h, err := tokenHash(bearer(r))
	s.mu.Lock()
	bs := s.browser[q.Get("session")]
	s.mu.Unlock()
	if err != nil || bs == nil || subtle.ConstantTimeCompare(h[:], bs.thash[:]) != 1 || bs.g.CameraID != r.PathValue("camera") {
		httpError(w, http.StatusForbidden, "ticket_refused", "no such playback session")
		return nil
	}
	bs.mu.Lock()
	ended, reason := bs.ended, bs.reason
	bs.lastActive = time.Now()
	bs.mu.Unlock()
	if ended {
		httpError(w, http.StatusGone, reason, "the playback session has ended: "+reason)
		return nil
	}
	return bs
}

// endBrowser ends a session at the browser's request.
func (s *Server) endBrowser(w http.ResponseWriter, r *http.Request) {
	if bs := s.session(w, r); bs != nil {
		bs.end("closed")
		w.WriteHeader(http.StatusNoContent)
	}
}

// rateBrowser changes the pace of the session's media stream.
func (s *Server) rateBrowser(w http.ResponseWriter, r *http.Request) {
	bs := s.session(w, r)
	if bs == nil {
		return
	}
	rate, ok := speeds[r.URL.Query().Get("rate")]
	if !ok {
		httpError(w, http.StatusBadRequest, "bad_request", "rate: 1, 2, 4 or 8")
		return
	}
	bs.rate.Store(int32(rate))
	w.WriteHeader(http.StatusNoContent)
}

// media streams fMP4 from a position at a speed.
func (s *Server) media(w http.ResponseWriter, r *http.Request) {
	bs := s.session(w, r)
	if bs == nil {
		return
	}
	q := r.URL.Query()
	at := bs.g.From
	if v := q.Get("at"); v != "" {
		ms, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			httpError(w, http.StatusBadRequest, "bad_request", "at: unix milliseconds")
			return
		}
		at = time.UnixMilli(ms)
	}
	if at.Before(bs.g.From.Truncate(time.Millisecond)) || !at.Before(bs.g.To) {
		s.log.Warn("playback: browser position refused", "camera", bs.g.CameraID, "user", bs.g.UserID, "at", at,
			"reason", errOutOfRange)
		httpError(w, http.StatusRequestedRangeNotSatisfiable, "out_of_range", errOutOfRange.Error())
		return
	}
	rate := 1
	if v := q.Get("rate"); v != "" {
		var ok bool
		if rate, ok = speeds[v]; !ok {
			httpError(w, http.StatusBadRequest, "bad_request", "rate: 1, 2, 4 or 8")
			return
		}
	}
	ctx, done, ok := bs.claim(r.Context())
	if !ok {
		httpError(w, http.StatusGone, "ended", "the playback session has ended")
		return
	}
	idx, key, err := findKeyframe(ctx, s.cfg.Store, bs.segs, at, bs.g.From)
	if err != nil {
		bs.release(done)
		if errors.Is(err, record.ErrTampered) {
			bs.fail(err)
			httpError(w, http.StatusGone, "tampered", "the footage failed verification")
			return
		}
		code, reason := httpStatus(err)
		httpError(w, code, reason, "cannot play from there")
		return
	}
	w.Header().Set("Content-Type", "video/mp4")
	w.Header().Set("Gwanje-Start", strconv.FormatInt(key.UnixMilli(), 10))
	bs.rate.Store(int32(rate))
	err = bs.send(ctx, w, idx, key, at)
	superseded := ctx.Err() != nil // a newer request, the session's end, the player gone
	bs.release(done)               // the runs sent are in bs.spans now
	if err == nil {
		return
	}
	var re readError
	if errors.As(err, &re) && !superseded {
		bs.fail(re.err) // audits the session, with what was sent
	} else if !errors.Is(err, context.Canceled) {
		s.log.Info("playback: browser stream ended", "camera", bs.g.CameraID, "err", err)
	}
	panic(http.ErrAbortHandler) // reset the response: the player sees an error, never a clean end
}

// claim makes the caller the session's one media stream, ending the
// previous one first.
func (bs *browserSession) claim(parent context.Context) (context.Context, chan struct{}, bool) {
	ctx, cancel := context.WithCancel(parent)
	done := make(chan struct{})
	bs.mu.Lock()
	if bs.ended {
		bs.mu.Unlock()
		cancel()
		return nil, nil, false
	}
	prevCancel, prevDone := bs.stream, bs.streamDone
	bs.stream, bs.streamDone = cancel, done
	bs.seeks++
	bs.mu.Unlock()
	if prevCancel != nil {
		prevCancel()
		waitDone(prevDone, 2*time.Second)
	}
	return ctx, done, true
}

// release marks a media stream finished.
func (bs *browserSession) release(done chan struct{}) {
	bs.mu.Lock()
	if bs.streamDone == done {
		bs.stream()
		bs.stream, bs.streamDone = nil, nil
	}
	bs.lastActive = time.Now()
	bs.mu.Unlock()
	close(done)
}

func waitDone(done chan struct{}, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
}

// send writes the init segment and the frames from the keyframe at key
// (segment idx), paced at the session's rate from at on: frames before at
// go at once (the decoder needs them to show at), later ones when they are
// due, at most Config.BrowserLead early. A rate change re-anchors the pace
// at the picture's estimated position. It returns nil at the end of the
// ticket or of the footage, an error when the stream must be reset.
func (bs *browserSession) send(ctx context.Context, w http.ResponseWriter, idx int, key, at time.Time) (err error) {
	s := bs.s
	rc := http.NewResponseController(w)
	mx := &muxer{base: bs.g.From}
	var cur record.Track
	var held *record.Frame
	var lastDur = 100 * time.Millisecond
	var ru run
	defer func() {
		if !ru.from.IsZero() {
			bs.mu.Lock()
			bs.spans.add(ru.span().From, ru.span().To)
			bs.mu.Unlock()
		}
	}()
	if key.After(at) {
		at = key // at was in a hole: play from the footage after it at once
	}
	w0, skipped := time.Now(), time.Duration(0)
	write := func(b []byte) error {
		_ = rc.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
		n, err := w.Write(b)
		bs.bytes.Add(int64(n))
		if err != nil {
			return err
		}
		return rc.Flush()
	}
	rate := time.Duration(bs.rate.Load())
	emit := func(f *record.Frame, d time.Duration) error {
		if r := time.Duration(bs.rate.Load()); r != rate {
			// The picture is at about at + skipped + elapsed × old rate.
			now := time.Now()
			if el := now.Sub(w0); el > 0 {
				at = at.Add(skipped + el*rate)
			}
			w0, skipped, rate = now, 0, r
		}
		due := w0.Add((f.Time.Sub(at)-skipped)/rate - s.cfg.BrowserLead)
		if wait := time.Until(due); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
		}
		b, err := mx.frame(*f, d)
		if err != nil {
			return err
		}
		if err := write(b); err != nil {
			return err
		}
		bs.frames.Add(1)
		if sp, ok := ru.frame(f.Time, d, s.cfg.GapSkip); ok {
			bs.mu.Lock()
			bs.spans.add(sp.From, sp.To)
			bs.mu.Unlock()
		}
		return nil
	}
	for i := idx; i < len(bs.segs); i++ {
		rd, err := s.cfg.Store.OpenSegment(ctx, bs.segs[i])
		if err != nil {
			return readError{err}
		}
		if tr := rd.Track(); cur.Codec == "" || !sameTrack(tr, cur) {
			if held != nil {
				if err := emit(held, lastDur); err != nil {
					rd.Close()
					return err
				}
				held = nil
			}
			b, err := mx.init(tr)
			if err == nil {
				err = write(b)
			}
			if err != nil {
				rd.Close()
				return err
			}
			cur = tr
		}
		for {
			f, err := rd.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				rd.Close()
				return readError{err}
			}
			if f.Time.Before(key) || f.Time.Before(bs.g.From) {
				continue
			}
			if !f.Time.Before(bs.g.To) {
				rd.Close()
				if held != nil {
					return emit(held, lastDur)
				}
				return nil
			}
			if held != nil {
				d, hole := f.Time.Sub(held.Time), time.Duration(0)
				if d > s.cfg.GapSkip || d <= 0 {
					if d > 0 && !held.Time.Before(at) {
						hole = d - lastDur // do not wait through a hole
					}
					d = lastDur
				}
				lastDur = d
				if err := emit(held, d); err != nil {
					rd.Close()
					return err
				}
				skipped += hole
			}
			held = &f
		}
		rd.Close()
	}
	if held != nil {
		return emit(held, lastDur)
	}
	return nil
}

// readError is a failure to read the footage (not the player's).
type readError struct{ err error }

func (e readError) Error() string { return e.err.Error() }
func (e readError) Unwrap() error { return e.err }

func sameTrack(a, b record.Track) bool {
	return a.Codec == b.Codec && bytes.Equal(a.VPS, b.VPS) && bytes.Equal(a.SPS, b.SPS) && bytes.Equal(a.PPS, b.PPS)
}

// fail ends the session on a read error; a verification failure raises the
// tamper alarm.
func (bs *browserSession) fail(err error) {
	reason := "read_error: " + err.Error()
	if errors.Is(err, record.ErrTampered) {
		reason = "tampered"
		bs.s.cfg.Store.RaiseAlarm(record.Alarm{Kind: record.AlarmTampered, CameraID: bs.g.CameraID,
			Detail: "playback stopped: " + err.Error()})
	}
	bs.s.log.Warn("playback: browser session stopped", "camera", bs.g.CameraID, "err", err)
	bs.end(reason)
}

// end ends the session for reason, stopping its media stream (waiting
// for it to finish), and audits it. Safe to call more than once.
func (bs *browserSession) end(reason string) {
	bs.mu.Lock()
	if bs.ended {
		bs.mu.Unlock()
		return
	}
	bs.ended, bs.reason = true, reason
	cancel, done, untrack := bs.stream, bs.streamDone, bs.untrack
	bs.mu.Unlock()
	if untrack != nil {
		untrack()
	}
	if cancel != nil {
		cancel()
		waitDone(done, 2*time.Second)
	}
	// Keep the session (ended) a while so late requests learn why; the
	// janitor forgets it.
	bs.s.auditBrowser(bs)
}

// auditBrowser writes a browser session's playback.end.
func (s *Server) auditBrowser(bs *browserSession) {
	bs.mu.Lock()
	spans := append(spanSet(nil), bs.spans...)
	reason, seeks := bs.reason, bs.seeks
	bs.mu.Unlock()
	s.auditEnd(bs.g, TransportMSE, bs.started, bs.bytes.Load(), bs.frames.Load(), reason, spans, map[string]any{"requests": seeks})
}

// janitor ends idle browser sessions and forgets ended ones.
func (s *Server) janitor() {
	defer s.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		var idle []*browserSession
		s.mu.Lock()
		for id, bs := range s.browser {
			bs.mu.Lock()
			switch {
			case bs.ended && now.Sub(bs.lastActive) > s.cfg.BrowserIdle:
				delete(s.browser, id)
			case !bs.ended && bs.stream == nil && now.Sub(bs.lastActive) > s.cfg.BrowserIdle:
				idle = append(idle, bs)
			}
			bs.mu.Unlock()
		}
		s.mu.Unlock()
		for _, bs := range idle {
			bs.end("idle")
		}
	}
}

// closeBrowser ends every browser session (Close).
func (s *Server) closeBrowser() {
	s.mu.Lock()
	all := make([]*browserSession, 0, len(s.browser))
	for _, bs := range s.browser {
		all = append(all, bs)
	}
	s.mu.Unlock()
	for _, bs := range all {
		bs.end("server_closed")
	}
}
