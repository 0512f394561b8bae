package devices

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/icholy/digest"

	"github.com/gwanje/gwanje/devices/onvif"
	"github.com/gwanje/gwanje/internal/redact"
)

// Device management: the camera's clock, reboot, snapshot and PTZ. These
// act on the camera, not on the registry, so they write no audit entry
// themselves: the caller (control) records the action, with the purpose of
// viewing where one is needed, and commits it before calling.

// client connects to a registered camera with its stored credentials.
func (r *Registry) client(ctx context.Context, id string) (*onvif.Client, Camera, error) {
	cam, err := r.Get(ctx, id)
	if err != nil {
		return nil, Camera{}, err
	}
	if cam.Lifecycle == Decommissioned {
		return nil, cam, fmt.Errorf("%w: camera %s is decommissioned", ErrConflict, id)
	}
	if cam.Device.DeviceURL == "" {
		return nil, cam, fmt.Errorf("%w: camera %s has no ONVIF device registered", ErrConflict, id)
	}
	creds, err := r.Credentials(ctx, id)
	if err != nil {
		return nil, cam, err
	}
	c, err := onvif.New(onvif.Config{
		Endpoint: cam.Device.DeviceURL, Username: creds.Username, Password: creds.Password,
		Timeout: r.cfg.CallTimeout, MaxResponseBytes: r.cfg.MaxResponseBytes, Logger: r.log, Now: r.cfg.Now,
	})
	if err != nil {
		return nil, cam, mapONVIF("connect", err)
	}
	return c, cam, nil
}

// ClockStatus is a camera's clock as read now.
type ClockStatus struct {
	// CameraUTC is the camera's UTC time; Offset the camera minus the
	// server's clock; Latency the round trip of the reading.
	CameraUTC time.Time
	Offset    time.Duration
	Latency   time.Duration
	// Mode is "NTP" or "Manual"; NTPServers the configured servers.
	Mode       string
	NTPServers []string
}

// Clock reads the camera's clock and its NTP configuration.
func (r *Registry) Clock(ctx context.Context, id string) (ClockStatus, error) {
	c, _, err := r.client(ctx, id)
	if err != nil {
		return ClockStatus{}, err
	}
	defer c.Close()
	t, err := c.GetSystemDateAndTime(ctx)
	if err != nil {
		return ClockStatus{}, mapONVIF("clock", err)
	}
	st := ClockStatus{CameraUTC: t.UTC, Offset: t.Offset, Latency: t.Latency, Mode: t.DateTimeType}
	if ntp, err := c.GetNTP(ctx); err == nil {
		for _, h := range append(ntp.NTPManual, ntp.NTPFromDHCP...) {
			st.NTPServers = append(st.NTPServers, h.Address)
		}
	}
	return st, nil
}

// FixClock sets the camera's clock: to the server's time (ntp empty), or
// to follow the given NTP servers. It returns the clock as read afterwards.
func (r *Registry) FixClock(ctx context.Context, id string, ntp []string) (ClockStatus, error) {
	c, _, err := r.client(ctx, id)
	if err != nil {
		return ClockStatus{}, err
	}
	defer c.Close()
	if len(ntp) == 0 {
		if err := c.SetSystemDateAndTime(ctx, r.cfg.Now().UTC()); err != nil {
			return ClockStatus{}, mapONVIF("set clock", err)
		}
	} else {
		if err := c.SetNTP(ctx, false, ntp); err != nil {
			return ClockStatus{}, mapONVIF("set NTP", err)
		}
		if err := c.SetNTPTime(ctx); err != nil {
			return ClockStatus{}, mapONVIF("switch to NTP", err)
		}
	}
	c.Close()
	return r.Clock(ctx, id)
}

// Reboot restarts the camera.
func (r *Registry) Reboot(ctx context.Context, id string) (string, error) {
	c, _, err := r.client(ctx, id)
	if err != nil {
		return "", err
	}
	defer c.Close()
	msg, err := c.SystemReboot(ctx)
	if err != nil {
		return "", mapONVIF("reboot", err)
	}
	return msg, nil
}

// MaxSnapshotBytes bounds a snapshot image.
const MaxSnapshotBytes = 16 << 20

