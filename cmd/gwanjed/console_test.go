package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"

	"github.com/gwanje/gwanje/camsim"
	"github.com/gwanje/gwanje/control"
	"github.com/gwanje/gwanje/internal/browsertest"
	"github.com/gwanje/gwanje/internal/tlsutil"
	pb "github.com/gwanje/gwanje/proto/gwanje/v1"
)

var updateScreens = flag.Bool("update-screenshots", false, "write the console's screenshots to testdata/ (checked by eye in review)")

var httpsRE = regexp.MustCompile(`msg=serving .* https=(\S+)`)

// TestConsoleShift is an operator's shift in the console, in real Chromium
// against a demo gwanjed: log in, find a camera by search, state the
// purpose, see its frames decoding on a tile over WebRTC, take it offline
// (camsim) and acknowledge the alarm with a note, log out (the video stops,
// the live view ends on the server, the cookie is gone). On the way: the
// cookie's flags as the browser holds them, the page's CSP with no
// violation, and a cross-site page's call refused.
//
//	go test ./cmd/gwanjed -run TestConsoleShift -v [-update-screenshots]
func TestConsoleShift(t *testing.T) {
	tab := browsertest.Start(t, "--ignore-certificate-errors", "--window-size=1920,1080", "--lang=ko-KR")
	const password = "console-shift-Passw0rd"
	dir := newDataDir(t)
	base := fmt.Sprintf("127.%d.%d.1", 100+rand.IntN(100), rand.IntN(250))
	p, err := start(t, dir, "--demo", "--demo-password", password, "--demo-base-ip", base, "--health-interval", "1s", "--offline-alarm-after", "2s")
	if err != nil {
		t.Fatal(err)
	}
	m := httpsRE.FindStringSubmatch(p.output())
	if m == nil {
		t.Fatalf("no https address in the serving line: %s", p.output())
	}
	origin := "https://" + m[1]
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	// The camera the shift is about: the technician installs it.
	conn := grpcConn(t, p, dir)
	tech := loginAs(ctx, t, conn, "technician", password)
	cam, err := camsim.New(camsim.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := cam.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cam.Close() })
	sites, err := pb.NewDeviceServiceClient(conn).ListSites(tech, &pb.ListSitesRequest{})
	if err != nil || len(sites.GetSites()) == 0 {
		t.Fatalf("sites: %v %v", sites, err)
	}
	info := cam.Info()
	reg, err := pb.NewDeviceServiceClient(conn).RegisterCamera(tech, &pb.RegisterCameraRequest{
		DeviceUrl: cam.DeviceServiceURL(), Username: info.Username, Password: info.Password, Reason: "설치",
		Fields: &pb.CameraFields{SiteId: sites.GetSites()[0].GetId(), Name: "시험 교차로 북측", Purpose: "방범", Department: "교통행정과"}})
	if err != nil {
		t.Fatal(err)
	}
	camID := reg.GetCamera().GetId()
	manager := loginAs(ctx, t, conn, "manager", password)

	run := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		c, cancel := context.WithTimeout(tab, 60*time.Second)
		defer cancel()
		if err := chromedp.Do(c, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	// waitJS polls an expression in the page until it is true.
	waitJS := func(what, js string, within time.Duration) {
		t.Helper()
		deadline := time.Now().Add(within)
		for {
			if evalJS[bool](t, tab, js) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out after %v waiting for %s", within, what)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	// The login screen, Korean first.
	run("open the console", chromedp.Navigate(origin+"/"), chromedp.WaitVisible(chromedp.ID("#login-user")))
	evalJS[bool](t, tab, `window.__csp = []; document.addEventListener("securitypolicyviolation", e => __csp.push(e.violatedDirective + " " + e.blockedURI)); true`)
	title := evalJS[string](t, tab, `document.querySelector("#login-title").textContent`)
	if !strings.Contains(title, "관제 콘솔") || !strings.Contains(title, "Control console") {
		t.Errorf("login title %q: want Korean with English beside", title)
	}

	// Log in.
	t0 := time.Now()
	run("log in", chromedp.SendKeys(chromedp.ID("#login-user"), "operator"), chromedp.SendKeys(chromedp.ID("#login-password"), password),
		chromedp.Click(chromedp.ID("#login-submit")))
	waitJS("the camera tree", `document.querySelectorAll("button.cam").length >= 9`, 30*time.Second)

	// The cookie as the browser holds it: HttpOnly, Secure, SameSite=Strict,
	// and out of script's reach.
	cookies := browserCookies(t, tab, origin)
	var sess *network.Cookie
	for _, c := range cookies {
		if c.Name == control.SessionCookie {
			sess = c
		}
	}
	if sess == nil || !sess.HTTPOnly || !sess.Secure || sess.SameSite != network.CookieSameSiteStrict || sess.Path != "/" {
		t.Fatalf("session cookie in the browser: %+v", sess)
	}
	docCookie := evalJS[string](t, tab, `document.cookie`)
	if strings.Contains(docCookie, sess.Value) || strings.Contains(docCookie, "gwanje") {
		t.Fatalf("script can read the session: %q", docCookie)
	}

	// Search narrows the tree to the camera.
	run("search", chromedp.SendKeys(chromedp.ID("#camera-search"), "시험 교차로"))
	waitJS("the search result", `document.querySelectorAll("button.cam").length === 1 && !!document.querySelector('button.cam[data-camera="`+camID+`"]')`, 10*time.Second)

	// Open it on the selected tile: the purpose is asked once, first.
	run("open the camera", chromedp.Click(chromedp.CSS(`button.cam[data-camera="`+camID+`"]`)))
	run("state the purpose", chromedp.WaitVisible(chromedp.ID("#purpose-form")),
		chromedp.Click(chromedp.CSS(`input[data-purpose="1"]`)), chromedp.Click(chromedp.ID("#purpose-ok")))
	waitJS("frames on tile 1", `document.querySelector("#tile-0").dataset.state === "playing"`, 30*time.Second)
	firstTile := time.Since(t0)
	t.Logf("login → first tile playing: %v (includes typing the search and choosing the purpose)", firstTile.Round(time.Millisecond))
	var frames [2]int
	frames[0] = evalJS[int](t, tab, `document.querySelector("#tile-0 video").getVideoPlaybackQuality().totalVideoFrames`)
	waitJS("more decoded frames", fmt.Sprintf(`document.querySelector("#tile-0 video").getVideoPlaybackQuality().totalVideoFrames > %d`, frames[0]+5), 15*time.Second)
	frames[1] = evalJS[int](t, tab, `document.querySelector("#tile-0 video").getVideoPlaybackQuality().totalVideoFrames`)
	width := evalJS[int](t, tab, `document.querySelector("#tile-0 video").videoWidth`)
	if width == 0 {
		t.Fatal("the tile's video has no picture size")
	}
	purposeNow := evalJS[string](t, tab, `document.querySelector("#purpose-now").textContent`)
	if !strings.Contains(purposeNow, "범죄 예방·수사") {
		t.Errorf("the stated purpose is not shown: %q", purposeNow)
	}
	// The server holds one live view of the camera for the operator, over WebRTC.
	ls, err := pb.NewStreamServiceClient(conn).ListLiveSessions(manager, &pb.ListLiveSessionsRequest{All: true, CameraId: camID})
	if err != nil || len(ls.GetSessions()) != 1 {
		t.Fatalf("live sessions of the camera: %v %v", ls, err)
	}
	screenshot(t, tab, "console-1920x1080.png", 1920, 1080)
	screenshot(t, tab, "console-1280x800.png", 1280, 800)

	// Keyboard: layouts and tile selection.
	run("layout 9 by keyboard", chromedp.KeyEvent("9", chromedp.KeyModifiers(chromedp.ModifierAlt))) // Alt
	waitJS("9 tiles", `document.querySelectorAll(".tile").length === 9`, 5*time.Second)
	run("layout 4 by keyboard", chromedp.KeyEvent("4", chromedp.KeyModifiers(chromedp.ModifierAlt)))
	waitJS("4 tiles", `document.querySelectorAll(".tile").length === 4`, 5*time.Second)

	// A second camera, a demo one, on tile 2: found by search, opened under
	// the purpose already stated (no second prompt).
	cams, err := pb.NewDeviceServiceClient(conn).ListCameras(manager, &pb.ListCamerasRequest{Text: "중앙로 1"})
	if err != nil {
		t.Fatal(err)
	}
	demoID := ""
	for _, c := range cams.GetCameras() {
		if c.GetFields().GetName() == "중앙로 1" {
			demoID = c.GetId()
		}
	}
	if demoID == "" {
		t.Fatalf("no demo camera 중앙로 1: %v", cams)
	}
	run("search again", chromedp.SendKeys(chromedp.ID("#camera-search"), strings.Repeat("\b", 6)+"중앙로"))
	run("select tile 2 and open", chromedp.Click(chromedp.ID("#tile-1")), chromedp.Click(chromedp.CSS(`button.cam[data-camera="`+demoID+`"]`)))
	waitJS("frames on tile 2", `document.querySelector("#tile-1").dataset.state === "playing"`, 30*time.Second)
	if evalJS[bool](t, tab, `!!document.querySelector("#purpose-form")`) {
		t.Fatal("the purpose was asked again")
	}

	// Double-click enlarges tile 2 to the whole wall and switches its view
	// to the main stream (the same view, no new purpose); Escape returns.
	run("enlarge", chromedp.DoubleClick(chromedp.ID("#tile-1")))
	waitJS("tile 2 enlarged on main", `document.querySelector(".wall.enlarged") !== null && document.querySelectorAll(".tile:not(.hidden)").length === 1 && document.querySelector("#tile-1 .tile-profile").textContent === "main"`, 15*time.Second)
	waitJS("tile 2 still playing", `document.querySelector("#tile-1").dataset.state === "playing"`, 10*time.Second)
	run("back to the wall", chromedp.KeyEvent("\x1b"))
	waitJS("the wall again on sub", `document.querySelectorAll(".tile:not(.hidden)").length === 4 && document.querySelector("#tile-1 .tile-profile").textContent === "sub" && document.querySelector("#tile-0").dataset.state === "playing"`, 15*time.Second)

	// A cross-site page cannot call the API with the operator's cookie:
	// its request is refused (preflight unanswered, or 403/415), and the
	// session stays.
	crossTab, cancelCross := chromedp.NewContext(tab)
	defer cancelCross()
	httpAddr := regexp.MustCompile(`msg=serving .* http=(\S+)`).FindStringSubmatch(p.output())
	if httpAddr == nil {
		t.Fatal("no http address")
	}
	if err := chromedp.Do(crossTab, chromedp.Navigate("http://"+httpAddr[1]+"/healthz")); err != nil {
		t.Fatalf("cross-site page: %v", err)
	}
	crossResult := evalJS[string](t, crossTab, fmt.Sprintf(`(async () => {
		const u = %q;
		const out = [];
		try { const r = await fetch(u, {method: "POST", credentials: "include", headers: {"Content-Type": "application/json", "Connect-Protocol-Version": "1"}, body: "{}"}); out.push("cors:" + r.status); } catch (e) { out.push("cors:refused"); }
		try { await fetch(u, {method: "POST", mode: "no-cors", credentials: "include", headers: {"Content-Type": "text/plain"}, body: "{}"}); out.push("simple:sent"); } catch (e) { out.push("simple:refused"); }
		return out.join(" ");
	})()`, origin+"/api/gwanje.v1.AccessService/Logout"))
	if !strings.Contains(crossResult, "cors:refused") {
		t.Errorf("a cross-site Connect call was not refused: %s", crossResult)
	}
	if ls, err := pb.NewStreamServiceClient(conn).ListLiveSessions(manager, &pb.ListLiveSessionsRequest{All: true, CameraId: camID}); err != nil || len(ls.GetSessions()) != 1 {
		t.Fatalf("the cross-site page ended the view or the session: %v %v (%s)", ls, err, crossResult)
	}

	// The camera goes offline: the alarm reaches the queue through
	// WatchEvents; the operator acknowledges it with a note.
	cam.SetFaults(camsim.Faults{Offline: true})
	alarmSel := `.alarm[data-camera="` + camID + `"]`
	waitJS("the offline alarm", `!!document.querySelector('`+alarmSel+`')`, 90*time.Second)
	waitJS("the offline badge", `document.querySelector('#tile-0 .badge').dataset.state === "offline"`, 30*time.Second)
	screenshot(t, tab, "console-alarm-1920x1080.png", 1920, 1080)
	const note = "현장 확인 요청 (순찰차 배정)"
	run("acknowledge", chromedp.Click(chromedp.CSS(alarmSel+` button.ack`)), chromedp.WaitVisible(chromedp.CSS(alarmSel+` .ack-note`)),
		chromedp.SendKeys(chromedp.CSS(alarmSel+` .ack-note`), note), chromedp.Click(chromedp.CSS(alarmSel+` .ack-submit`)))
	waitJS("the alarm leaves the queue", `!document.querySelector('`+alarmSel+`')`, 15*time.Second)
	alarms, err := pb.NewHealthServiceClient(conn).ListAlarms(manager, &pb.ListAlarmsRequest{CameraIds: []string{camID}})
	if err != nil {
		t.Fatal(err)
	}
	acked := false
	for _, a := range alarms.GetAlarms() {
		if a.GetKind() == pb.AlarmKind_ALARM_KIND_OFFLINE && a.GetAcknowledgeNote() == note && a.GetAcknowledgedBy() != "" {
			acked = true
		}
	}
	if !acked {
		t.Fatalf("no offline alarm acknowledged with the note: %v", alarms)
	}

	// Log out: the video stops, the server ends the live views, the cookie goes.
	run("log out", chromedp.Click(chromedp.ID("#logout")), chromedp.WaitVisible(chromedp.ID("#login-user")))
	waitJS("no video left", `document.querySelectorAll("video").length === 0`, 5*time.Second)
	// The server ended every live view of the operator's session.
	for deadline := time.Now().Add(10 * time.Second); ; {
		ls, err := pb.NewStreamServiceClient(conn).ListLiveSessions(manager, &pb.ListLiveSessionsRequest{All: true, CameraId: demoID})
		if err != nil {
			t.Fatal(err)
		}
		if len(ls.GetSessions()) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the demo camera's live view still open after logout: %v", ls.GetSessions())
		}
		time.Sleep(50 * time.Millisecond)
	}
	cookies = browserCookies(t, tab, origin)
	for _, c := range cookies {
		if c.Name == control.SessionCookie {
			t.Fatalf("session cookie left after logout: %+v", c)
		}
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		ls, err := pb.NewStreamServiceClient(conn).ListLiveSessions(manager, &pb.ListLiveSessionsRequest{All: true, CameraId: camID})
		if err != nil {
			t.Fatal(err)
		}
		if len(ls.GetSessions()) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("live views still open after logout: %v", ls.GetSessions())
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The old cookie opens nothing: a request without a valid session is refused.
	status := evalJS[int](t, tab, fmt.Sprintf(`fetch(%q, {method: "POST", headers: {"Content-Type": "application/json", "Connect-Protocol-Version": "1"}, body: "{}"}).then(r => r.status)`,
		origin+"/api/gwanje.v1.AccessService/WhoAmI"))
	if status != 401 {
		t.Errorf("WhoAmI after logout from the page: %d, want 401", status)
	}
	csp := evalJS[[]string](t, tab, `window.__csp || []`)
	if len(csp) != 0 {
		t.Errorf("CSP violations in the console: %v", csp)
	}
	t.Logf("frames decoded on tile 1 while checked: %d → %d", frames[0], frames[1])
}

// evalJS evaluates js in the tab (awaiting a promise) and returns its value.
func evalJS[T any](t *testing.T, tab context.Context, js string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluate %.80s: %v", js, err)
	}
	return v
}

func grpcConn(t *testing.T, p *proc, dataDir string) *grpc.ClientConn {
	t.Helper()
	tc, err := tlsutil.ClientConfig(filepath.Join(dataDir, "tls", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(p.grpc, grpc.WithTransportCredentials(credentials.NewTLS(tc)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func loginAs(ctx context.Context, t *testing.T, conn *grpc.ClientConn, user, password string) context.Context {
	t.Helper()
	res, err := pb.NewAccessServiceClient(conn).Login(ctx, &pb.LoginRequest{Username: user, Password: password})
	if err != nil {
		t.Fatalf("login %s: %v", user, err)
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+res.Token)
}

// browserCookies are the cookies the browser holds for origin.
func browserCookies(t *testing.T, tab context.Context, origin string) []*network.Cookie {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, 10*time.Second)
	defer cancel()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{origin + "/"}})
	if err != nil {
		t.Fatalf("cookies: %v", err)
	}
	return res.Cookies
}

// screenshot takes the page at w×h; with -update-screenshots it is kept in
// testdata/ for review, else in the test's temp dir.
func screenshot(t *testing.T, tab context.Context, name string, w, h int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(w, h), chromedp.Sleep(300*time.Millisecond)); err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(t.TempDir(), name)
	if *updateScreens {
		path = filepath.Join("testdata", name)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestConsoleIdleLock: a console left without input for --console-idle-lock
// locks: it logs out (the server ends its live view, the cookie goes) and
// asks for the same account's password; after it the wall is reopened.
func TestConsoleIdleLock(t *testing.T) {
	tab := browsertest.Start(t, "--ignore-certificate-errors", "--window-size=1280,800")
	const password = "console-lock-Passw0rd"
	dir := newDataDir(t)
	base := fmt.Sprintf("127.%d.%d.1", 100+rand.IntN(100), rand.IntN(250))
	p, err := start(t, dir, "--demo", "--demo-password", password, "--demo-base-ip", base, "--console-idle-lock", "8s")
	if err != nil {
		t.Fatal(err)
	}
	m := httpsRE.FindStringSubmatch(p.output())
	if m == nil {
		t.Fatalf("no https address: %s", p.output())
	}
	origin := "https://" + m[1]
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	conn := grpcConn(t, p, dir)
	manager := loginAs(ctx, t, conn, "manager", password)
	do := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		c, cancel := context.WithTimeout(tab, 60*time.Second)
		defer cancel()
		if err := chromedp.Do(c, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	waitJS := func(what, js string, within time.Duration) {
		t.Helper()
		for deadline := time.Now().Add(within); !evalJS[bool](t, tab, js); time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out after %v waiting for %s", within, what)
			}
		}
	}
	liveViews := func() int {
		t.Helper()
		ls, err := pb.NewStreamServiceClient(conn).ListLiveSessions(manager, &pb.ListLiveSessionsRequest{All: true})
		if err != nil {
			t.Fatal(err)
		}
		return len(ls.GetSessions())
	}
	do("log in", chromedp.Navigate(origin+"/"), chromedp.WaitVisible(chromedp.ID("#login-user")),
		chromedp.SendKeys(chromedp.ID("#login-user"), "operator"), chromedp.SendKeys(chromedp.ID("#login-password"), password),
		chromedp.Click(chromedp.ID("#login-submit")))
	waitJS("the tree", `document.querySelectorAll("button.cam").length >= 8`, 30*time.Second)
	do("open a camera", chromedp.Click(chromedp.CSS("button.cam")))
	do("state the purpose", chromedp.WaitVisible(chromedp.ID("#purpose-form")),
		chromedp.Click(chromedp.CSS(`input[data-purpose="1"]`)), chromedp.Click(chromedp.ID("#purpose-ok")))
	waitJS("frames", `document.querySelector("#tile-0").dataset.state === "playing"`, 30*time.Second)
	if n := liveViews(); n != 1 {
		t.Fatalf("%d live views open, want 1", n)
	}
	// No input now: the console locks.
	waitJS("the lock", `!!document.querySelector("#login-user") && document.querySelector("#login-user").readOnly && document.querySelectorAll("video").length === 0`, 30*time.Second)
	for deadline := time.Now().Add(10 * time.Second); liveViews() != 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the live view is still open after the lock")
		}
	}
	for _, c := range browserCookies(t, tab, origin) {
		if c.Name == control.SessionCookie {
			t.Fatal("the session cookie survived the lock")
		}
	}
	// The password of the same account unlocks; the wall comes back, a new
	// audited view under the purpose already stated.
	do("unlock", chromedp.SendKeys(chromedp.ID("#login-password"), password), chromedp.Click(chromedp.ID("#login-submit")))
	waitJS("the wall restored", `!!document.querySelector("#tile-0") && document.querySelector("#tile-0").dataset.state === "playing"`, 30*time.Second)
}
