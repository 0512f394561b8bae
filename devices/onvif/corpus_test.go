package onvif

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

const corpusDir = "testdata/corpus"

// check asserts what a corpus file really contains.
type check func(t *testing.T, v any, err error)

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func wantValue[T any](f func(t *testing.T, v T)) check {
	return func(t *testing.T, v any, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("parse: %v", err)
		}
		tv, ok := v.(T)
		if !ok {
			t.Fatalf("parsed %T, want %T", v, *new(T))
		}
		f(t, tv)
	}
}

func wantDeviceInfo(want DeviceInfo) check {
	return wantValue(func(t *testing.T, got DeviceInfo) {
		if got != want {
			t.Errorf("got %+v\nwant %+v", got, want)
		}
	})
}

func wantTime(tz string, u, local string) check {
	return wantValue(func(t *testing.T, got SystemDateAndTime) {
		if got.TimeZone != tz || !got.UTC.Equal(utc(u)) || !got.Local.Equal(utc(local)) {
			t.Errorf("got tz %q utc %v local %v, want %q %s %s", got.TimeZone, got.UTC, got.Local, tz, u, local)
		}
	})
}

func wantURI(uri string) check {
	return wantValue(func(t *testing.T, got string) {
		if got != uri {
			t.Errorf("uri %q, want %q", got, uri)
		}
	})
}

func wantFault(code string, subcodes []string, reasonPrefix string, is ...error) check {
	return func(t *testing.T, v any, err error) {
		t.Helper()
		var fe *FaultError
		if !errors.As(err, &fe) {
			t.Fatalf("got %v (%T), want *FaultError", err, err)
		}
		if fe.Code != code || !reflect.DeepEqual(fe.Subcodes, subcodes) || !strings.HasPrefix(fe.Reason, reasonPrefix) {
			t.Errorf("fault %q %q %q, want %q %q %q", fe.Code, fe.Subcodes, fe.Reason, code, subcodes, reasonPrefix)
		}
		if !errors.Is(err, ErrFault) {
			t.Error("fault does not match ErrFault")
		}
		for _, want := range append([]error{ErrUnauthorized, ErrNotSupported}, is...) {
			expected := false
			for _, w := range is {
				expected = expected || w == want
			}
			if errors.Is(err, want) != expected {
				t.Errorf("errors.Is(%v) = %v, want %v", want, !expected, expected)
			}
		}
	}
}

func wantMalformed(t *testing.T, v any, err error) {
	t.Helper()
	if !errors.Is(err, ErrMalformed) {
		t.Fatalf("got %v, want ErrMalformed", err)
	}
	if errors.Is(err, ErrFault) || v != nil {
		t.Errorf("malformed file gave %v / %v", v, err)
	}
}

func wantServicesList(n int, want map[string]string) check {
	return wantValue(func(t *testing.T, got []Service) {
		if len(got) != n {
			t.Errorf("%d services, want %d", len(got), n)
		}
		s := servicesFromList(got)
		for k, v := range want {
			if s.All[k] != v {
				t.Errorf("service %s = %q, want %q", k, s.All[k], v)
			}
		}
	})
}

func wantCaps(want Services) check {
	return wantValue(func(t *testing.T, got Services) {
		got.All, want.All = nil, nil
		if !reflect.DeepEqual(got, want) {
			t.Errorf("got %+v\nwant %+v", got, want)
		}
	})
}

func wantProfiles(want ...Profile) check {
	return wantValue(func(t *testing.T, got []Profile) {
		if len(got) != len(want) {
			t.Fatalf("%d profiles, want %d: %+v", len(got), len(want), got)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("profile %d:\n got %+v\nwant %+v", i, got[i], want[i])
			}
		}
	})
}

func wantScopes(n int, fields ScopeFields, contains ...string) check {
	return wantValue(func(t *testing.T, got []Scope) {
		items := make([]string, 0, len(got))
		for _, s := range got {
			items = append(items, s.Item)
		}
		if f := ParseScopes(items); !reflect.DeepEqual(f, fields) {
			t.Errorf("scope fields %+v, want %+v", f, fields)
		}
		if len(got) != n {
			t.Errorf("%d scopes, want %d", len(got), n)
		}
		for _, c := range contains {
			found := false
			for _, s := range got {
				found = found || s.Item == c
			}
			if !found {
				t.Errorf("scope %q missing", c)
			}
		}
	})
}

