package camsim

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ptzState describes motion as a function of time, so no goroutine ticks:
// position = p0 + v*(min(t,tEnd)-t0), clamped to the spaces.
type ptzState struct {
	p0      [3]float64 // pan, tilt (-1..1), zoom (0..1)
	v       [3]float64 // units per second
	t0      time.Time
	tEnd    time.Time
	presets []ptzPreset
	seq     int
}

type ptzPreset struct {
	token, name string
	pos         [3]float64
}

const maxPresets = 32

func clampPos(p [3]float64) [3]float64 {
	for i := range 2 {
		p[i] = math.Max(-1, math.Min(1, p[i]))
	}
	p[2] = math.Max(0, math.Min(1, p[2]))
	return p
}

func (s *ptzState) at(t time.Time) (pos [3]float64, moving bool) {
	if s.t0.IsZero() {
		return s.p0, false
	}
	end := t
	if !s.tEnd.IsZero() && s.tEnd.Before(t) {
		end = s.tEnd
	}
	dt := end.Sub(s.t0).Seconds()
	for i := range pos {
		pos[i] = s.p0[i] + s.v[i]*dt
	}
	pos = clampPos(pos)
	moving = (s.tEnd.IsZero() || t.Before(s.tEnd)) && s.v != [3]float64{}
	if moving { // stopped against the limits?
		next := clampPos([3]float64{pos[0] + s.v[0]*0.01, pos[1] + s.v[1]*0.01, pos[2] + s.v[2]*0.01})
		moving = next != pos
	}
	return pos, moving
}

func (s *ptzState) move(now time.Time, v [3]float64, d time.Duration) {
	pos, _ := s.at(now)
	s.p0, s.v, s.t0 = pos, v, now
	s.tEnd = time.Time{}
	if d > 0 {
		s.tEnd = now.Add(d)
	}
}

// moveTo moves at speed (units/s) towards target.
func (s *ptzState) moveTo(now time.Time, target [3]float64, speed float64) {
	pos, _ := s.at(now)
	target = clampPos(target)
	far := 0.0
	for i := range pos {
		far = math.Max(far, math.Abs(target[i]-pos[i]))
	}
	if far == 0 {
		s.p0, s.v, s.t0, s.tEnd = pos, [3]float64{}, now, now
		return
	}
	d := far / speed
	var v [3]float64
	for i := range v {
		v[i] = (target[i] - pos[i]) / d
	}
	s.p0, s.v, s.t0 = pos, v, now
	s.tEnd = now.Add(time.Duration(d * float64(time.Second)))
}

func parseVec(n *node, name string) (x, y float64, ok bool, err error) {
	m := n.child(name)
	if m == nil {
		return 0, 0, false, nil
	}
	xs, ys := m.attr("x"), m.attr("y")
	if xs != "" {
		if x, err = strconv.ParseFloat(xs, 64); err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
			return 0, 0, false, fmt.Errorf("bad %s x", name)
		}
	}
	if ys != "" {
		if y, err = strconv.ParseFloat(ys, 64); err != nil || math.IsNaN(y) || math.IsInf(y, 0) {
			return 0, 0, false, fmt.Errorf("bad %s y", name)
		}
	}
	return x, y, true, nil
}

// parseVector reads a PTZVector / PTZSpeed (PanTilt x,y and Zoom x).
func parseVector(n *node) (v [3]float64, has [2]bool, err error) {
	if n == nil {
		return v, has, nil
	}
	var ok bool
	v[0], v[1], ok, err = parseVec(n, "PanTilt")
	if err != nil {
		return v, has, err
	}
	has[0] = ok
	v[2], _, ok, err = parseVec(n, "Zoom")
	has[1] = ok
	return v, has, err
}

func (c *Camera) checkPTZProfile(req *request) *soapError {
	tok := req.op.textAt("ProfileToken")
	if c.d.profileByToken(tok) == nil {
		return noProfile(tok)
	}
	return nil
}

