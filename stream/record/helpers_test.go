package record

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/gwanje/gwanje/audit"
	"github.com/gwanje/gwanje/camsim"
	"github.com/gwanje/gwanje/internal/pgtest"
	"github.com/gwanje/gwanje/stream"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// fakeClock is an injected clock that moves only when told.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *fakeClock { return &fakeClock{t: t} }
func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}
func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// memAuditor keeps entries in memory.
type memAuditor struct {
	mu      sync.Mutex
	entries []audit.Entry
	fail    error
}

func (a *memAuditor) Append(_ context.Context, e audit.Entry) (audit.Record, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.fail != nil {
		return audit.Record{}, a.fail
	}
	a.entries = append(a.entries, e)
	return audit.Record{Seq: int64(len(a.entries))}, nil
}

func (a *memAuditor) ofType(typ string) []audit.Entry {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []audit.Entry
	for _, e := range a.entries {
		if e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

// alarms collects alarms.
type alarms struct {
	mu sync.Mutex
	a  []Alarm
}

func (al *alarms) add(a Alarm) {
	al.mu.Lock()
	al.a = append(al.a, a)
	al.mu.Unlock()
}

func (al *alarms) count(kind string) int {
	al.mu.Lock()
	defer al.mu.Unlock()
	n := 0
	for _, a := range al.a {
		if a.Kind == kind {
			n++
		}
	}
	return n
}

// newTestStore opens a store on a fresh database and temp dir.
func newTestStore(t testing.TB, cfg StoreConfig) *Store {
	t.Helper()
	if cfg.Pool == nil {
		cfg.Pool = pgtest.Pool(t)
	}
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	if cfg.Node == "" {
		cfg.Node = "node-a"
	}
	cfg.MinFreeBytes = -1
	s, err := NewStore(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// poll waits for cond, failing after d.
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

// clip is a real H.264 elementary stream split into access units.
type clip struct {
	sps, pps []byte
	aus      [][][]byte
	key      []bool
}

var (
	clipOnce sync.Once
	theClip  *clip
)

func loadClip(t testing.TB) *clip {
	t.Helper()
	clipOnce.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		b, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", "camsim", "testdata", "main_gop1s.h264"))
		if err != nil {
			return
		}
		nalus := splitAnnexB(b)
		c := &clip{}
		var cur [][]byte
		curKey := false
		flush := func() {
			if len(cur) > 0 {
				c.aus = append(c.aus, cur)
				c.key = append(c.key, curKey)
			}
			cur, curKey = nil, false
		}
		for _, n := range nalus {
			switch typ := n[0] & 0x1f; typ {
			case 7:
				c.sps = n
			case 8:
				c.pps = n
			case 1, 5:
				if len(n) > 1 && n[1]&0x80 != 0 {
					flush()
					curKey = typ == 5
				}
				cur = append(cur, n)
			}
		}
		flush()
		theClip = c
	})
	if theClip == nil || theClip.sps == nil || len(theClip.aus) == 0 {
		t.Fatal("cannot load the camsim clip")
	}
	return theClip
}

func (c *clip) track() Track { return Track{Codec: CodecH264, SPS: c.sps, PPS: c.pps} }

// unit i of the looped clip, with parameter sets before keyframes and,
// when size > 0, a filler NAL unit so the unit has about size bytes.
func (c *clip) unit(i int, fps int, size int) Unit {
	k := i % len(c.aus)
	au := c.aus[k]
	if c.key[k] {
		au = append([][]byte{c.sps, c.pps}, au...)
	}
	if size > 0 {
		n := 0
		for _, x := range au {
			n += len(x)
		}
		if size > n+1 {
			filler := bytes.Repeat([]byte{0xff}, size-n)
			filler[0] = 12
			au = append(au[:len(au):len(au)], filler)
		}
	}
	return Unit{PTS: time.Duration(i) * time.Second / time.Duration(fps), AU: au, Key: c.key[k]}
}

// synthSource makes subscriptions that replay the clip: paced at fps in
// real time when paced, else as fast as they are read, up to frames units
// (0: unbounded) — the recorder's write path without RTSP.
type synthSource struct {
	c      *clip
	fps    int
	size   int
	paced  bool
	frames int
	mu     sync.Mutex
	subs   int
}

func (s *synthSource) Subscribe(ctx context.Context, cameraID, profile string) (Subscription, error) {
	s.mu.Lock()
	s.subs++
	s.mu.Unlock()
	return &synthSub{s: s, start: time.Now(), done: make(chan struct{})}, nil
}

type synthSub struct {
	s     *synthSource
	i     int
	start time.Time
	done  chan struct{}
	once  sync.Once
}

func (u *synthSub) Next(ctx context.Context) (Unit, error) {
	// Stop when asked even when the reader is behind the pace (no wait).
	select {
	case <-ctx.Done():
		return Unit{}, ctx.Err()
	case <-u.done:
		return Unit{}, context.Canceled
	default:
	}
	if u.s.frames > 0 && u.i >= u.s.frames {
		select {
		case <-ctx.Done():
			return Unit{}, ctx.Err()
		case <-u.done:
			return Unit{}, context.Canceled
		}
	}
	if u.s.paced {
		at := u.start.Add(time.Duration(u.i) * time.Second / time.Duration(u.s.fps))
		if d := time.Until(at); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				return Unit{}, ctx.Err()
			case <-u.done:
				t.Stop()
				return Unit{}, context.Canceled
			case <-t.C:
			}
		}
	}
	un := u.s.c.unit(u.i, u.s.fps, u.s.size)
	u.i++
	return un, nil
}

