package onvif

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gwanje/gwanje/camsim"
)

// Tests against camsim, the simulated cameras with vendor dialects.

func startCam(t *testing.T, cfg camsim.Config) *camsim.Camera {
	t.Helper()
	cfg.Logger = slog.New(slog.DiscardHandler)
	if cfg.OversizedBytes == 0 {
		cfg.OversizedBytes = 2 << 20
	}
	cam, err := camsim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cam.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cam.Close() })
	return cam
}

func camClient(t *testing.T, cam *camsim.Camera, password string) *Client {
	t.Helper()
	info := cam.Info()
	if password == "" {
		password = info.Password
	}
	return newTestClient(t, Config{Endpoint: cam.DeviceServiceURL(), Username: info.Username, Password: password,
		Logger: slog.New(slog.DiscardHandler)})
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 0.02 }

func TestCamsimOperations(t *testing.T) {
	for _, d := range camsim.Dialects {
		t.Run(string(d), func(t *testing.T) {
			leakCheck(t)
			cam := startCam(t, camsim.Config{Dialect: d, PTZ: true, RebootDuration: 200 * time.Millisecond,
				Faults: camsim.Faults{Motion: true, Tamper: true}})
			info := cam.Info()
			c := camClient(t, cam, "")
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()

			sdt, err := c.GetSystemDateAndTime(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if sdt.UTC.IsZero() || sdt.Offset.Abs() > 3*time.Second || sdt.TimeZone == "" {
				t.Errorf("GetSystemDateAndTime %+v", sdt)
			}

			di, err := c.GetDeviceInformation(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if di.Manufacturer != info.Manufacturer || di.Model != info.Model || di.SerialNumber != info.SerialNumber ||
				di.FirmwareVersion != info.FirmwareVersion || di.HardwareID != info.HardwareID {
				t.Errorf("device info %+v, camera %+v", di, info)
			}
			if c.AuthMode() == AuthAuto {
				t.Error("auth mode not detected")
			}

			caps, err := c.GetCapabilities(ctx)
			if err != nil || caps.Media == "" || caps.PTZ == "" || caps.Events == "" {
				t.Errorf("GetCapabilities %+v %v", caps, err)
			}
			list, err := c.GetServices(ctx)
			if d == camsim.DialectDahua {
				if !errors.Is(err, ErrNotSupported) {
					t.Errorf("dahua GetServices: %v", err)
				}
			} else if s := servicesFromList(list); err != nil || s.Media == "" || s.Media2 == "" || s.PTZ == "" || s.Events == "" {
				t.Errorf("GetServices %+v %v", list, err)
			}
			svc, err := c.ResolveServices(ctx)
			if err != nil || svc.Media == "" {
				t.Fatalf("ResolveServices %+v %v", svc, err)
			}

			scopes, err := c.GetScopes(ctx)
			if err != nil || !hasScope(scopes, "onvif://www.onvif.org/name/") {
				t.Errorf("scopes %+v %v", scopes, err)
			}
			nis, err := c.GetNetworkInterfaces(ctx)
			if err != nil || len(nis) == 0 || nis[0].Token == "" {
				t.Errorf("network interfaces %+v %v", nis, err)
			}

			profiles, err := c.GetProfiles(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(profiles) != len(cam.Profiles()) {
				t.Errorf("%d profiles, camera has %d", len(profiles), len(cam.Profiles()))
			}
			var streams, wantStreams []string
			for _, p := range profiles {
				if p.Token == "" || p.Encoding == "" || p.Width == 0 || p.Height == 0 || !p.HasPTZ {
					t.Errorf("profile %+v", p)
				}
				uri, err := c.GetStreamUri(ctx, p.Token)
				if err != nil {
					t.Fatalf("GetStreamUri %s: %v", p.Token, err)
				}
				streams = append(streams, uri)
				snap, err := c.GetSnapshotUri(ctx, p.Token)
				if err != nil || !strings.HasPrefix(snap, "http") {
					t.Errorf("GetSnapshotUri %s: %q %v", p.Token, snap, err)
				}
			}
			for _, l := range cam.Profiles() {
				wantStreams = append(wantStreams, cam.RTSPURL(l))
			}
			sort.Strings(streams)
			sort.Strings(wantStreams)
			if fmt.Sprint(streams) != fmt.Sprint(wantStreams) {
				t.Errorf("stream URIs %q, want %q", streams, wantStreams)
			}
			if _, err := c.GetStreamUri(ctx, "no-such-profile"); !errors.Is(err, ErrFault) {
				t.Errorf("unknown profile: %v", err)
			}

			// Clock: NTP settings and manual time.
			// (camsim keeps one NTP server.)
			for _, server := range []string{"192.0.2.123", "ntp.example.kr"} {
				if err := c.SetNTP(ctx, false, []string{server}); err != nil {
					t.Errorf("SetNTP: %v", err)
				}
				ntp, err := c.GetNTP(ctx)
				if err != nil || ntp.FromDHCP || len(ntp.NTPManual) != 1 || ntp.NTPManual[0].Address != server {
					t.Errorf("GetNTP %+v %v", ntp, err)
				}
			}
			ahead := time.Now().Add(time.Hour)
			if err := c.SetSystemDateAndTime(ctx, ahead); err != nil {
				t.Fatalf("SetSystemDateAndTime: %v", err)
			}
			sdt, err = c.GetSystemDateAndTime(ctx)
			if err != nil || (sdt.Offset-time.Hour).Abs() > 3*time.Second {
				t.Errorf("after setting the clock an hour ahead: %+v %v", sdt, err)
			}
			if _, err := c.GetDeviceInformation(ctx); err != nil { // WS-Security still accepted
				t.Errorf("after clock change: %v", err)
			}
			if err := c.SetSystemDateAndTime(ctx, time.Now()); err != nil {
				t.Errorf("resetting the clock: %v", err)
			}

			testPTZ(t, ctx, c, profiles[0].Token)
			testEvents(t, ctx, c, d)

			msg, err := c.SystemReboot(ctx)
			if err != nil {
				t.Fatalf("SystemReboot: %v", err)
			}
			_ = msg
			eventually(t, 10*time.Second, "the camera back after reboot", func() bool {
				cctx, cancel := context.WithTimeout(ctx, time.Second)
				defer cancel()
				_, err := c.GetDeviceInformation(cctx)
				return err == nil
			})
		})
	}
}

func hasScope(scopes []Scope, prefix string) bool {
	for _, s := range scopes {
		if strings.HasPrefix(s.Item, prefix) {
			return true
		}
	}
	return false
}

func testPTZ(t *testing.T, ctx context.Context, c *Client, profile string) {
	t.Helper()
	nodes, err := c.GetNodes(ctx)
	if err != nil || len(nodes) == 0 || nodes[0].Token == "" {
		t.Fatalf("GetNodes %+v %v", nodes, err)
	}
	if _, err := c.GetStatus(ctx, profile); err != nil {
		t.Fatalf("GetStatus: %v", err)
	}
	if err := c.ContinuousMove(ctx, profile, PTZVector{Pan: 0.5, Tilt: -0.2}, 0); err != nil {
		t.Fatalf("ContinuousMove: %v", err)
	}
	eventually(t, 5*time.Second, "ContinuousMove to report movement", func() bool {
		st, err := c.GetStatus(ctx, profile)
		return err == nil && (st.PanTiltMove == "MOVING" || st.Position.Pan != 0)
	})
	if err := c.Stop(ctx, profile, true, true); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	target := PTZVector{Pan: 0.25, Tilt: -0.5, Zoom: 0.3}
	if err := c.AbsoluteMove(ctx, profile, target, &PTZVector{Pan: 1, Tilt: 1, Zoom: 1}); err != nil {
		t.Fatalf("AbsoluteMove: %v", err)
	}
	eventually(t, 10*time.Second, "AbsoluteMove to arrive", func() bool {
		st, err := c.GetStatus(ctx, profile)
		return err == nil && near(st.Position.Pan, target.Pan) && near(st.Position.Tilt, target.Tilt) && near(st.Position.Zoom, target.Zoom) &&
			st.PanTiltMove != "MOVING" && st.ZoomMove != "MOVING"
	})
	tok, err := c.SetPreset(ctx, profile, "정문", "")
	if err != nil || tok == "" {
		t.Fatalf("SetPreset %q %v", tok, err)
	}
	presets, err := c.GetPresets(ctx, profile)
	if err != nil {
		t.Fatal(err)
	}
	var found *Preset
	for i := range presets {
		if presets[i].Token == tok {
			found = &presets[i]
		}
	}
	if found == nil || found.Name != "정문" {
		t.Fatalf("preset %q not listed: %+v", tok, presets)
	}
	if err := c.AbsoluteMove(ctx, profile, PTZVector{Pan: -0.5}, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.GotoPreset(ctx, profile, tok, nil); err != nil {
		t.Fatalf("GotoPreset: %v", err)
	}
	eventually(t, 10*time.Second, "GotoPreset to arrive", func() bool {
		st, err := c.GetStatus(ctx, profile)
		return err == nil && near(st.Position.Pan, target.Pan) && near(st.Position.Tilt, target.Tilt)
	})
	if err := c.GotoPreset(ctx, profile, "no-such-preset", nil); !errors.Is(err, ErrFault) {
		t.Errorf("unknown preset: %v", err)
	}
}

func testEvents(t *testing.T, ctx context.Context, c *Client, d camsim.Dialect) {
	t.Helper()
	ep, err := c.GetEventProperties(ctx)
	if err != nil || len(ep.Topics) == 0 {
		t.Fatalf("GetEventProperties %+v %v", ep, err)
	}
	sub, err := c.CreatePullPointSubscription(ctx, "", time.Minute)
	if err != nil {
		t.Fatalf("CreatePullPointSubscription: %v", err)
	}
	var motion, tamper *EventMessage
	eventually(t, 10*time.Second, "motion and tamper events", func() bool {
		res, err := c.PullMessages(ctx, sub, time.Second, 10)
		if err != nil {
			t.Fatalf("PullMessages: %v", err)
		}
		for i := range res.Messages {
			m := res.Messages[i]
			switch m.Kind {
			case EventMotion:
				motion = &m
			case EventTamper:
				tamper = &m
			}
		}
		return motion != nil && tamper != nil
	})
	if !motion.HasState || !motion.Active || motion.Time.IsZero() || len(motion.Source) == 0 {
		t.Errorf("motion %+v", motion)
	}
	if !tamper.HasState || !tamper.Active {
		t.Errorf("tamper %+v", tamper)
	}
	// Dahua sends camera-local times without a zone: they must still come out as UTC.
	if dt := time.Since(motion.Time).Abs(); dt > time.Minute {
		t.Errorf("motion time %v is %v away from now", motion.Time, dt)
	}
	if dt := time.Until(sub.TerminationTime); dt <= 0 || dt > 2*time.Minute {
		t.Errorf("subscription terminates at %v", sub.TerminationTime)
	}
	term, err := c.Renew(ctx, sub, 2*time.Minute)
	if err != nil || time.Until(term) <= time.Minute || time.Until(term) > 3*time.Minute {
		t.Errorf("Renew %v %v", term, err)
	}
	if err := c.Unsubscribe(ctx, sub); err != nil {
		t.Errorf("Unsubscribe: %v", err)
	}
	if _, err := c.PullMessages(ctx, sub, 0, 1); !errors.Is(err, ErrFault) {
		t.Errorf("pull after unsubscribe: %v", err)
	}
}

func TestCamsimFaults(t *testing.T) {
	for _, d := range camsim.Dialects {
		t.Run(string(d), func(t *testing.T) {
			leakCheck(t)
			cam := startCam(t, camsim.Config{Dialect: d})
			for _, tc := range []struct {
				name     string
				faults   camsim.Faults
				password string
				deadline time.Duration
				want     []error
			}{
				{name: "healthy"},
				{name: "clock drift +10m", faults: camsim.Faults{ClockDrift: 10 * time.Minute}},
				{name: "clock drift -10m", faults: camsim.Faults{ClockDrift: -10 * time.Minute}},
				{name: "bad credentials", password: "not-the-password", want: []error{ErrUnauthorized}},
				{name: "password changed on site", faults: camsim.Faults{WrongPassword: true}, want: []error{ErrUnauthorized}},
				{name: "offline", faults: camsim.Faults{Offline: true}, want: []error{ErrUnreachable}},
				{name: "slow past the deadline", faults: camsim.Faults{Latency: time.Second}, deadline: 200 * time.Millisecond, want: []error{ErrTimeout}},
				{name: "malformed XML", faults: camsim.Faults{MalformedXML: true}, want: []error{ErrMalformed}},
				{name: "truncated XML", faults: camsim.Faults{TruncatedXML: true}, want: []error{ErrMalformed}},
				{name: "oversized", faults: camsim.Faults{OversizedResponse: true}, want: []error{ErrTooLarge}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					cam.SetFaults(tc.faults)
					defer cam.SetFaults(camsim.Faults{})
					c := camClient(t, cam, tc.password)
					if tc.deadline == 0 {
						tc.deadline = 10 * time.Second
					}
					ctx, cancel := context.WithTimeout(context.Background(), tc.deadline)
					defer cancel()
					// Every fault must surface the same way whatever the operation.
					ops := []struct {
						name string
						run  func() error
					}{
						{"GetDeviceInformation", func() error {
							info, err := c.GetDeviceInformation(ctx)
							if err == nil && info.Manufacturer != cam.Info().Manufacturer {
								t.Errorf("info %+v", info)
							}
							return err
						}},
						{"GetProfiles+GetStreamUri", func() error {
							ps, err := c.GetProfiles(ctx)
							if err != nil {
								return err
							}
							uri, err := c.GetStreamUri(ctx, ps[0].Token)
							if err == nil && uri != cam.RTSPURL(camsim.ProfileMain) {
								t.Errorf("stream uri %q", uri)
							}
							return err
						}},
						{"GetScopes", func() error { _, err := c.GetScopes(ctx); return err }},
					}
					for _, op := range ops {
						err := op.run()
						if tc.want == nil {
							if err != nil {
								t.Fatalf("%s: %v", op.name, err)
							}
							continue
						}
						for _, w := range tc.want {
							if !errors.Is(err, w) {
								t.Errorf("%s: got %v, want %v", op.name, err, w)
							}
						}
						if err != nil && (strings.Contains(err.Error(), cam.Info().Password) || strings.Contains(err.Error(), "not-the-password")) {
							t.Error("password in error")
						}
					}
					if tc.want == nil {
						if off, _ := c.ClockOffset(); (off - tc.faults.ClockDrift).Abs() > 3*time.Second {
							t.Errorf("offset %v, drift %v", off, tc.faults.ClockDrift)
						}
					}
					if tc.password != "" {
						// Reachability and drift checks need no credentials.
						if _, err := c.GetSystemDateAndTime(ctx); err != nil {
							t.Errorf("GetSystemDateAndTime with a bad password: %v", err)
						}
					}
				})
			}
		})
	}
}

func TestCamsimDiscovery(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	fleet, err := camsim.StartFleet(ctx, camsim.FleetConfig{Count: 12, PTZEvery: 4,
		Template: camsim.Config{Logger: slog.New(slog.DiscardHandler)}})
	if err != nil {
		t.Fatal(err)
	}
	defer fleet.Close()
	want := map[string]*camsim.Camera{}
	var targets []string
	for _, cam := range fleet.Cameras() {
		want[cam.DeviceServiceURL()] = cam
		targets = append(targets, cam.DiscoveryAddr().String())
	}
	targets = append(targets, targets[0]) // probed twice, reported once
	found := map[string]Discovered{}
	err = Discover(ctx, DiscoveryConfig{Targets: targets, Wait: 10 * time.Second}, func(d Discovered) {
		if _, dup := found[d.EndpointReference]; dup {
			t.Errorf("duplicate %s", d.EndpointReference)
		}
		found[d.EndpointReference] = d
		if len(found) == len(want) {
			cancel()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != len(want) {
		t.Fatalf("found %d of %d cameras", len(found), len(want))
	}
	for _, d := range found {
		if len(d.XAddrs) == 0 {
			t.Fatalf("no XAddrs: %+v", d)
		}
		cam := want[d.XAddrs[0]]
		if cam == nil {
			t.Fatalf("unknown XAddr %v", d.XAddrs)
		}
		if d.Name == "" || d.Location != "seoul" || !strings.Contains(d.EndpointReference, cam.Info().EndpointUUID) {
			t.Errorf("discovered %+v for camera %+v", d, cam.Info())
		}
	}
}

// freePort finds a port free for both TCP and UDP on ip.
func freePort(t *testing.T, ip string) int {
	t.Helper()
	for range 20 {
		if p := freePortB(ip); p > 0 {
			return p
		}
	}
	t.Fatal("no free port")
	return 0
}

// freePortB returns a port that was free for TCP and UDP on ip, or 0.
func freePortB(ip string) int {
	l, err := net.Listen("tcp4", ip+":0")
	if err != nil {
		return 0
	}
	p := l.Addr().(*net.TCPAddr).Port
	l.Close()
	u, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(ip), Port: p})
	if err != nil {
		return 0
	}
	u.Close()
	return p
}

// TestCamsimDiscoveryCIDR discovers simulated cameras spread over a /24 of
// loopback addresses, probing every address of the range.
func TestCamsimDiscoveryCIDR(t *testing.T) {
	const count = 40
	// A /24 inside 127.0.0.0/8 picked from the clock, so parallel
	// test binaries rarely share it; ports are free ones, never fixed.
	sub := fmt.Sprintf("127.%d.%d", 100+(time.Now().Nanosecond()%100), 1+(time.Now().Nanosecond()/100)%250)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	fleet, err := camsim.StartFleet(ctx, camsim.FleetConfig{Count: count, BaseIP: sub + ".10",
		HTTPPort: freePort(t, sub+".10"), RTSPPort: freePort(t, sub+".10"), DiscoveryPort: freePort(t, sub+".10"),
		Template: camsim.Config{Logger: slog.New(slog.DiscardHandler)}})
	if err != nil {
		t.Fatal(err)
	}
	defer fleet.Close()
	port := fleet.Cameras()[0].DiscoveryAddr().Port
	start := time.Now()
	found := map[string]Discovered{}
	err = Discover(ctx, DiscoveryConfig{Targets: []string{sub + ".0/24"}, Port: port, Wait: 10 * time.Second, Rate: 1000}, func(d Discovered) {
		found[d.EndpointReference] = d
		if len(found) == count {
			cancel()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != count {
		t.Fatalf("found %d of %d", len(found), count)
	}
	t.Logf("discovered %d cameras in a /24 in %v", count, time.Since(start))
}

// leakCheck fails the test when goroutines started during it outlive it (it
// runs after every cleanup registered later, e.g. servers and clients).
func leakCheck(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<16)
				t.Fatalf("%d goroutines left (had %d):\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
			}
			time.Sleep(10 * time.Millisecond) // polling interval, not a wait for an event
		}
	})
}
