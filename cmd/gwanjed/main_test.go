package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/gwanje/gwanje/internal/tlsutil"
	gwanjev1 "github.com/gwanje/gwanje/proto/gwanje/v1"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	tmpRoot   string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if tmpRoot != "" {
		os.RemoveAll(tmpRoot)
	}
	os.Exit(code)
}

// gwanjedBinary builds gwanjed once per test binary.
func gwanjedBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		tmpRoot, buildErr = os.MkdirTemp("", "gwanjed-test-")
		if buildErr != nil {
			return
		}
		// The postgres OS user must be able to reach data dirs below here.
		os.Chmod(tmpRoot, 0o711)
		binPath = filepath.Join(tmpRoot, "gwanjed")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v: %s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// newDataDir returns a data dir path (not yet created) that the postgres
// OS user can reach.
func newDataDir(t *testing.T) string {
	t.Helper()
	gwanjedBinary(t)
	d, err := os.MkdirTemp(tmpRoot, "case-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(d, 0o711)
	return filepath.Join(d, "data")
}

type proc struct {
	cmd    *exec.Cmd
	grpc   string
	log    *strings.Builder
	mu     *sync.Mutex
	exited chan struct{}
}

var servingRE = regexp.MustCompile(`msg=serving grpc=(\S+)`)

// start runs gwanjed and waits for its "serving" line (or its exit).
func start(t *testing.T, dataDir string, extra ...string) (*proc, error) {
	t.Helper()
	return startVia(t, nil, dataDir, extra...)
}

// startVia is start with gwanjed run by the command prefix (e.g. a shell
// that lowers the descriptor limit first).
func startVia(t *testing.T, prefix []string, dataDir string, extra ...string) (*proc, error) {
	t.Helper()
	args := append([]string{"--data-dir", dataDir, "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--https-addr", "127.0.0.1:0", "--nats-listen", "127.0.0.1:0", "--rtsp-addr", "127.0.0.1:0", "--rtsp-udp-addr", "-", "--webrtc-udp-port", "0", "--webrtc-tcp-port", "0", "--playback-addr", "127.0.0.1:0"}, extra...)
	argv := append(append(append([]string{}, prefix...), gwanjedBinary(t)), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	p := &proc{cmd: cmd, log: &strings.Builder{}, mu: &sync.Mutex{}, exited: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	serving := make(chan string, 1)
	// exited closes once the process has ended and all its output is read.
	go func() {
		defer close(p.exited)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			p.mu.Lock()
			p.log.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			if m := servingRE.FindStringSubmatch(sc.Text()); m != nil {
				serving <- m[1]
			}
		}
		io.Copy(io.Discard, pr)
	}()
	go func() { cmd.Wait(); pw.Close() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-p.exited:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
		}
	})
	select {
	case addr := <-serving:
		p.grpc = addr
		return p, nil
	case <-p.exited:
		return p, fmt.Errorf("exited with %v: %s", cmd.ProcessState, p.output())
	case <-time.After(90 * time.Second):
		return p, fmt.Errorf("not serving after 90s: %s", p.output())
	}
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

func (p *proc) stop(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("gwanjed did not stop on SIGINT: %s", p.output())
	}
	if !p.cmd.ProcessState.Success() {
		t.Fatalf("gwanjed exited with %v: %s", p.cmd.ProcessState, p.output())
	}
}

