// Package control is gwanje's gRPC control service: it authenticates every
// call, authorizes it against the one table of method permissions, writes
// the audit record, orchestrates the domain packages and translates between
// them and the generated API types. Errors are mapped to gRPC codes in one
// place (errors.go).
package control

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"

	"github.com/gwanje/gwanje/accesscontrol"
	"github.com/gwanje/gwanje/audit"
	"github.com/gwanje/gwanje/devices"
	"github.com/gwanje/gwanje/internal/netlimit"
	"github.com/gwanje/gwanje/privacy/policy"
	"github.com/gwanje/gwanje/privacy/requests"
	gwanjev1 "github.com/gwanje/gwanje/proto/gwanje/v1"
	"github.com/gwanje/gwanje/stream"
)

// Config configures the control service.
type Config struct {
	// Listener accepts gRPC connections. Required.
	Listener net.Listener
	// TLS is the server's TLS configuration. Required: the service never
	// serves plaintext.
	TLS *tls.Config
	// Version is reported by SystemService.GetInfo.
	Version string
	// Roles are the roles this process runs, reported by GetInfo.
	Roles []string
	// InstanceID identifies the installation.
	InstanceID string
	// Access authenticates and authorizes callers. Without it only public
	// methods are served.
	Access *accesscontrol.Service
	// Audit records denials, views and changes. Without it only public
	// methods are served.
	Audit Auditor
	// Devices is the camera registry; without it DeviceService answers
	// Unavailable.
	Devices *devices.Registry
	// Health serves camera health (watch, alarms, availability); without
	// it HealthService answers Unavailable.
	Health *Health
	// Privacy handles subject requests and provisions; it needs the record
	// store, so a process with the recorder role serves it.
	Privacy *requests.Service
	// Recording lists footage, issues playback tickets and keeps holds.
	Recording *Recording
	// Policy drafts and publishes the 운영·관리 방침.
	Policy *policy.Service
	// Tickets issues the one-time tickets of live views; without it
	// StartLiveView answers Unavailable.
	Tickets *stream.Tickets
	// Relay is this process's stream node, when it runs one.
	Relay *stream.Relay
	// LiveViews is the directory of every stream node's open views (List
	// and Stop across nodes); without it only Relay's are known.
	LiveViews *stream.Views
	// Now is the clock of decisions; default time.Now.
	Now func() time.Time
	// ServerOptions are added after the service's own options (and win
	// over them): gwanjed sets keepalive, idle and stream limits here.
	ServerOptions []grpc.ServerOption
	// Logger; default slog.Default().
	Logger *slog.Logger
}

var seoul = func() *time.Location {
	if l, err := time.LoadLocation("Asia/Seoul"); err == nil {
		return l
	}
	return time.FixedZone("KST", 9*3600)
}()

// location is the time zone of reports (Asia/Seoul).
func (s *Server) location() *time.Location { return seoul }

// Auditor appends an entry and returns once it is committed.
type Auditor interface {
	Append(ctx context.Context, e audit.Entry) (audit.Record, error)
}

// Server is the gRPC control service.
type Server struct {
	cfg     Config
	log     *slog.Logger
	grpc    *grpc.Server
	health  *health.Server
	started time.Time
	metrics *metrics
	// methods is the permission table (the package's methods; tests add
	// their own services).
	methods   map[string]access
	closeOnce sync.Once
}

// New builds the service; Run serves it.
func New(cfg Config) (*Server, error) {
	if cfg.Listener == nil {
		return nil, errors.New("control: Listener is required")
	}
	if cfg.TLS == nil {
		return nil, errors.New("control: TLS is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{cfg: cfg, log: cfg.Logger, started: time.Now(), health: health.NewServer(), metrics: newMetrics(), methods: methods}
	s.grpc = grpc.NewServer(append([]grpc.ServerOption{
		grpc.Creds(netlimit.LimitHandshakes(credentials.NewTLS(cfg.TLS), runtime.GOMAXPROCS(0), 0)),
		grpc.ChainUnaryInterceptor(s.recoverUnary, s.unaryInterceptor),
		grpc.ChainStreamInterceptor(s.recoverStream, s.streamInterceptor),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		grpc.MaxRecvMsgSize(MaxRecvMsgSize),
		grpc.MaxSendMsgSize(MaxSendMsgSize),
	}, cfg.ServerOptions...)...)
	healthpb.RegisterHealthServer(s.grpc, s.health)
	reflection.Register(s.grpc)
	gwanjev1.RegisterSystemServiceServer(s.grpc, &systemService{s: s})
	gwanjev1.RegisterAccessServiceServer(s.grpc, &accessService{s: s})
	gwanjev1.RegisterAuditServiceServer(s.grpc, &auditService{s: s})
	gwanjev1.RegisterDeviceServiceServer(s.grpc, &deviceService{s: s})
	gwanjev1.RegisterStreamServiceServer(s.grpc, &streamService{s: s})
	gwanjev1.RegisterHealthServiceServer(s.grpc, &healthService{s: s})
	gwanjev1.RegisterPolicyServiceServer(s.grpc, &policyService{s: s})
	gwanjev1.RegisterRecordingServiceServer(s.grpc, &recordingService{s: s})
	gwanjev1.RegisterPrivacyServiceServer(s.grpc, &privacyService{s: s})
	for name := range s.grpc.GetServiceInfo() {
		s.health.SetServingStatus(name, healthpb.HealthCheckResponse_SERVING)
	}
	if err := checkMethodTable(s.grpc, s.methods); err != nil {
		return nil, err
	}
	return s, nil
}

// Run serves until ctx ends, then stops gracefully (in-flight calls get a
// few seconds to finish).
func (s *Server) Run(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.grpc.Serve(s.cfg.Listener) }()
	select {
	case err := <-errc:
		return fmt.Errorf("control: serve: %w", err)
	case <-ctx.Done():
	}
	s.Close()
	<-errc
	return nil
}

// Close stops the service: health says NOT_SERVING, calls in flight get 5s
// to finish. Safe to call more than once.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.health.Shutdown()
		done := make(chan struct{})
		go func() { s.grpc.GracefulStop(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			s.grpc.Stop()
		}
	})
}

type systemService struct {
	gwanjev1.UnimplementedSystemServiceServer
	s *Server
}

func (x *systemService) GetInfo(context.Context, *gwanjev1.GetInfoRequest) (*gwanjev1.GetInfoResponse, error) {
	return &gwanjev1.GetInfoResponse{
		Version:    x.s.cfg.Version,
		Roles:      x.s.cfg.Roles,
		StartedAt:  timestamp(x.s.started),
		InstanceId: x.s.cfg.InstanceID,
	}, nil
}
