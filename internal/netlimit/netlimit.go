// Package netlimit bounds what clients can take of a process's file
// descriptors. A Listener holds at most MaxConns connections and at most
// MaxPerSource from one source address; a connection over either cap is
// closed at once, before anything is read from it. A Budget derives those
// caps from the process's descriptor limit (RLIMIT_NOFILE), so that a share
// of the descriptors always stays in reserve for the camera side (health
// probes, upstream pulls, recording) however many clients connect.
package netlimit

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Config configures a Listener.
type Config struct {
	// Name names the listener in logs and metrics ("http", "grpc"…).
	// Required.
	Name string
	// MaxConns is the most connections the listener holds at once.
	// Required (> 0).
	MaxConns int
	// MaxPerSource is the most connections it holds from one source: an
	// IPv4 address, or an IPv6 /64 (one host's usual share). Required
	// (> 0); at most MaxConns.
	MaxPerSource int
	// Metrics receives the listener's figures. Optional.
	Metrics *Metrics
	// Logger receives one line per LogEvery while connections are refused.
	// Default slog.Default().
	Logger *slog.Logger
	// LogEvery bounds how often refusals are logged. Default 10s.
	LogEvery time.Duration
}

// Refusal reasons, as counted in Stats and the metrics.
const (
	ReasonTotal  = "listener_cap"
	ReasonSource = "source_cap"
)

// Listener wraps a net.Listener with the caps of its Config.
type Listener struct {
	net.Listener
	cfg Config
	log *slog.Logger

	mu        sync.Mutex
	open      int
	perSource map[netip.Prefix]int

	refusedTotal, refusedSource atomic.Uint64
	lastLog                     atomic.Int64 // unix nanoseconds
	loggedTotal, loggedSource   atomic.Uint64
}

// Stats are a Listener's figures.
type Stats struct {
	// Open is the number of connections held now.
	Open int
	// Sources is the number of distinct sources holding connections.
	Sources int
	// RefusedTotal and RefusedSource count connections closed at once
	// because the listener, or their source, was at its cap.
	RefusedTotal, RefusedSource uint64
}

// Wrap returns inner with the caps of cfg.
func Wrap(inner net.Listener, cfg Config) (*Listener, error) {
	if inner == nil {
		return nil, errors.New("netlimit: nil listener")
	}
	if err := cfg.check(); err != nil {
		return nil, err
	}
	return wrap(inner, cfg), nil
}

// Wrapper checks cfg and returns a function that wraps a listener with its
// caps, for servers that open their listener themselves.
func Wrapper(cfg Config) (func(net.Listener) net.Listener, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	return func(inner net.Listener) net.Listener { return wrap(inner, cfg) }, nil
}

func (cfg Config) check() error {
	if cfg.Name == "" {
		return errors.New("netlimit: Config.Name is required")
	}
	if cfg.MaxConns <= 0 || cfg.MaxPerSource <= 0 {
		return fmt.Errorf("netlimit: %s: MaxConns (%d) and MaxPerSource (%d) must be positive", cfg.Name, cfg.MaxConns, cfg.MaxPerSource)
	}
	return nil
}

func wrap(inner net.Listener, cfg Config) *Listener {
	if cfg.MaxPerSource > cfg.MaxConns {
		cfg.MaxPerSource = cfg.MaxConns
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.LogEvery <= 0 {
		cfg.LogEvery = 10 * time.Second
	}
	l := &Listener{Listener: inner, cfg: cfg, log: cfg.Logger.With("listener", cfg.Name), perSource: map[netip.Prefix]int{}}
	if cfg.Metrics != nil {
		cfg.Metrics.limit.WithLabelValues(cfg.Name, "total").Set(float64(cfg.MaxConns))
		cfg.Metrics.limit.WithLabelValues(cfg.Name, "per_source").Set(float64(cfg.MaxPerSource))
		cfg.Metrics.open.WithLabelValues(cfg.Name).Set(0)
	}
	return l
}

// Accept returns the next connection within the caps. Connections over a
// cap are closed at once (with a reset, so that they leave nothing behind)
// and Accept waits for the next one.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		src := sourceOf(c.RemoteAddr())
		l.mu.Lock()
		reason := ""
		switch {
		case l.open >= l.cfg.MaxConns:
			reason = ReasonTotal
		case l.perSource[src] >= l.cfg.MaxPerSource:
			reason = ReasonSource
		default:
			l.open++
			l.perSource[src]++
		}
		open := l.open
		l.mu.Unlock()
		if reason != "" {
			abort(c)
			l.refused(reason)
			continue
		}
		if m := l.cfg.Metrics; m != nil {
			m.open.WithLabelValues(l.cfg.Name).Set(float64(open))
		}
		return &conn{Conn: c, l: l, src: src}, nil
	}
}

