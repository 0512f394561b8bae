package onvif

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestExpandTargets(t *testing.T) {
	for _, tc := range []struct {
		name    string
		targets []string
		max     int
		n       int
		err     bool
	}{
		{"single", []string{"192.0.2.10"}, 0, 1, false},
		{"with port", []string{"192.0.2.10:4000", "[2001:db8::1]:3702"}, 0, 2, false},
		{"duplicates", []string{"192.0.2.10", "192.0.2.10:3702"}, 0, 1, false},
		{"/24 skips network and broadcast", []string{"192.0.2.0/24"}, 0, 254, false},
		{"/22 is the default maximum", []string{"10.1.0.0/22"}, 0, 1022, false},
		{"/21 refused", []string{"10.1.0.0/21"}, 0, 0, true},
		{"custom maximum", []string{"192.0.2.0/24"}, 100, 0, true},
		{"total bounded", []string{"192.0.2.0/25", "198.51.100.0/25"}, 200, 0, true},
		{"/32", []string{"192.0.2.7/32"}, 0, 1, false},
		{"ipv6 range refused", []string{"2001:db8::/64"}, 0, 0, true},
		{"garbage", []string{"camera.local"}, 0, 0, true},
		{"bad cidr", []string{"192.0.2.0/33"}, 0, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ExpandTargets(tc.targets, 3702, tc.max)
			if tc.err {
				if !errors.Is(err, ErrInvalidArgument) {
					t.Fatalf("got %v, want ErrInvalidArgument", err)
				}
				return
			}
			if err != nil || len(got) != tc.n {
				t.Fatalf("got %d targets, %v; want %d", len(got), err, tc.n)
			}
		})
	}
}

// responder is a fake WS-Discovery device on a loopback UDP socket.
type responder struct {
	conn *net.UDPConn
	wg   sync.WaitGroup
	mu   sync.Mutex
	hits int
}

var messageIDRe = regexp.MustCompile(`<a:MessageID>([^<]+)</a:MessageID>`)

// startResponder answers each probe with answer(relatesTo) (one datagram
// per returned string).
func startResponder(t *testing.T, addr string, answer func(relatesTo string) []string) *responder {
	t.Helper()
	la, err := net.ResolveUDPAddr("udp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.ListenUDP("udp4", la)
	if err != nil {
		t.Fatal(err)
	}
	r := &responder{conn: conn}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		buf := make([]byte, 65536)
		for {
			n, from, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			r.mu.Lock()
			r.hits++
			r.mu.Unlock()
			m := messageIDRe.FindSubmatch(buf[:n])
			if m == nil {
				continue
			}
			for _, a := range answer(string(m[1])) {
				_, _ = conn.WriteToUDPAddrPort([]byte(a), from)
			}
		}
	}()
	t.Cleanup(func() {
		conn.Close()
		r.wg.Wait()
	})
	return r
}

func (r *responder) port() int { return r.conn.LocalAddr().(*net.UDPAddr).Port }

func probeMatch(relatesTo, uuid, xaddr, name string) string {
	return `<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" ` +
		`xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery">` +
		`<s:Header><a:MessageID>uuid:` + newUUID() + `</a:MessageID><a:RelatesTo>` + relatesTo + `</a:RelatesTo>` +
		`<a:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/ProbeMatches</a:Action></s:Header>` +
		`<s:Body><d:ProbeMatches><d:ProbeMatch><a:EndpointReference><a:Address>urn:uuid:` + uuid + `</a:Address></a:EndpointReference>` +
		`<d:Types>dn:NetworkVideoTransmitter tds:Device</d:Types>` +
		`<d:Scopes>onvif://www.onvif.org/name/` + name + ` onvif://www.onvif.org/hardware/HW-1 onvif://www.onvif.org/location/city/seoul ` +
		`onvif://www.onvif.org/MAC/00:11:22:33:44:55 onvif://www.onvif.org/Profile/Streaming</d:Scopes>` +
		`<d:XAddrs>` + xaddr + `</d:XAddrs><d:MetadataVersion>1</d:MetadataVersion></d:ProbeMatch></d:ProbeMatches></s:Body></s:Envelope>`
}

