package onvif

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func newTestClient(t *testing.T, cfg Config) *Client {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestNewValidates(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"empty", Config{}},
		{"not http", Config{Endpoint: "ftp://x/onvif"}},
		{"credentials in URL", Config{Endpoint: "http://admin:pw@192.0.2.1/onvif/device_service"}},
		{"bad auth mode", Config{Endpoint: "http://192.0.2.1/", Auth: AuthMode(42)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			if !errors.Is(err, ErrInvalidArgument) {
				t.Fatalf("got %v", err)
			}
			if strings.Contains(fmt.Sprint(err), "pw") {
				t.Error("credential in error")
			}
		})
	}
}

// TestHTTPFaults injects failures at the HTTP level.
func TestHTTPFaults(t *testing.T) {
	devInfo := corpusFile(t, "axis-Q6045-E/GetDeviceInformation.xml")
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		max     int64
		want    []error
		notWant []error
	}{
		{
			name: "slow past the deadline",
			handler: func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body) // lets the server notice the client leaving
				<-r.Context().Done()
			},
			want: []error{ErrTimeout, context.DeadlineExceeded},
		},
		{
			name: "slow body past the deadline",
			handler: func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				w.WriteHeader(200)
				_, _ = w.Write([]byte(devInfo[:100]))
				w.(http.Flusher).Flush()
				<-r.Context().Done()
			},
			want: []error{ErrTimeout},
		},
		{
			name: "oversized streamed",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(200)
				chunk := strings.Repeat("<x/>", 1024)
				for i := 0; i < 100; i++ {
					if _, err := w.Write([]byte(chunk)); err != nil {
						return
					}
				}
			},
			max:     64 << 10,
			want:    []error{ErrTooLarge, ErrMalformed},
			notWant: []error{ErrTimeout},
		},
		{
			name: "oversized by content length",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", "2000000")
				w.WriteHeader(200)
			},
			want: []error{ErrTooLarge},
		},
		{
			name: "truncated",
			handler: func(w http.ResponseWriter, r *http.Request) {
				conn, buf, _ := w.(http.Hijacker).Hijack()
				defer conn.Close()
				fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Type: application/soap+xml\r\nContent-Length: %d\r\n\r\n%s", len(devInfo), devInfo[:len(devInfo)/2])
				buf.Flush()
			},
			want: []error{ErrMalformed},
		},
		{
			name: "truncated without length",
			handler: func(w http.ResponseWriter, r *http.Request) {
				_, _ = w.Write([]byte(devInfo[:len(devInfo)-40]))
			},
			want: []error{ErrMalformed},
		},
		{
			name: "401 without challenge",
			handler: func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "no", http.StatusUnauthorized)
			},
			want: []error{ErrUnauthorized},
		},
		{
			name: "fault with 500",
			handler: func(w http.ResponseWriter, r *http.Request) {
				writeXML(w, 500, faultEnvelope("ActionNotSupported", "not here"))
			},
			want: []error{ErrFault, ErrNotSupported},
		},
		{
			name: "HTML error page",
			handler: func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "<html>boom</html>", http.StatusInternalServerError)
			},
			want: []error{ErrMalformed},
		},
		{
			name: "404",
			handler: func(w http.ResponseWriter, r *http.Request) {
				http.NotFound(w, r)
			},
			want: []error{ErrNotSupported},
		},
		{
			name: "malformed XML",
			handler: func(w http.ResponseWriter, r *http.Request) {
				writeXML(w, 200, strings.Replace(devInfo, "</tds:Model>", "</tds:Modell>", 1))
			},
			want: []error{ErrMalformed},
		},
		{
			name: "wrong body element",
			handler: func(w http.ResponseWriter, r *http.Request) {
				writeXML(w, 200, corpusFile(t, "axis-Q6045-E/GetScopes.xml"))
			},
			want: []error{ErrMalformed},
		},
		{
			name: "not SOAP",
			handler: func(w http.ResponseWriter, r *http.Request) {
				writeXML(w, 200, `{"json": true}`)
			},
			want: []error{ErrMalformed},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			leakCheck(t)
			srv := httptest.NewServer(tc.handler)
			defer srv.Close()
			c := newTestClient(t, Config{Endpoint: srv.URL + "/onvif/device_service", Username: "admin", Password: "hunter2-secret",
				Auth: AuthWSSecurity, DisableClockSync: true, MaxResponseBytes: tc.max})
			_, err := c.GetDeviceInformation(ctxTimeout(t, 300*time.Millisecond))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !errors.Is(err, w) {
					t.Errorf("error %v does not match %v", err, w)
				}
			}
			for _, w := range tc.notWant {
				if errors.Is(err, w) {
					t.Errorf("error %v matches %v", err, w)
				}
			}
			var oe *OpError
			if !errors.As(err, &oe) || oe.Op != "GetDeviceInformation" {
				t.Errorf("not an *OpError for the operation: %v", err)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Error("password in error")
			}
		})
	}
}

func TestUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c := newTestClient(t, Config{Endpoint: "http://" + addr + "/onvif/device_service"})
	_, err = c.GetSystemDateAndTime(ctxTimeout(t, 2*time.Second))
	if !errors.Is(err, ErrUnreachable) || errors.Is(err, ErrTimeout) {
		t.Fatalf("got %v", err)
	}
}

func TestDefaultTimeoutWithoutDeadline(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
	}))
	defer srv.Close()
	c := newTestClient(t, Config{Endpoint: srv.URL, Timeout: 100 * time.Millisecond})
	_, err := c.GetSystemDateAndTime(context.Background())
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("got %v", err)
	}
}

func TestAuthModes(t *testing.T) {
	for _, tc := range []struct {
		name         string
		wsse, digest bool
		auth         AuthMode
		detected     AuthMode
	}{
		{"auto finds ws-security", true, false, AuthAuto, AuthWSSecurity},
		{"auto finds digest", false, true, AuthAuto, AuthDigest},
		{"auto with both accepted", true, true, AuthAuto, AuthWSSecurity},
		{"configured digest", false, true, AuthDigest, AuthDigest},
		{"configured both", true, true, AuthBoth, AuthBoth},
		{"configured ws-security", true, false, AuthWSSecurity, AuthWSSecurity},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeDevice(t)
			f.wsse, f.digest = tc.wsse, tc.digest
			f.answers["GetDeviceInformation"] = corpusFile(t, "hikvision-DS-2DF7276-AEL/GetDeviceInformation.xml")
			for _, pass := range []string{f.pass, "wrong-password"} {
				c := newTestClient(t, Config{Endpoint: f.url(), Username: f.user, Password: pass, Auth: tc.auth})
				info, err := c.GetDeviceInformation(ctxTimeout(t, 5*time.Second))
				if pass != f.pass {
					if !errors.Is(err, ErrUnauthorized) {
						t.Fatalf("wrong password: got %v", err)
					}
					if strings.Contains(err.Error(), pass) {
						t.Error("password in error")
					}
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				if info.Model != "DS-2DF7276-AEL" {
					t.Errorf("info %+v", info)
				}
				if got := c.AuthMode(); got != tc.detected {
					t.Errorf("mode %v, want %v", got, tc.detected)
				}
			}
		})
	}
}

