package camsim

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

type opFunc func(c *Camera, r *http.Request, req *request) (string, *soapError)

type opKey struct{ ns, action string }

var ops map[opKey]opFunc

func init() {
	ops = map[opKey]opFunc{
		{nsDevice, "GetDeviceInformation"}:        (*Camera).opGetDeviceInformation,
		{nsDevice, "GetSystemDateAndTime"}:        (*Camera).opGetSystemDateAndTime,
		{nsDevice, "SetSystemDateAndTime"}:        (*Camera).opSetSystemDateAndTime,
		{nsDevice, "GetCapabilities"}:             (*Camera).opGetCapabilities,
		{nsDevice, "GetServices"}:                 (*Camera).opGetServices,
		{nsDevice, "GetScopes"}:                   (*Camera).opGetScopes,
		{nsDevice, "GetNetworkInterfaces"}:        (*Camera).opGetNetworkInterfaces,
		{nsDevice, "GetNTP"}:                      (*Camera).opGetNTP,
		{nsDevice, "SetNTP"}:                      (*Camera).opSetNTP,
		{nsDevice, "SystemReboot"}:                (*Camera).opSystemReboot,
		{nsDevice, "GetUsers"}:                    (*Camera).opGetUsers,
		{nsDevice, "GetHostname"}:                 (*Camera).opGetHostname,
		{nsMedia, "GetProfiles"}:                  (*Camera).opGetProfiles,
		{nsMedia, "GetProfile"}:                   (*Camera).opGetProfile,
		{nsMedia, "GetVideoSources"}:              (*Camera).opGetVideoSources,
		{nsMedia, "GetStreamUri"}:                 (*Camera).opGetStreamUri,
		{nsMedia, "GetSnapshotUri"}:               (*Camera).opGetSnapshotUri,
		{nsMedia2, "GetProfiles"}:                 (*Camera).opMedia2GetProfiles,
		{nsMedia2, "GetStreamUri"}:                (*Camera).opMedia2GetStreamUri,
		{nsMedia2, "GetSnapshotUri"}:              (*Camera).opMedia2GetSnapshotUri,
		{nsPTZ, "GetNodes"}:                       (*Camera).opPTZGetNodes,
		{nsPTZ, "GetStatus"}:                      (*Camera).opPTZGetStatus,
		{nsPTZ, "ContinuousMove"}:                 (*Camera).opPTZContinuousMove,
		{nsPTZ, "Stop"}:                           (*Camera).opPTZStop,
		{nsPTZ, "AbsoluteMove"}:                   (*Camera).opPTZAbsoluteMove,
		{nsPTZ, "GetPresets"}:                     (*Camera).opPTZGetPresets,
		{nsPTZ, "SetPreset"}:                      (*Camera).opPTZSetPreset,
		{nsPTZ, "GotoPreset"}:                     (*Camera).opPTZGotoPreset,
		{nsEvents, "GetEventProperties"}:          (*Camera).opGetEventProperties,
		{nsEvents, "CreatePullPointSubscription"}: (*Camera).opCreatePullPoint,
		{nsEvents, "PullMessages"}:                (*Camera).opPullMessages,
		{nsWSNT, "Renew"}:                         (*Camera).opRenew,
		{nsWSNT, "Unsubscribe"}:                   (*Camera).opUnsubscribe,
	}
}

func actionNotSupported(action string) *soapError {
	return &soapError{status: http.StatusInternalServerError, code: "Receiver", subcode: "ter:ActionNotSupported",
		reason: "Optional Action Not Implemented: " + action}
}

// streamURIFault is what a camera whose stream is not configured answers
// to GetStreamUri.
func streamURIFault() *soapError {
	return &soapError{status: http.StatusInternalServerError, code: "Receiver", subcode: "ter:Action", reason: "GetStreamUri failed: stream is not configured"}
}

func invalidArg(sub, reason string) *soapError {
	return &soapError{status: http.StatusBadRequest, code: "Sender", subcode: "ter:InvalidArgVal", sub2: sub, reason: reason}
}

