package devices

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/gwanje/gwanje/camsim"
	"github.com/gwanje/gwanje/internal/redact"
)

// TestRegisterClockFaultIsAWarning registers cameras whose
// GetSystemDateAndTime faults: registered, with a warning and no clock
// offset, in strict mode too.
func TestRegisterClockFaultIsAWarning(t *testing.T) {
	e := newEnv(t)
	site := e.site("site")
	for _, d := range camsim.Dialects {
		for _, strict := range []bool{false, true} {
			name := string(d)
			if strict {
				name += "/strict"
			}
			t.Run(name, func(t *testing.T) {
				cam := startCam(t, camsim.Config{Dialect: d, Faults: camsim.Faults{ClockFault: true}})
				info := cam.Info()
				res, err := e.reg.Register(e.ctx, RegisterRequest{DeviceURL: cam.DeviceServiceURL(), Username: info.Username,
					Password: info.Password, Fields: fields(site, name), Strict: strict}, e.actor)
				if err != nil {
					t.Fatalf("Register: %v", err)
				}
				if len(res.Pending) != 0 || len(res.Camera.PendingReasons) != 0 {
					t.Errorf("pending %q", res.Pending)
				}
				found := false
				for _, w := range res.Warnings {
					found = found || strings.Contains(w, "does not tell its clock") && strings.Contains(w, "ActionNotSupported")
				}
				if !found {
					t.Errorf("no clock warning in %q", res.Warnings)
				}
				if res.Camera.Device.ClockKnown {
					t.Errorf("clock known: %+v", res.Camera.Device)
				}
			})
		}
	}
}

// TestRegisterPendingUntilStreamReachable registers a camera whose RTSP
// port refuses connections: pending with the reason (refused when strict);
// CameraUp completes it once, with its audit entry.
func TestRegisterPendingUntilStreamReachable(t *testing.T) {
	e := newEnv(t)
	site := e.site("site")
	for _, d := range camsim.Dialects {
		t.Run(string(d), func(t *testing.T) {
			cam := startCam(t, camsim.Config{Dialect: d, Faults: camsim.Faults{RTSPRefused: true}})
			info := cam.Info()
			req := RegisterRequest{DeviceURL: cam.DeviceServiceURL(), Username: info.Username, Password: info.Password,
				Fields: fields(site, "pending "+string(d)), Strict: true}
			before := e.count(`select count(*) from devices_cameras`)
			_, err := e.reg.Register(e.ctx, req, e.actor)
			if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "RTSP") {
				t.Fatalf("strict Register: %v, want ErrUnreachable (RTSP)", err)
			}
			if n := e.count(`select count(*) from devices_cameras`); n != before {
				t.Fatal("strict refusal stored a camera")
			}
			req.Strict = false
			res, err := e.reg.Register(e.ctx, req, e.actor)
			if err != nil {
				t.Fatalf("Register: %v", err)
			}
			if len(res.Pending) != 1 || !strings.Contains(res.Pending[0], "stream not reachable yet") ||
				!strings.Contains(res.Pending[0], "RTSP DESCRIBE") {
				t.Fatalf("pending %q", res.Pending)
			}
			got, err := e.reg.Get(e.ctx, res.Camera.ID)
			if err != nil || len(got.PendingReasons) != 1 || got.Lifecycle != Active {
				t.Fatalf("stored %+v %v", got.PendingReasons, err)
			}
			if n := e.count(`select count(*) from test_audit where type='device.register' and details ? 'pending' and $1 = any(cameras)`, res.Camera.ID); n != 1 {
				t.Errorf("%d audit entries with the pending reasons", n)
			}
			ts, err := e.reg.ProbeTargets(e.ctx)
			if err != nil {
				t.Fatal(err)
			}
			pending := false
			for _, tg := range ts {
				if tg.CameraID == res.Camera.ID {
					pending = tg.Pending
				}
			}
			if !pending {
				t.Fatal("probe target not marked pending")
			}
			// The stream comes up; health reports the camera up.
			cam.SetFaults(camsim.Faults{})
			if err := e.reg.describe(e.ctx, cam.RTSPURL(camsim.ProfileMain), info.Username, info.Password); err != nil {
				t.Fatalf("stream still unreachable: %v", err)
			}
			done, err := e.reg.CameraUp(e.ctx, res.Camera.ID, "online")
			if err != nil || !done {
				t.Fatalf("CameraUp: %v %v", done, err)
			}
			if done, err := e.reg.CameraUp(e.ctx, res.Camera.ID, "online"); err != nil || done {
				t.Fatalf("second CameraUp: %v %v", done, err)
			}
			got, _ = e.reg.Get(e.ctx, res.Camera.ID)
			if len(got.PendingReasons) != 0 {
				t.Fatalf("still pending: %q", got.PendingReasons)
			}
			if n := e.count(`select count(*) from test_audit where type='device.register.complete' and $1 = any(cameras)`, res.Camera.ID); n != 1 {
				t.Fatalf("%d device.register.complete entries", n)
			}
		})
	}
}

