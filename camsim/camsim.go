package camsim

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Config configures one simulated camera. Zero values take the documented defaults.
type Config struct {
	// ID names the camera; default "cam-<8 hex>". It seeds the endpoint UUID and serial.
	ID string
	// Dialect selects vendor behaviour; default DialectHikvision.
	Dialect Dialect
	// Host is the address to listen on; default "127.0.0.1".
	Host string
	// HTTPPort serves ONVIF and snapshots; 0 picks a random port.
	HTTPPort int
	// RTSPPort serves RTSP (TCP transport only); 0 picks a random port.
	RTSPPort int
	// DiscoveryPort is the UDP port answering WS-Discovery probes; 0 picks a random port.
	DiscoveryPort int
	// Multicast also joins 239.255.255.250:3702 (only when DiscoveryPort is 3702). Never in tests.
	Multicast bool
	// Username and Password are the credentials for ONVIF, RTSP and snapshots;
	// defaults "admin" and "camsim".
	Username, Password string
	// PTZ adds the PTZ service and a PTZ node.
	PTZ bool
	// Name and Location go into the ONVIF scopes; defaults ID and "seoul".
	Name, Location string
	// Identity; defaults come from the dialect (model is the PTZ model when PTZ)
	// and, for SerialNumber and HardwareID, from ID.
	Manufacturer, Model, FirmwareVersion, SerialNumber, HardwareID string
	// KeyframeInterval picks the main-profile clip with the nearest GOP among
	// 1 s, 2 s and 4 s; default 2 s.
	KeyframeInterval time.Duration
	// RebootDuration is how long SystemReboot keeps the camera away; default 3 s.
	RebootDuration time.Duration
	// MaxRequestBytes: larger SOAP bodies are refused with 413; default 64 KiB.
	MaxRequestBytes int64
	// OversizedBytes is the size of an oversized response fault; default 16 MiB.
	OversizedBytes int64
	// Faults are in force from the start.
	Faults Faults
	// Quirks are vendor habits the camera shows.
	Quirks Quirks
	// Logger receives debug and warning logs; default slog.Default().
	Logger *slog.Logger
}

// Faults are misbehaviours a camera can be told to show; the zero value is a healthy camera.
type Faults struct {
	// Offline closes every listener (connections are refused) until cleared.
	Offline bool `json:"offline,omitempty"`
	// Latency is added before every ONVIF, snapshot and discovery answer.
	Latency time.Duration `json:"latency,omitempty"`
	// ClockDrift shifts the camera clock (GetSystemDateAndTime, WS-Security checks, events).
	ClockDrift time.Duration `json:"clock_drift,omitempty"`
	// WrongPassword makes the camera reject its configured password (as if changed on site).
	WrongPassword bool `json:"wrong_password,omitempty"`
	// MalformedXML answers with broken XML (mismatched tags).
	MalformedXML bool `json:"malformed_xml,omitempty"`
	// TruncatedXML answers with the first half of the response.
	TruncatedXML bool `json:"truncated_xml,omitempty"`
	// OversizedResponse pads every answer to Config.OversizedBytes (still well-formed).
	OversizedResponse bool `json:"oversized_response,omitempty"`
	// StreamStall keeps RTSP sessions up without sending any frame.
	StreamStall bool `json:"stream_stall,omitempty"`
	// PacketLoss drops this fraction (0..1) of RTP packets.
	PacketLoss float64 `json:"packet_loss,omitempty"`
	// Motion forces the motion event on (otherwise motion is on 10 s of every 30 s).
	Motion bool `json:"motion,omitempty"`
	// Tamper raises the tamper event.
	Tamper bool `json:"tamper,omitempty"`
	// ClockFault answers GetSystemDateAndTime with a ter:ActionNotSupported fault.
	ClockFault bool `json:"clock_fault,omitempty"`
	// StreamURIFault answers GetStreamUri (Media and Media2) with a ter:Action fault.
	StreamURIFault bool `json:"stream_uri_fault,omitempty"`
	// RTSPRefused closes the RTSP listener (connections are refused) while
	// ONVIF keeps answering: a stream whose network path is not built yet.
	RTSPRefused bool `json:"rtsp_refused,omitempty"`
}