func (c *Camera) dispatch(r *http.Request, req *request) (string, *soapError) {
	switch {
	case req.ns == nsMedia2 && !c.d.media2,
		req.ns == nsPTZ && !c.cfg.PTZ,
		req.ns == nsDevice && req.action == "GetServices" && !c.d.services:
		return "", actionNotSupported(req.action)
	}
	f, ok := ops[opKey{req.ns, req.action}]
	if !ok {
		return "", actionNotSupported(req.action)
	}
	return f(c, r, req)
}

// ---- Device ----

func (c *Camera) opGetDeviceInformation(_ *http.Request, _ *request) (string, *soapError) {
	return fmt.Sprintf(`<tds:GetDeviceInformationResponse><tds:Manufacturer>%s</tds:Manufacturer><tds:Model>%s</tds:Model><tds:FirmwareVersion>%s</tds:FirmwareVersion><tds:SerialNumber>%s</tds:SerialNumber><tds:HardwareId>%s</tds:HardwareId></tds:GetDeviceInformationResponse>`,
		xmlEscape(c.cfg.Manufacturer), xmlEscape(c.cfg.Model), xmlEscape(c.cfg.FirmwareVersion), xmlEscape(c.cfg.SerialNumber), xmlEscape(c.cfg.HardwareID)), nil
}

func dateTimeXML(prefix string, t time.Time) string {
	return fmt.Sprintf(`<%[1]s><tt:Time><tt:Hour>%d</tt:Hour><tt:Minute>%d</tt:Minute><tt:Second>%d</tt:Second></tt:Time><tt:Date><tt:Year>%d</tt:Year><tt:Month>%d</tt:Month><tt:Day>%d</tt:Day></tt:Date></%[1]s>`,
		prefix, t.Hour(), t.Minute(), t.Second(), t.Year(), int(t.Month()), t.Day())
}

func (c *Camera) opGetSystemDateAndTime(_ *http.Request, _ *request) (string, *soapError) {
	if c.Faults().ClockFault {
		return "", actionNotSupported("GetSystemDateAndTime")
	}
	now := c.now().UTC()
	c.mu.Lock()
	typ := "Manual"
	if c.dateTimeNTP {
		typ = "NTP"
	}
	c.mu.Unlock()
	local := dateTimeXML("tt:LocalDateTime", now.Add(c.d.utcOffset))
	return fmt.Sprintf(`<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime><tt:DateTimeType>%s</tt:DateTimeType><tt:DaylightSavings>false</tt:DaylightSavings><tt:TimeZone><tt:TZ>%s</tt:TZ></tt:TimeZone>%s%s</tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>`,
		typ, c.d.tz, dateTimeXML("tt:UTCDateTime", now), local), nil
}

func (c *Camera) opSetSystemDateAndTime(_ *http.Request, req *request) (string, *soapError) {
	typ := req.op.textAt("DateTimeType")
	switch typ {
	case "NTP":
		c.mu.Lock()
		c.dateTimeNTP = true
		c.manualOffset = -c.faults.ClockDrift // NTP sync corrects the drift
		c.mu.Unlock()
	case "Manual":
		u := req.op.find("UTCDateTime")
		if u == nil {
			return "", invalidArg("ter:InvalidDateTime", "UTCDateTime required for Manual")
		}
		var v [6]int
		for i, p := range [][2]string{{"Date", "Year"}, {"Date", "Month"}, {"Date", "Day"}, {"Time", "Hour"}, {"Time", "Minute"}, {"Time", "Second"}} {
			n, err := strconv.Atoi(u.textAt(p[0], p[1]))
			if err != nil {
				return "", invalidArg("ter:InvalidDateTime", "bad "+p[1])
			}
			v[i] = n
		}
		t := time.Date(v[0], time.Month(v[1]), v[2], v[3], v[4], v[5], 0, time.UTC)
		if v[0] < 1970 || v[0] > 2100 || int(t.Month()) != v[1] || t.Day() != v[2] || v[3] > 23 || v[4] > 59 || v[5] > 59 {
			return "", invalidArg("ter:InvalidDateTime", "date or time out of range")
		}
		c.mu.Lock()
		c.dateTimeNTP = false
		c.manualOffset = time.Until(t) - c.faults.ClockDrift
		c.mu.Unlock()
	default:
		return "", invalidArg("ter:InvalidArgVal", "DateTimeType must be Manual or NTP")
	}
	return `<tds:SetSystemDateAndTimeResponse/>`, nil
}

