package netlimit_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"testing"
	"time"

	"google.golang.org/grpc/credentials"

	"github.com/gwanje/gwanje/internal/netlimit"
	"github.com/gwanje/gwanje/internal/tlsutil"
)

// TestLimitHandshakes: with one slot, a connection that never finishes its
// handshake keeps the next one waiting, which is closed when its wait ends
// without the handshake having run; once the slot is free a real client
// completes its handshake.
func TestLimitHandshakes(t *testing.T) {
	dir := t.TempDir()
	srvTLS, err := tlsutil.Ensure(dir, []string{"localhost"})
	if err != nil {
		t.Fatal(err)
	}
	creds := netlimit.LimitHandshakes(credentials.NewTLS(srvTLS), 1, 200*time.Millisecond)

	// A client that connects and says nothing holds the only slot.
	stuckSrv, stuckCli := net.Pipe()
	stuckDone := make(chan error, 1)
	go func() { _, _, err := creds.ServerHandshake(stuckSrv); stuckDone <- err }()
	for creds.InFlight() != 1 {
		runtime.Gosched()
	}

	// The next connection gets no slot: refused without a handshake (the
	// client side never receives a ServerHello, so nothing was computed).
	waitSrv, waitCli := net.Pipe()
	defer waitCli.Close()
	cliErr := make(chan error, 1)
	go func() {
		c := tls.Client(waitCli, &tls.Config{InsecureSkipVerify: true})
		cliErr <- c.HandshakeContext(context.Background())
	}()
	if _, _, err := creds.ServerHandshake(waitSrv); !errors.Is(err, netlimit.ErrHandshakeBusy) {
		t.Fatalf("second handshake: %v, want ErrHandshakeBusy", err)
	}
	waitCli.Close()
	if err := <-cliErr; err == nil {
		t.Fatal("the refused client completed a handshake")
	}

	// The stuck client goes away: its slot is released.
	stuckCli.Close()
	if err := <-stuckDone; err == nil {
		t.Fatal("the silent client's handshake succeeded")
	}

	// A real client now completes, and so does the one after it (the slot
	// is released after each).
	clone := creds.Clone()
	for i := 0; i < 2; i++ {
		s, c := net.Pipe()
		go func() {
			cc := tls.Client(c, &tls.Config{InsecureSkipVerify: true, ServerName: "localhost", NextProtos: []string{"h2"}})
			if cc.HandshakeContext(context.Background()) == nil {
				_, _ = io.Copy(io.Discard, cc) // TLS 1.3 session tickets follow the handshake
			}
		}()
		conn, _, err := clone.ServerHandshake(s)
		if err != nil {
			t.Fatalf("handshake %d after release: %v", i, err)
		}
		conn.Close()
		c.Close()
	}
}

// TestTLSListener: an HTTP server behind a TLSListener serves HTTP/2 and
// HTTP/1.1; with one slot, a silent client holds it and the next
// connection is closed after its wait without a handshake; the silent one
// is dropped after its handshake time, and the server serves again.
func TestTLSListener(t *testing.T) {
	srvTLS, err := tlsutil.Ensure(t.TempDir(), []string{"localhost", "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	cfg := srvTLS.Clone()
	cfg.NextProtos = []string{"h2", "http/1.1"}
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := netlimit.NewTLSListener(inner, netlimit.TLSListenerConfig{TLS: cfg, Handshakes: 1, SlotWait: 100 * time.Millisecond, HandshakeTimeout: 2 * time.Second})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, r.Proto) })}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close(); l.Close(); l.Close() })

	get := func(h2 bool) (string, error) {
		tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: h2}
		if !h2 {
			tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get("https://" + l.Addr().String() + "/")
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	for _, c := range []struct {
		h2   bool
		want string
	}{{true, "HTTP/2.0"}, {false, "HTTP/1.1"}} {
		if got, err := get(c.h2); err != nil || got != c.want {
			t.Fatalf("h2=%v: %q, %v; want %q", c.h2, got, err, c.want)
		}
	}

	// A silent client takes the only slot.
	silent, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	for l.InFlight() != 1 {
		runtime.Gosched()
	}
	// The next one gets no handshake: its connection is closed.
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true})
	if err := tc.HandshakeContext(context.Background()); err == nil {
		t.Fatal("a connection got a handshake while the only slot was held")
	}
	// The silent client is dropped once its handshake time is over.
	_ = silent.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := silent.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("silent client: %v, want the server to close it", err)
	}
	if got, err := get(true); err != nil || got != "HTTP/2.0" {
		t.Fatalf("after the flood: %q, %v", got, err)
	}
}
