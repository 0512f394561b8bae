package camsim

import (
	"fmt"
	"strings"
	"time"
)

// Dialect selects how a simulated camera speaks ONVIF, modelled on real vendors.
type Dialect string

// Supported dialects.
const (
	// DialectHikvision: "env:" envelope with a long namespace list and hikvision
	// extension namespaces, WS-Security UsernameToken OR HTTP Digest (either is
	// accepted; a request with neither gets 401 with a Digest challenge),
	// GetServices and GetCapabilities, Media2, an H.265 profile, dates without
	// fractional seconds, POSIX time zone "CST-9:00:00".
	DialectHikvision Dialect = "hikvision"
	// DialectAxis: gSOAP-style "SOAP-ENV:" envelope with Axis vendor namespaces,
	// WS-Security only (HTTP Digest is ignored; failures are 400 with a
	// ter:NotAuthorized fault), GetServices (pre-auth) and Media2, an H.265
	// profile, dates with milliseconds, time zone "KST-9".
	DialectAxis Dialect = "axis"
	// DialectDahua: compact one-line "s:" envelope declaring only what it uses,
	// HTTP Digest only (WS-Security headers are ignored), GetCapabilities only
	// (GetServices and Media2 answer ActionNotSupported), no H.265, local-time
	// dates without a zone designator, time zone "GMT+09:00".
	DialectDahua Dialect = "dahua"
)

// Dialects lists every supported dialect.
var Dialects = []Dialect{DialectHikvision, DialectAxis, DialectDahua}

// Logical profile names accepted by RTSPURL and SnapshotURL.
const (
	ProfileMain = "main"
	ProfileSub  = "sub"
	ProfileH265 = "h265"
)

type profileDef struct {
	logical  string // ProfileMain...
	token    string // ONVIF profile token
	name     string
	rtspPath string // path and query as the client sends it
	clip     string // clip file for H.264 main is chosen by keyframe interval
	encoding string // H264 / H265
	bitrate  int
}

type dialect struct {
	name        Dialect
	env         string // SOAP envelope prefix
	wsa         string // WS-Addressing prefix
	compact     bool   // one line, only used namespaces
	xmlDecl     string
	extraNS     [][2]string // vendor namespaces declared on the envelope
	wsse        bool        // accepts WS-Security UsernameToken
	digest      bool        // accepts HTTP Digest
	services    bool        // GetServices supported
	media2      bool
	preAuth     map[string]bool // operations answered without credentials
	timeFmt     string
	localTime   bool // dates in camera local time without zone
	tz          string
	utcOffset   time.Duration
	manufacture string
	model       string
	ptzModel    string
	firmware    string
	hardware    string
	paths       struct{ device, media, media2, ptz, events string }
	profiles    []profileDef
	snapPath    string // fmt with profile logical name
	motionTopic string
	tamperTopic string
	vendorExt   string // extra XML inside GetDeviceInformation-ish vendor extension of capabilities
}

