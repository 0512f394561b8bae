// Package pglocal runs a private PostgreSQL server from the server binaries
// installed on this machine. gwanjed uses it for its embedded default (no
// --database-url) and the test helper uses it for one server per test binary.
//
// The server listens only on a unix socket in a directory that only its OS
// user can enter, so local trust authentication does not open it to other
// users. When the process runs as root the server runs as the "postgres" OS
// user, because initdb and postgres refuse to run as root; when that user
// cannot reach the data dir (a checkout in root's home, mode 0700), the
// cluster is placed under Config.PlaceDir instead and the place is recorded
// beside the data dir (DataDir + ".location") for the next start. Nothing
// of the user's directories is made more open.
package pglocal

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrNoBinaries is returned when no PostgreSQL server binaries are found.
var ErrNoBinaries = errors.New("no PostgreSQL server binaries found (initdb, postgres): install the PostgreSQL server package (Debian/Ubuntu: apt-get install postgresql; Fedora: dnf install postgresql-server), or put its bin directory on PATH, or use --database-url")

// Config says where and how to run the server. The zero value of every field
// except DataDir is a usable default.
type Config struct {
	// DataDir is the PostgreSQL data directory (PGDATA). It is created with
	// initdb when it does not exist yet. Required.
	DataDir string
	// SocketDir is where the unix socket lives. Default: DataDir + "-run",
	// or a directory under os.TempDir when that path is too long for a socket.
	SocketDir string
	// BinDir holds initdb and postgres. Default: found on PATH, else the
	// newest /usr/lib/postgresql/*/bin.
	BinDir string
	// OSUser runs the server when the process is root. Default "postgres".
	OSUser string
	// PlaceDir holds clusters that OSUser could not reach where DataDir
	// is: when the process is root and a parent of DataDir cannot be
	// entered by OSUser, the cluster is made in PlaceDir/<hash of
	// DataDir>-<random>/data, and that path is written to DataDir +
	// ".location", which every later start follows. Default
	// /var/lib/gwanje-postgres.
	PlaceDir string
	// Port names the socket file (.s.PGSQL.<port>); nothing listens on TCP.
	// Default 5432.
	Port int
	// StartTimeout bounds how long the server may take to accept
	// connections. Default 60s.
	StartTimeout time.Duration
	// Fast turns off fsync and synchronous commit, for tests only. Data may
	// be lost on a machine crash.
	Fast bool
	// Settings are extra server settings (name → value), passed as -c.
	Settings map[string]string
	// Logger receives progress messages. Default slog.Default().
	Logger *slog.Logger
}

// Server is a running PostgreSQL server owned by this process.
type Server struct {
	cfg       Config
	cmd       *exec.Cmd
	done      chan struct{}
	waitErr   error
	closeOnce sync.Once
	closeErr  error
	logFile   *os.File
}

// Superuser is the name of the bootstrap superuser created by initdb.
const Superuser = "postgres"

// debianBinGlob is where Debian and Ubuntu install the server binaries.
var debianBinGlob = "/usr/lib/postgresql/*/bin"

