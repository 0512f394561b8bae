package whep

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/webrtc/v4"

	"github.com/gwanje/gwanje/audit"
	"github.com/gwanje/gwanje/internal/revoke"
	"github.com/gwanje/gwanje/stream"
)

// Defaults of Config.
const (
	DefaultUDPAddr        = "127.0.0.1:8189"
	DefaultTCPAddr        = "127.0.0.1:8189"
	DefaultMaxOffer       = 64 << 10
	DefaultMaxSessions    = 256
	DefaultMaxPerSource   = 64
	DefaultConnectTimeout = 10 * time.Second
	DefaultUpstreamRetry  = 30 * time.Second
)

// Reader reads one camera profile's shared upstream as access units.
// *stream.Tap implements it.
type Reader interface {
	Next(ctx context.Context) (stream.AccessUnit, error)
	Format() format.Format
	Drops() int64
	Close() error
}

// Source opens readers of a camera profile's shared upstream, starting at
// a keyframe. RelaySource adapts *stream.Relay.
type Source interface {
	Open(ctx context.Context, cameraID, profile string) (Reader, error)
}

// RelaySource reads the relay's shared upstream: a WebRTC viewer is one
// more reader of the pull its RTSP viewers and the recorder share.
type RelaySource struct{ Relay *stream.Relay }

// Open implements Source with Relay.TapFromKeyframe.
func (s RelaySource) Open(ctx context.Context, cameraID, profile string) (Reader, error) {
	return s.Relay.TapFromKeyframe(ctx, cameraID, profile)
}

// Tickets checks and redeems live-view tickets. *stream.Tickets implements
// it: the one store RTSP views use.
type Tickets interface {
	Check(ctx context.Context, token, cameraID, profile string) (stream.Grant, error)
	Redeem(ctx context.Context, token, cameraID, profile, by string) (stream.Grant, error)
}

// Views lists sessions among the node's live views (ListLiveSessions,
// StopLiveView, SwitchLiveProfile, the view directory). *stream.Relay
// implements it.
type Views interface {
	AddView(v stream.ExternalView) (remove func())
}

// Auditor commits audit entries; *audit.Store implements it.
type Auditor interface {
	Append(ctx context.Context, e audit.Entry) (audit.Record, error)
}

// Config configures a Server. Zero values take the documented defaults.
type Config struct {
	// Source is the shared upstream (RelaySource). Required.
	Source Source
	// Tickets redeems the tickets StartLiveView issues. Required.
	Tickets Tickets
	// Auditor records each session's live.view.end. Required.
	Auditor Auditor
	// Authorizer re-decides a ticket's holder at the door and while the
	// session is open (revoke.Decider). Optional (see revoke.Config).
	Authorizer revoke.Decider
	// Notices delivers access.revoked notices (events.Notices). Optional.
	Notices revoke.Subscriber
	// RecheckInterval re-decides open sessions without a notice. Default
	// revoke's (1m).
	RecheckInterval time.Duration
	// NodeID names this node in audit entries.
	NodeID string
	// Views, when set, lists every session with the node's live views
	// (the relay: RelaySource's Relay). Optional.
	Views Views

	// UDPAddr is the one UDP port every session's ICE host candidates
	// share (pion's UDP mux). Default DefaultUDPAddr; "-" for none; port
	// 0 picks a free port (tests).
	UDPAddr string
	// TCPAddr is the one TCP port for ICE-TCP (passive candidates), for
	// networks that block UDP. Default DefaultTCPAddr; "-" for none; port
	// 0 picks a free port (tests).
	TCPAddr string
	// WrapTCP, when set, wraps the ICE-TCP listener (connection caps:
	// internal/netlimit). Optional.
	WrapTCP func(net.Listener) net.Listener
	// ICEServers are STUN and TURN servers for the server's agent, e.g.
	// "stun:stun.example:3478", "turn:user:secret@turn.example:3478"
	// (ParseICEServer). Default none.
	ICEServers []webrtc.ICEServer
	// PublicIPs are the node's public addresses (NAT 1:1): host candidates
	// carry them instead of the local address, for viewers outside the
	// center's network. Default none.
	PublicIPs []string
	// IncludeLoopback gathers candidates on loopback addresses. Default:
	// on when UDPAddr or TCPAddr is a loopback address (a single-machine
	// setup and the tests), else off.
	IncludeLoopback *bool

	// MaxOffer bounds the offer's body. Default DefaultMaxOffer (64 KiB).
	MaxOffer int64
	// MaxSessions bounds the open sessions; past it offers get 503.
	// Default DefaultMaxSessions.
	MaxSessions int
	// MaxPerSource bounds the open sessions of one source (an IPv4
	// address or an IPv6 /64, as internal/netlimit counts connections): a
	// video wall of one workstation, not the whole node. Past it offers get
	// 429. Default DefaultMaxPerSource (64).
	MaxPerSource int
	// ConnectTimeout bounds ICE and DTLS after the answer: a session that
	// does not connect in time ends (never_played). Default 10s.
	ConnectTimeout time.Duration
	// UpstreamRetry is how long a session waits for its camera to come back
	// after the upstream dropped before it ends (camera_unavailable).
	// Default 30s.
	UpstreamRetry time.Duration
	// UpstreamTimeout bounds opening the upstream at the offer. Default 10s.
	UpstreamTimeout time.Duration

	// Logger. Default slog.Default().
	Logger *slog.Logger
}

