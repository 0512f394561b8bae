package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
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
func startServer(t *testing.T) (addr, ca string) {
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
	cmd := exec.Command(bin, "--data-dir", data, "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--nats-listen", "-")
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
