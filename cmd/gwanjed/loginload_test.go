package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	gwanjev1 "github.com/gwanje/gwanje/proto/gwanje/v1"
)

// TestLoginFloodLoad is the load test of finding 1 of issue 14 (500
// concurrent logins grew gwanjed to 12.9 GB and made another user's WhoAmI
// take seconds). It is opt-in, being a load test: GWANJE_LOADTEST=1 go test
// ./cmd/gwanjed -run TestLoginFloodLoad -v -timeout 30m
//
// It starts a real gwanjed --demo process (embedded PostgreSQL, production
// argon2id parameters: 64 MiB per hash), logs the operator in, and while the
// operator calls WhoAmI in a loop it fires 2,000 logins at 500 concurrent
// twice: first from 500 client addresses (127.1.x.y, so the per-address
// budget does not absorb them and the hashing pool and its queue take the
// flood), then from one address. It samples gwanjed's RSS every 50 ms and
// fails unless RSS stays under 1 GiB and the WhoAmI p99 under 200 ms.
func TestLoginFloodLoad(t *testing.T) {
	if os.Getenv("GWANJE_LOADTEST") == "" {
		t.Skip("load test: set GWANJE_LOADTEST=1 to run it (starts gwanjed --demo and floods its login)")
	}
	const password = "loadtest-Passw0rd-2026"
	dir := newDataDir(t)
	p, err := start(t, dir, "--demo", "--demo-password", password, "--demo-base-ip", "127.0.77.1")
	if err != nil {
		t.Fatal(err)
	}
	pid := p.cmd.Process.Pid
	tc := &tls.Config{InsecureSkipVerify: true} // the process's own new CA; TLS itself is tested elsewhere
	dial := func(localIP string) *grpc.ClientConn {
		opts := []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(tc))}
		if localIP != "" {
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(localIP)}}
			opts = append(opts, grpc.WithContextDialer(func(ctx context.Context, a string) (net.Conn, error) { return d.DialContext(ctx, "tcp", a) }))
		}
		conn, err := grpc.NewClient(p.grpc, opts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}

	ctx := context.Background()
	own := gwanjev1.NewAccessServiceClient(dial("127.0.0.1"))
	lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	res, err := own.Login(lctx, &gwanjev1.LoginRequest{Username: "operator", Password: password})
	cancel()
	if err != nil {
		t.Fatalf("operator login: %v", err)
	}
	authed := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+res.GetToken())
	baseRSS := rssKiB(t, pid)

	// Samplers: RSS every 50 ms, the operator's WhoAmI back to back (with a
	// 10 ms pause) for the whole run.
	stop := make(chan struct{})
	var samplers sync.WaitGroup
	var maxRSS atomic.Int64
	samplers.Add(2)
	go func() {
		defer samplers.Done()
		tk := time.NewTicker(50 * time.Millisecond)
		defer tk.Stop()
		for {
			if r := rssKiB(t, pid); r > maxRSS.Load() {
				maxRSS.Store(r)
			}
			select {
			case <-stop:
				return
			case <-tk.C:
			}
		}
	}()
	var latMu sync.Mutex
	var lat []time.Duration
	var whoamiErrs atomic.Int64
	go func() {
		defer samplers.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			c, cancel := context.WithTimeout(authed, 10*time.Second)
			t0 := time.Now()
			_, err := own.WhoAmI(c, &gwanjev1.WhoAmIRequest{})
			d := time.Since(t0)
			cancel()
			if err != nil {
				whoamiErrs.Add(1)
				d = 10 * time.Second // a failure counts as the worst latency
			}
			latMu.Lock()
			lat = append(lat, d)
			latMu.Unlock()
			time.Sleep(10 * time.Millisecond)
		}
	}()

	flood := func(name string, sources int) {
		const total, concurrent = 2000, 500
		// One connection per worker from many addresses; from one address,
		// 8 connections shared by the workers (gwanjed holds at most
		// --max-conns-per-source from one address, and gRPC multiplexes).
		conns := make([]gwanjev1.AccessServiceClient, concurrent)
		for i := range conns {
			switch {
			case sources > 1:
				n := i % sources
				conns[i] = gwanjev1.NewAccessServiceClient(dial(fmt.Sprintf("127.1.%d.%d", n/250, n%250+1)))
			case i < 8:
				conns[i] = gwanjev1.NewAccessServiceClient(dial("127.0.0.9"))
			default:
				conns[i] = conns[i%8]
			}
		}
		var next atomic.Int64
		var mu sync.Mutex
		got := map[codes.Code]int{}
		var wg sync.WaitGroup
		t0 := time.Now()
		for w := 0; w < concurrent; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := next.Add(1) - 1
					if i >= total {
						return
					}
					user := fmt.Sprintf("ghost-%s-%d", name, i) // unknown users cost the same argon2 work
					if i%4 == 0 {
						user = []string{"manager", "police", "technician", "auditor"}[i/4%4]
					}
					c, cancel := context.WithTimeout(ctx, 30*time.Second)
					_, err := conns[w].Login(c, &gwanjev1.LoginRequest{Username: user, Password: "wrong-" + strconv.FormatInt(i, 10)})
					cancel()
					mu.Lock()
					got[status.Code(err)]++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		t.Logf("%s: %d logins at %d concurrent in %v: %v", name, total, concurrent, time.Since(t0).Round(time.Millisecond), got)
		if got[codes.Unavailable] > 0 || got[codes.Internal] > 0 {
			t.Errorf("%s: the server failed some logins: %v", name, got)
		}
	}
	flood("500-addresses", 500)
	flood("one-address", 1)
	close(stop)
	samplers.Wait()

	latMu.Lock()
	defer latMu.Unlock()
	slices.Sort(lat)
	pct := func(q float64) time.Duration { return lat[min(len(lat)-1, int(q*float64(len(lat))))] }
	p99 := pct(0.99)
	t.Logf("gwanjed RSS: %d MiB before, %d MiB at most during the floods", baseRSS/1024, maxRSS.Load()/1024)
	t.Logf("operator WhoAmI during the floods: %d calls, %d errors, p50 %v, p90 %v, p99 %v, max %v",
		len(lat), whoamiErrs.Load(), pct(0.5), pct(0.9), p99, lat[len(lat)-1])
	if maxRSS.Load() >= 1<<20 {
		t.Errorf("RSS reached %d MiB, goal < 1 GiB", maxRSS.Load()/1024)
	}
	if p99 >= 200*time.Millisecond {
		t.Errorf("WhoAmI p99 %v, goal < 200 ms", p99)
	}
	// And the server still serves a fresh login.
	lctx, cancel = context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := own.Login(lctx, &gwanjev1.LoginRequest{Username: "operator", Password: password}); err != nil {
		t.Errorf("operator login after the floods: %v", err)
	}
}

// rssKiB reads the resident set size of process pid.
func rssKiB(t *testing.T, pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Errorf("read RSS: %v", err)
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}