// Quirks are vendor habits seen on real cameras; the zero value has none.
type Quirks struct {
	// CredentialsInPath puts the credentials in the path of the stream URIs
	// (rtsp://host:port/user=admin_password=secret_channel=1_stream=0.sdp);
	// the RTSP server accepts those paths only with the right credentials.
	CredentialsInPath bool `json:"credentials_in_path,omitempty"`
	// MotionValueItem reports the motion state in a tt:SimpleItem named
	// "Value" (Value="True"/"False") instead of IsMotion or State.
	MotionValueItem bool `json:"motion_value_item,omitempty"`
}

// Info is the identity and addresses of a camera, as written to manifests.
type Info struct {
	ID               string            `json:"id"`
	Address          string            `json:"address"`
	Dialect          Dialect           `json:"dialect"`
	EndpointUUID     string            `json:"endpoint_uuid"`
	Manufacturer     string            `json:"manufacturer"`
	Model            string            `json:"model"`
	FirmwareVersion  string            `json:"firmware_version"`
	SerialNumber     string            `json:"serial_number"`
	HardwareID       string            `json:"hardware_id"`
	DeviceServiceURL string            `json:"device_service_url"`
	DiscoveryPort    int               `json:"discovery_port"`
	RTSPURLs         map[string]string `json:"rtsp_urls"`
	SnapshotURLs     map[string]string `json:"snapshot_urls"`
	Username         string            `json:"username"`
	Password         string            `json:"password"`
	PTZ              bool              `json:"ptz"`
}

// Camera is one simulated camera. Its methods are safe for concurrent use.
type Camera struct {
	// held keeps the ports bound while the camera is down.
	held   *portHold
	httpLn net.Listener
	cfg    Config
	d      *dialect
	log    *slog.Logger
	uuid   string
	secret [32]byte
	main   *clip
	clips  map[string]*clip
	snaps  map[string][]byte

	mu     sync.Mutex
	faults Faults
	// faultsNow mirrors faults for the RTSP producers, which must not take
	// mu: bringDownLocked waits for them while holding it.
	faultsNow atomic.Pointer[Faults]
	faultsCh  chan struct{} // closed and replaced when faults or events change
	started   bool
	closed    bool
	up        bool
	rebooting bool
	reboot    *time.Timer
	httpPort  int
	rtspPort  int
	discPort  int
	httpSrv   *http.Server
	udp       *net.UDPConn
	mcast     *net.UDPConn
	rtsp      *rtspServer
	wg        sync.WaitGroup // serve goroutines of the current incarnation

	nonces       map[string]time.Time
	ntp          string
	ntpDHCP      bool
	manualOffset time.Duration // from SetSystemDateAndTime Manual
	dateTimeNTP  bool
	ptz          ptzState
	subs         map[string]*subscription
	subSeq       int
	bootTime     time.Time
}