func (c *Camera) xaddrs() (device, media, media2, ptz, events string) {
	base := c.httpURL("")
	p := c.d.paths
	device, media, events = base+p.device, base+p.media, base+p.events
	if c.d.media2 {
		media2 = base + p.media2
	}
	if c.cfg.PTZ {
		ptz = base + p.ptz
	}
	return
}

func (c *Camera) opGetCapabilities(_ *http.Request, req *request) (string, *soapError) {
	cat := "All"
	if n := req.op.child("Category"); n != nil {
		cat = strings.TrimSpace(n.text)
	}
	dev, media, _, ptz, events := c.xaddrs()
	var b strings.Builder
	b.WriteString(`<tds:GetCapabilitiesResponse><tds:Capabilities>`)
	all := cat == "All"
	if all || cat == "Device" {
		fmt.Fprintf(&b, `<tt:Device><tt:XAddr>%s</tt:XAddr><tt:Network><tt:IPFilter>false</tt:IPFilter><tt:ZeroConfiguration>false</tt:ZeroConfiguration><tt:IPVersion6>false</tt:IPVersion6><tt:DynDNS>false</tt:DynDNS></tt:Network><tt:System><tt:DiscoveryResolve>false</tt:DiscoveryResolve><tt:DiscoveryBye>true</tt:DiscoveryBye><tt:RemoteDiscovery>false</tt:RemoteDiscovery><tt:SystemBackup>false</tt:SystemBackup><tt:SystemLogging>false</tt:SystemLogging><tt:FirmwareUpgrade>true</tt:FirmwareUpgrade><tt:SupportedVersions><tt:Major>2</tt:Major><tt:Minor>60</tt:Minor></tt:SupportedVersions></tt:System><tt:Security><tt:TLS1.1>false</tt:TLS1.1><tt:TLS1.2>false</tt:TLS1.2><tt:OnboardKeyGeneration>false</tt:OnboardKeyGeneration><tt:AccessPolicyConfig>false</tt:AccessPolicyConfig><tt:X.509Token>false</tt:X.509Token><tt:SAMLToken>false</tt:SAMLToken><tt:KerberosToken>false</tt:KerberosToken><tt:RELToken>false</tt:RELToken></tt:Security></tt:Device>`, dev)
	}
	if all || cat == "Events" {
		fmt.Fprintf(&b, `<tt:Events><tt:XAddr>%s</tt:XAddr><tt:WSSubscriptionPolicySupport>false</tt:WSSubscriptionPolicySupport><tt:WSPullPointSupport>true</tt:WSPullPointSupport><tt:WSPausableSubscriptionManagerInterfaceSupport>false</tt:WSPausableSubscriptionManagerInterfaceSupport></tt:Events>`, events)
	}
	if all || cat == "Media" {
		fmt.Fprintf(&b, `<tt:Media><tt:XAddr>%s</tt:XAddr><tt:StreamingCapabilities><tt:RTPMulticast>false</tt:RTPMulticast><tt:RTP_TCP>true</tt:RTP_TCP><tt:RTP_RTSP_TCP>true</tt:RTP_RTSP_TCP></tt:StreamingCapabilities></tt:Media>`, media)
	}
	if (all || cat == "PTZ") && ptz != "" {
		fmt.Fprintf(&b, `<tt:PTZ><tt:XAddr>%s</tt:XAddr></tt:PTZ>`, ptz)
	}
	if all && c.d.name == DialectHikvision {
		fmt.Fprintf(&b, `<tt:Extension><hikxsd:hikCapabilities><hikxsd:XAddr>%s</hikxsd:XAddr><hikxsd:IOInputSupport>true</hikxsd:IOInputSupport><hikxsd:PrivacyMaskSupport>true</hikxsd:PrivacyMaskSupport></hikxsd:hikCapabilities></tt:Extension>`, dev)
	}
	b.WriteString(`</tds:Capabilities></tds:GetCapabilitiesResponse>`)
	return b.String(), nil
}

