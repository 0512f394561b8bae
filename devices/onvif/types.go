package onvif

import (
	"encoding/xml"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// DeviceInfo is the answer to GetDeviceInformation.
type DeviceInfo struct {
	Manufacturer    string
	Model           string
	FirmwareVersion string
	SerialNumber    string
	HardwareID      string
}

// SystemDateAndTime is the camera clock as reported by GetSystemDateAndTime.
type SystemDateAndTime struct {
	DateTimeType    string // "Manual" or "NTP"
	DaylightSavings bool
	TimeZone        string    // POSIX TZ string as sent, may be empty
	UTC             time.Time // zero when the camera sent no UTCDateTime
	Local           time.Time // wall clock fields in time.UTC location; zero when absent
	// Offset is camera UTC minus local clock at the middle of the request,
	// Latency the round trip. Both are zero when parsed without a request.
	Offset  time.Duration
	Latency time.Duration
}

// Services are the service addresses of a device ("" when not offered).
type Services struct {
	Device  string
	Media   string // ver10 media
	Media2  string // ver20 media
	PTZ     string
	Events  string
	Imaging string
	// All maps every namespace reported by GetServices (or a capability
	// name for GetCapabilities) to its address.
	All map[string]string
}

// Service is one entry of GetServices.
type Service struct {
	Namespace    string
	XAddr        string
	VersionMajor int
	VersionMinor int
}

// Scope is one device scope, e.g. onvif://www.onvif.org/name/Camera.
type Scope struct {
	Definition string // "Fixed" or "Configurable"
	Item       string
}

// NetworkInterface is one entry of GetNetworkInterfaces.
type NetworkInterface struct {
	Token     string
	Enabled   bool
	Name      string
	HwAddress string
	MTU       int
	DHCP      bool
	IPv4      []string // addresses with prefix, e.g. 192.0.2.10/24 (manual, link-local and DHCP)
}

// Profile is a media profile (media ver10 or ver20).
type Profile struct {
	Token        string
	Name         string
	Fixed        bool
	Encoding     string // H264, H265, JPEG, MPEG4 ("" when not configured)
	Width        int
	Height       int
	FrameRate    float64 // frames per second limit, 0 when unknown
	BitrateKbps  int
	HasPTZ       bool   // a PTZ configuration is attached
	PTZNodeToken string // node of the PTZ configuration, if any
	VideoSource  string // video source token, if any
	Media2       bool   // came from the ver20 media service
}

// NetworkHost is an NTP server entry.
type NetworkHost struct {
	Type    string // IPv4, IPv6 or DNS
	Address string
}

// NTPInformation is the answer to GetNTP.
type NTPInformation struct {
	FromDHCP    bool
	NTPFromDHCP []NetworkHost
	NTPManual   []NetworkHost
}

// PTZNode is one entry of GetNodes.
type PTZNode struct {
	Token                  string
	Name                   string
	FixedHomePosition      bool
	HomeSupported          bool
	MaximumNumberOfPresets int
}

// PTZVector is a pan/tilt/zoom position or speed in the generic spaces
// (pan and tilt -1..1, zoom 0..1 for positions).
type PTZVector struct {
	Pan, Tilt, Zoom float64
}

// PTZStatus is the answer to PTZ GetStatus.
type PTZStatus struct {
	Position    PTZVector
	HasPosition bool
	PanTiltMove string // IDLE, MOVING, UNKNOWN ("" when not reported)
	ZoomMove    string
	Error       string
	UTCTime     time.Time
}

// Preset is a PTZ preset.
type Preset struct {
	Token       string
	Name        string
	Position    PTZVector
	HasPosition bool
}

// EventProperties is the answer to GetEventProperties.
type EventProperties struct {
	TopicNamespaceLocation []string
	FixedTopicSet          bool
	// Topics lists every topic of the topic set as a path of local names,
	// e.g. "RuleEngine/CellMotionDetector/Motion".
	Topics []string
	// MessageContentFilterDialects and TopicExpressionDialects as sent.
	TopicExpressionDialects []string
}

// Subscription is a pull-point subscription.
type Subscription struct {
	Address         string
	CurrentTime     time.Time
	TerminationTime time.Time
	// ReferenceParameters must be echoed as SOAP headers on later requests
	// to the subscription (Axis uses them).
	ReferenceParameters []ReferenceParameter

	zoneless bool // CurrentTime came without a zone designator
}

// ReferenceParameter is one WS-Addressing reference parameter.
type ReferenceParameter struct {
	Space, Local, Value string
}

// EventKind classifies notification messages.
type EventKind int

// Event kinds.
const (
	EventOther EventKind = iota
	EventMotion
	EventTamper
)

func (k EventKind) String() string {
	switch k {
	case EventMotion:
		return "motion"
	case EventTamper:
		return "tamper"
	}
	return "other"
}

// SimpleItem is a name/value pair of an event message.
type SimpleItem struct {
	Name, Value string
}

// EventMessage is one notification from PullMessages.
type EventMessage struct {
	// Topic is the topic as a path of local names without prefixes, e.g.
	// "RuleEngine/CellMotionDetector/Motion"; RawTopic is the text as sent.
	Topic             string
	RawTopic          string
	Kind              EventKind
	Time              time.Time
	PropertyOperation string // Initialized, Changed, Deleted or ""
	Source            []SimpleItem
	Key               []SimpleItem
	Data              []SimpleItem
	// Active is the boolean state of a motion or tamper message (IsMotion,
	// IsTamper, State, ...); meaningful when HasState.
	Active   bool
	HasState bool
}

// Item returns the value of the named data (then source, then key) item.
func (m EventMessage) Item(name string) (string, bool) {
	for _, l := range [][]SimpleItem{m.Data, m.Source, m.Key} {
		for _, it := range l {
			if it.Name == name {
				return it.Value, true
			}
		}
	}
	return "", false
}

// PullResult is the answer to PullMessages.
type PullResult struct {
	CurrentTime     time.Time
	TerminationTime time.Time
	Messages        []EventMessage

	zoneless bool // CurrentTime came without a zone designator
}

// ---- XML wire structures (local names only: vendors vary prefixes) ----

type xDeviceInfo struct {
	Manufacturer    string `xml:"Manufacturer"`
	Model           string `xml:"Model"`
	FirmwareVersion string `xml:"FirmwareVersion"`
	SerialNumber    string `xml:"SerialNumber"`
	HardwareID      string `xml:"HardwareId"`
}

func parseDeviceInformation(data []byte) (DeviceInfo, error) {
	var x xDeviceInfo
	if err := decodeResponse(data, "GetDeviceInformationResponse", &x); err != nil {
		return DeviceInfo{}, err
	}
	t := strings.TrimSpace
	return DeviceInfo{t(x.Manufacturer), t(x.Model), t(x.FirmwareVersion), t(x.SerialNumber), t(x.HardwareID)}, nil
}

type xDateTime struct {
	Time struct {
		Hour   string `xml:"Hour"`
		Minute string `xml:"Minute"`
		Second string `xml:"Second"`
	} `xml:"Time"`
	Date struct {
		Year  string `xml:"Year"`
		Month string `xml:"Month"`
		Day   string `xml:"Day"`
	} `xml:"Date"`
}

func (x *xDateTime) toTime() (time.Time, error) {
	var v [6]int
	for i, s := range []string{x.Date.Year, x.Date.Month, x.Date.Day, x.Time.Hour, x.Time.Minute, x.Time.Second} {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return time.Time{}, fmt.Errorf("bad date/time field %q", truncate(s, 20))
		}
		v[i] = n
	}
	if v[0] < 1970 || v[0] > 9999 || v[1] < 1 || v[1] > 12 || v[2] < 1 || v[2] > 31 ||
		v[3] < 0 || v[3] > 24 || v[4] < 0 || v[4] > 59 || v[5] < 0 || v[5] > 61 {
		return time.Time{}, fmt.Errorf("date/time out of range %v", v)
	}
	return time.Date(v[0], time.Month(v[1]), v[2], v[3], v[4], v[5], 0, time.UTC), nil
}

