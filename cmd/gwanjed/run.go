package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

	"github.com/gwanje/gwanje/accesscontrol"
	"github.com/gwanje/gwanje/audit"
	"github.com/gwanje/gwanje/control"
	"github.com/gwanje/gwanje/devices"
	"github.com/gwanje/gwanje/devices/health"
	"github.com/gwanje/gwanje/events"
	"github.com/gwanje/gwanje/internal/demo"
	"github.com/gwanje/gwanje/internal/keyfile"
	"github.com/gwanje/gwanje/internal/netlimit"
	"github.com/gwanje/gwanje/internal/pgdb"
	"github.com/gwanje/gwanje/internal/pglocal"
	"github.com/gwanje/gwanje/internal/tlsutil"
	"github.com/gwanje/gwanje/privacy/export"
	"github.com/gwanje/gwanje/privacy/policy"
	"github.com/gwanje/gwanje/privacy/requests"
	"github.com/gwanje/gwanje/stream"
	"github.com/gwanje/gwanje/stream/playback"
	"github.com/gwanje/gwanje/stream/record"
	"github.com/gwanje/gwanje/stream/whep"
	"github.com/gwanje/gwanje/web"
)

const dataDirMarker = "GWANJE_DATA_DIR"

func run(ctx context.Context, cfg Config, log *slog.Logger) error {
	err := serve(ctx, cfg, log)
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		return nil // asked to stop: components that return their context's end stopped cleanly
	}
	return err
}