func instanceID(t *testing.T, p *proc, dataDir string) string {
	t.Helper()
	tc, err := tlsutil.ClientConfig(filepath.Join(dataDir, "tls", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(p.grpc, grpc.WithTransportCredentials(credentials.NewTLS(tc)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || h.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health: %v %v", h, err)
	}
	info, err := gwanjev1.NewSystemServiceClient(conn).GetInfo(ctx, &gwanjev1.GetInfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	return info.InstanceId
}

func postgresRunning(dataDir string) bool {
	b, err := os.ReadFile(filepath.Join(dataDir, "postgres", "postmaster.pid"))
	if err != nil {
		return false
	}
	var pid int
	fmt.Sscanf(string(b), "%d", &pid)
	return pid > 0 && syscall.Kill(pid, 0) == nil
}

func TestStartStopRestart(t *testing.T) {
	dir := newDataDir(t)
	p, err := start(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	id := instanceID(t, p, dir)
	// Plaintext is refused: the service is TLS only.
	conn, _ := grpc.NewClient(p.grpc, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{InsecureSkipVerify: false})))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	if _, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}); err == nil {
		t.Error("a client that does not trust the CA got an answer")
	}
	cancel()
	conn.Close()

	p.stop(t)
	if postgresRunning(dir) {
		t.Fatal("PostgreSQL still running after gwanjed stopped")
	}
	p2, err := start(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := instanceID(t, p2, dir); got != id {
		t.Fatalf("second start has instance %s, first had %s: data dir not reused", got, id)
	}
	p2.stop(t)
}

func TestSIGKILLThenRestart(t *testing.T) {
	dir := newDataDir(t)
	p, err := start(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	id := instanceID(t, p, dir)
	p.cmd.Process.Kill()
	<-p.exited
	// Whatever PostgreSQL did after its parent died, the next start must
	// come back with the same data.
	p2, err := start(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := instanceID(t, p2, dir); got != id {
		t.Fatalf("after SIGKILL the instance is %s, was %s", got, id)
	}
	p2.stop(t)
}

func TestBadStarts(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()

	tests := []struct {
		name    string
		setup   func(t *testing.T, dir string)
		args    []string
		want    string
		recover bool // a start without the bad argument must then work
	}{
		{name: "data dir under a file", setup: func(t *testing.T, dir string) {
			// dir is …/file/data and …/file is a regular file
			os.WriteFile(filepath.Dir(dir), nil, 0o600)
		}, want: "data-dir: cannot create"},
		{name: "port taken", args: []string{"--grpc-addr", taken.Addr().String()}, want: "grpc-addr: cannot listen on " + taken.Addr().String(), recover: true},
		{name: "http port taken", args: []string{"--http-addr", taken.Addr().String()}, want: "http-addr: cannot listen", recover: true},
		{name: "foreign data dir", setup: func(t *testing.T, dir string) {
			os.MkdirAll(dir, 0o700)
			os.WriteFile(filepath.Join(dir, "somebody-elses.txt"), []byte("x"), 0o600)
		}, want: "not a gwanje data dir"},
		{name: "corrupt postgres dir", setup: func(t *testing.T, dir string) {
			os.MkdirAll(filepath.Join(dir, "postgres"), 0o700)
			os.WriteFile(filepath.Join(dir, dataDirMarker), []byte("gwanje data dir, format 1\n"), 0o644)
			os.WriteFile(filepath.Join(dir, "postgres", "PG_VERSION"), []byte("7\n"), 0o600)
		}, want: "was made by PostgreSQL 7"},
		{name: "no postgres binaries", args: []string{"--postgres-bin", "/nonexistent"}, want: "install the PostgreSQL server package", recover: true},
		{name: "unknown role", args: []string{"--roles", "control,everything"}, want: `unknown role "everything"`},
		{name: "key readable by the group", setup: func(t *testing.T, dir string) {
			os.MkdirAll(filepath.Join(dir, "keys"), 0o700)
			os.WriteFile(filepath.Join(dir, dataDirMarker), []byte("gwanje data dir, format 1\n"), 0o644)
			os.WriteFile(filepath.Join(dir, "keys", "totp.key"), make([]byte, 32), 0o640)
			os.Chmod(filepath.Join(dir, "keys", "totp.key"), 0o640)
		}, want: "totp.key has mode 0640; chmod 600 it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := newDataDir(t)
			if tt.name == "data dir under a file" {
				dir = filepath.Join(filepath.Dir(dir), "file", "data")
			}
			if tt.setup != nil {
				tt.setup(t, dir)
			}
			p, err := start(t, dir, tt.args...)
			if err == nil {
				t.Fatalf("started despite %s", tt.name)
			}
			if p.cmd.ProcessState.ExitCode() == 0 {
				t.Fatalf("exit code 0")
			}
			if !strings.Contains(p.output(), tt.want) {
				t.Fatalf("error does not say %q:\n%s", tt.want, p.output())
			}
			if tt.recover {
				p2, err := start(t, dir)
				if err != nil {
					t.Fatalf("the failed start left something behind: %v", err)
				}
				p2.stop(t)
			}
		})
	}
}

func TestSecondServerOnSameDataDir(t *testing.T) {
	dir := newDataDir(t)
	p, err := start(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := start(t, dir)
	if err == nil {
		t.Fatal("two servers run on one data dir")
	}
	if !strings.Contains(p2.output(), "in use by another gwanjed") {
		t.Fatalf("unclear error: %s", p2.output())
	}
	p.stop(t)
}

// TestExampleConfigLoads keeps deploy/gwanjed.example.yaml true to the
// settings gwanjed has.
func TestExampleConfigLoads(t *testing.T) {
	cfg, err := parseFlags([]string{"--config", "../../deploy/gwanjed.example.yaml"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DataDir != "/var/lib/gwanje" || cfg.GRPCAddr != "0.0.0.0:7100" || len(cfg.TLSHosts) != 2 || !cfg.RequireContractorTOTP ||
		cfg.ClientFDShare != 0.5 || cfg.MaxConnsPerSource != 128 || cfg.IdleTimeout != time.Minute || cfg.GRPCMaxStreams != 128 {
		t.Fatalf("example config read as %+v", cfg)
	}
}
