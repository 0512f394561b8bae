package devices

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gwanje/gwanje/camsim"
)

func TestRegisterEveryDialect(t *testing.T) {
	e := newEnv(t)
	site := e.site("장흥읍 군청앞")
	for _, d := range camsim.Dialects {
		t.Run(string(d), func(t *testing.T) {
			cam := startCam(t, camsim.Config{Dialect: d, PTZ: d == camsim.DialectAxis})
			info := cam.Info()
			res, err := e.reg.Register(e.ctx, RegisterRequest{DeviceURL: cam.DeviceServiceURL(), Username: info.Username,
				Password: info.Password, Fields: fields(site, "cam "+string(d))}, e.actor)
			if err != nil {
				t.Fatalf("Register: %v", err)
			}
			c := res.Camera
			if c.Device.Manufacturer != info.Manufacturer || c.Device.Model != info.Model || c.Device.Serial != info.SerialNumber ||
				c.Device.Firmware != info.FirmwareVersion || c.Device.HardwareID != info.HardwareID {
				t.Errorf("device facts %+v, camera %+v", c.Device, info)
			}
			if c.Device.StreamURI == "" || !strings.HasPrefix(c.Device.StreamURI, "rtsp://") || len(c.Device.Profiles) == 0 {
				t.Errorf("stream %q profiles %+v", c.Device.StreamURI, c.Device.Profiles)
			}
			if c.Device.SnapshotURI == "" {
				t.Errorf("no snapshot URI (warnings %v)", res.Warnings)
			}
			if c.Device.PTZ != info.PTZ {
				t.Errorf("PTZ %v, want %v", c.Device.PTZ, info.PTZ)
			}
			if c.NationalPurpose != NationalLivingCrime || c.LegalBasis != BasisCrime || c.RetentionDays != 30 ||
				c.Schedule != "24시간" || c.Lifecycle != Active || !c.HasCredentials || c.Department != "안전총괄과" ||
				c.Position == nil || c.Labels[0] != "sensitive" {
				t.Errorf("registry fields %+v", c.CameraFields)
			}
			got, err := e.reg.Get(e.ctx, c.ID)
			if err != nil || got.Device.StreamURI != c.Device.StreamURI {
				t.Fatalf("Get: %+v %v", got, err)
			}
			cr, err := e.reg.Credentials(e.ctx, c.ID)
			if err != nil || cr.Username != info.Username || cr.Password != info.Password {
				t.Fatalf("Credentials: %v %v", cr, err)
			}
			if s := fmt.Sprintf("%v %+v %#v", cr, cr, cr); strings.Contains(s, info.Password) {
				t.Fatalf("credentials printed: %s", s)
			}
			// Registering it again: it already exists.
			_, err = e.reg.Register(e.ctx, RegisterRequest{DeviceURL: cam.DeviceServiceURL(), Username: info.Username,
				Password: info.Password, Fields: fields(site, "again")}, e.actor)
			if !errors.Is(err, ErrAlreadyExists) {
				t.Fatalf("second Register: %v, want ErrAlreadyExists", err)
			}
		})
	}
	if n := e.count(`select count(*) from test_audit where type='device.register'`); n != len(camsim.Dialects) {
		t.Fatalf("%d device.register audit entries", n)
	}
	// The password is nowhere in the table in clear.
	if n := e.count(`select count(*) from devices_cameras where position('camsim'::bytea in cred_sealed) > 0`); n != 0 {
		t.Fatalf("password stored in clear")
	}
}

