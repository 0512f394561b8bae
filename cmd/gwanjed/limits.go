package main

import (
	"fmt"
	"log/slog"
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"

	"github.com/gwanje/gwanje/internal/netlimit"
)

// clientLimits are the caps of this process's client listeners, derived
// from its descriptor limit (see netlimit.Budget).
type clientLimits struct {
	budget    netlimit.Budget
	perSource int
	metrics   *netlimit.Metrics
	log       *slog.Logger
}

// planLimits raises the descriptor limit to its hard limit and divides it
// between the client listeners this process opens and the reserve.
func planLimits(cfg Config, log *slog.Logger) (*clientLimits, error) {
	before, limit, err := netlimit.RaiseLimit()
	if err != nil {
		return nil, err
	}
	n := 1 // gRPC
	for _, on := range []bool{cfg.HTTPAddr != "", cfg.HTTPSAddr != "", cfg.runs("stream"), cfg.runs("recorder"),
		cfg.runs("stream") && cfg.HTTPSAddr != "" && cfg.WebRTCTCPPort >= 0} { // ICE-TCP
		if on {
			n++
		}
	}
	b, err := netlimit.Plan(limit, netlimit.BudgetConfig{ClientShare: cfg.ClientFDShare, Listeners: n, MaxConns: cfg.MaxConns})
	if err != nil {
		return nil, fmt.Errorf("max-conns, client-fd-share: %w", err)
	}
	log.Info("descriptor budget", "limit", limit, "raised_from", before, "client_listeners", n,
		"max_conns", b.PerListener, "max_conns_per_source", cfg.MaxConnsPerSource, "reserve", b.Reserve)
	return &clientLimits{budget: b, perSource: cfg.MaxConnsPerSource, metrics: netlimit.NewMetrics(), log: log}, nil
}

func (c *clientLimits) config(name string) netlimit.Config {
	return netlimit.Config{Name: name, MaxConns: c.budget.PerListener, MaxPerSource: c.perSource, Metrics: c.metrics, Logger: c.log}
}

// wrap caps a listener this process opened.
func (c *clientLimits) wrap(name string, l net.Listener) (net.Listener, error) {
	return netlimit.Wrap(l, c.config(name))
}

// wrapper caps a listener a server opens itself (RTSP).
func (c *clientLimits) wrapper(name string) (func(net.Listener) net.Listener, error) {
	return netlimit.Wrapper(c.config(name))
}

// grpcOptions bound what one gRPC client can hold: a connection without
// calls is closed after idle, one that does not finish its TLS handshake
// within 10s is dropped, clients may not ping more often than every 10s,
// and one connection carries at most maxStreams calls at once.
func grpcOptions(idle time.Duration, maxStreams int) []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: idle, Time: 30 * time.Second, Timeout: 10 * time.Second}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		grpc.MaxConcurrentStreams(uint32(maxStreams)),
		grpc.ConnectionTimeout(10 * time.Second),
	}
}
