package control

import (
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"

	ac "github.com/gwanje/gwanje/accesscontrol"
	"github.com/gwanje/gwanje/audit"
	"github.com/gwanje/gwanje/devices"
	"github.com/gwanje/gwanje/devices/health"
	"github.com/gwanje/gwanje/events"
	"github.com/gwanje/gwanje/internal/pgtest"
	"github.com/gwanje/gwanje/internal/tlsutil"
	"github.com/gwanje/gwanje/privacy/export"
	"github.com/gwanje/gwanje/privacy/policy"
	"github.com/gwanje/gwanje/privacy/requests"
	"github.com/gwanje/gwanje/stream"
	"github.com/gwanje/gwanje/stream/playback"
	"github.com/gwanje/gwanje/stream/record"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const testPassword = "matrix-test-Passw0rd"

// roles are the built-in roles the tests log in as, one user each.
var roles = []string{"operator", "manager", "police", "technician", "contractor", "auditor", "admin"}

// harness is a real control service on loopback with TLS, on a fresh
// database, with one logged-in user per built-in role.
type harness struct {
	t       *testing.T
	srv     *Server
	conn    *grpc.ClientConn
	access  *ac.Service
	audit   *audit.Store
	devices *devices.Registry
	relay   *stream.Relay
	tickets *stream.Tickets
	node    *lazyNode
	bus     *events.Bus
	// recStore is the record store; tests start a recorder on it.
	recStore *record.Store
	// playback is the node's playback server (RTSP, and browsers through
	// its Handler).
	playback *playback.Server
	links    *export.Links
	exporter *export.Exporter
	admin    ac.Principal
	// adminToken is the bootstrap administrator's session token.
	adminToken string
	tokens     map[string]string // role → session token
	users      map[string]ac.User
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	return newHarnessOn(t, pgtest.Pool(t))
}

func newHarnessOn(t *testing.T, pool *pgxpool.Pool) *harness {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	store, err := audit.New(audit.Config{Pool: pool, KeyFile: filepath.Join(t.TempDir(), "audit.key")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	go store.Run(ctx)
	bus, err := events.New(ctx, events.Config{DataDir: t.TempDir(), ListenAddr: "-"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bus.Close)
	svc, err := ac.New(ctx, ac.Config{
		Pool: pool, Auditor: store, Notifier: bus.Notices(), Subscriber: bus.Notices(),
		Argon2:       ac.Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1},
		FailureDelay: time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	go svc.Run(ctx)

	reg, err := devices.New(devices.Config{Pool: pool, Auditor: store, DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reg.Close)
	store.SetCameraNamer(LedgerCameras(reg))

	tlsCfg, err := tlsutil.Ensure(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	watcher, err := health.NewWatcher(health.WatcherConfig{Conn: bus.Conn})
	if err != nil {
		t.Fatal(err)
	}
	alarms, err := health.NewAlarms(health.AlarmsConfig{Conn: bus.Conn, Pool: pool, Auditor: store})
	if err != nil {
		t.Fatal(err)
	}
	go alarms.Run(ctx)
	t.Cleanup(alarms.Close)

	pol, err := policy.New(policy.Config{Pool: pool, Registry: reg, Auditor: store})
	if err != nil {
		t.Fatal(err)
	}

	recStore, err := record.NewStore(record.StoreConfig{Pool: pool, Dir: t.TempDir(), Node: "rec-test", MinFreeBytes: 1})
	if err != nil {
		t.Fatal(err)
	}
	pbTickets := playback.NewTickets(pool)
	pbServer, err := playback.New(playback.Config{Store: recStore, Tickets: pbTickets, Auditor: store, RTSPAddress: "127.0.0.1:0",
		Authorizer: AccessDecider(svc, reg, time.Now), Notices: bus.Notices()})
	if err != nil {
		t.Fatal(err)
	}
	if err := pbServer.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pbServer.Close() })
	if err := recStore.RegisterNode(ctx, pbServer.URL()); err != nil {
		t.Fatal(err)
	}

	exporter, err := export.New(export.Config{Store: recStore, DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	links, err := export.NewLinks(export.LinksConfig{Pool: pool, Auditor: store, Dir: exporter.Dir(),
		Authorizer: AccessDecider(svc, reg, time.Now), Notices: bus.Notices()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(links.Close)
	go links.Run(ctx)
	priv, err := requests.New(requests.Config{Pool: pool, Auditor: store, AuditQuery: store, Decider: svc,
		Cameras: PrivacyCameras(reg), Store: recStore, Exporter: exporter, Links: links, Publisher: bus.Notices()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(priv.Close)

	node := &lazyNode{}
	tickets := stream.NewTickets(pool, node)
	relay, err := stream.New(stream.Config{
		RTSPAddress: "127.0.0.1:0", UDPRTPAddress: "-", Tickets: tickets, Cameras: RelayCameras(reg), Auditor: store,
		Authorizer: AccessDecider(svc, reg, time.Now), Notices: bus.Notices(), Linger: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := relay.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { relay.Close() })
	node.r = relay

	h := &harness{t: t, access: svc, audit: store, devices: reg, relay: relay, tickets: tickets, node: node, bus: bus, recStore: recStore, playback: pbServer, links: links, exporter: exporter, tokens: map[string]string{}, users: map[string]ac.User{}}
	srv, err := New(Config{Listener: lis, TLS: tlsCfg, Access: svc, Audit: store, Devices: reg, Tickets: tickets, Relay: relay,
		Health: &Health{Watcher: watcher, Alarms: alarms, Pool: pool,
			Current: func(ctx context.Context, id string) (health.Status, bool, error) {
				return health.CurrentStatus(ctx, bus.JS, id)
			}}, Policy: pol,
		Recording: &Recording{Pool: pool, Tickets: pbTickets, Auditor: store, Nodes: PoolRecorders(bus.JS)}, Privacy: priv, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	h.srv = srv
	go srv.Run(ctx)
	t.Cleanup(srv.Close)

	cc := tlsCfg.Clone()
	cc.Certificates = nil
	cc.InsecureSkipVerify = true // the server's own freshly made certificate; TLS itself is tested in cmd/
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(credentials.NewTLS(cc)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	h.conn = conn

	boot, err := svc.Bootstrap(ctx, ac.BootstrapConfig{Username: "root", Password: testPassword})
	if err != nil {
		t.Fatal(err)
	}
	adminRes, err := svc.Login(ctx, ac.LoginRequest{Username: boot.Username, Password: testPassword})
	if err != nil {
		t.Fatal(err)
	}
	h.admin = adminRes.Principal
	h.adminToken = adminRes.Token
	by := ac.Change{By: h.admin, Reason: "test setup"}
	dept, err := svc.CreateOrg(ctx, by, ac.OrgDepartment, "안전총괄과")
	if err != nil {
		t.Fatal(err)
	}
	police, err := svc.CreateOrg(ctx, by, ac.OrgPolice, "○○경찰서")
	if err != nil {
		t.Fatal(err)
	}
	company, err := svc.CreateOrg(ctx, by, ac.OrgContractor, "한빛정보통신")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if _, err := svc.CreateContract(ctx, by, ac.ContractInput{
		OrgID: company.ID, Title: "CCTV 유지보수", Sites: []string{"site-a"},
		StartsAt: now.Add(-24 * time.Hour), EndsAt: now.Add(365 * 24 * time.Hour),
		Clauses: ac.Clauses{PurposeAndScope: "유지보수", SubcontractingRestriction: "재위탁 금지",
			AccessRestrictionAndSafeguards: "지정 계정", Inspection: "분기 점검", Liability: "손해배상"},
	}); err != nil {
		t.Fatal(err)
	}
	for _, role := range roles {
		org := dept.ID
		switch role {
		case "police":
			org = police.ID
		case "contractor":
			org = company.ID
		}
		scope := ac.Scope{All: true}
		if role == "contractor" {
			scope = ac.Scope{Sites: []string{"site-a"}, Purposes: []ac.Purpose{ac.PurposeMaintenance}}
		}
		// The privileged setup path: accounts with their own password and
		// grants in force at once (four eyes are tested on their own).
		u, err := svc.Provision(ctx, "test setup", ac.NewUser{Username: "u-" + role, DisplayName: role, OrgID: org}, testPassword,
			ac.NewGrant{Role: role, Scope: scope})
		if err != nil {
			t.Fatalf("create %s: %v", role, err)
		}
		h.users[role] = u
	}
	if err := svc.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	for _, role := range roles {
		res, err := svc.Login(ctx, ac.LoginRequest{Username: "u-" + role, Password: testPassword})
		if err != nil {
			t.Fatalf("login %s: %v", role, err)
		}
		h.tokens[role] = res.Token
	}
	return h
}

// lazyNode picks the test's relay, which starts after the tickets exist;
// web is its WHEP address once the test starts one (startWHEP).
type lazyNode struct {
	r   *stream.Relay
	web string
}

func (n *lazyNode) PickNode(context.Context, string) (stream.Node, error) {
	node := n.r.Node()
	node.WebURL = n.web
	return node, nil
}

// asAdmin is a context carrying the administrator's session.
func (h *harness) asAdmin() context.Context {
	return withToken(h.as(""), h.adminToken)
}

func withToken(ctx context.Context, token string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
}

// as returns a context carrying role's session token ("" for anonymous).
func (h *harness) as(role string) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	h.t.Cleanup(cancel)
	if role == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+h.tokens[role])
}