type xSystemDateAndTime struct {
	SDT struct {
		DateTimeType    string     `xml:"DateTimeType"`
		DaylightSavings string     `xml:"DaylightSavings"`
		TZ              string     `xml:"TimeZone>TZ"`
		UTC             *xDateTime `xml:"UTCDateTime"`
		Local           *xDateTime `xml:"LocalDateTime"`
	} `xml:"SystemDateAndTime"`
}

func parseSystemDateAndTime(data []byte) (SystemDateAndTime, error) {
	var x xSystemDateAndTime
	if err := decodeResponse(data, "GetSystemDateAndTimeResponse", &x); err != nil {
		return SystemDateAndTime{}, err
	}
	s := SystemDateAndTime{
		DateTimeType:    strings.TrimSpace(x.SDT.DateTimeType),
		DaylightSavings: parseBool(x.SDT.DaylightSavings),
		TimeZone:        strings.TrimSpace(x.SDT.TZ),
	}
	var err error
	if x.SDT.UTC != nil {
		if s.UTC, err = x.SDT.UTC.toTime(); err != nil {
			return SystemDateAndTime{}, malformed("UTCDateTime: %v", err)
		}
	}
	if x.SDT.Local != nil {
		if s.Local, err = x.SDT.Local.toTime(); err != nil {
			return SystemDateAndTime{}, malformed("LocalDateTime: %v", err)
		}
	}
	if s.UTC.IsZero() && s.Local.IsZero() {
		return SystemDateAndTime{}, malformed("no UTCDateTime or LocalDateTime")
	}
	return s, nil
}

type xCapXAddr struct {
	XAddr string `xml:"XAddr"`
}