// New validates cfg, fills defaults and returns a camera that is not yet listening.
func New(cfg Config) (*Camera, error) {
	if cfg.Dialect == "" {
		cfg.Dialect = DialectHikvision
	}
	d, ok := dialects[cfg.Dialect]
	if !ok {
		return nil, fmt.Errorf("camsim: unknown dialect %q", cfg.Dialect)
	}
	var rnd [8]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, fmt.Errorf("camsim: random: %w", err)
	}
	if cfg.ID == "" {
		cfg.ID = "cam-" + hex.EncodeToString(rnd[:4])
	}
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	if net.ParseIP(cfg.Host) == nil {
		return nil, fmt.Errorf("camsim: Host %q is not an IP address", cfg.Host)
	}
	for _, p := range []int{cfg.HTTPPort, cfg.RTSPPort, cfg.DiscoveryPort} {
		if p < 0 || p > 65535 {
			return nil, fmt.Errorf("camsim: port %d out of range", p)
		}
	}
	if cfg.Username == "" {
		cfg.Username = "admin"
	}
	if cfg.Password == "" {
		cfg.Password = "camsim"
	}
	if cfg.Name == "" {
		cfg.Name = cfg.ID
	}
	if cfg.Location == "" {
		cfg.Location = "seoul"
	}
	idHash := sha256.Sum256([]byte(string(cfg.Dialect) + "/" + cfg.ID))
	if cfg.Manufacturer == "" {
		cfg.Manufacturer = d.manufacture
	}
	if cfg.Model == "" {
		cfg.Model = d.model
		if cfg.PTZ {
			cfg.Model = d.ptzModel
		}
	}
	if cfg.FirmwareVersion == "" {
		cfg.FirmwareVersion = d.firmware
	}
	if cfg.SerialNumber == "" {
		switch d.name {
		case DialectAxis:
			cfg.SerialNumber = "ACCC8E" + hex.EncodeToString(idHash[:3])
		case DialectDahua:
			cfg.SerialNumber = "7J0" + hex.EncodeToString(idHash[:6])
		default:
			cfg.SerialNumber = cfg.Model + "20240101AAWR" + hex.EncodeToString(idHash[:5])
		}
	}
	if cfg.HardwareID == "" {
		cfg.HardwareID = d.hardware
	}
	if cfg.KeyframeInterval == 0 {
		cfg.KeyframeInterval = 2 * time.Second
	}
	if cfg.KeyframeInterval < 0 {
		return nil, errors.New("camsim: KeyframeInterval must be positive")
	}
	if cfg.RebootDuration == 0 {
		cfg.RebootDuration = 3 * time.Second
	}
	if cfg.MaxRequestBytes == 0 {
		cfg.MaxRequestBytes = 64 << 10
	}
	if cfg.OversizedBytes == 0 {
		cfg.OversizedBytes = 16 << 20
	}
	if cfg.Faults.PacketLoss < 0 || cfg.Faults.PacketLoss > 1 {
		return nil, errors.New("camsim: PacketLoss must be within 0..1")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cl, snaps, err := loadClips()
	if err != nil {
		return nil, err
	}
	c := &Camera{
		cfg:      cfg,
		d:        d,
		log:      cfg.Logger.With("camera", cfg.ID),
		clips:    cl,
		snaps:    snaps,
		faults:   cfg.Faults,
		faultsCh: make(chan struct{}),
		httpPort: cfg.HTTPPort,
		rtspPort: cfg.RTSPPort,
		discPort: cfg.DiscoveryPort,
		ntp:      "pool.ntp.org",
	}
	initial := cfg.Faults
	c.faultsNow.Store(&initial)
	u := idHash[8:24]
	c.uuid = fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
	if _, err := rand.Read(c.secret[:]); err != nil {
		return nil, fmt.Errorf("camsim: random: %w", err)
	}
	switch k := cfg.KeyframeInterval; {
	case k < 1500*time.Millisecond:
		c.main = cl["main_gop1s.h264"]
	case k < 3*time.Second:
		c.main = cl["main_gop2s.h264"]
	default:
		c.main = cl["main_gop4s.h264"]
	}
	return c, nil
}

// Start binds the camera's listeners and serves in the background until Close.
// When Faults.Offline is set it only reserves nothing and returns; listeners
// open when the fault is cleared. ctx bounds nothing after Start returns.
func (c *Camera) Start(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return errors.New("camsim: camera closed")
	}
	if c.started {
		return errors.New("camsim: camera already started")
	}
	c.started = true
	c.bootTime = c.nowLocked()
	if c.faults.Offline {
		// Reserve the ports once so URLs are known, then go away.
		if err := c.bringUpLocked(); err != nil {
			return err
		}
		c.bringDownLocked()
		return nil
	}
	return c.bringUpLocked()
}

// Run starts the camera and serves until ctx is done, then closes it.
func (c *Camera) Run(ctx context.Context) error {
	if err := c.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	return c.Close()
}

// Close stops every listener and goroutine of the camera. Safe to call twice.
func (c *Camera) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	if c.reboot != nil {
		c.reboot.Stop()
	}
	c.bringDownLocked()
	c.held.release()
	close(c.faultsCh)
	c.mu.Unlock()
	c.wg.Wait()
	return nil
}

