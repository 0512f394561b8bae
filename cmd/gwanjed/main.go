// Command gwanjed is the gwanje server. One binary runs every role by
// default; --roles picks some so that several processes share the work.
// With no --database-url it runs a private PostgreSQL from the local server
// binaries, and with no --nats-url an in-process NATS server, both in the
// data dir. This file only wires the packages together.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gwanje/gwanje/internal/config"
	"github.com/gwanje/gwanje/internal/netlimit"
	"github.com/gwanje/gwanje/web"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	slog.SetDefault(log)
	cfg, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "gwanjed: %v\n", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, log); err != nil {
		log.Error("gwanjed stopped with an error", "err", err)
		fmt.Fprintf(os.Stderr, "gwanjed: %v\n", err)
		os.Exit(1)
	}
	log.Info("gwanjed stopped")
}

// Config is every setting of gwanjed. Each is a flag, a GWANJE_* environment
// variable and a key of the --config YAML file (see README).
type Config struct {
	DataDir               string
	GRPCAddr              string
	HTTPAddr              string
	HTTPSAddr             string
	FFmpeg                string
	NATSListen            string
	DatabaseURL           string
	NATSURL               string
	PostgresBin           string
	TLSHosts              config.StringList
	AdminUser             string
	AdminPassword         string
	RequireContractorTOTP bool
	Demo                  bool
	DemoPassword          string
	DemoBaseIP            string
	RTSPAddr              string
	RTSPUDPAddr           string
	RTSPPublicURL         string
	WebRTCUDPPort         int
	WebRTCTCPPort         int
	WebRTCSTUN            config.StringList
	WebRTCTURN            config.StringList
	WebRTCNAT1To1         config.StringList
	WebRTCPublicURL       string
	WebRTCMaxSessions     int
	WebRTCMaxPerSource    int
	HealthInterval        time.Duration
	KeyDir                string
	RecordDir             string
	RecordSealInterval    time.Duration
	RecorderNode          string
	RecorderCapacity      float64
	RecorderLeaseTTL      time.Duration
	AuditAnchorFile       string
	PlaybackAddr          string
	PlaybackPublicURL     string
	InstitutionName       string
	InstitutionHomepage   string
	InstitutionScope      string
	InstitutionStaff      staffFlag
	CPOName               string
	CPOTitle              string
	CPODepartment         string
	CPOPhone              string
	CPOEmail              string
	ControlCenter         string
	RequestPlace          string
	ReviewPlace           string
	PolicyLayout          string
	PolicyListedSites     int
	Roles                 config.StringList
	ClientFDShare         float64
	MaxConns              int
	MaxConnsPerSource     int
	IdleTimeout           time.Duration
	GRPCMaxStreams        int
	ConsoleIdleLock       time.Duration
	OfflineAlarmAfter     time.Duration
}

var allRoles = []string{"control", "devices", "stream", "recorder"}

