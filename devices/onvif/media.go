package onvif

import (
	"context"
	"fmt"

	"github.com/IOTechSystems/onvif/media"
	xsdonvif "github.com/IOTechSystems/onvif/xsd/onvif"

	"github.com/gwanje/gwanje/internal/redact"
)

// mediaService picks media ver10 when offered, else media ver20.
func (c *Client) mediaService(ctx context.Context, op string) (addr string, media2 bool, err error) {
	s, err := c.ResolveServices(ctx)
	if err != nil {
		return "", false, err
	}
	switch {
	case s.Media != "":
		return s.Media, false, nil
	case s.Media2 != "":
		return s.Media2, true, nil
	}
	return "", false, &OpError{Op: op, Endpoint: redact.URL(c.endpoint.String()), Err: fmt.Errorf("%w: no media service", ErrNotSupported)}
}

func checkToken(op, token string) error {
	if token == "" {
		return &OpError{Op: op, Err: fmt.Errorf("%w: empty token", ErrInvalidArgument)}
	}
	return nil
}

// GetProfiles lists the media profiles (media ver10, or ver20 when the
// device has no ver10 media service).
func (c *Client) GetProfiles(ctx context.Context) ([]Profile, error) {
	addr, m2, err := c.mediaService(ctx, "GetProfiles")
	if err != nil {
		return nil, err
	}
	req := request{op: "GetProfiles", ns: nsMedia, url: addr, body: marshalBody(media.GetProfiles{})}
	if m2 {
		req.ns = nsMedia2
		req.body = []byte(`<tr2:GetProfiles><tr2:Type>All</tr2:Type></tr2:GetProfiles>`)
	}
	return run(ctx, c, req, parseProfiles)
}

// GetStreamUri returns the RTSP URI (RTP-Unicast over RTSP) of a profile.
func (c *Client) GetStreamUri(ctx context.Context, profileToken string) (string, error) {
	if err := checkToken("GetStreamUri", profileToken); err != nil {
		return "", err
	}
	addr, m2, err := c.mediaService(ctx, "GetStreamUri")
	if err != nil {
		return "", err
	}
	stream := xsdonvif.StreamType("RTP-Unicast")
	proto := xsdonvif.TransportProtocol("RTSP")
	tok := xsdonvif.ReferenceToken(profileToken)
	req := request{op: "GetStreamUri", ns: nsMedia, url: addr, body: marshalBody(media.GetStreamUri{
		StreamSetup:  &xsdonvif.StreamSetup{Stream: &stream, Transport: &xsdonvif.Transport{Protocol: &proto}},
		ProfileToken: &tok,
	})}
	if m2 {
		req.ns = nsMedia2
		req.body = []byte(`<tr2:GetStreamUri><tr2:Protocol>RTSP</tr2:Protocol><tr2:ProfileToken>` +
			xmlEscape(profileToken) + `</tr2:ProfileToken></tr2:GetStreamUri>`)
	}
	return run(ctx, c, req, parseStreamURI)
}

// GetSnapshotUri returns the JPEG snapshot URI of a profile.
func (c *Client) GetSnapshotUri(ctx context.Context, profileToken string) (string, error) {
	if err := checkToken("GetSnapshotUri", profileToken); err != nil {
		return "", err
	}
	addr, m2, err := c.mediaService(ctx, "GetSnapshotUri")
	if err != nil {
		return "", err
	}
	req := request{op: "GetSnapshotUri", ns: nsMedia, url: addr,
		body: marshalBody(media.GetSnapshotUri{ProfileToken: xsdonvif.ReferenceToken(profileToken)})}
	if m2 {
		req.ns = nsMedia2
		req.body = []byte(`<tr2:GetSnapshotUri><tr2:ProfileToken>` + xmlEscape(profileToken) +
			`</tr2:ProfileToken></tr2:GetSnapshotUri>`)
	}
	return run(ctx, c, req, parseSnapshotURI)
}
