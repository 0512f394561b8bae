package devices

import (
	"context"
	"encoding/json"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gwanje/gwanje/audit"
	"github.com/gwanje/gwanje/camsim"
	"github.com/gwanje/gwanje/internal/pgtest"
)

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
	err = tx.QueryRow(ctx, `insert into test_audit (type, actor, cameras, reason, details) values ($1,$2,$3,$4,$5) returning seq`,
		e.Type, e.Actor.Username, e.Cameras, e.Reason, d).Scan(&seq)
	return audit.Record{Seq: seq, Time: time.Now()}, err
}

type env struct {
	t       testing.TB
	ctx     context.Context
	pool    *pgxpool.Pool
	reg     *Registry
	aud     *testAuditor
	actor   Actor
	dataDir string
}

func newEnv(t *testing.T, mod ...func(*Config)) *env { return newEnvTB(t, mod...) }

func newEnvTB(t testing.TB, mod ...func(*Config)) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	t.Cleanup(cancel)
	pool := pgtest.Pool(t)
	if _, err := pool.Exec(ctx, `create table test_audit (seq bigserial primary key, type text not null, actor text not null,
		cameras text[], reason text not null default '', details jsonb)`); err != nil {
		t.Fatal(err)
	}
	aud := &testAuditor{}
	dataDir := t.TempDir()
	cfg := Config{Pool: pool, Auditor: aud, DataDir: dataDir, CallTimeout: 3 * time.Second,
		RegisterTimeout: 20 * time.Second, RTSPTimeout: 3 * time.Second, DiscoveryWait: 500 * time.Millisecond}
	for _, m := range mod {
		m(&cfg)
	}
	reg, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reg.Close)
	return &env{t: t, ctx: ctx, pool: pool, reg: reg, aud: aud, dataDir: dataDir,
		actor: Actor{Actor: audit.Actor{UserID: "u1", Username: "tech", Role: "technician"}}}
}

func (e *env) count(q string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.pool.QueryRow(e.ctx, q, args...).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

func (e *env) site(name string) Site {
	e.t.Helper()
	s, err := e.reg.CreateSite(e.ctx, SiteFields{Name: name, Org: "장흥군", Department: "안전총괄과",
		RoadAddress: "전라남도 장흥군 장흥읍 군청길 1", Position: &Position{34.68, 126.90},
		Contractor: Contractor{ID: "c-1", Name: "한빛정보통신", Contact: "김정비", Phone: "061-000-0000"}}, e.actor)
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

func startCam(t *testing.T, cfg camsim.Config) *camsim.Camera {
	t.Helper()
	cam, err := camsim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := cam.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cam.Close() })
	return cam
}

func fields(site Site, name string) CameraFields {
	return CameraFields{SiteID: site.ID, Name: name, Purpose: "방범", Resolution: 200, Coverage: "반경 100M 이내",
		Direction: "360도 전방면", InstallYM: "202405", StoragePlace: "장흥군 CCTV 통합관제센터",
		MonitoringMethod: "상시 모니터링", Manager: "홍길동", ManagerPhone: "061-860-0000", Labels: []string{"Sensitive"}}
}
