package stream

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
)

// rawConn speaks RTSP by hand, to send what players never would.
type rawConn struct {
	t    testing.TB
	c    net.Conn
	br   *bufio.Reader
	cseq int
}

func dialRaw(t testing.TB, addr string, rcvbuf int) *rawConn {
	t.Helper()
	d := net.Dialer{}
	if rcvbuf > 0 {
		d.Control = func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf)
			})
			if err != nil {
				return err
			}
			return serr
		}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, c: c, br: bufio.NewReaderSize(c, 4096)}
}

func (r *rawConn) do(method, url string, hdr base.Header) (*base.Response, error) {
	r.cseq++
	if hdr == nil {
		hdr = base.Header{}
	}
	hdr["CSeq"] = base.HeaderValue{fmt.Sprint(r.cseq)}
	u, err := base.ParseURL(url)
	if err != nil {
		return nil, err
	}
	req := base.Request{Method: base.Method(method), URL: u, Header: hdr}
	b, _ := req.Marshal()
	if _, err := r.c.Write(b); err != nil {
		return nil, err
	}
	r.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var res base.Response
	if err := res.Unmarshal(r.br); err != nil {
		return nil, err
	}
	return &res, nil
}

// requestStatus sends DESCRIBE (or SETUP when method says so) for url and
// returns the status code, or 0 when the connection was closed.
func requestStatus(t testing.TB, addr, method, url string) int {
	r := dialRaw(t, addr, 0)
	var hdr base.Header
	if method == "SETUP" {
		hdr = base.Header{"Transport": base.HeaderValue{"RTP/AVP/TCP;unicast;interleaved=0-1"}}
	}
	res, err := r.do(method, url, hdr)
	if err != nil {
		return 0
	}
	return int(res.StatusCode)
}

func TestBadRequestsAreRefusedAndDisturbNothing(t *testing.T) {
	e := newEnv(t, 2, func(c *Config) { c.IdleTimeout = 2 * time.Second })
	// A normal viewer plays throughout.
	good, err := play(e.ticket("ok", "sok", "cam1", "main").URL, gortsplib.ProtocolTCP)
	if err != nil {
		t.Fatal(err)
	}
	defer good.close()
	eventually(t, 10*time.Second, "good viewer decodes", good.decodable)

	base := e.relay.URL()
	used := e.ticket("u1", "s1", "cam1", "main")
	if v, err := play(used.URL, gortsplib.ProtocolTCP); err != nil {
		t.Fatal(err)
	} else {
		v.close()
	}
	expired, err := e.tickets.IssueTicket(e.ctx, TicketRequest{UserID: "u1", CameraID: "cam1", Profile: "main",
		AuditSeq: 1, TTL: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "ticket expired", func() bool {
		_, err := e.tickets.Check(e.ctx, expired.Token, "cam1", "main")
		return err == ErrTicketExpired
	})
	other := e.ticket("u1", "s1", "cam2", "main")
	sub := e.ticket("u1", "s1", "cam1", "sub")
	fresh := e.ticket("u1", "s1", "cam1", "main")

	cases := []struct {
		name   string
		method string
		url    string
		status int
		reason string
	}{
		{"replayed ticket", "DESCRIBE", used.URL, 403, "replayed"},
		{"replayed ticket at SETUP", "SETUP", strings.Replace(used.URL, "?", "/trackID=0?", 1), 403, "replayed"},
		{"expired ticket", "DESCRIBE", expired.URL, 403, "expired"},
		{"ticket for another camera", "DESCRIBE", LiveURL(base, "cam1", "main", other.Token), 403, "wrong_camera"},
		{"ticket for another profile", "DESCRIBE", LiveURL(base, "cam1", "main", sub.Token), 403, "wrong_profile"},
		{"no ticket", "DESCRIBE", base + "/live/cam1/main", 403, "no_ticket"},
		{"empty ticket", "DESCRIBE", base + "/live/cam1/main?ticket=", 403, "no_ticket"},
		{"malformed ticket", "DESCRIBE", base + "/live/cam1/main?ticket=%27%20or%201=1", 403, "malformed_ticket"},
		{"unknown ticket", "DESCRIBE", LiveURL(base, "cam1", "main", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), 403, "unknown_ticket"},
		{"guessed path", "DESCRIBE", base + "/cam1?ticket=" + fresh.Token, 404, "bad_path"},
		{"path traversal", "DESCRIBE", base + "/live/../main?ticket=" + fresh.Token, 404, "bad_path"},
		{"camera only", "DESCRIBE", base + "/live/cam1?ticket=" + fresh.Token, 404, "bad_path"},
		{"PLAY without session", "PLAY", fresh.URL, -1, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var before float64
			if tc.reason != "" {
				before = value(e.relay.Metrics().TicketRejections.WithLabelValues(tc.reason))
			}
			got := requestStatus(t, e.relay.Addr(), tc.method, tc.url)
			if got != tc.status && !(tc.status == -1 && got != 200) {
				t.Errorf("status = %d, want %d", got, tc.status)
			}
			if tc.reason != "" {
				if after := value(e.relay.Metrics().TicketRejections.WithLabelValues(tc.reason)); after != before+1 {
					t.Errorf("rejections{%s} went %v -> %v", tc.reason, before, after)
				}
			}
		})
	}

	t.Run("malformed RTSP", func(t *testing.T) {
		for _, junk := range []string{
			"GARBAGE\r\n\r\n",
			"DESCRIBE rtsp://x/live/cam1/main RTSP/1.0\r\nCSeq: 1\r\nContent-Length: -5\r\n\r\n",
			"DESCRIBE rtsp://x/live/cam1/main RTSP/1.0\r\n" + strings.Repeat("X-Junk: "+strings.Repeat("a", 1000)+"\r\n", 2000) + "\r\n",
			"\x24\x00\xff\xff" + strings.Repeat("\x00", 100),
		} {
			r := dialRaw(t, e.relay.Addr(), 0)
			r.c.SetDeadline(time.Now().Add(30 * time.Second))
			r.c.Write([]byte(junk))
			// The relay answers 400 or closes; either way the connection ends.
			start := time.Now()
			buf := make([]byte, 4096)
			for {
				if _, err := r.c.Read(buf); err != nil {
					if ne, ok := err.(net.Error); ok && ne.Timeout() {
						t.Errorf("junk %.20q: the relay kept the connection open", junk)
					}
					t.Logf("junk %.20q: connection ended after %v: %v", junk, time.Since(start).Round(time.Millisecond), err)
					break
				}
			}
		}
	})

	// Nothing else was disturbed: the good viewer still plays, its view
	// is the only one open, and the fresh ticket still works.
	_, _, _, _, _, _, b0 := good.stats()
	eventually(t, 5*time.Second, "good viewer still receiving", func() bool {
		_, _, _, _, _, _, b := good.stats()
		return b > b0
	})
	if good.closed() {
		t.Fatal("good viewer was closed")
	}
	if n := len(e.relay.List(Filter{})); n != 1 {
		t.Errorf("open views = %d, want 1", n)
	}
	v, err := play(fresh.URL, gortsplib.ProtocolTCP)
	if err != nil {
		t.Fatalf("fresh ticket after the abuse: %v", err)
	}
	v.close()
}