var dialects = map[Dialect]*dialect{
	DialectHikvision: {
		name: DialectHikvision, env: "env", wsa: "wsa", xmlDecl: `<?xml version="1.0" encoding="UTF-8"?>` + "\n",
		extraNS: [][2]string{
			{"hikwsd", "http://www.onvifext.com/onvif/ext/ver10/wsdl"},
			{"hikxsd", "http://www.onvifext.com/onvif/ext/ver10/schema"},
		},
		wsse: true, digest: true, services: true, media2: true,
		preAuth:     map[string]bool{"GetSystemDateAndTime": true},
		timeFmt:     "2006-01-02T15:04:05Z",
		tz:          "CST-9:00:00",
		utcOffset:   9 * time.Hour,
		manufacture: "HIKVISION", model: "DS-2CD2143G2-I", ptzModel: "DS-2DE4425IW-DE",
		firmware: "V5.7.3 build 220112", hardware: "88",
		paths: struct{ device, media, media2, ptz, events string }{
			"/onvif/device_service", "/onvif/Media", "/onvif/Media2", "/onvif/PTZ", "/onvif/Events"},
		profiles: []profileDef{
			{ProfileMain, "Profile_1", "mainStream", "/Streaming/Channels/101", "", "H264", 2048},
			{ProfileSub, "Profile_2", "subStream", "/Streaming/Channels/102", "sub_gop2s.h264", "H264", 256},
			{ProfileH265, "Profile_3", "thirdStream", "/Streaming/Channels/103", "h265_gop2s.h265", "H265", 1024},
		},
		snapPath:    "/onvif/snapshot/%s",
		motionTopic: "tns1:RuleEngine/CellMotionDetector/Motion",
		tamperTopic: "tns1:RuleEngine/TamperDetector/Tamper",
		vendorExt:   `<hikxsd:hikCapabilities><hikxsd:XAddr>%s</hikxsd:XAddr><hikxsd:IOInputSupport>true</hikxsd:IOInputSupport><hikxsd:PrivacyMaskSupport>true</hikxsd:PrivacyMaskSupport></hikxsd:hikCapabilities>`,
	},
	DialectAxis: {
		name: DialectAxis, env: "SOAP-ENV", wsa: "wsa5", xmlDecl: `<?xml version="1.0" encoding="UTF-8"?>` + "\n",
		extraNS: [][2]string{
			{"aev", "http://www.axis.com/vapix/ws/event1"},
			{"tnsaxis", "http://www.axis.com/2009/event/topics"},
			{"acert", "http://www.axis.com/vapix/ws/cert"},
		},
		wsse: true, services: true, media2: true,
		preAuth:     map[string]bool{"GetSystemDateAndTime": true, "GetServices": true, "GetWsdlUrl": true},
		timeFmt:     "2006-01-02T15:04:05.000Z",
		tz:          "KST-9",
		utcOffset:   9 * time.Hour,
		manufacture: "AXIS", model: "P3245-V", ptzModel: "Q6075-E",
		firmware: "10.12.114", hardware: "7E7",
		paths: struct{ device, media, media2, ptz, events string }{
			"/onvif/device_service", "/onvif/services", "/onvif/services", "/onvif/services", "/onvif/services"},
		profiles: []profileDef{
			{ProfileMain, "profile_1_h264", "profile_1 h264", "/onvif-media/media.amp?profile=profile_1_h264&sessiontimeout=60&streamtype=unicast", "", "H264", 2000},
			{ProfileSub, "profile_2_h264", "profile_2 h264", "/onvif-media/media.amp?profile=profile_2_h264&sessiontimeout=60&streamtype=unicast", "sub_gop2s.h264", "H264", 300},
			{ProfileH265, "profile_1_h265", "profile_1 h265", "/onvif-media/media.amp?profile=profile_1_h265&sessiontimeout=60&streamtype=unicast", "h265_gop2s.h265", "H265", 1000},
		},
		snapPath:    "/onvif-cgi/jpg/image.cgi?profile=%s",
		motionTopic: "tns1:VideoSource/MotionAlarm",
		tamperTopic: "tns1:VideoSource/GlobalSceneChange/ImagingService",
	},
	DialectDahua: {
		name: DialectDahua, env: "s", wsa: "wsa", compact: true,
		xmlDecl: `<?xml version="1.0" encoding="utf-8" standalone="yes" ?>`,
		digest:  true,
		preAuth: map[string]bool{"GetSystemDateAndTime": true},
		timeFmt: "2006-01-02T15:04:05", localTime: true,
		tz:          "GMT+09:00",
		utcOffset:   9 * time.Hour,
		manufacture: "Dahua", model: "IPC-HFW2431S-S-S2", ptzModel: "SD49225XA-HNR",
		firmware: "2.800.0000000.25.R, Build Date 2021-07-28", hardware: "1.00",
		paths: struct{ device, media, media2, ptz, events string }{
			"/onvif/device_service", "/onvif/media_service", "", "/onvif/ptz_service", "/onvif/event_service"},
		profiles: []profileDef{
			{ProfileMain, "MediaProfile000", "MediaProfile_Channel1_MainStream", "/cam/realmonitor?channel=1&subtype=0&unicast=true&proto=Onvif", "", "H264", 2048},
			{ProfileSub, "MediaProfile001", "MediaProfile_Channel1_SubStream1", "/cam/realmonitor?channel=1&subtype=1&unicast=true&proto=Onvif", "sub_gop2s.h264", "H264", 512},
		},
		snapPath:    "/onvifsnapshot/media_service/snapshot?channel=1&subtype=%s",
		motionTopic: "tns1:VideoSource/MotionAlarm",
		tamperTopic: "tns1:VideoSource/GlobalSceneChange/ImagingService",
	},
}