type xCapabilities struct {
	Caps struct {
		Analytics *xCapXAddr `xml:"Analytics"`
		Device    *xCapXAddr `xml:"Device"`
		Events    *xCapXAddr `xml:"Events"`
		Imaging   *xCapXAddr `xml:"Imaging"`
		Media     *xCapXAddr `xml:"Media"`
		PTZ       *xCapXAddr `xml:"PTZ"`
		Extension struct {
			DeviceIO  *xCapXAddr `xml:"DeviceIO"`
			Recording *xCapXAddr `xml:"Recording"`
			Search    *xCapXAddr `xml:"Search"`
			Replay    *xCapXAddr `xml:"Replay"`
			Media2    *xCapXAddr `xml:"Media2"`
		} `xml:"Extension"`
	} `xml:"Capabilities"`
}

func parseCapabilities(data []byte) (Services, error) {
	var x xCapabilities
	if err := decodeResponse(data, "GetCapabilitiesResponse", &x); err != nil {
		return Services{}, err
	}
	s := Services{All: map[string]string{}}
	add := func(name string, c *xCapXAddr, dst *string) {
		if c == nil {
			return
		}
		a := strings.TrimSpace(c.XAddr)
		if a == "" {
			return
		}
		s.All[name] = a
		if dst != nil {
			*dst = a
		}
	}
	c := &x.Caps
	add("Analytics", c.Analytics, nil)
	add("Device", c.Device, &s.Device)
	add("Events", c.Events, &s.Events)
	add("Imaging", c.Imaging, &s.Imaging)
	add("Media", c.Media, &s.Media)
	add("PTZ", c.PTZ, &s.PTZ)
	add("DeviceIO", c.Extension.DeviceIO, nil)
	add("Recording", c.Extension.Recording, nil)
	add("Search", c.Extension.Search, nil)
	add("Replay", c.Extension.Replay, nil)
	add("Media2", c.Extension.Media2, &s.Media2)
	if len(s.All) == 0 {
		return Services{}, malformed("capabilities without any service address")
	}
	return s, nil
}

type xServices struct {
	Service []struct {
		Namespace string `xml:"Namespace"`
		XAddr     string `xml:"XAddr"`
		Version   struct {
			Major string `xml:"Major"`
			Minor string `xml:"Minor"`
		} `xml:"Version"`
	} `xml:"Service"`
}

func parseServices(data []byte) ([]Service, error) {
	var x xServices
	if err := decodeResponse(data, "GetServicesResponse", &x); err != nil {
		return nil, err
	}
	out := make([]Service, 0, len(x.Service))
	for _, s := range x.Service {
		maj, _ := strconv.Atoi(strings.TrimSpace(s.Version.Major))
		mn, _ := strconv.Atoi(strings.TrimSpace(s.Version.Minor))
		out = append(out, Service{strings.TrimSpace(s.Namespace), strings.TrimSpace(s.XAddr), maj, mn})
	}
	if len(out) == 0 {
		return nil, malformed("no services")
	}
	return out, nil
}

// servicesFromList maps GetServices entries to Services.
func servicesFromList(list []Service) Services {
	s := Services{All: map[string]string{}}
	for _, e := range list {
		s.All[e.Namespace] = e.XAddr
		switch strings.TrimRight(e.Namespace, "/") {
		case nsDevice:
			s.Device = e.XAddr
		case nsMedia:
			s.Media = e.XAddr
		case nsMedia2:
			s.Media2 = e.XAddr
		case nsPTZ, "http://www.onvif.org/ver10/ptz/wsdl":
			s.PTZ = e.XAddr
		case nsEvents:
			s.Events = e.XAddr
		case nsImaging, "http://www.onvif.org/ver10/imaging/wsdl":
			s.Imaging = e.XAddr
		}
	}
	return s
}

type xScopes struct {
	Scopes []struct {
		Def  string `xml:"ScopeDef"`
		Item string `xml:"ScopeItem"`
	} `xml:"Scopes"`
}

func parseScopes(data []byte) ([]Scope, error) {
	var x xScopes
	if err := decodeResponse(data, "GetScopesResponse", &x); err != nil {
		return nil, err
	}
	out := make([]Scope, 0, len(x.Scopes))
	for _, s := range x.Scopes {
		out = append(out, Scope{strings.TrimSpace(s.Def), strings.TrimSpace(s.Item)})
	}
	return out, nil
}

type xIPv4Addr struct {
	Address      string `xml:"Address"`
	PrefixLength string `xml:"PrefixLength"`
}

type xNetworkInterfaces struct {
	NI []struct {
		Token   string `xml:"token,attr"`
		Enabled string `xml:"Enabled"`
		Info    struct {
			Name      string `xml:"Name"`
			HwAddress string `xml:"HwAddress"`
			MTU       string `xml:"MTU"`
		} `xml:"Info"`
		IPv4 struct {
			Enabled string `xml:"Enabled"`
			Config  struct {
				Manual    []xIPv4Addr `xml:"Manual"`
				LinkLocal *xIPv4Addr  `xml:"LinkLocal"`
				FromDHCP  *xIPv4Addr  `xml:"FromDHCP"`
				DHCP      string      `xml:"DHCP"`
			} `xml:"Config"`
		} `xml:"IPv4"`
	} `xml:"NetworkInterfaces"`
}

