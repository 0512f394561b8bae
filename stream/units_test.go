package stream

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gwanje/gwanje/internal/pgtest"
)

func TestNodesRegistryAndRendezvous(t *testing.T) {
	bus := newBus(t)
	ctx := context.Background()
	nodes, err := NewNodes(ctx, bus.JS, NodesConfig{TTL: 1500 * time.Millisecond, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nodes.PickNode(ctx, "cam1"); !errors.Is(err, ErrNoNode) {
		t.Fatalf("no nodes: %v", err)
	}
	// Node a heartbeats; node b is put once and expires.
	rctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); nodes.Register(rctx, Node{ID: "a", URL: "rtsp://10.0.0.1:8554"}) }()
	if err := nodes.Put(ctx, Node{ID: "b", URL: "rtsp://10.0.0.2:8554"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "two live nodes", func() bool {
		l, _ := nodes.Live(ctx)
		return len(l) == 2
	})
	// The same camera always lands on the same node.
	first := map[string]string{}
	for i := 0; i < 50; i++ {
		cam := fmt.Sprintf("cam-%d", i)
		n, err := nodes.PickNode(ctx, cam)
		if err != nil {
			t.Fatal(err)
		}
		first[cam] = n.ID
		if again, _ := nodes.PickNode(ctx, cam); again.ID != n.ID {
			t.Fatalf("%s moved from %s to %s", cam, n.ID, again.ID)
		}
	}
	eventually(t, 10*time.Second, "b expires without heartbeats", func() bool {
		l, _ := nodes.Live(ctx)
		return len(l) == 1 && l[0].ID == "a"
	})
	// a stays alive through several TTLs thanks to its heartbeat.
	if n, err := nodes.PickNode(ctx, "cam-0"); err != nil || n.ID != "a" {
		t.Fatalf("after b left: %v %v", n, err)
	}
	stop()
	<-done
	eventually(t, 5*time.Second, "a removed on shutdown", func() bool {
		l, _ := nodes.Live(ctx)
		return len(l) == 0
	})
	if err := nodes.Put(ctx, Node{ID: "bad id!", URL: "x"}); err == nil {
		t.Error("a node ID with spaces was accepted")
	}
}

func TestRendezvousSpreadsAndMovesOnlyTheLeaversCameras(t *testing.T) {
	nodes := []Node{{ID: "n1"}, {ID: "n2"}, {ID: "n3"}, {ID: "n4"}}
	count := map[string]int{}
	assign := map[string]string{}
	for i := 0; i < 4000; i++ {
		cam := fmt.Sprintf("cam-%04d", i)
		n, _ := Rendezvous(nodes, cam)
		count[n.ID]++
		assign[cam] = n.ID
	}
	for _, n := range nodes {
		if c := count[n.ID]; c < 800 || c > 1200 {
			t.Errorf("node %s got %d of 4000 cameras", n.ID, c)
		}
	}
	moved := 0
	for cam, was := range assign {
		n, _ := Rendezvous(nodes[:3], cam)
		if was != "n4" && n.ID != was {
			moved++
		}
	}
	if moved != 0 {
		t.Errorf("%d cameras of remaining nodes moved when n4 left", moved)
	}
	if _, ok := Rendezvous(nil, "x"); ok {
		t.Error("picked from no nodes")
	}
}

func TestTickets(t *testing.T) {
	pool := pgtest.Pool(t)
	ctx := context.Background()
	tk := NewTickets(pool, StaticNode{ID: "n1", URL: "rtsp://127.0.0.1:8554/"})
	valid := TicketRequest{UserID: "u", SessionID: "s", CameraID: "cam1", Profile: "main", AuditSeq: 7}

	t.Run("invalid requests", func(t *testing.T) {
		cases := []struct {
			name string
			mod  func(*TicketRequest)
		}{
			{"no user", func(r *TicketRequest) { r.UserID = "" }},
			{"no camera", func(r *TicketRequest) { r.CameraID = "" }},
			{"camera with slash", func(r *TicketRequest) { r.CameraID = "a/b" }},
			{"camera with query", func(r *TicketRequest) { r.CameraID = "a?ticket=x" }},
			{"dot camera", func(r *TicketRequest) { r.CameraID = ".." }},
			{"no profile", func(r *TicketRequest) { r.Profile = "" }},
			{"no audit seq", func(r *TicketRequest) { r.AuditSeq = 0 }},
			{"negative TTL", func(r *TicketRequest) { r.TTL = -time.Second }},
			{"TTL too long", func(r *TicketRequest) { r.TTL = time.Hour }},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				r := valid
				c.mod(&r)
				if _, err := tk.IssueTicket(ctx, r); !errors.Is(err, ErrInvalidRequest) {
					t.Errorf("err = %v, want ErrInvalidRequest", err)
				}
			})
		}
	})

	t.Run("issue stores only a hash", func(t *testing.T) {
		ticket, err := tk.IssueTicket(ctx, valid)
		if err != nil {
			t.Fatal(err)
		}
		if want := "rtsp://127.0.0.1:8554/live/cam1/main?ticket="; !strings.HasPrefix(ticket.URL, want) {
			t.Errorf("URL %q", ticket.URL)
		}
		if d := time.Until(ticket.ExpiresAt); d < 20*time.Second || d > 40*time.Second {
			t.Errorf("expires in %v, want about the 30s default", d)
		}
		var n int
		if err := pool.QueryRow(ctx, `select count(*) from stream_tickets
			where position(convert_to($1, 'UTF8') in hash) > 0 or user_id = $1`, ticket.Token).Scan(&n); err != nil || n != 0 {
			t.Errorf("token found in the table: %d %v", n, err)
		}
		g, err := tk.Check(ctx, ticket.Token, "cam1", "main")
		if err != nil || g.UserID != "u" || g.AuditSeq != 7 || g.Node != "n1" || len(g.HashPrefix) != 12 {
			t.Errorf("Check = %+v, %v", g, err)
		}
	})

	t.Run("redeemed once under concurrency", func(t *testing.T) {
		ticket, err := tk.IssueTicket(ctx, valid)
		if err != nil {
			t.Fatal(err)
		}
		var ok, used atomic.Int32
		var wg sync.WaitGroup
		for i := 0; i < 16; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := tk.Redeem(ctx, ticket.Token, "cam1", "main", "127.0.0.1:1")
				switch {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, ErrTicketUsed):
					used.Add(1)
				default:
					t.Errorf("redeem: %v", err)
				}
			}()
		}
		wg.Wait()
		if ok.Load() != 1 || used.Load() != 15 {
			t.Errorf("%d redeemed, %d refused as used; want 1 and 15", ok.Load(), used.Load())
		}
	})

	t.Run("wrong camera leaves the ticket unused", func(t *testing.T) {
		ticket, err := tk.IssueTicket(ctx, valid)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tk.Redeem(ctx, ticket.Token, "cam2", "main", ""); !errors.Is(err, ErrWrongCamera) {
			t.Errorf("wrong camera: %v", err)
		}
		if _, err := tk.Redeem(ctx, ticket.Token, "cam1", "sub", ""); !errors.Is(err, ErrWrongProfile) {
			t.Errorf("wrong profile: %v", err)
		}
		if _, err := tk.Redeem(ctx, ticket.Token, "cam1", "main", ""); err != nil {
			t.Errorf("right camera after wrong attempts: %v", err)
		}
	})

	t.Run("token shapes", func(t *testing.T) {
		for tok, want := range map[string]error{
			"":                      ErrNoTicket,
			"abc":                   ErrMalformed,
			"!!!!":                  ErrMalformed,
			strings.Repeat("A", 43): ErrUnknownTicket,
			strings.Repeat("A", 44): ErrMalformed,
		} {
			if _, err := tk.Redeem(ctx, tok, "cam1", "main", ""); !errors.Is(err, want) {
				t.Errorf("token %q: %v, want %v", tok, err, want)
			}
		}
		if HashPrefix("abc") != "-" {
			t.Error("HashPrefix of a malformed token")
		}
	})

	t.Run("sweep", func(t *testing.T) {
		r := valid
		r.TTL = time.Millisecond
		if _, err := tk.IssueTicket(ctx, r); err != nil {
			t.Fatal(err)
		}
		eventually(t, 5*time.Second, "swept", func() bool {
			n, err := tk.Sweep(ctx, 0)
			return err == nil && n >= 1
		})
	})
}

