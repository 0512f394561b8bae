// Command auditbench measures the audit store against PostgreSQL's own
// ceiling on the same local server, in the same run:
//
//  1. pgbench: N clients, one INSERT per transaction (autocommit), for -d;
//  2. audit.Store.Append: N goroutines, each waiting for its entry to be
//     committed before appending the next, for -d;
//  3. Verify over the whole chain (topped up to -verify entries).
//
// By default the server runs with fsync and synchronous_commit on (a fair
// figure: every acknowledged commit is on disk); -fast turns both off.
//
//	go run ./cmd/auditbench -clients 16 -d 10s
package main

import (
	"context"
	"crypto/ed25519"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gwanje/gwanje/audit"
	"github.com/gwanje/gwanje/internal/pgdb"
	"github.com/gwanje/gwanje/internal/pglocal"
)

func main() {
	clients := flag.Int("clients", 16, "concurrent clients / writers")
	dur := flag.Duration("d", 10*time.Second, "duration of each throughput run")
	fast := flag.Bool("fast", false, "run the server with fsync and synchronous_commit off")
	flag.IntVar(&rounds, "rounds", 3, "alternate pgbench and audit runs this many times")
	verifyN := flag.Int("verify", 500000, "entries in the chain for the verification run")
	flag.DurationVar(&gatherDelay, "gather", 0, "audit.Config.GatherDelay (0: default)")
	flag.IntVar(&pipeline, "pipeline", 0, "audit.Config.Pipeline (0: default)")
	flag.Parse()
	if err := run(*clients, *dur, *fast, *verifyN); err != nil {
		fmt.Fprintln(os.Stderr, "auditbench:", err)
		os.Exit(1)
	}
}

var (
	rounds      int
	pipeline    int
	gatherDelay time.Duration
)

