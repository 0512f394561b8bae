package pglocal

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestFindBinariesNone(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	old := debianBinGlob
	debianBinGlob = filepath.Join(t.TempDir(), "*", "bin")
	defer func() { debianBinGlob = old }()
	_, err := FindBinaries()
	if !errors.Is(err, ErrNoBinaries) || !strings.Contains(err.Error(), "apt-get install postgresql") {
		t.Fatalf("want a message saying what to install, got %v", err)
	}
	_, err = Start(context.Background(), Config{DataDir: t.TempDir()})
	if !errors.Is(err, ErrNoBinaries) {
		t.Fatalf("Start: %v", err)
	}
}

func TestRefusesForeignDataDir(t *testing.T) {
	if _, err := FindBinaries(); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "pglocal-test-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o711)
	data := filepath.Join(dir, "pg")
	os.MkdirAll(data, 0o700)
	os.WriteFile(filepath.Join(data, "notes.txt"), []byte("mine"), 0o600)
	_, err = Start(context.Background(), Config{DataDir: data})
	if err == nil || !strings.Contains(err.Error(), "holds no PostgreSQL cluster") {
		t.Fatalf("got %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(data, "notes.txt")); string(b) != "mine" {
		t.Fatal("foreign file touched")
	}
}

// TestClusterOutsideUnreachableDataDir: as root, a data dir under a
// directory the postgres OS user cannot enter (a checkout in /root, mode
// 0700) gets its cluster in PlaceDir, recorded beside the data dir; the
// next start finds the same cluster; the 0700 directory stays 0700.
func TestClusterOutsideUnreachableDataDir(t *testing.T) {
	if _, err := FindBinaries(); err != nil {
		t.Fatal(err)
	}
	home, err := os.MkdirTemp("", "pglocal-home-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(home)
	if err := os.Chmod(home, 0o700); err != nil {
		t.Fatal(err)
	}
	placeRoot, err := os.MkdirTemp("", "pglocal-place-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(placeRoot)
	os.Chmod(placeRoot, 0o711)
	placeDir := filepath.Join(placeRoot, "clusters")
	data := filepath.Join(home, "checkout", "data", "postgres")
	var logs strings.Builder
	cfg := Config{DataDir: data, PlaceDir: placeDir, Fast: true,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))}

	ctx := context.Background()
	s, err := Start(ctx, cfg)
	if err != nil {
		t.Fatalf("start under a 0700 parent: %v", err)
	}
	defer s.Close()
	root := os.Geteuid() == 0
	if !root {
		// Not root: the server runs as this user, who can reach the dir.
		if s.DataDir() != data {
			t.Fatalf("cluster moved to %s without need", s.DataDir())
		}
		return
	}
	if !strings.HasPrefix(s.DataDir(), placeDir+"/") {
		t.Fatalf("cluster at %s, want it under %s", s.DataDir(), placeDir)
	}
	rec, err := os.ReadFile(data + ".location")
	if err != nil || strings.TrimSpace(string(rec)) != s.DataDir() {
		t.Fatalf("place not recorded: %q %v", rec, err)
	}
	if !strings.Contains(logs.String(), "cluster="+s.DataDir()) || !strings.Contains(logs.String(), "cannot enter "+home) {
		t.Fatalf("the log does not say where the cluster lives and why: %s", logs.String())
	}
	if st, _ := os.Stat(home); st.Mode().Perm() != 0o700 {
		t.Fatalf("%s is now %v: the user's directory was opened", home, st.Mode().Perm())
	}
	c, err := pgx.Connect(ctx, s.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(ctx, "create table kept (v text); insert into kept values ('first start')"); err != nil {
		t.Fatal(err)
	}
	c.Close(ctx)
	first := s.DataDir()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// The next start follows the record to the same cluster.
	s2, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if s2.DataDir() != first {
		t.Fatalf("second start at %s, first at %s", s2.DataDir(), first)
	}
	c, err = pgx.Connect(ctx, s2.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var v string
	if err := c.QueryRow(ctx, "select v from kept").Scan(&v); err != nil || v != "first start" {
		t.Fatalf("second start does not have the first start's data: %q %v", v, err)
	}
}

// TestPlaceRefusals: a record that is not an absolute path is refused
// with a clear error, and a non-empty foreign dir under an unreachable
// parent stays where it is (Start then refuses it) rather than being
// silently replaced by a cluster elsewhere.
func TestPlaceRefusals(t *testing.T) {
	home, err := os.MkdirTemp("", "pglocal-home-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(home)
	os.Chmod(home, 0o700)
	placeDir := filepath.Join(home, "never-used")
	nobody := &syscall.Credential{Uid: 65534, Gid: 65534}

	data := filepath.Join(home, "a", "pg")
	os.MkdirAll(filepath.Dir(data), 0o700)
	os.WriteFile(data+".location", []byte("relative/dir\n"), 0o600)
	cfg := Config{DataDir: data, PlaceDir: placeDir, Logger: slog.Default()}
	if err := place(&cfg, nobody); err == nil || !strings.Contains(err.Error(), "not a clean absolute path") {
		t.Fatalf("relative record: %v", err)
	}

	foreign := filepath.Join(home, "b", "pg")
	os.MkdirAll(foreign, 0o700)
	os.WriteFile(filepath.Join(foreign, "notes.txt"), []byte("mine"), 0o600)
	cfg = Config{DataDir: foreign, PlaceDir: placeDir, Logger: slog.Default()}
	if err := place(&cfg, nobody); err != nil || cfg.DataDir != foreign {
		t.Fatalf("foreign dir under a 0700 parent: moved to %s (%v)", cfg.DataDir, err)
	}
	if _, err := os.Stat(placeDir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a cluster was placed for a foreign data dir: %v", err)
	}
	if os.Geteuid() == 0 {
		if _, err := Start(context.Background(), Config{DataDir: foreign, PlaceDir: placeDir}); err == nil || !strings.Contains(err.Error(), "cannot be entered") {
			t.Fatalf("start on a foreign dir under a 0700 parent: %v", err)
		}
	}
}
