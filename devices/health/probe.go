package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/liberrors"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/pion/rtp"

	"github.com/gwanje/gwanje/devices/onvif"
	"github.com/gwanje/gwanje/internal/redact"
)

// Target is a camera to probe, as the registry hands it to the workers.
type Target struct {
	CameraID   string
	Site       string
	Department string
	// DeviceURL is the ONVIF device service URL.
	DeviceURL string
	// StreamURL is the RTSP URL of the main profile (without credentials).
	StreamURL string
	// Username and Password are the camera credentials. Never logged.
	Username string
	Password string
	// Interval between probe rounds; zero takes WorkerConfig.Interval.
	Interval time.Duration
	// Maintenance: set by a technician; the camera is not probed and
	// raises no alarms.
	Maintenance bool
	// Events subscribes to the camera's ONVIF events (PullPoint).
	Events bool
	// Pending: the camera was registered before its stream was reachable;
	// the worker tells WorkerConfig.Pending when it is first seen up. A
	// pending camera is probed like any other.
	Pending bool
}

// PendingResolver completes the registration of a pending camera that
// health saw up (implemented over the registry by the caller).
type PendingResolver interface {
	CameraUp(ctx context.Context, cameraID string, state State) error
}

// PendingFunc adapts a function to PendingResolver.
type PendingFunc func(ctx context.Context, cameraID string, state State) error

// CameraUp calls f.
func (f PendingFunc) CameraUp(ctx context.Context, cameraID string, state State) error {
	return f(ctx, cameraID, state)
}

// Targets lists the cameras to probe (implemented over the registry by the
// caller). Every worker asks for all of them and probes those of its shards.
type Targets interface {
	ProbeTargets(ctx context.Context) ([]Target, error)
}

// TargetsFunc adapts a function to Targets.
type TargetsFunc func(ctx context.Context) ([]Target, error)

// ProbeTargets calls f.
func (f TargetsFunc) ProbeTargets(ctx context.Context) ([]Target, error) { return f(ctx) }

// ProbeRequest says which probes a round runs.
type ProbeRequest struct {
	Target   Target
	Keyframe bool
	// Timeout bounds each probe.
	Timeout time.Duration
	// KeyframeTimeout bounds the keyframe probe.
	KeyframeTimeout time.Duration
	// Client is the worker's ONVIF client for the camera (kept between
	// rounds); nil makes one.
	Client *onvif.Client
}

// Prober runs one probe round. The default is NetProber; tests inject
// others.
type Prober interface {
	Probe(ctx context.Context, req ProbeRequest) Observation
}

// NetProber probes real (or simulated) cameras: ONVIF GetSystemDateAndTime,
// RTSP DESCRIBE and, when asked, the first keyframe of the main stream.
type NetProber struct {
	Now func() time.Time
}

// Probe runs the round. ONVIF first; when the device does not answer at all
// the stream is not tried.
func (p NetProber) Probe(ctx context.Context, req ProbeRequest) Observation {
	now := p.Now
	if now == nil {
		now = time.Now
	}
	var o Observation
	c := req.Client
	if c == nil {
		var err error
		c, err = onvif.New(onvif.Config{Endpoint: req.Target.DeviceURL, Username: req.Target.Username, Password: req.Target.Password, Logger: discard})
		if err != nil {
			o.ONVIF = ProbeResult{Probe: ProbeONVIF, Err: ErrKindFailed, Detail: err.Error()}
			o.At = now()
			return o
		}
		defer c.Close()
	}
	octx, cancel := context.WithTimeout(ctx, req.Timeout)
	sdt, err := c.GetSystemDateAndTime(octx)
	cancel()
	o.ONVIF = ProbeResult{Probe: ProbeONVIF, OK: err == nil, Latency: sdt.Latency}
	if err != nil {
		o.ONVIF.Err, o.ONVIF.Detail = classifyONVIF(err), err.Error()
	} else {
		o.Latency = sdt.Latency
		if !sdt.UTC.IsZero() {
			o.ClockOffset, o.ClockKnown = sdt.Offset, true
		}
	}
	if o.ONVIF.OK || (o.ONVIF.Err != ErrKindUnreachable && o.ONVIF.Err != ErrKindTimeout) {
		if req.Target.StreamURL != "" {
			r := rtspProbe(ctx, req.Target, req.Timeout, false, now)
			o.RTSP = &r
			if r.OK && req.Keyframe {
				k := rtspProbe(ctx, req.Target, req.KeyframeTimeout, true, now)
				o.Keyframe = &k
			}
		}
	}
	o.At = now()
	return o
}

var discard = slog.New(slog.DiscardHandler)

