package netlimit

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"sync"
	"time"

	"google.golang.org/grpc/credentials"
)

// DefaultHandshakeWait is how long a connection waits for a handshake slot
// before it is closed.
const DefaultHandshakeWait = 10 * time.Second

// LimitHandshakes wraps a gRPC server's transport credentials so that at
// most n TLS handshakes run at once; the others wait (up to wait, default
// DefaultHandshakeWait) without running. A flood of new connections then
// costs the process n cores of key exchange at most instead of one runnable
// goroutine per connection, and the requests of clients already connected
// (an operator's WhoAmI, a camera's stream) keep being scheduled. n <= 0
// is taken as 1; runtime.GOMAXPROCS(0) is a good choice.
func LimitHandshakes(c credentials.TransportCredentials, n int, wait time.Duration) *HandshakeLimit {
	if n <= 0 {
		n = 1
	}
	if wait <= 0 {
		wait = DefaultHandshakeWait
	}
	return &HandshakeLimit{TransportCredentials: c, slots: make(chan struct{}, n), wait: wait}
}

// HandshakeLimit is gRPC server transport credentials that run at most a
// fixed number of handshakes at once.
type HandshakeLimit struct {
	credentials.TransportCredentials
	slots chan struct{}
	wait  time.Duration
}

// ErrHandshakeBusy closes a connection that waited too long for a slot.
var ErrHandshakeBusy = fmt.Errorf("netlimit: too many TLS handshakes at once")

// ServerHandshake waits for a slot, then runs the wrapped handshake.
func (l *HandshakeLimit) ServerHandshake(raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	select {
	case l.slots <- struct{}{}:
	default:
		t := time.NewTimer(l.wait)
		select {
		case l.slots <- struct{}{}:
			t.Stop()
		case <-t.C:
			return nil, nil, ErrHandshakeBusy
		}
	}
	defer func() { <-l.slots }()
	return l.TransportCredentials.ServerHandshake(raw)
}

// Clone clones the wrapped credentials; the clone shares the slots.
func (l *HandshakeLimit) Clone() credentials.TransportCredentials {
	return &HandshakeLimit{TransportCredentials: l.TransportCredentials.Clone(), slots: l.slots, wait: l.wait}
}

// ClientHandshake is the wrapped credentials' own: only servers are limited.
func (l *HandshakeLimit) ClientHandshake(ctx context.Context, authority string, raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return l.TransportCredentials.ClientHandshake(ctx, authority, raw)
}

// InFlight is the number of handshakes running now.
func (l *HandshakeLimit) InFlight() int { return len(l.slots) }

// TLSListener is a TLS listener for HTTP servers that runs at most a fixed
// number of handshakes at once, as LimitHandshakes does for gRPC. Accept
// returns only connections whose handshake completed (*tls.Conn, so
// net/http sees the negotiated protocol); a connection that waits longer
// than SlotWait for a slot, or whose handshake takes longer than
// HandshakeTimeout, is
// closed without reaching the server.
type TLSListener struct {
	inner net.Listener
	cfg   *tls.Config
	slots chan struct{}
	wait  time.Duration // for a slot
	limit time.Duration // for the handshake

	conns     chan net.Conn
	errc      chan error
	done      chan struct{}
	closeOnce sync.Once
}

// TLSListenerConfig configures a TLSListener.
type TLSListenerConfig struct {
	// TLS is the server's configuration; list "h2" and "http/1.1" in its
	// NextProtos for HTTP/2. Required.
	TLS *tls.Config
	// Handshakes is the most handshakes run at once. Default 1;
	// runtime.GOMAXPROCS(0) is a good choice.
	Handshakes int
	// SlotWait is how long a connection waits for a handshake slot.
	// Default DefaultHandshakeWait.
	SlotWait time.Duration
	// HandshakeTimeout bounds one handshake. Default DefaultHandshakeWait.
	HandshakeTimeout time.Duration
}

// NewTLSListener starts accepting on inner (usually a netlimit Listener,
// so the connection caps count connections still in their handshake).
func NewTLSListener(inner net.Listener, cfg TLSListenerConfig) *TLSListener {
	n := max(cfg.Handshakes, 1)
	wait, limit := cfg.SlotWait, cfg.HandshakeTimeout
	if wait <= 0 {
		wait = DefaultHandshakeWait
	}
	if limit <= 0 {
		limit = DefaultHandshakeWait
	}
	l := &TLSListener{inner: inner, cfg: cfg.TLS, slots: make(chan struct{}, n), wait: wait, limit: limit,
		conns: make(chan net.Conn), errc: make(chan error, 1), done: make(chan struct{})}
	go l.acceptLoop()
	return l
}

func (l *TLSListener) acceptLoop() {
	for {
		raw, err := l.inner.Accept()
		if err != nil {
			select {
			case l.errc <- err:
			case <-l.done:
			}
			return
		}
		go l.handshake(raw)
	}
}

func (l *TLSListener) handshake(raw net.Conn) {
	t := time.NewTimer(l.wait)
	defer t.Stop()
	select {
	case l.slots <- struct{}{}:
	case <-t.C:
		raw.Close()
		return
	case <-l.done:
		raw.Close()
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), l.limit)
	c := tls.Server(raw, l.cfg)
	err := c.HandshakeContext(ctx)
	cancel()
	<-l.slots
	if err != nil {
		c.Close()
		return
	}
	select {
	case l.conns <- c:
	case <-l.done:
		c.Close()
	}
}

// Accept returns the next connection whose handshake completed.
func (l *TLSListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case err := <-l.errc:
		l.errc <- err // every later Accept fails the same way
		return nil, err
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close stops accepting; connections in their handshake are closed.
// Idempotent.
func (l *TLSListener) Close() error {
	var err error
	l.closeOnce.Do(func() {
		close(l.done)
		err = l.inner.Close()
	})
	return err
}

// Addr is the inner listener's address.
func (l *TLSListener) Addr() net.Addr { return l.inner.Addr() }

// InFlight is the number of handshakes running now.
func (l *TLSListener) InFlight() int { return len(l.slots) }