// Snapshot fetches a still image from the camera's snapshot URI (HTTP
// digest or basic with the stored credentials). The caller must have
// recorded the viewing first: a snapshot is footage.
func (r *Registry) Snapshot(ctx context.Context, id string) ([]byte, string, error) {
	cam, err := r.Get(ctx, id)
	if err != nil {
		return nil, "", err
	}
	if cam.Device.SnapshotURI == "" {
		return nil, "", fmt.Errorf("%w: camera %s has no snapshot URI", ErrNoProfile, id)
	}
	creds, err := r.Credentials(ctx, id)
	if err != nil {
		return nil, "", err
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.CallTimeout)
	defer cancel()
	sec, err := r.secretURIs(ctx, id)
	if err != nil {
		return nil, "", err
	}
	hc := &http.Client{Transport: &digest.Transport{Username: creds.Username, Password: creds.Password}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, realURI(cam.Device.SnapshotURI, sec, snapshotKey), nil)
	if err != nil {
		return nil, "", fmt.Errorf("%w: snapshot URI: %v", ErrBadResponse, redact.Text(err.Error()))
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, "", fmt.Errorf("%w: snapshot: %v", ErrUnreachable, redactErr(err))
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		return nil, "", fmt.Errorf("%w: snapshot", ErrUnauthorized)
	case resp.StatusCode != http.StatusOK:
		return nil, "", fmt.Errorf("%w: snapshot: HTTP %d", ErrBadResponse, resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxSnapshotBytes+1))
	if err != nil {
		return nil, "", fmt.Errorf("%w: snapshot: %v", ErrUnreachable, err)
	}
	if len(b) > MaxSnapshotBytes {
		return nil, "", fmt.Errorf("%w: snapshot larger than %d bytes", ErrBadResponse, MaxSnapshotBytes)
	}
	ct := resp.Header.Get("Content-Type")
	if !strings.HasPrefix(ct, "image/") {
		ct = http.DetectContentType(b)
		if !strings.HasPrefix(ct, "image/") {
			return nil, "", fmt.Errorf("%w: snapshot is not an image (%s)", ErrBadResponse, ct)
		}
	}
	return b, ct, nil
}

func redactErr(err error) string { return redact.Text(err.Error()) }

// PTZAction is one PTZ command.
type PTZAction struct {
	// Kind is move (continuous, Velocity for Duration), stop, absolute
	// (to Position), goto (PresetToken) or set_preset (PresetName).
	Kind        string
	Velocity    onvif.PTZVector
	Duration    time.Duration
	Position    onvif.PTZVector
	PresetToken string
	PresetName  string
}

// Validate checks the action without a camera: its kind is known and it
// has what its kind needs. Callers validate before recording the command.
func (a PTZAction) Validate() error {
	switch a.Kind {
	case "move", "stop", "absolute", "status":
	case "goto":
		if a.PresetToken == "" {
			return fmt.Errorf("%w: goto needs a preset", ErrInvalid)
		}
	case "set_preset":
		if strings.TrimSpace(a.PresetName) == "" {
			return fmt.Errorf("%w: a preset needs a name", ErrInvalid)
		}
	default:
		return fmt.Errorf("%w: unknown PTZ action %q (move, stop, absolute, goto, set_preset, status)", ErrInvalid, a.Kind)
	}
	return nil
}

// PTZResult is the camera's PTZ state after a command.
type PTZResult struct {
	Status      onvif.PTZStatus
	Presets     []onvif.Preset
	PresetToken string // set by set_preset
}

// PTZ sends a command to a PTZ camera's default profile and returns its
// status (and presets).
func (r *Registry) PTZ(ctx context.Context, id string, a PTZAction) (PTZResult, error) {
	if err := a.Validate(); err != nil {
		return PTZResult{}, err
	}
	c, cam, err := r.client(ctx, id)
	if err != nil {
		return PTZResult{}, err
	}
	defer c.Close()
	if !cam.Device.PTZ {
		return PTZResult{}, fmt.Errorf("%w: camera %s has no PTZ", ErrInvalid, id)
	}
	tok := cam.Device.ProfileToken
	var res PTZResult
	switch a.Kind {
	case "move":
		if a.Duration <= 0 || a.Duration > time.Minute {
			a.Duration = 2 * time.Second
		}
		err = c.ContinuousMove(ctx, tok, a.Velocity, a.Duration)
	case "stop":
		err = c.Stop(ctx, tok, true, true)
	case "absolute":
		err = c.AbsoluteMove(ctx, tok, a.Position, nil)
	case "goto":
		if a.PresetToken == "" {
			return res, fmt.Errorf("%w: goto needs a preset", ErrInvalid)
		}
		err = c.GotoPreset(ctx, tok, a.PresetToken, nil)
	case "set_preset":
		if strings.TrimSpace(a.PresetName) == "" {
			return res, fmt.Errorf("%w: a preset needs a name", ErrInvalid)
		}
		res.PresetToken, err = c.SetPreset(ctx, tok, a.PresetName, "")
	case "status":
	default:
		return res, fmt.Errorf("%w: unknown PTZ action %q (move, stop, absolute, goto, set_preset, status)", ErrInvalid, a.Kind)
	}
	if err != nil {
		return res, mapONVIF("ptz "+a.Kind, err)
	}
	if res.Status, err = c.GetStatus(ctx, tok); err != nil {
		return res, mapONVIF("ptz status", err)
	}
	if res.Presets, err = c.GetPresets(ctx, tok); err != nil {
		return res, mapONVIF("ptz presets", err)
	}
	return res, nil
}

