package devices

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/liberrors"
	"github.com/jackc/pgx/v5"

	"github.com/gwanje/gwanje/devices/onvif"
	"github.com/gwanje/gwanje/internal/redact"
)

// RegisterRequest registers a camera: where it is, how to log in, and its
// registry fields.
type RegisterRequest struct {
	// DeviceURL is the ONVIF device service URL. When empty, Candidate's is used.
	DeviceURL string
	// Candidate is a device found by Discover (optional); it supplies the
	// device URL and the endpoint reference.
	Candidate *Candidate
	// Username and Password are the camera's credentials; stored encrypted.
	Username string
	Password string
	// ProfileToken picks the profile to stream; default the best H.264/H.265
	// profile (highest resolution, H.264 preferred on ties).
	ProfileToken string
	// Fields are the registry fields; Lifecycle defaults to Active.
	Fields CameraFields
	// Strict refuses a camera whose stream cannot be checked now (RTSP
	// DESCRIBE does not reach it). By default such a camera is registered
	// pending, with the reasons in RegisterResult.Pending, and health
	// completes it when it comes up.
	Strict bool
}

// RegisterResult is a registered camera and what registration noticed.
type RegisterResult struct {
	Camera Camera
	// ClockOffset is the camera clock minus the server clock.
	ClockOffset time.Duration
	// Warnings are things a technician should fix (a drifting or unknown
	// clock, no snapshot URI, profiles without a stream URI); registration
	// succeeded anyway.
	Warnings []string
	// Pending lists why the camera is registered pending (its stream was not
	// reachable yet); empty when registration checked everything. Health
	// clears it when it sees the camera up (Registry.CameraUp).
	Pending []string
}

// Register contacts the camera with the credentials, learns its clock
// offset, reads its device information, services, profiles, stream and
// snapshot URIs, checks the chosen stream with RTSP DESCRIBE, and stores it
// all with the encrypted credentials (and the URIs that carry credentials,
// sealed) and the audit entry (device.register) in one transaction. A clock
// the camera does not tell is a warning; a stream that does not answer
// DESCRIBE yet makes the camera pending (refused when req.Strict). It
// refuses with ErrUnreachable, ErrUnauthorized, ErrNoProfile,
// ErrBadResponse, ErrInvalid or ErrAlreadyExists, storing nothing.
func (r *Registry) Register(ctx context.Context, req RegisterRequest, a Actor) (RegisterResult, error) {
	if err := r.checkOpen(); err != nil {
		return RegisterResult{}, err
	}
	devURL := strings.TrimSpace(req.DeviceURL)
	var eref string
	if req.Candidate != nil {
		if devURL == "" {
			devURL = req.Candidate.DeviceURL
		}
		eref = req.Candidate.EndpointReference
	}
	if devURL == "" {
		return RegisterResult{}, fmt.Errorf("%w: a device URL or a discovered candidate is required", ErrInvalid)
	}
	u, err := url.Parse(devURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return RegisterResult{}, fmt.Errorf("%w: device URL must be an http(s) URL without credentials", ErrInvalid)
	}
	if req.Username == "" {
		return RegisterResult{}, fmt.Errorf("%w: username is required", ErrInvalid)
	}
	f := req.Fields
	if f.Lifecycle == "" {
		f.Lifecycle = Active
	}
	if f.Lifecycle == Decommissioned {
		return RegisterResult{}, fmt.Errorf("%w: a new camera cannot be decommissioned", ErrInvalid)
	}
	// Validate what can be validated before touching the camera.
	site, err := r.GetSite(ctx, strings.TrimSpace(f.SiteID))
	if err != nil {
		return RegisterResult{}, err
	}
	inheritSite(&f, site)
	national, err := f.normalize()
	if err != nil {
		return RegisterResult{}, err
	}
	if err := r.checkNotRegistered(ctx, r.db, devURL, eref); err != nil {
		return RegisterResult{}, err
	}

	facts, warnings, pending, err := r.probe(ctx, devURL, req.Username, req.Password, req.ProfileToken, req.Strict)
	if err != nil {
		r.log.Info("registration refused", "device_url", redact.URL(devURL), "error", redact.Text(err.Error(), req.Password))
		return RegisterResult{}, err
	}
	facts.EndpointReference = eref
	id := newID()
	creds := Credentials{Username: req.Username, Password: req.Password}
	err = r.inTx(ctx, func(tx pgx.Tx) error {
		if err := r.checkNotRegistered(ctx, tx, devURL, eref); err != nil {
			return err
		}
		if err := r.insertCamera(ctx, tx, id, &f, national, &facts, &creds, pending); err != nil {
			return err
		}
		details := map[string]any{
			"site_id": f.SiteID, "name": f.Name, "purpose": f.Purpose, "device_url": redact.URL(devURL),
			"endpoint_reference": eref, "manufacturer": facts.Manufacturer, "model": facts.Model,
			"serial": facts.Serial, "strict": req.Strict,
		}
		if facts.ClockKnown {
			details["clock_offset_ms"] = facts.ClockOffset.Milliseconds()
		}
		if len(pending) > 0 {
			details["pending"] = pending
		}
		return r.audit(ctx, tx, a, "device.register", []string{id}, details)
	})
	if err != nil {
		return RegisterResult{}, err
	}
	cam, err := r.Get(ctx, id)
	if err != nil {
		return RegisterResult{}, err
	}
	if d := facts.ClockOffset; facts.ClockKnown && (d > r.cfg.DriftWarning || d < -r.cfg.DriftWarning) {
		warnings = append(warnings, fmt.Sprintf("camera clock differs from the server by %s: set the camera's time or NTP", d.Round(time.Second)))
	}
	if len(pending) > 0 {
		r.log.Info("camera registered pending", "camera", id, "device_url", redact.URL(devURL), "model", facts.Model,
			"pending", strings.Join(pending, "; "))
	} else {
		r.log.Info("camera registered", "camera", id, "device_url", redact.URL(devURL), "model", facts.Model,
			"clock_offset", facts.ClockOffset.String(), "clock_known", facts.ClockKnown)
	}
	return RegisterResult{Camera: cam, ClockOffset: facts.ClockOffset, Warnings: warnings, Pending: pending}, nil
}

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func (r *Registry) checkNotRegistered(ctx context.Context, q querier, devURL, eref string) error {
	var id string
	err := q.QueryRow(ctx, `select id::text from devices_cameras where lifecycle <> 'decommissioned'
		and (device_url = $1 or ($2 <> '' and endpoint_ref = $2)) limit 1`, devURL, eref).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("devices: check registration: %w", err)
	}
	return fmt.Errorf("%w: this camera is already registered as %s", ErrAlreadyExists, id)
}

