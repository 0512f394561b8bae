package record

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gwanje/gwanje/internal/pgdb"
	"github.com/gwanje/gwanje/internal/pgtest"
	"github.com/gwanje/gwanje/stream"
)

// TestChildRecorder is the recorder process of TestKilledRecorderRecovers;
// it does nothing unless started by it. It records the cameras of
// GWANJE_RECORD_CAMS (id=url,…) with the production chunk size and the
// seal interval of GWANJE_RECORD_SEAL (empty: the default).
func TestChildRecorder(t *testing.T) {
	if os.Getenv("GWANJE_RECORD_CHILD") != "1" {
		return
	}
	ctx := context.Background()
	pool, err := pgdb.Open(ctx, pgdb.Config{URL: os.Getenv("GWANJE_RECORD_DB")})
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewStore(StoreConfig{Pool: pool, Dir: os.Getenv("GWANJE_RECORD_DIR"), Node: "node-k", MinFreeBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	ups := upstreamMap{}
	var cams []Camera
	for _, kv := range strings.Split(os.Getenv("GWANJE_RECORD_CAMS"), ",") {
		id, url, _ := strings.Cut(kv, "=")
		ups[id] = stream.Upstream{URL: url, Username: "admin", Password: "camsim"}
		cams = append(cams, Camera{ID: id, RetentionDays: 30})
	}
	var seal time.Duration
	if v := os.Getenv("GWANJE_RECORD_SEAL"); v != "" {
		if seal, err = time.ParseDuration(v); err != nil {
			t.Fatal(err)
		}
	}
	r, err := New(Config{Store: s, Cameras: fixedCameras(cams...), Source: &RTSPSource{Upstreams: ups},
		SegmentDuration: 8 * time.Second, SealInterval: seal})
	if err != nil {
		t.Fatal(err)
	}
	_ = r.Run(ctx) // until SIGKILL
}

type upstreamMap map[string]stream.Upstream

func (m upstreamMap) Upstream(_ context.Context, id, _ string) (stream.Upstream, error) {
	u, ok := m[id]
	if !ok {
		return stream.Upstream{}, stream.ErrUnknownCamera
	}
	return u, nil
}

// TestKilledRecorderRecovers kills a recorder process (SIGKILL) that
// records three camsim cameras over RTSP, then runs the start-up check as
// the restarted recorder does. The segment in progress of every camera is
// kept up to its last seal, so the footage in the index reaches the kill
// to within one seal interval (plus a margin for the frame in hand and
// delivery); the torn last chunk is discarded; every segment verifies;
// nothing is quarantined or missing.
//
// GWANJE_KILL_SEAL overrides the child's seal interval; "-1s" (full
// chunks only, the behaviour before timed seals) shows the loss it had:
// the test then fails and logs the loss per camera.
func TestKilledRecorderRecovers(t *testing.T) {
	seal, sealEnv := time.Second, os.Getenv("GWANJE_KILL_SEAL")
	if sealEnv != "" {
		var err error
		if seal, err = time.ParseDuration(sealEnv); err != nil {
			t.Fatal(err)
		}
	}
	// The frame in hand (40 ms at 25 fps), RTSP delivery on loopback and
	// the child's scheduling: far less than this.
	const margin = time.Second
	ids := []string{"cam-k1", "cam-k2", "cam-k3"}
	var spec []string
	for _, id := range ids {
		spec = append(spec, id+"="+startCamsim(t, id).RTSPURL("main"))
	}
	url := pgtest.URL(t)
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestChildRecorder$", "-test.count=1")
	cmd.Env = append(os.Environ(), "GWANJE_RECORD_CHILD=1", "GWANJE_RECORD_DB="+url, "GWANJE_RECORD_DIR="+dir,
		"GWANJE_RECORD_CAMS="+strings.Join(spec, ","), "GWANJE_RECORD_SEAL="+sealEnv)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	t.Cleanup(func() {
		if !killed {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	pool, err := pgdb.Open(context.Background(), pgdb.Config{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	ends := func() map[string]time.Time {
		rows, err := pool.Query(context.Background(),
			`select camera_id, max(end_at) from recording_segments where status = 'ok' group by camera_id`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		out := map[string]time.Time{}
		for rows.Next() {
			var id string
			var end time.Time
			if err := rows.Scan(&id, &end); err != nil {
				t.Fatal(err)
			}
			out[id] = end
		}
		return out
	}
	// Every camera finishes a segment; then each records a few seconds
	// into the next one (segments are 8 s), more than a seal interval. The
	// kill comes 0.9 s after a whole second of footage, just before the
	// next seal of the default interval: the worst case.
	var latest time.Time
	poll(t, 90*time.Second, "a finished segment of every camera", func() bool {
		e := ends()
		for _, end := range e {
			if end.After(latest) {
				latest = end
			}
		}
		return len(e) == len(ids)
	})
	poll(t, 30*time.Second, "3.9 s of footage into the next segments", func() bool {
		return time.Now().After(latest.Add(3900 * time.Millisecond))
	})
	partials, _ := filepath.Glob(filepath.Join(dir, "cam-k*", "*", "*.partial"))
	killAt := time.Now()
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	killed = true
	if len(partials) == 0 {
		t.Fatal("the killed recorder left no segment in progress")
	}
	var before int
	_ = pool.QueryRow(context.Background(), `select count(*) from recording_segments`).Scan(&before)

	// Restart: the start-up check makes index and files agree.
	al := &alarms{}
	s, err := NewStore(StoreConfig{Pool: pool, Dir: dir, Node: "node-k", MinFreeBytes: -1, Alarm: al.add})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := s.Check(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("check after SIGKILL: %+v, alarms %+v", rep, al.a)
	if rep.Salvaged < 1 || rep.Salvaged+rep.Discarded != len(partials) || rep.Quarantined != 0 || rep.Missing != 0 {
		t.Errorf("check: %+v with %d segments in progress", rep, len(partials))
	}
	after := ends()
	for _, id := range ids {
		lost := killAt.Sub(after[id])
		t.Logf("%s: footage lost at SIGKILL %v (seal interval %v)", id, lost.Round(time.Millisecond), seal)
		if lost > max(seal, 0)+margin {
			t.Errorf("%s: the index ends %v before the kill; at most the seal interval %v (+%v) may be lost",
				id, lost.Round(time.Millisecond), seal, margin)
		}
	}
	segs := checkAgree(t, s)
	if len(segs) != before+rep.Salvaged {
		t.Fatalf("%d segments, want %d", len(segs), before+rep.Salvaged)
	}
	// A second check finds nothing to do.
	rep, err = s.Check(context.Background())
	if err != nil || rep != (CheckReport{Files: len(segs)}) {
		t.Fatalf("second check: %v %+v", err, rep)
	}
	// Index rows without files, and files without rows.
	if err := os.Remove(s.abs(segs[0].Path)); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(context.Background(), `delete from recording_segments where id = $1`, segs[1].ID); err != nil {
		t.Fatal(err)
	}
	rep, err = s.Check(context.Background())
	if err != nil || rep.Missing != 1 || rep.Indexed != 1 {
		t.Fatalf("third check: %v %+v", err, rep)
	}
	if al.count(AlarmMissing) != 1 {
		t.Fatalf("missing alarms %d", al.count(AlarmMissing))
	}
}
