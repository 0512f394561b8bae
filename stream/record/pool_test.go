package record

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/gwanje/gwanje/events"
	"github.com/gwanje/gwanje/internal/pgtest"
)

func newBus(t testing.TB) *events.Bus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := events.New(ctx, events.Config{DataDir: t.TempDir(), ListenAddr: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

// member is one recorder of a pool in a test.
type member struct {
	node string
	s    *Store
	r    *Recorder
}

func (m *member) held() []string { return m.r.heldCameras() }

// kill stops the recorder as a killed process would as far as the pool
// sees: its leases are not given back (they run out). Its segments in
// progress are indexed as they stand at the kill.
func (m *member) kill() {
	m.r.skipRelease.Store(true)
	m.r.Close()
}

// keyDirs: the nodes of a pool share a database, so they share the keys.
var keyDirs sync.Map

func poolMember(t testing.TB, db *pgxpool.Pool, bus *events.Bus, node string, cams Cameras, src Source, pc PoolConfig) *member {
	t.Helper()
	kd, _ := keyDirs.LoadOrStore(db, t.TempDir())
	s := newTestStore(t, StoreConfig{Pool: db, Node: node, DataDir: kd.(string)})
	pc.JS = bus.JS
	r := runRecorder(t, Config{Store: s, Cameras: cams, Source: src, SegmentDuration: 2 * time.Second, Pool: &pc})
	return &member{node: node, s: s, r: r}
}

type span struct {
	node       string
	start, end time.Time
}

// spans returns a camera's indexed segments (status ok) in time order.
func spans(t testing.TB, db *pgxpool.Pool, cam string) []span {
	t.Helper()
	rows, err := db.Query(context.Background(), `select node, start_at, end_at from recording_segments
		where camera_id = $1 and status = 'ok' order by start_at`, cam)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []span
	for rows.Next() {
		var s span
		if err := rows.Scan(&s.node, &s.start, &s.end); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// noOverlap asserts that no two nodes indexed the same time of a camera.
func noOverlap(t testing.TB, db *pgxpool.Pool, cams []string) {
	t.Helper()
	for _, c := range cams {
		ss := spans(t, db, c)
		for i, a := range ss {
			for _, b := range ss[i+1:] {
				if a.node != b.node && a.start.Before(b.end) && b.start.Before(a.end) {
					t.Errorf("%s: %s [%s, %s) and %s [%s, %s) overlap", c, a.node, a.start.Format("15:04:05.000"),
						a.end.Format("15:04:05.000"), b.node, b.start.Format("15:04:05.000"), b.end.Format("15:04:05.000"))
				}
			}
		}
	}
}

func camIDs(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%02d", prefix, i)
	}
	return out
}

func recordAll(ids []string) Cameras {
	var cams []Camera
	for _, id := range ids {
		cams = append(cams, Camera{ID: id, RetentionDays: 30})
	}
	return fixedCameras(cams...)
}

// holders maps each camera to the members holding it.
func holders(ms ...*member) map[string][]string {
	out := map[string][]string{}
	for _, m := range ms {
		for _, c := range m.held() {
			out[c] = append(out[c], m.node)
		}
	}
	return out
}

// TestPoolSharesCameras: two recorders share six cameras, each records
// only those it holds; a third joins and takes its share in bounded moves,
// each camera handed over without two nodes indexing the same time; a
// recorder closed cleanly hands its cameras over.
func TestPoolSharesCameras(t *testing.T) {
	db, bus := pgtest.Pool(t), newBus(t)
	ids := camIDs("cam-sh", 8)
	src := &synthSource{c: loadClip(t), fps: 25, paced: true}
	pc := PoolConfig{TTL: 1500 * time.Millisecond, MaxMoves: 1}
	a := poolMember(t, db, bus, "node-a", recordAll(ids), src, pc)
	poll(t, 20*time.Second, "node-a holding every camera", func() bool { return len(a.held()) == len(ids) })
	b := poolMember(t, db, bus, "node-b", recordAll(ids), src, pc)
	// Shares 4 each: node-a gives back one camera per renewal (MaxMoves
	// 1) until node-b has its share, hysteresis or not.
	poll(t, 30*time.Second, "node-b taking its share", func() bool {
		h := holders(a, b)
		return len(b.held()) == 4 && len(a.held()) == 4 && len(h) == len(ids)
	})
	for c, hs := range holders(a, b) {
		if len(hs) != 1 {
			t.Fatalf("%s held by %v", c, hs)
		}
	}
	// Every camera records on its holder, and only there.
	poll(t, 30*time.Second, "segments of the new holders", func() bool {
		for _, c := range b.held() {
			if !slices.ContainsFunc(spans(t, db, c), func(s span) bool { return s.node == "node-b" }) {
				return false
			}
		}
		return true
	})
	for _, st := range a.r.Status() {
		if slices.Contains(b.held(), st.ID) {
			t.Errorf("node-a still records %s, held by node-b", st.ID)
		}
	}
	// A weighted third member: capacity 200 against 100 and 100 gives it
	// 8·200/400 = 4, taken over renewals, at most one camera given back
	// per member per renewal; then nothing moves.
	pc3 := pc
	pc3.Capacity = 200
	c := poolMember(t, db, bus, "node-c", recordAll(ids), src, pc3)
	poll(t, 30*time.Second, "node-c taking its weighted share", func() bool {
		return len(c.held()) == 4 && len(a.held()) == 2 && len(b.held()) == 2
	})
	// A clean close hands over at once (no lease to run out).
	b.r.Close()
	poll(t, 30*time.Second, "node-b's cameras taken over", func() bool {
		return len(holders(a, c)) == len(ids)
	})
	noOverlap(t, db, ids)
	if n := testutilCounter(a.s.m.Fenced) + testutilCounter(b.s.m.Fenced) + testutilCounter(c.s.m.Fenced); n != 0 {
		t.Errorf("%v segments fenced in planned handovers: a camera given back must be stopped first", n)
	}
	for _, m := range []*member{a, b, c} {
		m.r.Close()
		checkAgree(t, m.s)
	}
}

// TestPoolCutOff: a recorder whose lease renewals stop (cut off from NATS)
// stops recording its cameras before its leases run out; another takes
// them; its last segments are indexed (nothing fenced) and no two nodes
// index the same time.
func TestPoolCutOff(t *testing.T) {
	db, bus := pgtest.Pool(t), newBus(t)
	ids := camIDs("cam-cut", 2)
	src := &synthSource{c: loadClip(t), fps: 25, paced: true}
	pc := PoolConfig{TTL: 1500 * time.Millisecond}
	a := poolMember(t, db, bus, "node-a", recordAll(ids), src, pc)
	poll(t, 20*time.Second, "node-a recording both cameras", func() bool {
		return len(a.held()) == 2 && countSegments(t, a.s, ids[0]) > 0 && countSegments(t, a.s, ids[1]) > 0
	})
	b := poolMember(t, db, bus, "node-b", recordAll(ids), src, pc)
	a.r.pauseRenew.Store(true)
	poll(t, 30*time.Second, "node-b recording both cameras", func() bool {
		for _, c := range ids {
			if !slices.ContainsFunc(spans(t, db, c), func(s span) bool { return s.node == "node-b" }) {
				return false
			}
		}
		return true
	})
	if st := a.r.Status(); len(st) != 0 {
		t.Errorf("the cut-off recorder still records %+v", st)
	}
	if n := testutilCounter(a.s.m.Fenced); n != 0 {
		t.Errorf("%v of the cut-off recorder's segments fenced: it must stop before its lease runs out", n)
	}
	noOverlap(t, db, ids)
	for _, c := range ids {
		ss := spans(t, db, c)
		lastA, firstB := time.Time{}, time.Time{}
		for _, s := range ss {
			if s.node == "node-a" && s.end.After(lastA) {
				lastA = s.end
			}
			if s.node == "node-b" && firstB.IsZero() {
				firstB = s.start
			}
		}
		t.Logf("%s: node-a's footage ends %s, node-b's starts %s (gap %v)", c, lastA.Format("15:04:05.000"),
			firstB.Format("15:04:05.000"), firstB.Sub(lastA).Round(time.Millisecond))
	}
	a.r.Close()
	b.r.Close()
	checkAgree(t, a.s)
	checkAgree(t, b.s)
}

// TestPoolFencing: a recorder frozen past its lease (renewals stopped and
// it keeps writing, as a stopped process that resumes would) cannot index
// the time another recorder now holds: its segments ending after the new
// holder began are refused (ErrFenced) and removed, before and after a
// restart's start-up check.
func TestPoolFencing(t *testing.T) {
	db, bus := pgtest.Pool(t), newBus(t)
	ids := camIDs("cam-fe", 2)
	src := &synthSource{c: loadClip(t), fps: 25, paced: true}
	pc := PoolConfig{TTL: 1500 * time.Millisecond}
	a := poolMember(t, db, bus, "node-a", recordAll(ids), src, pc)
	poll(t, 20*time.Second, "node-a recording both cameras", func() bool {
		return len(a.held()) == 2 && countSegments(t, a.s, ids[0]) > 0 && countSegments(t, a.s, ids[1]) > 0
	})
	a.r.ignoreLease.Store(true)
	a.r.pauseRenew.Store(true)
	b := poolMember(t, db, bus, "node-b", recordAll(ids), src, pc)
	poll(t, 30*time.Second, "node-b recording and node-a fenced", func() bool {
		for _, c := range ids {
			if !slices.ContainsFunc(spans(t, db, c), func(s span) bool { return s.node == "node-b" }) {
				return false
			}
		}
		return testutilCounter(a.s.m.Fenced) >= 2
	})
	noOverlap(t, db, ids)
	// The fences: node-b's lease of each camera is later than node-a's.
	for _, c := range ids {
		var na, nb int64
		if err := db.QueryRow(context.Background(), `select
			(select max(token) from recording_fences where camera_id = $1 and node = 'node-a'),
			(select max(token) from recording_fences where camera_id = $1 and node = 'node-b')`, c).Scan(&na, &nb); err != nil {
			t.Fatal(err)
		}
		if nb <= na {
			t.Errorf("%s: node-b's token %d not above node-a's %d", c, nb, na)
		}
	}
	// A kill of the frozen recorder leaves segments in progress; the
	// restart's check salvages what it may and drops what another holds.
	a.r.skipRelease.Store(true)
	a.r.Close()
	b.r.Close()
	rep, err := a.s.Check(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("node-a: %v segments fenced while frozen; check after: %+v", testutilCounter(a.s.m.Fenced), rep)
	noOverlap(t, db, ids)
	checkAgree(t, a.s)
	checkAgree(t, b.s)
}

// TestPoolFencedAtCheck: the start-up check applies the fence to the files
// a recorder left: a finished file without an index row, or a segment in
// progress, whose time another node holds is removed, not indexed.
func TestPoolFencedAtCheck(t *testing.T) {
	db := pgtest.Pool(t)
	a := newTestStore(t, StoreConfig{Pool: db, Node: "node-a"})
	c := loadClip(t)
	t0 := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	ctx := context.Background()
	if _, err := a.registerFence(ctx, "cam-x", fence{Epoch: 1, Token: 5}, t0.Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	write := func(start time.Time, frames int, finish bool) {
		sf, err := a.openSegment(ctx, "cam-x", start, c.track(), segmentOptions{Part: time.Second, Seal: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		for i := range frames {
			u := c.unit(i, 25, 0)
			if err := sf.add(&sample{dts: int64(u.PTS) * Timescale / int64(time.Second), pts: int64(u.PTS) * Timescale / int64(time.Second), key: u.Key, au: u.AU}); err != nil {
				t.Fatal(err)
			}
		}
		if finish {
			if err := sf.flushPart(); err != nil {
				t.Fatal(err)
			}
			if err := sf.sealNow(); err != nil {
				t.Fatal(err)
			}
		}
		// Left as a crash leaves it: the .partial with its sealed chunks.
		sf.f.Close()
		sf.f = nil
	}
	write(t0, 100, true)                     // 4 s, before node-b's lease: salvaged
	write(t0.Add(10*time.Second), 100, true) // overlaps node-b's lease: fenced
	b := newTestStore(t, StoreConfig{Pool: db, Node: "node-b", DataDir: a.cfg.DataDir})
	if _, err := b.registerFence(ctx, "cam-x", fence{Epoch: 1, Token: 12}, t0.Add(12*time.Second)); err != nil {
		t.Fatal(err)
	}
	rep, err := a.Check(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Salvaged != 1 || rep.Fenced != 1 || rep.Quarantined != 0 {
		t.Fatalf("check: %+v, want one salvaged and one fenced", rep)
	}
	segs := checkAgree(t, a)
	if len(segs) != 1 || !segs[0].Start.Equal(t0) {
		t.Fatalf("indexed %+v", segs)
	}
	// Epochs order before tokens: a lease of a bucket made anew (NATS data
	// lost) with a small token still fences an older epoch's holder.
	if _, err := b.registerFence(ctx, "cam-y", fence{Epoch: 2, Token: 1}, t0); err != nil {
		t.Fatal(err)
	}
	err = a.insertSegment(ctx, &Segment{CameraID: "cam-y", Start: t0.Add(-time.Second), End: t0.Add(time.Second), Path: "x",
		SHA256: make([]byte, 32), KeyID: segs[0].KeyID}, &fence{Epoch: 1, Token: 1000})
	if !errors.Is(err, ErrFenced) {
		t.Fatalf("an older epoch's segment: %v, want ErrFenced", err)
	}
}

// failoverGap measures a camera's failover from the index: first is the
// earliest segment of another node than the victim that starts after the
// kill; the gap runs from the end of the footage before it (any node: the
// victim's last, salvaged, or, when the victim had recorded nothing of the
// camera yet, its previous holder's) to its start; resumed runs from the
// kill to its start. ok is false until such a segment is indexed.
func failoverGap(t testing.TB, db *pgxpool.Pool, cam, victim string, killedAt time.Time) (gap, resumed time.Duration, ok bool) {
	t.Helper()
	ss := spans(t, db, cam)
	var first *span
	for i := range ss {
		if ss[i].node != victim && !ss[i].start.Before(killedAt) {
			first = &ss[i]
			break
		}
	}
	if first == nil {
		return 0, 0, false
	}
	var prev time.Time
	for _, s := range ss {
		if !s.end.After(first.start) && s.end.After(prev) {
			prev = s.end
		}
	}
	if prev.IsZero() {
		prev = killedAt // nothing recorded before: from the kill
	}
	return first.start.Sub(prev), first.start.Sub(killedAt), true
}

// failoverFigures are the per-camera recording gaps of a failover.
func failoverFigures(gaps []time.Duration) (p50, p90, worst time.Duration) {
	if len(gaps) == 0 {
		return 0, 0, 0
	}
	s := slices.Clone(gaps)
	slices.Sort(s)
	return s[len(s)/2], s[len(s)*9/10], s[len(s)-1]
}

// TestPoolFailover: three recorders share camsim cameras over RTSP with
// the production lease settings (TTL 3 s, renewal 1 s); one is killed (its
// leases are not given back: they run out). Every camera it held is
// recorded again by another node, no two nodes index the same time, and
// the gap per camera (the killed node's last footage to the new holder's
// first) is logged. GWANJE_FAILOVER_CAMERAS sets the number of cameras
// (default 6); the figures of the README come from 30.
func TestPoolFailover(t *testing.T) {
	n := 6
	if v := os.Getenv("GWANJE_FAILOVER_CAMERAS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			t.Fatalf("GWANJE_FAILOVER_CAMERAS=%q", v)
		}
	}
	db, bus := pgtest.Pool(t), newBus(t)
	ids := camIDs("cam-fo", n)
	ups := camsimUpstreams{}
	for _, id := range ids {
		ups[id] = startCamsim(t, id)
	}
	src := &RTSPSource{Upstreams: ups}
	var ms []*member
	for _, node := range []string{"node-a", "node-b", "node-c"} {
		ms = append(ms, poolMember(t, db, bus, node, recordAll(ids), src, PoolConfig{}))
	}
	poll(t, 60*time.Second, "every camera held once and recorded", func() bool {
		h := holders(ms...)
		if len(h) != n {
			return false
		}
		for _, id := range ids {
			if len(h[id]) != 1 || countSegments(t, ms[0].s, id) == 0 {
				return false
			}
		}
		return true
	})
	// Kill the member holding most.
	victim := ms[0]
	for _, m := range ms {
		if len(m.held()) > len(victim.held()) {
			victim = m
		}
	}
	lost := victim.held()
	killedAt := time.Now()
	victim.kill()
	var rest []*member
	for _, m := range ms {
		if m != victim {
			rest = append(rest, m)
		}
	}
	gaps := map[string]time.Duration{}
	poll(t, 90*time.Second, "every camera of the killed recorder recorded again", func() bool {
		for _, c := range lost {
			if g, _, ok := failoverGap(t, db, c, victim.node, killedAt); ok {
				gaps[c] = g
			}
		}
		return len(gaps) == len(lost)
	})
	noOverlap(t, db, ids)
	var all []time.Duration
	for _, c := range lost {
		all = append(all, gaps[c])
	}
	p50, p90, worst := failoverFigures(all)
	t.Logf("failover: %d cameras, %d held by the killed node (TTL 3s, renewal 1s): recording gap per camera p50 %v, p90 %v, max %v (killed at %s)",
		n, len(lost), p50.Round(time.Millisecond), p90.Round(time.Millisecond), worst.Round(time.Millisecond), killedAt.Format("15:04:05.000"))
	if len(holders(rest...)) != n {
		t.Errorf("after the failover %d of %d cameras are held", len(holders(rest...)), n)
	}
	for _, m := range rest {
		m.r.Close()
		checkAgree(t, m.s)
	}
}

func testutilCounter(c prometheus.Counter) float64 {
	var m dto.Metric
	_ = c.Write(&m)
	return m.GetCounter().GetValue()
}