func (c *Camera) opPTZGetNodes(_ *http.Request, _ *request) (string, *soapError) {
	return `<tptz:GetNodesResponse><tptz:PTZNode token="PTZNodeToken" FixedHomePosition="false"><tt:Name>PTZNode</tt:Name><tt:SupportedPTZSpaces>` +
		`<tt:AbsolutePanTiltPositionSpace><tt:URI>http://www.onvif.org/ver10/tptz/PanTiltSpaces/PositionGenericSpace</tt:URI><tt:XRange><tt:Min>-1</tt:Min><tt:Max>1</tt:Max></tt:XRange><tt:YRange><tt:Min>-1</tt:Min><tt:Max>1</tt:Max></tt:YRange></tt:AbsolutePanTiltPositionSpace>` +
		`<tt:AbsoluteZoomPositionSpace><tt:URI>http://www.onvif.org/ver10/tptz/ZoomSpaces/PositionGenericSpace</tt:URI><tt:XRange><tt:Min>0</tt:Min><tt:Max>1</tt:Max></tt:XRange></tt:AbsoluteZoomPositionSpace>` +
		`<tt:ContinuousPanTiltVelocitySpace><tt:URI>http://www.onvif.org/ver10/tptz/PanTiltSpaces/VelocityGenericSpace</tt:URI><tt:XRange><tt:Min>-1</tt:Min><tt:Max>1</tt:Max></tt:XRange><tt:YRange><tt:Min>-1</tt:Min><tt:Max>1</tt:Max></tt:YRange></tt:ContinuousPanTiltVelocitySpace>` +
		`<tt:ContinuousZoomVelocitySpace><tt:URI>http://www.onvif.org/ver10/tptz/ZoomSpaces/VelocityGenericSpace</tt:URI><tt:XRange><tt:Min>-1</tt:Min><tt:Max>1</tt:Max></tt:XRange></tt:ContinuousZoomVelocitySpace>` +
		`<tt:PanTiltSpeedSpace><tt:URI>http://www.onvif.org/ver10/tptz/PanTiltSpaces/GenericSpeedSpace</tt:URI><tt:XRange><tt:Min>0</tt:Min><tt:Max>1</tt:Max></tt:XRange></tt:PanTiltSpeedSpace>` +
		`</tt:SupportedPTZSpaces><tt:MaximumNumberOfPresets>` + strconv.Itoa(maxPresets) + `</tt:MaximumNumberOfPresets><tt:HomeSupported>true</tt:HomeSupported></tptz:PTZNode></tptz:GetNodesResponse>`, nil
}

func (c *Camera) opPTZGetStatus(_ *http.Request, req *request) (string, *soapError) {
	if e := c.checkPTZProfile(req); e != nil {
		return "", e
	}
	c.mu.Lock()
	pos, moving := c.ptz.at(time.Now())
	now := c.nowLocked()
	c.mu.Unlock()
	st := "IDLE"
	if moving {
		st = "MOVING"
	}
	return fmt.Sprintf(`<tptz:GetStatusResponse><tptz:PTZStatus><tt:Position><tt:PanTilt x="%s" y="%s" space="http://www.onvif.org/ver10/tptz/PanTiltSpaces/PositionGenericSpace"/><tt:Zoom x="%s" space="http://www.onvif.org/ver10/tptz/ZoomSpaces/PositionGenericSpace"/></tt:Position><tt:MoveStatus><tt:PanTilt>%s</tt:PanTilt><tt:Zoom>%s</tt:Zoom></tt:MoveStatus><tt:UtcTime>%s</tt:UtcTime></tptz:PTZStatus></tptz:GetStatusResponse>`,
		ff(pos[0]), ff(pos[1]), ff(pos[2]), st, st, c.d.formatTime(now)), nil
}

func ff(f float64) string { return strconv.FormatFloat(f, 'f', 6, 64) }

func (c *Camera) opPTZContinuousMove(_ *http.Request, req *request) (string, *soapError) {
	if e := c.checkPTZProfile(req); e != nil {
		return "", e
	}
	v, _, err := parseVector(req.op.child("Velocity"))
	if err != nil {
		return "", invalidArg("ter:InvalidVelocity", err.Error())
	}
	for _, x := range v {
		if x < -1 || x > 1 {
			return "", invalidArg("ter:InvalidVelocity", "velocity outside the space")
		}
	}
	timeout := 5 * time.Second
	if t := req.op.textAt("Timeout"); t != "" {
		d, err := parseDuration(t)
		if err != nil || d <= 0 {
			return "", invalidArg("ter:InvalidArgVal", "bad Timeout")
		}
		timeout = d
	}
	c.mu.Lock()
	c.ptz.move(time.Now(), v, timeout)
	c.mu.Unlock()
	return `<tptz:ContinuousMoveResponse/>`, nil
}

func (c *Camera) opPTZStop(_ *http.Request, req *request) (string, *soapError) {
	if e := c.checkPTZProfile(req); e != nil {
		return "", e
	}
	c.mu.Lock()
	c.ptz.move(time.Now(), [3]float64{}, 0)
	c.mu.Unlock()
	return `<tptz:StopResponse/>`, nil
}

func (c *Camera) opPTZAbsoluteMove(_ *http.Request, req *request) (string, *soapError) {
	if e := c.checkPTZProfile(req); e != nil {
		return "", e
	}
	target, has, err := parseVector(req.op.child("Position"))
	if err != nil || (!has[0] && !has[1]) {
		return "", invalidArg("ter:InvalidPosition", "Position required")
	}
	for i, x := range target {
		if x < -1 || x > 1 || (i == 2 && x < 0) {
			return "", invalidArg("ter:InvalidPosition", "position outside the space")
		}
	}
	speed := 0.5
	if sv, hs, err := parseVector(req.op.child("Speed")); err == nil && hs[0] && sv[0] > 0 {
		speed = math.Min(1, math.Abs(sv[0]))
	}
	c.mu.Lock()
	cur, _ := c.ptz.at(time.Now())
	if !has[0] {
		target[0], target[1] = cur[0], cur[1]
	}
	if !has[1] {
		target[2] = cur[2]
	}
	c.ptz.moveTo(time.Now(), target, speed)
	c.mu.Unlock()
	return `<tptz:AbsoluteMoveResponse/>`, nil
}

