package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gwanje/gwanje/audit"
	"github.com/gwanje/gwanje/internal/redact"
	"github.com/gwanje/gwanje/internal/revoke"
)

// Upstream is how the relay reaches a camera profile. The credentials are
// used only by the relay's own RTSP client; they are never logged, returned
// to viewers or written anywhere.
type Upstream struct {
	// URL is the camera's RTSP URL for the profile, without credentials.
	URL      string
	Username string
	Password string
}

// String redacts the credentials.
func (u Upstream) String() string { return redactURL(u.URL) }

// Cameras gives the relay a camera profile's upstream. The devices package
// implements it for the server; tests implement it over camsim.
type Cameras interface {
	Upstream(ctx context.Context, cameraID, profile string) (Upstream, error)
}

// ErrUnknownCamera may be returned (wrapped) by Cameras for a camera or
// profile that does not exist; the viewer is then refused with 404.
var ErrUnknownCamera = errors.New("stream: unknown camera or profile")

// Auditor commits audit entries. *audit.Store implements it.
type Auditor interface {
	Append(ctx context.Context, e audit.Entry) (audit.Record, error)
}

// Authorizer re-decides a live view (revoke.Decider): it returns false when
// the viewer may no longer watch that camera (login session ended, account
// disabled, right revoked, grant expired, outside its schedule). The relay
// asks it when a ticket is redeemed, when an access.revoked notice names the
// viewer, and periodically (Config.RecheckInterval); the Holder names
// PermissionLiveView. It must decide on current data.
type Authorizer = revoke.Decider

// AuthorizerFunc adapts a function to Authorizer.
type AuthorizerFunc = revoke.DeciderFunc

// Subscriber delivers core-NATS notices. events.Notices implements it.
type Subscriber = revoke.Subscriber

// Config configures a Relay. Zero values take the defaults documented on
// each field.
type Config struct {
	// NodeID names this stream node in the registry and in tickets.
	// Default: the host name (restricted to [A-Za-z0-9._-]) and the RTSP port.
	NodeID string
	// RTSPAddress is where viewers connect (RTSP over TCP, and the TCP
	// transport). Port 0 picks a free port (see Addr). Default ":8554".
	RTSPAddress string
	// UDPRTPAddress is the UDP port pair for the UDP transport: RTP on this
	// (even) port, RTCP on the next. "-" serves TCP only. Default ":8000".
	UDPRTPAddress string
	// PublicURL is the base URL players use (rtsp://host:port), written
	// into tickets and the node registry. Default rtsp://<listen host or
	// host name>:<port>; set it when viewers reach the node by another name.
	PublicURL string
	// WebURL is the HTTPS base URL of this node's WHEP endpoint
	// (https://host:port), written into the node registry so that WebRTC
	// tickets name it. Default empty: the node serves no WebRTC.
	WebURL string

	// Tickets checks and redeems tickets. Required.
	Tickets *Tickets
	// Cameras resolves camera profiles to upstreams. Required.
	Cameras Cameras
	// Auditor records the end of every view (live.view.end). Required.
	Auditor Auditor
	// Authorizer re-decides open views. Optional: without it, a revocation
	// notice for a user closes all of that user's views.
	Authorizer Authorizer
	// Notices delivers access.revoked notices. Optional (then only
	// RecheckInterval, Stop and CloseUserSessions end views early).
	Notices Subscriber
	// Nodes, when set, keeps this node registered while it runs.
	Nodes *Nodes
	// Views, when set, lists this node's open views for every control
	// process and takes stop requests from them.
	Views *Views

	// Linger keeps an upstream open after its last viewer left, so a
	// viewer that comes back at once finds the picture. Default 10s.
	Linger time.Duration
	// UpstreamTimeout bounds how long the first viewer of a camera waits
	// for the camera to answer before it is refused with 503. Default 5s.
	UpstreamTimeout time.Duration
	// UpstreamReadTimeout: a camera that sends nothing for this long is
	// reconnected. Default 5s.
	UpstreamReadTimeout time.Duration
	// ReconnectMin and ReconnectMax bound the reconnect backoff, which
	// doubles from Min to Max. Defaults 250ms and 10s.
	ReconnectMin, ReconnectMax time.Duration
	// ViewerQueue is each viewer's buffer in RTP packets (a power of two).
	// A viewer whose buffer is full drops frames until the next keyframe.
	// Default 1024 (about 1.5 MB when full).
	ViewerQueue int
	// GOPCache bounds the keyframe cache, in RTP packets; a group of
	// pictures longer than this is not cached (new viewers then wait for
	// the next keyframe). At most ViewerQueue. Default 3/4 of ViewerQueue.
	GOPCache int
	// ReadTimeout and WriteTimeout apply to viewer connections: a viewer
	// whose socket accepts nothing for WriteTimeout is dropped. Defaults
	// 10s and 5s.
	ReadTimeout, WriteTimeout time.Duration
	// IdleTimeout closes an RTSP connection that sends nothing (no request,
	// no RTCP) for this long, including one that sent only garbage.
	// Players send keep-alives well within it. Default 60s.
	IdleTimeout time.Duration
	// WrapListener, when set, wraps the RTSP (TCP) listener; gwanjed caps
	// connections in total and per source with it (internal/netlimit).
	WrapListener func(net.Listener) net.Listener
	// ViewerSendBuffer sets each viewer socket's kernel send buffer
	// (SO_SNDBUF), bounding the kernel memory a viewer that reads nothing
	// can hold and how long it takes to notice it. Default 512 KiB;
	// negative leaves the operating system's autotuning.
	ViewerSendBuffer int
	// StallTimeout drops a viewer whose buffer stayed full (every frame
	// dropped) for this long. Default 5s.
	StallTimeout time.Duration
	// RecheckInterval re-decides every open view with the Authorizer even
	// without a notice (a notice may be lost). Default 1m; negative
	// disables.
	RecheckInterval time.Duration
	// TicketRetention keeps expired tickets this long before the sweeper
	// deletes them (hourly). Default 24h; negative disables the sweeper.
	TicketRetention time.Duration
	// Metrics receives the relay's figures. Default NewMetrics().
	Metrics *Metrics
	// Logger. Default slog.Default().
	Logger *slog.Logger
}

