package camsim

import (
	"context"
	"net"
	"strconv"
	"testing"
)

// TestOfflineKeepsItsPorts: while a camera is offline its ports stay bound
// (so the kernel hands them to no outgoing connection), connections are
// refused, and it comes back at the same address.
func TestOfflineKeepsItsPorts(t *testing.T) {
	c, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	before := c.DeviceServiceURL()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(c.httpPort))
	c.SetFaults(Faults{Offline: true})
	if len(c.held.fds) != 3 {
		t.Fatalf("%d of the camera's 3 ports held while offline", len(c.held.fds))
	}
	if conn, err := net.Dial("tcp", addr); err == nil {
		conn.Close()
		t.Fatal("the offline camera accepted a connection")
	}
	c.SetFaults(Faults{})
	if !c.Up() || c.DeviceServiceURL() != before {
		t.Fatalf("came back as %s (up %v), was %s", c.DeviceServiceURL(), c.Up(), before)
	}
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("camera back online refuses connections: %v", err)
	}
	conn.Close()
}
