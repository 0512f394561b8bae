package devices

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gwanje/gwanje/camsim"
)

// TestDeviceManagement drives clock, reboot, snapshot and PTZ of registered
// camsim cameras with the stored credentials.
func TestDeviceManagement(t *testing.T) {
	e := newEnv(t)
	ctx, r := e.ctx, e.reg
	cam := startCam(t, camsim.Config{Dialect: camsim.DialectHikvision, PTZ: true, Faults: camsim.Faults{ClockDrift: 10 * time.Minute}})
	info := cam.Info()
	res, err := r.Register(ctx, RegisterRequest{DeviceURL: cam.DeviceServiceURL(), Username: info.Username, Password: info.Password,
		Fields: fields(e.site("정문"), "ptz")}, e.actor)
	if err != nil {
		t.Fatal(err)
	}
	id := res.Camera.ID

	st, err := r.Clock(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if st.Offset < 9*time.Minute {
		t.Fatalf("drift of 10 minutes read as %s", st.Offset)
	}
	st, err = r.FixClock(ctx, id, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.Offset > 5*time.Second || st.Offset < -5*time.Second {
		t.Fatalf("after fixing, the offset is %s", st.Offset)
	}

	img, ct, err := r.Snapshot(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if ct != "image/jpeg" || !bytes.HasPrefix(img, []byte{0xff, 0xd8}) {
		t.Fatalf("snapshot %s, %d bytes", ct, len(img))
	}

	p, err := r.PTZ(ctx, id, PTZAction{Kind: "set_preset", PresetName: "정문"})
	if err != nil || p.PresetToken == "" {
		t.Fatalf("set preset: %v %+v", err, p)
	}
	if _, err := r.PTZ(ctx, id, PTZAction{Kind: "absolute", Position: p.Status.Position}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.PTZ(ctx, id, PTZAction{Kind: "spin"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("unknown action: %v", err)
	}

	if _, err := r.Reboot(ctx, id); err != nil {
		t.Fatal(err)
	}
	// While it reboots the camera is away: a clear error, not a hang.
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if _, err := r.Clock(cctx, id); err == nil {
		t.Log("camera answered during reboot (reboot window passed)")
	} else if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("clock during reboot: %v", err)
	}
}

func TestProbeTargets(t *testing.T) {
	e := newEnv(t)
	cam := startCam(t, camsim.Config{Dialect: camsim.DialectDahua})
	info := cam.Info()
	res, err := e.reg.Register(e.ctx, RegisterRequest{DeviceURL: cam.DeviceServiceURL(), Username: info.Username, Password: info.Password,
		Fields: fields(e.site("후문"), "후문")}, e.actor)
	if err != nil {
		t.Fatal(err)
	}
	ts, err := e.reg.ProbeTargets(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 1 || ts[0].CameraID != res.Camera.ID || ts[0].Credentials.Password != info.Password || ts[0].StreamURI == "" {
		t.Fatalf("targets %+v", ts)
	}
	if _, err := e.reg.Decommission(e.ctx, res.Camera.ID, "철거", e.actor); err != nil {
		t.Fatal(err)
	}
	if ts, _ := e.reg.ProbeTargets(e.ctx); len(ts) != 0 {
		t.Fatalf("a decommissioned camera is still probed: %+v", ts)
	}
}
