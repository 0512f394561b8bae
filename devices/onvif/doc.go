// Package onvif is gwanje's ONVIF client: SOAP calls to cameras with
// deadlines, size limits, authentication and typed errors, and unicast
// WS-Discovery.
//
// It wraps github.com/IOTechSystems/onvif: request bodies of simple
// operations are that library's request types, marshalled into an envelope
// built here. The library's transport, its digest and WS-Security code and
// its response types are not used: its digest is broken (path, nonce count),
// its WS-Security takes no clock offset, several request types drop zero
// coordinates or use wrong namespaces, and its response structs leave fields
// of real cameras empty. Responses are parsed here with encoding/xml on local
// element names only, because vendors disagree on prefixes and namespaces;
// the parsers are tested against responses captured from real cameras
// (testdata/corpus) and fuzzed.
//
// A Client talks to one device:
//
//	c, err := onvif.New(onvif.Config{Endpoint: "http://192.0.2.10/onvif/device_service",
//		Username: user, Password: pass})
//	defer c.Close()
//	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
//	defer cancel()
//	info, err := c.GetDeviceInformation(ctx)
//
// Every call takes a context; when it has no deadline Config.Timeout applies.
// Responses larger than Config.MaxResponseBytes fail with ErrTooLarge.
// Authentication is WS-Security UsernameToken (PasswordDigest), HTTP digest
// (github.com/icholy/digest) or both, configured or detected (AuthAuto). The
// WS-Security Created time is corrected by the camera clock offset learned
// from GetSystemDateAndTime, because cameras reject tokens from a clock that
// differs from theirs.
//
// Errors wrap the sentinels ErrUnreachable, ErrUnauthorized, ErrFault,
// ErrMalformed, ErrNotSupported, ErrTimeout, ErrTooLarge and
// ErrInvalidArgument (errors.Is); faults are *FaultError and operation errors
// *OpError (errors.As). Credentials never appear in errors or logs.
//
// Discover sends directed unicast WS-Discovery probes to addresses or CIDR
// ranges (bounded by DiscoveryConfig.MaxHosts, rate-limited) from one UDP
// socket and reports devices deduplicated by endpoint reference; multicast is
// sent only on an interface named in DiscoveryConfig.Interface.
package onvif
