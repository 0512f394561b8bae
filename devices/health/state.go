package health

import (
	"fmt"
	"time"
)

// State is the health state of a camera.
type State string

// States. Unknown is the state of a camera not probed yet.
const (
	Unknown      State = ""
	Online       State = "online"
	Degraded     State = "degraded"
	Offline      State = "offline"
	Unauthorized State = "unauthorized"
	StreamFailed State = "stream_failed"
	Stalled      State = "stalled"
	Maintenance  State = "maintenance"
)

// States lists the known states (without Unknown).
var States = []State{Online, Degraded, Offline, Unauthorized, StreamFailed, Stalled, Maintenance}

// Up reports whether the camera counts as available in that state (online
// or degraded).
func (s State) Up() bool { return s == Online || s == Degraded }

// String returns the state's code, "unknown" for Unknown.
func (s State) String() string {
	if s == Unknown {
		return "unknown"
	}
	return string(s)
}

// ErrKind classifies a failed probe.
type ErrKind string

// Probe error kinds.
const (
	ErrKindNone         ErrKind = ""
	ErrKindUnreachable  ErrKind = "unreachable"
	ErrKindTimeout      ErrKind = "timeout"
	ErrKindUnauthorized ErrKind = "unauthorized"
	ErrKindMalformed    ErrKind = "malformed"
	ErrKindFault        ErrKind = "fault"
	ErrKindFailed       ErrKind = "failed"
	ErrKindNoKeyframe   ErrKind = "no_keyframe"
)

// Probe names.
const (
	ProbeONVIF    = "onvif"
	ProbeRTSP     = "rtsp"
	ProbeKeyframe = "keyframe"
)

// ProbeResult is the outcome of one probe.
type ProbeResult struct {
	Probe   string // ProbeONVIF, ProbeRTSP or ProbeKeyframe
	OK      bool
	Err     ErrKind
	Detail  string // never contains credentials
	Latency time.Duration
}

// Observation is the outcome of one probe round of a camera.
type Observation struct {
	// At is when the round ended.
	At time.Time
	// ONVIF is the GetSystemDateAndTime probe; always run.
	ONVIF ProbeResult
	// RTSP is the DESCRIBE probe; nil when not run (ONVIF unreachable).
	RTSP *ProbeResult
	// Keyframe is the first-keyframe probe; nil when not due this round.
	Keyframe *ProbeResult
	// Latency is the ONVIF round trip; ClockOffset the camera clock minus
	// the local clock, meaningful when ClockKnown.
	Latency     time.Duration
	ClockOffset time.Duration
	ClockKnown  bool
}

// Probes returns the probe results of the round in order.
func (o Observation) Probes() []ProbeResult {
	out := []ProbeResult{o.ONVIF}
	if o.RTSP != nil {
		out = append(out, *o.RTSP)
	}
	if o.Keyframe != nil {
		out = append(out, *o.Keyframe)
	}
	return out
}

// Thresholds turn measurements into states. Zero fields take the defaults.
type Thresholds struct {
	// MaxLatency: a slower ONVIF answer makes the camera degraded.
	// Default 2s.
	MaxLatency time.Duration
	// MaxClockOffset: a larger clock offset (either way) makes the camera
	// degraded. Default 5s.
	MaxClockOffset time.Duration
	// ClockDriftLimit: while the offset is larger, the status carries
	// ClockDriftSince (the alarms raise a clock_drift alarm). Default 30s;
	// never below MaxClockOffset.
	ClockDriftLimit time.Duration
}

func (t Thresholds) withDefaults() Thresholds {
	if t.MaxLatency <= 0 {
		t.MaxLatency = 2 * time.Second
	}
	if t.MaxClockOffset <= 0 {
		t.MaxClockOffset = 5 * time.Second
	}
	if t.ClockDriftLimit <= 0 {
		t.ClockDriftLimit = 30 * time.Second
	}
	t.ClockDriftLimit = max(t.ClockDriftLimit, t.MaxClockOffset)
	return t
}

// Hysteresis says how many consecutive probe rounds must point at a state
// before the camera enters it. A state not listed needs DefaultEnter (1).
// Leaving Unknown (the first round) never waits.
type Hysteresis map[State]int

// DefaultHysteresis: two misses before offline or stream_failed, two slow
// or drifting rounds before degraded, one round for everything else (one
// success brings a camera back online).
func DefaultHysteresis() Hysteresis {
	return Hysteresis{Offline: 2, StreamFailed: 2, Degraded: 2}
}

func (h Hysteresis) enter(s State) int {
	if n, ok := h[s]; ok && n > 0 {
		return n
	}
	return 1
}

// Status is a camera's health as published: after a transition (State !=
// Previous) or an update of the same state (clock drift began or ended).
type Status struct {
	CameraID   string
	State      State
	Previous   State
	Cause      string
	Since      time.Time // when the camera entered State
	ObservedAt time.Time // end of the probe round that produced this status
	Latency    time.Duration
	// ClockOffset is camera minus server clock (zero when unknown).
	ClockOffset time.Duration
	// ClockDriftSince is set while |ClockOffset| > ClockDriftLimit.
	ClockDriftSince time.Time
	Probes          []ProbeResult
	Site            string
	Department      string
	Worker          string
}

// Transition reports whether the status is a change of state (rather than
// an update of the same state).
func (s Status) Transition() bool { return s.State != s.Previous }

// Machine is the state machine of one camera. It is not safe for
// concurrent use; a worker owns one per camera.
type Machine struct {
	th  Thresholds
	hys Hysteresis

	state      State
	since      time.Time
	cause      string
	driftSince time.Time
	stalled    *ProbeResult // last keyframe failure, sticky until a keyframe arrives

	cand      State
	candCount int
}

