package config

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "gwanjed.yaml")
	os.WriteFile(file, []byte("grpc-addr: 127.0.0.1:1\nhttp-addr: 127.0.0.1:2\nidle: 5m\nhosts: [a, b]\n"), 0o600)
	t.Setenv("GWANJE_HTTP_ADDR", "127.0.0.1:3")
	t.Setenv("GWANJE_DATA_DIR", "/env")

	tests := []struct {
		name             string
		args             []string
		grpc, http, data string
		idle             time.Duration
		hosts            string
	}{
		{"file < env < flag", []string{"--config", file, "--data-dir", "/flag"}, "127.0.0.1:1", "127.0.0.1:3", "/flag", 5 * time.Minute, "a,b"},
		{"no file", nil, "def", "127.0.0.1:3", "/env", time.Minute, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := flag.NewFlagSet("x", flag.ContinueOnError)
			fs.String("config", "", "")
			grpc := fs.String("grpc-addr", "def", "")
			http := fs.String("http-addr", "def", "")
			data := fs.String("data-dir", "def", "")
			idle := fs.Duration("idle", time.Minute, "")
			var hosts StringList
			fs.Var(&hosts, "hosts", "")
			if err := Load(fs, tt.args, "config"); err != nil {
				t.Fatal(err)
			}
			if *grpc != tt.grpc || *http != tt.http || *data != tt.data || *idle != tt.idle || hosts.String() != tt.hosts {
				t.Fatalf("got %s %s %s %s %s", *grpc, *http, *data, *idle, hosts.String())
			}
		})
	}
}

func TestErrorsNameTheSetting(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "bad.yaml")
	os.WriteFile(file, []byte("nosuch: 1\nidle: soon\n"), 0o600)
	t.Setenv("GWANJE_COUNT", "many")
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.String("config", "", "")
	fs.Duration("idle", time.Minute, "")
	fs.Int("count", 1, "")
	err := Load(fs, []string{"--config", file}, "config")
	for _, want := range []string{`unknown setting "nosuch"`, "idle:", "GWANJE_COUNT"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not mention %s", err, want)
		}
	}
}
