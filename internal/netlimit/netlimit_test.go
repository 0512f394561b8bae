package netlimit

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func TestPlan(t *testing.T) {
	tests := []struct {
		name    string
		limit   uint64
		cfg     BudgetConfig
		per     int
		reserve uint64
		err     string
	}{
		{name: "default share", limit: 20000, cfg: BudgetConfig{Listeners: 5}, per: 2000, reserve: 10000},
		{name: "ceiling", limit: 1 << 20, cfg: BudgetConfig{Listeners: 5}, per: DefaultCeiling, reserve: 1<<20 - 5*DefaultCeiling},
		{name: "small limit", limit: 1024, cfg: BudgetConfig{Listeners: 5}, per: 102, reserve: 1024 - 510},
		{name: "share", limit: 1000, cfg: BudgetConfig{Listeners: 2, ClientShare: 0.2}, per: 100, reserve: 800},
		{name: "by hand", limit: 20000, cfg: BudgetConfig{Listeners: 5, MaxConns: 300}, per: 300, reserve: 18500},
		{name: "by hand over the share", limit: 1024, cfg: BudgetConfig{Listeners: 5, MaxConns: 200}, err: "exceeds 512"},
		{name: "share too large", limit: 1024, cfg: BudgetConfig{Listeners: 5, ClientShare: 0.95}, err: "at most 0.9"},
		{name: "negative share", limit: 1024, cfg: BudgetConfig{Listeners: 5, ClientShare: -1}, err: "more than 0"},
		{name: "negative max", limit: 1024, cfg: BudgetConfig{Listeners: 5, MaxConns: -1}, err: "must not be negative"},
		{name: "limit too low", limit: 8, cfg: BudgetConfig{Listeners: 5}, err: "raise it"},
		{name: "no listeners", limit: 1024, cfg: BudgetConfig{}, err: "no listeners"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Plan(tt.limit, tt.cfg)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("got %+v, %v; want an error saying %q", b, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if b.PerListener != tt.per || b.Reserve != tt.reserve || b.Limit != tt.limit {
				t.Fatalf("got %+v, want per listener %d, reserve %d", b, tt.per, tt.reserve)
			}
		})
	}
}

func TestRaiseLimit(t *testing.T) {
	before, now, err := RaiseLimit()
	if err != nil {
		t.Fatal(err)
	}
	if now < before || now == 0 {
		t.Fatalf("limit went from %d to %d", before, now)
	}
}

func TestSourceOf(t *testing.T) {
	tests := []struct {
		addr net.Addr
		want string
	}{
		{&net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 1}, "192.0.2.7/32"},
		{&net.TCPAddr{IP: net.ParseIP("::ffff:192.0.2.7"), Port: 1}, "192.0.2.7/32"},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8:1:2:3:4:5:6"), Port: 1}, "2001:db8:1:2::/64"},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8:1:2:ffff::1"), Port: 2}, "2001:db8:1:2::/64"},
		{&net.UDPAddr{IP: net.ParseIP("198.51.100.1"), Port: 3}, "198.51.100.1/32"},
		{&net.UnixAddr{Name: "/run/x.sock", Net: "unix"}, "invalid Prefix"},
	}
	for _, tt := range tests {
		if got := sourceOf(tt.addr).String(); got != tt.want {
			t.Errorf("sourceOf(%v) = %s, want %s", tt.addr, got, tt.want)
		}
	}
}

// server accepts on a limited loopback listener and holds every accepted
// connection until the test ends.
type server struct {
	l    *Listener
	mu   sync.Mutex
	held []net.Conn
	done chan struct{}
}

func newServer(t *testing.T, cfg Config) *server {
	t.Helper()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l, err := Wrap(inner, cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := &server{l: l, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.held = append(s.held, c)
			s.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-s.done
		s.mu.Lock()
		for _, c := range s.held {
			c.Close()
		}
		s.mu.Unlock()
	})
	return s
}

// closeHeld closes the first n connections the server holds.
func (s *server) closeHeld(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.held[:n] {
		c.Close()
	}
	s.held = s.held[n:]
}