// FindBinaries returns the directory holding initdb and postgres.
func FindBinaries() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		dir := filepath.Dir(p)
		if isExec(filepath.Join(dir, "postgres")) {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob(debianBinGlob)
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, d := range append(dirs, "/usr/pgsql/bin", "/usr/local/pgsql/bin") {
		if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	return "", ErrNoBinaries
}

func versionOf(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

func isExec(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// Start initializes the data directory when needed and starts the server,
// returning once it accepts connections. A server left running by a previous
// process that was killed is stopped first; a stale postmaster.pid is
// handled by PostgreSQL itself.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("pglocal: DataDir is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.OSUser == "" {
		cfg.OSUser = "postgres"
	}
	if cfg.Port == 0 {
		cfg.Port = 5432
	}
	if cfg.StartTimeout == 0 {
		cfg.StartTimeout = 60 * time.Second
	}
	if cfg.PlaceDir == "" {
		cfg.PlaceDir = DefaultPlaceDir
	}
	abs, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("pglocal: data dir: %w", err)
	}
	cfg.DataDir = abs
	if cfg.BinDir == "" {
		if cfg.BinDir, err = FindBinaries(); err != nil {
			return nil, err
		}
	} else if !isExec(filepath.Join(cfg.BinDir, "initdb")) || !isExec(filepath.Join(cfg.BinDir, "postgres")) {
		return nil, fmt.Errorf("%w (looked in %s)", ErrNoBinaries, cfg.BinDir)
	}
	cred, err := runAs(cfg.OSUser)
	if err != nil {
		return nil, err
	}
	if cred != nil {
		if err := place(&cfg, cred); err != nil {
			return nil, err
		}
	}
	if cfg.SocketDir == "" {
		cfg.SocketDir = cfg.DataDir + "-run"
		// A unix socket path holds at most 107 bytes.
		if len(filepath.Join(cfg.SocketDir, ".s.PGSQL."+strconv.Itoa(cfg.Port))) > 100 {
			cfg.SocketDir = filepath.Join(os.TempDir(), fmt.Sprintf("gwanje-pg-%d", hashString(cfg.DataDir)))
		}
	}
	if err := prepareDir(cfg.SocketDir, cred); err != nil {
		return nil, fmt.Errorf("pglocal: socket dir %s: %w", cfg.SocketDir, err)
	}
	if err := stopLeftover(ctx, cfg); err != nil {
		return nil, err
	}
	if err := initdb(ctx, cfg, cred); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, done: make(chan struct{})}
	if err := s.start(ctx, cred); err != nil {
		return nil, err
	}
	return s, nil
}

// initdb creates the cluster unless DataDir already holds one. A directory
// left half-made by an interrupted initdb (no PG_VERSION) is removed first; a
// non-empty directory that is not a PostgreSQL cluster is refused.
func initdb(ctx context.Context, cfg Config, cred *syscall.Credential) error {
	if _, err := os.Stat(filepath.Join(cfg.DataDir, "PG_VERSION")); err == nil {
		return checkVersion(cfg)
	}
	entries, err := os.ReadDir(cfg.DataDir)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return fmt.Errorf("pglocal: data dir %s: %w", cfg.DataDir, err)
	case len(entries) > 0 && !isHalfInit(cfg.DataDir):
		return fmt.Errorf("pglocal: data dir %s is not empty and holds no PostgreSQL cluster (no PG_VERSION): move it away or choose another data dir", cfg.DataDir)
	}
	marker := cfg.DataDir + ".initdb"
	if isHalfInit(cfg.DataDir) {
		cfg.Logger.Warn("removing a PostgreSQL data dir left half-made by an interrupted initdb", "dir", cfg.DataDir)
		if err := os.RemoveAll(cfg.DataDir); err != nil {
			return fmt.Errorf("pglocal: remove half-made data dir: %w", err)
		}
	}
	if err := os.WriteFile(marker, nil, 0o600); err != nil {
		return fmt.Errorf("pglocal: data dir %s: %w", cfg.DataDir, err)
	}
	if err := prepareDir(cfg.DataDir, cred); err != nil {
		return fmt.Errorf("pglocal: data dir %s: %w", cfg.DataDir, err)
	}
	cfg.Logger.Info("initializing PostgreSQL data dir", "dir", cfg.DataDir, "bin", cfg.BinDir)
	args := []string{"-D", cfg.DataDir, "-U", Superuser, "--auth-local=trust", "--auth-host=reject",
		"--encoding=UTF8", "--locale=C"}
	if cfg.Fast {
		args = append(args, "--no-sync")
	}
	cmd := exec.CommandContext(ctx, filepath.Join(cfg.BinDir, "initdb"), args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	cmd.Dir = "/"
	out, err := cmd.CombinedOutput()
	if err != nil {
		_ = os.RemoveAll(cfg.DataDir)
		_ = os.Remove(marker)
		return fmt.Errorf("pglocal: initdb failed: %w: %s", err, lastLines(out, 5))
	}
	return os.Remove(marker)
}

func isHalfInit(dataDir string) bool {
	_, err := os.Stat(dataDir + ".initdb")
	return err == nil
}

