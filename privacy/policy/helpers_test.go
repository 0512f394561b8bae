package policy_test

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gwanje/gwanje/audit"
	"github.com/gwanje/gwanje/devices"
	"github.com/gwanje/gwanje/internal/pgtest"
	"github.com/gwanje/gwanje/privacy/policy"
)

var update = flag.Bool("update", false, "rewrite the golden files (and keep the browser screenshot) under testdata")

func TestMain(m *testing.M) { pgtest.Main(m) }

// testAuditor writes entries into a test table in the caller's transaction.
type testAuditor struct {
	fail atomic.Bool
}

func (a *testAuditor) AppendTx(ctx context.Context, tx pgx.Tx, e audit.Entry) (audit.Record, error) {
	if a.fail.Load() {
		return audit.Record{}, errors.New("audit store unavailable")
	}
	d, err := json.Marshal(e.Details)
	if err != nil {
		return audit.Record{}, err
	}
	var seq int64
	err = tx.QueryRow(ctx, `insert into test_audit (type, actor, reason, details) values ($1,$2,$3,$4) returning seq`,
		e.Type, e.Actor.Username, e.Reason, d).Scan(&seq)
	return audit.Record{Seq: seq, Time: time.Now()}, err
}

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// start is the test clock's start: 2026-05-18 10:00 KST.
var start = time.Date(2026, 5, 18, 10, 0, 0, 0, devices.Seoul)

type env struct {
	t     testing.TB
	ctx   context.Context
	pool  *pgxpool.Pool
	reg   *devices.Registry
	aud   *testAuditor
	clock *clock
	dev   devices.Actor
	actor policy.Actor
	sites map[string]devices.Site
	cams  map[string]devices.Camera
}

func newEnv(t testing.TB) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	pool := pgtest.Pool(t)
	if _, err := pool.Exec(ctx, `create table test_audit (seq bigserial primary key, type text not null, actor text not null,
		reason text not null default '', details jsonb)`); err != nil {
		t.Fatal(err)
	}
	aud := &testAuditor{}
	ck := &clock{t: start}
	reg, err := devices.New(devices.Config{Pool: pool, Auditor: aud, DataDir: t.TempDir(), Now: ck.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reg.Close)
	return &env{t: t, ctx: ctx, pool: pool, reg: reg, aud: aud, clock: ck,
		dev:   devices.Actor{Actor: audit.Actor{UserID: "u-tech", Username: "tech", Role: "technician"}},
		actor: policy.Actor{Actor: audit.Actor{UserID: "u-cpo", Username: "cpo", Role: "auditor"}, ClientAddr: "127.0.0.1"},
		sites: map[string]devices.Site{}, cams: map[string]devices.Camera{}}
}

func (e *env) service(inst policy.Institution, contracts policy.ContractSource) *policy.Service {
	e.t.Helper()
	s, err := policy.New(policy.Config{Pool: e.pool, Registry: e.reg, Auditor: e.aud, Contracts: contracts,
		Institution: inst, Now: e.clock.Now})
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

func (e *env) site(f devices.SiteFields) devices.Site {
	e.t.Helper()
	s, err := e.reg.CreateSite(e.ctx, f, e.dev)
	if err != nil {
		e.t.Fatalf("CreateSite %s: %v", f.Name, err)
	}
	e.sites[f.Name] = s
	return s
}

// cameras creates n cameras at a site from a template.
func (e *env) cameras(site devices.Site, n int, f devices.CameraFields) {
	e.t.Helper()
	for i := 1; i <= n; i++ {
		c := f
		c.SiteID = site.ID
		c.Name = fmt.Sprintf("%s-%02d", site.Name, i)
		cam, err := e.reg.CreateCamera(e.ctx, c, e.dev)
		if err != nil {
			e.t.Fatalf("CreateCamera %s: %v", c.Name, err)
		}
		e.cams[c.Name] = cam
	}
}

func (e *env) count(q string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.pool.QueryRow(e.ctx, q, args...).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// staticContracts is a ContractSource with fixed contracts.
type staticContracts []policy.Outsourcing

func (s staticContracts) Contracts(ctx context.Context, at time.Time) ([]policy.Outsourcing, error) {
	var out []policy.Outsourcing
	for _, c := range s {
		if (c.StartsOn.IsZero() || !at.Before(c.StartsOn)) && (c.EndsOn.IsZero() || at.Before(c.EndsOn)) {
			out = append(out, c)
		}
	}
	return out, nil
}