func (c *Camera) opGetServices(_ *http.Request, req *request) (string, *soapError) {
	inclCaps := req.op.textAt("IncludeCapability") == "true"
	dev, media, media2, ptz, events := c.xaddrs()
	var b strings.Builder
	b.WriteString(`<tds:GetServicesResponse>`)
	svc := func(ns, addr string, major, minor int, caps string) {
		if addr == "" {
			return
		}
		fmt.Fprintf(&b, `<tds:Service><tds:Namespace>%s</tds:Namespace><tds:XAddr>%s</tds:XAddr>`, ns, addr)
		if inclCaps {
			fmt.Fprintf(&b, `<tds:Capabilities>%s</tds:Capabilities>`, caps)
		}
		fmt.Fprintf(&b, `<tds:Version><tt:Major>%d</tt:Major><tt:Minor>%d</tt:Minor></tds:Version></tds:Service>`, major, minor)
	}
	svc(nsDevice, dev, 19, 6, `<tds:Capabilities><tds:Network IPFilter="false" ZeroConfiguration="false" IPVersion6="false" DynDNS="false" NTP="1"/><tds:Security UsernameToken="`+strconv.FormatBool(c.d.wsse)+`" HttpDigest="`+strconv.FormatBool(c.d.digest)+`"/><tds:System DiscoveryBye="true" SystemLogging="false" FirmwareUpgrade="true"/></tds:Capabilities>`)
	svc(nsMedia, media, 18, 12, `<trt:Capabilities SnapshotUri="true" Rotation="false"><trt:ProfileCapabilities MaximumNumberOfProfiles="`+strconv.Itoa(len(c.d.profiles))+`"/><trt:StreamingCapabilities RTPMulticast="false" RTP_TCP="true" RTP_RTSP_TCP="true"/></trt:Capabilities>`)
	svc(nsMedia2, media2, 20, 6, `<tr2:Capabilities SnapshotUri="true" Rotation="false"><tr2:ProfileCapabilities MaximumNumberOfProfiles="`+strconv.Itoa(len(c.d.profiles))+`"/><tr2:StreamingCapabilities RTSPStreaming="true" RTPMulticast="false" RTP_RTSP_TCP="true"/></tr2:Capabilities>`)
	svc(nsEvents, events, 19, 6, `<tev:Capabilities WSSubscriptionPolicySupport="false" WSPullPointSupport="true" MaxPullPoints="8"/>`)
	svc(nsPTZ, ptz, 20, 12, `<tptz:Capabilities EFlip="false" Reverse="false" GetCompatibleConfigurations="false"/>`)
	b.WriteString(`</tds:GetServicesResponse>`)
	return b.String(), nil
}

func (c *Camera) scopes() []string {
	s := []string{
		"onvif://www.onvif.org/type/video_encoder",
		"onvif://www.onvif.org/Profile/Streaming",
		"onvif://www.onvif.org/Profile/T",
		"onvif://www.onvif.org/hardware/" + c.cfg.Model,
		"onvif://www.onvif.org/name/" + scopeEscape(c.cfg.Name),
		"onvif://www.onvif.org/location/" + scopeEscape(c.cfg.Location),
	}
	if c.cfg.PTZ {
		s = append(s, "onvif://www.onvif.org/type/ptz")
	}
	switch c.d.name {
	case DialectHikvision:
		s = append(s, "onvif://www.onvif.org/MAC/"+c.mac())
	case DialectDahua:
		s = append(s, "onvif://www.onvif.org/serial/"+c.cfg.SerialNumber)
	}
	return s
}