func parseNetworkInterfaces(data []byte) ([]NetworkInterface, error) {
	var x xNetworkInterfaces
	if err := decodeResponse(data, "GetNetworkInterfacesResponse", &x); err != nil {
		return nil, err
	}
	out := make([]NetworkInterface, 0, len(x.NI))
	for _, n := range x.NI {
		ni := NetworkInterface{
			Token:     strings.TrimSpace(n.Token),
			Enabled:   parseBool(n.Enabled),
			Name:      strings.TrimSpace(n.Info.Name),
			HwAddress: strings.TrimSpace(n.Info.HwAddress),
			DHCP:      parseBool(n.IPv4.Config.DHCP),
		}
		ni.MTU, _ = strconv.Atoi(strings.TrimSpace(n.Info.MTU))
		addrs := append([]xIPv4Addr{}, n.IPv4.Config.Manual...)
		if a := n.IPv4.Config.FromDHCP; a != nil {
			addrs = append(addrs, *a)
		}
		if a := n.IPv4.Config.LinkLocal; a != nil {
			addrs = append(addrs, *a)
		}
		for _, a := range addrs {
			ad := strings.TrimSpace(a.Address)
			if ad == "" {
				continue
			}
			if p := strings.TrimSpace(a.PrefixLength); p != "" {
				ad += "/" + p
			}
			ni.IPv4 = append(ni.IPv4, ad)
		}
		out = append(out, ni)
	}
	return out, nil
}

type xVideoEncoder struct {
	Encoding   string `xml:"Encoding"`
	Resolution struct {
		Width  string `xml:"Width"`
		Height string `xml:"Height"`
	} `xml:"Resolution"`
	RateControl struct {
		FrameRateLimit string `xml:"FrameRateLimit"`
		BitrateLimit   string `xml:"BitrateLimit"`
		// media2 uses attributes-free elements FrameRateLimit/BitrateLimit too
	} `xml:"RateControl"`
}

type xPTZConfig struct {
	Token     string `xml:"token,attr"`
	NodeToken string `xml:"NodeToken"`
}

type xProfiles struct {
	Profiles []struct {
		Token string `xml:"token,attr"`
		Fixed string `xml:"fixed,attr"`
		Name  string `xml:"Name"`
		// media ver10
		VideoSource *struct {
			SourceToken string `xml:"SourceToken"`
		} `xml:"VideoSourceConfiguration"`
		VideoEncoder *xVideoEncoder `xml:"VideoEncoderConfiguration"`
		PTZ          *xPTZConfig    `xml:"PTZConfiguration"`
		// media ver20
		Configurations *struct {
			VideoSource *struct {
				SourceToken string `xml:"SourceToken"`
			} `xml:"VideoSource"`
			VideoEncoder *xVideoEncoder `xml:"VideoEncoder"`
			PTZ          *xPTZConfig    `xml:"PTZ"`
		} `xml:"Configurations"`
	} `xml:"Profiles"`
}

func parseProfiles(data []byte) ([]Profile, error) {
	var x xProfiles
	var media2 bool
	err := decodeEnvelope(data, func(d *xml.Decoder, se xml.StartElement) error {
		if se.Name.Local != "GetProfilesResponse" {
			return malformed("body element is %q, want %q", se.Name.Local, "GetProfilesResponse")
		}
		media2 = se.Name.Space == nsMedia2
		return d.DecodeElement(&x, &se)
	})
	if err != nil {
		return nil, err
	}
	out := make([]Profile, 0, len(x.Profiles))
	for _, p := range x.Profiles {
		pr := Profile{Token: strings.TrimSpace(p.Token), Name: strings.TrimSpace(p.Name), Fixed: parseBool(p.Fixed), Media2: media2}
		if pr.Token == "" {
			return nil, malformed("profile without token")
		}
		ve, ptz, vs := p.VideoEncoder, p.PTZ, p.VideoSource
		if c := p.Configurations; c != nil {
			pr.Media2 = true
			if ve == nil {
				ve = c.VideoEncoder
			}
			if ptz == nil {
				ptz = c.PTZ
			}
			if vs == nil {
				vs = c.VideoSource
			}
		}
		if ve != nil {
			pr.Encoding = strings.ToUpper(strings.TrimSpace(ve.Encoding))
			pr.Width, _ = strconv.Atoi(strings.TrimSpace(ve.Resolution.Width))
			pr.Height, _ = strconv.Atoi(strings.TrimSpace(ve.Resolution.Height))
			pr.FrameRate, _ = strconv.ParseFloat(strings.TrimSpace(ve.RateControl.FrameRateLimit), 64)
			pr.BitrateKbps, _ = strconv.Atoi(strings.TrimSpace(ve.RateControl.BitrateLimit))
		}
		if ptz != nil {
			pr.HasPTZ = true
			pr.PTZNodeToken = strings.TrimSpace(ptz.NodeToken)
		}
		if vs != nil {
			pr.VideoSource = strings.TrimSpace(vs.SourceToken)
		}
		out = append(out, pr)
	}
	return out, nil
}

