package netlimit_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
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