func dialFrom(t *testing.T, addr, from string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// refused dials addr from a source address and reports whether the server
// closed the connection at once: the dial or the first read ends with EOF
// or a reset instead of waiting.
func refused(t *testing.T, addr, from string) bool {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return strings.Contains(err.Error(), "reset")
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = c.Read(make([]byte, 1))
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	return err != nil
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestListenerCaps(t *testing.T) {
	m := NewMetrics()
	reg := prometheus.NewRegistry()
	reg.MustRegister(m.Collectors()...)
	s := newServer(t, Config{Name: "test", MaxConns: 6, MaxPerSource: 4, Metrics: m})
	addr := s.l.Addr().String()

	// One source gets its 4, the fifth is refused at once.
	for i := 0; i < 4; i++ {
		dialFrom(t, addr, "127.0.0.1")
	}
	waitFor(t, "4 held", func() bool { return s.l.Stats().Open == 4 })
	if !refused(t, addr, "127.0.0.1") {
		t.Fatal("a fifth connection from one source was kept")
	}
	// Another source still gets in, up to the listener's total.
	dialFrom(t, addr, "127.0.0.2")
	dialFrom(t, addr, "127.0.0.3")
	waitFor(t, "6 held", func() bool { return s.l.Stats().Open == 6 })
	if !refused(t, addr, "127.0.0.4") {
		t.Fatal("a connection over the listener's cap was kept")
	}
	st := s.l.Stats()
	if st.Open != 6 || st.Sources != 3 || st.RefusedSource != 1 || st.RefusedTotal != 1 {
		t.Fatalf("stats %+v", st)
	}
	if got := value(t, m.refused.WithLabelValues("test", ReasonTotal)); got != 1 {
		t.Fatalf("refused metric %v", got)
	}
	if got := value(t, m.open.WithLabelValues("test")); got != 6 {
		t.Fatalf("open metric %v", got)
	}

	// Closing gives the slots back.
	s.closeHeld(2)
	waitFor(t, "4 held", func() bool { return s.l.Stats().Open == 4 })
	held := dialFrom(t, addr, "127.0.0.5")
	waitFor(t, "5 held", func() bool { return s.l.Stats().Open == 5 })
	held.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	_, err := held.Read(make([]byte, 1))
	if ne, ok := errors.AsType[net.Error](err); !ok || !ne.Timeout() {
		t.Fatalf("a connection within the caps was closed: %v", err)
	}
}

func TestConnCloseTwiceReleasesOnce(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l, err := Wrap(inner, Config{Name: "twice", MaxConns: 2, MaxPerSource: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for i := 0; i < 2; i++ {
		c := dialFrom(t, l.Addr().String(), "127.0.0.1")
		defer c.Close()
	}
	a, _ := l.Accept()
	b, _ := l.Accept()
	a.Close()
	a.Close()
	if st := l.Stats(); st.Open != 1 || st.Sources != 1 {
		t.Fatalf("after closing one connection twice: %+v", st)
	}
	b.Close()
	if st := l.Stats(); st.Open != 0 || st.Sources != 0 {
		t.Fatalf("after closing both: %+v", st)
	}
	if u, ok := b.(interface{ Unwrap() net.Conn }); !ok || u.Unwrap() == nil {
		t.Fatal("no Unwrap")
	}
}

func TestWrapRefusesBadConfig(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer inner.Close()
	for _, cfg := range []Config{{MaxConns: 1, MaxPerSource: 1}, {Name: "x", MaxPerSource: 1}, {Name: "x", MaxConns: 1}} {
		if _, err := Wrap(inner, cfg); err == nil {
			t.Errorf("Wrap accepted %+v", cfg)
		}
	}
	l, err := Wrap(inner, Config{Name: "x", MaxConns: 2, MaxPerSource: 5})
	if err != nil {
		t.Fatal(err)
	}
	if _, per := l.Limits(); per != 2 {
		t.Fatalf("per-source cap %d above the total", per)
	}
}

// TestFloodFromManySources opens connections from many sources at once,
// closing some as it goes, and checks the caps hold and every slot comes
// back (run with -race).
func TestFloodFromManySources(t *testing.T) {
	const maxConns, perSource, sources, each = 40, 3, 30, 5
	s := newServer(t, Config{Name: "flood", MaxConns: maxConns, MaxPerSource: perSource})
	addr := s.l.Addr().String()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	for i := 0; i < sources; i++ {
		from := netip.AddrFrom4([4]byte{127, 0, 9, byte(i + 1)}).String()
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
			for j := 0; j < each; j++ {
				c, err := d.Dial("tcp", addr)
				if err != nil {
					continue
				}
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	waitFor(t, "every connection accepted or refused", func() bool {
		st := s.l.Stats()
		return uint64(st.Open)+st.RefusedTotal+st.RefusedSource == sources*each
	})
	st := s.l.Stats()
	if st.Open != maxConns {
		t.Fatalf("holds %d, cap %d (%+v)", st.Open, maxConns, st)
	}
	s.mu.Lock()
	count := map[string]int{}
	for _, c := range s.held {
		h, _, _ := net.SplitHostPort(c.RemoteAddr().String())
		count[h]++
		if count[h] > perSource {
			t.Errorf("%s holds %d connections, cap %d", h, count[h], perSource)
		}
	}
	s.mu.Unlock()
	// Clients that were refused see it; closing everything frees all.
	s.closeHeld(maxConns)
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadAll(c); err != nil && !strings.Contains(err.Error(), "reset") {
			t.Fatalf("read: %v", err)
		}
		c.Close()
	}
	waitFor(t, "all released", func() bool { st := s.l.Stats(); return st.Open == 0 && st.Sources == 0 })
}

func value(t *testing.T, m prometheus.Metric) float64 {
	t.Helper()
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		t.Fatal(err)
	}
	if d.Counter != nil {
		return d.Counter.GetValue()
	}
	return d.Gauge.GetValue()
}