func TestDiscoverUnicast(t *testing.T) {
	leakCheck(t)
	var targets []string
	for i := 0; i < 5; i++ {
		uuid := fmt.Sprintf("00000000-0000-4000-8000-00000000000%d", i)
		r := startResponder(t, "127.0.0.1:0", func(rel string) []string {
			m := probeMatch(rel, uuid, fmt.Sprintf("http://127.0.0.1:%d/onvif/device_service", 8000+i), fmt.Sprintf("cam%%20%d", i))
			return []string{m, m} // duplicates are reported once
		})
		targets = append(targets, fmt.Sprintf("127.0.0.1:%d", r.port()))
	}
	// Noise: malformed answers, a stale answer to somebody else's probe, a
	// real but not well-formed capture.
	noise := startResponder(t, "127.0.0.1:0", func(rel string) []string {
		return []string{"garbage", probeMatch("urn:uuid:not-ours", "99999999-0000-4000-8000-000000000000", "http://x/", "stale"),
			corpusFile(t, "tplink-Tapo-C200/ProbeMatches.excerpt.xml")}
	})
	targets = append(targets, fmt.Sprintf("127.0.0.1:%d", noise.port()))
	// One target where nobody listens.
	silent, _ := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	targets = append(targets, silent.LocalAddr().String())
	silent.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var got []Discovered
	// fn runs on one goroutine: no lock needed.
	err := Discover(ctx, DiscoveryConfig{Targets: targets, Wait: 5 * time.Second, Rate: 1000}, func(d Discovered) {
		got = append(got, d)
		if len(got) == 5 {
			cancel() // everyone answered: stop waiting
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 5 {
		t.Fatalf("%d devices: %+v", len(got), got)
	}
	sort.Slice(got, func(i, j int) bool { return got[i].EndpointReference < got[j].EndpointReference })
	d := got[2]
	if d.EndpointReference != "urn:uuid:00000000-0000-4000-8000-000000000002" || d.Name != "cam 2" || d.Hardware != "HW-1" ||
		d.Location != "city/seoul" || d.MAC != "00:11:22:33:44:55" || len(d.XAddrs) != 1 || d.XAddrs[0] != "http://127.0.0.1:8002/onvif/device_service" ||
		!d.From.Addr().IsLoopback() {
		t.Errorf("device %+v", d)
	}
}

func TestDiscoverCIDR(t *testing.T) {
	leakCheck(t)
	// Devices on 127.0.0.2..127.0.0.6 sharing one port, probed as 127.0.0.0/29.
	first := startResponder(t, "127.0.0.2:0", func(rel string) []string {
		return []string{probeMatch(rel, "10000000-0000-4000-8000-000000000002", "http://127.0.0.2/onvif/device_service", "a")}
	})
	port := first.port()
	for i := 3; i <= 6; i++ {
		uuid := fmt.Sprintf("10000000-0000-4000-8000-00000000000%d", i)
		startResponder(t, fmt.Sprintf("127.0.0.%d:%d", i, port), func(rel string) []string {
			return []string{probeMatch(rel, uuid, "http://127.0.0.x/onvif/device_service", "b")}
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	seen := map[string]netip.AddrPort{}
	err := Discover(ctx, DiscoveryConfig{Targets: []string{"127.0.0.0/29"}, Port: port, Wait: 5 * time.Second}, func(d Discovered) {
		seen[d.EndpointReference] = d.From
		if len(seen) == 5 {
			cancel() // everyone answered: no need to wait
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != 5 {
		t.Fatalf("found %d: %v", len(seen), seen)
	}
	if f := seen["urn:uuid:10000000-0000-4000-8000-000000000004"]; f.Addr() != netip.MustParseAddr("127.0.0.4") {
		t.Errorf("answer from %v", f)
	}
}

func TestDiscoverRefusesLargeRange(t *testing.T) {
	err := Discover(context.Background(), DiscoveryConfig{Targets: []string{"10.0.0.0/16"}}, func(Discovered) {
		t.Error("callback called")
	})
	if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "1024") {
		t.Fatalf("got %v", err)
	}
	if err := Discover(context.Background(), DiscoveryConfig{}, func(Discovered) {}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("no targets: %v", err)
	}
	if err := Discover(context.Background(), DiscoveryConfig{Interface: "no-such-if0"}, func(Discovered) {}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("unknown interface: %v", err)
	}
}

func TestProbeMessageIsValid(t *testing.T) {
	name, err := bodyElement(probeMessage("urn:uuid:"+newUUID(), "dn:NetworkVideoTransmitter"))
	if err != nil || name != "Probe" {
		t.Fatalf("%q %v", name, err)
	}
}
