package onvif

import (
	"context"
	"crypto/rand"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/ipv4"
)

// Discovery defaults.
const (
	DefaultDiscoveryPort = 3702
	DefaultMaxHosts      = 1024 // a /22
	DefaultProbeRate     = 200  // probes per second
	DefaultDiscoveryWait = 2 * time.Second
)

var multicastAddr = netip.MustParseAddrPort("239.255.255.250:3702")

// DiscoveryConfig configures Discover.
type DiscoveryConfig struct {
	// Targets are IP addresses ("192.0.2.10"), addresses with port
	// ("192.0.2.10:3702", "[2001:db8::1]:3702") or CIDR prefixes
	// ("192.0.2.0/24"; network and broadcast addresses of IPv4 prefixes up to
	// /30 are skipped). Each gets one unicast probe.
	Targets []string
	// Port is the WS-Discovery port for targets without one; default 3702.
	Port int
	// MaxHosts bounds the number of probed addresses in total; a larger
	// request is refused with ErrInvalidArgument. Default 1024 (a /22).
	MaxHosts int
	// Rate is the number of probes sent per second; default 200.
	Rate int
	// Wait is how long to listen for answers after the last probe; default
	// 2s. The context may end discovery earlier.
	Wait time.Duration
	// Interface, when set, also sends one multicast probe to
	// 239.255.255.250:3702 on that interface. Multicast is never sent
	// otherwise.
	Interface string
	// LocalAddr is the local UDP address to send from; default ":0" (any
	// address, ephemeral port). One socket is used for every probe.
	LocalAddr string
	// Types is the probe's Types element; default "dn:NetworkVideoTransmitter".
	// Set "-" to probe without types (matches every device).
	Types string
	// Logger receives debug logs; default slog.Default().
	Logger *slog.Logger
}

// Discovered is a device that answered a probe.
type Discovered struct {
	EndpointReference string // wsa:Address, e.g. urn:uuid:…
	XAddrs            []string
	Types             []string
	Scopes            []string
	MetadataVersion   int
	From              netip.AddrPort // where the answer came from
	ScopeFields                      // parsed from Scopes
}

// ScopeFields are the well-known onvif:// scopes of a device, URL-decoded
// ("" when absent).
type ScopeFields struct {
	Name     string
	Location string // e.g. "city/seoul"
	Hardware string
	MAC      string
	Profiles []string // e.g. Streaming, T, G
}

// ParseScopes extracts the well-known fields from scope URIs (from
// WS-Discovery or GetScopes); the first value of each kind wins.
func ParseScopes(items []string) ScopeFields {
	var f ScopeFields
	const pfx = "onvif://www.onvif.org/"
	for _, s := range items {
		if len(s) < len(pfx) || !strings.EqualFold(s[:len(pfx)], pfx) {
			continue
		}
		kind, val, _ := strings.Cut(s[len(pfx):], "/")
		if v, err := url.PathUnescape(val); err == nil {
			val = v
		}
		set := func(dst *string) {
			if *dst == "" {
				*dst = val
			}
		}
		switch strings.ToLower(kind) {
		case "name":
			set(&f.Name)
		case "location":
			set(&f.Location)
		case "hardware":
			set(&f.Hardware)
		case "mac":
			set(&f.MAC)
		case "profile":
			// The profile is the first segment: Profile/Q/FactoryDefault
			// is profile Q in its factory-default state.
			val, _, _ = strings.Cut(val, "/")
			if val = strings.TrimSpace(val); val != "" && !slices.Contains(f.Profiles, val) {
				f.Profiles = append(f.Profiles, val)
			}
		}
	}
	return f
}