// TestClockOffset: a camera 10 minutes ahead rejects WS-Security tokens from
// the local clock; the offset learned from GetSystemDateAndTime fixes it.
func TestClockOffset(t *testing.T) {
	for _, skew := range []time.Duration{10 * time.Minute, -10 * time.Minute, 0} {
		t.Run(skew.String(), func(t *testing.T) {
			f := newFakeDevice(t)
			f.wsse, f.skew = true, skew
			f.answers["GetDeviceInformation"] = corpusFile(t, "axis-Q6045-E/GetDeviceInformation.xml")

			c := newTestClient(t, Config{Endpoint: f.url(), Username: f.user, Password: f.pass, Auth: AuthWSSecurity})
			if _, err := c.GetDeviceInformation(ctxTimeout(t, 5*time.Second)); err != nil {
				t.Fatalf("with offset: %v", err)
			}
			off, ok := c.ClockOffset()
			if !ok || (off-skew).Abs() > 3*time.Second {
				t.Errorf("offset %v (known %v), want about %v", off, ok, skew)
			}
			sdt, err := c.GetSystemDateAndTime(ctxTimeout(t, 5*time.Second))
			if err != nil || sdt.TimeZone != "KST-9" || (sdt.Offset-skew).Abs() > 3*time.Second || sdt.Latency <= 0 {
				t.Errorf("GetSystemDateAndTime %+v, %v", sdt, err)
			}

			// The camera clock jumps (NTP, manual change): the client notices
			// the rejection, re-learns the offset and retries once.
			f.setSkew(skew + 7*time.Minute)
			if _, err := c.GetDeviceInformation(ctxTimeout(t, 5*time.Second)); err != nil {
				t.Fatalf("after a clock jump: %v", err)
			}
			if off, _ := c.ClockOffset(); (off - skew - 7*time.Minute).Abs() > 3*time.Second {
				t.Errorf("offset after jump %v", off)
			}
			f.setSkew(skew)

			nosync := newTestClient(t, Config{Endpoint: f.url(), Username: f.user, Password: f.pass, Auth: AuthWSSecurity, DisableClockSync: true})
			_, err = nosync.GetDeviceInformation(ctxTimeout(t, 5*time.Second))
			if skew != 0 && !errors.Is(err, ErrUnauthorized) {
				t.Errorf("without offset: got %v, want ErrUnauthorized", err)
			}
		})
	}
}

func TestServicesFallbackToCapabilities(t *testing.T) {
	f := newFakeDevice(t)
	// GetServices not implemented (ActionNotSupported): GetCapabilities is used.
	caps := corpusFile(t, "dahua-model-unstated-go2rtc/GetCapabilities.xml")
	u := strings.TrimPrefix(f.srv.URL, "http://")
	f.answers["GetCapabilities"] = strings.ReplaceAll(caps, "192.168.1.123", u)
	f.answers["GetProfiles"] = corpusFile(t, "dahua-family-model-unstated/GetProfiles.xml")
	f.answers["GetStreamUri"] = corpusFile(t, "dahua-model-unstated-go2rtc/GetStreamUri.xml")
	f.answers["GetSnapshotUri"] = corpusFile(t, "dahua-model-unstated-go2rtc/GetSnapshotUri.xml")
	c := newTestClient(t, Config{Endpoint: f.url()})
	ctx := ctxTimeout(t, 5*time.Second)
	s, err := c.ResolveServices(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s.Media != f.srv.URL+"/onvif/media_service" || s.PTZ != "" {
		t.Errorf("services %+v", s)
	}
	profiles, err := c.GetProfiles(ctx)
	if err != nil || len(profiles) != 2 {
		t.Fatalf("profiles %v %v", profiles, err)
	}
	uri, err := c.GetStreamUri(ctx, profiles[1].Token)
	if err != nil || !strings.HasPrefix(uri, "rtsp://") {
		t.Errorf("stream uri %q %v", uri, err)
	}
	req := f.last("GetStreamUri")
	for _, want := range []string{"<trt:ProfileToken>MediaProfile00001</trt:ProfileToken>", ">RTP-Unicast<", ">RTSP<"} {
		if !strings.Contains(string(req.Body), want) {
			t.Errorf("GetStreamUri request lacks %s: %s", want, req.Body)
		}
	}
	if _, err := c.GetSnapshotUri(ctx, profiles[0].Token); err != nil {
		t.Error(err)
	}
	_, err = c.GetNodes(ctx)
	if !errors.Is(err, ErrNotSupported) {
		t.Errorf("PTZ without PTZ service: %v", err)
	}
	if _, err := c.GetStreamUri(ctx, ""); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("empty token: %v", err)
	}
}

