package record

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/gwanje/gwanje/events"
	"github.com/gwanje/gwanje/internal/pgdb"
	"github.com/gwanje/gwanje/internal/pgtest"
	"github.com/gwanje/gwanje/stream"
)

// TestChildPoolRecorder is a recorder process of TestPoolKilledRecorder;
// it does nothing unless started by it. It joins the pool on the NATS of
// GWANJE_POOL_NATS as node GWANJE_POOL_NODE with the production lease
// settings and records the cameras of GWANJE_POOL_CAMS (id=url,…).
func TestChildPoolRecorder(t *testing.T) {
	if os.Getenv("GWANJE_POOL_CHILD") != "1" {
		return
	}
	ctx := context.Background()
	pool, err := pgdb.Open(ctx, pgdb.Config{URL: os.Getenv("GWANJE_POOL_DB")})
	if err != nil {
		t.Fatal(err)
	}
	bus, err := events.New(ctx, events.Config{URL: os.Getenv("GWANJE_POOL_NATS"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewStore(StoreConfig{Pool: pool, Dir: os.Getenv("GWANJE_POOL_DIR"), DataDir: os.Getenv("GWANJE_POOL_KEYS"),
		Node: os.Getenv("GWANJE_POOL_NODE"), MinFreeBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	ups := upstreamMap{}
	var cams []Camera
	for _, kv := range strings.Split(os.Getenv("GWANJE_POOL_CAMS"), ",") {
		id, url, _ := strings.Cut(kv, "=")
		ups[id] = stream.Upstream{URL: url, Username: "admin", Password: "camsim"}
		cams = append(cams, Camera{ID: id, RetentionDays: 30})
	}
	r, err := New(Config{Store: s, Cameras: fixedCameras(cams...), Source: &RTSPSource{Upstreams: ups},
		SegmentDuration: 4 * time.Second, Pool: &PoolConfig{JS: bus.JS}})
	if err != nil {
		t.Fatal(err)
	}
	_ = r.Run(ctx) // until SIGKILL
}

// TestPoolKilledRecorder: three recorder processes share camsim cameras
// (real NATS, PostgreSQL, RTSP; lease TTL 3 s, renewal 1 s); the one
// holding most is killed with SIGKILL. Its cameras are recorded again by
// the others; its segments in progress are salvaged by the start-up check
// as its restart would; no two nodes index the same time. Logged per
// camera: the recording gap (the killed node's last footage, salvaged, to
// the new holder's first) and the time from the kill to the new holder's
// first footage. GWANJE_FAILOVER_CAMERAS sets the number of cameras
// (default 6).
func TestPoolKilledRecorder(t *testing.T) {
	n := 6
	if v := os.Getenv("GWANJE_FAILOVER_CAMERAS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			t.Fatalf("GWANJE_FAILOVER_CAMERAS=%q", v)
		}
	}
	ids := camIDs("cam-pk", n)
	var spec []string
	for _, id := range ids {
		spec = append(spec, id+"="+startCamsim(t, id).RTSPURL("main"))
	}
	url, bus, keys := pgtest.URL(t), newBus(t), t.TempDir()
	db, err := pgdb.Open(context.Background(), pgdb.Config{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	nodes := []string{"node-a", "node-b", "node-c"}
	dirs := map[string]string{}
	procs := map[string]*exec.Cmd{}
	for _, node := range nodes {
		dirs[node] = t.TempDir()
		cmd := exec.Command(os.Args[0], "-test.run=^TestChildPoolRecorder$", "-test.count=1")
		cmd.Env = append(os.Environ(), "GWANJE_POOL_CHILD=1", "GWANJE_POOL_DB="+url, "GWANJE_POOL_NATS="+bus.ClientURL(),
			"GWANJE_POOL_DIR="+dirs[node], "GWANJE_POOL_KEYS="+keys, "GWANJE_POOL_NODE="+node, "GWANJE_POOL_CAMS="+strings.Join(spec, ","))
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		procs[node] = cmd
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		})
	}
	kv, err := bus.JS.KeyValue(context.Background(), events.BucketRecorderLeases)
	for err != nil {
		time.Sleep(50 * time.Millisecond)
		kv, err = bus.JS.KeyValue(context.Background(), events.BucketRecorderLeases)
	}
	holdersKV := func() map[string][]string {
		out := map[string][]string{}
		for _, id := range ids {
			if e, err := kv.Get(context.Background(), "item."+id); err == nil {
				out[string(e.Value())] = append(out[string(e.Value())], id)
			} else if err != jetstream.ErrKeyNotFound {
				t.Fatal(err)
			}
		}
		return out
	}
	recorded := func(id string) bool {
		var k int
		_ = db.QueryRow(context.Background(), `select count(*) from recording_segments where camera_id = $1`, id).Scan(&k)
		return k > 0
	}
	var held map[string][]string
	poll(t, 120*time.Second, "every camera held and recorded", func() bool {
		held = holdersKV()
		c := 0
		for _, cs := range held {
			c += len(cs)
		}
		if c != n {
			return false
		}
		for _, id := range ids {
			if !recorded(id) {
				return false
			}
		}
		return true
	})
	victim := nodes[0]
	for _, node := range nodes {
		if len(held[node]) > len(held[victim]) {
			victim = node
		}
	}
	lost := held[victim]
	killedAt := time.Now()
	if err := procs[victim].Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = procs[victim].Wait()
	// The killed node's restart: the check salvages its segments in
	// progress (up to their last seal).
	vs, err := NewStore(StoreConfig{Pool: db, Dir: dirs[victim], DataDir: keys, Node: victim, MinFreeBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := vs.Check(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	gaps, resumed := map[string]time.Duration{}, map[string]time.Duration{}
	poll(t, 90*time.Second, "every camera of the killed recorder recorded again", func() bool {
		for _, c := range lost {
			if g, r, ok := failoverGap(t, db, c, victim, killedAt); ok {
				gaps[c], resumed[c] = g, r
			}
		}
		return len(gaps) == len(lost)
	})
	noOverlap(t, db, ids)
	var g, r []time.Duration
	for _, c := range lost {
		g, r = append(g, gaps[c]), append(r, resumed[c])
	}
	gp50, _, gmax := failoverFigures(g)
	rp50, _, rmax := failoverFigures(r)
	t.Logf("check after SIGKILL: %+v", rep)
	t.Logf("SIGKILL of %s holding %d of %d cameras (check after: %d salvaged): recording gap per camera p50 %v max %v; kill to the new holder's first footage p50 %v max %v",
		victim, len(lost), n, rep.Salvaged, gp50.Round(time.Millisecond), gmax.Round(time.Millisecond),
		rp50.Round(time.Millisecond), rmax.Round(time.Millisecond))
}
