package onvif

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/IOTechSystems/onvif/device"
	xsdonvif "github.com/IOTechSystems/onvif/xsd/onvif"

	"github.com/gwanje/gwanje/internal/redact"
)

func (c *Client) deviceReq(op string, body any) request {
	return request{op: op, ns: nsDevice, url: c.endpoint.String(), body: marshalBody(body)}
}

// GetSystemDateAndTime reads the camera clock without credentials (with
// credentials when the camera insists), measures the offset of the camera UTC
// clock from the local clock and the round-trip latency, and remembers the
// offset for WS-Security.
func (c *Client) GetSystemDateAndTime(ctx context.Context) (SystemDateAndTime, error) {
	req := c.deviceReq("GetSystemDateAndTime", device.GetSystemDateAndTime{})
	req.noAuth = true
	t0 := c.cfg.Now()
	data, err := c.call(ctx, req)
	t1 := c.cfg.Now()
	if err != nil {
		return SystemDateAndTime{}, err
	}
	s, err := parseSystemDateAndTime(data)
	if err != nil {
		return SystemDateAndTime{}, &OpError{Op: req.op, Endpoint: redact.URL(req.url), Err: err}
	}
	s.Latency = t1.Sub(t0)
	if !s.UTC.IsZero() {
		mid := t0.Add(s.Latency / 2)
		// The camera reports whole seconds: add half a second to centre it.
		s.Offset = s.UTC.Add(500 * time.Millisecond).Sub(mid).Round(time.Millisecond)
		c.SetClockOffset(s.Offset)
	}
	return s, nil
}

// SyncClock learns the camera clock offset (see GetSystemDateAndTime).
func (c *Client) SyncClock(ctx context.Context) (time.Duration, error) {
	s, err := c.GetSystemDateAndTime(ctx)
	return s.Offset, err
}

// run performs a call and parses its response with parse.
func run[T any](ctx context.Context, c *Client, req request, parse func([]byte) (T, error)) (T, error) {
	var zero T
	data, err := c.call(ctx, req)
	if err != nil {
		return zero, err
	}
	v, err := parse(data)
	if err != nil {
		return zero, &OpError{Op: req.op, Endpoint: redact.URL(req.url), Err: err}
	}
	return v, nil
}

func emptyParser(expect string) func([]byte) (struct{}, error) {
	return func(data []byte) (struct{}, error) { return struct{}{}, parseEmpty(data, expect) }
}

// GetDeviceInformation reads manufacturer, model, firmware, serial and
// hardware id.
func (c *Client) GetDeviceInformation(ctx context.Context) (DeviceInfo, error) {
	return run(ctx, c, c.deviceReq("GetDeviceInformation", device.GetDeviceInformation{}), parseDeviceInformation)
}

// GetCapabilities reads service addresses the old way (GetCapabilities,
// category All).
func (c *Client) GetCapabilities(ctx context.Context) (Services, error) {
	body := device.GetCapabilities{Category: []xsdonvif.CapabilityCategory{"All"}}
	s, err := run(ctx, c, c.deviceReq("GetCapabilities", body), parseCapabilities)
	return c.rewriteServices(s), err
}

// GetServices lists the services the device offers (GetServices).
func (c *Client) GetServices(ctx context.Context) ([]Service, error) {
	list, err := run(ctx, c, c.deviceReq("GetServices", device.GetServices{IncludeCapability: false}), parseServices)
	for i := range list {
		list[i].XAddr = c.rewrite(list[i].XAddr)
	}
	return list, err
}

func (c *Client) rewriteServices(s Services) Services {
	for _, p := range []*string{&s.Device, &s.Media, &s.Media2, &s.PTZ, &s.Events, &s.Imaging} {
		*p = c.rewrite(*p)
	}
	for k, v := range s.All {
		s.All[k] = c.rewrite(v)
	}
	return s
}

// ResolveServices returns the service addresses, asking GetServices and,
// when the device lacks it or answers incompletely, GetCapabilities. The
// result is cached; use Refresh to ask again.
func (c *Client) ResolveServices(ctx context.Context) (Services, error) {
	c.mu.Lock()
	if c.services != nil {
		s := *c.services
		c.mu.Unlock()
		return s, nil
	}
	c.mu.Unlock()
	var s Services
	list, err := c.GetServices(ctx)
	if err == nil {
		s = servicesFromList(list)
	}
	if err != nil || s.Media == "" && s.Media2 == "" {
		if isFinal(err) {
			return Services{}, err
		}
		caps, cerr := c.GetCapabilities(ctx)
		if cerr != nil {
			if err != nil && !errors.Is(cerr, ErrUnauthorized) {
				return Services{}, fmt.Errorf("%w (GetServices: %v)", cerr, err)
			}
			return Services{}, cerr
		}
		s = mergeServices(s, caps)
	}
	if s.Device == "" {
		s.Device = c.endpoint.String()
	}
	c.mu.Lock()
	c.services = &s
	c.mu.Unlock()
	return s, nil
}

// isFinal reports errors after which trying GetCapabilities is pointless.
func isFinal(err error) bool {
	return errors.Is(err, ErrUnauthorized) || errors.Is(err, ErrTimeout) || errors.Is(err, ErrUnreachable) ||
		errors.Is(err, context.Canceled)
}

