package requests_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	ac "github.com/gwanje/gwanje/accesscontrol"
	"github.com/gwanje/gwanje/audit"
	"github.com/gwanje/gwanje/camsim"
	"github.com/gwanje/gwanje/internal/pgtest"
	"github.com/gwanje/gwanje/privacy/export"
	"github.com/gwanje/gwanje/privacy/requests"
	"github.com/gwanje/gwanje/stream"
	"github.com/gwanje/gwanje/stream/record"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const (
	dept      = "교통안전과"
	otherDept = "공원녹지과"
	camA      = "cam-a"
	camOther  = "cam-park"
	password  = "correct horse battery staple"
)

// realClock follows wall time, shifted by an offset the test can move.
type realClock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *realClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *realClock) Advance(d time.Duration) { c.mu.Lock(); c.off += d; c.mu.Unlock() }

type cameras map[string]requests.CameraInfo

func (m cameras) Camera(_ context.Context, id string) (requests.CameraInfo, error) {
	c, ok := m[id]
	if !ok {
		return c, fmt.Errorf("unknown camera %s", id)
	}
	return c, nil
}

func (m cameras) SiteCameras(_ context.Context, site string) ([]string, error) {
	var out []string
	for id, c := range m {
		if c.Site == site {
			out = append(out, id)
		}
	}
	return out, nil
}

type env struct {
	t       *testing.T
	ctx     context.Context
	pool    *pgxpool.Pool
	audit   *audit.Store
	access  *ac.Service
	store   *record.Store
	exp     *export.Exporter
	links   *export.Links
	svc     *requests.Service
	clock   *realClock
	users   map[string]ac.Principal
	dataDir string
}

type envOpts struct {
	publisher requests.Publisher
	now       func() time.Time
	masker    export.Masker
	interval  time.Duration
}

