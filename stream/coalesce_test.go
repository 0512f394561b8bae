package stream

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// countConn records each Write it gets.
type countConn struct {
	net.Conn
	writes [][]byte
	ch     chan struct{}
}

func (c *countConn) Write(p []byte) (int, error) {
	c.writes = append(c.writes, append([]byte(nil), p...))
	if c.ch != nil {
		c.ch <- struct{}{}
	}
	return len(p), nil
}

func (c *countConn) Close() error { return nil }

func frame(t *testing.T, ch byte, seq uint16, marker bool, size int) []byte {
	t.Helper()
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Marker: marker}, Payload: make([]byte, size)}
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return append([]byte{'$', ch, byte(len(b) >> 8), byte(len(b))}, b...)
}

func TestCoalescingConn(t *testing.T) {
	under := &countConn{}
	c := newCoalescingConn(under)
	c.hold = time.Hour // only the marker, other writes and a full buffer flush here
	var want bytes.Buffer
	write := func(p []byte) {
		t.Helper()
		if n, err := c.Write(p); err != nil || n != len(p) {
			t.Fatalf("write: %d, %v", n, err)
		}
		want.Write(p)
	}
	// An access unit of five packets: one write at its marker.
	for i := 0; i < 4; i++ {
		write(frame(t, 0, uint16(i), false, 1400))
	}
	if len(under.writes) != 0 {
		t.Fatalf("%d writes before the marker", len(under.writes))
	}
	write(frame(t, 0, 4, true, 1400))
	if len(under.writes) != 1 {
		t.Fatalf("%d writes after the marker, want 1", len(under.writes))
	}
	// RTCP (odd channel) and RTSP text go out at once, after what is held.
	write(frame(t, 0, 5, false, 100))
	write([]byte{'$', 1, 0, 8, 0x80, 200, 0, 1, 0, 0, 0, 0})
	if len(under.writes) != 2 {
		t.Fatalf("%d writes after RTCP, want 2", len(under.writes))
	}
	write(frame(t, 0, 6, false, 100))
	write([]byte("RTSP/1.0 200 OK\r\nCSeq: 3\r\n\r\n"))
	if len(under.writes) != 3 {
		t.Fatalf("%d writes after a response, want 3", len(under.writes))
	}
	// A large access unit is written in pieces of at most coalesceMax.
	for i := 0; i < 60; i++ {
		write(frame(t, 0, uint16(7+i), i == 59, 1400))
	}
	for _, w := range under.writes {
		if len(w) > coalesceMax {
			t.Fatalf("a write of %d bytes", len(w))
		}
	}
	if got := bytes.Join(under.writes, nil); !bytes.Equal(got, want.Bytes()) {
		t.Fatal("bytes differ from what was written, or their order")
	}
}

func TestCoalescingConnNoMarker(t *testing.T) {
	under := &countConn{ch: make(chan struct{}, 1)}
	c := newCoalescingConn(under)
	p := frame(t, 0, 1, false, 500)
	if _, err := c.Write(p); err != nil {
		t.Fatal(err)
	}
	select {
	case <-under.ch:
	case <-time.After(time.Second):
		t.Fatal("a held frame was not written without a marker")
	}
	c.Close()
}

func TestCoalescingConnClose(t *testing.T) {
	a, b := net.Pipe()
	c := newCoalescingConn(a)
	go io.Copy(io.Discard, b)
	if _, err := c.Write(frame(t, 0, 1, false, 500)); err != nil {
		t.Fatal(err)
	}
	c.Close()
	b.Close()
	if _, err := c.Write(frame(t, 0, 2, true, 500)); err == nil {
		t.Fatal("write after close succeeded")
	}
}
