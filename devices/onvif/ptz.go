package onvif

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/IOTechSystems/onvif/ptz"
	"github.com/IOTechSystems/onvif/xsd"
	xsdonvif "github.com/IOTechSystems/onvif/xsd/onvif"

	"github.com/gwanje/gwanje/internal/redact"
)

func (c *Client) ptzReq(ctx context.Context, op string, body []byte) (request, error) {
	s, err := c.ResolveServices(ctx)
	if err != nil {
		return request{}, err
	}
	if s.PTZ == "" {
		return request{}, &OpError{Op: op, Endpoint: redact.URL(c.endpoint.String()), Err: fmt.Errorf("%w: no PTZ service", ErrNotSupported)}
	}
	return request{op: op, ns: nsPTZ, url: s.PTZ, body: body}, nil
}

func fnum(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// vectorXML writes a PTZ vector with explicit zeros (the library's vector
// types omit zero coordinates, which some cameras read as "unchanged").
func vectorXML(elem string, v PTZVector, panTilt, zoom bool) string {
	var b strings.Builder
	b.WriteString("<tptz:" + elem + ">")
	if panTilt {
		b.WriteString(`<tt:PanTilt x="` + fnum(v.Pan) + `" y="` + fnum(v.Tilt) + `"/>`)
	}
	if zoom {
		b.WriteString(`<tt:Zoom x="` + fnum(v.Zoom) + `"/>`)
	}
	b.WriteString("</tptz:" + elem + ">")
	return b.String()
}

func tokenXML(elem, token string) string {
	return "<tptz:" + elem + ">" + xmlEscape(token) + "</tptz:" + elem + ">"
}

// GetNodes lists the PTZ nodes.
func (c *Client) GetNodes(ctx context.Context) ([]PTZNode, error) {
	req, err := c.ptzReq(ctx, "GetNodes", marshalBody(ptz.GetNodes{}))
	if err != nil {
		return nil, err
	}
	return run(ctx, c, req, parseNodes)
}

// GetStatus reads position and move status of a profile's PTZ.
func (c *Client) GetStatus(ctx context.Context, profileToken string) (PTZStatus, error) {
	if err := checkToken("GetStatus", profileToken); err != nil {
		return PTZStatus{}, err
	}
	req, err := c.ptzReq(ctx, "GetStatus", marshalBody(ptz.GetStatus{ProfileToken: xsdonvif.ReferenceToken(profileToken)}))
	if err != nil {
		return PTZStatus{}, err
	}
	return run(ctx, c, req, parsePTZStatus)
}

// ContinuousMove starts moving at velocity (generic speed space, -1..1);
// timeout > 0 asks the camera to stop by itself after that time.
func (c *Client) ContinuousMove(ctx context.Context, profileToken string, velocity PTZVector, timeout time.Duration) error {
	if err := checkToken("ContinuousMove", profileToken); err != nil {
		return err
	}
	body := "<tptz:ContinuousMove>" + tokenXML("ProfileToken", profileToken) + vectorXML("Velocity", velocity, true, true)
	if timeout > 0 {
		body += "<tptz:Timeout>" + formatXSDDuration(timeout) + "</tptz:Timeout>"
	}
	body += "</tptz:ContinuousMove>"
	req, err := c.ptzReq(ctx, "ContinuousMove", []byte(body))
	if err != nil {
		return err
	}
	_, err = run(ctx, c, req, emptyParser("ContinuousMoveResponse"))
	return err
}

// Stop stops pan/tilt and/or zoom movement.
func (c *Client) Stop(ctx context.Context, profileToken string, panTilt, zoom bool) error {
	if err := checkToken("Stop", profileToken); err != nil {
		return err
	}
	body := marshalBody(ptz.Stop{ProfileToken: xsdonvif.ReferenceToken(profileToken), PanTilt: xsdBool(panTilt), Zoom: xsdBool(zoom)})
	req, err := c.ptzReq(ctx, "Stop", body)
	if err != nil {
		return err
	}
	_, err = run(ctx, c, req, emptyParser("StopResponse"))
	return err
}

// AbsoluteMove moves to a position in the generic position spaces; speed
// may be nil for the camera default.
func (c *Client) AbsoluteMove(ctx context.Context, profileToken string, position PTZVector, speed *PTZVector) error {
	if err := checkToken("AbsoluteMove", profileToken); err != nil {
		return err
	}
	body := "<tptz:AbsoluteMove>" + tokenXML("ProfileToken", profileToken) + vectorXML("Position", position, true, true)
	if speed != nil {
		body += vectorXML("Speed", *speed, true, true)
	}
	body += "</tptz:AbsoluteMove>"
	req, err := c.ptzReq(ctx, "AbsoluteMove", []byte(body))
	if err != nil {
		return err
	}
	_, err = run(ctx, c, req, emptyParser("AbsoluteMoveResponse"))
	return err
}

// GetPresets lists the presets of a profile.
func (c *Client) GetPresets(ctx context.Context, profileToken string) ([]Preset, error) {
	if err := checkToken("GetPresets", profileToken); err != nil {
		return nil, err
	}
	req, err := c.ptzReq(ctx, "GetPresets", marshalBody(ptz.GetPresets{ProfileToken: xsdonvif.ReferenceToken(profileToken)}))
	if err != nil {
		return nil, err
	}
	return run(ctx, c, req, parsePresets)
}

// SetPreset stores the current position as a preset named name; presetToken
// "" creates a new preset. It returns the preset token.
func (c *Client) SetPreset(ctx context.Context, profileToken, name, presetToken string) (string, error) {
	if err := checkToken("SetPreset", profileToken); err != nil {
		return "", err
	}
	body := "<tptz:SetPreset>" + tokenXML("ProfileToken", profileToken)
	if name != "" {
		body += tokenXML("PresetName", name)
	}
	if presetToken != "" {
		body += tokenXML("PresetToken", presetToken)
	}
	body += "</tptz:SetPreset>"
	req, err := c.ptzReq(ctx, "SetPreset", []byte(body))
	if err != nil {
		return "", err
	}
	return run(ctx, c, req, parseSetPreset)
}

// GotoPreset moves to a preset; speed may be nil.
func (c *Client) GotoPreset(ctx context.Context, profileToken, presetToken string, speed *PTZVector) error {
	if err := checkToken("GotoPreset", profileToken); err != nil {
		return err
	}
	if err := checkToken("GotoPreset", presetToken); err != nil {
		return err
	}
	body := "<tptz:GotoPreset>" + tokenXML("ProfileToken", profileToken) + tokenXML("PresetToken", presetToken)
	if speed != nil {
		body += vectorXML("Speed", *speed, true, true)
	}
	body += "</tptz:GotoPreset>"
	req, err := c.ptzReq(ctx, "GotoPreset", []byte(body))
	if err != nil {
		return err
	}
	_, err = run(ctx, c, req, emptyParser("GotoPresetResponse"))
	return err
}

func xsdBool(b bool) xsd.Boolean { return xsd.Boolean(b) }
