package tlsutil

import (
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"testing"
)

func TestEnsureReusesAndCovers(t *testing.T) {
	dir := t.TempDir()
	c1, err := Ensure(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	ca1, _ := os.ReadFile(filepath.Join(dir, CACert))
	c2, err := Ensure(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	ca2, _ := os.ReadFile(filepath.Join(dir, CACert))
	if string(ca1) != string(ca2) || string(c1.Certificates[0].Certificate[0]) != string(c2.Certificates[0].Certificate[0]) {
		t.Fatal("second start made new certificates")
	}
	// A new host name re-issues the server certificate under the same CA.
	c3, err := Ensure(dir, []string{"cctv.example.go.kr"})
	if err != nil {
		t.Fatal(err)
	}
	ca3, _ := os.ReadFile(filepath.Join(dir, CACert))
	if string(ca3) != string(ca1) {
		t.Fatal("CA changed")
	}
	for _, host := range []string{"127.0.0.1", "localhost", "cctv.example.go.kr"} {
		cc, err := ClientConfig(filepath.Join(dir, CACert))
		if err != nil {
			t.Fatal(err)
		}
		cc.ServerName = host
		handshake(t, c3, cc)
	}
	if st, _ := os.Stat(filepath.Join(dir, "server.key")); st.Mode().Perm() != 0o600 {
		t.Fatalf("server key mode %v", st.Mode().Perm())
	}
}

func TestCorruptCA(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, CACert), []byte("garbage"), 0o644)
	os.WriteFile(filepath.Join(dir, "ca.key"), []byte("garbage"), 0o600)
	if _, err := Ensure(dir, nil); err == nil {
		t.Fatal("corrupt CA accepted")
	}
}

func handshake(t *testing.T, srv, cli *tls.Config) {
	t.Helper()
	l, err := tls.Listen("tcp", "127.0.0.1:0", srv)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err == nil {
			c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	raw, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c := tls.Client(raw, cli)
	defer c.Close()
	if err := c.Handshake(); err != nil {
		t.Fatalf("handshake as %s: %v", cli.ServerName, err)
	}
}
