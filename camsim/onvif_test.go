package camsim

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	onvif "github.com/IOTechSystems/onvif"
	"github.com/IOTechSystems/onvif/device"
	"github.com/IOTechSystems/onvif/event"
	"github.com/IOTechSystems/onvif/media"
	"github.com/IOTechSystems/onvif/ptz"
	"github.com/icholy/digest"
)

// libDevice connects the IOTechSystems/onvif client the way the dialect needs:
// WS-Security UsernameToken, with the icholy/digest transport underneath.
func libDevice(t *testing.T, cam *Camera, user, pw string) (*onvif.Device, error) {
	t.Helper()
	u, err := url.Parse(cam.DeviceServiceURL())
	if err != nil {
		t.Fatal(err)
	}
	mode := onvif.UsernameTokenAuth
	if !cam.d.wsse {
		mode = onvif.NoAuth
	}
	return onvif.NewDevice(onvif.DeviceParams{
		Xaddr:    u.Host,
		Username: user,
		Password: pw,
		AuthMode: mode,
		HttpClient: &http.Client{Timeout: 30 * time.Second,
			Transport: &digest.Transport{Username: user, Password: pw}},
	})
}

type libCall struct {
	service, fn, data string
	check             func(t *testing.T, cam *Camera, resp any)
	unsupported       func(cam *Camera) bool // expected ActionNotSupported
}

func libCalls(cam *Camera) []libCall {
	main := cam.d.profile(ProfileMain).token
	return []libCall{
		{service: "Device", fn: "GetDeviceInformation", check: func(t *testing.T, cam *Camera, r any) {
			got := r.(*device.GetDeviceInformationResponse)
			if got.Manufacturer != cam.cfg.Manufacturer || got.SerialNumber != cam.cfg.SerialNumber || got.Model != cam.cfg.Model {
				t.Errorf("device information %+v", got)
			}
		}},
		{service: "Device", fn: "GetSystemDateAndTime", check: func(t *testing.T, cam *Camera, r any) {
			got := r.(*device.GetSystemDateAndTimeResponse)
			if got.SystemDateAndTime.UTCDateTime.Date.Year < 2024 {
				t.Errorf("date %+v", got.SystemDateAndTime.UTCDateTime)
			}
		}},
		{service: "Device", fn: "SetSystemDateAndTime", data: `{"DateTimeType":"NTP","DaylightSavings":false}`},
		{service: "Device", fn: "GetCapabilities", data: `{"Category":["All"]}`, check: func(t *testing.T, cam *Camera, r any) {
			got := r.(*device.GetCapabilitiesResponse)
			if !strings.HasPrefix(string(got.Capabilities.Media.XAddr), "http://") || string(got.Capabilities.Events.XAddr) == "" {
				t.Errorf("capabilities %+v", got.Capabilities)
			}
			if cam.cfg.PTZ && string(got.Capabilities.PTZ.XAddr) == "" {
				t.Error("no PTZ XAddr")
			}
		}},
		{service: "Device", fn: "GetServices", data: `{"IncludeCapability":true}`, unsupported: func(c *Camera) bool { return !c.d.services }},
		{service: "Device", fn: "GetScopes", check: func(t *testing.T, cam *Camera, r any) {
			if !strings.Contains(strings.Join(cam.scopes(), " "), "/name/") {
				t.Error("no name scope")
			}
		}},
		{service: "Device", fn: "GetNetworkInterfaces"},
		{service: "Device", fn: "SetNTP", data: `{"FromDHCP":false,"NTPManual":{"Type":"DNS","DNSname":"time.example.kr"}}`},
		{service: "Device", fn: "GetNTP", check: func(t *testing.T, cam *Camera, r any) {
			got := r.(*device.GetNTPResponse)
			if string(got.NTPInformation.NTPManual.DNSname) != "time.example.kr" {
				t.Errorf("NTP %+v", got.NTPInformation)
			}
		}},
		{service: "Device", fn: "GetUsers", check: func(t *testing.T, cam *Camera, r any) {
			got := r.(*device.GetUsersResponse)
			if len(got.User) == 0 || got.User[0].Username != cam.cfg.Username {
				t.Errorf("users %+v", got)
			}
		}},
		{service: "Media", fn: "GetProfiles", check: func(t *testing.T, cam *Camera, r any) {
			got := r.(*media.GetProfilesResponse)
			if len(got.Profiles) != len(cam.d.profiles) || got.Profiles[0].VideoEncoderConfiguration.Resolution.Width == nil || *got.Profiles[0].VideoEncoderConfiguration.Resolution.Width != 640 {
				t.Errorf("profiles %+v", got.Profiles)
			}
		}},
		{service: "Media", fn: "GetVideoSources"},
		{service: "Media", fn: "GetStreamUri", data: `{"StreamSetup":{"Stream":"RTP-Unicast","Transport":{"Protocol":"RTSP"}},"ProfileToken":"` + main + `"}`,
			check: func(t *testing.T, cam *Camera, r any) {
				got := r.(*media.GetStreamUriResponse)
				if string(got.MediaUri.Uri) != cam.RTSPURL(ProfileMain) {
					t.Errorf("stream uri %q, want %q", got.MediaUri.Uri, cam.RTSPURL(ProfileMain))
				}
			}},
		{service: "Media", fn: "GetSnapshotUri", data: `{"ProfileToken":"` + main + `"}`},
		{service: "Media2", fn: "GetProfiles", unsupported: func(c *Camera) bool { return !c.d.media2 }},
		{service: "PTZ", fn: "GetNodes"},
		{service: "PTZ", fn: "ContinuousMove", data: `{"ProfileToken":"` + main + `","Velocity":{"PanTilt":{"X":0.5,"Y":0.2}}}`},
		{service: "PTZ", fn: "GetStatus", data: `{"ProfileToken":"` + main + `"}`},
		{service: "PTZ", fn: "Stop", data: `{"ProfileToken":"` + main + `"}`},
		{service: "PTZ", fn: "SetPreset", data: `{"ProfileToken":"` + main + `","PresetName":"gate"}`},
		{service: "PTZ", fn: "GetPresets", data: `{"ProfileToken":"` + main + `"}`, check: func(t *testing.T, cam *Camera, r any) {
			if got := r.(*ptz.GetPresetsResponse); len(got.Preset) != 1 {
				t.Errorf("presets %+v", got)
			}
		}},
		{service: "PTZ", fn: "AbsoluteMove", data: `{"ProfileToken":"` + main + `","Position":{"PanTilt":{"X":-0.5,"Y":0.5}}}`},
		{service: "PTZ", fn: "GotoPreset", data: `{"ProfileToken":"` + main + `","PresetToken":"1"}`},
		{service: "Event", fn: "GetEventProperties"},
		{service: "Event", fn: "CreatePullPointSubscription", data: `{"InitialTerminationTime":"PT60S"}`, check: func(t *testing.T, cam *Camera, r any) {
			got := r.(*event.CreatePullPointSubscriptionResponse)
			if !strings.HasPrefix(string(got.SubscriptionReference.Address), "http://") {
				t.Errorf("subscription %+v", got)
			}
		}},
	}
}

