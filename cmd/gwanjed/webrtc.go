package main

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/pion/webrtc/v4"

	"github.com/gwanje/gwanje/internal/revoke"
	"github.com/gwanje/gwanje/stream"
	"github.com/gwanje/gwanje/stream/whep"
)

// iceServers parses --webrtc-stun and --webrtc-turn.
func (c Config) iceServers() ([]webrtc.ICEServer, error) {
	var out []webrtc.ICEServer
	for _, s := range c.WebRTCSTUN {
		srv, err := whep.ParseICEServer(s)
		if err != nil || !strings.HasPrefix(srv.URLs[0], "stun") {
			return nil, fmt.Errorf("webrtc-stun: %q: want stun:host:port", s)
		}
		out = append(out, srv)
	}
	for _, s := range c.WebRTCTURN {
		srv, err := whep.ParseICEServer(s)
		if err != nil {
			return nil, fmt.Errorf("webrtc-turn: %w", err) // the message never holds the credential
		}
		if !strings.HasPrefix(srv.URLs[0], "turn") {
			return nil, fmt.Errorf("webrtc-turn: want turn:user:credential@host:port")
		}
		out = append(out, srv)
	}
	return out, nil
}

// icePort is the ICE address on the HTTPS address's host: "-" when off.
func icePort(httpsAddr string, port int) string {
	if port < 0 {
		return "-"
	}
	host, _, err := net.SplitHostPort(httpsAddr)
	if err != nil {
		host = ""
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// webURL is the base URL browsers reach the WHEP endpoint at.
func (c Config) webURL(httpsLis net.Listener) string {
	if c.WebRTCPublicURL != "" {
		return c.WebRTCPublicURL
	}
	host, port, _ := net.SplitHostPort(httpsLis.Addr().String())
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		// Listening everywhere: browsers use the certificate's first
		// extra name (--tls-hosts), else this machine's name.
		host = "localhost"
		if len(c.TLSHosts) > 0 {
			host = c.TLSHosts[0]
		} else if h, err := os.Hostname(); err == nil {
			host = h
		}
	}
	return "https://" + net.JoinHostPort(host, port)
}

// newWHEP makes the stream node's WHEP endpoint over the relay: the same
// tickets, decisions, revocation notices and end-of-view spool as RTSP.
func newWHEP(cfg Config, relay *stream.Relay, tickets whep.Tickets, auditor whep.Auditor, decider revoke.Decider,
	notices revoke.Subscriber, wrapTCP func(net.Listener) net.Listener, log *slog.Logger) (*whep.Server, error) {
	ice, err := cfg.iceServers()
	if err != nil {
		return nil, err
	}
	return whep.New(whep.Config{
		Source: whep.RelaySource{Relay: relay}, Tickets: tickets, Auditor: auditor,
		Authorizer: decider, Notices: notices, Views: relay, NodeID: relay.Node().ID,
		UDPAddr: icePort(cfg.HTTPSAddr, cfg.WebRTCUDPPort), TCPAddr: icePort(cfg.HTTPSAddr, cfg.WebRTCTCPPort),
		WrapTCP: wrapTCP, ICEServers: ice, PublicIPs: cfg.WebRTCNAT1To1,
		MaxSessions: cfg.WebRTCMaxSessions, MaxPerSource: cfg.WebRTCMaxPerSource, Logger: log,
	})
}

// whepWhere is the serving line's webrtc field: the WHEP base URL and the
// ICE ports, or off.
func whepWhere(w *whep.Server, relay *stream.Relay) string {
	if w == nil {
		return "off"
	}
	return fmt.Sprintf("%s udp=%s tcp=%s", relay.Node().WebURL, orOff(w.UDPAddr()), orOff(w.TCPAddr()))
}

func orOff(s string) string {
	if s == "" {
		return "off"
	}
	return s
}