type xMediaURI struct {
	MediaURI *struct {
		URI string `xml:"Uri"`
	} `xml:"MediaUri"`
	URI string `xml:"Uri"` // media2
}

func parseMediaURI(data []byte, expect string) (string, error) {
	var x xMediaURI
	if err := decodeResponse(data, expect, &x); err != nil {
		return "", err
	}
	u := strings.TrimSpace(x.URI)
	if x.MediaURI != nil {
		u = strings.TrimSpace(x.MediaURI.URI)
	}
	if u == "" {
		return "", malformed("%s without Uri", expect)
	}
	return u, nil
}

func parseStreamURI(data []byte) (string, error) { return parseMediaURI(data, "GetStreamUriResponse") }
func parseSnapshotURI(data []byte) (string, error) {
	return parseMediaURI(data, "GetSnapshotUriResponse")
}

type xNetworkHost struct {
	Type string `xml:"Type"`
	IPv4 string `xml:"IPv4Address"`
	IPv6 string `xml:"IPv6Address"`
	DNS  string `xml:"DNSname"`
}

func (h xNetworkHost) toHost() NetworkHost {
	n := NetworkHost{Type: strings.TrimSpace(h.Type)}
	for _, a := range []string{h.IPv4, h.IPv6, h.DNS} {
		if a = strings.TrimSpace(a); a != "" {
			n.Address = a
			break
		}
	}
	return n
}

type xNTP struct {
	Info struct {
		FromDHCP    string         `xml:"FromDHCP"`
		NTPFromDHCP []xNetworkHost `xml:"NTPFromDHCP"`
		NTPManual   []xNetworkHost `xml:"NTPManual"`
	} `xml:"NTPInformation"`
}

func parseNTP(data []byte) (NTPInformation, error) {
	var x xNTP
	if err := decodeResponse(data, "GetNTPResponse", &x); err != nil {
		return NTPInformation{}, err
	}
	n := NTPInformation{FromDHCP: parseBool(x.Info.FromDHCP)}
	for _, h := range x.Info.NTPFromDHCP {
		n.NTPFromDHCP = append(n.NTPFromDHCP, h.toHost())
	}
	for _, h := range x.Info.NTPManual {
		n.NTPManual = append(n.NTPManual, h.toHost())
	}
	return n, nil
}

type xVector struct {
	PanTilt *struct {
		X string `xml:"x,attr"`
		Y string `xml:"y,attr"`
	} `xml:"PanTilt"`
	Zoom *struct {
		X string `xml:"x,attr"`
	} `xml:"Zoom"`
}

func (v *xVector) toVector() (PTZVector, bool) {
	if v == nil || (v.PanTilt == nil && v.Zoom == nil) {
		return PTZVector{}, false
	}
	var p PTZVector
	if v.PanTilt != nil {
		p.Pan, _ = strconv.ParseFloat(strings.TrimSpace(v.PanTilt.X), 64)
		p.Tilt, _ = strconv.ParseFloat(strings.TrimSpace(v.PanTilt.Y), 64)
	}
	if v.Zoom != nil {
		p.Zoom, _ = strconv.ParseFloat(strings.TrimSpace(v.Zoom.X), 64)
	}
	return p, true
}

type xNodes struct {
	Nodes []struct {
		Token             string `xml:"token,attr"`
		FixedHomePosition string `xml:"FixedHomePosition,attr"`
		Name              string `xml:"Name"`
		MaxPresets        string `xml:"MaximumNumberOfPresets"`
		HomeSupported     string `xml:"HomeSupported"`
	} `xml:"PTZNode"`
}

func parseNodes(data []byte) ([]PTZNode, error) {
	var x xNodes
	if err := decodeResponse(data, "GetNodesResponse", &x); err != nil {
		return nil, err
	}
	out := make([]PTZNode, 0, len(x.Nodes))
	for _, n := range x.Nodes {
		m, _ := strconv.Atoi(strings.TrimSpace(n.MaxPresets))
		out = append(out, PTZNode{strings.TrimSpace(n.Token), strings.TrimSpace(n.Name),
			parseBool(n.FixedHomePosition), parseBool(n.HomeSupported), m})
	}
	return out, nil
}

type xPTZStatus struct {
	Status struct {
		Position   *xVector `xml:"Position"`
		MoveStatus struct {
			PanTilt string `xml:"PanTilt"`
			Zoom    string `xml:"Zoom"`
		} `xml:"MoveStatus"`
		Error   string `xml:"Error"`
		UtcTime string `xml:"UtcTime"`
	} `xml:"PTZStatus"`
}

