package playback

import (
	"bytes"
	"context"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/headers"
	"github.com/bluenviron/gortsplib/v5/pkg/liberrors"
	"github.com/pion/rtp"

	"github.com/gwanje/gwanje/audit"
	"github.com/gwanje/gwanje/camsim"
	"github.com/gwanje/gwanje/internal/pgtest"
	"github.com/gwanje/gwanje/stream"
	"github.com/gwanje/gwanje/stream/record"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

type memAuditor struct {
	mu      sync.Mutex
	entries []audit.Entry
}

func (a *memAuditor) Append(_ context.Context, e audit.Entry) (audit.Record, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.entries = append(a.entries, e)
	return audit.Record{Seq: int64(len(a.entries))}, nil
}

func (a *memAuditor) ends() []audit.Entry {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []audit.Entry
	for _, e := range a.entries {
		if e.Type == EntryEnd {
			out = append(out, e)
		}
	}
	return out
}

type upstreams map[string]*camsim.Camera

func (m upstreams) Upstream(_ context.Context, id, profile string) (stream.Upstream, error) {
	c := m[id]
	in := c.Info()
	return stream.Upstream{URL: c.RTSPURL(profile), Username: in.Username, Password: in.Password}, nil
}

func poll(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// au is an access unit as a player received it.
type au struct {
	ts   uint32
	nals [][]byte
}

// reader is an RTSP player collecting access units.
type reader struct {
	c    *gortsplib.Client
	mu   sync.Mutex
	aus  []au
	desc *description.Session
}

func openReader(t *testing.T, rawURL string) (*reader, error) {
	t.Helper()
	u, err := base.ParseURL(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	tcp := gortsplib.ProtocolTCP
	r := &reader{c: &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Protocol: &tcp}}
	if err := r.c.Start(); err != nil {
		return nil, err
	}
	t.Cleanup(r.c.Close)
	desc, _, err := r.c.Describe(u)
	if err != nil {
		return nil, err
	}
	r.desc = desc
	var forma *format.H264
	medi := desc.FindFormat(&forma)
	if medi == nil {
		t.Fatal("no H.264")
	}
	dec, err := forma.CreateDecoder()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.c.Setup(desc.BaseURL, medi, 0, 0); err != nil {
		return nil, err
	}
	r.c.OnPacketRTP(medi, forma, func(p *rtp.Packet) {
		nals, err := dec.Decode(p)
		if err != nil {
			return
		}
		r.mu.Lock()
		r.aus = append(r.aus, au{ts: p.Timestamp, nals: nals})
		r.mu.Unlock()
	})
	return r, nil
}

func (r *reader) snapshot() []au {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]au(nil), r.aus...)
}