func wantPresets(n int, first Preset) check {
	return wantValue(func(t *testing.T, got []Preset) {
		if len(got) != n {
			t.Errorf("%d presets, want %d", len(got), n)
		}
		if len(got) > 0 && got[0] != first {
			t.Errorf("first preset %+v, want %+v", got[0], first)
		}
	})
}

func wantStatus(want PTZStatus) check {
	return wantValue(func(t *testing.T, got PTZStatus) {
		if got != want {
			t.Errorf("got %+v\nwant %+v", got, want)
		}
	})
}

func wantSubscription(addr, cur, term string, params int) check {
	return wantValue(func(t *testing.T, got Subscription) {
		if got.Address != addr || !got.CurrentTime.Equal(utc(cur)) || !got.TerminationTime.Equal(utc(term)) || len(got.ReferenceParameters) != params {
			t.Errorf("got %+v, want %s %s %s params %d", got, addr, cur, term, params)
		}
	})
}

// corpusChecks has one entry per corpus file: adding a file without an entry
// fails TestCorpus.
var corpusChecks = map[string]check{
	"_mocks/ex_onvif.Fault.NoProfile.MOCK.xml": wantFault("Sender", []string{"InvalidArgVal", "NoProfile"}, "Argument Value Invalid"),
	"amcrest-IP5M-B1186E/ProbeMatches.xml": wantValue(func(t *testing.T, got []Discovered) {
		if len(got) != 1 {
			t.Fatalf("%d matches", len(got))
		}
		d := got[0]
		if d.EndpointReference != "uuid:2a46daf1-86f6-91ad-5458-3d184eb186f6" || d.Name != "Amcrest" ||
			d.Hardware != "IP5M-B1186E" || d.Location != "country/china" || len(d.Scopes) != 7 ||
			!reflect.DeepEqual(d.XAddrs, []string{"http://192.168.0.205/onvif/device_service"}) ||
			!reflect.DeepEqual(d.Types, []string{"dn:NetworkVideoTransmitter", "tds:Device"}) ||
			!reflect.DeepEqual(d.Profiles, []string{"Streaming", "T"}) || d.MetadataVersion != 1 {
			t.Errorf("got %+v", d)
		}
	}),
	"axis-Q6045-E/CreatePullPointSubscription.xml": wantSubscription("http://192.168.0.19/onvif/services", "2018-02-27T23:10:30Z", "2018-03-27T23:10:30Z", 1),
	"axis-Q6045-E/GetCapabilities.xml": wantCaps(Services{Device: "http://192.168.0.19/onvif/device_service",
		Media: "http://192.168.0.19/onvif/services", PTZ: "http://192.168.0.19/onvif/services", Events: "http://192.168.0.19/onvif/services"}),
	"axis-Q6045-E/GetDeviceInformation.xml": wantDeviceInfo(DeviceInfo{"AXIS", "AXIS Q6045-E", "5.55.1.2", "00408CFAB754", "1C9.2"}),
	"axis-Q6045-E/GetPresets.xml": wantValue(func(t *testing.T, got []Preset) {
		if len(got) < 20 || got[0].Token != "22" || got[0].Name != "Living Room" || !got[0].HasPosition {
			t.Errorf("got %d presets, first %+v", len(got), got[0])
		}
	}),
	"axis-Q6045-E/GetProfiles.xml": wantProfiles(
		Profile{Token: "profile_1_h264", Name: "profile_1 h264", Encoding: "H264", Width: 1280, Height: 720, FrameRate: 30, HasPTZ: true, PTZNodeToken: "1", VideoSource: "0"},
		Profile{Token: "profile_1_jpeg", Name: "profile_1 jpeg", Encoding: "JPEG", Width: 1280, Height: 720, FrameRate: 30, HasPTZ: true, PTZNodeToken: "1", VideoSource: "0"}),
	"axis-Q6045-E/GetScopes.xml":         wantScopes(6, ScopeFields{Name: "AXIS Q6045-E", Hardware: "Q6045-E", Profiles: []string{"Streaming"}}, "onvif://www.onvif.org/name/AXIS%20Q6045-E", "onvif://www.onvif.org/hardware/Q6045-E"),
	"axis-Q6045-E/GetServices.Fault.xml": wantFault("Receiver", []string{"Action"}, "Action failed"),
	"axis-Q6045-E/GetSnapshotUri.xml":    wantURI("http://192.168.0.19/onvif-cgi/jpg/image.cgi?resolution=1280x720&compression=20"),
	"axis-Q6045-E/GetStatus.xml": wantStatus(PTZStatus{Position: PTZVector{-0.387339115, 0.933800578, 0}, HasPosition: true,
		PanTiltMove: "IDLE", ZoomMove: "IDLE", UTCTime: utc("2018-02-27T00:18:43Z")}),
	"axis-Q6045-E/GetStreamUri.xml":                wantURI("rtsp://192.168.0.19/onvif-media/media.amp?profile=profile_1_jpeg&sessiontimeout=60&streamtype=unicast"),
	"axis-Q6045-E/GetSystemDateAndTime.xml":        wantTime("MST7MDT,M3.2.0,M11.1.0", "2018-02-27T23:09:59Z", "2018-02-27T16:09:59Z"),
	"axis-Q6045-E/PullMessages.Fault.xml":          wantFault("Sender", []string{"InvalidArgs"}, ""),
	"axis-model-unstated/GetSystemDateAndTime.xml": wantTime("BRT3", "2024-07-09T19:49:06Z", "2024-07-09T16:49:06Z"),
	"dahua-family-model-unstated/GetProfiles.xml": wantProfiles(
		Profile{Token: "MediaProfile00000", Name: "MediaProfile_Channel1_MainStream", Fixed: true, Encoding: "H264", Width: 2592, Height: 1944, FrameRate: 20, BitrateKbps: 6144, VideoSource: "00000"},
		Profile{Token: "MediaProfile00001", Name: "MediaProfile_Channel1_SubStream1", Fixed: true, Encoding: "H264", Width: 704, Height: 480, FrameRate: 20, BitrateKbps: 512, VideoSource: "00000"}),
	"dahua-model-unstated-go2rtc/GetCapabilities.xml": wantCaps(Services{Device: "http://192.168.1.123/onvif/device_service",
		Media: "http://192.168.1.123/onvif/media_service", Events: "http://192.168.1.123/onvif/event_service", Imaging: "http://192.168.1.123/onvif/imaging_service"}),
	"dahua-model-unstated-go2rtc/GetSnapshotUri.xml":       wantURI("http://192.168.1.123/onvifsnapshot/media_service/snapshot?channel=1&subtype=1"),
	"dahua-model-unstated-go2rtc/GetStreamUri.xml":         wantURI("rtsp://192.168.1.123:554/cam/realmonitor?channel=1&subtype=1&unicast=true&proto=Onvif"),
	"dahua-model-unstated-issue19/Fault.NotAuthorized.xml": wantFault("Sender", []string{"NotAuthorized"}, "Sender not Authorized. Invalid username or password!", ErrUnauthorized),
	"ezviz-CS-H8c-R100-1K2WKFL/GetCapabilities.xml": wantCaps(Services{Device: "http://192.168.1.3/onvif/device_service",
		Media: "http://192.168.1.3/onvif/Media", PTZ: "http://192.168.1.3/onvif/PTZ", Events: "http://192.168.1.3/onvif/Events", Imaging: "http://192.168.1.3/onvif/Imaging"}),
	"ezviz-CS-H8c-R100-1K2WKFL/GetDeviceInformation.xml": wantDeviceInfo(DeviceInfo{"EZVIZ", "CS-H8c-R100-1K2WKFL", "V5.3.8 build 250612", "CS-H8c-R100-1K2WKFL0120250611CCRRBF9716291", "88"}),
	"ezviz-CS-H8c-R100-1K2WKFL/GetScopes.xml":            wantScopes(8, ScopeFields{Name: "CS-H8c-R100-1K2WKFL", Hardware: "CS-H8c-R100-1K2WKFL", MAC: "0c:a6:4c:ea:0c:6f", Profiles: []string{"Streaming", "G"}}, "onvif://www.onvif.org/MAC/0c:a6:4c:ea:0c:6f", "onvif://www.onvif.org/name/CS-H8c-R100-1K2WKFL"),
	"ezviz-CS-H8c-R100-1K2WKFL/GetServices.xml": wantServicesList(11, map[string]string{nsMedia2: "http://192.168.1.3/onvif/Media2",
		nsPTZ: "http://192.168.1.3/onvif/PTZ", nsEvents: "http://192.168.1.3/onvif/Events"}),
	"hikvision-DFI6256TE/ProbeMatches.excerpt.xml":    wantMalformed,
	"hikvision-DS-2CD2012-I/GetDeviceInformation.xml": wantDeviceInfo(DeviceInfo{"HIKVISION", "DS-2CD2012-I", "V5.2.0 build 140721", "DS-2CD2012-I20150201CCWR501088621", "88"}),
	"hikvision-DS-2CD2012-I/GetStreamUri.xml":         wantURI("rtsp://10.10.1.65:554/Streaming/Channels/2?transportmode=unicast&profile=Profile_2"),
	"hikvision-DS-2DF7276-AEL/CreatePullPointSubscription.xml": wantSubscription("http://10.10.1.60/onvif/Events/PullSubManager_2018-02-27T18:28:52Z_5",
		"2018-02-27T18:28:52Z", "2018-02-27T18:29:52Z", 0),
	"hikvision-DS-2DF7276-AEL/GetCapabilities.xml": wantCaps(Services{Device: "http://10.10.1.60/onvif/device_service",
		Media: "http://10.10.1.60/onvif/Media", PTZ: "http://10.10.1.60/onvif/PTZ", Events: "http://10.10.1.60/onvif/Events", Imaging: "http://10.10.1.60/onvif/Imaging"}),
	"hikvision-DS-2DF7276-AEL/GetDeviceInformation.xml": wantDeviceInfo(DeviceInfo{"HIKVISION", "DS-2DF7276-AEL", "V5.1.6 build 140401", "DS-2DF7276-AEL20140613CCWR468714298B", "88"}),
	"hikvision-DS-2DF7276-AEL/GetPresets.xml":           wantPresets(255, Preset{Token: "1", Name: "preset 1"}),
	"hikvision-DS-2DF7276-AEL/GetProfiles.xml": wantProfiles(
		Profile{Token: "Profile_1", Name: "mainStream", Fixed: true, Encoding: "H264", Width: 1280, Height: 720, FrameRate: 10, BitrateKbps: 4096, HasPTZ: true, PTZNodeToken: "PTZNODETOKEN", VideoSource: "VideoSource_1"},
		Profile{Token: "Profile_2", Name: "subStream", Fixed: true, Encoding: "H264", Width: 704, Height: 480, FrameRate: 30, BitrateKbps: 1024, HasPTZ: true, PTZNodeToken: "PTZNODETOKEN", VideoSource: "VideoSource_1"},
		Profile{Token: "Profile_3", Name: "thirdStream", Fixed: true, Encoding: "H264", Width: 704, Height: 480, FrameRate: 30, BitrateKbps: 1024, HasPTZ: true, PTZNodeToken: "PTZNODETOKEN", VideoSource: "VideoSource_1"}),
	"hikvision-DS-2DF7276-AEL/GetScopes.xml":      wantScopes(8, ScopeFields{Name: "DS-2DF7276-AEL", Hardware: "DS-2DF7276-AEL", Location: "city/hangzhou", Profiles: []string{"Streaming", "G"}}, "onvif://www.onvif.org/location/city/hangzhou", "onvif://www.onvif.org/hardware/DS-2DF7276-AEL"),
	"hikvision-DS-2DF7276-AEL/GetServices.xml":    wantServicesList(7, map[string]string{nsMedia: "http://10.10.1.60/onvif/Media", nsPTZ: "http://10.10.1.60/onvif/PTZ"}),
	"hikvision-DS-2DF7276-AEL/GetSnapshotUri.xml": wantURI("http://10.10.1.60/onvif/snapshot"),
	"hikvision-DS-2DF7276-AEL/GetStatus.xml": wantStatus(PTZStatus{Position: PTZVector{0.333167, -0.682, 0}, HasPosition: true,
		Error: "NO error", UTCTime: utc("2018-02-27T14:53:06Z")}),
	"hikvision-DS-2DF7276-AEL/GetStreamUri.xml":         wantURI("rtsp://10.10.1.60:554/Streaming/Channels/3?transportmode=unicast&profile=Profile_3"),
	"hikvision-DS-2DF7276-AEL/GetSystemDateAndTime.xml": wantTime("CST7:00:00DST01:00:00,M3.2.0/02:00:00,M11.1.0/02:00:00", "2018-02-27T18:28:01Z", "2018-02-27T11:28:01Z"),
	"hikvision-DS-2DF7276-AEL/PullMessages.xml": wantValue(func(t *testing.T, got PullResult) {
		if len(got.Messages) != 0 || !got.CurrentTime.Equal(utc("2018-02-27T14:53:23Z")) || !got.TerminationTime.Equal(utc("2018-02-27T15:03:23Z")) {
			t.Errorf("got %+v", got)
		}
	}),
	"hikvision-model-unstated/CreatePullPointSubscription.xml": wantValue(func(t *testing.T, got Subscription) {
		if !strings.Contains(got.Address, "PullSubManager") || got.TerminationTime.Before(got.CurrentTime) {
			t.Errorf("got %+v", got)
		}
	}),
	"hikvision-model-unstated/GetEventProperties.xml": wantValue(func(t *testing.T, got EventProperties) {
		want := []string{"VideoSource/MotionAlarm", "Device/HardwareFailure/HardDiskFull", "RuleEngine/CellMotionDetector/Motion", "RuleEngine/TamperDetector/Tamper", "Device/Network/EthernetBroken"}
		for _, w := range want {
			found := false
			for _, g := range got.Topics {
				found = found || g == w
			}
			if !found {
				t.Errorf("topic %q missing from %q", w, got.Topics)
			}
		}
		if !got.FixedTopicSet || len(got.TopicNamespaceLocation) != 1 {
			t.Errorf("got %+v", got)
		}
	}),
	"hikvision-model-unstated/PullMessages.xml": wantValue(func(t *testing.T, got PullResult) {
		if len(got.Messages) < 5 {
			t.Fatalf("%d messages", len(got.Messages))
		}
		kinds := map[EventKind]int{}
		for _, m := range got.Messages {
			kinds[m.Kind]++
			if m.Time.IsZero() || m.PropertyOperation != "Initialized" {
				t.Errorf("message %+v", m)
			}
		}
		if kinds[EventMotion] != 2 || kinds[EventTamper] != 1 {
			t.Errorf("kinds %v", kinds)
		}
		m := got.Messages[1]
		if m.Topic != "RuleEngine/CellMotionDetector/Motion" || m.Kind != EventMotion || !m.HasState || m.Active {
			t.Errorf("motion message %+v", m)
		}
		if v, _ := m.Item("Rule"); v != "MyMotionDetectorRule" {
			t.Errorf("rule %q", v)
		}
		tm := got.Messages[2]
		if tm.Kind != EventTamper || !tm.HasState || tm.Active {
			t.Errorf("tamper message %+v", tm)
		}
		if k, _ := got.Messages[4].Item("ObjectId"); k != "0" {
			t.Errorf("key item %q", k)
		}
	}),
	"hikvision-oem-ENP1A14-IR_25X/Fault.OperationProhibited.xml": wantFault("Sender", []string{"OperationProhibited", "Password"}, "Too weak password."),
	"hikvision-oem-ENP1A14-IR_25X/GetDeviceInformation.xml":      wantDeviceInfo(DeviceInfo{"ONVIF", "ENP1A14-IR/25X", "V5.5.3 build 180822", "ENP1A14-IR/25X20190430AAWRD14878498W", "88"}),
	"hikvision-oem-ENP1A14-IR_25X/GetPresets.xml":                wantPresets(300, Preset{Token: "1", Name: "MIMBER", Position: PTZVector{-0.198778, -0.982444, 0.05375}, HasPosition: true}),
	"hikvision-oem-ENP1A14-IR_25X/GetProfiles.media2.xml": wantProfiles(
		Profile{Token: "Profile_1", Name: "mainStream", Fixed: true, Media2: true},
		Profile{Token: "Profile_2", Name: "subStream", Fixed: true, Media2: true},
		Profile{Token: "Profile_3", Name: "thirdStream", Fixed: true, Media2: true}),
	"hikvision-oem-ENP1A14-IR_25X/GetServices.xml": wantServicesList(11, map[string]string{nsMedia: "http://192.168.1.182/onvif/Media", nsPTZ: "http://192.168.1.182/onvif/PTZ"}),
	"hikvision-oem-ENP1A14-IR_25X/GetStatus.xml": wantStatus(PTZStatus{Position: PTZVector{0.801444, -0.982444, 0.05375}, HasPosition: true,
		Error: "NO error", UTCTime: utc("2023-03-07T14:31:44Z")}),
	"hikvision-oem-ENP1A14-IR_25X/GetStreamUri.media2.xml": wantURI("rtsp://192.168.1.182/Streaming/Channels/101?transportmode=unicast&profile=Profile_1"),
	"lorex-model-unstated/GetProfiles.xml": wantProfiles(
		Profile{Token: "Profile000", Name: "Profile000", Fixed: true, HasPTZ: true, PTZNodeToken: "PTZ000", VideoSource: "VideoSource000"},
		Profile{Token: "Profile001", Name: "Profile001", Fixed: true, Encoding: "H264", Width: 704, Height: 480, FrameRate: 30, BitrateKbps: 1024, HasPTZ: true, PTZNodeToken: "PTZ000", VideoSource: "VideoSource000"}),
	"onvif_ipnc-IPG-8150PSS/Fault.ActionNotSupported.xml":   wantFault("Receiver", []string{"ActionNotSupported"}, "Action Not Implemented", ErrNotSupported),
	"onvif_ipnc-IPG-8150PSS/GetDeviceInformation.xml":       wantDeviceInfo(DeviceInfo{"ONVIF_IPNC", "IPG-8150PSS", "1.3.0-20210203CN-PT", "I207215E7840DFDA9877E8B", "8FE1887A-72EE-403f-9385-5a58aed534cf"}),
	"onvif_ipnc-IPG-8150PSS/GetSystemDateAndTime.xml":       wantTime("CST-08:00", "2024-02-20T13:13:01Z", "2024-02-20T21:13:01Z"),
	"sunba-Performance-Series/Fault.ActionNotSupported.xml": wantFault("Receiver", []string{"ActionNotSupported"}, "Optional Action Not Implemented", ErrNotSupported),
	"sunba-Performance-Series/GetDeviceInformation.xml":     wantDeviceInfo(DeviceInfo{"SUNBA", "Performance-Series", "QIPC-B2202.3.73.C06290.NB.230628", "210231T2H63235000045", "Performance-Series"}),
	"sunba-Performance-Series/GetStatus.xml": wantStatus(PTZStatus{Position: PTZVector{0.5, 0.499777734, 0}, HasPosition: true,
		PanTiltMove: "IDLE", ZoomMove: "IDLE", UTCTime: utc("2024-04-08T16:01:49Z")}),
	"sunba-Performance-Series/GetStreamUri.media2.xml": wantURI("rtsp://162.191.54.181/media/video1"),
	"tplink-Tapo-C200/GetStreamUri.xml":                wantURI("rtsp://192.168.12.128:554/stream1"),
	"tplink-Tapo-C200/ProbeMatches.excerpt.xml":        wantMalformed,
	"trendnet-TV-IP320PI/CreatePullPointSubscription.xml": wantValue(func(t *testing.T, got Subscription) {
		if got.Address == "" || got.CurrentTime.IsZero() || got.TerminationTime.IsZero() {
			t.Errorf("got %+v", got)
		}
	}),
	"trendnet-TV-IP320PI/GetDeviceInformation.Fault.xml": wantFault("Sender", []string{"NotAuthorized"}, "The action requested requires authorization", ErrUnauthorized),
	"trendnet-TV-IP320PI/GetDeviceInformation.xml":       wantDeviceInfo(DeviceInfo{"TRENDnet", "TV-IP320PI", "V5.3.4 build 160830", "TV-IP320PI20161206AAWR863642784", "88"}),
	"trendnet-TV-IP320PI/GetStreamUri.xml":               wantURI("rtsp://10.10.1.67:554/Streaming/Channels/102?transportmode=unicast&profile=Profile_2"),
	"trendnet-TV-IP320PI/PullMessages.xml": wantValue(func(t *testing.T, got PullResult) {
		if len(got.Messages) != 1 {
			t.Fatalf("%d messages", len(got.Messages))
		}
		m := got.Messages[0]
		if m.Topic != "Monitoring/ProcessorUsage" || m.RawTopic != "tns1:Monitoring/ProcessorUsage" || m.Kind != EventOther ||
			m.PropertyOperation != "Changed" || !m.Time.Equal(utc("2018-02-27T18:36:53Z")) {
			t.Errorf("got %+v", m)
		}
		if v, _ := m.Item("Value"); v != "75" {
			t.Errorf("Value %q", v)
		}
		if v, _ := m.Item("Token"); v != "Processor_Usage" {
			t.Errorf("Token %q", v)
		}
	}),
	"unbranded-IPD-H4K8M05-BS/Fault.MethodNotImplemented.xml": wantFault("Sender", nil, "Method 'GetStorageConfigurations' not implemented", ErrNotSupported),
	"unbranded-IPD-H4K8M05-BS/GetDeviceInformation.xml":       wantDeviceInfo(DeviceInfo{"", "IPD-H4K8M05-BS", "V1.04.10-190309", "071D3E36963F", "1.0"}),
	"unbranded-IPD-H4K8M05-BS/GetSystemDateAndTime.xml":       wantTime("AST4ADT", "2025-04-06T17:38:53Z", "2025-04-06T13:38:53Z"),
	"uniview-oem-GX728MF-IR28/GetDeviceInformation.xml":       wantDeviceInfo(DeviceInfo{"NONE", "GX728MF-IR28", "IPC_G6106-B0005P11D1812C03", "210235T8HQ3197000191", "GX728MF-IR28"}),
	"uniview-oem-GX728MF-IR28/GetProfiles.media2.xml": wantProfiles(
		Profile{Token: "media_profile1", Name: "media_profile1", Media2: true},
		Profile{Token: "media_profile2", Name: "media_profile2", Media2: true},
		Profile{Token: "media_profile3", Name: "media_profile3", Media2: true}),
	"uniview-oem-GX728MF-IR28/GetServices.xml":          wantServicesList(8, map[string]string{nsEvents: "http://192.168.1.127:80/onvif/event"}),
	"uniview-oem-GX728MF-IR28/GetSystemDateAndTime.xml": wantTime("CST5CDT,M3.2.0/2,M11.1.0/2", "2023-03-08T00:27:09Z", "2023-03-07T19:27:09Z"),
}