func (c *Config) setDefaults() error {
	if c.Source == nil || c.Tickets == nil || c.Auditor == nil {
		return errors.New("whep: Config.Source, Tickets and Auditor are required")
	}
	if c.UDPAddr == "" {
		c.UDPAddr = DefaultUDPAddr
	}
	if c.TCPAddr == "" {
		c.TCPAddr = DefaultTCPAddr
	}
	if c.UDPAddr == "-" && c.TCPAddr == "-" {
		return errors.New("whep: at least one of the UDP and TCP addresses is needed")
	}
	for _, ip := range c.PublicIPs {
		if net.ParseIP(ip) == nil {
			return fmt.Errorf("whep: public IP %q is not an IP address", ip)
		}
	}
	if c.IncludeLoopback == nil {
		lo := isLoopback(c.UDPAddr) || isLoopback(c.TCPAddr)
		c.IncludeLoopback = &lo
	}
	if c.MaxOffer <= 0 {
		c.MaxOffer = DefaultMaxOffer
	}
	if c.MaxSessions <= 0 {
		c.MaxSessions = DefaultMaxSessions
	}
	if c.MaxPerSource <= 0 {
		c.MaxPerSource = DefaultMaxPerSource
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.UpstreamRetry <= 0 {
		c.UpstreamRetry = DefaultUpstreamRetry
	}
	if c.UpstreamTimeout <= 0 {
		c.UpstreamTimeout = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return host == "localhost" || (ip != nil && ip.IsLoopback())
}

// ParseICEServer parses a STUN or TURN server setting: a stun:, turn: or
// turns: URL, with TURN credentials as user:credential@ before the host
// (turn:alice:secret@turn.example:3478?transport=udp).
func ParseICEServer(s string) (webrtc.ICEServer, error) {
	scheme, rest, ok := strings.Cut(s, ":")
	if !ok || (scheme != "stun" && scheme != "stuns" && scheme != "turn" && scheme != "turns") {
		return webrtc.ICEServer{}, fmt.Errorf("whep: ICE server %q: want stun:, turn: or turns:", s)
	}
	srv := webrtc.ICEServer{}
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		if scheme == "stun" || scheme == "stuns" {
			return webrtc.ICEServer{}, fmt.Errorf("whep: ICE server %q: STUN takes no credentials", scheme+":…")
		}
		user, cred, ok := strings.Cut(rest[:at], ":")
		if !ok || user == "" {
			return webrtc.ICEServer{}, fmt.Errorf("whep: ICE server %s: credentials must be user:credential", scheme+":…")
		}
		srv.Username, srv.Credential = user, cred
		rest = rest[at+1:]
	} else if scheme == "turn" || scheme == "turns" {
		return webrtc.ICEServer{}, fmt.Errorf("whep: ICE server %q: TURN needs user:credential@", s)
	}
	if rest == "" {
		return webrtc.ICEServer{}, fmt.Errorf("whep: ICE server %q: no host", s)
	}
	srv.URLs = []string{scheme + ":" + rest}
	return srv, nil
}