// Discover sends WS-Discovery probes to cfg.Targets (and, when
// cfg.Interface is set, one multicast probe) from one UDP socket and calls fn
// for each new device, deduplicated by endpoint reference, from a single
// goroutine. It returns when cfg.Wait has passed after the last probe or ctx
// ends; fn is never called after Discover returns. The context's end is not
// an error.
func Discover(ctx context.Context, cfg DiscoveryConfig, fn func(Discovered)) error {
	if cfg.Port <= 0 {
		cfg.Port = DefaultDiscoveryPort
	}
	if cfg.MaxHosts <= 0 {
		cfg.MaxHosts = DefaultMaxHosts
	}
	if cfg.Rate <= 0 {
		cfg.Rate = DefaultProbeRate
	}
	if cfg.Wait <= 0 {
		cfg.Wait = DefaultDiscoveryWait
	}
	if cfg.LocalAddr == "" {
		cfg.LocalAddr = ":0"
	}
	if cfg.Types == "" {
		cfg.Types = "dn:NetworkVideoTransmitter"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	targets, err := ExpandTargets(cfg.Targets, cfg.Port, cfg.MaxHosts)
	if err != nil {
		return err
	}
	var ifi *net.Interface
	if cfg.Interface != "" {
		if ifi, err = net.InterfaceByName(cfg.Interface); err != nil {
			return fmt.Errorf("%w: interface %q: %v", ErrInvalidArgument, cfg.Interface, err)
		}
	}
	if len(targets) == 0 && ifi == nil {
		return fmt.Errorf("%w: no discovery targets", ErrInvalidArgument)
	}
	network := "udp"
	if ifi != nil {
		network = "udp4"
	}
	laddr, err := net.ResolveUDPAddr(network, cfg.LocalAddr)
	if err != nil {
		return fmt.Errorf("%w: local address: %v", ErrInvalidArgument, err)
	}
	conn, err := net.ListenUDP(network, laddr)
	if err != nil {
		return fmt.Errorf("onvif discovery: listen: %w", err)
	}
	d := &discoverer{conn: conn, fn: fn, log: cfg.Logger, seen: map[string]bool{}, sent: map[string]bool{}}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // owned by Discover: stopped by conn.Close below
		defer wg.Done()
		d.read()
	}()
	defer func() {
		conn.Close()
		wg.Wait()
	}()

	if ifi != nil {
		pc := ipv4.NewPacketConn(conn)
		if err := pc.SetMulticastInterface(ifi); err != nil {
			return fmt.Errorf("onvif discovery: multicast interface: %w", err)
		}
		_ = pc.SetMulticastTTL(1)
		if err := d.probe(multicastAddr, cfg.Types); err != nil {
			cfg.Logger.Debug("onvif discovery multicast probe failed", "err", err)
		}
	}
	interval := time.Second / time.Duration(cfg.Rate)
	tick := time.NewTicker(max(interval, time.Microsecond))
	defer tick.Stop()
	for i, t := range targets {
		if i > 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-tick.C:
			}
		}
		if err := d.probe(t, cfg.Types); err != nil {
			cfg.Logger.Debug("onvif discovery probe failed", "target", t.String(), "err", err)
		}
	}
	wait := time.NewTimer(cfg.Wait)
	defer wait.Stop()
	select {
	case <-ctx.Done():
	case <-wait.C:
	}
	return nil
}

// DiscoverAll runs Discover and returns every device found.
func DiscoverAll(ctx context.Context, cfg DiscoveryConfig) ([]Discovered, error) {
	var out []Discovered
	err := Discover(ctx, cfg, func(d Discovered) { out = append(out, d) })
	return out, err
}

type discoverer struct {
	conn *net.UDPConn
	fn   func(Discovered)
	log  *slog.Logger

	mu   sync.Mutex
	sent map[string]bool // message IDs of our probes
	seen map[string]bool // endpoint references reported
}

func (d *discoverer) probe(to netip.AddrPort, types string) error {
	id := "urn:uuid:" + newUUID()
	d.mu.Lock()
	d.sent[id] = true
	d.mu.Unlock()
	_, err := d.conn.WriteToUDPAddrPort(probeMessage(id, types), to)
	return err
}

func (d *discoverer) read() {
	buf := make([]byte, 65536)
	for {
		n, from, err := d.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // e.g. ICMP port unreachable surfaced as an error
		}
		relates, matches, err := parseProbeMatches(buf[:n])
		if err != nil {
			d.log.Debug("onvif discovery: bad answer", "from", from.String(), "err", err)
			continue
		}
		d.mu.Lock()
		ours := relates == "" || d.sent[relates]
		d.mu.Unlock()
		if !ours {
			continue
		}
		for _, m := range matches {
			m.From = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
			key := m.EndpointReference
			if key == "" {
				key = "from:" + m.From.String() + " " + strings.Join(m.XAddrs, " ")
			}
			if d.seen[key] { // only this goroutine touches seen
				continue
			}
			d.seen[key] = true
			d.fn(m)
		}
	}
}

func probeMessage(id, types string) []byte {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` +
		`<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" ` +
		`xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" ` +
		`xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" ` +
		`xmlns:dn="http://www.onvif.org/ver10/network/wsdl" xmlns:tds="http://www.onvif.org/ver10/device/wsdl">` +
		`<s:Header><a:MessageID>` + id + `</a:MessageID>` +
		`<a:To s:mustUnderstand="1">urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To>` +
		`<a:Action s:mustUnderstand="1">http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</a:Action>` +
		`</s:Header><s:Body><d:Probe>`)
	if types != "-" {
		b.WriteString(`<d:Types>` + xmlEscape(types) + `</d:Types>`)
	}
	b.WriteString(`</d:Probe></s:Body></s:Envelope>`)
	return []byte(b.String())
}