func sameNALs(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// match finds played as a contiguous run of sent with the same NAL units
// and the same timestamp differences; it returns the offset or -1.
func match(sent, played []au) int {
	for k := 0; k+len(played) <= len(sent); k++ {
		ok := true
		for i := range played {
			if !sameNALs(sent[k+i].nals, played[i].nals) ||
				sent[k+i].ts-sent[k].ts != played[i].ts-played[0].ts {
				ok = false
				break
			}
		}
		if ok {
			return k
		}
	}
	return -1
}

type fixture struct {
	store   *record.Store
	tickets *Tickets
	srv     *Server
	aud     *memAuditor
	alarms  chan record.Alarm
	sent    []au
	segs    []record.Segment
}

// setup records a camsim camera for about 5 s (2 s segments) while a
// player reads the camera directly, then starts a playback server.
func setup(t *testing.T) *fixture {
	t.Helper()
	cam, err := camsim.New(camsim.Config{ID: "cam-pb", KeyframeInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := cam.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cam.Close() })
	in := cam.Info()
	u, _ := base.ParseURL(cam.RTSPURL("main"))
	u.User = nil
	direct, err := openReader(t, "rtsp://"+in.Username+":"+in.Password+"@"+u.Host+u.Path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := direct.c.Play(nil); err != nil {
		t.Fatal(err)
	}
	poll(t, 10*time.Second, "the camera's first frames", func() bool { return len(direct.snapshot()) > 5 })

	f := &fixture{aud: &memAuditor{}, alarms: make(chan record.Alarm, 16)}
	pool := pgtest.Pool(t)
	f.store, err = record.NewStore(record.StoreConfig{Pool: pool, Dir: t.TempDir(), Node: "node-p", MinFreeBytes: -1,
		ChunkSize: 8 << 10, Alarm: func(a record.Alarm) { f.alarms <- a }})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := record.New(record.Config{Store: f.store, SegmentDuration: 2 * time.Second,
		Cameras: record.CamerasFunc(func(context.Context) ([]record.Camera, error) {
			return []record.Camera{{ID: "cam-pb", RetentionDays: 30}}, nil
		}),
		Source: &record.RTSPSource{Upstreams: upstreams{"cam-pb": cam}}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- rec.Run(context.Background()) }()
	poll(t, 30*time.Second, "recording", func() bool {
		l, _ := f.store.ListRecordings(context.Background(), "cam-pb", time.Now().Add(-time.Hour), time.Now())
		return len(l.Segments) >= 2
	})
	rec.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // a few more frames at the direct reader, after the last recorded one
	f.sent = direct.snapshot()
	l, err := f.store.ListRecordings(context.Background(), "cam-pb", time.Now().Add(-time.Hour), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	f.segs = l.Segments
	f.tickets = NewTickets(pool)
	f.srv, err = New(Config{Store: f.store, Tickets: f.tickets, Auditor: f.aud, RTSPAddress: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fixture) ticket(t *testing.T, from, to time.Time) Ticket {
	t.Helper()
	tk, err := f.tickets.IssueTicket(context.Background(), TicketRequest{UserID: "u-1", Username: "kim",
		CameraID: "cam-pb", From: from, To: to, Purpose: "crime_prevention", AuditSeq: 7})
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func TestPlaybackMatchesCamera(t *testing.T) {
	f := setup(t)
	from, to := f.segs[0].Start, f.segs[len(f.segs)-1].End
	var frames int
	for _, sg := range f.segs {
		frames += sg.Frames
	}
	tk := f.ticket(t, from, to)
	p, err := openReader(t, tk.URL)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	res, err := p.c.Play(nil)
	if err != nil {
		t.Fatal(err)
	}
	var rh headers.Range
	if err := rh.Unmarshal(res.Header["Range"]); err != nil {
		t.Fatalf("Range: %v", err)
	}
	poll(t, 30*time.Second, "every recorded frame", func() bool { return len(p.snapshot()) >= frames })
	elapsed := time.Since(start)
	played := p.snapshot()
	if len(played) != frames {
		t.Fatalf("played %d frames, recorded %d", len(played), frames)
	}
	k := match(f.sent, played)
	if k < 0 {
		t.Fatalf("the %d played frames are not a run of the %d the camera sent (same bytes, same timestamps)", len(played), len(f.sent))
	}
	t.Logf("recorded %d segments, %d frames, %v of footage; played back in %v; identical to camera frames %d..%d",
		len(f.segs), frames, to.Sub(from), elapsed.Round(time.Millisecond), k, k+len(played)-1)
	// Replay of the ticket is refused.
	if _, err := openReader(t, tk.URL); err == nil {
		t.Fatal("a used ticket opened a second playback")
	}
	p.c.Close()
	poll(t, 10*time.Second, "playback.end", func() bool { return len(f.aud.ends()) == 1 })
	e := f.aud.ends()[0]
	if e.Actor.UserID != "u-1" || e.Cameras[0] != "cam-pb" || !e.FootageFrom.Equal(from) ||
		e.Details["bytes"].(int64) <= 0 || e.Details["frames"].(int64) != int64(frames) || e.Details["start_seq"].(int64) != 7 {
		t.Fatalf("playback.end %+v", e)
	}
}

func TestPlaybackSeekAndPause(t *testing.T) {
	f := setup(t)
	from, to := f.segs[0].Start, f.segs[len(f.segs)-1].End
	tk := f.ticket(t, from, to)
	p, err := openReader(t, tk.URL)
	if err != nil {
		t.Fatal(err)
	}
	// Seek to 3 s (npt): playing starts at the keyframe at or before it
	// (keyframes every second).
	res, err := p.c.Play(&headers.Range{Value: &headers.RangeNPT{Start: 3 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	var rh headers.Range
	if err := rh.Unmarshal(res.Header["Range"]); err != nil {
		t.Fatal(err)
	}
	npt := rh.Value.(*headers.RangeNPT)
	if npt.Start > 3*time.Second || npt.Start < 2*time.Second {
		t.Fatalf("seek to 3s started at %v", npt.Start)
	}
	poll(t, 10*time.Second, "frames after the seek", func() bool { return len(p.snapshot()) >= 5 })
	if _, err := p.c.Pause(); err != nil {
		t.Fatal(err)
	}
	n := len(p.snapshot())
	got := p.snapshot()
	// The first frame after the seek is a keyframe (SPS, PPS, IDR).
	if got[0].nals[0][0]&0x1f != 7 {
		t.Fatalf("first frame after seek starts with NAL type %d", got[0].nals[0][0]&0x1f)
	}
	// Resume: frames continue where they stopped.
	if _, err := p.c.Play(nil); err != nil {
		t.Fatal(err)
	}
	poll(t, 10*time.Second, "frames after resuming", func() bool { return len(p.snapshot()) > n+3 })
	got = p.snapshot()
	if d := got[n].ts - got[n-1].ts; d != 9000 { // the next frame at 10 fps
		t.Fatalf("resumed %d ticks after the last frame before the pause", int32(d))
	}
	// Seek by clock (absolute footage time).
	if _, err := p.c.Pause(); err != nil {
		t.Fatal(err)
	}
	at := from.Add(time.Second)
	res, err = p.c.Play(&headers.Range{Value: &headers.RangeUTC{Start: at}})
	if err != nil {
		t.Fatal(err)
	}
	if err := rh.Unmarshal(res.Header["Range"]); err != nil {
		t.Fatal(err)
	}
	if s := rh.Value.(*headers.RangeNPT).Start; s > time.Second {
		t.Fatalf("clock seek to +1s started at %v", s)
	}
}

func TestTamperedSegmentStopsPlayback(t *testing.T) {
	f := setup(t)
	from, to := f.segs[0].Start, f.segs[len(f.segs)-1].End
	// Corrupt the second segment.
	path := f.store.Dir() + "/" + f.segs[1].Path
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-40] ^= 0x01
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	tk := f.ticket(t, from, to)
	p, err := openReader(t, tk.URL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.c.Play(nil); err != nil {
		t.Fatal(err)
	}
	select {
	case a := <-f.alarms:
		if a.Kind != record.AlarmTampered || a.CameraID != "cam-pb" {
			t.Fatalf("alarm %+v", a)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no tamper alarm")
	}
	poll(t, 10*time.Second, "the session to end", func() bool { return len(f.aud.ends()) == 1 })
	if r := f.aud.ends()[0].Details["reason"]; r != "tampered" {
		t.Fatalf("reason %v", r)
	}
	// Playback stopped at the corrupted chunk (the chunks before it
	// authenticated and were sent).
	total := 0
	for _, sg := range f.segs {
		total += sg.Frames
	}
	if n := len(p.snapshot()); n >= f.segs[0].Frames+f.segs[1].Frames {
		t.Fatalf("%d frames played of %d; the corrupted segment ends at frame %d", n, total, f.segs[0].Frames+f.segs[1].Frames)
	}
	err = p.c.Wait()
	var terr liberrors.ErrClientTerminated
	if err == nil || errors.As(err, &terr) {
		t.Logf("client ended: %v", err)
	}
}

func TestTicketRefusals(t *testing.T) {
	pool := pgtest.Pool(t)
	tk := NewTickets(pool)
	ctx := context.Background()
	now := time.Now()
	if _, err := tk.IssueTicket(ctx, TicketRequest{UserID: "u", CameraID: "cam-none", From: now.Add(-time.Hour), To: now,
		AuditSeq: 1}); !errors.Is(err, ErrNoFootage) {
		t.Fatalf("no footage: %v", err)
	}
	for _, req := range []TicketRequest{
		{CameraID: "c", From: now, To: now.Add(time.Hour), AuditSeq: 1},
		{UserID: "u", CameraID: "../x", From: now, To: now.Add(time.Hour), AuditSeq: 1},
		{UserID: "u", CameraID: "c", From: now, To: now, AuditSeq: 1},
		{UserID: "u", CameraID: "c", From: now, To: now.Add(time.Hour)},
	} {
		if _, err := tk.IssueTicket(ctx, req); !errors.Is(err, ErrInvalid) {
			t.Fatalf("%+v: %v", req, err)
		}
	}
	for _, tc := range []struct {
		token string
		want  error
	}{{"", ErrNoTicket}, {"abc", ErrMalformed}, {"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", ErrUnknownTicket}} {
		if _, err := tk.Redeem(ctx, tc.token, "c", TransportRTSP, "x"); !errors.Is(err, tc.want) {
			t.Fatalf("%q: %v", tc.token, err)
		}
	}
}