type corpusEntry struct {
	File       string `json:"file"`
	SHA256     string `json:"sha256"`
	Wellformed bool   `json:"wellformed"`
}

func corpusFiles(t testing.TB) []string {
	var files []string
	err := filepath.WalkDir(corpusDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".xml") {
			rel, _ := filepath.Rel(corpusDir, p)
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestCorpus parses every captured response with the parser its first Body
// element selects and asserts what the file contains.
func TestCorpus(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(corpusDir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	var index []corpusEntry
	if err := json.Unmarshal(raw, &index); err != nil {
		t.Fatal(err)
	}
	indexed := map[string]corpusEntry{}
	for _, e := range index {
		indexed[e.File] = e
	}
	files := corpusFiles(t)
	if len(files) != len(index) || len(files) != len(corpusChecks) {
		t.Errorf("%d files, %d in index.json, %d checks", len(files), len(index), len(corpusChecks))
	}
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(corpusDir, f))
			if err != nil {
				t.Fatal(err)
			}
			e, ok := indexed[f]
			if !ok {
				t.Fatal("file not in index.json")
			}
			sum := sha256.Sum256(data)
			if hex.EncodeToString(sum[:]) != e.SHA256 {
				t.Error("sha256 differs from index.json: the copy is not the captured file")
			}
			chk, ok := corpusChecks[f]
			if !ok {
				t.Fatal("no check for this file in corpusChecks")
			}
			name, v, err := ParseResponse(data)
			if e.Wellformed == (errors.Is(err, ErrMalformed)) {
				t.Errorf("wellformed=%v in index but parse error %v", e.Wellformed, err)
			}
			// The file name says which operation it answers.
			base := strings.SplitN(filepath.Base(f), ".", 2)[0]
			var fe *FaultError
			switch {
			case !e.Wellformed:
			case base == "Fault" || strings.Contains(f, ".Fault."):
				if !errors.As(err, &fe) {
					t.Errorf("fault file parsed as %s: %v", name, err)
				}
			case base == "ProbeMatches":
				if name != base {
					t.Errorf("body element %s", name)
				}
			default:
				if name != base+"Response" {
					t.Errorf("body element %s, want %sResponse", name, base)
				}
			}
			chk(t, v, err)
		})
	}
}

// BenchmarkParseCorpus measures parse throughput over the whole corpus.
func BenchmarkParseCorpus(b *testing.B) {
	var datas [][]byte
	total := 0
	for _, f := range corpusFiles(b) {
		d, err := os.ReadFile(filepath.Join(corpusDir, f))
		if err != nil {
			b.Fatal(err)
		}
		datas = append(datas, d)
		total += len(d)
	}
	b.SetBytes(int64(total))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, d := range datas {
			_, _, _ = ParseResponse(d)
		}
	}
}