func TestIsRandomAccess(t *testing.T) {
	cases := []struct {
		name string
		c    codec
		p    []byte
		want bool
	}{
		{"h264 IDR", codecH264, []byte{0x65, 0x88}, true},
		{"h264 P slice", codecH264, []byte{0x41, 0x9a}, false},
		{"h264 SPS alone", codecH264, []byte{0x67, 0x42}, false},
		{"h264 STAP-A SPS PPS IDR", codecH264, []byte{0x78, 0, 2, 0x67, 0x42, 0, 2, 0x68, 0xce, 0, 2, 0x65, 0x88}, true},
		{"h264 STAP-A SPS PPS", codecH264, []byte{0x78, 0, 2, 0x67, 0x42, 0, 2, 0x68, 0xce}, false},
		{"h264 STAP-A truncated", codecH264, []byte{0x78, 0, 9, 0x65}, false},
		{"h264 FU-A IDR start", codecH264, []byte{0x7c, 0x85, 0x88}, true},
		{"h264 FU-A IDR middle", codecH264, []byte{0x7c, 0x05, 0x88}, false},
		{"h264 FU-A P start", codecH264, []byte{0x7c, 0x81}, false},
		{"h264 empty", codecH264, nil, false},
		{"h265 IDR_W_RADL", codecH265, []byte{19 << 1, 1}, true},
		{"h265 CRA", codecH265, []byte{21 << 1, 1}, true},
		{"h265 TRAIL_R", codecH265, []byte{1 << 1, 1}, false},
		{"h265 AP VPS IDR", codecH265, []byte{48 << 1, 1, 0, 2, 32 << 1, 1, 0, 2, 19 << 1, 1}, true},
		{"h265 FU IDR start", codecH265, []byte{49 << 1, 1, 0x80 | 19}, true},
		{"h265 FU IDR middle", codecH265, []byte{49 << 1, 1, 19}, false},
		{"h265 short", codecH265, []byte{1}, false},
	}
	for _, c := range cases {
		if got := isRandomAccess(c.c, c.p); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

func FuzzIsRandomAccess(f *testing.F) {
	f.Add([]byte{0x78, 0, 2, 0x67, 0x42, 0, 2, 0x65, 0x88})
	f.Add([]byte{48 << 1, 1, 0, 2, 32 << 1, 1})
	f.Add([]byte{0x7c, 0x85})
	f.Fuzz(func(t *testing.T, p []byte) {
		isRandomAccess(codecH264, p)
		isRandomAccess(codecH265, p)
	})
}

func FuzzParseLivePath(f *testing.F) {
	f.Add("/live/cam1/main", "ticket=abc")
	f.Add("/live/../x", "ticket=%zz")
	f.Fuzz(func(t *testing.T, path, query string) {
		cam, prof, err := parseLivePath(path)
		if err == nil && (!validName(cam) || !validName(prof)) {
			t.Fatalf("accepted %q -> %q %q", path, cam, prof)
		}
		_ = ticketFromQuery(query)
	})
}