func checkVersion(cfg Config) error {
	b, err := os.ReadFile(filepath.Join(cfg.DataDir, "PG_VERSION"))
	if err != nil {
		return fmt.Errorf("pglocal: %w", err)
	}
	out, err := exec.Command(filepath.Join(cfg.BinDir, "postgres"), "--version").Output()
	if err != nil {
		return fmt.Errorf("pglocal: %s --version: %w", filepath.Join(cfg.BinDir, "postgres"), err)
	}
	want := strings.TrimSpace(string(b))
	// "postgres (PostgreSQL) 15.18 (Debian ...)" → major "15"
	fields := strings.Fields(string(out))
	if len(fields) >= 3 {
		major := strings.SplitN(fields[2], ".", 2)[0]
		if major != want {
			return fmt.Errorf("pglocal: data dir %s was made by PostgreSQL %s but the server binaries in %s are version %s: install PostgreSQL %s or upgrade the cluster with pg_upgrade", cfg.DataDir, want, cfg.BinDir, major, want)
		}
	}
	return nil
}

// stopLeftover stops a server that a previous, killed process left running on
// this data dir, so that this process owns the one it starts.
func stopLeftover(ctx context.Context, cfg Config) error {
	b, err := os.ReadFile(filepath.Join(cfg.DataDir, "postmaster.pid"))
	if err != nil {
		return nil
	}
	lines := strings.Split(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(lines[0]))
	if err != nil || pid <= 0 {
		return nil
	}
	if len(lines) > 1 && strings.TrimSpace(lines[1]) != cfg.DataDir {
		return nil
	}
	if !isPostgresProcess(pid) {
		return nil // stale file: postgres removes it at start
	}
	cfg.Logger.Warn("stopping a PostgreSQL server left running by an earlier process", "pid", pid, "dir", cfg.DataDir)
	_ = syscall.Kill(pid, syscall.SIGINT) // fast shutdown
	deadline := time.Now().Add(cfg.StartTimeout)
	for isPostgresProcess(pid) {
		if time.Now().After(deadline) {
			return fmt.Errorf("pglocal: PostgreSQL (pid %d) left running on %s does not stop", pid, cfg.DataDir)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

func isPostgresProcess(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	name := filepath.Base(string(bytes.SplitN(b, []byte{0}, 2)[0]))
	if strings.HasPrefix(name, "postgres") || strings.HasPrefix(name, "postmaster") {
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		// a zombie is already dead
		return err == nil && !bytes.Contains(st, []byte(") Z "))
	}
	return false
}

func (s *Server) start(ctx context.Context, cred *syscall.Credential) error {
	cfg := s.cfg
	logPath := cfg.DataDir + ".log"
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("pglocal: server log: %w", err)
	}
	s.logFile = lf
	args := []string{"-D", cfg.DataDir, "-p", strconv.Itoa(cfg.Port), "-k", cfg.SocketDir,
		"-c", "listen_addresses=", "-c", "unix_socket_permissions=0700"}
	settings := map[string]string{}
	if cfg.Fast {
		settings["fsync"] = "off"
		settings["synchronous_commit"] = "off"
		settings["full_page_writes"] = "off"
	}
	for k, v := range cfg.Settings {
		settings[k] = v
	}
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		args = append(args, "-c", k+"="+settings[k])
	}
	cmd := exec.Command(filepath.Join(cfg.BinDir, "postgres"), args...)
	cmd.Dir = "/"
	cmd.Stdout = lf
	cmd.Stderr = lf
	if err := startOwned(cmd, cred, func(err error) {
		s.waitErr = err
		close(s.done)
	}); err != nil {
		lf.Close()
		return fmt.Errorf("pglocal: start postgres: %w", err)
	}
	s.cmd = cmd

	deadline := time.Now().Add(cfg.StartTimeout)
	for {
		select {
		case <-s.done:
			lf.Close()
			return fmt.Errorf("pglocal: postgres exited at start (%v): %s", s.waitErr, tailFile(logPath, 5))
		case <-ctx.Done():
			s.Close()
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		c, err := pgx.Connect(ctx, s.URL("postgres"))
		if err == nil {
			c.Close(ctx)
			cfg.Logger.Info("PostgreSQL ready", "cluster", cfg.DataDir, "socket", cfg.SocketDir, "pid", cmd.Process.Pid)
			return nil
		}
		if time.Now().After(deadline) {
			s.Close()
			return fmt.Errorf("pglocal: postgres did not accept connections within %s: %w; log: %s", cfg.StartTimeout, err, tailFile(logPath, 5))
		}
	}
}

// URL returns a connection URL for database db as the superuser.
func (s *Server) URL(db string) string {
	q := url.Values{}
	q.Set("host", s.cfg.SocketDir)
	q.Set("port", strconv.Itoa(s.cfg.Port))
	return (&url.URL{Scheme: "postgres", User: url.User(Superuser), Path: "/" + db, RawQuery: q.Encode()}).String()
}

// DataDir returns where the cluster lives: Config.DataDir, or the place
// recorded for it (see Config.PlaceDir).
func (s *Server) DataDir() string { return s.cfg.DataDir }

// SocketDir returns the directory of the server's unix socket.
func (s *Server) SocketDir() string { return s.cfg.SocketDir }

// Port returns the port number that names the socket.
func (s *Server) Port() int { return s.cfg.Port }

// Done is closed when the server process has exited.
func (s *Server) Done() <-chan struct{} { return s.done }

// Kill stops the server and every backend at once, as a crash of the
// machine would (SIGKILL). Backends run in sessions of their own (they call
// setsid), so they are found by their parent. For tests.
func (s *Server) Kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	pid := s.cmd.Process.Pid
	_ = syscall.Kill(pid, syscall.SIGSTOP) // no new backends from here on
	children := childrenOf(pid)
	_ = syscall.Kill(pid, syscall.SIGKILL)
	for _, c := range children {
		_ = syscall.Kill(c, syscall.SIGKILL)
	}
	<-s.done
	for _, c := range children {
		for isPostgresProcess(c) {
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// childrenOf lists the processes whose parent is pid.
func childrenOf(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", n))
		if err != nil {
			continue
		}
		// "pid (comm) state ppid …"; comm may hold spaces, so cut at ')'.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, n)
		}
	}
	return out
}

// Close stops the server with a fast shutdown and waits for it. Safe to call
// more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		if s.cmd == nil || s.cmd.Process == nil {
			return
		}
		_ = s.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
			s.closeErr = errors.New("pglocal: postgres did not stop within 30s and was killed")
		}
		if s.logFile != nil {
			s.logFile.Close()
		}
	})
	return s.closeErr
}