// newFlagSet defines every setting of gwanjed on a new flag set, storing
// into c. The deployment files' tests ask it which settings exist.
func newFlagSet(c *Config) *flag.FlagSet {
	fs := flag.NewFlagSet("gwanjed", flag.ContinueOnError)
	fs.String("config", "", "YAML file of settings (keys are these flag names)")
	fs.StringVar(&c.DataDir, "data-dir", "./data", "directory for the embedded PostgreSQL and NATS, TLS material and keys")
	fs.StringVar(&c.GRPCAddr, "grpc-addr", "127.0.0.1:7100", "address of the gRPC control service (TLS)")
	fs.StringVar(&c.HTTPAddr, "http-addr", "127.0.0.1:7180", "address of the HTTP endpoint: /metrics, /healthz, /readyz")
	fs.StringVar(&c.HTTPSAddr, "https-addr", "127.0.0.1:7443", "HTTPS with the server certificate: the public policy pages, the one-time export downloads and browser playback (empty: off)")
	fs.StringVar(&c.NATSListen, "nats-listen", "127.0.0.1:7122", `where the embedded NATS server accepts other processes ("-" for nowhere)`)
	fs.StringVar(&c.DatabaseURL, "database-url", "", "PostgreSQL URL; empty runs a private server from the local PostgreSQL binaries in the data dir")
	fs.StringVar(&c.NATSURL, "nats-url", "", "NATS URL; empty runs an in-process NATS server with JetStream in the data dir")
	fs.StringVar(&c.PostgresBin, "postgres-bin", "", "directory of the PostgreSQL server binaries (initdb, postgres) for the embedded database; default: PATH, then /usr/lib/postgresql/*/bin")
	fs.Var(&c.TLSHosts, "tls-hosts", "extra host names and addresses for the server certificate (comma-separated); 127.0.0.1, ::1 and localhost are always covered")
	fs.StringVar(&c.AdminUser, "admin-user", "admin", "name of the administrator created on the first start")
	fs.StringVar(&c.AdminPassword, "admin-password", "", "password of the first administrator (default: a printed one-time password)")
	fs.BoolVar(&c.RequireContractorTOTP, "require-contractor-totp", false, "contractor accounts must enroll a TOTP second factor before doing anything")
	fs.BoolVar(&c.Demo, "demo", false, "also start 8 simulated cameras (on --demo-base-ip and the 7 addresses after it), register them, and create one account per role (operator, manager, police, technician, contractor, auditor, admin)")
	fs.StringVar(&c.DemoPassword, "demo-password", "", "password of the demo accounts (default: a random one, printed and kept in the data dir)")
	fs.StringVar(&c.DemoBaseIP, "demo-base-ip", "127.0.2.1", "loopback address of the first simulated camera (ports 8080 ONVIF, 8554 RTSP, 3702 discovery)")
	fs.StringVar(&c.RTSPAddr, "rtsp-addr", "127.0.0.1:8554", "where the stream role's RTSP relay serves viewers (TCP)")
	fs.StringVar(&c.RTSPUDPAddr, "rtsp-udp-addr", "127.0.0.1:8000", `UDP port pair (RTP, RTCP) of the relay; "-" for TCP only`)
	fs.StringVar(&c.RTSPPublicURL, "rtsp-public-url", "", "base URL players use to reach this stream node (default rtsp://<rtsp-addr>)")
	fs.IntVar(&c.WebRTCUDPPort, "webrtc-udp-port", 8189, "UDP port every WebRTC (WHEP) live view shares (ICE UDP mux), on the host of --https-addr; 0 picks a free port; -1: no UDP")
	fs.IntVar(&c.WebRTCTCPPort, "webrtc-tcp-port", 8189, "TCP port for ICE-TCP, for browsers on networks that block UDP, on the host of --https-addr; 0 picks a free port; -1: no ICE-TCP")
	fs.Var(&c.WebRTCSTUN, "webrtc-stun", "STUN servers for WebRTC views from outside the center's network (comma-separated stun:host:port)")
	fs.Var(&c.WebRTCTURN, "webrtc-turn", "TURN servers with their credentials (comma-separated turn:user:credential@host:port[?transport=udp|tcp]); never logged")
	fs.Var(&c.WebRTCNAT1To1, "webrtc-nat1to1", "the stream node's public IP addresses (NAT 1:1): WebRTC host candidates carry them instead of the local address (comma-separated)")
	fs.StringVar(&c.WebRTCPublicURL, "webrtc-public-url", "", "base URL browsers reach this node's HTTPS address at: WHEP live view and browser playback (default https://<https-addr>)")
	fs.IntVar(&c.WebRTCMaxSessions, "webrtc-max-sessions", 256, "open WebRTC live views this stream node serves at most; more are refused (503)")
	fs.IntVar(&c.WebRTCMaxPerSource, "webrtc-max-per-source", 64, "open WebRTC live views one source address (IPv4 address or IPv6 /64) holds at most; more are refused (429)")
	fs.DurationVar(&c.HealthInterval, "health-interval", 30*time.Second, "how often the devices role probes each camera")
	fs.StringVar(&c.InstitutionName, "institution-name", "", `the institution named in the published CCTV policy (e.g. "○○시")`)
	fs.StringVar(&c.InstitutionHomepage, "institution-homepage", "", "its homepage, named in the policy")
	fs.StringVar(&c.InstitutionScope, "institution-scope", "", `which parts of the institution the policy covers (e.g. "본청, 소속기관 미포함")`)
	fs.StringVar(&c.CPOName, "cpo-name", "", "name of the 개인정보 보호책임자 (without it the policy says 지정 예정)")
	fs.StringVar(&c.CPOTitle, "cpo-title", "", "직위 of the 개인정보 보호책임자 (e.g. 행정지원국장)")
	fs.StringVar(&c.CPODepartment, "cpo-department", "", "소속 of the 개인정보 보호책임자")
	fs.StringVar(&c.CPOPhone, "cpo-phone", "", "phone of the 개인정보 보호책임자")
	fs.StringVar(&c.CPOEmail, "cpo-email", "", "e-mail of the 개인정보 보호책임자")
	fs.Var(&c.InstitutionStaff, "institution-staff", `the 관리책임자·접근권한자 table of the policy: rows "구분|직위|소속|전화번호|비고" separated by ";" (YAML: a list)`)
	fs.StringVar(&c.ControlCenter, "control-center", "", "the 관제 place named in the policy (e.g. 미추홀구청 CCTV 통합관제센터); default the cameras' 관제장소")
	fs.StringVar(&c.RequestPlace, "request-place", "", "where subject requests are filed (청구 접수처); default the CPO's department")
	fs.StringVar(&c.ReviewPlace, "review-place", "", "where footage is shown to a data subject (확인 장소); default --request-place")
	fs.StringVar(&c.PolicyLayout, "policy-layout", "", "layout of the policy: purposes, departments, or empty (departments from 4 departments on)")
	fs.IntVar(&c.PolicyListedSites, "policy-listed-sites", 8, `how many locations the policy names per group before "외 N개소"`)
	fs.StringVar(&c.KeyDir, "key-dir", "", "directory of the keys (camera credentials, audit signing, TOTP); default <data-dir>/keys. Processes sharing a database must share it")
	fs.StringVar(&c.AuditAnchorFile, "audit-anchor-file", "", "also append every signed audit checkpoint to this file, outside the database's reach (another disk, an append-only mount); they always go to the NATS stream GWANJE_AUDIT_ANCHOR")
	fs.StringVar(&c.RecordDir, "record-dir", "", "where the recorder role writes encrypted segments (default <data-dir>/recordings)")
	fs.DurationVar(&c.RecordSealInterval, "record-seal-interval", time.Second, "the recorder seals and fdatasyncs the segment in progress every this much footage: the most a crash loses (stream/record/FORMAT.md)")
	fs.StringVar(&c.RecorderNode, "recorder-node", "", "this recorder's name in the pool and the index (letters, digits, '.', '_', '-'); unique among recorders and stable across restarts. Default: the host name")
	fs.Float64Var(&c.RecorderCapacity, "recorder-capacity", 100, "this recorder's declared capacity, the weight of its share of the cameras: cameras or Mbit/s, the same unit on every recorder (scaled down as its disk fills)")
	fs.DurationVar(&c.RecorderLeaseTTL, "recorder-lease-ttl", 3*time.Second, "lease time of a recorder's cameras: a recorder that dies loses them this long after its last renewal (renewed every third of it). The same on every recorder")
	fs.StringVar(&c.PlaybackAddr, "playback-addr", "127.0.0.1:8555", "where the recorder role serves playback over RTSP")
	fs.StringVar(&c.PlaybackPublicURL, "playback-public-url", "", "base URL players use to reach this node's playback (default rtsp://<playback-addr>)")
	fs.StringVar(&c.FFmpeg, "ffmpeg", "", "ffmpeg binary (with libx264) that burns masks into exports; default: ffmpeg on PATH")
	fs.Float64Var(&c.ClientFDShare, "client-fd-share", netlimit.DefaultClientShare, "fraction of the descriptor limit (RLIMIT_NOFILE, raised to its hard limit at start) that client connections on all listeners may hold together; the rest is kept for the camera side (probes, pulls, recording). At most 0.9")
	fs.IntVar(&c.MaxConns, "max-conns", 0, "connections each client listener (gRPC, HTTP, HTTPS, RTSP relay, playback) holds at most; more are closed at once. 0: the client share of the descriptor limit divided among the listeners, at most 10000")
	fs.IntVar(&c.MaxConnsPerSource, "max-conns-per-source", 128, "connections each client listener holds at most from one source address (IPv4 address or IPv6 /64)")
	fs.DurationVar(&c.IdleTimeout, "idle-timeout", time.Minute, "a client connection with nothing to do for this long is closed: HTTP keep-alive, gRPC without calls, RTSP without requests or keep-alives")
	fs.IntVar(&c.GRPCMaxStreams, "grpc-max-streams", 128, "concurrent calls (streams) on one gRPC connection")
	fs.DurationVar(&c.OfflineAlarmAfter, "offline-alarm-after", 5*time.Minute, "a camera offline this long raises an offline alarm (the alarm queue, WatchEvents)")
	fs.DurationVar(&c.ConsoleIdleLock, "console-idle-lock", web.DefaultIdleLock, "the operator console locks after this long without input: it logs out (ending its live views) and asks for the password again before reopening the wall (0: never)")
	c.Roles = allRoles
	fs.Var(&c.Roles, "roles", "roles to run (comma-separated): control, devices, stream, recorder")
	return fs
}