func scopeEscape(s string) string {
	return strings.NewReplacer(" ", "%20", "\t", "%09").Replace(s)
}

func (c *Camera) mac() string {
	h := c.uuid
	return fmt.Sprintf("%s:%s:%s:%s:%s:%s", "44", "19", "b6", h[0:2], h[2:4], h[4:6])
}

func (c *Camera) opGetScopes(_ *http.Request, _ *request) (string, *soapError) {
	var b strings.Builder
	b.WriteString(`<tds:GetScopesResponse>`)
	for _, s := range c.scopes() {
		def := "Fixed"
		if strings.Contains(s, "/name/") || strings.Contains(s, "/location/") {
			def = "Configurable"
		}
		fmt.Fprintf(&b, `<tds:Scopes><tt:ScopeDef>%s</tt:ScopeDef><tt:ScopeItem>%s</tt:ScopeItem></tds:Scopes>`, def, xmlEscape(s))
	}
	b.WriteString(`</tds:GetScopesResponse>`)
	return b.String(), nil
}

func (c *Camera) opGetNetworkInterfaces(_ *http.Request, _ *request) (string, *soapError) {
	return fmt.Sprintf(`<tds:GetNetworkInterfacesResponse><tds:NetworkInterfaces token="eth0"><tt:Enabled>true</tt:Enabled><tt:Info><tt:Name>eth0</tt:Name><tt:HwAddress>%s</tt:HwAddress><tt:MTU>1500</tt:MTU></tt:Info><tt:Link><tt:AdminSettings><tt:AutoNegotiation>true</tt:AutoNegotiation><tt:Speed>100</tt:Speed><tt:Duplex>Full</tt:Duplex></tt:AdminSettings><tt:OperSettings><tt:AutoNegotiation>true</tt:AutoNegotiation><tt:Speed>100</tt:Speed><tt:Duplex>Full</tt:Duplex></tt:OperSettings><tt:InterfaceType>6</tt:InterfaceType></tt:Link><tt:IPv4><tt:Enabled>true</tt:Enabled><tt:Config><tt:Manual><tt:Address>%s</tt:Address><tt:PrefixLength>24</tt:PrefixLength></tt:Manual><tt:DHCP>false</tt:DHCP></tt:Config></tt:IPv4></tds:NetworkInterfaces></tds:GetNetworkInterfacesResponse>`,
		c.mac(), c.cfg.Host), nil
}

func (c *Camera) opGetNTP(_ *http.Request, _ *request) (string, *soapError) {
	c.mu.Lock()
	ntp, dhcp := c.ntp, c.ntpDHCP
	c.mu.Unlock()
	typ, tag := "DNS", "DNSname"
	if isIPv4(ntp) {
		typ, tag = "IPv4", "IPv4Address"
	}
	list := "NTPManual"
	if dhcp {
		list = "NTPFromDHCP"
	}
	return fmt.Sprintf(`<tds:GetNTPResponse><tds:NTPInformation><tt:FromDHCP>%t</tt:FromDHCP><tt:%s><tt:Type>%s</tt:Type><tt:%s>%s</tt:%s></tt:%s></tds:NTPInformation></tds:GetNTPResponse>`,
		dhcp, list, typ, tag, xmlEscape(ntp), tag, list), nil
}

func isIPv4(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 4 {
		return false
	}
	for _, p := range parts {
		if n, err := strconv.Atoi(p); err != nil || n < 0 || n > 255 {
			return false
		}
	}
	return true
}

func (c *Camera) opSetNTP(_ *http.Request, req *request) (string, *soapError) {
	dhcp := req.op.textAt("FromDHCP")
	if dhcp != "true" && dhcp != "false" {
		return "", invalidArg("ter:InvalidArgVal", "FromDHCP must be a boolean")
	}
	server := ""
	if m := req.op.child("NTPManual"); m != nil {
		server = m.textAt("DNSname")
		if server == "" {
			server = m.textAt("IPv4Address")
		}
	}
	if dhcp == "false" && server == "" {
		return "", invalidArg("ter:InvalidArgVal", "NTPManual required")
	}
	if len(server) > 255 {
		return "", invalidArg("ter:InvalidArgVal", "NTP server name too long")
	}
	c.mu.Lock()
	c.ntpDHCP = dhcp == "true"
	if server != "" {
		c.ntp = server
	}
	c.mu.Unlock()
	return `<tds:SetNTPResponse/>`, nil
}