func (c *Camera) opPTZGetPresets(_ *http.Request, req *request) (string, *soapError) {
	if e := c.checkPTZProfile(req); e != nil {
		return "", e
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var b strings.Builder
	b.WriteString(`<tptz:GetPresetsResponse>`)
	for _, p := range c.ptz.presets {
		fmt.Fprintf(&b, `<tptz:Preset token="%s"><tt:Name>%s</tt:Name><tt:PTZPosition><tt:PanTilt x="%s" y="%s" space="http://www.onvif.org/ver10/tptz/PanTiltSpaces/PositionGenericSpace"/><tt:Zoom x="%s" space="http://www.onvif.org/ver10/tptz/ZoomSpaces/PositionGenericSpace"/></tt:PTZPosition></tptz:Preset>`,
			xmlEscape(p.token), xmlEscape(p.name), ff(p.pos[0]), ff(p.pos[1]), ff(p.pos[2]))
	}
	b.WriteString(`</tptz:GetPresetsResponse>`)
	return b.String(), nil
}

func (c *Camera) opPTZSetPreset(_ *http.Request, req *request) (string, *soapError) {
	if e := c.checkPTZProfile(req); e != nil {
		return "", e
	}
	name := req.op.textAt("PresetName")
	token := req.op.textAt("PresetToken")
	if len(name) > 64 || len(token) > 64 {
		return "", invalidArg("ter:InvalidPresetName", "preset name too long")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	pos, moving := c.ptz.at(time.Now())
	if moving {
		return "", &soapError{status: http.StatusBadRequest, code: "Sender", subcode: "ter:InvalidArgVal", sub2: "ter:MovingPTZ", reason: "PTZ is moving"}
	}
	for i, p := range c.ptz.presets {
		if (token != "" && p.token == token) || (token == "" && name != "" && p.name == name) {
			c.ptz.presets[i].pos = pos
			if name != "" {
				c.ptz.presets[i].name = name
			}
			return `<tptz:SetPresetResponse><tptz:PresetToken>` + xmlEscape(p.token) + `</tptz:PresetToken></tptz:SetPresetResponse>`, nil
		}
	}
	if token != "" {
		return "", invalidArg("ter:NoToken", "no such preset")
	}
	if len(c.ptz.presets) >= maxPresets {
		return "", &soapError{status: http.StatusInternalServerError, code: "Receiver", subcode: "ter:Action", sub2: "ter:TooManyPresets", reason: "maximum number of presets reached"}
	}
	c.ptz.seq++
	tok := strconv.Itoa(c.ptz.seq)
	if name == "" {
		name = "Preset " + tok
	}
	c.ptz.presets = append(c.ptz.presets, ptzPreset{token: tok, name: name, pos: pos})
	return `<tptz:SetPresetResponse><tptz:PresetToken>` + tok + `</tptz:PresetToken></tptz:SetPresetResponse>`, nil
}

func (c *Camera) opPTZGotoPreset(_ *http.Request, req *request) (string, *soapError) {
	if e := c.checkPTZProfile(req); e != nil {
		return "", e
	}
	token := req.op.textAt("PresetToken")
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.ptz.presets {
		if p.token == token {
			c.ptz.moveTo(time.Now(), p.pos, 0.5)
			return `<tptz:GotoPresetResponse/>`, nil
		}
	}
	return "", invalidArg("ter:NoToken", "no such preset")
}

// parseDuration parses the xs:duration forms cameras use (PnDTnHnMn.nS).
func parseDuration(s string) (time.Duration, error) {
	orig := s
	bad := fmt.Errorf("bad xs:duration %q", orig)
	if !strings.HasPrefix(s, "P") || len(s) < 3 || len(s) > 40 {
		return 0, bad
	}
	s = s[1:]
	var d time.Duration
	inTime := false
	for s != "" {
		if s[0] == 'T' {
			if inTime {
				return 0, bad
			}
			inTime = true
			s = s[1:]
			continue
		}
		i := 0
		for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
			i++
		}
		if i == 0 || i == len(s) {
			return 0, bad
		}
		n, err := strconv.ParseFloat(s[:i], 64)
		if err != nil || n > 1e7 {
			return 0, bad
		}
		var unit time.Duration
		switch {
		case s[i] == 'D' && !inTime:
			unit = 24 * time.Hour
		case s[i] == 'H' && inTime:
			unit = time.Hour
		case s[i] == 'M' && inTime:
			unit = time.Minute
		case s[i] == 'S' && inTime:
			unit = time.Second
		default:
			return 0, bad
		}
		d += time.Duration(n * float64(unit))
		s = s[i+1:]
	}
	return d, nil
}