// TestONVIFLibraryAllDialects drives every operation of every dialect through
// the IOTechSystems/onvif client, with good and with bad credentials.
func TestONVIFLibraryAllDialects(t *testing.T) {
	for _, d := range Dialects {
		t.Run(string(d), func(t *testing.T) {
			cam := startCam(t, Config{Dialect: d, PTZ: true, Username: "admin", Password: "s3cret!"})
			dev, err := libDevice(t, cam, "admin", "s3cret!")
			if err != nil {
				t.Fatalf("NewDevice: %v", err)
			}
			for _, c := range libCalls(cam) {
				resp, err := dev.CallOnvifFunction(c.service, c.fn, []byte(c.data))
				if c.unsupported != nil && c.unsupported(cam) {
					if err == nil || !strings.Contains(err.Error(), "ActionNotSupported") {
						t.Errorf("%s.%s: want ActionNotSupported, got %v", c.service, c.fn, err)
					}
					continue
				}
				if err != nil {
					t.Errorf("%s.%s: %v", c.service, c.fn, err)
					continue
				}
				if c.check != nil {
					c.check(t, cam, resp)
				}
			}

			bad, err := libDevice(t, cam, "admin", "wrong")
			if cam.d.preAuth["GetCapabilities"] {
				if err != nil {
					t.Fatal(err)
				}
			} else if err == nil {
				t.Fatal("NewDevice with a wrong password succeeded")
			} else {
				// Reuse the good device's endpoints with wrong credentials.
				_, err = onvif.NewDevice(onvif.DeviceParams{Xaddr: dev.GetDeviceParams().Xaddr})
				if err == nil {
					t.Fatal("NewDevice without credentials succeeded")
				}
				return // the library cannot be built without a successful GetCapabilities
			}
			_ = bad
		})
	}
}

// TestBadCredentialsEveryOperation sends every operation with wrong
// credentials as raw SOAP and expects ter:NotAuthorized (or 401), except
// the pre-auth GetSystemDateAndTime.
func TestBadCredentialsEveryOperation(t *testing.T) {
	for _, d := range Dialects {
		t.Run(string(d), func(t *testing.T) {
			cam := startCam(t, Config{Dialect: d, PTZ: true})
			bad := newRaw(cam, "admin", "nope")
			none := newRaw(cam, "", "")
			none.wsse = false
			none.http = &http.Client{Timeout: 10 * time.Second}
			for key := range ops {
				if cam.d.preAuth[key.action] {
					continue
				}
				body := `<x:` + key.action + ` xmlns:x="` + key.ns + `"/>`
				for name, rc := range map[string]*rawClient{"wrong": bad, "none": none} {
					st, root, raw := rc.call(t, cam.DeviceServiceURL(), body)
					if st == http.StatusUnauthorized {
						if faultSubcode(root) != "ter:NotAuthorized" {
							t.Errorf("%s %s: 401 without NotAuthorized fault: %.200s", name, key.action, raw)
						}
						continue
					}
					if st != http.StatusBadRequest || faultSubcode(root) != "ter:NotAuthorized" {
						t.Errorf("%s %s: status %d %.300s", name, key.action, st, raw)
					}
				}
			}
			// GetSystemDateAndTime answers anyone.
			st, root, _ := none.call(t, cam.DeviceServiceURL(), `<tds:GetSystemDateAndTime/>`)
			if st != 200 || root.find("Body", "GetSystemDateAndTimeResponse") == nil {
				t.Errorf("GetSystemDateAndTime without credentials: %d", st)
			}
		})
	}
}