func TestNeverReadingClientIsDropped(t *testing.T) {
	e := newEnv(t, 1, func(c *Config) {
		c.ViewerQueue = 16
		c.GOPCache = 16
		c.StallTimeout = time.Second
		c.WriteTimeout = 2 * time.Second
		c.ViewerSendBuffer = 4096
	})
	good, err := play(e.ticket("ok", "sok", "cam1", "main").URL, gortsplib.ProtocolTCP)
	if err != nil {
		t.Fatal(err)
	}
	defer good.close()
	eventually(t, 10*time.Second, "good viewer decodes", good.decodable)

	tk := e.ticket("lazy", "slazy", "cam1", "main")
	r := dialRaw(t, e.relay.Addr(), 1024)
	if res, err := r.do("DESCRIBE", tk.URL, nil); err != nil || res.StatusCode != 200 {
		t.Fatalf("DESCRIBE: %v %v", res, err)
	}
	res, err := r.do("SETUP", strings.Replace(tk.URL, "?", "/trackID=0?", 1),
		base.Header{"Transport": base.HeaderValue{"RTP/AVP/TCP;unicast;interleaved=0-1"}})
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("SETUP: %v %v", res, err)
	}
	sess := strings.Split(res.Header["Session"][0], ";")[0]
	if res, err := r.do("PLAY", tk.URL, base.Header{"Session": base.HeaderValue{sess}}); err != nil || res.StatusCode != 200 {
		t.Fatalf("PLAY: %v %v", res, err)
	}
	// From here on the client reads nothing.
	eventually(t, 30*time.Second, "the never-reading view is dropped", func() bool {
		l := e.relay.List(Filter{UserID: "lazy"})
		return len(l) == 0
	})
	eventually(t, 5*time.Second, "its live.view.end", func() bool {
		for _, en := range e.audit.ends() {
			if en.Actor.UserID == "lazy" {
				if d, _ := en.Details["drops"].(int64); en.Reason == ReasonSlow && d == 0 {
					t.Errorf("slow view ended with no drops counted")
				}
				t.Logf("never-reading view ended: reason %s, drops %v", en.Reason, en.Details["drops"])
				return true
			}
		}
		return false
	})
	// The good viewer was not slowed: it never lost a frame.
	if l := e.relay.List(Filter{UserID: "ok"}); len(l) != 1 || l[0].Drops != 0 {
		t.Errorf("good view = %+v, want open with 0 drops", l)
	}
	if good.closed() {
		t.Fatal("good viewer was closed")
	}
}
