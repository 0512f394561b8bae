package health

import (
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// obs builds observations for the table.
func ok() Observation {
	return Observation{ONVIF: ProbeResult{Probe: ProbeONVIF, OK: true}, RTSP: &ProbeResult{Probe: ProbeRTSP, OK: true}, Latency: 20 * time.Millisecond, ClockKnown: true}
}

func miss() Observation {
	return Observation{ONVIF: ProbeResult{Probe: ProbeONVIF, Err: ErrKindUnreachable, Detail: "connection refused"}}
}

func hang() Observation {
	return Observation{ONVIF: ProbeResult{Probe: ProbeONVIF, Err: ErrKindTimeout, Detail: "deadline"}}
}

func garbage() Observation {
	o := ok()
	o.ONVIF = ProbeResult{Probe: ProbeONVIF, Err: ErrKindMalformed, Detail: "bad XML"}
	o.ClockKnown = false
	return o
}

func badPassword() Observation {
	o := ok()
	o.RTSP = &ProbeResult{Probe: ProbeRTSP, Err: ErrKindUnauthorized, Detail: "401"}
	return o
}

func noStream() Observation {
	o := ok()
	o.RTSP = &ProbeResult{Probe: ProbeRTSP, Err: ErrKindFailed, Detail: "404"}
	return o
}

func slow() Observation {
	o := ok()
	o.Latency = 3 * time.Second
	return o
}

func drift(d time.Duration) Observation {
	o := ok()
	o.ClockOffset = d
	return o
}

func keyframe(good bool) Observation {
	o := ok()
	o.Keyframe = &ProbeResult{Probe: ProbeKeyframe, OK: good}
	if !good {
		o.Keyframe.Err, o.Keyframe.Detail = ErrKindNoKeyframe, "no keyframe within 8s"
	}
	return o
}

func TestMachine(t *testing.T) {
	tests := []struct {
		name  string
		hys   Hysteresis
		steps []Observation
		// want is the state after each step; emits marks the steps that
		// publish a status.
		want  []State
		emits []bool
		cause string // substring of the final cause
	}{
		{"first success is online at once", nil, []Observation{ok()}, []State{Online}, []bool{true}, "succeed"},
		{"first miss is offline at once (leaving unknown)", nil, []Observation{miss()}, []State{Offline}, []bool{true}, "unreachable"},
		{"two misses before offline", nil, []Observation{ok(), miss(), miss()}, []State{Online, Online, Offline}, []bool{true, false, true}, "connection refused"},
		{"one miss then success stays online", nil, []Observation{ok(), miss(), ok(), miss()}, []State{Online, Online, Online, Online}, []bool{true, false, false, false}, ""},
		{"a hang counts as a miss", nil, []Observation{ok(), hang(), hang()}, []State{Online, Online, Offline}, []bool{true, false, true}, "timeout"},
		{"one success back online", nil, []Observation{ok(), miss(), miss(), ok()}, []State{Online, Online, Offline, Online}, []bool{true, false, true, true}, ""},
		{"three misses configured", Hysteresis{Offline: 3}, []Observation{ok(), miss(), miss(), miss()}, []State{Online, Online, Online, Offline}, []bool{true, false, false, true}, ""},
		{"wrong password at once", nil, []Observation{ok(), badPassword()}, []State{Online, Unauthorized}, []bool{true, true}, "credentials"},
		{"stream failure after two", nil, []Observation{ok(), noStream(), noStream()}, []State{Online, Online, StreamFailed}, []bool{true, false, true}, "404"},
		{"garbage ONVIF with a working stream is degraded", nil, []Observation{ok(), garbage(), garbage()}, []State{Online, Online, Degraded}, []bool{true, false, true}, "malformed"},
		{"high latency degraded after two", nil, []Observation{ok(), slow(), slow(), ok()}, []State{Online, Online, Degraded, Online}, []bool{true, false, true, true}, ""},
		{"clock drift degraded", nil, []Observation{ok(), drift(10 * time.Second), drift(10 * time.Second)}, []State{Online, Online, Degraded}, []bool{true, false, true}, "clock offset"},
		{"negative drift too", nil, []Observation{drift(-10 * time.Second)}, []State{Degraded}, []bool{true}, "clock offset"},
		{"no keyframe stalls at once and sticks until one arrives", nil,
			[]Observation{ok(), keyframe(false), ok(), keyframe(true)}, []State{Online, Stalled, Stalled, Online}, []bool{true, true, false, true}, ""},
		{"offline wins over stall", nil, []Observation{keyframe(false), miss(), miss()}, []State{Stalled, Stalled, Offline}, []bool{true, false, true}, ""},
		{"alternating candidates restart the count", nil, []Observation{ok(), miss(), noStream(), miss(), miss()},
			[]State{Online, Online, Online, Online, Offline}, []bool{true, false, false, false, true}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMachine(Thresholds{}, tt.hys)
			for i, o := range tt.steps {
				o.At = t0.Add(time.Duration(i) * 30 * time.Second)
				st, emitted := m.Observe(o)
				got, since, _ := m.State()
				if got != tt.want[i] {
					t.Fatalf("step %d: state %s, want %s", i, got, tt.want[i])
				}
				if emitted != tt.emits[i] {
					t.Fatalf("step %d: emitted %v, want %v (%+v)", i, emitted, tt.emits[i], st)
				}
				if emitted && st.Transition() {
					if st.Since != o.At || since != o.At {
						t.Fatalf("step %d: since %v, want %v", i, st.Since, o.At)
					}
					if st.State != got || st.Cause == "" {
						t.Fatalf("step %d: status %+v", i, st)
					}
				}
			}
			if _, _, cause := m.State(); !strings.Contains(cause, tt.cause) {
				t.Fatalf("cause %q, want it to contain %q", cause, tt.cause)
			}
		})
	}
}