// Upstream returns the RTSP URL of a camera's profile, "main" (the profile
// registered for streaming) or "sub" (the lowest-resolution other profile,
// or main when there is none), with the camera's credentials, for the
// server-side components that pull video (relay, recorder, health).
func (r *Registry) Upstream(ctx context.Context, id, profile string) (string, Credentials, error) {
	cam, err := r.Get(ctx, id)
	if err != nil {
		return "", Credentials{}, err
	}
	if cam.Lifecycle == Decommissioned {
		return "", Credentials{}, fmt.Errorf("%w: camera %s is decommissioned", ErrConflict, id)
	}
	uri, token := cam.Device.StreamURI, cam.Device.ProfileToken
	switch profile {
	case "", "main":
	case "sub":
		var best *Profile
		for i := range cam.Device.Profiles {
			p := &cam.Device.Profiles[i]
			if p.Token == cam.Device.ProfileToken || p.StreamURI == "" {
				continue
			}
			if best == nil || p.Width*p.Height < best.Width*best.Height {
				best = p
			}
		}
		if best != nil {
			uri, token = best.StreamURI, best.Token
		}
	default:
		return "", Credentials{}, fmt.Errorf("%w: profile %q (main or sub)", ErrInvalid, profile)
	}
	if uri == "" {
		return "", Credentials{}, fmt.Errorf("%w: camera %s has no stream URI", ErrNoProfile, id)
	}
	creds, err := r.Credentials(ctx, id)
	if err != nil {
		return "", Credentials{}, err
	}
	sec, err := r.secretURIs(ctx, id)
	if err != nil {
		return "", Credentials{}, err
	}
	return realURI(uri, sec, streamKey(token)), creds, nil
}

// ProbeTarget is what health workers need of a camera to probe it.
type ProbeTarget struct {
	CameraID, SiteID, Department string
	DeviceURL, StreamURI         string
	Credentials                  Credentials
	Maintenance                  bool
	// Pending: registered before its stream was reachable (see
	// Camera.PendingReasons); CameraUp completes it.
	Pending bool
}

// ProbeTargets lists the active and maintenance cameras that have an ONVIF
// device, with their credentials, in one query (health workers refresh it
// every minute for thousands of cameras). Cameras whose credentials cannot
// be opened are left out and logged.
func (r *Registry) ProbeTargets(ctx context.Context) ([]ProbeTarget, error) {
	rows, err := r.db.Query(ctx, `select id::text, site_id::text, department, device_url, stream_uri, lifecycle,
			coalesce(cred_key_id, ''), cred_sealed, profile_token, coalesce(uri_key_id, ''), uri_sealed,
			cardinality(pending_reasons) > 0
		from devices_cameras
		where lifecycle in ('active', 'maintenance') and device_url is not null and device_url <> ''
		order by seq`)
	if err != nil {
		return nil, fmt.Errorf("devices: probe targets: %w", err)
	}
	defer rows.Close()
	var out []ProbeTarget
	for rows.Next() {
		var t ProbeTarget
		var lifecycle, keyID, token, uriKeyID string
		var sealed, uriSealed []byte
		if err := rows.Scan(&t.CameraID, &t.SiteID, &t.Department, &t.DeviceURL, &t.StreamURI, &lifecycle, &keyID, &sealed,
			&token, &uriKeyID, &uriSealed, &t.Pending); err != nil {
			return nil, fmt.Errorf("devices: probe targets: %w", err)
		}
		if uriSealed != nil {
			sec, err := r.sealer.openURIs(t.CameraID, uriKeyID, uriSealed)
			if err != nil {
				r.log.Error("camera left out of health probes: its stream URI cannot be opened", "camera", t.CameraID, "err", err)
				continue
			}
			t.StreamURI = realURI(t.StreamURI, sec, streamKey(token))
		}
		t.Maintenance = lifecycle == string(Maintenance)
		if sealed != nil {
			c, err := r.sealer.open(t.CameraID, keyID, sealed)
			if err != nil {
				r.log.Error("camera left out of health probes: its credentials cannot be opened", "camera", t.CameraID, "err", err)
				continue
			}
			t.Credentials = c
		}
		out = append(out, t)
	}
	return out, rows.Err()
}
