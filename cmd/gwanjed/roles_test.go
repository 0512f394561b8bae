package main

import (
	"context"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"

	"github.com/gwanje/gwanje/camsim"
	"github.com/gwanje/gwanje/internal/tlsutil"
	pb "github.com/gwanje/gwanje/proto/gwanje/v1"
)

// TestControlAndStreamNodeInSeparateProcesses runs the control role in one
// gwanjed and a stream node in another, meeting only through PostgreSQL and
// NATS: a live view asked of control is served by the other process.
func TestControlAndStreamNodeInSeparateProcesses(t *testing.T) {
	const adminPW = "roles-test-Passw0rd"
	dirA := newDataDir(t)
	a, err := start(t, dirA, "--roles", "control,devices", "--admin-password", adminPW)
	if err != nil {
		t.Fatal(err)
	}
	natsURL := regexp.MustCompile(`nats=(nats://\S+)`).FindStringSubmatch(a.output())
	if natsURL == nil {
		t.Fatalf("no NATS URL in %s", a.output())
	}
	q := url.Values{"host": {filepath.Join(dirA, "postgres-run")}, "port": {"5432"}}
	dbURL := (&url.URL{Scheme: "postgres", User: url.User("postgres"), Path: "/postgres", RawQuery: q.Encode()}).String()
	b, err := start(t, newDataDir(t), "--roles", "stream", "--database-url", dbURL, "--nats-url", natsURL[1],
		"--key-dir", filepath.Join(dirA, "keys"))
	if err != nil {
		t.Fatal(err)
	}
	rtspB := regexp.MustCompile(`rtsp=(rtsp://\S+)`).FindStringSubmatch(b.output())
	if rtspB == nil {
		t.Fatalf("no relay URL in %s", b.output())
	}

	cam, err := camsim.New(camsim.Config{Dialect: camsim.DialectHikvision})
	if err != nil {
		t.Fatal(err)
	}
	if err := cam.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer cam.Close()

	tc, err := tlsutil.ClientConfig(filepath.Join(dirA, "tls", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(a.grpc, grpc.WithTransportCredentials(credentials.NewTLS(tc)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	acc := pb.NewAccessServiceClient(conn)
	login := func(user, pw string) context.Context {
		res, err := acc.Login(ctx, &pb.LoginRequest{Username: user, Password: pw})
		if err != nil {
			t.Fatalf("login %s: %v", user, err)
		}
		return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+res.Token)
	}
	admin := login("admin", adminPW)
	orgs, err := acc.ListOrganizations(admin, &pb.ListOrganizationsRequest{})
	if err != nil || len(orgs.Organizations) == 0 {
		t.Fatalf("orgs: %v", err)
	}
	// Accounts get one-time passwords their owners replace; footage rights
	// take effect when the first start's responsible manager approves them.
	const pw = "roles-user-Passw0rd"
	activate := func(user, oneTime string) context.Context {
		ctx := login(user, oneTime)
		if _, err := acc.ChangePassword(ctx, &pb.ChangePasswordRequest{CurrentPassword: oneTime, NewPassword: pw}); err != nil {
			t.Fatalf("change %s's one-time password: %v", user, err)
		}
		return ctx
	}
	mgrPW := regexp.MustCompile(`responsible manager "manager" .*one-time password (\S+)`).FindStringSubmatch(a.output())
	if mgrPW == nil {
		t.Fatalf("no one-time password for the first responsible manager in %s", a.output())
	}
	approver := activate("manager", mgrPW[1])
	for _, role := range []string{"technician", "operator", "manager"} {
		u, err := acc.CreateUser(admin, &pb.CreateUserRequest{Username: "t-" + role, DisplayName: role, OrgId: orgs.Organizations[0].Id, Reason: "test"})
		if err != nil {
			t.Fatal(err)
		}
		activate("t-"+role, u.InitialPassword)
		g, err := acc.CreateGrant(admin, &pb.CreateGrantRequest{UserId: u.User.Id, Role: role, Scope: &pb.Scope{All: true}, Reason: "test"})
		if err != nil {
			t.Fatal(err)
		}
		if g.Status == "pending" {
			if _, err := acc.ApproveGrant(approver, &pb.ApproveGrantRequest{GrantId: g.Id, Reason: "test"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	dev := pb.NewDeviceServiceClient(conn)
	tech := login("t-technician", pw)
	site, err := dev.CreateSite(tech, &pb.CreateSiteRequest{Fields: &pb.SiteFields{Name: "역전"}, Reason: "test"})
	if err != nil {
		t.Fatal(err)
	}
	info := cam.Info()
	reg, err := dev.RegisterCamera(tech, &pb.RegisterCameraRequest{DeviceUrl: cam.DeviceServiceURL(), Username: info.Username, Password: info.Password,
		Reason: "test", Fields: &pb.CameraFields{SiteId: site.Id, Name: "역전", Purpose: "방범"}})
	if err != nil {
		t.Fatal(err)
	}

	live, err := pb.NewStreamServiceClient(conn).StartLiveView(login("t-operator", pw), &pb.StartLiveViewRequest{CameraId: reg.Camera.Id, Purpose: pb.Purpose_PURPOSE_CRIME_PREVENTION})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(live.Url, rtspB[1]+"/") {
		t.Fatalf("live view served at %s, not by the stream node %s", live.Url, rtspB[1])
	}
	u, err := base.ParseURL(live.Url)
	if err != nil {
		t.Fatal(err)
	}
	tcp := gortsplib.ProtocolTCP
	c := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Protocol: &tcp}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	desc, _, err := c.Describe(u)
	if err != nil {
		t.Fatalf("the stream node refused the ticket control issued: %v", err)
	}
	var h264 *format.H264
	medi := desc.FindFormat(&h264)
	if medi == nil {
		t.Fatal("no H.264")
	}
	if _, err := c.Setup(desc.BaseURL, medi, 0, 0); err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	c.OnPacketRTP(medi, h264, func(*rtp.Packet) { n.Add(1) })
	if _, err := c.Play(nil); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for n.Load() < 20 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d packets from the stream node", n.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}

	// A manager asks control, which serves no video itself, for the open
	// views and ends the operator's on the other node.
	sc := pb.NewStreamServiceClient(conn)
	mgr := login("t-manager", pw)
	list, err := sc.ListLiveSessions(mgr, &pb.ListLiveSessionsRequest{All: true})
	if err != nil || len(list.Sessions) != 1 || list.Sessions[0].Username != "t-operator" {
		t.Fatalf("manager's view of the stream node's sessions: %v %v", list, err)
	}
	if _, err := sc.StopLiveView(mgr, &pb.StopLiveViewRequest{SessionId: list.Sessions[0].SessionId, Reason: "점검"}); err != nil {
		t.Fatal(err)
	}
	ended := make(chan error, 1)
	go func() { ended <- c.Wait() }()
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("the view on the other node was not ended")
	}
	b.stop(t)
	a.stop(t)
}