func TestRegisterFailuresStoreNothing(t *testing.T) {
	type tc struct {
		name   string
		faults camsim.Faults
		pass   string
		want   error
		mod    func(*Config)
	}
	cases := []tc{
		{name: "wrong password", pass: "Xq7-not-it", want: ErrUnauthorized},
		{name: "password changed on site", faults: camsim.Faults{WrongPassword: true}, want: ErrUnauthorized},
		{name: "offline", faults: camsim.Faults{Offline: true}, want: ErrUnreachable},
		{name: "malformed XML", faults: camsim.Faults{MalformedXML: true}, want: ErrBadResponse},
		{name: "truncated XML", faults: camsim.Faults{TruncatedXML: true}, want: ErrBadResponse},
		{name: "oversized response", faults: camsim.Faults{OversizedResponse: true}, want: ErrBadResponse},
		{name: "slow past deadline", faults: camsim.Faults{Latency: 3 * time.Second}, want: ErrUnreachable,
			mod: func(c *Config) { c.CallTimeout = 500 * time.Millisecond }},
	}
	for _, d := range camsim.Dialects {
		for _, c := range cases {
			t.Run(string(d)+"/"+c.name, func(t *testing.T) {
				t.Parallel()
				var mods []func(*Config)
				if c.mod != nil {
					mods = append(mods, c.mod)
				}
				e := newEnv(t, mods...)
				site := e.site("site")
				cam := startCam(t, camsim.Config{Dialect: d, Faults: c.faults, OversizedBytes: 4 << 20})
				pass := cam.Info().Password
				if c.pass != "" {
					pass = c.pass
				}
				_, err := e.reg.Register(e.ctx, RegisterRequest{DeviceURL: cam.DeviceServiceURL(), Username: "admin",
					Password: pass, Fields: fields(site, "cam")}, e.actor)
				if !errors.Is(err, c.want) {
					t.Fatalf("Register: %v, want %v", err, c.want)
				}
				if strings.Contains(err.Error(), pass) {
					t.Fatalf("error shows the password: %v", err)
				}
				t.Logf("%v", err)
				if n := e.count(`select count(*) from devices_cameras`); n != 0 {
					t.Fatalf("%d cameras stored", n)
				}
				if n := e.count(`select count(*) from test_audit where type <> 'site.create'`); n != 0 {
					t.Fatalf("%d audit entries", n)
				}
			})
		}
	}
}

func TestRegisterClockDrift(t *testing.T) {
	e := newEnv(t)
	site := e.site("site")
	for _, d := range camsim.Dialects {
		t.Run(string(d), func(t *testing.T) {
			cam := startCam(t, camsim.Config{Dialect: d, Faults: camsim.Faults{ClockDrift: 10 * time.Minute}})
			res, err := e.reg.Register(e.ctx, RegisterRequest{DeviceURL: cam.DeviceServiceURL(), Username: "admin",
				Password: "camsim", Fields: fields(site, "drift "+string(d))}, e.actor)
			if err != nil {
				t.Fatalf("Register with 10 min drift: %v", err)
			}
			if off := res.Camera.Device.ClockOffset; off < 9*time.Minute || off > 11*time.Minute {
				t.Fatalf("recorded offset %v", off)
			}
			if len(res.Warnings) == 0 || !strings.Contains(strings.Join(res.Warnings, ";"), "clock") {
				t.Fatalf("no drift warning: %v", res.Warnings)
			}
		})
	}
}

func TestRegisterAuditFailureStoresNothing(t *testing.T) {
	e := newEnv(t)
	site := e.site("site")
	cam := startCam(t, camsim.Config{})
	e.aud.fail.Store(true)
	_, err := e.reg.Register(e.ctx, RegisterRequest{DeviceURL: cam.DeviceServiceURL(), Username: "admin",
		Password: "camsim", Fields: fields(site, "cam")}, e.actor)
	if err == nil || !strings.Contains(err.Error(), "audit") {
		t.Fatalf("Register with a failing audit store: %v", err)
	}
	if n := e.count(`select count(*) from devices_cameras`); n != 0 {
		t.Fatalf("%d cameras stored without audit", n)
	}
}

func TestRegisterAllMixed(t *testing.T) {
	e := newEnv(t)
	site := e.site("site")
	good := startCam(t, camsim.Config{Dialect: camsim.DialectHikvision})
	off := startCam(t, camsim.Config{Dialect: camsim.DialectDahua, Faults: camsim.Faults{Offline: true}})
	reqs := []RegisterRequest{
		{DeviceURL: good.DeviceServiceURL(), Username: "admin", Password: "camsim", Fields: fields(site, "good")},
		{DeviceURL: off.DeviceServiceURL(), Username: "admin", Password: "camsim", Fields: fields(site, "offline")},
	}
	calls := 0
	out := e.reg.RegisterAll(e.ctx, reqs, 4, e.actor, func(RegisterOutcome) { calls++ })
	if calls != 2 || out[0].Err != nil || !errors.Is(out[1].Err, ErrUnreachable) || out[0].Result.Camera.Name != "good" {
		t.Fatalf("outcomes %+v (calls %d)", out, calls)
	}
	if n := e.count(`select count(*) from devices_cameras`); n != 1 {
		t.Fatalf("%d cameras", n)
	}
}
