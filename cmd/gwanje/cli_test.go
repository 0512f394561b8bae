package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gwanje/gwanje/internal/tlsutil"
)

// startServer builds and runs gwanjed on a fresh data dir and returns its
// gRPC address and CA file.
func startServer(t *testing.T, extra ...string) (addr, ca string) {
	t.Helper()
	root, err := os.MkdirTemp("", "gwanje-cli-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	os.Chmod(root, 0o711)
	bin := filepath.Join(root, "gwanjed")
	if out, err := exec.Command("go", "build", "-o", bin, "../gwanjed").CombinedOutput(); err != nil {
		t.Fatalf("build gwanjed: %v: %s", err, out)
	}
	data := filepath.Join(root, "data")
	cmd := exec.Command(bin, append([]string{"--data-dir", data, "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--https-addr", "127.0.0.1:0", "--nats-listen", "-", "--rtsp-addr", "127.0.0.1:0", "--rtsp-udp-addr", "-", "--webrtc-udp-port", "0", "--webrtc-tcp-port", "0", "--playback-addr", "127.0.0.1:0"}, extra...)...)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); pw.Close(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
		}
	})
	re := regexp.MustCompile(`msg=serving grpc=(\S+)`)
	found := make(chan string, 1)
	var log bytes.Buffer
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			log.WriteString(sc.Text() + "\n")
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
	}()
	select {
	case addr = <-found:
	case <-exited:
		t.Fatalf("gwanjed exited: %s", log.String())
	case <-time.After(90 * time.Second):
		t.Fatal("gwanjed not serving after 90s")
	}
	return addr, filepath.Join(data, "tls", "ca.crt")
}

