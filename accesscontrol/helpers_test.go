package accesscontrol

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gwanje/gwanje/audit"
	"github.com/gwanje/gwanje/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// testAuditor writes entries into a test table inside the caller's
// transaction, like the real store does.
type testAuditor struct {
	fail atomic.Bool
}

func (a *testAuditor) AppendTx(ctx context.Context, tx pgx.Tx, e audit.Entry) (audit.Record, error) {
	if a.fail.Load() {
		return audit.Record{}, errors.New("audit store down")
	}
	d, err := json.Marshal(e.Details)
	if err != nil {
		return audit.Record{}, err
	}
	var r audit.Record
	err = tx.QueryRow(ctx, `insert into test_audit (type, outcome, user_id, username, reason, session_id, details)
		values ($1, $2, $3, $4, $5, $6, $7) returning seq, at`,
		e.Type, string(e.Outcome), e.Actor.UserID, e.Actor.Username, e.Reason, e.SessionID, d).Scan(&r.Seq, &r.Time)
	return r, err
}

type auditRow struct {
	Type, Outcome, UserID, Username, Reason, SessionID string
	Details                                            map[string]any
}

func auditRows(t *testing.T, pool *pgxpool.Pool, typ string) []auditRow {
	t.Helper()
	rows, err := pool.Query(context.Background(), `select type, outcome, user_id, username, reason, session_id, details
		from test_audit where type = $1 or $1 = '' order by seq`, typ)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (auditRow, error) {
		var a auditRow
		err := r.Scan(&a.Type, &a.Outcome, &a.UserID, &a.Username, &a.Reason, &a.SessionID, &a.Details)
		return a, err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

func (c *testClock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type recordingNotifier struct {
	mu   sync.Mutex
	msgs []struct{ Subject, Data string }
}

func (n *recordingNotifier) Publish(subject string, data []byte) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.msgs = append(n.msgs, struct{ Subject, Data string }{subject, string(data)})
	return nil
}

func (n *recordingNotifier) revoked() []RevokedNotice {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []RevokedNotice
	for _, m := range n.msgs {
		if m.Subject == SubjectRevoked {
			var r RevokedNotice
			json.Unmarshal([]byte(m.Data), &r)
			out = append(out, r)
		}
	}
	return out
}

type env struct {
	t        *testing.T
	ctx      context.Context
	pool     *pgxpool.Pool
	svc      *Service
	clock    *testClock
	auditor  *testAuditor
	notifier *recordingNotifier
	admin    Principal
	manager  Principal // the first start's responsible manager: grant.approve
	cfg      Config
}

const (
	adminPassword   = "correct horse battery staple"
	managerPassword = "second pair of eyes 2026"
)

var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, seoul)

var seoul = func() *time.Location {
	l, err := time.LoadLocation("Asia/Seoul")
	if err != nil {
		panic(err)
	}
	return l
}()

// cheapArgon2 keeps tests fast; production defaults are far costlier.
var cheapArgon2 = Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1}

func newEnv(t *testing.T, tweak func(*Config)) *env {
	t.Helper()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	if _, err := pool.Exec(ctx, `create table test_audit (seq bigserial primary key, at timestamptz not null default now(),
		type text not null, outcome text not null, user_id text not null, username text not null, reason text not null,
		session_id text not null, details jsonb)`); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, ctx: ctx, pool: pool, clock: &testClock{t: t0}, auditor: &testAuditor{}, notifier: &recordingNotifier{}}
	e.cfg = Config{
		Pool: pool, Auditor: e.auditor, Notifier: e.notifier, Now: e.clock.Now, Argon2: cheapArgon2,
		FailureDelay: time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if tweak != nil {
		tweak(&e.cfg)
	}
	svc, err := New(ctx, e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	e.svc = svc
	res, err := svc.Bootstrap(ctx, BootstrapConfig{Password: adminPassword, ManagerPassword: managerPassword})
	if err != nil || !res.Created {
		t.Fatalf("bootstrap: %v %+v", err, res)
	}
	e.admin = e.login("admin", adminPassword).Principal
	e.manager = e.login("manager", managerPassword).Principal
	return e
}

func (e *env) login(user, pw string) LoginResult {
	e.t.Helper()
	r, err := e.svc.Login(e.ctx, LoginRequest{Username: user, Password: pw, ClientAddr: "127.0.0.1:5000"})
	if err != nil {
		e.t.Fatalf("login %s: %v", user, err)
	}
	return r
}

func (e *env) loginFrom(user, pw, addr string) LoginResult {
	e.t.Helper()
	r, err := e.svc.Login(e.ctx, LoginRequest{Username: user, Password: pw, ClientAddr: addr})
	if err != nil {
		e.t.Fatalf("login %s from %s: %v", user, addr, err)
	}
	return r
}

func (e *env) change(reason string) Change { return Change{By: e.admin, Reason: reason} }

func (e *env) org(kind OrgKind, name string) Org {
	e.t.Helper()
	o, err := e.svc.CreateOrg(e.ctx, e.change("test"), kind, name)
	if err != nil {
		e.t.Fatal(err)
	}
	return o
}

// user provisions an account with a password of its own (no change
// needed), as the privileged setup path does.
func (e *env) user(name, org, pw string) User {
	e.t.Helper()
	u, err := e.svc.Provision(e.ctx, "test", NewUser{Username: name, OrgID: org}, pw)
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

// grant makes a grant in force at once (the privileged setup path, outside
// four eyes), for tests about decisions rather than approval.
func (e *env) grant(reason string, g NewGrant) (Grant, error) {
	return e.svc.createGrant(e.ctx, Change{By: provisionActor, Reason: reason}, g, true)
}