// TestRegisterNoStreamURIReportsEachProfile: every GetStreamUri faults;
// the refusal names each H.264 profile and its fault.
func TestRegisterNoStreamURIReportsEachProfile(t *testing.T) {
	e := newEnv(t)
	site := e.site("site")
	for _, d := range camsim.Dialects {
		t.Run(string(d), func(t *testing.T) {
			cam := startCam(t, camsim.Config{Dialect: d, Faults: camsim.Faults{StreamURIFault: true}})
			info := cam.Info()
			_, err := e.reg.Register(e.ctx, RegisterRequest{DeviceURL: cam.DeviceServiceURL(), Username: info.Username,
				Password: info.Password, Fields: fields(site, "no uri")}, e.actor)
			if !errors.Is(err, ErrNoProfile) {
				t.Fatalf("Register: %v, want ErrNoProfile", err)
			}
			msg := err.Error()
			t.Log(msg)
			if n := strings.Count(msg, "no stream URI: "); n < 2 {
				t.Errorf("%d per-profile reasons in %q", n, msg)
			}
			if !strings.Contains(msg, "GetStreamUri failed: stream is not configured") || !strings.Contains(msg, "(H264)") {
				t.Errorf("reasons do not name the fault and encoding: %q", msg)
			}
		})
	}
}