func mergeServices(a, b Services) Services {
	pick := func(x, y string) string {
		if x != "" {
			return x
		}
		return y
	}
	out := Services{Device: pick(a.Device, b.Device), Media: pick(a.Media, b.Media), Media2: pick(a.Media2, b.Media2),
		PTZ: pick(a.PTZ, b.PTZ), Events: pick(a.Events, b.Events), Imaging: pick(a.Imaging, b.Imaging), All: map[string]string{}}
	for k, v := range b.All {
		out.All[k] = v
	}
	for k, v := range a.All {
		out.All[k] = v
	}
	return out
}

// Refresh forgets cached service addresses, the learned clock offset and the
// detected auth mode.
func (c *Client) Refresh() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.services = nil
	c.offsetKnown = false
	if c.cfg.Auth == AuthAuto && c.cfg.Username != "" {
		c.mode = AuthAuto
	}
}

// GetScopes reads the device scopes.
func (c *Client) GetScopes(ctx context.Context) ([]Scope, error) {
	return run(ctx, c, c.deviceReq("GetScopes", device.GetScopes{}), parseScopes)
}

// GetNetworkInterfaces reads the network interfaces.
func (c *Client) GetNetworkInterfaces(ctx context.Context) ([]NetworkInterface, error) {
	return run(ctx, c, c.deviceReq("GetNetworkInterfaces", device.GetNetworkInterfaces{}), parseNetworkInterfaces)
}

// SetSystemDateAndTime sets the camera clock manually to t (sent as UTC),
// keeping its time zone. The learned clock offset is reset to zero
// relative to the new time (and relearned on the next sync).
func (c *Client) SetSystemDateAndTime(ctx context.Context, t time.Time) error {
	t = t.UTC()
	body := fmt.Sprintf(`<tds:SetSystemDateAndTime><tds:DateTimeType>Manual</tds:DateTimeType>`+
		`<tds:DaylightSavings>false</tds:DaylightSavings><tds:UTCDateTime>`+
		`<tt:Time><tt:Hour>%d</tt:Hour><tt:Minute>%d</tt:Minute><tt:Second>%d</tt:Second></tt:Time>`+
		`<tt:Date><tt:Year>%d</tt:Year><tt:Month>%d</tt:Month><tt:Day>%d</tt:Day></tt:Date>`+
		`</tds:UTCDateTime></tds:SetSystemDateAndTime>`,
		t.Hour(), t.Minute(), t.Second(), t.Year(), int(t.Month()), t.Day())
	req := request{op: "SetSystemDateAndTime", ns: nsDevice, url: c.endpoint.String(), body: []byte(body)}
	_, err := run(ctx, c, req, emptyParser("SetSystemDateAndTimeResponse"))
	if err == nil {
		c.SetClockOffset(t.Sub(c.cfg.Now()).Round(time.Millisecond))
	}
	return err
}

// SetNTPTime switches the camera clock to NTP (DateTimeType NTP).
func (c *Client) SetNTPTime(ctx context.Context) error {
	body := `<tds:SetSystemDateAndTime><tds:DateTimeType>NTP</tds:DateTimeType>` +
		`<tds:DaylightSavings>false</tds:DaylightSavings></tds:SetSystemDateAndTime>`
	req := request{op: "SetSystemDateAndTime", ns: nsDevice, url: c.endpoint.String(), body: []byte(body)}
	_, err := run(ctx, c, req, emptyParser("SetSystemDateAndTimeResponse"))
	return err
}

// GetNTP reads the NTP configuration.
func (c *Client) GetNTP(ctx context.Context) (NTPInformation, error) {
	return run(ctx, c, c.deviceReq("GetNTP", device.GetNTP{}), parseNTP)
}

// SetNTP sets the NTP servers: fromDHCP, or the given servers (IPv4, IPv6
// addresses or DNS names).
func (c *Client) SetNTP(ctx context.Context, fromDHCP bool, servers []string) error {
	var b strings.Builder
	fmt.Fprintf(&b, `<tds:SetNTP><tds:FromDHCP>%t</tds:FromDHCP>`, fromDHCP)
	for _, s := range servers {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		b.WriteString(`<tds:NTPManual>`)
		if a, err := netip.ParseAddr(s); err == nil && a.Is4() {
			b.WriteString(`<tt:Type>IPv4</tt:Type><tt:IPv4Address>` + a.String() + `</tt:IPv4Address>`)
		} else if err == nil {
			b.WriteString(`<tt:Type>IPv6</tt:Type><tt:IPv6Address>` + a.String() + `</tt:IPv6Address>`)
		} else {
			b.WriteString(`<tt:Type>DNS</tt:Type><tt:DNSname>` + xmlEscape(s) + `</tt:DNSname>`)
		}
		b.WriteString(`</tds:NTPManual>`)
	}
	b.WriteString(`</tds:SetNTP>`)
	req := request{op: "SetNTP", ns: nsDevice, url: c.endpoint.String(), body: []byte(b.String())}
	_, err := run(ctx, c, req, emptyParser("SetNTPResponse"))
	return err
}

// SystemReboot asks the device to reboot and returns its message.
func (c *Client) SystemReboot(ctx context.Context) (string, error) {
	return run(ctx, c, c.deviceReq("SystemReboot", device.SystemReboot{}), parseReboot)
}