// runAs returns the credential the server must run with: nil when this
// process is not root, else the given OS user's.
func runAs(name string) (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("pglocal: running as root, PostgreSQL must run as OS user %q, which does not exist (it comes with the PostgreSQL server package): %w", name, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// prepareDir creates dir (mode 0700) owned by the server's OS user, and
// makes sure that user can reach it.
func prepareDir(dir string, cred *syscall.Credential) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return err
	}
	if cred == nil {
		return nil
	}
	if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
		return err
	}
	// Every parent must be searchable by that user.
	if p, err := blocking(filepath.Dir(dir), cred); err != nil || p != "" {
		if err != nil {
			return err
		}
		return fmt.Errorf("directory %s cannot be entered by the PostgreSQL OS user (uid %d): chmod o+x %s, or choose a data dir elsewhere", p, cred.Uid, p)
	}
	return nil
}

// blocking returns the first of dir and its parents that the user of cred
// cannot enter (neither searchable by others nor owned by that user), or ""
// when it can reach dir.
func blocking(dir string, cred *syscall.Credential) (string, error) {
	for p := dir; p != "/" && p != "."; p = filepath.Dir(p) {
		st, err := os.Stat(p)
		if err != nil {
			return "", err
		}
		sys, _ := st.Sys().(*syscall.Stat_t)
		if st.Mode().Perm()&0o001 != 0 || (sys != nil && sys.Uid == cred.Uid) {
			continue
		}
		return p, nil
	}
	return "", nil
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

func tailFile(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, " | ")
}

func hashString(s string) uint32 {
	var h uint32 = 2166136261
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}