func classifyONVIF(err error) ErrKind {
	switch {
	case errors.Is(err, onvif.ErrUnauthorized):
		return ErrKindUnauthorized
	case errors.Is(err, onvif.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return ErrKindTimeout
	case errors.Is(err, onvif.ErrUnreachable):
		return ErrKindUnreachable
	case errors.Is(err, onvif.ErrMalformed):
		return ErrKindMalformed
	case errors.Is(err, onvif.ErrFault):
		return ErrKindFault
	}
	return ErrKindFailed
}

// rtspProbe sends DESCRIBE and, with keyframe, plays the first H.264/H.265
// media until a random-access unit arrives or timeout passes.
func rtspProbe(ctx context.Context, t Target, timeout time.Duration, keyframe bool, now func() time.Time) ProbeResult {
	name := ProbeRTSP
	if keyframe {
		name = ProbeKeyframe
	}
	res := ProbeResult{Probe: name}
	start := now()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	u, err := base.ParseURL(t.StreamURL)
	if err != nil {
		res.Err, res.Detail = ErrKindFailed, "stream URL is not an RTSP URL"
		return res
	}
	if t.Username != "" {
		u.User = url.UserPassword(t.Username, t.Password)
	}
	tcp := gortsplib.ProtocolTCP
	c := &gortsplib.Client{
		Scheme: u.Scheme, Host: u.Host, Protocol: &tcp,
		ReadTimeout: timeout, WriteTimeout: timeout,
		DialContext: func(_ context.Context, network, addr string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}
	if err := c.Start(); err != nil {
		res.Err, res.Detail = ErrKindFailed, redactErr(err, t)
		return res
	}
	got := make(chan struct{}, 1)
	done := make(chan error, 1)
	go func() {
		desc, _, err := c.Describe(u)
		if err != nil || !keyframe {
			done <- err
			return
		}
		done <- playForKeyframe(c, desc, got)
	}()
	select {
	case err = <-done:
		if err == nil && keyframe {
			select {
			case <-got:
			case <-ctx.Done():
				err = errNoKeyframe
			}
		}
	case <-ctx.Done():
		err = ctx.Err()
		if keyframe {
			err = errNoKeyframe
		}
	}
	c.Close()
	res.Latency = now().Sub(start)
	if err == nil {
		res.OK = true
		return res
	}
	res.Err, res.Detail = classifyRTSP(err), redactErr(err, t)
	if res.Err == ErrKindNoKeyframe {
		res.Detail = fmt.Sprintf("no keyframe within %s", timeout)
	} else if res.Err == ErrKindTimeout {
		res.Detail = fmt.Sprintf("no answer to DESCRIBE within %s", timeout)
	}
	return res
}

var errNoKeyframe = errors.New("no keyframe")

func playForKeyframe(c *gortsplib.Client, desc *description.Session, got chan struct{}) error {
	for _, m := range desc.Medias {
		for _, f := range m.Formats {
			var isKey func(*rtp.Packet) bool
			switch f := f.(type) {
			case *format.H264:
				dec, err := f.CreateDecoder()
				if err != nil {
					return err
				}
				isKey = func(p *rtp.Packet) bool {
					au, err := dec.Decode(p)
					return err == nil && h264.IsRandomAccess(au)
				}
			case *format.H265:
				dec, err := f.CreateDecoder()
				if err != nil {
					return err
				}
				isKey = func(p *rtp.Packet) bool {
					au, err := dec.Decode(p)
					return err == nil && h265.IsRandomAccess(au)
				}
			default:
				continue
			}
			if _, err := c.Setup(desc.BaseURL, m, 0, 0); err != nil {
				return err
			}
			c.OnPacketRTP(m, f, func(p *rtp.Packet) {
				if isKey(p) {
					select {
					case got <- struct{}{}:
					default:
					}
				}
			})
			_, err := c.Play(nil)
			return err
		}
	}
	return errors.New("no H.264/H.265 media in the stream")
}

func classifyRTSP(err error) ErrKind {
	var bad liberrors.ErrClientBadStatusCode
	switch {
	case errors.Is(err, errNoKeyframe):
		return ErrKindNoKeyframe
	case errors.As(err, &bad) && (bad.Code == base.StatusUnauthorized || bad.Code == base.StatusForbidden):
		return ErrKindUnauthorized
	case errors.As(err, &bad):
		return ErrKindFailed
	case errors.Is(err, context.DeadlineExceeded):
		return ErrKindTimeout
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return ErrKindTimeout
	}
	if errors.As(err, &ne) || strings.Contains(err.Error(), "connection refused") {
		return ErrKindUnreachable
	}
	return ErrKindFailed
}

// redactErr renders err without the camera's password or user info.
func redactErr(err error, t Target) string {
	return redact.Text(err.Error(), t.Password, url.QueryEscape(t.Password))
}

// sharedTransport is the HTTP transport of a worker's ONVIF clients: no
// keep-alive (a probe every interval does not need it, and 10,000 idle
// connections would cost as many file descriptors).
func sharedTransport(timeout time.Duration) *http.Transport {
	return &http.Transport{
		Proxy:             nil,
		DialContext:       (&net.Dialer{Timeout: timeout}).DialContext,
		DisableKeepAlives: true,
		MaxIdleConns:      0,
	}
}