func parsePTZStatus(data []byte) (PTZStatus, error) {
	var x xPTZStatus
	if err := decodeResponse(data, "GetStatusResponse", &x); err != nil {
		return PTZStatus{}, err
	}
	s := PTZStatus{
		PanTiltMove: strings.TrimSpace(x.Status.MoveStatus.PanTilt),
		ZoomMove:    strings.TrimSpace(x.Status.MoveStatus.Zoom),
		Error:       strings.TrimSpace(x.Status.Error),
	}
	s.Position, s.HasPosition = x.Status.Position.toVector()
	if t := strings.TrimSpace(x.Status.UtcTime); t != "" {
		var err error
		if s.UTCTime, err = parseXSDTime(t); err != nil {
			return PTZStatus{}, malformed("UtcTime: %v", err)
		}
	}
	return s, nil
}

type xPresets struct {
	Preset []struct {
		Token    string   `xml:"token,attr"`
		Name     string   `xml:"Name"`
		Position *xVector `xml:"PTZPosition"`
	} `xml:"Preset"`
}

func parsePresets(data []byte) ([]Preset, error) {
	var x xPresets
	if err := decodeResponse(data, "GetPresetsResponse", &x); err != nil {
		return nil, err
	}
	out := make([]Preset, 0, len(x.Preset))
	for _, p := range x.Preset {
		pr := Preset{Token: strings.TrimSpace(p.Token), Name: strings.TrimSpace(p.Name)}
		pr.Position, pr.HasPosition = p.Position.toVector()
		out = append(out, pr)
	}
	return out, nil
}

func parseSetPreset(data []byte) (string, error) {
	var x struct {
		Token string `xml:"PresetToken"`
	}
	if err := decodeResponse(data, "SetPresetResponse", &x); err != nil {
		return "", err
	}
	t := strings.TrimSpace(x.Token)
	if t == "" {
		return "", malformed("SetPresetResponse without PresetToken")
	}
	return t, nil
}

// parseEmpty checks an empty response such as StopResponse.
func parseEmpty(data []byte, expect string) error {
	var e empty
	return decodeResponse(data, expect, &e)
}

func parseReboot(data []byte) (string, error) {
	var x struct {
		Message string `xml:"Message"`
	}
	if err := decodeResponse(data, "SystemRebootResponse", &x); err != nil {
		return "", err
	}
	return strings.TrimSpace(x.Message), nil
}

// topicNode decodes an arbitrary topic tree.
type topicNode struct {
	XMLName  xml.Name
	Attrs    []xml.Attr  `xml:",any,attr"`
	Children []topicNode `xml:",any"`
}

func parseEventProperties(data []byte) (EventProperties, error) {
	var x struct {
		Locations []string  `xml:"TopicNamespaceLocation"`
		Fixed     string    `xml:"FixedTopicSet"`
		TopicSet  topicNode `xml:"TopicSet"`
		Dialects  []string  `xml:"TopicExpressionDialect"`
	}
	if err := decodeResponse(data, "GetEventPropertiesResponse", &x); err != nil {
		return EventProperties{}, err
	}
	ep := EventProperties{FixedTopicSet: parseBool(x.Fixed)}
	for _, l := range x.Locations {
		ep.TopicNamespaceLocation = append(ep.TopicNamespaceLocation, strings.TrimSpace(l))
	}
	for _, d := range x.Dialects {
		ep.TopicExpressionDialects = append(ep.TopicExpressionDialects, strings.TrimSpace(d))
	}
	var walk func(n *topicNode, path string, depth int)
	walk = func(n *topicNode, path string, depth int) {
		if depth > 32 {
			return
		}
		isTopic, hasDesc := false, false
		for _, a := range n.Attrs {
			if a.Name.Local == "topic" && parseBool(a.Value) {
				isTopic = true
			}
		}
		for i := range n.Children {
			c := &n.Children[i]
			if c.XMLName.Local == "MessageDescription" {
				hasDesc = true
				continue
			}
			walk(c, path+"/"+c.XMLName.Local, depth+1)
		}
		if (isTopic || hasDesc) && path != "" {
			ep.Topics = append(ep.Topics, strings.TrimPrefix(path, "/"))
		}
	}
	for i := range x.TopicSet.Children {
		c := &x.TopicSet.Children[i]
		walk(c, "/"+c.XMLName.Local, 1)
	}
	return ep, nil
}

type xRefParam struct {
	XMLName xml.Name
	Value   string `xml:",chardata"`
}

type xSubscription struct {
	Ref struct {
		Address string `xml:"Address"`
		Params  struct {
			Items []xRefParam `xml:",any"`
		} `xml:"ReferenceParameters"`
	} `xml:"SubscriptionReference"`
	CurrentTime     string `xml:"CurrentTime"`
	TerminationTime string `xml:"TerminationTime"`
}

