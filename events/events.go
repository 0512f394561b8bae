// Package events owns gwanje's messaging over NATS: the embedded server used
// by default and by tests, the connection to an external cluster, and the one
// place where subjects, JetStream streams and KV buckets are named.
package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Config says which NATS to use. With URL empty an in-process server with
// JetStream is started, storing its data under DataDir.
type Config struct {
	// URL of an external NATS server or cluster (comma-separated). Empty
	// starts the embedded server.
	URL string
	// DataDir holds the embedded server's JetStream store (DataDir/nats).
	// Required when URL is empty.
	DataDir string
	// ListenAddr is where the embedded server accepts other processes
	// (gwanjed roles on this machine, tools). Default "127.0.0.1:7122";
	// port 0 picks a free port; "-" does not listen at all.
	ListenAddr string
	// Name identifies this connection to the server. Default "gwanjed".
	Name string
	// Logger receives connection state changes. Default slog.Default().
	Logger *slog.Logger
}

// Bus is a connection to NATS with JetStream, and the embedded server when
// this process runs one.
type Bus struct {
	// Conn is the core NATS connection.
	Conn *nats.Conn
	// JS is the JetStream API on Conn.
	JS jetstream.JetStream

	srv       *server.Server
	log       *slog.Logger
	closeOnce sync.Once
}

// New starts the embedded server (when cfg.URL is empty) or connects to the
// external one, and makes sure the streams and buckets gwanje uses exist.
func New(ctx context.Context, cfg Config) (*Bus, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Name == "" {
		cfg.Name = "gwanjed"
	}
	b := &Bus{log: cfg.Logger}
	url := cfg.URL
	opts := []nats.Option{
		nats.Name(cfg.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				cfg.Logger.Warn("NATS disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { cfg.Logger.Info("NATS reconnected", "server", c.ConnectedUrlRedacted()) }),
	}
	if url == "" {
		srv, err := startEmbedded(cfg)
		if err != nil {
			return nil, err
		}
		b.srv = srv
		opts = append(opts, nats.InProcessServer(srv))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("events: connect to NATS %s: %w", redactURL(url), err)
	}
	b.Conn = nc
	js, err := jetstream.New(nc)
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("events: jetstream: %w", err)
	}
	b.JS = js
	if err := EnsureStreams(ctx, js); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

func startEmbedded(cfg Config) (*server.Server, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("events: DataDir is required for the embedded NATS server")
	}
	store := filepath.Join(cfg.DataDir, "nats")
	if err := os.MkdirAll(store, 0o700); err != nil {
		return nil, fmt.Errorf("events: NATS store dir: %w", err)
	}
	opts := &server.Options{
		ServerName: "gwanje-embedded",
		JetStream:  true,
		StoreDir:   store,
		NoSigs:     true,
		NoLog:      true,
	}
	addr := cfg.ListenAddr
	if addr == "" {
		addr = "127.0.0.1:7122"
	}
	if addr == "-" {
		opts.DontListen = true
	} else {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("events: NATS listen address %q: %w", addr, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil {
			return nil, fmt.Errorf("events: NATS listen address %q: bad port", addr)
		}
		if p == 0 {
			p = server.RANDOM_PORT
		}
		opts.Host, opts.Port = host, p
		// Fail with a clear error when the port is taken, before the
		// server's own accept loop would only log it.
		if p != server.RANDOM_PORT {
			l, err := net.Listen("tcp", addr)
			if err != nil {
				return nil, fmt.Errorf("events: NATS cannot listen on %s: %w (choose another with --nats-listen)", addr, err)
			}
			l.Close()
		}
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("events: embedded NATS: %w", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		srv.Shutdown()
		return nil, errors.New("events: embedded NATS did not become ready within 30s")
	}
	return srv, nil
}

// ClientURL is the URL other processes use to reach the embedded server, or
// "" when none listens.
func (b *Bus) ClientURL() string {
	if b.srv == nil || b.srv.Addr() == nil {
		return ""
	}
	return b.srv.ClientURL()
}

// Embedded reports whether this process runs the NATS server.
func (b *Bus) Embedded() bool { return b.srv != nil }

// Close drains the connection and stops the embedded server. Safe to call
// more than once.
func (b *Bus) Close() {
	b.closeOnce.Do(func() {
		if b.Conn != nil {
			_ = b.Conn.Drain()
			b.Conn.Close()
		}
		if b.srv != nil {
			b.srv.Shutdown()
			b.srv.WaitForShutdown()
		}
	})
}

func redactURL(u string) string {
	if u == "" {
		return "(embedded)"
	}
	return u
}