// TestRegisterCredentialsInPath registers a camera whose stream URIs carry
// the credentials in their path: the registry stores and shows them
// redacted, keeps the real ones sealed, hands them to the server-side
// readers, and no log line or error shows them.
func TestRegisterCredentialsInPath(t *testing.T) {
	var logs bytes.Buffer
	e := newEnv(t, func(c *Config) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	site := e.site("site")
	const secret = "Pa55-in-path"
	cam := startCam(t, camsim.Config{Dialect: camsim.DialectDahua, Password: secret, Quirks: camsim.Quirks{CredentialsInPath: true}})
	info := cam.Info()
	raw := cam.RTSPURL(camsim.ProfileMain)
	if !strings.Contains(raw, "password="+secret) {
		t.Fatalf("camsim URI %q", raw)
	}
	res, err := e.reg.Register(e.ctx, RegisterRequest{DeviceURL: cam.DeviceServiceURL(), Username: info.Username,
		Password: secret, Fields: fields(site, "path creds")}, e.actor)
	if err != nil {
		t.Fatalf("Register: %v", err)
	}
	c := res.Camera
	if c.Device.StreamURI != redact.URL(raw) || strings.Contains(c.Device.StreamURI, secret) {
		t.Errorf("shown stream URI %q", c.Device.StreamURI)
	}
	for _, p := range c.Device.Profiles {
		if strings.Contains(p.StreamURI, secret) {
			t.Errorf("profile %s shows %q", p.Token, p.StreamURI)
		}
	}
	// Nothing in the row holds the secret in clear.
	if n := e.count(`select count(*) from devices_cameras where stream_uri like '%'||$1||'%' or profiles::text like '%'||$1||'%'
		or snapshot_uri like '%'||$1||'%' or position(convert_to($1, 'UTF8') in uri_sealed) > 0`, secret); n != 0 {
		t.Fatal("stream URI stored in clear")
	}
	if n := e.count(`select count(*) from devices_cameras where uri_sealed is not null`); n != 1 {
		t.Fatal("stream URIs not sealed")
	}
	if n := e.count(`select count(*) from test_audit where details::text like '%'||$1||'%'`, secret); n != 0 {
		t.Fatal("audit details show the secret")
	}
	// The server-side readers get the real URI, which the camera accepts.
	up, _, err := e.reg.Upstream(e.ctx, c.ID, "main")
	if err != nil || up != raw {
		t.Fatalf("Upstream %q %v, want %q", up, err, raw)
	}
	if err := e.reg.describe(e.ctx, up, info.Username, secret); err != nil {
		t.Fatalf("DESCRIBE the real URI: %v", err)
	}
	sub, _, err := e.reg.Upstream(e.ctx, c.ID, "sub")
	if err != nil || sub != cam.RTSPURL(camsim.ProfileSub) {
		t.Fatalf("sub Upstream %q %v", sub, err)
	}
	ts, err := e.reg.ProbeTargets(e.ctx)
	if err != nil || len(ts) != 1 || ts[0].StreamURI != raw {
		t.Fatalf("probe targets %v %v", ts, err)
	}
	// Errors that print the URI redact it.
	cam.SetFaults(camsim.Faults{RTSPRefused: true})
	derr := e.reg.describe(e.ctx, up, info.Username, secret)
	if derr == nil || strings.Contains(derr.Error(), secret) || !strings.Contains(derr.Error(), "password=xxxxx") {
		t.Fatalf("describe error %v", derr)
	}
	// A strict registration of a second such camera fails with the URI in
	// the error, redacted; so is the log line.
	cam2 := startCam(t, camsim.Config{Dialect: camsim.DialectHikvision, Password: secret, Quirks: camsim.Quirks{CredentialsInPath: true},
		Faults: camsim.Faults{RTSPRefused: true}})
	_, err = e.reg.Register(e.ctx, RegisterRequest{DeviceURL: cam2.DeviceServiceURL(), Username: info.Username,
		Password: secret, Fields: fields(site, "strict"), Strict: true}, e.actor)
	if err == nil || strings.Contains(err.Error(), secret) || !strings.Contains(err.Error(), "password=xxxxx") {
		t.Fatalf("strict Register: %v", err)
	}
	if strings.Contains(logs.String(), secret) {
		t.Fatalf("logs show the secret:\n%s", logs.String())
	}
}

// TestSealURIsMigratesClearRows seals the URIs of a row stored in clear
// before sealing existed: once, idempotently, with an audit entry.
func TestSealURIsMigratesClearRows(t *testing.T) {
	e := newEnv(t)
	site := e.site("site")
	cam, err := e.reg.CreateCamera(e.ctx, fields(site, "old"), e.actor)
	if err != nil {
		t.Fatal(err)
	}
	const raw = "rtsp://10.0.0.9:554/user=admin_password=old-secret_channel=1_stream=0.sdp"
	const rawSub = "rtsp://10.0.0.9:554/user=admin_password=old-secret_channel=1_stream=1.sdp"
	const snap = "http://10.0.0.9/cgi-bin/snapshot.cgi?user=admin&pwd=old-secret"
	if _, err := e.pool.Exec(e.ctx, `update devices_cameras set lifecycle='active', device_url='http://10.0.0.9/onvif/device_service',
		profile_token='p0', stream_uri=$2, snapshot_uri=$3,
		profiles=jsonb_build_array(jsonb_build_object('token','p0','encoding','H264','width',1920,'height',1080,'stream_uri',$2::text),
			jsonb_build_object('token','p1','encoding','H264','width',640,'height',360,'stream_uri',$4::text))
		where id=$1`, cam.ID, raw, snap, rawSub); err != nil {
		t.Fatal(err)
	}
	if err := e.reg.SetCredentials(e.ctx, cam.ID, Credentials{Username: "admin", Password: "old-secret"}, e.actor); err != nil {
		t.Fatal(err)
	}
	for i, want := range []int{1, 0} {
		n, err := e.reg.SealURIs(e.ctx, e.actor)
		if err != nil || n != want {
			t.Fatalf("run %d: SealURIs = %d %v, want %d", i, n, err, want)
		}
	}
	if n := e.count(`select count(*) from devices_cameras where stream_uri like '%old-secret%' or profiles::text like '%old-secret%'
		or snapshot_uri like '%old-secret%'`); n != 0 {
		t.Fatal("secret left in clear")
	}
	if n := e.count(`select count(*) from test_audit where type='device.uris.seal'`); n != 1 {
		t.Fatalf("%d device.uris.seal entries", n)
	}
	for profile, want := range map[string]string{"main": raw, "sub": rawSub} {
		got, _, err := e.reg.Upstream(e.ctx, cam.ID, profile)
		if err != nil || got != want {
			t.Fatalf("Upstream %s = %q %v, want %q", profile, got, err, want)
		}
	}
	sec, err := e.reg.secretURIs(e.ctx, cam.ID)
	if err != nil || sec[snapshotKey] != snap {
		t.Fatalf("sealed snapshot %q %v", sec, err)
	}
	// A key rotation reseals them too.
	if _, err := e.reg.ResealCredentials(context.Background(), e.actor); err != nil {
		t.Fatal(err)
	}
}