// standard namespaces every template may use.
var stdNS = [][2]string{
	{"xsi", "http://www.w3.org/2001/XMLSchema-instance"},
	{"xs", "http://www.w3.org/2001/XMLSchema"},
	{"tt", "http://www.onvif.org/ver10/schema"},
	{"tds", "http://www.onvif.org/ver10/device/wsdl"},
	{"trt", "http://www.onvif.org/ver10/media/wsdl"},
	{"tr2", "http://www.onvif.org/ver20/media/wsdl"},
	{"tptz", "http://www.onvif.org/ver20/ptz/wsdl"},
	{"tev", "http://www.onvif.org/ver10/events/wsdl"},
	{"wsnt", "http://docs.oasis-open.org/wsn/b-2"},
	{"wstop", "http://docs.oasis-open.org/wsn/t-1"},
	{"tns1", "http://www.onvif.org/ver10/topics"},
	{"ter", "http://www.onvif.org/ver10/error"},
	{"wsrf-bf", "http://docs.oasis-open.org/wsrf/bf-2"},
	{"wsrf-rw", "http://docs.oasis-open.org/wsrf/rw-2"},
}

const (
	nsSOAP12 = "http://www.w3.org/2003/05/soap-envelope"
	nsSOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
	nsWSA    = "http://www.w3.org/2005/08/addressing"
	nsDevice = "http://www.onvif.org/ver10/device/wsdl"
	nsMedia  = "http://www.onvif.org/ver10/media/wsdl"
	nsMedia2 = "http://www.onvif.org/ver20/media/wsdl"
	nsPTZ    = "http://www.onvif.org/ver20/ptz/wsdl"
	nsEvents = "http://www.onvif.org/ver10/events/wsdl"
	nsWSNT   = "http://docs.oasis-open.org/wsn/b-2"
)

// envelopeOpen returns the opening of a response envelope for this dialect.
// body is scanned in compact dialects so only used prefixes are declared.
func (d *dialect) envelopeOpen(body string) string {
	var b strings.Builder
	b.WriteString(d.xmlDecl)
	sep := "\n  "
	if d.compact {
		sep = " "
	}
	fmt.Fprintf(&b, "<%s:Envelope", d.env)
	decl := func(p, u string) {
		if d.compact && !strings.Contains(body, p+":") {
			return
		}
		fmt.Fprintf(&b, "%sxmlns:%s=\"%s\"", sep, p, u)
	}
	fmt.Fprintf(&b, "%sxmlns:%s=\"%s\"", sep, d.env, nsSOAP12)
	decl("sc", "http://www.w3.org/2003/05/soap-encoding")
	for _, ns := range stdNS {
		decl(ns[0], ns[1])
	}
	decl(d.wsa, nsWSA)
	for _, ns := range d.extraNS {
		decl(ns[0], ns[1])
	}
	b.WriteString(">")
	return b.String()
}

// formatTime renders t as this dialect writes xs:dateTime values.
func (d *dialect) formatTime(t time.Time) string {
	if d.localTime {
		return t.UTC().Add(d.utcOffset).Format(d.timeFmt)
	}
	return t.UTC().Format(d.timeFmt)
}

func (d *dialect) profile(logical string) *profileDef {
	for i := range d.profiles {
		if d.profiles[i].logical == logical {
			return &d.profiles[i]
		}
	}
	return nil
}

// profileIndex is the position of p among the dialect's profiles.
func (d *dialect) profileIndex(p *profileDef) int {
	for i := range d.profiles {
		if &d.profiles[i] == p {
			return i
		}
	}
	return -1
}

// credPath is the stream path of profile i for Quirks.CredentialsInPath.
func credPath(user, pass string, i int) string {
	return fmt.Sprintf("/user=%s_password=%s_channel=1_stream=%d.sdp", user, pass, i)
}

func (d *dialect) profileByToken(token string) *profileDef {
	for i := range d.profiles {
		if d.profiles[i].token == token {
			return &d.profiles[i]
		}
	}
	return nil
}