func newUUID() string {
	var u [16]byte
	_, _ = rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// ExpandTargets turns addresses, address:port pairs and CIDR prefixes into
// probe destinations, refusing more than maxHosts in total.
func ExpandTargets(targets []string, port, maxHosts int) ([]netip.AddrPort, error) {
	if port <= 0 || port > 65535 {
		port = DefaultDiscoveryPort
	}
	if maxHosts <= 0 {
		maxHosts = DefaultMaxHosts
	}
	var out []netip.AddrPort
	seen := map[netip.AddrPort]bool{}
	add := func(ap netip.AddrPort) error {
		if seen[ap] {
			return nil
		}
		if len(out) >= maxHosts {
			return fmt.Errorf("%w: more than %d discovery targets", ErrInvalidArgument, maxHosts)
		}
		seen[ap] = true
		out = append(out, ap)
		return nil
	}
	for _, t := range targets {
		t = strings.TrimSpace(t)
		if t == "" {
			continue
		}
		if strings.Contains(t, "/") {
			p, err := netip.ParsePrefix(t)
			if err != nil {
				return nil, fmt.Errorf("%w: target %q: %v", ErrInvalidArgument, t, err)
			}
			p = p.Masked()
			bits := p.Addr().BitLen() - p.Bits()
			if bits > 30 || 1<<bits > maxHosts+2 {
				return nil, fmt.Errorf("%w: range %s is larger than %d hosts", ErrInvalidArgument, p, maxHosts)
			}
			n := 1 << bits
			a := p.Addr()
			skipEdges := a.Is4() && bits >= 2
			for i := 0; i < n; i, a = i+1, a.Next() {
				if skipEdges && (i == 0 || i == n-1) {
					continue
				}
				if err := add(netip.AddrPortFrom(a, uint16(port))); err != nil {
					return nil, err
				}
			}
			continue
		}
		if ap, err := netip.ParseAddrPort(t); err == nil {
			if err := add(ap); err != nil {
				return nil, err
			}
			continue
		}
		a, err := netip.ParseAddr(strings.Trim(t, "[]"))
		if err != nil {
			return nil, fmt.Errorf("%w: target %q is not an IP address, address:port or CIDR", ErrInvalidArgument, t)
		}
		if err := add(netip.AddrPortFrom(a, uint16(port))); err != nil {
			return nil, err
		}
	}
	return out, nil
}

type xProbeMatch struct {
	Address         string `xml:"EndpointReference>Address"`
	Types           string `xml:"Types"`
	Scopes          string `xml:"Scopes"`
	XAddrs          string `xml:"XAddrs"`
	MetadataVersion string `xml:"MetadataVersion"`
}

// parseProbeMatches parses a WS-Discovery ProbeMatches message.
func parseProbeMatches(data []byte) (relatesTo string, out []Discovered, err error) {
	var x struct {
		Matches []xProbeMatch `xml:"ProbeMatch"`
	}
	if err := decodeResponse(data, "ProbeMatches", &x); err != nil {
		return "", nil, err
	}
	var h struct {
		RelatesTo string `xml:"Header>RelatesTo"`
	}
	_ = xml.Unmarshal(data, &h)
	for _, m := range x.Matches {
		dv := Discovered{
			EndpointReference: strings.TrimSpace(m.Address),
			XAddrs:            httpURLs(strings.Fields(m.XAddrs)),
			Types:             strings.Fields(m.Types),
			Scopes:            strings.Fields(m.Scopes),
		}
		dv.MetadataVersion, _ = strconv.Atoi(strings.TrimSpace(m.MetadataVersion))
		dv.ScopeFields = ParseScopes(dv.Scopes)
		if dv.EndpointReference == "" && len(dv.XAddrs) == 0 {
			return "", nil, malformed("probe match without endpoint reference or XAddrs")
		}
		out = append(out, dv)
	}
	return strings.TrimSpace(h.RelatesTo), out, nil
}

// httpURLs keeps the http(s) URLs with a host: XAddrs come from anyone on
// the network and are dialled later.
func httpURLs(in []string) []string {
	out := in[:0]
	for _, s := range in {
		u, err := url.Parse(s)
		if err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.User == nil {
			out = append(out, s)
		}
	}
	return out
}
