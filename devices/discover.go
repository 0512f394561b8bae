package devices

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"

	"github.com/gwanje/gwanje/devices/onvif"
)

// Candidate is a device found by Discover.
type Candidate struct {
	EndpointReference string
	// DeviceURL is the XAddr to register with (the one on the answering
	// address when there are several).
	DeviceURL string
	XAddrs    []string
	From      netip.AddrPort
	Name      string
	Location  string
	Hardware  string
	MAC       string
	Scopes    []string
	// Registered is set when a camera that is not decommissioned already has
	// this endpoint reference or device URL; CameraID names it.
	Registered bool
	CameraID   string
}

// DiscoverRequest says where to look.
type DiscoverRequest struct {
	// Targets are addresses, address:port pairs or CIDR prefixes; unicast
	// probes only.
	Targets []string
	// Port is the WS-Discovery port of targets without one; default 3702.
	Port int
	// Interface, when set, also sends one multicast probe on that interface.
	Interface string
}

// Discover probes the targets with WS-Discovery and calls fn for each device
// that answers (deduplicated by endpoint reference), marking those already
// registered. fn is called from one goroutine and never after Discover returns.
func (r *Registry) Discover(ctx context.Context, req DiscoverRequest, fn func(Candidate)) error {
	if err := r.checkOpen(); err != nil {
		return err
	}
	if len(req.Targets) == 0 && req.Interface == "" {
		return fmt.Errorf("%w: no discovery targets", ErrInvalid)
	}
	if _, err := onvif.ExpandTargets(req.Targets, req.Port, r.cfg.DiscoveryMaxHosts); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	byRef, byURL, err := r.registeredIndex(ctx)
	if err != nil {
		return err
	}
	err = onvif.Discover(ctx, onvif.DiscoveryConfig{
		Targets: req.Targets, Port: req.Port, MaxHosts: r.cfg.DiscoveryMaxHosts, Rate: r.cfg.DiscoveryRate,
		Wait: r.cfg.DiscoveryWait, Interface: req.Interface, Logger: r.log,
	}, func(d onvif.Discovered) {
		c := Candidate{
			EndpointReference: d.EndpointReference, XAddrs: d.XAddrs, From: d.From, Name: d.Name,
			Location: d.Location, Hardware: d.Hardware, MAC: d.MAC, Scopes: d.Scopes,
			DeviceURL: pickXAddr(d.XAddrs, d.From),
		}
		if id, ok := byRef[c.EndpointReference]; ok && c.EndpointReference != "" {
			c.Registered, c.CameraID = true, id
		}
		for _, x := range c.XAddrs {
			if id, ok := byURL[x]; ok && !c.Registered {
				c.Registered, c.CameraID = true, id
			}
		}
		fn(c)
	})
	if errors.Is(err, onvif.ErrInvalidArgument) {
		return fmt.Errorf("%w: discovery: %w", ErrInvalid, err)
	}
	if err != nil {
		return fmt.Errorf("devices: discovery: %w", err)
	}
	return nil
}

// DiscoverAll collects every candidate of Discover.
func (r *Registry) DiscoverAll(ctx context.Context, req DiscoverRequest) ([]Candidate, error) {
	var out []Candidate
	err := r.Discover(ctx, req, func(c Candidate) { out = append(out, c) })
	return out, err
}

// pickXAddr prefers the XAddr on the address that answered.
func pickXAddr(xaddrs []string, from netip.AddrPort) string {
	for _, x := range xaddrs {
		u, err := url.Parse(x)
		if err != nil {
			continue
		}
		if a, err := netip.ParseAddr(strings.Trim(u.Hostname(), "[]")); err == nil && a.Unmap() == from.Addr().Unmap() {
			return x
		}
	}
	if len(xaddrs) > 0 {
		return xaddrs[0]
	}
	return ""
}

func (r *Registry) registeredIndex(ctx context.Context) (byRef, byURL map[string]string, err error) {
	rows, err := r.db.Query(ctx, `select id::text, coalesce(endpoint_ref, ''), coalesce(device_url, '') from devices_cameras
		where lifecycle <> 'decommissioned' and (endpoint_ref is not null or device_url is not null)`)
	if err != nil {
		return nil, nil, fmt.Errorf("devices: registered cameras: %w", err)
	}
	defer rows.Close()
	byRef, byURL = map[string]string{}, map[string]string{}
	for rows.Next() {
		var id, ref, u string
		if err := rows.Scan(&id, &ref, &u); err != nil {
			return nil, nil, fmt.Errorf("devices: registered cameras: %w", err)
		}
		if ref != "" {
			byRef[ref] = id
		}
		if u != "" {
			byURL[u] = id
		}
	}
	return byRef, byURL, rows.Err()
}