func (c *Camera) opSystemReboot(_ *http.Request, req *request) (string, *soapError) {
	req.rebootAfter = true // ServeHTTP reboots once this answer is flushed
	return `<tds:SystemRebootResponse><tds:Message>Rebooting in ` + strconv.Itoa(int(c.cfg.RebootDuration.Seconds())) + ` seconds.</tds:Message></tds:SystemRebootResponse>`, nil
}

func (c *Camera) opGetUsers(_ *http.Request, _ *request) (string, *soapError) {
	return fmt.Sprintf(`<tds:GetUsersResponse><tds:User><tt:Username>%s</tt:Username><tt:UserLevel>Administrator</tt:UserLevel></tds:User><tds:User><tt:Username>operator</tt:Username><tt:UserLevel>Operator</tt:UserLevel></tds:User></tds:GetUsersResponse>`,
		xmlEscape(c.cfg.Username)), nil
}

func (c *Camera) opGetHostname(_ *http.Request, _ *request) (string, *soapError) {
	return `<tds:GetHostnameResponse><tds:HostnameInformation><tt:FromDHCP>false</tt:FromDHCP><tt:Name>` + xmlEscape(c.cfg.ID) + `</tt:Name></tds:HostnameInformation></tds:GetHostnameResponse>`, nil
}

// ---- Media ver10 ----

func (c *Camera) clipFor(p *profileDef) *clip {
	if p.clip == "" {
		return c.main
	}
	return c.clips[p.clip]
}

func (c *Camera) profileXML(p *profileDef, tag string) string {
	cl := c.clipFor(p)
	gov := keyInterval(cl)
	enc := fmt.Sprintf(`<tt:VideoEncoderConfiguration token="VideoEncoderToken_%[1]s"><tt:Name>VideoEncoder_%[1]s</tt:Name><tt:UseCount>1</tt:UseCount><tt:Encoding>%[2]s</tt:Encoding><tt:Resolution><tt:Width>%[3]d</tt:Width><tt:Height>%[4]d</tt:Height></tt:Resolution><tt:Quality>4</tt:Quality><tt:RateControl><tt:FrameRateLimit>%[5]d</tt:FrameRateLimit><tt:EncodingInterval>1</tt:EncodingInterval><tt:BitrateLimit>%[6]d</tt:BitrateLimit></tt:RateControl>`,
		p.token, p.encoding, cl.width, cl.height, clipFPS, p.bitrate)
	if p.encoding == "H264" {
		enc += fmt.Sprintf(`<tt:H264><tt:GovLength>%d</tt:GovLength><tt:H264Profile>Baseline</tt:H264Profile></tt:H264>`, gov)
	}
	enc += `<tt:Multicast><tt:Address><tt:Type>IPv4</tt:Type><tt:IPv4Address>0.0.0.0</tt:IPv4Address></tt:Address><tt:Port>0</tt:Port><tt:TTL>0</tt:TTL><tt:AutoStart>false</tt:AutoStart></tt:Multicast><tt:SessionTimeout>PT60S</tt:SessionTimeout></tt:VideoEncoderConfiguration>`
	ptz := ""
	if c.cfg.PTZ {
		ptz = `<tt:PTZConfiguration token="PTZToken"><tt:Name>PTZ</tt:Name><tt:UseCount>1</tt:UseCount><tt:NodeToken>PTZNodeToken</tt:NodeToken><tt:DefaultAbsolutePantTiltPositionSpace>http://www.onvif.org/ver10/tptz/PanTiltSpaces/PositionGenericSpace</tt:DefaultAbsolutePantTiltPositionSpace><tt:DefaultContinuousPanTiltVelocitySpace>http://www.onvif.org/ver10/tptz/PanTiltSpaces/VelocityGenericSpace</tt:DefaultContinuousPanTiltVelocitySpace><tt:DefaultPTZTimeout>PT5S</tt:DefaultPTZTimeout></tt:PTZConfiguration>`
	}
	return fmt.Sprintf(`<%[1]s token="%[2]s" fixed="true"><tt:Name>%[3]s</tt:Name><tt:VideoSourceConfiguration token="VideoSourceToken"><tt:Name>VideoSourceConfig</tt:Name><tt:UseCount>%[4]d</tt:UseCount><tt:SourceToken>VideoSource_1</tt:SourceToken><tt:Bounds x="0" y="0" width="640" height="360"></tt:Bounds></tt:VideoSourceConfiguration>%[5]s%[6]s</%[1]s>`,
		tag, p.token, xmlEscape(p.name), len(c.d.profiles), enc, ptz)
}