func TestHealthOverTLS(t *testing.T) {
	addr, ca := startServer(t)
	tests := []struct {
		name     string
		args     []string
		code     int
		stdout   string
		stderr   string
		jsonBody bool
	}{
		{name: "table", args: []string{"--server", addr, "--ca", ca, "health"}, code: 0, stdout: "SERVING"},
		{name: "json", args: []string{"--server", addr, "--ca", ca, "--output", "json", "health"}, code: 0, jsonBody: true},
		{name: "untrusted CA", args: []string{"--server", addr, "--ca", writeOtherCA(t), "health"}, code: 1, stderr: "pass --ca"},
		{name: "missing CA file", args: []string{"--server", addr, "--ca", "/nonexistent/ca.crt", "health"}, code: 1, stderr: "start the server once, or pass --ca"},
		{name: "unknown command", args: []string{"frobnicate"}, code: 2, stderr: `unknown command "frobnicate"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := runCLI(context.Background(), tt.args, strings.NewReader(""), &out, &errb)
			if code != tt.code {
				t.Fatalf("exit %d, want %d; stderr: %s", code, tt.code, errb.String())
			}
			if !strings.Contains(out.String(), tt.stdout) || !strings.Contains(errb.String(), tt.stderr) {
				t.Fatalf("stdout %q stderr %q", out.String(), errb.String())
			}
			if tt.jsonBody {
				var v map[string]any
				if err := json.Unmarshal(out.Bytes(), &v); err != nil || v["status"] != "SERVING" {
					t.Fatalf("json output %q: %v", out.String(), err)
				}
			}
		})
	}
}

// writeOtherCA writes a CA certificate that did not sign the server's.
func writeOtherCA(t *testing.T) string {
	t.Helper()
	dir := t.TempDir() // a second installation's CA
	if _, err := tlsutil.Ensure(dir, nil); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, tlsutil.CACert)
}

// TestDemoWalkThrough runs the README's walk through the demo: the same
// cameras look different to an operator, a contractor and an auditor.
func TestDemoWalkThrough(t *testing.T) {
	// The demo's cameras use fixed ports on loopback addresses of their own;
	// a random 127.x.y.1 keeps this test clear of a demo someone is running.
	base := fmt.Sprintf("127.%d.%d.1", 100+rand.IntN(100), rand.IntN(250))
	addr, ca := startServer(t, "--demo", "--demo-password", "demo-walk-Passw0rd", "--demo-base-ip", base)
	t.Setenv("GWANJE_CONFIG_DIR", t.TempDir())
	run := func(stdin string, args ...string) (string, string, int) {
		var out, errb bytes.Buffer
		code := runCLI(context.Background(), append([]string{"--server", addr, "--ca", ca}, args...), strings.NewReader(stdin), &out, &errb)
		return out.String(), errb.String(), code
	}
	countCameras := func() int {
		out, errs, code := run("", "--output", "json", "cameras", "list")
		if code != 0 {
			t.Fatalf("cameras list: %s", errs)
		}
		var v struct{ Cameras []map[string]any }
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Fatal(err)
		}
		return len(v.Cameras)
	}
	login := func(user string) {
		if _, errs, code := run("demo-walk-Passw0rd\n", "login", "--user", user, "--password-stdin"); code != 0 {
			t.Fatalf("login %s: %s", user, errs)
		}
	}
	login("operator")
	if n := countCameras(); n != 8 {
		t.Fatalf("operator sees %d cameras, want 8", n)
	}
	liveWebRTC(t, run, ca)
	login("contractor")
	if n := countCameras(); n != 4 {
		t.Fatalf("contractor sees %d cameras, want the 4 of the contracted site", n)
	}
	login("auditor")
	if _, errs, code := run("", "cameras", "list"); code == 0 || !strings.Contains(errs, "permission denied") {
		t.Fatalf("auditor listed cameras: %d %s", code, errs)
	}
	out, errs, code := run("", "audit", "query", "--type", "access.denied")
	if code != 0 || !strings.Contains(out, "auditor") {
		t.Fatalf("the auditor's denied attempt is not in the trail: %s %s", out, errs)
	}
	if out, errs, code := run("", "audit", "verify"); code != 0 || !strings.Contains(out, "INTACT") {
		t.Fatalf("verify: %s %s", out, errs)
	}
}

// liveWebRTC asks for a WebRTC live view as the logged-in operator: the CLI
// prints a WHEP URL on the stream node's HTTPS address, where gwanjed
// serves the WHEP endpoint (it refuses a non-SDP body and an offer without
// video, and then still takes the ticket).
func liveWebRTC(t *testing.T, run func(string, ...string) (string, string, int), ca string) {
	t.Helper()
	out, errs, code := run("", "--output", "json", "cameras", "list")
	if code != 0 {
		t.Fatalf("cameras list: %s", errs)
	}
	var cams struct{ Cameras []struct{ Id string } }
	if err := json.Unmarshal([]byte(out), &cams); err != nil || len(cams.Cameras) == 0 {
		t.Fatalf("cameras: %v %s", err, out)
	}
	out, errs, code = run("", "live", cams.Cameras[0].Id, "--purpose", "crime_prevention", "--transport", "webrtc", "--profile", "sub")
	if code != 0 || !strings.Contains(out, "webrtc (WHEP") {
		t.Fatalf("live --transport webrtc: %d %s %s", code, out, errs)
	}
	m := regexp.MustCompile(`url\s+(https://\S+/whep/live/` + cams.Cameras[0].Id + `/sub\?ticket=\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no WHEP URL in:\n%s", out)
	}
	pem, err := os.ReadFile(ca)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 20 * time.Second}
	for _, tc := range []struct {
		ctype, body string
		want        int
	}{
		{"text/plain", "hello", http.StatusUnsupportedMediaType},
		{"application/sdp", "v=0\r\n", http.StatusBadRequest},
	} {
		res, err := hc.Post(m[1], tc.ctype, strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != tc.want {
			t.Fatalf("POST %s to the WHEP URL: %d, want %d", tc.ctype, res.StatusCode, tc.want)
		}
	}
	if _, errs, code := run("", "live", cams.Cameras[0].Id, "--purpose", "crime_prevention", "--transport", "webrtc", "--play"); code == 0 || !strings.Contains(errs, "browser") {
		t.Fatalf("--play with webrtc: %d %s", code, errs)
	}
}

func TestPolicySettingsAndHistoryFromTheCLI(t *testing.T) {
	base := fmt.Sprintf("127.%d.%d.1", 100+rand.IntN(100), rand.IntN(250))
	addr, ca := startServer(t, "--demo", "--demo-password", "demo-walk-Passw0rd", "--demo-base-ip", base,
		"--institution-name", "인천광역시 미추홀구")
	t.Setenv("GWANJE_CONFIG_DIR", t.TempDir())
	run := func(stdin string, args ...string) (string, string, int) {
		var out, errb bytes.Buffer
		code := runCLI(context.Background(), append([]string{"--server", addr, "--ca", ca}, args...), strings.NewReader(stdin), &out, &errb)
		return out.String(), errb.String(), code
	}
	if _, errs, code := run("demo-walk-Passw0rd\n", "login", "--user", "manager", "--password-stdin"); code != 0 {
		t.Fatalf("login: %s", errs)
	}
	dir := t.TempDir()
	set := filepath.Join(dir, "settings.json")
	os.WriteFile(set, []byte(`{"cpo": {"name": "홍길동", "title": "기획조정실장"}, "control_center": "미추홀구청 CCTV 통합관제센터", "review_place": ""}`), 0o600)
	out, errs, code := run("", "policy", "settings", "--set", set, "--reason", "보호책임자 지정")
	if code != 0 || !strings.Contains(out, "기획조정실장 홍길동") || !strings.Contains(out, "미추홀구청 CCTV 통합관제센터") ||
		!strings.Contains(out, "인천광역시 미추홀구") {
		t.Fatalf("settings --set: %d %s %s", code, out, errs)
	}
	os.WriteFile(filepath.Join(dir, "v1.txt"), []byte("2013년 방침 본문"), 0o600)
	csvText := "번호,공고일자,시행일자,제·개정 내용,문서\n1,2013-07-01,,제정,v1.txt\n2,2016-03-02,2016-03-09,설치 및 운영현황 현행화,\n"
	os.WriteFile(filepath.Join(dir, "history.csv"), []byte(csvText), 0o600)
	// The demo published its first version at start: earlier revisions
	// come before it, so the import is refused and changes nothing.
	out, errs, code = run("", "policy", "import-history", "--reason", "이관", filepath.Join(dir, "history.csv"))
	if code == 0 || !strings.Contains(errs, "earlier revisions are imported before the first") {
		t.Fatalf("import-history after the first version: %d %s %s", code, out, errs)
	}
	os.WriteFile(filepath.Join(dir, "bad.csv"), []byte("1,2013-13-45,,제정\n"), 0o600)
	if _, errs, code = run("", "policy", "import-history", filepath.Join(dir, "bad.csv")); code == 0 || !strings.Contains(errs, "공고일자") {
		t.Fatalf("a bad date was not refused: %s", errs)
	}
	if out, errs, code = run("", "policy", "publish"); code != 0 || !strings.Contains(out, "version 2") {
		t.Fatalf("publish: %d %s %s", code, out, errs)
	}
	out, errs, code = run("", "policy", "versions")
	if code != 0 || !strings.Contains(out, "system:demo") || !strings.Contains(out, "u-manager") && !strings.Contains(out, "manager") {
		t.Fatalf("versions: %d %s %s", code, out, errs)
	}
}
