package onvif

// parsers maps the local name of a response's first Body element to its
// parser; used by ParseResponse.
var parsers = map[string]func([]byte) (any, error){
	"GetSystemDateAndTimeResponse":        wrap(parseSystemDateAndTime),
	"GetDeviceInformationResponse":        wrap(parseDeviceInformation),
	"GetCapabilitiesResponse":             wrap(parseCapabilities),
	"GetServicesResponse":                 wrap(parseServices),
	"GetScopesResponse":                   wrap(parseScopes),
	"GetNetworkInterfacesResponse":        wrap(parseNetworkInterfaces),
	"GetProfilesResponse":                 wrap(parseProfiles),
	"GetStreamUriResponse":                wrap(parseStreamURI),
	"GetSnapshotUriResponse":              wrap(parseSnapshotURI),
	"GetNTPResponse":                      wrap(parseNTP),
	"SystemRebootResponse":                wrap(parseReboot),
	"GetNodesResponse":                    wrap(parseNodes),
	"GetStatusResponse":                   wrap(parsePTZStatus),
	"GetPresetsResponse":                  wrap(parsePresets),
	"SetPresetResponse":                   wrap(parseSetPreset),
	"GetEventPropertiesResponse":          wrap(parseEventProperties),
	"CreatePullPointSubscriptionResponse": wrap(parseCreatePullPoint),
	"PullMessagesResponse":                wrap(parsePullMessages),
	"ProbeMatches": func(b []byte) (any, error) {
		_, m, err := parseProbeMatches(b)
		return m, err
	},
}

func wrap[T any](f func([]byte) (T, error)) func([]byte) (any, error) {
	return func(b []byte) (any, error) { return f(b) }
}

// ParseResponse parses a SOAP response by the name of its first Body
// element and returns the typed value (DeviceInfo, []Profile, PullResult,
// []Discovered, …). A fault yields a *FaultError, anything unparseable an
// error matching ErrMalformed, an unknown body element ErrNotSupported.
// It is meant for tools and tests that hold captured responses.
func ParseResponse(data []byte) (name string, v any, err error) {
	name, err = bodyElement(data)
	if err != nil {
		return name, nil, err
	}
	p, ok := parsers[name]
	if !ok {
		return name, nil, &OpError{Op: "ParseResponse", Err: errNoParser(name)}
	}
	v, err = p(data)
	return name, v, err
}

func errNoParser(name string) error {
	return &notSupportedErr{"no parser for " + truncate(name, 60)}
}

type notSupportedErr struct{ msg string }

func (e *notSupportedErr) Error() string        { return "onvif: not supported: " + e.msg }
func (e *notSupportedErr) Is(target error) bool { return target == ErrNotSupported }
