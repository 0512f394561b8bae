package events_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/gwanje/gwanje/events"
)

func newBus(t *testing.T, dir string) *events.Bus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := events.New(ctx, events.Config{DataDir: dir, ListenAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

func TestEmbeddedJetStreamKeepsMessagesAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	b := newBus(t, dir)
	if _, err := b.JS.Publish(ctx, events.CameraStatus("cam1"), []byte("offline")); err != nil {
		t.Fatal(err)
	}
	// Another process reaches the embedded server by its client URL.
	other, err := nats.Connect(b.ClientURL())
	if err != nil {
		t.Fatalf("connect to %s: %v", b.ClientURL(), err)
	}
	other.Close()
	b.Close()
	b.Close() // idempotent

	b2 := newBus(t, dir)
	st, err := b2.JS.Stream(ctx, events.StreamCamera)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := st.GetLastMsgForSubject(ctx, events.CameraStatus("cam1"))
	if err != nil {
		t.Fatal(err)
	}
	if string(msg.Data) != "offline" {
		t.Fatalf("got %q", msg.Data)
	}
}

func TestExternalURL(t *testing.T) {
	srv := newBus(t, t.TempDir())
	b, err := events.New(context.Background(), events.Config{URL: srv.ClientURL(), Name: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if b.Embedded() {
		t.Fatal("external connection claims to embed a server")
	}
	if _, err := b.JS.Stream(context.Background(), events.StreamAudit); err != nil {
		t.Fatal(err)
	}
}

func TestPortTaken(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, err = events.New(context.Background(), events.Config{DataDir: t.TempDir(), ListenAddr: l.Addr().String()})
	if err == nil || !strings.Contains(err.Error(), "cannot listen") {
		t.Fatalf("want a clear port-taken error, got %v", err)
	}
}

func TestSubjects(t *testing.T) {
	tests := []struct{ got, want string }{
		{events.CameraStatus("c1"), "gwanje.v1.camera.c1.status"},
		{events.CameraEvent("c1", "motion"), "gwanje.v1.camera.c1.event.motion"},
		{events.Audit("live.view.start"), "gwanje.v1.audit.live.view.start"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %s, want %s", tt.got, tt.want)
		}
	}
}
