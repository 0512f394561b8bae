package netlimit

import (
	"context"
	"fmt"
	"net"
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
