package camsim

import (
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestDiscoveryUnicastProbe(t *testing.T) {
	cam := startCam(t, Config{Dialect: DialectAxis, Name: "gate 3", Location: "seoul/jongno"})
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	probe := func(types, scopes string) string {
		msg := `<?xml version="1.0"?><e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope" xmlns:w="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" xmlns:dn="http://www.onvif.org/ver10/network/wsdl"><e:Header><w:MessageID>urn:uuid:0a6dc791-2be6-4991-9af1-454778a1917a</w:MessageID><w:To>urn:schemas-xmlsoap-org:ws:2005:04:discovery</w:To><w:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</w:Action></e:Header><e:Body><d:Probe><d:Types>` + types + `</d:Types><d:Scopes>` + scopes + `</d:Scopes></d:Probe></e:Body></e:Envelope>`
		if _, err := conn.WriteToUDP([]byte(msg), cam.DiscoveryAddr()); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		buf := make([]byte, 8192)
		n, _, err := conn.ReadFromUDP(buf)
		if err != nil {
			return ""
		}
		return string(buf[:n])
	}
	got := probe("dn:NetworkVideoTransmitter", "onvif://www.onvif.org/location/seoul")
	root, err := parseXML([]byte(got))
	if err != nil {
		t.Fatalf("ProbeMatches: %v %q", err, got)
	}
	m := root.find("Body", "ProbeMatches", "ProbeMatch")
	if m.textAt("XAddrs") != cam.DeviceServiceURL() || !strings.Contains(m.textAt("Scopes"), "name/gate%203") ||
		root.textAt("Header", "RelatesTo") != "urn:uuid:0a6dc791-2be6-4991-9af1-454778a1917a" ||
		m.textAt("EndpointReference", "Address") != cam.Info().EndpointUUID {
		t.Errorf("ProbeMatch: %s", got)
	}
	if got := probe("dn:NetworkVideoTransmitter", "onvif://www.onvif.org/location/busan"); got != "" {
		t.Errorf("answered a probe for other scopes: %s", got)
	}
	// Garbage is ignored and the responder keeps serving.
	_, _ = conn.WriteToUDP([]byte("<not xml"), cam.DiscoveryAddr())
	if got := probe("", ""); got == "" {
		t.Error("no answer after garbage")
	}
}

func TestWSSecurityClockAndReplay(t *testing.T) {
	cam := startCam(t, Config{Dialect: DialectAxis, Faults: Faults{ClockDrift: time.Hour}})
	rc := newRaw(cam, "admin", "camsim")
	url := cam.DeviceServiceURL()
	// Created from our clock is an hour off the camera's: rejected.
	if st, root, _ := rc.call(t, url, `<tds:GetDeviceInformation/>`); st != 400 || faultSubcode(root) != "ter:NotAuthorized" {
		t.Fatalf("drifted clock accepted: %d", st)
	}
	// Read the camera clock unauthenticated, as clients do, and correct.
	_, root, _ := rc.call(t, url, `<tds:GetSystemDateAndTime/>`)
	u := root.find("Body", "GetSystemDateAndTimeResponse", "SystemDateAndTime", "UTCDateTime")
	camHour := u.textAt("Time", "Hour")
	if camHour == "" {
		t.Fatal("no UTCDateTime")
	}
	rc.offset = time.Hour
	if st, _, raw := rc.call(t, url, `<tds:GetDeviceInformation/>`); st != 200 {
		t.Fatalf("corrected clock rejected: %d %s", st, raw)
	}
	// Replayed nonce.
	rc.nonce = []byte("0123456789abcdef")
	if st, _, _ := rc.call(t, url, `<tds:GetDeviceInformation/>`); st != 200 {
		t.Fatalf("first use of nonce: %d", st)
	}
	if st, root, _ := rc.call(t, url, `<tds:GetDeviceInformation/>`); st != 400 || faultSubcode(root) != "ter:NotAuthorized" {
		t.Fatalf("replayed nonce accepted: %d", st)
	}
}

func TestFaultsAtRunTime(t *testing.T) {
	tests := []struct {
		name  string
		f     Faults
		check func(t *testing.T, st int, body string, err error)
	}{
		{"malformed", Faults{MalformedXML: true}, func(t *testing.T, st int, body string, err error) {
			if _, perr := parseXML([]byte(body)); perr == nil {
				t.Error("malformed answer parsed")
			}
		}},
		{"truncated", Faults{TruncatedXML: true}, func(t *testing.T, st int, body string, err error) {
			if _, perr := parseXML([]byte(body)); perr == nil {
				t.Error("truncated answer parsed")
			}
		}},
		{"oversized", Faults{OversizedResponse: true}, func(t *testing.T, st int, body string, err error) {
			if len(body) < 1<<20 {
				t.Errorf("answer only %d bytes", len(body))
			}
		}},
		{"wrong password", Faults{WrongPassword: true}, func(t *testing.T, st int, body string, err error) {
			if st != 401 && st != 400 {
				t.Errorf("status %d", st)
			}
		}},
		{"offline", Faults{Offline: true}, func(t *testing.T, st int, body string, err error) {
			if err == nil {
				t.Errorf("offline camera answered %d", st)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cam := startCam(t, Config{Dialect: DialectHikvision, OversizedBytes: 2 << 20})
			url := cam.DeviceServiceURL()
			cam.SetFaults(tc.f)
			rc := newRaw(cam, "admin", "camsim")
			env := `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:tds="http://www.onvif.org/ver10/device/wsdl">` +
				wsseHeader("admin", "camsim", time.Now(), nil) + `<s:Body><tds:GetDeviceInformation/></s:Body></s:Envelope>`
			resp, err := rc.http.Post(url, "application/soap+xml", strings.NewReader(env))
			var st int
			var body string
			if err == nil {
				b := new(strings.Builder)
				_, _ = ioCopy(b, resp)
				st, body = resp.StatusCode, b.String()
			}
			tc.check(t, st, body, err)
			cam.SetFaults(Faults{})
			waitFor(t, "camera healthy again", 10*time.Second, func() bool {
				r, err := http.Post(url, "application/soap+xml", strings.NewReader(`<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><GetSystemDateAndTime xmlns="http://www.onvif.org/ver10/device/wsdl"/></s:Body></s:Envelope>`))
				if err != nil {
					return false
				}
				r.Body.Close()
				return r.StatusCode == 200
			})
		})
	}
}

func TestRebootComesBack(t *testing.T) {
	cam := startCam(t, Config{Dialect: DialectDahua, RebootDuration: 300 * time.Millisecond})
	rc := newRaw(cam, "admin", "camsim")
	if st, _, raw := rc.call(t, cam.DeviceServiceURL(), `<tds:SystemReboot/>`); st != 200 {
		t.Fatalf("SystemReboot: %d %s", st, raw)
	}
	waitFor(t, "camera to go down", 5*time.Second, func() bool { return !cam.Up() })
	waitFor(t, "camera to come back", 10*time.Second, func() bool { return cam.Up() })
	if st, _, _ := rc.call(t, cam.DeviceServiceURL(), `<tds:GetDeviceInformation/>`); st != 200 {
		t.Fatalf("after reboot: %d", st)
	}
}

func TestBadInputKeepsServing(t *testing.T) {
	cam := startCam(t, Config{Dialect: DialectHikvision, MaxRequestBytes: 8 << 10})
	url := cam.DeviceServiceURL()
	post := func(body string) (int, string) {
		r, err := http.Post(url, "application/soap+xml", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		b := new(strings.Builder)
		_, _ = ioCopy(b, r)
		return r.StatusCode, b.String()
	}
	rc := newRaw(cam, "admin", "camsim")
	for _, tc := range []struct {
		name, body string
		status     int
		sub        string
	}{
		{"not xml", "hello", 400, "ter:WellFormed"},
		{"unclosed", `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>`, 400, "ter:WellFormed"},
		{"doctype", `<!DOCTYPE x [<!ENTITY a "aaaa">]><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><x/></s:Body></s:Envelope>`, 400, "ter:WellFormed"},
		{"empty body", `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body/></s:Envelope>`, 400, "ter:WellFormed"},
		{"huge", `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><x>` + strings.Repeat("A", 64<<10) + `</x></s:Body></s:Envelope>`, 413, "ter:InvalidArgs"},
	} {
		st, body := post(tc.body)
		root, err := parseXML([]byte(body))
		if st != tc.status || err != nil || faultSubcode(root) != tc.sub {
			t.Errorf("%s: %d %.200s", tc.name, st, body)
		}
	}
	if st, root, _ := rc.call(t, url, `<tds:FrobnicateWidget/>`); st != 500 || faultSubcode(root) != "ter:ActionNotSupported" {
		t.Errorf("unknown action: %d", st)
	}
	if st, _, _ := rc.call(t, url, `<tds:GetDeviceInformation/>`); st != 200 {
		t.Errorf("camera stopped serving: %d", st)
	}
}
