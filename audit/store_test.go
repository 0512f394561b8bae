package audit_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gwanje/gwanje/audit"
	"github.com/gwanje/gwanje/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var testKey = ed25519.NewKeyFromSeed(make([]byte, 32))

// start creates a store on pool with cfg (pool and key filled in), runs it
// and closes it when the test ends.
func start(t testing.TB, pool *pgxpool.Pool, cfg audit.Config) *audit.Store {
	t.Helper()
	cfg.Pool = pool
	if cfg.SigningKey == nil && cfg.KeyFile == "" {
		cfg.SigningKey = testKey
	}
	s, err := audit.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	runErr := make(chan error, 1)
	go func() { runErr <- s.Run(context.Background()) }()
	t.Cleanup(func() {
		s.Close()
		if err := <-runErr; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return s
}

func view(i int) audit.Entry {
	from := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	to := from.Add(time.Hour)
	return audit.Entry{
		Type: "playback.start", Outcome: audit.Success,
		Actor:      audit.Actor{UserID: fmt.Sprintf("u%d", i%7), Username: fmt.Sprintf("operator%d", i%7), Role: "operator", Org: "관제센터"},
		ClientAddr: "10.0.0.5", SessionID: "s1", Cameras: []string{fmt.Sprintf("cam-%d", i%13)},
		FootageFrom: &from, FootageTo: &to, Purpose: "crime_prevention", PurposeText: "절도 사건 확인",
		RequestID: fmt.Sprintf("req-%d", i), Details: map[string]any{"n": i, "note": "<확인>"},
	}
}

func mustAppend(t testing.TB, s *audit.Store, n int) []audit.Record {
	t.Helper()
	var recs []audit.Record
	for i := 0; i < n; i++ {
		r, err := s.Append(context.Background(), view(i))
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		recs = append(recs, r)
	}
	return recs
}

func mustVerify(t testing.TB, s *audit.Store, r audit.VerifyRange) *audit.VerifyReport {
	t.Helper()
	rep, err := s.Verify(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestAppendQueryVerify(t *testing.T) {
	pool := pgtest.Pool(t)
	s := start(t, pool, audit.Config{})
	ctx := context.Background()
	recs := mustAppend(t, s, 5)
	for i, r := range recs {
		if r.Seq != int64(i+1) || len(r.Hash) != audit.HashSize || r.Time.IsZero() {
			t.Fatalf("record %d: %+v", i, r)
		}
	}
	p, err := s.Query(ctx, audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Entries) != 5 || p.Next != "" {
		t.Fatalf("got %d entries, next %q", len(p.Entries), p.Next)
	}
	got := p.Entries[2]
	want := view(2)
	if got.Entry.Actor != want.Actor || got.Entry.Cameras[0] != want.Cameras[0] || got.Entry.PurposeText != want.PurposeText ||
		!got.Entry.FootageFrom.Equal(*want.FootageFrom) || got.Entry.Details["note"] != "<확인>" || got.Seq != 3 {
		t.Fatalf("round trip: got %+v", got)
	}
	rep := mustVerify(t, s, audit.VerifyRange{})
	if !rep.OK || rep.Checked != 5 || rep.Anchor != "genesis" {
		t.Fatalf("verify: %+v %v", rep, rep.Problem)
	}
}

func TestAppendRejectsInvalid(t *testing.T) {
	s := start(t, pgtest.Pool(t), audit.Config{})
	for _, e := range []audit.Entry{
		{Type: "", Outcome: audit.Success},
		{Type: "Live View", Outcome: audit.Success},
		{Type: "live.view.start", Outcome: "maybe"},
		{Type: "live.view.start", Outcome: audit.Success, Details: map[string]any{"f": func() {}}},
	} {
		if _, err := s.Append(context.Background(), e); !errors.Is(err, audit.ErrInvalid) {
			t.Errorf("%+v: got %v, want ErrInvalid", e, err)
		}
	}
}

func TestCleansStrings(t *testing.T) {
	s := start(t, pgtest.Pool(t), audit.Config{})
	ctx := context.Background()
	e := audit.Entry{Type: "login.failed", Outcome: audit.Denied, Actor: audit.Actor{Username: "a\x00b\xff"},
		Cameras: []string{"", "c\x1fd"}}
	if _, err := s.Append(ctx, e); err != nil {
		t.Fatal(err)
	}
	p, err := s.Query(ctx, audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	got := p.Entries[0].Entry
	if got.Actor.Username != "a\uFFFDb\uFFFD" || len(got.Cameras) != 1 || got.Cameras[0] != "c\uFFFDd" {
		t.Fatalf("got %q %q", got.Actor.Username, got.Cameras)
	}
	if rep := mustVerify(t, s, audit.VerifyRange{}); !rep.OK {
		t.Fatal(rep.Problem)
	}
}

func TestConcurrentWritersTwoProcesses(t *testing.T) {
	// Two stores on one database stand for two gwanjed processes; AppendTx
	// calls move the head under both of them.
	url := pgtest.URL(t)
	pools := make([]*pgxpool.Pool, 2)
	for i := range pools {
		p, err := pgxpool.New(context.Background(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close)
		pools[i] = p
	}
	stores := []*audit.Store{start(t, pools[0], audit.Config{}), start(t, pools[1], audit.Config{Pipeline: 3, GatherDelay: -1})}
	const writers, each = 8, 40
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := stores[w%2]
			for i := 0; i < each; i++ {
				if w == 0 && i%5 == 0 {
					tx, err := pools[0].Begin(context.Background())
					if err != nil {
						errs <- err
						return
					}
					if _, err := s.AppendTx(context.Background(), tx, view(i)); err != nil {
						errs <- err
					}
					if err := tx.Commit(context.Background()); err != nil {
						errs <- err
					}
					continue
				}
				if _, err := s.Append(context.Background(), view(w*each+i)); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	rep := mustVerify(t, stores[1], audit.VerifyRange{})
	if !rep.OK || rep.Checked != writers*each {
		t.Fatalf("verify: %+v %v", rep, rep.Problem)
	}
}

func TestAppendTxRollsBackWithTheChange(t *testing.T) {
	pool := pgtest.Pool(t)
	s := start(t, pool, audit.Config{})
	ctx := context.Background()
	mustAppend(t, s, 2)
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.AppendTx(ctx, tx, audit.Entry{Type: "grant.create", Outcome: audit.Success, Reason: "rolled back"})
	if err != nil || r.Seq != 3 {
		t.Fatalf("AppendTx: %+v %v", r, err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	tx, err = pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r, err = s.AppendTx(ctx, tx, audit.Entry{Type: "grant.create", Outcome: audit.Success, Reason: "kept"}); err != nil || r.Seq != 3 {
		t.Fatalf("AppendTx: %+v %v", r, err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	// The writer's cached head is stale now; it must notice.
	rec, err := s.Append(ctx, view(9))
	if err != nil || rec.Seq != 4 {
		t.Fatalf("append after AppendTx: %+v %v", rec, err)
	}
	p, err := s.Query(ctx, audit.Filter{Types: []string{"grant.*"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Entries) != 1 || p.Entries[0].Entry.Reason != "kept" {
		t.Fatalf("grant entries: %+v", p.Entries)
	}
	if rep := mustVerify(t, s, audit.VerifyRange{}); !rep.OK || rep.Checked != 4 {
		t.Fatalf("verify: %+v %v", rep, rep.Problem)
	}
}

func TestCancelledClientStillLeavesItsEntry(t *testing.T) {
	pool := pgtest.Pool(t)
	s := start(t, pool, audit.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the client is gone before the store even sees the entry
	_, err := s.Append(ctx, audit.Entry{Type: "live.view.start", Outcome: audit.Success, RequestID: "gone"})
	if err != nil && !errors.Is(err, audit.ErrUnavailable) {
		t.Fatalf("got %v", err)
	}
	poll(t, func() bool {
		p, err := s.Query(context.Background(), audit.Filter{Types: []string{"live.view.start"}})
		return err == nil && len(p.Entries) == 1 && p.Entries[0].Entry.RequestID == "gone"
	})
}

func TestCloseCommitsQueuedAndRefusesLater(t *testing.T) {
	pool := pgtest.Pool(t)
	s, err := audit.New(audit.Config{Pool: pool, SigningKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(context.Background()) }()
	mustAppend(t, s, 3)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	s.Close() // twice is fine
	if _, err := s.Append(context.Background(), view(1)); !errors.Is(err, audit.ErrUnavailable) || !errors.Is(err, audit.ErrClosed) {
		t.Fatalf("append after close: %v", err)
	}
	// A final checkpoint covers everything written.
	cps, err := s.Checkpoints(context.Background(), 0, 1<<62)
	if err != nil || len(cps) == 0 || cps[len(cps)-1].Seq != 3 {
		t.Fatalf("checkpoints: %+v %v", cps, err)
	}
}

func TestRedact(t *testing.T) {
	s := start(t, pgtest.Pool(t), audit.Config{RedactKey: []byte("0123456789abcdef")})
	a, b := s.Redact("ticket-123"), s.Redact("ticket-123")
	if a != b || !strings.HasPrefix(a, "hmac-sha256:") || len(a) != len("hmac-sha256:")+64 || strings.Contains(a, "ticket") {
		t.Fatalf("redact: %q %q", a, b)
	}
	if s.Redact("ticket-124") == a {
		t.Fatal("different secrets redact alike")
	}
	// HMAC-SHA256(key "0123456789abcdef", "ticket-123"), computed independently.
	if want := "hmac-sha256:" + hmacHex("0123456789abcdef", "ticket-123"); a != want {
		t.Fatalf("got %s want %s", a, want)
	}
}

func TestKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys", "audit.key")
	k1, err := audit.LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := osStat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode: %v %v", st, err)
	}
	k2, err := audit.LoadOrCreateKey(path)
	if err != nil || !k1.Equal(k2) {
		t.Fatalf("reload: %v", err)
	}
	s := start(t, pgtest.Pool(t), audit.Config{KeyFile: path})
	pk, err := audit.ParsePublicKeyPEM(s.PublicKeyPEM())
	if err != nil || !pk.Equal(k1.Public()) {
		t.Fatalf("public key export: %v", err)
	}
}

// poll waits until cond holds (without sleeping blindly: it re-checks
// every few milliseconds, for at most 20 seconds).
func poll(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 20s")
		}
		<-tick.C
	}
}