// mapONVIF turns an onvif error into a registry sentinel with context.
func mapONVIF(step string, err error) error {
	switch {
	case errors.Is(err, onvif.ErrUnauthorized):
		return fmt.Errorf("%w (%s): %w", ErrUnauthorized, step, err)
	case errors.Is(err, onvif.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%w: no answer in time (%s): %w", ErrUnreachable, step, err)
	case errors.Is(err, onvif.ErrUnreachable):
		return fmt.Errorf("%w (%s): %w", ErrUnreachable, step, err)
	case errors.Is(err, onvif.ErrTooLarge):
		return fmt.Errorf("%w: response too large (%s): %w", ErrBadResponse, step, err)
	case errors.Is(err, onvif.ErrMalformed):
		return fmt.Errorf("%w: malformed response (%s): %w", ErrBadResponse, step, err)
	case errors.Is(err, onvif.ErrInvalidArgument):
		return fmt.Errorf("%w (%s): %w", ErrInvalid, step, err)
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("devices: %s: %w", step, err)
	}
	return fmt.Errorf("%w (%s): %w", ErrBadResponse, step, err)
}

// probe reads everything registration stores from the camera. It returns
// the facts, warnings, and the reasons the camera is pending (only when not
// strict), or the reason it is refused.
func (r *Registry) probe(ctx context.Context, devURL, user, pass, wantToken string, strict bool) (DeviceFacts, []string, []string, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.RegisterTimeout)
	defer cancel()
	c, err := onvif.New(onvif.Config{
		Endpoint: devURL, Username: user, Password: pass, Timeout: r.cfg.CallTimeout,
		MaxResponseBytes: r.cfg.MaxResponseBytes, Logger: r.log, Now: r.cfg.Now,
	})
	if err != nil {
		return DeviceFacts{}, nil, nil, mapONVIF("connect", err)
	}
	defer c.Close()
	call := func(step string, fn func(context.Context) error) error {
		cctx, ccancel := context.WithTimeout(ctx, r.cfg.CallTimeout)
		defer ccancel()
		if err := fn(cctx); err != nil {
			return mapONVIF(step, err)
		}
		return nil
	}
	// fatal: the camera does not answer, refuses the credentials, or the
	// request was cancelled; nothing further can be learnt.
	fatal := func(err error) bool {
		return errors.Is(err, ErrUnreachable) || errors.Is(err, ErrUnauthorized) || errors.Is(err, context.Canceled)
	}
	var facts DeviceFacts
	var warnings, pending []string
	facts.DeviceURL = devURL
	if err := call("clock", func(ctx context.Context) (err error) {
		facts.ClockOffset, err = c.SyncClock(ctx)
		return err
	}); err != nil {
		if fatal(err) {
			return facts, nil, nil, err
		}
		// Some cameras fault GetSystemDateAndTime: a warning, not a refusal.
		warnings = append(warnings, "the camera does not tell its clock ("+redact.Text(err.Error(), pass)+
			"): its clock offset is unknown; check the camera's time or NTP")
	} else {
		facts.ClockKnown = true
	}
	var info onvif.DeviceInfo
	if err := call("device information", func(ctx context.Context) (err error) {
		info, err = c.GetDeviceInformation(ctx)
		return err
	}); err != nil {
		return facts, nil, nil, err
	}
	facts.Manufacturer, facts.Model, facts.Firmware = info.Manufacturer, info.Model, info.FirmwareVersion
	facts.Serial, facts.HardwareID = info.SerialNumber, info.HardwareID
	var svc onvif.Services
	if err := call("services", func(ctx context.Context) (err error) {
		svc, err = c.ResolveServices(ctx)
		return err
	}); err != nil {
		return facts, nil, nil, err
	}
	var profiles []onvif.Profile
	if err := call("profiles", func(ctx context.Context) (err error) {
		profiles, err = c.GetProfiles(ctx)
		return err
	}); err != nil {
		if errors.Is(err, ErrBadResponse) && errors.Is(err, onvif.ErrNotSupported) {
			return facts, nil, nil, fmt.Errorf("%w: the camera has no media service: %w", ErrNoProfile, err)
		}
		return facts, nil, nil, err
	}
	// reasons say, per profile, why it cannot be streamed.
	var reasons []string
	for _, p := range profiles {
		enc := strings.ToUpper(p.Encoding)
		if enc != "H264" && enc != "H265" {
			what := "encoding " + p.Encoding
			if p.Encoding == "" {
				what = "no video encoder"
			}
			reasons = append(reasons, fmt.Sprintf("profile %s: %s, not H.264/H.265", p.Token, what))
			continue
		}
		mp := Profile{Token: p.Token, Name: p.Name, Encoding: enc, Width: p.Width, Height: p.Height,
			FrameRate: p.FrameRate, PTZ: p.HasPTZ}
		if err := call("stream URI of "+p.Token, func(ctx context.Context) (err error) {
			mp.StreamURI, err = c.GetStreamUri(ctx, p.Token)
			return err
		}); err != nil {
			if fatal(err) {
				return facts, nil, nil, err
			}
			why := fmt.Sprintf("profile %s (%s): no stream URI: %s", p.Token, enc, redact.Text(causeText(err), pass))
			reasons = append(reasons, why)
			warnings = append(warnings, why)
			continue
		}
		if strings.TrimSpace(mp.StreamURI) == "" {
			why := fmt.Sprintf("profile %s (%s): the camera answered an empty stream URI", p.Token, enc)
			reasons = append(reasons, why)
			warnings = append(warnings, why)
			continue
		}
		mp.StreamURI = stripUserinfo(mp.StreamURI)
		facts.Profiles = append(facts.Profiles, mp)
		if p.HasPTZ {
			facts.PTZ = true
		}
	}
	if svc.PTZ != "" {
		facts.PTZ = true
	}
	if len(facts.Profiles) == 0 {
		if len(profiles) == 0 {
			return facts, nil, nil, fmt.Errorf("%w: the camera has no media profiles", ErrNoProfile)
		}
		return facts, nil, nil, fmt.Errorf("%w: none of %d profiles is H.264/H.265 with a stream URI: %s",
			ErrNoProfile, len(profiles), strings.Join(reasons, "; "))
	}
	chosen := pickProfile(facts.Profiles, wantToken)
	if chosen == nil {
		return facts, nil, nil, fmt.Errorf("%w: profile %q is not a usable profile of this camera", ErrNoProfile, wantToken)
	}
	facts.ProfileToken, facts.StreamURI = chosen.Token, chosen.StreamURI
	if err := call("snapshot URI", func(ctx context.Context) (err error) {
		facts.SnapshotURI, err = c.GetSnapshotUri(ctx, chosen.Token)
		return err
	}); err != nil {
		if fatal(err) {
			return facts, nil, nil, err
		}
		warnings = append(warnings, "no snapshot URI: "+redact.Text(err.Error(), pass))
	}
	facts.SnapshotURI = stripUserinfo(facts.SnapshotURI)
	if err := r.describe(ctx, facts.StreamURI, user, pass); err != nil {
		// A stream not reachable yet (the network path to it is still being
		// built) makes the camera pending, unless the check is strict.
		if strict || !errors.Is(err, ErrUnreachable) || errors.Is(ctx.Err(), context.Canceled) {
			return facts, nil, nil, err
		}
		pending = append(pending, "stream not reachable yet: "+err.Error())
	}
	facts.RegisteredAt = r.cfg.Now()
	return facts, warnings, pending, nil
}