func parseCreatePullPoint(data []byte) (Subscription, error) {
	return parseCreatePullPointIn(data, time.UTC)
}

func parseCreatePullPointIn(data []byte, loc *time.Location) (Subscription, error) {
	var x xSubscription
	if err := decodeResponse(data, "CreatePullPointSubscriptionResponse", &x); err != nil {
		return Subscription{}, err
	}
	s := Subscription{Address: strings.TrimSpace(x.Ref.Address)}
	if s.Address == "" {
		return Subscription{}, malformed("subscription without address")
	}
	for _, p := range x.Ref.Params.Items {
		s.ReferenceParameters = append(s.ReferenceParameters,
			ReferenceParameter{p.XMLName.Space, p.XMLName.Local, strings.TrimSpace(p.Value)})
	}
	var err error
	s.zoneless = zoneless(x.CurrentTime)
	if s.CurrentTime, err = optTimeIn(x.CurrentTime, loc); err != nil {
		return Subscription{}, malformed("CurrentTime: %v", err)
	}
	if s.TerminationTime, err = optTimeIn(x.TerminationTime, loc); err != nil {
		return Subscription{}, malformed("TerminationTime: %v", err)
	}
	return s, nil
}

func parseRenew(data []byte) (current, termination time.Time, err error) {
	return parseRenewIn(data, time.UTC)
}

func parseRenewIn(data []byte, loc *time.Location) (current, termination time.Time, err error) {
	var x struct {
		TerminationTime string `xml:"TerminationTime"`
		CurrentTime     string `xml:"CurrentTime"`
	}
	if err = decodeResponse(data, "RenewResponse", &x); err != nil {
		return
	}
	if termination, err = optTimeIn(x.TerminationTime, loc); err != nil {
		return time.Time{}, time.Time{}, malformed("TerminationTime: %v", err)
	}
	if current, err = optTimeIn(x.CurrentTime, loc); err != nil {
		return time.Time{}, time.Time{}, malformed("CurrentTime: %v", err)
	}
	return current, termination, nil
}

type xItems struct {
	Items []struct {
		Name  string `xml:"Name,attr"`
		Value string `xml:"Value,attr"`
	} `xml:"SimpleItem"`
}

func (x *xItems) list() []SimpleItem {
	if x == nil {
		return nil
	}
	out := make([]SimpleItem, 0, len(x.Items))
	for _, it := range x.Items {
		out = append(out, SimpleItem{it.Name, it.Value})
	}
	return out
}

type xNotification struct {
	Topic   string `xml:"Topic"`
	Message struct {
		Message struct {
			UtcTime           string  `xml:"UtcTime,attr"`
			PropertyOperation string  `xml:"PropertyOperation,attr"`
			Source            *xItems `xml:"Source"`
			Key               *xItems `xml:"Key"`
			Data              *xItems `xml:"Data"`
		} `xml:"Message"`
	} `xml:"Message"`
}

func parsePullMessages(data []byte) (PullResult, error) { return parsePullMessagesIn(data, time.UTC) }

// parsePullMessagesIn reads zone-less times in loc.
func parsePullMessagesIn(data []byte, loc *time.Location) (PullResult, error) {
	var x struct {
		CurrentTime     string          `xml:"CurrentTime"`
		TerminationTime string          `xml:"TerminationTime"`
		Notifications   []xNotification `xml:"NotificationMessage"`
	}
	if err := decodeResponse(data, "PullMessagesResponse", &x); err != nil {
		return PullResult{}, err
	}
	r := PullResult{zoneless: zoneless(x.CurrentTime)}
	var err error
	if r.CurrentTime, err = optTimeIn(x.CurrentTime, loc); err != nil {
		return PullResult{}, malformed("CurrentTime: %v", err)
	}
	if r.TerminationTime, err = optTimeIn(x.TerminationTime, loc); err != nil {
		return PullResult{}, malformed("TerminationTime: %v", err)
	}
	for _, n := range x.Notifications {
		m := n.Message.Message
		em := EventMessage{
			RawTopic:          strings.TrimSpace(n.Topic),
			PropertyOperation: strings.TrimSpace(m.PropertyOperation),
			Source:            m.Source.list(),
			Key:               m.Key.list(),
			Data:              m.Data.list(),
		}
		em.Topic = normalizeTopic(em.RawTopic)
		if em.Time, err = optTimeIn(m.UtcTime, loc); err != nil {
			return PullResult{}, malformed("UtcTime: %v", err)
		}
		classify(&em)
		r.Messages = append(r.Messages, em)
	}
	return r, nil
}

// normalizeTopic strips namespace prefixes from every segment of a topic.
func normalizeTopic(raw string) string {
	segs := strings.Split(raw, "/")
	for i, s := range segs {
		segs[i] = localPart(s)
	}
	return strings.Join(segs, "/")
}

