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
// it does nothing unless started by it.
func TestChildRecorder(t *testing.T) {
	if os.Getenv("GWANJE_RECORD_CHILD") != "1" {
		return
	}
	ctx := context.Background()
	pool, err := pgdb.Open(ctx, pgdb.Config{URL: os.Getenv("GWANJE_RECORD_DB")})
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewStore(StoreConfig{Pool: pool, Dir: os.Getenv("GWANJE_RECORD_DIR"), Node: "node-k",
		ChunkSize: 4 << 10, MinFreeBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	up := stream.Upstream{URL: os.Getenv("GWANJE_RECORD_URL"), Username: "admin", Password: "camsim"}
	r, err := New(Config{Store: s, Cameras: fixedCameras(Camera{ID: "cam-k", RetentionDays: 30}),
		Source:          &RTSPSource{Upstreams: staticUpstream(up)},
		SegmentDuration: 3 * time.Second, PartDuration: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_ = r.Run(ctx) // until SIGKILL
}

type staticUpstream stream.Upstream

func (u staticUpstream) Upstream(context.Context, string, string) (stream.Upstream, error) {
	return stream.Upstream(u), nil
}

func TestKilledRecorderRecovers(t *testing.T) {
	cam := startCamsim(t, "cam-k")
	url := pgtest.URL(t)
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestChildRecorder$", "-test.count=1")
	cmd.Env = append(os.Environ(), "GWANJE_RECORD_CHILD=1", "GWANJE_RECORD_DB="+url, "GWANJE_RECORD_DIR="+dir,
		"GWANJE_RECORD_URL="+cam.RTSPURL("main"))
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
	// Wait for finished segments and a segment in progress with at least
	// a few sealed chunks (some complete fragments).
	var partial string
	poll(t, 60*time.Second, "segments and a segment in progress", func() bool {
		var n int
		_ = pool.QueryRow(context.Background(), `select count(*) from recording_segments`).Scan(&n)
		if n < 2 {
			return false
		}
		m, _ := filepath.Glob(filepath.Join(dir, "cam-k", "*", "*.partial"))
		if len(m) != 1 {
			return false
		}
		fi, err := os.Stat(m[0])
		if err != nil || fi.Size() < 3*(4<<10) {
			return false
		}
		partial = m[0]
		return true
	})
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	killed = true
	if _, err := os.Stat(partial); err != nil {
		t.Fatalf("the killed recorder left no segment in progress: %v", err)
	}
	var before int
	_ = pool.QueryRow(context.Background(), `select count(*) from recording_segments`).Scan(&before)

	// Restart: the start-up check makes index and files agree.
	al := &alarms{}
	s, err := NewStore(StoreConfig{Pool: pool, Dir: dir, Node: "node-k", ChunkSize: 4 << 10, MinFreeBytes: -1, Alarm: al.add})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := s.Check(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("check after SIGKILL: %+v %+v", rep, al.a)
	if rep.Salvaged != 1 || rep.Quarantined != 0 || rep.Missing != 0 {
		t.Fatalf("check: %+v", rep)
	}
	segs := checkAgree(t, s)
	if len(segs) != before+1 {
		t.Fatalf("%d segments, want %d", len(segs), before+1)
	}
	last := segs[len(segs)-1]
	if last.Frames == 0 || !strings.HasSuffix(last.Path, ".gseg") {
		t.Fatalf("salvaged segment %+v", last)
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