func serve(ctx context.Context, cfg Config, log *slog.Logger) error {
	t0 := time.Now()
	unlock, err := prepareDataDir(cfg.DataDir)
	if err != nil {
		return err
	}
	defer unlock()

	// Client listeners hold at most their share of the descriptors; the
	// rest stays for the camera side.
	limits, err := planLimits(cfg, log)
	if err != nil {
		return err
	}
	// Bind the listeners first: a taken port fails the start before anything
	// else is started or created.
	grpcLis, err := net.Listen("tcp", cfg.GRPCAddr)
	if err != nil {
		return fmt.Errorf("grpc-addr: cannot listen on %s: %w", cfg.GRPCAddr, err)
	}
	defer grpcLis.Close()
	if grpcLis, err = limits.wrap("grpc", grpcLis); err != nil {
		return err
	}
	var httpLis, httpsLis net.Listener
	if cfg.HTTPAddr != "" {
		if httpLis, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
			return fmt.Errorf("http-addr: cannot listen on %s: %w", cfg.HTTPAddr, err)
		}
		defer httpLis.Close()
		if httpLis, err = limits.wrap("http", httpLis); err != nil {
			return err
		}
	}
	if cfg.HTTPSAddr != "" {
		if httpsLis, err = net.Listen("tcp", cfg.HTTPSAddr); err != nil {
			return fmt.Errorf("https-addr: cannot listen on %s: %w", cfg.HTTPSAddr, err)
		}
		defer httpsLis.Close()
		if httpsLis, err = limits.wrap("https", httpsLis); err != nil {
			return err
		}
	}

	dbURL, dbWhere := cfg.DatabaseURL, "external"
	if dbURL == "" {
		pg, err := pglocal.Start(ctx, pglocal.Config{DataDir: filepath.Join(cfg.DataDir, "postgres"), BinDir: cfg.PostgresBin, Logger: log})
		if err != nil {
			if errors.Is(err, pglocal.ErrNoBinaries) {
				return fmt.Errorf("no --database-url given and %w", err)
			}
			return err
		}
		defer pg.Close()
		dbURL, dbWhere = pg.URL("postgres"), "embedded in "+pg.DataDir()
	}
	if err := pgdb.Migrate(ctx, dbURL); err != nil {
		return err
	}
	pool, err := pgdb.Open(ctx, pgdb.Config{URL: dbURL})
	if err != nil {
		return err
	}
	defer pool.Close()
	var instanceID string
	if err := pool.QueryRow(ctx, "select instance_id::text from installation").Scan(&instanceID); err != nil {
		return fmt.Errorf("read installation: %w", err)
	}

	bus, err := events.New(ctx, events.Config{URL: cfg.NATSURL, DataDir: cfg.DataDir, ListenAddr: cfg.NATSListen, Logger: log})
	if err != nil {
		return err
	}
	defer bus.Close()

	tlsCfg, err := tlsutil.Ensure(filepath.Join(cfg.DataDir, "tls"), cfg.TLSHosts)
	if err != nil {
		return err
	}
	keys := cfg.KeyDir
	if keys == "" {
		keys = filepath.Join(cfg.DataDir, "keys")
	}
	if err := os.MkdirAll(keys, 0o700); err != nil {
		return fmt.Errorf("data-dir: keys: %w", err)
	}

	// Checkpoints are anchored outside PostgreSQL: in JetStream, and in a
	// file when one is named (audit/FORMAT.md, Anchors).
	anchors := []audit.AnchorLog{bus.Anchors()}
	if cfg.AuditAnchorFile != "" {
		f, err := audit.NewFileAnchor(cfg.AuditAnchorFile)
		if err != nil {
			return fmt.Errorf("audit-anchor-file: %w", err)
		}
		anchors = append(anchors, f)
	}
	// The audit store's alarms (a cut tail, an oversized entry) go to the
	// alarm list through a Reporter (source "audit").
	auditReporter, err := health.NewReporter(health.ReporterConfig{Pool: pool, Source: "audit", Logger: log})
	if err != nil {
		return err
	}
	defer auditReporter.Close()
	auditStore, err := audit.New(audit.Config{
		Pool: pool, KeyFile: filepath.Join(keys, "audit-signing.key"), Publisher: bus.Durable(), Logger: log,
		Anchors: anchors, Alarm: auditReporter.AuditAlarm,
	})
	if err != nil {
		return err
	}
	defer auditStore.Close()
	// The ends of live views and playbacks are never dropped: they go
	// through a durable spool in the data dir, committed to the audit store
	// whenever it is reachable (also after a restart).
	endSpool, err := audit.NewSpool(audit.SpoolConfig{Dir: filepath.Join(cfg.DataDir, "audit-spool"), Store: auditStore, Logger: log})
	if err != nil {
		return fmt.Errorf("data-dir: %w", err)
	}
	defer endSpool.Close()
	totpKey, err := loadOrCreateKey(filepath.Join(keys, "totp.key"))
	if err != nil {
		return err
	}
	access, err := accesscontrol.New(ctx, accesscontrol.Config{
		Pool: pool, Auditor: auditStore, Notifier: bus.Notices(), Subscriber: bus.Notices(), Logger: log,
		TOTPKey: totpKey, RequireTOTPForContractors: cfg.RequireContractorTOTP,
	})
	if err != nil {
		return err
	}
	defer access.Close()

	registry, err := devices.New(devices.Config{Pool: pool, Auditor: auditStore, DataDir: keys, Logger: log})
	if err != nil {
		return err
	}
	defer registry.Close()
	auditStore.SetCameraNamer(control.LedgerCameras(registry))
	// Stream and snapshot URIs stored in clear before they were sealed.
	if _, err := registry.SealURIs(ctx, devices.Actor{Actor: audit.Actor{Username: "system:migration"}}); err != nil {
		return fmt.Errorf("seal camera URIs: %w", err)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(limits.metrics.Collectors()...)
	// Every role's figures (deploy/METRICS.md): the process, its
	// PostgreSQL pool and NATS connection, the audit store it writes.
	reg.MustRegister(buildInfo(cfg))
	reg.MustRegister(pgdb.Collectors(pool)...)
	reg.MustRegister(bus.Collectors()...)
	reg.MustRegister(auditStore.Collectors()...)
	reg.MustRegister(access.Collectors()...)

	policySvc, err := policy.New(policy.Config{
		Pool: pool, Registry: registry, Auditor: auditStore, Logger: log,
		Institution: cfg.institution(), Contracts: policy.DirectContracts{Reader: access},
	})
	if err != nil {
		return err
	}

	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return auditReporter.Run(ctx) })
	g.Go(func() error { return auditStore.Run(ctx) })
	g.Go(func() error { return endSpool.Run(ctx) })
	if cfg.runs("control") {
		g.Go(func() error { return auditStore.RunRetention(ctx, 24*time.Hour) })
	}
	g.Go(func() error { return access.Run(ctx) })
	adminUser, adminPassword := cfg.AdminUser, cfg.AdminPassword
	var demoPassword string
	if cfg.Demo {
		if demoPassword, err = demoPasswordFor(cfg); err != nil {
			return err
		}
		adminUser, adminPassword = accesscontrol.RoleAdmin, demoPassword
	}
	// In demo mode the first responsible manager is the demo account
	// "manager", with the demo password.
	boot, err := access.Bootstrap(ctx, accesscontrol.BootstrapConfig{Username: adminUser, Password: adminPassword, ManagerPassword: demoPassword})
	if err != nil {
		return err
	}
	if cfg.Demo {
		d, err := demo.Start(ctx, demo.Config{Access: access, Devices: registry, Password: demoPassword, BaseIP: cfg.DemoBaseIP, Logger: log})
		if err != nil {
			return err
		}
		defer d.Fleet.Close()
		if _, _, err := policySvc.Publish(ctx, policy.Actor{Actor: audit.Actor{Username: "system:demo"}},
			policy.PublishOptions{UrgentReason: "최초 제정 (데모)"}); err != nil {
			return fmt.Errorf("demo: publish the policy: %w", err)
		}
		fmt.Fprintf(os.Stderr, "\n  demo: %d simulated cameras; accounts %s, each with password %s\n  try: go run ./cmd/gwanje login --user operator\n\n",
			d.Cameras, strings.Join(d.Accounts, ", "), d.Password)
	}
	if boot.Created && boot.Password != "" {
		// Printed to the console once, never logged.
		fmt.Fprintf(os.Stderr, "\n  first start: administrator %q created with one-time password %s\n  (log in with 'gwanje login --user %s'; you must change it at the first login)\n\n", boot.Username, boot.Password, boot.Username)
	}
	if boot.Created && boot.ManagerPassword != "" {
		// The first approver of footage rights (four eyes); printed once.
		fmt.Fprintf(os.Stderr, "  first start: responsible manager %q (approves footage rights) created with one-time password %s\n  (hand it to the manager, who must change it at the first login)\n\n", boot.ManagerUsername, boot.ManagerPassword)
	}
	// Stream nodes register in NATS KV; control picks one per camera.
	nodes, err := stream.NewNodes(ctx, bus.JS, stream.NodesConfig{Logger: log})
	if err != nil {
		return err
	}
	tickets := stream.NewTickets(pool, nodes)
	liveViews, err := stream.NewViews(ctx, bus.JS, bus.Conn, 0, log)
	if err != nil {
		return err
	}
	var relay *stream.Relay
	var whepSrv *whep.Server
	if cfg.runs("stream") {
		wrap, err := limits.wrapper("rtsp")
		if err != nil {
			return err
		}
		webURL := "" // WebRTC needs the HTTPS address
		if httpsLis != nil {
			webURL = cfg.webURL(httpsLis)
		}
		relay, err = stream.New(stream.Config{
			RTSPAddress: cfg.RTSPAddr, UDPRTPAddress: cfg.RTSPUDPAddr, PublicURL: cfg.RTSPPublicURL, WebURL: webURL,
			WrapListener: wrap, IdleTimeout: cfg.IdleTimeout,
			Tickets: tickets, Cameras: control.RelayCameras(registry), Auditor: endSpool,
			Authorizer: control.AccessDecider(access, registry, time.Now), Notices: bus.Notices(), Nodes: nodes, Views: liveViews, Logger: log,
		})
		if err != nil {
			return err
		}
		if err := relay.Start(ctx); err != nil {
			return fmt.Errorf("rtsp-addr: %w", err)
		}
		defer relay.Close()
		reg.MustRegister(relay.Metrics().Collectors()...)
		g.Go(func() error { <-ctx.Done(); return relay.Close() })
		if httpsLis != nil {
			// Browsers' live view: WHEP on the HTTPS address, one more
			// reader of the relay's shared upstream.
			wrapTCP, err := limits.wrapper("webrtc-tcp")
			if err != nil {
				return err
			}
			whepSrv, err = newWHEP(cfg, relay, tickets, endSpool, control.AccessDecider(access, registry, time.Now), bus.Notices(), wrapTCP, log)
			if err != nil {
				return err
			}
			if err := whepSrv.Start(); err != nil {
				return fmt.Errorf("webrtc-udp-port, webrtc-tcp-port: %w", err)
			}
			defer whepSrv.Close() // before the relay's (deferred last first)
			reg.MustRegister(whepSrv.Collectors()...)
			g.Go(func() error { <-ctx.Done(); return whepSrv.Close() })
		}
	}
	if cfg.runs("devices") {
		worker, err := health.NewWorker(health.WorkerConfig{Conn: bus.Conn, Targets: control.HealthTargets(registry), Interval: cfg.HealthInterval, Logger: log,
			Pending: health.PendingFunc(func(ctx context.Context, id string, st health.State) error {
				_, err := registry.CameraUp(ctx, id, st.String())
				return err
			})})
		if err != nil {
			return err
		}
		defer worker.Close()
		reg.MustRegister(worker.Collectors()...)
		g.Go(func() error { return worker.Run(ctx) })
	}
	var privacySvc *requests.Service
	var pbURL string
	var downloads, browserPlayback http.Handler
	if cfg.runs("recorder") {
		recDir := cfg.RecordDir
		if recDir == "" {
			recDir = filepath.Join(cfg.DataDir, "recordings")
		}
		// The recorder's alarms join the alarm list (ListAlarms, WatchEvents)
		// through a Reporter; the store logs and counts them too.
		var recAlarm func(record.Alarm)
		recStore, err := record.NewStore(record.StoreConfig{Pool: pool, Dir: recDir, DataDir: keys, Node: cfg.RecorderNode, Logger: log,
			Alarm: func(a record.Alarm) { recAlarm(a) }})
		if err != nil {
			return fmt.Errorf("record-dir: %w", err)
		}
		reporter, err := health.NewReporter(health.ReporterConfig{Pool: pool, Source: "recorder/" + recStore.Node(), Logger: log})
		if err != nil {
			return err
		}
		defer reporter.Close()
		g.Go(func() error { return reporter.Run(ctx) })
		recAlarm = control.RecordingAlarms(reporter)
		reg.MustRegister(recStore.Collectors()...)
		// The recorder is another reader of the relay's shared upstream when
		// this process relays; a recorder-only process pulls itself.
		var source record.Source = &record.RTSPSource{Upstreams: control.RelayCameras(registry), Logger: log}
		if relay != nil {
			source = record.RelaySource{Relay: relay}
		}
		// Recorders share the cameras through leases in NATS KV (one
		// recorder alone holds them all).
		recorder, err := record.New(record.Config{Store: recStore, Cameras: control.RecordingCameras(registry), Source: source,
			SealInterval: cfg.RecordSealInterval, Logger: log,
			Pool: &record.PoolConfig{JS: bus.JS, TTL: cfg.RecorderLeaseTTL, Capacity: cfg.RecorderCapacity}})
		if err != nil {
			return err
		}
		defer recorder.Close()
		reg.MustRegister(recorder.Collectors()...)
		g.Go(func() error { return recorder.Run(ctx) })
		sweeper, err := record.NewSweeper(record.SweeperConfig{Store: recStore, Cameras: control.RecordingCameras(registry), Auditor: auditStore, Logger: log})
		if err != nil {
			return err
		}
		g.Go(func() error { return sweeper.Run(ctx) })
		wrap, err := limits.wrapper("playback")
		if err != nil {
			return err
		}
		pbServer, err := playback.New(playback.Config{Store: recStore, Tickets: playback.NewTickets(pool), Auditor: endSpool,
			RTSPAddress: cfg.PlaybackAddr, PublicURL: cfg.PlaybackPublicURL, WrapListener: wrap, IdleTimeout: cfg.IdleTimeout,
			Authorizer: control.AccessDecider(access, registry, time.Now), Notices: bus.Notices(), Logger: log,
			BrowserURL: browserURL(cfg, httpsLis)})
		if err != nil {
			return err
		}
		if err := pbServer.Start(ctx); err != nil {
			return fmt.Errorf("playback-addr: %w", err)
		}
		defer pbServer.Close()
		if err := recStore.RegisterNode(ctx, pbServer.URL()); err != nil {
			return err
		}
		pbURL = pbServer.URL()
		browserPlayback = pbServer.Handler()
		g.Go(func() error { <-ctx.Done(); pbServer.Close(); return nil })

		masker, err := export.DetectFFmpeg(cfg.FFmpeg)
		if err != nil {
			log.Warn("exports with masks over other people are refused until ffmpeg is available", "err", err)
		}
		exporter, err := export.New(export.Config{Store: recStore, DataDir: keys, Dir: filepath.Join(cfg.DataDir, "exports"), Masker: masker, Logger: log})
		if err != nil {
			return err
		}
		links, err := export.NewLinks(export.LinksConfig{Pool: pool, Auditor: auditStore, Dir: exporter.Dir(),
			Authorizer: control.AccessDecider(access, registry, time.Now), Notices: bus.Notices(), Logger: log})
		if err != nil {
			return err
		}
		defer links.Close()
		g.Go(func() error { return links.Run(ctx) })
		// A download may outlast the HTTPS write timeout while the client
		// keeps reading.
		downloads = netlimit.WriteProgress(links.Handler(), 30*time.Second)
		privacySvc, err = requests.New(requests.Config{Pool: pool, Auditor: auditStore, AuditQuery: auditStore, Decider: access,
			Cameras: control.PrivacyCameras(registry), Store: recStore, Exporter: exporter, Links: links, Publisher: bus.Notices(), Logger: log})
		if err != nil {
			return err
		}
		defer privacySvc.Close()
		g.Go(func() error { return privacySvc.Run(ctx) })
	}
	var healthSvc *control.Health
	if cfg.runs("control") {
		history, err := health.NewHistory(health.HistoryConfig{Conn: bus.Conn, Pool: pool, Logger: log})
		if err != nil {
			return err
		}
		defer history.Close()
		g.Go(func() error { return history.Run(ctx) })
		alarms, err := health.NewAlarms(health.AlarmsConfig{Conn: bus.Conn, Pool: pool, Auditor: auditStore, OfflineAfter: cfg.OfflineAlarmAfter, Logger: log})
		if err != nil {
			return err
		}
		defer alarms.Close()
		g.Go(func() error { return alarms.Run(ctx) })
		watcher, err := health.NewWatcher(health.WatcherConfig{Conn: bus.Conn, Logger: log})
		if err != nil {
			return err
		}
		healthSvc = &control.Health{Watcher: watcher, Alarms: alarms, Pool: pool,
			Current: func(ctx context.Context, id string) (health.Status, bool, error) {
				return health.CurrentStatus(ctx, bus.JS, id)
			}}
	}
	var console http.Handler
	if cfg.runs("control") {
		ctl, err := control.New(control.Config{
			Listener: grpcLis, TLS: tlsCfg, Version: version, Roles: cfg.Roles, InstanceID: instanceID, Logger: log,
			Access: access, Audit: auditStore, Devices: registry, Tickets: tickets, Relay: relay, LiveViews: liveViews, Health: healthSvc, Policy: policySvc,
			Recording: &control.Recording{Pool: pool, Tickets: playback.NewTickets(pool), Auditor: auditStore,
				Nodes: control.PoolRecorders(bus.JS)}, Privacy: privacySvc,
			ServerOptions: grpcOptions(cfg.IdleTimeout, cfg.GRPCMaxStreams),
		})
		if err != nil {
			return err
		}
		reg.MustRegister(ctl.Collectors()...)
		g.Go(func() error { return ctl.Run(ctx) })
		// The operator console and its door to the same gRPC services.
		api, err := ctl.BrowserHandler()
		if err != nil {
			return err
		}
		lock := cfg.ConsoleIdleLock
		if lock == 0 {
			lock = -1 // never
		}
		var media []string // the WHEP and playback base, when it is another origin than the console's
		if httpsLis != nil {
			if u, err := url.Parse(cfg.webURL(httpsLis)); err == nil && u.Host != "" {
				media = append(media, u.Scheme+"://"+u.Host)
			}
		}
		if console, err = web.New(web.Config{API: api, IdleLock: lock, MediaOrigins: media, Logger: log}); err != nil {
			return err
		}
	}
	if httpLis != nil {
		srv := netlimit.NewHTTPServer(httpHandler(reg, pool, bus, policySvc.Handler()), cfg.IdleTimeout)
		g.Go(func() error {
			if err := srv.Serve(httpLis); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("http: %w", err)
			}
			return nil
		})
		g.Go(func() error {
			<-ctx.Done()
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			return srv.Shutdown(sctx)
		})
	}
	if httpsLis != nil {
		// Public pages, one-time export downloads and the operator console
		// (at /, with its API under /api), over TLS with the server's
		// certificate.
		mux := http.NewServeMux()
		if console != nil {
			mux.Handle("/", console)
		}
		for _, r := range policy.Routes {
			mux.Handle(r, policySvc.Handler())
		}
		if downloads != nil {
			mux.Handle(export.DownloadPrefix, downloads)
		}
		if browserPlayback != nil {
			// Paced fMP4 streams set their own write deadlines.
			mux.Handle(playback.MSEPrefix, browserPlayback)
		}
		if whepSrv != nil {
			h := whepSrv.Handler()
			mux.Handle(whep.LivePrefix, h)
			mux.Handle(whep.SessionPrefix, h)
		}
		srv := netlimit.NewHTTPServer(mux, cfg.IdleTimeout)
		// Handshakes run a few at a time (as on the gRPC port), so a flood
		// of new connections cannot starve the connected clients.
		httpsTLS := tlsCfg.Clone()
		httpsTLS.NextProtos = []string{"h2", "http/1.1"}
		srv.TLSConfig = httpsTLS
		tlsLis := netlimit.NewTLSListener(httpsLis, netlimit.TLSListenerConfig{TLS: httpsTLS, Handshakes: runtime.GOMAXPROCS(0)})
		g.Go(func() error {
			if err := srv.Serve(tlsLis); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("https: %w", err)
			}
			return nil
		})
		g.Go(func() error {
			<-ctx.Done()
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			return srv.Shutdown(sctx)
		})
	}
	natsWhere := bus.ClientURL()
	if !bus.Embedded() {
		natsWhere = "external " + redactURL(cfg.NATSURL)
	}
	httpWhere, httpsWhere, playbackWhere := "off", "off", "off"
	if httpLis != nil {
		httpWhere = httpLis.Addr().String()
	}
	if httpsLis != nil {
		httpsWhere = httpsLis.Addr().String()
	}
	if pbURL != "" {
		playbackWhere = pbURL
	}
	log.Info("serving",
		"grpc", grpcLis.Addr().String(), "http", httpWhere, "https", httpsWhere, "nats", natsWhere, "database", dbWhere,
		"ca", filepath.Join(cfg.DataDir, "tls", tlsutil.CACert), "roles", cfg.Roles.String(), "rtsp", relayURL(relay), "webrtc", whepWhere(whepSrv, relay), "playback", playbackWhere,
		"startup", time.Since(t0).Round(time.Millisecond).String())
	return g.Wait()
}