func classify(m *EventMessage) {
	t := strings.ToLower(m.Topic)
	var keys []string
	switch {
	case strings.Contains(t, "tamper"), strings.Contains(t, "globalscenechange"):
		m.Kind = EventTamper
		keys = []string{"IsTamper", "State", "Tamper", "IsActive"}
	case strings.Contains(t, "motion"):
		m.Kind = EventMotion
		keys = []string{"IsMotion", "State", "Motion", "LogicalState", "IsActive"}
	default:
		return
	}
	for _, k := range keys {
		for _, it := range m.Data {
			if strings.EqualFold(it.Name, k) {
				m.Active, m.HasState = parseBool(it.Value), true
				return
			}
		}
	}
	// Some cameras name the state item of a motion or tamper topic plainly
	// "Value" (tt:SimpleItem Name="Value" Value="True"); it is the state
	// only when it holds a boolean.
	for _, it := range m.Data {
		if strings.EqualFold(it.Name, "Value") {
			if b, ok := parseXSDBool(it.Value); ok {
				m.Active, m.HasState = b, true
				return
			}
		}
	}
}

// parseXSDBool parses an xs:boolean (true, false, 1, 0; any case, trimmed).
func parseXSDBool(s string) (v, ok bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "1":
		return true, true
	case "false", "0":
		return false, true
	}
	return false, false
}

// ---- scalar helpers ----

func parseBool(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "1":
		return true
	}
	return false
}

func optTimeIn(s string, loc *time.Location) (time.Time, error) {
	if s = strings.TrimSpace(s); s == "" {
		return time.Time{}, nil
	}
	return parseXSDTimeIn(s, loc)
}

// parseXSDTime parses an xs:dateTime; values without a zone are taken as UTC.
func parseXSDTime(s string) (time.Time, error) { return parseXSDTimeIn(s, time.UTC) }

// parseXSDTimeIn parses an xs:dateTime; values without a zone designator are
// read in loc.
func parseXSDTimeIn(s string, loc *time.Location) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999Z0700"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	if t, err := time.ParseInLocation("2006-01-02T15:04:05.999999999", s, loc); err == nil {
		return t.UTC(), nil
	}
	return time.Time{}, fmt.Errorf("bad xs:dateTime %q", truncate(s, 40))
}

// zoneless reports whether an xs:dateTime lacks a zone designator.
func zoneless(s string) bool {
	s = strings.TrimSpace(s)
	if s == "" || strings.HasSuffix(s, "Z") || strings.HasSuffix(s, "z") {
		return false
	}
	i := strings.IndexByte(s, 'T')
	return i < 0 || !strings.ContainsAny(s[i:], "+-")
}

// parseXSDDuration parses an ISO 8601 duration such as PT0H0M2S or PT60S.
func parseXSDDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	orig := s
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	if !strings.HasPrefix(s, "P") || len(s) < 2 {
		return 0, fmt.Errorf("bad duration %q", truncate(orig, 30))
	}
	s = s[1:]
	var d float64
	inTime, parts := false, 0
	for len(s) > 0 {
		if s[0] == 'T' {
			inTime = true
			s = s[1:]
			continue
		}
		i := 0
		for i < len(s) && (s[i] == '.' || (s[i] >= '0' && s[i] <= '9')) {
			i++
		}
		if i == 0 || i == len(s) {
			return 0, fmt.Errorf("bad duration %q", truncate(orig, 30))
		}
		v, err := strconv.ParseFloat(s[:i], 64)
		if err != nil {
			return 0, fmt.Errorf("bad duration %q", truncate(orig, 30))
		}
		var unit float64
		switch c := s[i]; {
		case c == 'Y' && !inTime:
			unit = 365 * 24 * 3600
		case c == 'M' && !inTime:
			unit = 30 * 24 * 3600
		case c == 'W' && !inTime:
			unit = 7 * 24 * 3600
		case c == 'D' && !inTime:
			unit = 24 * 3600
		case c == 'H' && inTime:
			unit = 3600
		case c == 'M' && inTime:
			unit = 60
		case c == 'S' && inTime:
			unit = 1
		default:
			return 0, fmt.Errorf("bad duration %q", truncate(orig, 30))
		}
		d += v * unit
		parts++
		s = s[i+1:]
	}
	if parts == 0 {
		return 0, fmt.Errorf("bad duration %q", truncate(orig, 30))
	}
	if d > 1e9 {
		return 0, fmt.Errorf("duration too long %q", truncate(orig, 30))
	}
	r := time.Duration(d * float64(time.Second))
	if neg {
		r = -r
	}
	return r, nil
}

// formatXSDDuration formats d as PTnS (milliseconds precision).
func formatXSDDuration(d time.Duration) string {
	if d%time.Second == 0 {
		return fmt.Sprintf("PT%dS", int64(d/time.Second))
	}
	return "PT" + strconv.FormatFloat(d.Seconds(), 'f', 3, 64) + "S"
}