func run(clients int, dur time.Duration, fast bool, verifyN int) error {
	ctx := context.Background()
	quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	dir, err := os.MkdirTemp("", "gwanje-auditbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o711); err != nil {
		return err
	}
	srv, err := pglocal.Start(ctx, pglocal.Config{DataDir: filepath.Join(dir, "pg"), Fast: fast, Logger: quiet,
		Settings: map[string]string{"max_connections": "200", "shared_buffers": "256MB"}})
	if err != nil {
		return err
	}
	defer srv.Close()
	url := srv.URL("postgres")
	if err := pgdb.Migrate(ctx, url); err != nil {
		return err
	}
	pool, err := pgdb.Open(ctx, pgdb.Config{URL: url, MaxConns: 8})
	if err != nil {
		return err
	}
	defer pool.Close()
	mode := "fsync=on synchronous_commit=on"
	if fast {
		mode = "fsync=off synchronous_commit=off"
	}
	fmt.Printf("PostgreSQL %s (%s), %d clients, %s per run, GOMAXPROCS=%d\n", srv.SocketDir(), mode, clients, dur, runtimeProcs())

	// PostgreSQL's ceiling: one INSERT per transaction.
	if _, err := pool.Exec(ctx, `create table bench_insert (id bigserial primary key, at timestamptz not null default now(), payload text not null)`); err != nil {
		return err
	}
	script := filepath.Join(dir, "insert.sql")
	if err := os.WriteFile(script, []byte("insert into bench_insert (payload) values (repeat('x', 200));\n"), 0o644); err != nil {
		return err
	}
	pgbench := filepath.Join(filepath.Dir(mustBin()), "pgbench")
	store, err := audit.New(audit.Config{Pool: pool, SigningKey: ed25519.NewKeyFromSeed(make([]byte, 32)), Logger: quiet, Pipeline: pipeline, GatherDelay: gatherDelay})
	if err != nil {
		return err
	}
	runDone := make(chan error, 1)
	go func() { runDone <- store.Run(ctx) }()
	defer func() { store.Close(); <-runDone }()
	var n int64
	var sumC, sumA float64
	for r := 1; r <= rounds; r++ {
		cmd := exec.Command(pgbench, "-n", "-c", strconv.Itoa(clients), "-j", strconv.Itoa(min(clients, 4)), "-T", strconv.Itoa(int(dur.Seconds())),
			"-f", script, "-h", srv.SocketDir(), "-p", strconv.Itoa(srv.Port()), "-U", pglocal.Superuser, "postgres")
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("pgbench: %w: %s", err, out)
		}
		m := regexp.MustCompile(`tps = ([0-9.]+) \(without initial`).FindSubmatch(out)
		if m == nil {
			return fmt.Errorf("pgbench output not understood: %s", out)
		}
		ceiling, _ := strconv.ParseFloat(string(m[1]), 64)
		k, elapsed, err := appendFor(ctx, store, clients, dur)
		if err != nil {
			return err
		}
		n += k
		rate := float64(k) / elapsed.Seconds()
		if os.Getenv("AUDITBENCH_BATCHES") != "" {
			var avg float64
			_ = pool.QueryRow(ctx, "select count(*)::float8 / count(distinct logged_at) from audit_entry").Scan(&avg)
			fmt.Printf("  mean batch so far: %.1f entries\n", avg)
		}
		sumC += ceiling
		sumA += rate
		fmt.Printf("round %d: pgbench %d clients, 1 INSERT/transaction: %8.0f/s | audit Append, %d writers, each committed: %8.0f/s (%.2fx)\n",
			r, clients, ceiling, clients, rate, rate/ceiling)
	}
	fmt.Printf("mean: pgbench %8.0f/s, audit %8.0f/s (%.2fx)\n", sumC/float64(rounds), sumA/float64(rounds), sumA/sumC)

	// 3. Verification.
	if missing := verifyN - int(n); missing > 0 {
		fmt.Printf("topping the chain up to %d entries for Verify…\n", verifyN)
		if _, _, err := appendCount(ctx, store, 128, int64(missing)); err != nil {
			return err
		}
	}
	// The first pass over freshly written rows also sets their hint bits
	// (PostgreSQL writes while reading); the second shows the steady state.
	for _, pass := range []string{"first pass", "second pass"} {
		rep, err := store.Verify(ctx, audit.VerifyRange{})
		if err != nil {
			return err
		}
		if !rep.OK {
			return fmt.Errorf("verify: %v", rep.Problem)
		}
		fmt.Printf("Verify (%s): %d entries in %s: %10.0f entries/s\n", pass, rep.Checked, rep.Duration.Round(time.Millisecond), float64(rep.Checked)/rep.Duration.Seconds())
	}
	return nil
}

func entry(i int64) audit.Entry {
	from := time.Now().Add(-48 * time.Hour)
	to := from.Add(time.Hour)
	return audit.Entry{Type: "playback.start", Outcome: audit.Success,
		Actor:      audit.Actor{UserID: "u" + strconv.FormatInt(i%50, 10), Username: "operator", Role: "operator", Org: "관제센터"},
		ClientAddr: "10.0.0.5:51234", SessionID: "sess-1", Cameras: []string{"cam-" + strconv.FormatInt(i%300, 10)},
		FootageFrom: &from, FootageTo: &to, Purpose: "crime_prevention", PurposeText: "사건 확인",
		RequestID: "req-" + strconv.FormatInt(i, 10)}
}

func appendFor(ctx context.Context, s *audit.Store, writers int, d time.Duration) (int64, time.Duration, error) {
	var n atomic.Int64
	var firstErr atomic.Value
	stop := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				if _, err := s.Append(ctx, entry(n.Load())); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return 0, 0, err
	}
	return n.Load(), time.Since(start), nil
}

func appendCount(ctx context.Context, s *audit.Store, writers int, total int64) (int64, time.Duration, error) {
	var n atomic.Int64
	var firstErr atomic.Value
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := n.Add(1)
				if i > total {
					return
				}
				if _, err := s.Append(ctx, entry(i)); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return 0, 0, err
	}
	return total, time.Since(start), nil
}

func mustBin() string {
	d, err := pglocal.FindBinaries()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	return filepath.Join(d, "postgres")
}