func TestRequestBodies(t *testing.T) {
	f := newFakeDevice(t)
	f.answers["GetServices"] = strings.ReplaceAll(corpusFile(t, "hikvision-DS-2DF7276-AEL/GetServices.xml"), "http://10.10.1.60", f.srv.URL)
	for op, body := range map[string]string{
		"ContinuousMove": "<tptz:ContinuousMoveResponse/>", "Stop": "<tptz:StopResponse/>",
		"AbsoluteMove": "<tptz:AbsoluteMoveResponse/>", "GotoPreset": "<tptz:GotoPresetResponse/>",
		"SetPreset": "<tptz:SetPresetResponse><tptz:PresetToken>7</tptz:PresetToken></tptz:SetPresetResponse>",
		"SetNTP":    "<tds:SetNTPResponse/>", "SetSystemDateAndTime": "<tds:SetSystemDateAndTimeResponse/>",
		"SystemReboot": "<tds:SystemRebootResponse><tds:Message>Rebooting in 5 s</tds:Message></tds:SystemRebootResponse>",
	} {
		f.answers[op] = envelope(body)
	}
	c := newTestClient(t, Config{Endpoint: f.url()})
	ctx := ctxTimeout(t, 5*time.Second)
	check := func(op string, err error, wants ...string) {
		t.Helper()
		if err != nil {
			t.Errorf("%s: %v", op, err)
			return
		}
		body := string(f.last(op).Body)
		if _, err := bodyElement([]byte(body)); err != nil {
			t.Errorf("%s request is not a valid envelope: %v", op, err)
		}
		for _, w := range wants {
			if !strings.Contains(body, w) {
				t.Errorf("%s request lacks %s:\n%s", op, w, body)
			}
		}
	}
	check("ContinuousMove", c.ContinuousMove(ctx, "Profile_1", PTZVector{Pan: 0.5}, 2*time.Second),
		`<tt:PanTilt x="0.5" y="0"/>`, `<tt:Zoom x="0"/>`, "<tptz:Timeout>PT2S</tptz:Timeout>")
	check("Stop", c.Stop(ctx, "Profile_1", true, false), "<tptz:PanTilt>true</tptz:PanTilt>", "<tptz:Zoom>false</tptz:Zoom>")
	check("AbsoluteMove", c.AbsoluteMove(ctx, "Profile_1", PTZVector{-1, 0.25, 1}, nil), `<tptz:Position><tt:PanTilt x="-1" y="0.25"/><tt:Zoom x="1"/>`)
	check("GotoPreset", c.GotoPreset(ctx, "Profile_1", "3", &PTZVector{Pan: 1, Tilt: 1}), "<tptz:PresetToken>3</tptz:PresetToken>", "<tptz:Speed>")
	tok, err := c.SetPreset(ctx, "Profile_1", "정문 <gate>", "")
	check("SetPreset", err, "<tptz:PresetName>정문 &lt;gate&gt;</tptz:PresetName>")
	if tok != "7" {
		t.Errorf("preset token %q", tok)
	}
	check("SetNTP", c.SetNTP(ctx, false, []string{"192.0.2.1", "time.example.kr", "2001:db8::1"}),
		"<tt:IPv4Address>192.0.2.1</tt:IPv4Address>", "<tt:DNSname>time.example.kr</tt:DNSname>", "<tt:IPv6Address>2001:db8::1</tt:IPv6Address>")
	check("SetSystemDateAndTime", c.SetSystemDateAndTime(ctx, time.Date(2026, 3, 1, 9, 30, 15, 0, time.FixedZone("KST", 9*3600))),
		"<tt:Hour>0</tt:Hour><tt:Minute>30</tt:Minute><tt:Second>15</tt:Second>", "<tt:Year>2026</tt:Year><tt:Month>3</tt:Month><tt:Day>1</tt:Day>", ">Manual<")
	msg, err := c.SystemReboot(ctx)
	check("SystemReboot", err)
	if msg != "Rebooting in 5 s" {
		t.Errorf("reboot message %q", msg)
	}
}