// Stats returns the listener's figures.
func (l *Listener) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return Stats{Open: l.open, Sources: len(l.perSource), RefusedTotal: l.refusedTotal.Load(), RefusedSource: l.refusedSource.Load()}
}

// Limits returns the listener's caps.
func (l *Listener) Limits() (maxConns, maxPerSource int) { return l.cfg.MaxConns, l.cfg.MaxPerSource }

func (l *Listener) release(src netip.Prefix) {
	l.mu.Lock()
	l.open--
	if n := l.perSource[src] - 1; n > 0 {
		l.perSource[src] = n
	} else {
		delete(l.perSource, src)
	}
	open := l.open
	l.mu.Unlock()
	if m := l.cfg.Metrics; m != nil {
		m.open.WithLabelValues(l.cfg.Name).Set(float64(open))
	}
}

func (l *Listener) refused(reason string) {
	if reason == ReasonTotal {
		l.refusedTotal.Add(1)
	} else {
		l.refusedSource.Add(1)
	}
	if m := l.cfg.Metrics; m != nil {
		m.refused.WithLabelValues(l.cfg.Name, reason).Inc()
	}
	now := time.Now().UnixNano()
	last := l.lastLog.Load()
	if now-last < int64(l.cfg.LogEvery) || !l.lastLog.CompareAndSwap(last, now) {
		return
	}
	total, source := l.refusedTotal.Load(), l.refusedSource.Load()
	l.log.Warn("refusing connections over the cap",
		"over_listener_cap", total-l.loggedTotal.Swap(total), "over_source_cap", source-l.loggedSource.Swap(source),
		"max_conns", l.cfg.MaxConns, "max_per_source", l.cfg.MaxPerSource)
}

// abort closes c at once. A TCP connection is reset rather than closed
// gracefully, so that it holds no socket in TIME_WAIT.
func abort(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

// sourceOf returns the source a connection is counted against: its IPv4
// address, or the /64 of its IPv6 address. Addresses that are not IP
// (unix sockets) share one source.
func sourceOf(a net.Addr) netip.Prefix {
	var ip netip.Addr
	switch a := a.(type) {
	case *net.TCPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	default:
		if ap, err := netip.ParseAddrPort(a.String()); err == nil {
			ip = ap.Addr()
		}
	}
	ip = ip.Unmap()
	switch {
	case ip.Is4():
		return netip.PrefixFrom(ip, 32)
	case ip.Is6():
		p, _ := ip.WithZone("").Prefix(64)
		return p
	}
	return netip.Prefix{}
}

// SourceOf returns the source a "host:port" address (an HTTP request's
// RemoteAddr) is counted against, as the listeners count connections: its
// IPv4 address, or the /64 of its IPv6 address.
func SourceOf(addr string) netip.Prefix { return sourceOf(strAddr(addr)) }

type strAddr string

func (a strAddr) Network() string { return "tcp" }
func (a strAddr) String() string  { return string(a) }

// conn gives its slot back once, when closed.
type conn struct {
	net.Conn
	l    *Listener
	src  netip.Prefix
	once sync.Once
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.src) })
	return err
}

// Unwrap returns the connection this one wraps.
func (c *conn) Unwrap() net.Conn { return c.Conn }