func (c *Camera) bringUpLocked() error {
	host := c.cfg.Host
	c.held.release()
	c.held = nil
	ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(c.httpPort)))
	if err != nil {
		return fmt.Errorf("camsim %s: listen http: %w", c.cfg.ID, err)
	}
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(host), Port: c.discPort})
	if err != nil {
		ln.Close()
		return fmt.Errorf("camsim %s: listen discovery: %w", c.cfg.ID, err)
	}
	rs, err := newRTSPServer(c, net.JoinHostPort(host, strconv.Itoa(c.rtspPort)))
	if err != nil {
		ln.Close()
		udp.Close()
		return fmt.Errorf("camsim %s: %w", c.cfg.ID, err)
	}
	c.httpPort = ln.Addr().(*net.TCPAddr).Port
	c.discPort = udp.LocalAddr().(*net.UDPAddr).Port
	c.rtspPort = rs.port
	c.httpSrv = &http.Server{
		Handler:           c,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(c.log.Handler(), slog.LevelDebug),
	}
	c.httpLn = ln
	c.udp = udp
	c.rtsp = rs
	if c.faults.RTSPRefused {
		rs.close()
		c.rtsp = nil
	}
	c.up = true
	srv := c.httpSrv
	c.wg.Add(2)
	go func() {
		defer c.wg.Done()
		_ = srv.Serve(ln)
	}()
	go func() {
		defer c.wg.Done()
		c.serveDiscovery(udp)
	}()
	if c.cfg.Multicast && c.discPort == 3702 {
		if err := c.startMulticastLocked(); err != nil {
			c.log.Warn("multicast discovery not available", "err", err)
		}
	}
	return nil
}

func (c *Camera) bringDownLocked() {
	if !c.up {
		return
	}
	c.up = false
	_ = c.httpSrv.Close()
	// Close the listener too: http.Server.Close misses one whose Serve has
	// not registered it yet, and the port must be free now.
	_ = c.httpLn.Close()
	_ = c.udp.Close()
	if c.rtsp != nil {
		c.rtsp.close()
	}
	c.stopMulticastLocked()
	if !c.closed {
		// Keep the ports for when the camera comes back.
		c.held = hold(c.cfg.Host, []int{c.httpPort, c.rtspPort}, c.discPort)
	}
	c.subs = nil
	c.notifyLocked()
}

// notifyLocked wakes long polls (PullMessages) after a change.
func (c *Camera) notifyLocked() {
	if c.closed {
		return
	}
	close(c.faultsCh)
	c.faultsCh = make(chan struct{})
}

// SetFaults replaces the camera's faults at run time.
func (c *Camera) SetFaults(f Faults) {
	if f.PacketLoss < 0 {
		f.PacketLoss = 0
	}
	if f.PacketLoss > 1 {
		f.PacketLoss = 1
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.faults = f
	c.faultsNow.Store(&f)
	if c.closed || !c.started {
		return
	}
	switch {
	case f.Offline && c.up:
		c.bringDownLocked()
	case !f.Offline && !c.up && !c.rebooting:
		if err := c.bringUpLocked(); err != nil {
			c.log.Warn("camera could not come back", "err", err)
		}
	case c.up && f.RTSPRefused && c.rtsp != nil:
		c.rtsp.close()
		c.rtsp = nil
	case c.up && !f.RTSPRefused && c.rtsp == nil:
		rs, err := newRTSPServer(c, net.JoinHostPort(c.cfg.Host, strconv.Itoa(c.rtspPort)))
		if err != nil {
			c.log.Warn("camera RTSP could not come back", "err", err)
		} else {
			c.rtsp = rs
		}
	}
	c.notifyLocked()
}

// Faults returns the faults in force.
func (c *Camera) Faults() Faults {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.faults
}

// currentFaults reads the faults without the camera's lock, for the RTSP
// producers (Camera.Close waits for them while holding it).
func (c *Camera) currentFaults() Faults {
	if f := c.faultsNow.Load(); f != nil {
		return *f
	}
	return Faults{}
}

// Reboot makes the camera go away for Config.RebootDuration, like SystemReboot.
func (c *Camera) Reboot() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rebootLocked()
}