// causeText is the camera's own answer in err (a SOAP fault) when there is
// one, else err.
func causeText(err error) string {
	var fe *onvif.FaultError
	if errors.As(err, &fe) {
		return fe.Error()
	}
	return err.Error()
}

// pickProfile returns the wanted profile, or the highest resolution one
// (H.264 before H.265 on ties, then the camera's order).
func pickProfile(ps []Profile, want string) *Profile {
	if want != "" {
		for i := range ps {
			if ps[i].Token == want {
				return &ps[i]
			}
		}
		return nil
	}
	idx := make([]int, len(ps))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool {
		pa, pb := ps[idx[a]], ps[idx[b]]
		if pa.Width*pa.Height != pb.Width*pb.Height {
			return pa.Width*pa.Height > pb.Width*pb.Height
		}
		return pa.Encoding == "H264" && pb.Encoding != "H264"
	})
	return &ps[idx[0]]
}

// describe checks a stream with RTSP DESCRIBE using the credentials.
func (r *Registry) describe(ctx context.Context, streamURI, user, pass string) error {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.RTSPTimeout)
	defer cancel()
	u, err := base.ParseURL(streamURI)
	if err != nil {
		return fmt.Errorf("%w: stream URI is not an RTSP URL: %s", ErrNoProfile, redact.Text(err.Error(), pass))
	}
	u.User = url.UserPassword(user, pass)
	tcp := gortsplib.ProtocolTCP
	dl, _ := ctx.Deadline()
	timeout := time.Until(dl)
	c := &gortsplib.Client{
		Scheme: u.Scheme, Host: u.Host, Protocol: &tcp,
		ReadTimeout: timeout, WriteTimeout: timeout,
		// Dial under the check's deadline, whatever context gortsplib passes.
		DialContext: func(_ context.Context, network, addr string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}
	if err := c.Start(); err != nil {
		return fmt.Errorf("%w: RTSP: %s", ErrUnreachable, redact.Text(err.Error(), pass))
	}
	done := make(chan error, 1)
	go func() {
		_, _, err := c.Describe(u)
		done <- err
	}()
	select {
	case err = <-done:
		c.Close()
	case <-ctx.Done():
		c.Close()
		<-done
		return fmt.Errorf("%w: RTSP DESCRIBE %s got no answer in %s", ErrUnreachable, redact.URL(streamURI), r.cfg.RTSPTimeout)
	}
	if err == nil {
		return nil
	}
	var bad liberrors.ErrClientBadStatusCode
	if errors.As(err, &bad) {
		if bad.Code == base.StatusUnauthorized || bad.Code == base.StatusForbidden {
			return fmt.Errorf("%w: RTSP DESCRIBE %s answered %d", ErrUnauthorized, redact.URL(streamURI), bad.Code)
		}
		return fmt.Errorf("%w: RTSP DESCRIBE %s answered %d %s", ErrNoProfile, redact.URL(streamURI), bad.Code, redact.Text(bad.Message, pass))
	}
	var ne net.Error
	if errors.As(err, &ne) || strings.Contains(err.Error(), "connection refused") {
		return fmt.Errorf("%w: RTSP DESCRIBE %s: %s", ErrUnreachable, redact.URL(streamURI), redact.Text(err.Error(), pass))
	}
	return fmt.Errorf("%w: RTSP DESCRIBE %s: %s", ErrNoProfile, redact.URL(streamURI), redact.Text(err.Error(), pass))
}

// DefaultRegisterWorkers bounds RegisterAll's concurrency by default.
const DefaultRegisterWorkers = 16

// RegisterOutcome is the result of one request of RegisterAll.
type RegisterOutcome struct {
	Index  int // index of the request
	Result RegisterResult
	Err    error
}

// RegisterAll registers many cameras with at most workers registrations
// at a time (default 16), each in its own transaction: one camera's failure
// does not stop the others. fn, when set, is called (from one goroutine at a
// time) as each finishes; the outcomes are returned in request order.
func (r *Registry) RegisterAll(ctx context.Context, reqs []RegisterRequest, workers int, a Actor, fn func(RegisterOutcome)) []RegisterOutcome {
	if workers <= 0 {
		workers = DefaultRegisterWorkers
	}
	out := make([]RegisterOutcome, len(reqs))
	jobs := make(chan int)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := 0; w < min(workers, len(reqs)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				res, err := r.Register(ctx, reqs[i], a)
				o := RegisterOutcome{Index: i, Result: res, Err: err}
				mu.Lock()
				out[i] = o
				if fn != nil {
					fn(o)
				}
				mu.Unlock()
			}
		}()
	}
	for i := range reqs {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	return out
}