func parseFlags(args []string) (Config, error) {
	var c Config
	fs := newFlagSet(&c)
	if err := config.Load(fs, args, "config"); err != nil {
		return c, err
	}
	return c, c.validate()
}

func (c Config) validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("data-dir: must not be empty"))
	}
	if c.GRPCAddr == "" {
		errs = append(errs, errors.New("grpc-addr: must not be empty"))
	}
	if c.MaxConns < 0 {
		errs = append(errs, errors.New("max-conns: must not be negative (0 derives it from the descriptor limit)"))
	}
	if c.MaxConnsPerSource <= 0 {
		errs = append(errs, errors.New("max-conns-per-source: must be positive"))
	}
	if c.IdleTimeout <= 0 {
		errs = append(errs, errors.New("idle-timeout: must be positive"))
	}
	if c.WebRTCUDPPort < -1 || c.WebRTCUDPPort > 65535 || c.WebRTCTCPPort < -1 || c.WebRTCTCPPort > 65535 {
		errs = append(errs, errors.New("webrtc-udp-port, webrtc-tcp-port: 0..65535, or -1 for off"))
	}
	if c.WebRTCUDPPort == -1 && c.WebRTCTCPPort == -1 {
		errs = append(errs, errors.New("webrtc-udp-port, webrtc-tcp-port: at least one must be on"))
	}
	if c.WebRTCMaxSessions <= 0 || c.WebRTCMaxPerSource <= 0 {
		errs = append(errs, errors.New("webrtc-max-sessions, webrtc-max-per-source: must be positive"))
	}
	if _, err := c.iceServers(); err != nil {
		errs = append(errs, err)
	}
	for _, ip := range c.WebRTCNAT1To1 {
		if net.ParseIP(ip) == nil {
			errs = append(errs, fmt.Errorf("webrtc-nat1to1: %q is not an IP address", ip))
		}
	}
	if c.OfflineAlarmAfter <= 0 {
		errs = append(errs, errors.New("offline-alarm-after: must be positive"))
	}
	if c.ConsoleIdleLock < 0 {
		errs = append(errs, errors.New("console-idle-lock: must not be negative (0: never lock)"))
	}
	if c.GRPCMaxStreams <= 0 {
		errs = append(errs, errors.New("grpc-max-streams: must be positive"))
	}
	if err := c.institution().Check(); err != nil {
		errs = append(errs, fmt.Errorf("institution settings: %w", err))
	}
	if c.RecorderCapacity <= 0 {
		errs = append(errs, errors.New("recorder-capacity: must be positive"))
	}
	if c.RecorderLeaseTTL < 300*time.Millisecond {
		errs = append(errs, errors.New("recorder-lease-ttl: at least 300ms"))
	}
	if c.PolicyListedSites < 1 {
		errs = append(errs, errors.New("policy-listed-sites: must be at least 1"))
	}
	if len(c.Roles) == 0 {
		errs = append(errs, errors.New("roles: name at least one of control, devices, stream, recorder"))
	}
	for _, r := range c.Roles {
		known := false
		for _, a := range allRoles {
			known = known || r == a
		}
		if !known {
			errs = append(errs, fmt.Errorf("roles: unknown role %q (known: control, devices, stream, recorder)", r))
		}
	}
	return errors.Join(errs...)
}

func (c Config) runs(role string) bool {
	for _, r := range c.Roles {
		if r == role {
			return true
		}
	}
	return false
}