func (c *Camera) rebootLocked() {
	if c.closed || !c.started || c.rebooting {
		return
	}
	c.rebooting = true
	c.bringDownLocked()
	c.reboot = time.AfterFunc(c.cfg.RebootDuration, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.rebooting = false
		if c.closed || c.faults.Offline || c.up {
			return
		}
		c.bootTime = c.nowLocked()
		c.ptz = ptzState{}
		if err := c.bringUpLocked(); err != nil {
			c.log.Warn("camera could not come back after reboot", "err", err)
		}
	})
}

// Up reports whether the camera is listening (not offline, not rebooting, not closed).
func (c *Camera) Up() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.up
}

// now is the camera's clock: real time plus drift and any manual setting.
func (c *Camera) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nowLocked()
}

func (c *Camera) nowLocked() time.Time {
	return time.Now().Add(c.faults.ClockDrift + c.manualOffset)
}

func (c *Camera) password() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.passwordLocked()
}

func (c *Camera) passwordLocked() string {
	if c.faults.WrongPassword {
		return c.cfg.Password + "-changed-on-site"
	}
	return c.cfg.Password
}

// DeviceServiceURL is the ONVIF device service address (XAddr).
func (c *Camera) DeviceServiceURL() string {
	return c.httpURL(c.d.paths.device)
}

func (c *Camera) httpURL(path string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return "http://" + net.JoinHostPort(c.cfg.Host, strconv.Itoa(c.httpPort)) + path
}

// HTTPAddr is host:port of the ONVIF HTTP server.
func (c *Camera) HTTPAddr() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return net.JoinHostPort(c.cfg.Host, strconv.Itoa(c.httpPort))
}

// RTSPAddr is host:port of the RTSP server.
func (c *Camera) RTSPAddr() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return net.JoinHostPort(c.cfg.Host, strconv.Itoa(c.rtspPort))
}

// DiscoveryAddr is where to send a unicast WS-Discovery Probe.
func (c *Camera) DiscoveryAddr() *net.UDPAddr {
	c.mu.Lock()
	defer c.mu.Unlock()
	return &net.UDPAddr{IP: net.ParseIP(c.cfg.Host), Port: c.discPort}
}

// Profiles returns the logical profile names this camera serves (ProfileMain, ...).
func (c *Camera) Profiles() []string {
	out := make([]string, 0, len(c.d.profiles))
	for _, p := range c.d.profiles {
		out = append(out, p.logical)
	}
	return out
}

// RTSPURL is the stream URI of a profile (without credentials), "" for an unknown profile.
func (c *Camera) RTSPURL(profile string) string {
	p := c.d.profile(profile)
	if p == nil {
		return ""
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cfg.Quirks.CredentialsInPath {
		return "rtsp://" + net.JoinHostPort(c.cfg.Host, strconv.Itoa(c.rtspPort)) + credPath(c.cfg.Username, c.passwordLocked(), c.d.profileIndex(p))
	}
	return "rtsp://" + net.JoinHostPort(c.cfg.Host, strconv.Itoa(c.rtspPort)) + p.rtspPath
}

// SnapshotURL is the JPEG snapshot URI of a profile (HTTP Digest), "" for an unknown profile.
func (c *Camera) SnapshotURL(profile string) string {
	if c.d.profile(profile) == nil {
		return ""
	}
	return c.httpURL(fmt.Sprintf(c.d.snapPath, profile))
}

// Info returns the camera's identity, credentials and addresses.
func (c *Camera) Info() Info {
	in := Info{
		ID: c.cfg.ID, Address: c.cfg.Host, Dialect: c.cfg.Dialect, EndpointUUID: "urn:uuid:" + c.uuid,
		Manufacturer: c.cfg.Manufacturer, Model: c.cfg.Model, FirmwareVersion: c.cfg.FirmwareVersion,
		SerialNumber: c.cfg.SerialNumber, HardwareID: c.cfg.HardwareID,
		DeviceServiceURL: c.DeviceServiceURL(), DiscoveryPort: c.DiscoveryAddr().Port,
		RTSPURLs: map[string]string{}, SnapshotURLs: map[string]string{},
		Username: c.cfg.Username, Password: c.cfg.Password, PTZ: c.cfg.PTZ,
	}
	for _, p := range c.Profiles() {
		in.RTSPURLs[p] = c.RTSPURL(p)
		in.SnapshotURLs[p] = c.SnapshotURL(p)
	}
	return in
}
