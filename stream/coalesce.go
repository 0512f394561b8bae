package stream

import (
	"net"
	"sync"
	"time"
)

// Viewer connections coalesce the interleaved RTP frames of one access unit
// into one write. gortsplib writes every RTP packet of a TCP viewer with its
// own Write (one system call and one TCP segment each); the hub queues a
// whole access unit at once, so the packets of a frame reach the socket
// back to back. A coalescingConn keeps an interleaved RTP frame without the
// marker bit (not the last packet of its access unit) in a small buffer and
// writes the buffer when the access unit ends (a packet with the marker
// bit), when the next write is anything else (RTCP, an RTSP response), when
// the buffer is full, or at the latest coalesceHold after the first frame it
// held (a camera that never sets the marker bit). A 2 Mbit/s stream in
// ~1.4 KB packets thus needs one system call per frame instead of seven.
//
// Back-pressure is unchanged: a write that finds the socket full still
// blocks the viewer's writer goroutine (within gortsplib's write timeout),
// so its bounded queue fills and the hub drops frames for that viewer only.
// The buffer adds at most coalesceMax bytes per viewer, and only while an
// access unit is being written (it goes back to a pool after each write).
const (
	coalesceMax  = 32 << 10
	coalesceHold = 2 * time.Millisecond
)

var coalescePool = sync.Pool{New: func() any { b := make([]byte, 0, coalesceMax); return &b }}

type coalescingConn struct {
	net.Conn

	mu     sync.Mutex
	buf    *[]byte // nil when nothing is held
	hold   time.Duration
	timer  *time.Timer
	err    error // of a write of held frames; returned by later writes
	closed bool
}

func newCoalescingConn(c net.Conn) *coalescingConn {
	cc := &coalescingConn{Conn: c, hold: coalesceHold}
	cc.timer = time.AfterFunc(time.Hour, cc.timedFlush)
	cc.timer.Stop()
	return cc
}

// holdable says whether p is one interleaved RTP frame (an even channel)
// whose packet does not end its access unit.
func holdable(p []byte) bool {
	return len(p) >= 4+12 && p[0] == '$' && p[1]&1 == 0 && p[4]>>6 == 2 && p[5]&0x80 == 0
}

func (c *coalescingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	hold := holdable(p)
	if c.buf != nil && len(*c.buf)+len(p) > coalesceMax {
		if err := c.flushLocked(); err != nil {
			return 0, err
		}
	}
	if c.buf == nil {
		if !hold || len(p) > coalesceMax || c.closed {
			return c.Conn.Write(p)
		}
		c.buf = coalescePool.Get().(*[]byte)
		c.timer.Reset(c.hold)
	}
	*c.buf = append(*c.buf, p...)
	if hold {
		return len(p), nil
	}
	if err := c.flushLocked(); err != nil {
		return 0, err
	}
	return len(p), nil
}

// flushLocked writes the held frames and releases the buffer.
func (c *coalescingConn) flushLocked() error {
	c.timer.Stop()
	b := c.buf
	c.buf = nil
	_, err := c.Conn.Write(*b)
	*b = (*b)[:0]
	coalescePool.Put(b)
	if err != nil {
		c.err = err
	}
	return err
}

func (c *coalescingConn) timedFlush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.buf != nil && c.err == nil {
		_ = c.flushLocked()
	}
}

// Close closes the connection first (which ends a blocked write) and then
// drops what is held.
func (c *coalescingConn) Close() error {
	err := c.Conn.Close()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	c.timer.Stop()
	if c.buf != nil {
		*c.buf = (*c.buf)[:0]
		coalescePool.Put(c.buf)
		c.buf = nil
	}
	return err
}
