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
