package camsim

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

const (
	nsDiscovery     = "http://schemas.xmlsoap.org/ws/2005/04/discovery"
	nsWSA2004       = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
	wsdMulticast    = "239.255.255.250:3702"
	maxProbeBytes   = 4096
	probeActionTail = "/discovery/Probe"
)

// serveDiscovery answers unicast WS-Discovery probes until conn is closed.
func (c *Camera) serveDiscovery(conn *net.UDPConn) {
	buf := make([]byte, maxProbeBytes)
	for {
		n, from, err := conn.ReadFromUDP(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if reply := c.handleProbe(buf[:n]); reply != nil {
			if d := c.Faults().Latency; d > 0 {
				time.Sleep(min(d, 5*time.Second)) // bounded: this goroutine also stops on Close
			}
			_, _ = conn.WriteToUDP(reply, from)
		}
	}
}

// handleProbe returns a ProbeMatches message for a matching Probe, nil otherwise.
func (c *Camera) handleProbe(data []byte) []byte {
	root, err := parseXML(data)
	if err != nil || root.local != "Envelope" {
		return nil
	}
	probe := root.find("Body", "Probe")
	if probe == nil || probe.space != nsDiscovery {
		return nil
	}
	if a := root.textAt("Header", "Action"); a != "" && !strings.HasSuffix(a, probeActionTail) {
		return nil
	}
	msgID := root.textAt("Header", "MessageID")
	if len(msgID) > 256 {
		return nil
	}
	if types := strings.Fields(probe.textAt("Types")); len(types) > 0 {
		ok := false
		for _, t := range types {
			_, local, _ := strings.Cut(t, ":")
			if local == "" {
				local = t
			}
			if local == "NetworkVideoTransmitter" || local == "Device" {
				ok = true
			}
		}
		if !ok {
			return nil
		}
	}
	scopes := c.scopes()
	for _, want := range strings.Fields(probe.textAt("Scopes")) {
		ok := false
		for _, s := range scopes {
			if s == want || strings.HasPrefix(s, strings.TrimSuffix(want, "/")+"/") {
				ok = true
			}
		}
		if !ok {
			return nil
		}
	}
	return []byte(c.probeMatch(msgID, scopes))
}

func (c *Camera) probeMatch(relatesTo string, scopes []string) string {
	var id [16]byte
	_, _ = rand.Read(id[:])
	h := hex.EncodeToString(id[:])
	env := c.d.env
	types := "dn:NetworkVideoTransmitter tds:Device"
	if c.d.name == DialectAxis {
		types = "dn:NetworkVideoTransmitter"
	}
	relates := ""
	if relatesTo != "" {
		relates = "<wsadis:RelatesTo>" + xmlEscape(relatesTo) + "</wsadis:RelatesTo>"
	}
	return fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?><%[1]s:Envelope xmlns:%[1]s="%[2]s" xmlns:wsadis="%[3]s" xmlns:d="%[4]s" xmlns:dn="http://www.onvif.org/ver10/network/wsdl" xmlns:tds="%[5]s"><%[1]s:Header><wsadis:MessageID>urn:uuid:%[6]s-%[7]s-%[8]s-%[9]s-%[10]s</wsadis:MessageID>%[11]s<wsadis:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</wsadis:To><wsadis:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/ProbeMatches</wsadis:Action><d:AppSequence InstanceId="%[12]d" MessageNumber="1"/></%[1]s:Header><%[1]s:Body><d:ProbeMatches><d:ProbeMatch><wsadis:EndpointReference><wsadis:Address>urn:uuid:%[13]s</wsadis:Address></wsadis:EndpointReference><d:Types>%[14]s</d:Types><d:Scopes>%[15]s</d:Scopes><d:XAddrs>%[16]s</d:XAddrs><d:MetadataVersion>1</d:MetadataVersion></d:ProbeMatch></d:ProbeMatches></%[1]s:Body></%[1]s:Envelope>`,
		env, nsSOAP12, nsWSA2004, nsDiscovery, nsDevice, h[0:8], h[8:12], h[12:16], h[16:20], h[20:32], relates,
		c.bootTime.Unix(), c.uuid, types, xmlEscape(strings.Join(scopes, " ")), xmlEscape(c.DeviceServiceURL()))
}

// startMulticastLocked joins the WS-Discovery group; only with Config.Multicast.
func (c *Camera) startMulticastLocked() error {
	gaddr, err := net.ResolveUDPAddr("udp4", wsdMulticast)
	if err != nil {
		return fmt.Errorf("resolve %s: %w", wsdMulticast, err)
	}
	mc, err := net.ListenMulticastUDP("udp4", nil, gaddr)
	if err != nil {
		return fmt.Errorf("join %s: %w", wsdMulticast, err)
	}
	c.mcast = mc
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.serveDiscovery(mc)
	}()
	return nil
}

func (c *Camera) stopMulticastLocked() {
	if c.mcast != nil {
		_ = c.mcast.Close()
		c.mcast = nil
	}
}