func TestEventsAgainstFake(t *testing.T) {
	f := newFakeDevice(t)
	f.answers["GetServices"] = strings.ReplaceAll(corpusFile(t, "ezviz-CS-H8c-R100-1K2WKFL/GetServices.xml"), "http://192.168.1.3", f.srv.URL)
	f.answers["CreatePullPointSubscription"] = strings.ReplaceAll(corpusFile(t, "axis-Q6045-E/CreatePullPointSubscription.xml"), "http://192.168.0.19", f.srv.URL)
	f.answers["PullMessages"] = corpusFile(t, "hikvision-model-unstated/PullMessages.xml")
	f.answers["GetEventProperties"] = corpusFile(t, "hikvision-model-unstated/GetEventProperties.xml")
	f.answers["Renew"] = envelope(`<wsnt:RenewResponse><wsnt:TerminationTime>2030-01-01T00:00:00Z</wsnt:TerminationTime><wsnt:CurrentTime>2029-12-31T23:59:00Z</wsnt:CurrentTime></wsnt:RenewResponse>`)
	f.answers["Unsubscribe"] = envelope(`<wsnt:UnsubscribeResponse/>`)
	c := newTestClient(t, Config{Endpoint: f.url()})
	ctx := ctxTimeout(t, 10*time.Second)
	ep, err := c.GetEventProperties(ctx)
	if err != nil || len(ep.Topics) < 10 {
		t.Fatalf("event properties %+v %v", ep, err)
	}
	sub, err := c.CreatePullPointSubscription(ctx, "tns1:RuleEngine//.", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(sub.ReferenceParameters) != 1 || sub.ReferenceParameters[0].Local != "SubscriptionId" || sub.ReferenceParameters[0].Value != "5" {
		t.Errorf("reference parameters %+v", sub.ReferenceParameters)
	}
	res, err := c.PullMessages(ctx, sub, 2*time.Second, 10)
	if err != nil || len(res.Messages) < 5 {
		t.Fatalf("pull %+v %v", res, err)
	}
	req := f.last("PullMessages")
	if !strings.Contains(req.Header, ">5</rp0:SubscriptionId>") || !strings.Contains(req.Header, "<wsa:To>"+sub.Address+"</wsa:To>") {
		t.Errorf("PullMessages header lacks reference parameters or To: %s", req.Header)
	}
	if _, err := bodyElement(req.Body); err != nil {
		t.Errorf("PullMessages request not valid: %v", err)
	}
	term, err := c.Renew(ctx, sub, time.Minute)
	if err != nil || term.Year() != 2030 {
		t.Errorf("renew %v %v", term, err)
	}
	if err := c.Unsubscribe(ctx, sub); err != nil {
		t.Error(err)
	}
}

func TestFaultWith200AndMedia2Only(t *testing.T) {
	f := newFakeDevice(t)
	f.wsse = true
	// A media2-only device (no ver10 media in GetServices).
	f.answers["GetServices"] = envelope(`<tds:GetServicesResponse><tds:Service><tds:Namespace>http://www.onvif.org/ver20/media/wsdl</tds:Namespace>` +
		`<tds:XAddr>` + f.srv.URL + `/onvif/media2</tds:XAddr><tds:Version><tt:Major>17</tt:Major><tt:Minor>12</tt:Minor></tds:Version></tds:Service></tds:GetServicesResponse>`)
	f.answers["GetProfiles"] = envelope(`<tr2:GetProfilesResponse xmlns:tr2="http://www.onvif.org/ver20/media/wsdl"><tr2:Profiles token="p1" fixed="true"><tr2:Name>main</tr2:Name><tr2:Configurations>` +
		`<tr2:VideoSource token="vs"><tt:SourceToken>VideoSource_1</tt:SourceToken></tr2:VideoSource>` +
		`<tr2:VideoEncoder token="ve" GovLength="50" Profile="Main"><tt:Encoding>H265</tt:Encoding><tt:Resolution><tt:Width>3840</tt:Width><tt:Height>2160</tt:Height></tt:Resolution>` +
		`<tt:RateControl ConstantBitRate="false"><tt:FrameRateLimit>25</tt:FrameRateLimit><tt:BitrateLimit>8192</tt:BitrateLimit></tt:RateControl></tr2:VideoEncoder>` +
		`<tr2:PTZ token="ptz"><tt:NodeToken>PTZNode</tt:NodeToken></tr2:PTZ></tr2:Configurations></tr2:Profiles></tr2:GetProfilesResponse>`)
	f.answers["GetStreamUri"] = corpusFile(t, "hikvision-oem-ENP1A14-IR_25X/GetStreamUri.media2.xml")
	c := newTestClient(t, Config{Endpoint: f.url(), Username: f.user, Password: f.pass})
	ctx := ctxTimeout(t, 5*time.Second)
	ps, err := c.GetProfiles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := Profile{Token: "p1", Name: "main", Fixed: true, Encoding: "H265", Width: 3840, Height: 2160, FrameRate: 25, BitrateKbps: 8192,
		HasPTZ: true, PTZNodeToken: "PTZNode", VideoSource: "VideoSource_1", Media2: true}
	if len(ps) != 1 || ps[0] != want {
		t.Fatalf("profiles %+v", ps)
	}
	if !strings.Contains(string(f.last("GetProfiles").Body), "<tr2:GetProfiles>") {
		t.Error("not a media2 request")
	}
	uri, err := c.GetStreamUri(ctx, "p1")
	if err != nil || !strings.HasPrefix(uri, "rtsp://") || !strings.Contains(string(f.last("GetStreamUri").Body), "<tr2:Protocol>RTSP</tr2:Protocol>") {
		t.Errorf("media2 stream uri %q %v", uri, err)
	}

	// NotAuthorized sent with HTTP 200 is still unauthorized.
	f.answers["GetScopes"] = corpusFile(t, "dahua-model-unstated-issue19/Fault.NotAuthorized.xml")
	_, err = c.GetScopes(ctx)
	var fe *FaultError
	if !errors.Is(err, ErrUnauthorized) || !errors.As(err, &fe) || fe.HTTPStatus != 200 {
		t.Errorf("got %v", err)
	}
}

// TestNoCredentialsInLogs runs successful and failing calls with debug
// logging and checks that neither the password nor the username's digest
// material reaches the log.
func TestNoCredentialsInLogs(t *testing.T) {
	var buf strings.Builder
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return buf.Write(p)
	}), &slog.HandlerOptions{Level: slog.LevelDebug}))
	f := newFakeDevice(t)
	f.wsse, f.digest = false, true
	f.answers["GetDeviceInformation"] = corpusFile(t, "axis-Q6045-E/GetDeviceInformation.xml")
	for _, pass := range []string{f.pass, "wrong-Secret-123"} {
		c := newTestClient(t, Config{Endpoint: f.url(), Username: f.user, Password: pass, Logger: logger})
		_, _ = c.GetDeviceInformation(ctxTimeout(t, 5*time.Second))
	}
	mu.Lock()
	defer mu.Unlock()
	out := buf.String()
	if !strings.Contains(out, "onvif call") {
		t.Fatalf("no debug log: %q", out)
	}
	for _, secret := range []string{f.pass, "wrong-Secret-123", "Digest "} {
		if strings.Contains(out, secret) {
			t.Errorf("log contains %q:\n%s", secret, out)
		}
	}
}

type writerFunc func([]byte) (int, error)

func (w writerFunc) Write(p []byte) (int, error) { return w(p) }