func TestMachineMaintenance(t *testing.T) {
	m := NewMachine(Thresholds{}, nil)
	m.Observe(Observation{At: t0, ONVIF: ProbeResult{OK: true}})
	st, ok := m.SetMaintenance(true, t0.Add(time.Minute))
	if !ok || st.State != Maintenance || st.Previous != Online {
		t.Fatalf("enter: %v %+v", ok, st)
	}
	if _, ok := m.SetMaintenance(true, t0.Add(2*time.Minute)); ok {
		t.Fatal("entering twice published twice")
	}
	if _, ok := m.Observe(miss()); ok {
		t.Fatal("a probe changed a camera in maintenance")
	}
	st, ok = m.SetMaintenance(false, t0.Add(3*time.Minute))
	if !ok || st.State != Unknown {
		t.Fatalf("leave: %v %+v", ok, st)
	}
	o := miss()
	o.At = t0.Add(4 * time.Minute)
	if st, ok := m.Observe(o); !ok || st.State != Offline {
		t.Fatalf("after maintenance the first round decides: %v %+v", ok, st)
	}
}

func TestMachineClockDriftUpdates(t *testing.T) {
	m := NewMachine(Thresholds{MaxClockOffset: 5 * time.Second, ClockDriftLimit: 30 * time.Second}, nil)
	step := func(i int, o Observation) (Status, bool) {
		o.At = t0.Add(time.Duration(i) * time.Second)
		return m.Observe(o)
	}
	step(0, drift(10*time.Second)) // degraded at once (first round)
	st, ok := step(1, drift(90*time.Second))
	if !ok || st.Transition() || st.ClockDriftSince != t0.Add(time.Second) || st.ClockOffset != 90*time.Second {
		t.Fatalf("drift began: %v %+v", ok, st)
	}
	if _, ok := step(2, drift(95*time.Second)); ok {
		t.Fatal("drift continuing published again")
	}
	// Offline: the clock is unknown, the drift flag stays.
	step(3, miss())
	st, ok = step(4, miss())
	if !ok || st.State != Offline || st.ClockDriftSince.IsZero() {
		t.Fatalf("offline while drifting: %v %+v", ok, st)
	}
	st, ok = step(5, ok2())
	if !ok || st.State != Online || !st.ClockDriftSince.IsZero() {
		t.Fatalf("recovered: %v %+v", ok, st)
	}
}

func ok2() Observation { return ok() }

func TestMachineRestore(t *testing.T) {
	m := NewMachine(Thresholds{}, nil)
	m.Restore(Status{State: Offline, Since: t0, Cause: "onvif unreachable"})
	o := miss()
	o.At = t0.Add(time.Minute)
	if _, ok := m.Observe(o); ok {
		t.Fatal("a restored offline camera published again")
	}
	if st, _, _ := m.State(); st != Offline {
		t.Fatal(st)
	}
	o = ok()
	o.At = t0.Add(2 * time.Minute)
	st, okk := m.Observe(o)
	if !okk || st.Previous != Offline || st.State != Online {
		t.Fatalf("%v %+v", okk, st)
	}
}

func TestSlots(t *testing.T) {
	iv := 30 * time.Second
	for _, id := range []string{"cam-0001", "cam-0002", "x"} {
		ph := phaseOf(id, iv)
		now := t0.Add(7 * time.Second)
		s := nextSlot(now, iv, ph)
		if !s.After(now) || s.Sub(now) > iv {
			t.Fatalf("%s: slot %v not within one interval after %v", id, s, now)
		}
		if (s.UnixNano()-int64(ph))%int64(iv) != 0 {
			t.Fatalf("%s: slot off the grid", id)
		}
		if nextSlot(s, iv, ph) != s.Add(iv) {
			t.Fatalf("%s: the slot after a slot is one interval later", id)
		}
	}
}