func (u *synthSub) Track() Track { return u.s.c.track() }
func (u *synthSub) Close() error {
	u.once.Do(func() { close(u.done) })
	return nil
}

// camsimUpstreams resolves camera IDs to camsim cameras.
type camsimUpstreams map[string]*camsim.Camera

func (m camsimUpstreams) Upstream(_ context.Context, id, profile string) (stream.Upstream, error) {
	c, ok := m[id]
	if !ok {
		return stream.Upstream{}, stream.ErrUnknownCamera
	}
	in := c.Info()
	return stream.Upstream{URL: c.RTSPURL(profile), Username: in.Username, Password: in.Password}, nil
}

func startCamsim(t testing.TB, id string) *camsim.Camera {
	t.Helper()
	cam, err := camsim.New(camsim.Config{ID: id, KeyframeInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := cam.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cam.Close() })
	return cam
}

func fixedCameras(cams ...Camera) Cameras {
	var mu sync.Mutex
	return CamerasFunc(func(context.Context) ([]Camera, error) {
		mu.Lock()
		defer mu.Unlock()
		return append([]Camera(nil), cams...), nil
	})
}

// mutableCameras is a camera list tests can change.
type mutableCameras struct {
	mu   sync.Mutex
	cams []Camera
}

func (m *mutableCameras) RecordingCameras(context.Context) ([]Camera, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Camera(nil), m.cams...), nil
}

func (m *mutableCameras) set(cams ...Camera) {
	m.mu.Lock()
	m.cams = cams
	m.mu.Unlock()
}

// runRecorder starts a recorder and stops it at test end.
func runRecorder(t testing.TB, cfg Config) *Recorder {
	t.Helper()
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r.Run(context.Background()) }()
	t.Cleanup(func() {
		r.Close()
		if err := <-done; err != nil {
			t.Errorf("recorder: %v", err)
		}
	})
	return r
}

func countSegments(t testing.TB, s *Store, cam string) int {
	t.Helper()
	var n int
	if err := s.pool.QueryRow(context.Background(), `select count(*) from recording_segments where camera_id = $1`, cam).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func allSegments(t testing.TB, s *Store) []Segment {
	t.Helper()
	rows, err := s.pool.Query(context.Background(), `select `+segCols+` from recording_segments order by camera_id, start_at`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []Segment
	for rows.Next() {
		sg, err := scanSegment(rows)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, sg)
	}
	return out
}

// splitAnnexB returns the NAL units of an Annex-B byte stream.
func splitAnnexB(b []byte) [][]byte {
	var out [][]byte
	start := -1
	for i := 0; i+2 < len(b); {
		if b[i] == 0 && b[i+1] == 0 && b[i+2] == 1 {
			if start >= 0 {
				end := i
				for end > start && b[end-1] == 0 {
					end--
				}
				out = append(out, b[start:end])
			}
			i += 3
			start = i
			continue
		}
		i++
	}
	if start >= 0 && start < len(b) {
		out = append(out, bytes.TrimRight(b[start:], "\x00"))
	}
	return out
}