// NewMachine returns a machine in state Unknown. Nil hys means
// DefaultHysteresis.
func NewMachine(th Thresholds, hys Hysteresis) *Machine {
	if hys == nil {
		hys = DefaultHysteresis()
	}
	return &Machine{th: th.withDefaults(), hys: hys}
}

// Restore sets the state a previous owner published (from the status KV),
// so that a camera handed to another worker keeps its state and since.
func (m *Machine) Restore(s Status) {
	m.state, m.since, m.cause, m.driftSince = s.State, s.Since, s.Cause, s.ClockDriftSince
	if s.State == Stalled {
		m.stalled = &ProbeResult{Probe: ProbeKeyframe, Err: ErrKindNoKeyframe, Detail: s.Cause}
	}
	m.cand, m.candCount = "", 0
}

// State returns the current state, since when, and why.
func (m *Machine) State() (State, time.Time, string) { return m.state, m.since, m.cause }

// Stalled reports whether the last keyframe check failed (the worker then
// checks again every round).
func (m *Machine) Stalled() bool { return m.stalled != nil }

// SetMaintenance enters or leaves maintenance. Leaving goes back to Unknown:
// the next probe round decides.
func (m *Machine) SetMaintenance(on bool, at time.Time) (Status, bool) {
	switch {
	case on && m.state != Maintenance:
		return m.move(Maintenance, "maintenance set by a technician", at, Observation{At: at}), true
	case !on && m.state == Maintenance:
		return m.move(Unknown, "maintenance ended", at, Observation{At: at}), true
	}
	return Status{}, false
}

// Observe feeds a probe round and returns the status to publish, if any.
func (m *Machine) Observe(o Observation) (Status, bool) {
	if m.state == Maintenance {
		return Status{}, false
	}
	if o.Keyframe != nil {
		if o.Keyframe.OK {
			m.stalled = nil
		} else {
			k := *o.Keyframe
			m.stalled = &k
		}
	}
	// Clock drift is tracked whatever the state, while the clock is known.
	driftChanged := false
	if o.ClockKnown {
		over := abs(o.ClockOffset) > m.th.ClockDriftLimit
		switch {
		case over && m.driftSince.IsZero():
			m.driftSince, driftChanged = o.At, true
		case !over && !m.driftSince.IsZero():
			m.driftSince, driftChanged = time.Time{}, true
		}
	}
	cand, cause := m.judge(o)
	if cand == m.state {
		m.cand, m.candCount = "", 0
		if cause != m.cause || driftChanged {
			// Same state, new reason (or drift began/ended): an update,
			// published only when the drift flag changed.
			m.cause = cause
			if driftChanged {
				return m.status(m.state, o), true
			}
		}
		return Status{}, false
	}
	if cand == m.cand {
		m.candCount++
	} else {
		m.cand, m.candCount = cand, 1
	}
	if m.state != Unknown && m.candCount < m.hys.enter(cand) {
		if driftChanged {
			return m.status(m.state, o), true
		}
		return Status{}, false
	}
	m.cause = cause
	return m.move(cand, cause, o.At, o), true
}

func (m *Machine) move(to State, cause string, at time.Time, o Observation) Status {
	prev := m.state
	m.state, m.since, m.cause = to, at, cause
	m.cand, m.candCount = "", 0
	if to == Maintenance || to == Unknown {
		m.stalled = nil
		m.driftSince = time.Time{}
	}
	s := m.status(prev, o)
	return s
}

func (m *Machine) status(prev State, o Observation) Status {
	s := Status{
		State: m.state, Previous: prev, Cause: m.cause, Since: m.since, ObservedAt: o.At,
		Latency: o.Latency, ClockDriftSince: m.driftSince,
	}
	if o.ClockKnown {
		s.ClockOffset = o.ClockOffset
	}
	if o.ONVIF.Probe != "" {
		s.Probes = o.Probes()
	}
	return s
}

// judge maps a probe round to the state it points at, in order of
// precedence: unauthorized, offline, stream_failed, stalled, degraded,
// online.
func (m *Machine) judge(o Observation) (State, string) {
	on, rtsp := o.ONVIF, o.RTSP
	switch {
	case on.Err == ErrKindUnauthorized:
		return Unauthorized, "onvif refuses the credentials: " + on.Detail
	case rtsp != nil && rtsp.Err == ErrKindUnauthorized:
		return Unauthorized, "rtsp refuses the credentials: " + rtsp.Detail
	case !on.OK && (on.Err == ErrKindUnreachable || on.Err == ErrKindTimeout):
		return Offline, "onvif " + string(on.Err) + ": " + on.Detail
	case !on.OK && rtsp != nil && !rtsp.OK && (rtsp.Err == ErrKindUnreachable || rtsp.Err == ErrKindTimeout):
		return Offline, "onvif " + string(on.Err) + " and rtsp " + string(rtsp.Err) + ": " + rtsp.Detail
	case rtsp != nil && !rtsp.OK:
		return StreamFailed, "rtsp " + string(rtsp.Err) + ": " + rtsp.Detail
	case m.stalled != nil:
		return Stalled, "no keyframe: " + m.stalled.Detail
	case !on.OK:
		return Degraded, "onvif answers unusable (" + string(on.Err) + "): " + on.Detail
	case o.Latency > m.th.MaxLatency:
		return Degraded, fmt.Sprintf("onvif latency %s over %s", o.Latency.Round(time.Millisecond), m.th.MaxLatency)
	case o.ClockKnown && abs(o.ClockOffset) > m.th.MaxClockOffset:
		return Degraded, fmt.Sprintf("clock offset %s over %s", o.ClockOffset.Round(time.Second), m.th.MaxClockOffset)
	}
	return Online, "probes succeed"
}

func abs(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}