func keyInterval(cl *clip) int {
	for i := 1; i < len(cl.key); i++ {
		if cl.key[i] {
			return i
		}
	}
	return len(cl.key)
}

func (c *Camera) opGetProfiles(_ *http.Request, _ *request) (string, *soapError) {
	var b strings.Builder
	b.WriteString(`<trt:GetProfilesResponse>`)
	for i := range c.d.profiles {
		b.WriteString(c.profileXML(&c.d.profiles[i], "trt:Profiles"))
	}
	b.WriteString(`</trt:GetProfilesResponse>`)
	return b.String(), nil
}

func noProfile(token string) *soapError {
	return invalidArg("ter:NoProfile", "no such profile: "+token)
}

func (c *Camera) opGetProfile(_ *http.Request, req *request) (string, *soapError) {
	p := c.d.profileByToken(req.op.textAt("ProfileToken"))
	if p == nil {
		return "", noProfile(req.op.textAt("ProfileToken"))
	}
	return `<trt:GetProfileResponse>` + c.profileXML(p, "trt:Profile") + `</trt:GetProfileResponse>`, nil
}

func (c *Camera) opGetVideoSources(_ *http.Request, _ *request) (string, *soapError) {
	return fmt.Sprintf(`<trt:GetVideoSourcesResponse><trt:VideoSources token="VideoSource_1"><tt:Framerate>%d</tt:Framerate><tt:Resolution><tt:Width>640</tt:Width><tt:Height>360</tt:Height></tt:Resolution></trt:VideoSources></trt:GetVideoSourcesResponse>`, clipFPS), nil
}

func (c *Camera) mediaURI(tag, uri string) string {
	return fmt.Sprintf(`<%[1]s><tt:Uri>%[2]s</tt:Uri><tt:InvalidAfterConnect>false</tt:InvalidAfterConnect><tt:InvalidAfterReboot>false</tt:InvalidAfterReboot><tt:Timeout>PT0S</tt:Timeout></%[1]s>`, tag, xmlEscape(uri))
}

func (c *Camera) opGetStreamUri(_ *http.Request, req *request) (string, *soapError) {
	if c.Faults().StreamURIFault {
		return "", streamURIFault()
	}
	p := c.d.profileByToken(req.op.textAt("ProfileToken"))
	if p == nil {
		return "", noProfile(req.op.textAt("ProfileToken"))
	}
	if tr := req.op.textAt("StreamSetup", "Transport", "Protocol"); tr != "" && tr != "RTSP" && tr != "TCP" && tr != "UDP" {
		return "", invalidArg("ter:InvalidStreamSetup", "unsupported transport "+tr)
	}
	if st := req.op.textAt("StreamSetup", "Stream"); st == "RTP-Multicast" {
		return "", invalidArg("ter:InvalidStreamSetup", "multicast not supported")
	}
	return `<trt:GetStreamUriResponse>` + c.mediaURI("trt:MediaUri", c.RTSPURL(p.logical)) + `</trt:GetStreamUriResponse>`, nil
}

