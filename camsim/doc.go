// Package camsim simulates ONVIF/RTSP IP cameras on loopback, for tests, the
// demo and load tests. Each Camera is an ONVIF device (SOAP 1.2 over HTTP:
// Device, Media ver10, Media2 ver20 where the dialect has it, PTZ, Events
// PullPoint), a unicast WS-Discovery responder on its own UDP port, an RTSP
// server (gortsplib v5) serving real H.264/H.265 clips looped with continuous
// timestamps, and a JPEG snapshot endpoint. Behaviour differs per Dialect the
// way real vendors differ (namespace prefixes, WS-Security vs HTTP Digest,
// GetCapabilities-only vs GetServices, vendor extensions, date formats), and
// Faults (offline, slow, clock drift, wrong password, malformed XML, oversized
// responses, stream stall, packet loss, reboot) can be set at start and at run
// time.
//
// Use in a test:
//
//	cam, err := camsim.New(camsim.Config{Dialect: camsim.DialectAxis, PTZ: true})
//	if err != nil { t.Fatal(err) }
//	if err := cam.Start(ctx); err != nil { t.Fatal(err) }
//	defer cam.Close()
//	xaddr := cam.DeviceServiceURL()          // http://127.0.0.1:PORT/onvif/device_service
//	probe := cam.DiscoveryAddr()             // send a WS-Discovery Probe here (unicast)
//	main := cam.RTSPURL(camsim.ProfileMain)  // rtsp://127.0.0.1:PORT/main (Digest auth)
//	cam.SetFaults(camsim.Faults{ClockDrift: 90 * time.Second})
//
// Many cameras: StartFleet(ctx, FleetConfig{Count: 100}) starts them on random
// ports of 127.0.0.1 (or on 127.0.1.x addresses with fixed ports).
//
// Public API (stable):
//
//	type Dialect string                     // DialectHikvision, DialectAxis, DialectDahua
//	type Config struct {
//	    ID            string        // default "cam-<8 hex>"; also the WS-Discovery endpoint UUID seed
//	    Dialect       Dialect       // default DialectHikvision
//	    Host          string        // listen address, default "127.0.0.1"
//	    HTTPPort      int           // ONVIF + snapshot; 0 = random
//	    RTSPPort      int           // 0 = random
//	    DiscoveryPort int           // WS-Discovery UDP; 0 = random
//	    Username      string        // default "admin"
//	    Password      string        // default "camsim"
//	    PTZ           bool          // PTZ service and a PTZ node
//	    Name, Location string       // ONVIF scopes; defaults ID and "seoul"
//	    Manufacturer, Model, FirmwareVersion, SerialNumber, HardwareID string // defaults from Dialect/ID
//	    KeyframeInterval time.Duration // default 2s; nearest committed clip (1s, 2s, 4s)
//	    RebootDuration time.Duration   // how long SystemReboot keeps the camera away; default 3s
//	    MaxRequestBytes int64          // SOAP bodies larger are rejected (413); default 64 KiB
//	    Faults        Faults        // initial faults
//	    Quirks        Quirks        // vendor habits
//	    Logger        *slog.Logger  // default slog.Default()
//	}
//	type Faults struct {
//	    Offline bool; Latency time.Duration; ClockDrift time.Duration
//	    WrongPassword bool; MalformedXML bool; TruncatedXML bool; OversizedResponse bool
//	    StreamStall bool; PacketLoss float64; Tamper bool; Motion bool
//	    ClockFault bool     // GetSystemDateAndTime answers ter:ActionNotSupported
//	    StreamURIFault bool // GetStreamUri answers a ter:Action fault
//	    RTSPRefused bool    // RTSP connections refused while ONVIF answers
//	}
//	type Quirks struct {
//	    CredentialsInPath bool // rtsp://h/user=U_password=P_channel=1_stream=N.sdp
//	    MotionValueItem bool   // motion state in SimpleItem Name="Value" Value="True"
//	}
//	func New(cfg Config) (*Camera, error)
//	func (c *Camera) Start(ctx context.Context) error // binds listeners, returns when serving
//	func (c *Camera) Run(ctx context.Context) error   // Start, wait for ctx, Close
//	func (c *Camera) Close() error                    // idempotent
//	func (c *Camera) DeviceServiceURL() string
//	func (c *Camera) DiscoveryAddr() *net.UDPAddr
//	func (c *Camera) RTSPURL(profile string) string   // ProfileMain, ProfileSub, ProfileH265
//	func (c *Camera) SnapshotURL(profile string) string
//	func (c *Camera) Profiles() []string
//	func (c *Camera) SetFaults(f Faults)
//	func (c *Camera) Faults() Faults
//	func (c *Camera) Reboot()                         // same as ONVIF SystemReboot
//	func (c *Camera) Info() Info                      // identity, credentials, URLs
//	type Fleet; func StartFleet(ctx, FleetConfig) (*Fleet, error); (*Fleet).Cameras(); (*Fleet).Close()
package camsim
