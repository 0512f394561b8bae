package pglocal

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