func newEnv(t *testing.T, o envOpts) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{t: t, ctx: ctx, pool: pgtest.Pool(t), clock: &realClock{}, users: map[string]ac.Principal{}, dataDir: t.TempDir()}
	now := o.now
	if now == nil {
		now = e.clock.Now
	}
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	as, err := audit.New(audit.Config{Pool: e.pool, SigningKey: key})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = as.Run(context.Background()) }()
	t.Cleanup(func() { as.Close(); <-done })
	e.audit = as
	acs, err := ac.New(ctx, ac.Config{Pool: e.pool, Auditor: as, FailureDelay: time.Millisecond,
		Argon2: ac.Argon2Params{Time: 1, MemoryKiB: 8 << 10, Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(acs.Close)
	e.access = acs
	if _, err := acs.Bootstrap(ctx, ac.BootstrapConfig{Password: password}); err != nil {
		t.Fatal(err)
	}
	lr, err := acs.Login(ctx, ac.LoginRequest{Username: "admin", Password: password})
	if err != nil {
		t.Fatal(err)
	}
	by := ac.Change{By: lr.Principal, Reason: "test setup"}
	orgs := map[ac.OrgKind]string{}
	for kind, name := range map[ac.OrgKind]string{ac.OrgDepartment: dept, ac.OrgPolice: "OO경찰서", ac.OrgContractor: "OO정비"} {
		o, err := acs.CreateOrg(ctx, by, kind, name)
		if err != nil {
			t.Fatal(err)
		}
		orgs[kind] = o.ID
	}
	purposes := []ac.Purpose{ac.PurposeCrimePrevention, ac.PurposeSubjectRequest}
	for _, u := range []struct {
		name, role string
		org        ac.OrgKind
		scope      ac.Scope
	}{
		{"manager1", ac.RoleManager, ac.OrgDepartment, ac.Scope{Departments: []string{dept}, Purposes: purposes}},
		{"manager2", ac.RoleManager, ac.OrgDepartment, ac.Scope{Departments: []string{dept}, Purposes: purposes}},
		{"parkmanager", ac.RoleManager, ac.OrgDepartment, ac.Scope{Departments: []string{otherDept}, Purposes: purposes}},
		{"police1", ac.RolePolice, ac.OrgPolice, ac.Scope{All: true, Purposes: purposes}},
		{"operator1", ac.RoleOperator, ac.OrgDepartment, ac.Scope{All: true, Purposes: purposes}},
		{"contractor1", "", ac.OrgContractor, ac.Scope{}},
	} {
		var grants []ac.NewGrant
		if u.role != "" {
			grants = append(grants, ac.NewGrant{Role: u.role, Scope: u.scope})
		}
		usr, err := acs.Provision(ctx, "test setup", ac.NewUser{Username: u.name, DisplayName: u.name, OrgID: orgs[u.org]}, password, grants...)
		if err != nil {
			t.Fatal(err)
		}
		e.users[u.name] = ac.Principal{UserID: usr.ID, Username: u.name, OrgID: orgs[u.org], Roles: []string{u.role}, ClientAddr: "127.0.0.1:5000"}
	}
	if err := acs.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	e.store, err = record.NewStore(record.StoreConfig{Pool: e.pool, Dir: t.TempDir(), Node: "node-a", MinFreeBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	e.exp, err = export.New(export.Config{Store: e.store, DataDir: e.dataDir, Masker: o.masker, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	e.links, err = export.NewLinks(export.LinksConfig{Pool: e.pool, Auditor: as, Dir: e.exp.Dir(), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	e.svc, err = requests.New(requests.Config{Pool: e.pool, Auditor: as, AuditQuery: as, Decider: acs, Store: e.store,
		Exporter: e.exp, Links: e.links, Publisher: o.publisher, Now: now, CheckInterval: o.interval,
		Cameras: cameras{
			camA:     {ID: camA, Name: "교차로 1번", Place: "중앙사거리", Site: "site-crossing", Department: dept},
			camOther: {ID: camOther, Site: "site-park", Department: otherDept},
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.svc.Close)
	return e
}

// camsimUpstreams resolves camera IDs to camsim cameras.
type camsimUpstreams map[string]*camsim.Camera

func (m camsimUpstreams) Upstream(_ context.Context, id, profile string) (stream.Upstream, error) {
	c, ok := m[id]
	if !ok {
		return stream.Upstream{}, stream.ErrUnknownCamera
	}
	in := c.Info()
	return stream.Upstream{URL: c.RTSPURL(profile), Username: in.Username, Password: in.Password}, nil
}

// recordCamsim records real H.264 from a camsim camera into the store
// until n segments are indexed, and returns them.
func (e *env) recordCamsim(id string, n int) []record.Segment {
	e.t.Helper()
	cam, err := camsim.New(camsim.Config{ID: id, KeyframeInterval: time.Second})
	if err != nil {
		e.t.Fatal(err)
	}
	if err := cam.Start(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	defer cam.Close()
	rec, err := record.New(record.Config{Store: e.store, SkipCheck: true, SegmentDuration: 2 * time.Second,
		Cameras: record.CamerasFunc(func(context.Context) ([]record.Camera, error) {
			return []record.Camera{{ID: id, RetentionDays: 30}}, nil
		}),
		Source: &record.RTSPSource{Upstreams: camsimUpstreams{id: cam}}})
	if err != nil {
		e.t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- rec.Run(context.Background()) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		l, err := e.store.ListRecordings(e.ctx, id, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
		if err != nil {
			e.t.Fatal(err)
		}
		if len(l.Segments) >= n {
			break
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("camera %s: %d segments recorded, want %d", id, len(l.Segments), n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	rec.Close()
	if err := <-done; err != nil {
		e.t.Fatal(err)
	}
	l, err := e.store.ListRecordings(e.ctx, id, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil {
		e.t.Fatal(err)
	}
	return l.Segments
}

func (e *env) ledger(from, to time.Time) []audit.LedgerRow {
	e.t.Helper()
	rows, err := e.audit.Ledger(e.ctx, from, to)
	if err != nil {
		e.t.Fatal(err)
	}
	return rows
}

func (e *env) entries(typ string, outcome audit.Outcome) []audit.Stored {
	e.t.Helper()
	pg, err := e.audit.Query(e.ctx, audit.Filter{Types: []string{typ}, Outcome: outcome, Limit: 1000})
	if err != nil {
		e.t.Fatal(err)
	}
	return pg.Entries
}