func (c *Config) setDefaults() error {
	if c.Tickets == nil || c.Cameras == nil || c.Auditor == nil {
		return errors.New("stream: Config.Tickets, Cameras and Auditor are required")
	}
	if c.RTSPAddress == "" {
		c.RTSPAddress = ":8554"
	}
	if c.UDPRTPAddress == "" {
		c.UDPRTPAddress = ":8000"
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.Linger, 10*time.Second)
	def(&c.UpstreamTimeout, 5*time.Second)
	def(&c.UpstreamReadTimeout, 5*time.Second)
	def(&c.ReconnectMin, 250*time.Millisecond)
	def(&c.ReconnectMax, 10*time.Second)
	def(&c.ReadTimeout, 10*time.Second)
	def(&c.WriteTimeout, 5*time.Second)
	def(&c.StallTimeout, 5*time.Second)
	def(&c.IdleTimeout, time.Minute)
	def(&c.RecheckInterval, time.Minute)
	def(&c.TicketRetention, 24*time.Hour)
	if c.ReconnectMax < c.ReconnectMin {
		c.ReconnectMax = c.ReconnectMin
	}
	if c.ViewerSendBuffer == 0 {
		c.ViewerSendBuffer = 512 << 10
	}
	if c.ViewerQueue == 0 {
		c.ViewerQueue = 1024
	}
	if c.ViewerQueue < 16 || c.ViewerQueue&(c.ViewerQueue-1) != 0 {
		return fmt.Errorf("stream: ViewerQueue %d must be a power of two >= 16", c.ViewerQueue)
	}
	if c.GOPCache == 0 {
		c.GOPCache = c.ViewerQueue * 3 / 4
	}
	if c.GOPCache > c.ViewerQueue {
		c.GOPCache = c.ViewerQueue
	}
	if c.Metrics == nil {
		c.Metrics = NewMetrics()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// udpPair turns UDPRTPAddress into the RTP and RTCP addresses gortsplib
// wants ("" "" for TCP only).
func udpPair(a string) (string, string, error) {
	if a == "-" {
		return "", "", nil
	}
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return "", "", fmt.Errorf("stream: UDPRTPAddress %q: %w", a, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p <= 0 || p%2 != 0 || p > 65534 {
		return "", "", fmt.Errorf("stream: UDPRTPAddress %q: the port must be even and non-zero", a)
	}
	return net.JoinHostPort(host, port), net.JoinHostPort(host, strconv.Itoa(p+1)), nil
}

func hostName() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	return h
}

func sanitizeID(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			b[i] = '-'
		}
	}
	out := strings.TrimLeft(string(b), ".")
	if out == "" {
		out = "node"
	}
	return out
}

// redactURL hides the credentials of a camera URL for logs and errors
// (user info, and those in the path or query; package redact).
func redactURL(s string) string { return redact.URL(s) }