// The paths of the HTTP address (--http-addr) that deployments probe and
// scrape (deploy/: Kubernetes probes, compose health checks, Prometheus).
const (
	metricsPath   = "/metrics" // Prometheus (deploy/METRICS.md)
	livenessPath  = "/healthz" // the process answers
	readinessPath = "/readyz"  // PostgreSQL and NATS reachable
)

func httpHandler(reg *prometheus.Registry, pool *pgxpool.Pool, bus *events.Bus, public http.Handler) http.Handler {
	mux := http.NewServeMux()
	// The published policy and signage: public, read-only, no login.
	for _, r := range policy.Routes {
		mux.Handle(r, public)
	}
	mux.Handle("GET "+metricsPath, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET "+livenessPath, func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET "+readinessPath, func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := pool.Ping(ctx); err != nil {
			http.Error(w, "database unreachable", http.StatusServiceUnavailable)
			return
		}
		if !bus.Conn.IsConnected() {
			http.Error(w, "NATS unreachable", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	return mux
}

// prepareDataDir creates the data dir (or checks that an existing one is
// gwanje's), makes sure it is writable, and locks it against a second
// gwanjed. When running as root the dir is made traversable (not readable)
// by others, so the postgres OS user can reach its own subdirectory.
func prepareDataDir(dir string) (unlock func(), err error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("data-dir: %w", err)
	}
	if st, err := os.Stat(abs); err == nil && !st.IsDir() {
		return nil, fmt.Errorf("data-dir: %s is a file, not a directory", abs)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("data-dir: cannot create %s: %w", abs, err)
	}
	if os.Geteuid() == 0 {
		if err := os.Chmod(abs, 0o711); err != nil {
			return nil, fmt.Errorf("data-dir: %w", err)
		}
	}
	probe := filepath.Join(abs, ".write-test")
	if err := os.WriteFile(probe, nil, 0o600); err != nil {
		return nil, fmt.Errorf("data-dir: %s is not writable: %w", abs, err)
	}
	os.Remove(probe)

	marker := filepath.Join(abs, dataDirMarker)
	const markerText = "gwanje data dir, format 1\n"
	b, err := os.ReadFile(marker)
	switch {
	case err == nil && string(b) != markerText:
		return nil, fmt.Errorf("data-dir: %s has an unreadable marker file %s (%q): this is not a gwanje data dir of a version this gwanjed knows", abs, dataDirMarker, truncate(string(b), 40))
	case errors.Is(err, os.ErrNotExist):
		// A new data dir may hold only tls/: the system's CA put there
		// before the first start, so that every process of an installation
		// issues its certificate from one CA (deploy/README.md).
		entries, _ := os.ReadDir(abs)
		if len(entries) > 0 && !(len(entries) == 1 && entries[0].IsDir() && entries[0].Name() == "tls") {
			return nil, fmt.Errorf("data-dir: %s is not empty and is not a gwanje data dir (no %s file): choose an empty or new directory", abs, dataDirMarker)
		}
		if err := os.WriteFile(marker, []byte(markerText), 0o644); err != nil {
			return nil, fmt.Errorf("data-dir: %w", err)
		}
	case err != nil:
		return nil, fmt.Errorf("data-dir: %w", err)
	}

	lf, err := os.OpenFile(filepath.Join(abs, "gwanjed.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("data-dir: lock: %w", err)
	}
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lf.Close()
		return nil, fmt.Errorf("data-dir: %s is in use by another gwanjed (%w)", abs, err)
	}
	return func() { lf.Close() }, nil
}

// demoPasswordFor returns the demo accounts' password: --demo-password, or
// the one an earlier demo start kept in the data dir, or a new random one
// (kept there, 0600, so that a restarted demo logs in again).
func demoPasswordFor(cfg Config) (string, error) {
	path := filepath.Join(cfg.DataDir, "demo-password")
	if cfg.DemoPassword != "" {
		return cfg.DemoPassword, nil
	}
	if b, err := os.ReadFile(path); err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	pw := demo.RandomPassword()
	if err := os.WriteFile(path, []byte(pw), 0o600); err != nil {
		return "", fmt.Errorf("demo password: %w", err)
	}
	return pw, nil
}

// loadOrCreateKey reads a 32-byte key from path, creating it (0600,
// package keyfile) when missing.
func loadOrCreateKey(path string) ([]byte, error) {
	return keyfile.LoadOrCreate(path, keyfile.Random(32), keyfile.Size(32))
}

func relayURL(r *stream.Relay) string {
	if r == nil {
		return "off"
	}
	return r.URL()
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func redactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	return p.Redacted()
}

// browserURL is the base URL browsers reach this node's browser playback
// at: the HTTPS address as WHEP's (webURL); empty without HTTPS.
func browserURL(cfg Config, httpsLis net.Listener) string {
	if httpsLis == nil {
		return ""
	}
	return strings.TrimRight(cfg.webURL(httpsLis), "/")
}

// buildInfo is gwanje_build_info: 1, labelled with the version and the
// roles this process runs.
func buildInfo(cfg Config) prometheus.Collector {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "gwanje_build_info",
		Help: "1, labelled with the version of gwanjed and the roles this process runs."}, []string{"version", "roles"})
	g.WithLabelValues(version, cfg.Roles.String()).Set(1)
	return g
}