func (c *Camera) opGetSnapshotUri(_ *http.Request, req *request) (string, *soapError) {
	p := c.d.profileByToken(req.op.textAt("ProfileToken"))
	if p == nil {
		return "", noProfile(req.op.textAt("ProfileToken"))
	}
	return `<trt:GetSnapshotUriResponse>` + c.mediaURI("trt:MediaUri", c.SnapshotURL(p.logical)) + `</trt:GetSnapshotUriResponse>`, nil
}

// ---- Media2 ----

func (c *Camera) opMedia2GetProfiles(_ *http.Request, req *request) (string, *soapError) {
	want := req.op.textAt("Token")
	var b strings.Builder
	b.WriteString(`<tr2:GetProfilesResponse>`)
	found := false
	for _, p := range c.d.profiles {
		if want != "" && p.token != want {
			continue
		}
		found = true
		cl := c.clipFor(&p)
		gov := keyInterval(cl)
		fmt.Fprintf(&b, `<tr2:Profiles token="%[1]s" fixed="true"><tr2:Name>%[2]s</tr2:Name><tr2:Configurations><tr2:VideoSource token="VideoSourceToken"><tt:Name>VideoSourceConfig</tt:Name><tt:UseCount>%[3]d</tt:UseCount><tt:SourceToken>VideoSource_1</tt:SourceToken><tt:Bounds x="0" y="0" width="640" height="360"></tt:Bounds></tr2:VideoSource><tr2:VideoEncoder token="VideoEncoderToken_%[1]s" GovLength="%[4]d" Profile="%[5]s"><tt:Name>VideoEncoder_%[1]s</tt:Name><tt:UseCount>1</tt:UseCount><tt:Encoding>%[6]s</tt:Encoding><tt:Resolution><tt:Width>%[7]d</tt:Width><tt:Height>%[8]d</tt:Height></tt:Resolution><tt:RateControl ConstantBitRate="false"><tt:FrameRateLimit>%[9]d</tt:FrameRateLimit><tt:BitrateLimit>%[10]d</tt:BitrateLimit></tt:RateControl><tt:Quality>4</tt:Quality></tr2:VideoEncoder></tr2:Configurations></tr2:Profiles>`,
			p.token, xmlEscape(p.name), len(c.d.profiles), gov, map[bool]string{true: "Main", false: "Baseline"}[p.encoding == "H265"],
			p.encoding, cl.width, cl.height, clipFPS, p.bitrate)
	}
	if want != "" && !found {
		return "", noProfile(want)
	}
	b.WriteString(`</tr2:GetProfilesResponse>`)
	return b.String(), nil
}

func (c *Camera) opMedia2GetStreamUri(_ *http.Request, req *request) (string, *soapError) {
	if c.Faults().StreamURIFault {
		return "", streamURIFault()
	}
	p := c.d.profileByToken(req.op.textAt("ProfileToken"))
	if p == nil {
		return "", noProfile(req.op.textAt("ProfileToken"))
	}
	if pr := req.op.textAt("Protocol"); pr != "" && pr != "RTSP" && pr != "RtspUnicast" && pr != "RTSPoverHTTP" {
		return "", invalidArg("ter:InvalidStreamSetup", "unsupported protocol "+pr)
	}
	return `<tr2:GetStreamUriResponse><tr2:Uri>` + xmlEscape(c.RTSPURL(p.logical)) + `</tr2:Uri></tr2:GetStreamUriResponse>`, nil
}

func (c *Camera) opMedia2GetSnapshotUri(_ *http.Request, req *request) (string, *soapError) {
	p := c.d.profileByToken(req.op.textAt("ProfileToken"))
	if p == nil {
		return "", noProfile(req.op.textAt("ProfileToken"))
	}
	return `<tr2:GetSnapshotUriResponse><tr2:Uri>` + xmlEscape(c.SnapshotURL(p.logical)) + `</tr2:Uri></tr2:GetSnapshotUriResponse>`, nil
}
