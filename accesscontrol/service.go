package accesscontrol

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	_ "time/tzdata" // Asia/Seoul must load on machines without a zoneinfo database

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gwanje/gwanje/audit"
)

// NATS subjects on which changes are announced (through Notifier) and
// listened for (through Subscriber).
const (
	// SubjectChanged carries a ChangedNotice after any change to users,
	// roles, grants, deny rules, organizations or contracts.
	SubjectChanged = "gwanje.v1.access.changed"
	// SubjectRevoked carries a RevokedNotice when a user's rights shrank or
	// a session ended, so that open live sessions can be cut.
	SubjectRevoked = "gwanje.v1.access.revoked"
)

// ChangedNotice is the JSON payload on SubjectChanged.
type ChangedNotice struct {
	Version int64 `json:"version"`
}

// RevokedNotice is the JSON payload on SubjectRevoked. SessionID is set
// when one session ended; otherwise the user's rights shrank (a grant was
// revoked, the account disabled, a contract ended) and every open live view
// of the user must be re-decided.
type RevokedNotice struct {
	UserID    string `json:"user_id"`
	SessionID string `json:"session_id,omitempty"`
	Event     string `json:"event"`
}

// Auditor writes an audit entry inside the caller's transaction, so that a
// change and its record commit or roll back together. *audit.Store
// implements it.
type Auditor interface {
	AppendTx(ctx context.Context, tx pgx.Tx, e audit.Entry) (audit.Record, error)
}

// Notifier announces changes to other processes (the lead wires NATS). It
// is called after the commit; a failure is logged and the change stands
// (other processes catch up by polling).
type Notifier interface {
	Publish(subject string, data []byte) error
}

// Subscriber lets Run hear changes made by other processes. handler is
// called with each message's payload; unsubscribe stops it.
type Subscriber interface {
	Subscribe(subject string, handler func(data []byte)) (unsubscribe func() error, err error)
}

// Argon2Params are the argon2id parameters for new password hashes.
// Existing hashes carry their own parameters and are re-hashed with the
// configured ones at the next successful login.
type Argon2Params struct {
	Time      uint32 // iterations; default 3
	MemoryKiB uint32 // default 65536 (64 MiB)
	Threads   uint8  // default 2
	KeyLen    uint32 // default 32
	SaltLen   uint32 // default 16
}

// Config configures a Service. Zero values take the documented defaults.
type Config struct {
	// Pool is the database (migrated by pgdb.Migrate). Required.
	Pool *pgxpool.Pool
	// Auditor records every change in the change's transaction. Required.
	Auditor Auditor
	// Notifier announces changes; optional (nil: other processes rely on
	// polling).
	Notifier Notifier
	// Subscriber lets Run reload as soon as another process announces a
	// change; optional (nil: Run polls only).
	Subscriber Subscriber
	// Logger; default slog.Default().
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Location is the time zone of grants' allowed hours; default Asia/Seoul.
	Location *time.Location
	// Argon2 parameters for new password hashes.
	Argon2 Argon2Params
	// MinPasswordLength; default 12.
	MinPasswordLength int
	// HashWorkers is how many password hashes (argon2id, Argon2.MemoryKiB of
	// memory each) run at once, whatever arrives: the bound on the memory and
	// CPU logins take. Default: the cores (GOMAXPROCS) divided by
	// Argon2.Threads, at least 1, so hashing alone can never take more than
	// the cores there are.
	HashWorkers int
	// HashQueue is how many more password checks may wait for a worker; a
	// login beyond it is refused at once (ErrTooMany). Default 8 ×
	// HashWorkers.
	HashQueue int
	// LoginBurst and LoginInterval are each client address's budget of
	// logins: LoginBurst at once, then one more per LoginInterval; beyond it
	// Login is refused at once (ErrTooMany, with the wait). Defaults 10, 2s.
	LoginBurst    int
	LoginInterval time.Duration
	// FreeFailures is how many failures (failed logins, unknown session
	// tokens) a client address may have before it must wait: the next
	// failure blocks it for FailureBackoff, and each further one doubles the
	// block up to MaxFailureBackoff. An address's failures are forgotten
	// LockoutPeriod after its last one. Defaults 10, 1s, 5m.
	FreeFailures      int
	FailureBackoff    time.Duration
	MaxFailureBackoff time.Duration
	// MaxFailedLogins consecutive failed logins of one account from one
	// client address lock that account at that address (only) for
	// LockoutPeriod; default 5 and 15m.
	MaxFailedLogins int
	LockoutPeriod   time.Duration
	// AccountFailureCeiling: once an account has had that many failed logins
	// from all addresses together (within LockoutPeriod, since its last
	// success), its password checks are slowed to one per
	// AccountSlowInterval; the others are refused at once with the wait.
	// Defaults 20 and 2s. See ROLES.md, "Logins under attack".
	AccountFailureCeiling int
	AccountSlowInterval   time.Duration
	// MaxTrackedSources bounds the client addresses, account × address pairs
	// and accounts remembered for throttling, and the audit windows of
	// failures; the least recently seen are forgotten first. Default 10000.
	MaxTrackedSources int
	// FailureAuditWindow: of the failures of one kind from one client
	// address, the first in each window is audited as it happens and the
	// rest are counted in one entry when the window closes; default 1m.
	FailureAuditWindow time.Duration
	// FailureDelay is the least time a failed password check takes to answer
	// (waited, not computed, so that unknown users, wrong passwords and
	// disabled accounts look alike); default 1s. Refusals before any check
	// (ErrTooMany) answer at once.
	FailureDelay time.Duration
	// SessionIdleTimeout ends a session not used for that long; default 30m.
	SessionIdleTimeout time.Duration
	// SessionLifetime ends a session that long after login; default 12h.
	SessionLifetime time.Duration
	// SessionTouchInterval: Authenticate writes a session's last-seen time
	// at most this often (so the idle timeout is exact to within it);
	// default 1m.
	SessionTouchInterval time.Duration
	// RequireTOTPForContractors makes TOTP mandatory for users of contractor
	// organizations: until enrolled their sessions can only enroll.
	RequireTOTPForContractors bool
	// TOTPKey, 32 bytes, seals TOTP secrets at rest with AES-256-GCM. When
	// empty the secrets are stored unsealed (a warning is logged).
	TOTPKey []byte
	// TOTPIssuer names the service in authenticator apps; default "gwanje".
	TOTPIssuer string
	// PollInterval is how often Run checks the change counter; default 10s.
	PollInterval time.Duration
}

func (c *Config) defaults() error {
	if c.Pool == nil {
		return errors.New("accesscontrol: Config.Pool is required")
	}
	if c.Auditor == nil {
		return errors.New("accesscontrol: Config.Auditor is required")
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Location == nil {
		loc, err := time.LoadLocation("Asia/Seoul")
		if err != nil {
			return fmt.Errorf("accesscontrol: time zone: %w", err)
		}
		c.Location = loc
	}
	a := &c.Argon2
	if a.Time == 0 {
		a.Time = 3
	}
	if a.MemoryKiB == 0 {
		a.MemoryKiB = 64 * 1024
	}
	if a.Threads == 0 {
		a.Threads = 2
	}
	if a.KeyLen == 0 {
		a.KeyLen = 32
	}
	if a.SaltLen == 0 {
		a.SaltLen = 16
	}
	if c.MinPasswordLength == 0 {
		c.MinPasswordLength = 12
	}
	if c.HashWorkers == 0 {
		c.HashWorkers = max(1, runtime.GOMAXPROCS(0)/int(a.Threads))
	}
	if c.HashQueue == 0 {
		c.HashQueue = 8 * c.HashWorkers
	}
	if c.LoginBurst == 0 {
		c.LoginBurst = 10
	}
	if c.LoginInterval == 0 {
		c.LoginInterval = 2 * time.Second
	}
	if c.FreeFailures == 0 {
		c.FreeFailures = 10
	}
	if c.FailureBackoff == 0 {
		c.FailureBackoff = time.Second
	}
	if c.MaxFailureBackoff == 0 {
		c.MaxFailureBackoff = 5 * time.Minute
	}
	if c.MaxFailedLogins == 0 {
		c.MaxFailedLogins = 5
	}
	if c.LockoutPeriod == 0 {
		c.LockoutPeriod = 15 * time.Minute
	}
	if c.AccountFailureCeiling == 0 {
		c.AccountFailureCeiling = 20
	}
	if c.AccountSlowInterval == 0 {
		c.AccountSlowInterval = 2 * time.Second
	}
	if c.MaxTrackedSources == 0 {
		c.MaxTrackedSources = 10000
	}
	if c.FailureAuditWindow == 0 {
		c.FailureAuditWindow = time.Minute
	}
	if c.HashWorkers < 0 || c.HashQueue < 0 || c.LoginBurst < 0 || c.FreeFailures < 0 || c.MaxFailedLogins < 0 ||
		c.AccountFailureCeiling < 0 || c.MaxTrackedSources < 0 {
		return errors.New("accesscontrol: login limits must not be negative")
	}
	if c.FailureDelay == 0 {
		c.FailureDelay = time.Second
	}
	if c.SessionIdleTimeout == 0 {
		c.SessionIdleTimeout = 30 * time.Minute
	}
	if c.SessionLifetime == 0 {
		c.SessionLifetime = 12 * time.Hour
	}
	if c.SessionTouchInterval == 0 {
		c.SessionTouchInterval = time.Minute
	}
	if len(c.TOTPKey) != 0 && len(c.TOTPKey) != 32 {
		return errors.New("accesscontrol: Config.TOTPKey must be 32 bytes")
	}
	if c.TOTPIssuer == "" {
		c.TOTPIssuer = "gwanje"
	}
	if c.PollInterval == 0 {
		c.PollInterval = 10 * time.Second
	}
	return nil
}

// Service is the access-control service. Its methods are safe for
// concurrent use.
type Service struct {
	cfg  Config
	pool *pgxpool.Pool
	log  *slog.Logger

	snap     atomic.Pointer[snapshot]
	reloadMu sync.Mutex
	reloadCh chan struct{}

	dummyHash string // verified for unknown users so that they cost the same

	hashes *hashPool     // every argon2 computation runs here
	guard  *guard        // throttling and lockout of logins and tokens
	trail  *failureTrail // coalesced audit of unauthenticated failures
	m      *metrics

	closeOnce sync.Once
	closed    chan struct{}
}

// New creates a Service and loads its first snapshot.
func New(ctx context.Context, cfg Config) (*Service, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	s := &Service{m: newMetrics(),
		cfg:      cfg,
		pool:     cfg.Pool,
		log:      cfg.Logger.With("component", "accesscontrol"),
		reloadCh: make(chan struct{}, 1),
		closed:   make(chan struct{}),
		hashes:   newHashPool(cfg.HashWorkers, cfg.HashQueue),
	}
	s.guard = newGuard(&s.cfg)
	s.trail = newFailureTrail(cfg.FailureAuditWindow, cfg.MaxTrackedSources, s.appendAudit)
	if len(cfg.TOTPKey) == 0 {
		s.log.Warn("no TOTP key configured: TOTP secrets are stored unsealed")
	}
	pw := make([]byte, 24)
	rand.Read(pw)
	s.dummyHash = s.hashPassword(string(pw))
	if err := s.Reload(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Run keeps the snapshot current with changes made by other processes until
// ctx ends or Close is called: it reloads when a notice arrives through the
// Subscriber (if configured) and, as a fallback, whenever the change counter
// in access_version moved (checked every PollInterval).
func (s *Service) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-s.closed:
			cancel()
		case <-ctx.Done():
		}
	}()
	if sub := s.cfg.Subscriber; sub != nil {
		for _, subject := range []string{SubjectChanged, SubjectRevoked} {
			unsub, err := sub.Subscribe(subject, func([]byte) { s.triggerReload() })
			if err != nil {
				return fmt.Errorf("accesscontrol: subscribe %s: %w", subject, err)
			}
			defer unsub()
		}
	}
	defer func() {
		// The failures counted so far are recorded before the process goes.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := s.trail.flush(fctx, s.cfg.Now(), true); err != nil {
			s.log.Error("recording the counted failures at shutdown failed", "err", err)
		}
	}()
	flushEvery := min(max(s.cfg.FailureAuditWindow/4, time.Second), 15*time.Second)
	flushT := time.NewTicker(flushEvery)
	defer flushT.Stop()
	t := time.NewTicker(s.cfg.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-flushT.C:
			if err := s.trail.flush(ctx, s.cfg.Now(), false); err != nil && ctx.Err() == nil {
				s.log.Error("recording counted failures failed", "err", err)
			}
			continue
		case <-t.C:
		case <-s.reloadCh:
		}
		if err := s.Reload(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("reload of the access snapshot failed; keeping the previous one", "err", err)
		}
	}
}

func (s *Service) triggerReload() {
	select {
	case s.reloadCh <- struct{}{}:
	default:
	}
}

// Close stops Run. It is safe to call more than once.
func (s *Service) Close() {
	s.closeOnce.Do(func() { close(s.closed) })
}

// Version is the change counter the current snapshot was built from.
func (s *Service) Version() int64 { return s.snap.Load().version }

// Reload rebuilds the snapshot from the database if the change counter
// moved since the current one was built.
func (s *Service) Reload(ctx context.Context) error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	var v int64
	if err := s.pool.QueryRow(ctx, "select version from access_version").Scan(&v); err != nil {
		return fmt.Errorf("accesscontrol: read version: %w", err)
	}
	if cur := s.snap.Load(); cur != nil && cur.version == v {
		return nil
	}
	snap, err := s.loadSnapshot(ctx)
	if err != nil {
		return err
	}
	s.snap.Store(snap)
	return nil
}

// Change says who makes a change and why; every management call takes one
// and its fields go into the audit entry.
type Change struct {
	By         Principal
	Reason     string
	ClientAddr string
	RequestID  string
}

// wtx is a write transaction: the change, its audit entries and the notices
// to publish after the commit.
type wtx struct {
	pgx.Tx
	s       *Service
	revoked []RevokedNotice
}

func (w *wtx) audit(ctx context.Context, c Change, e audit.Entry) error {
	e.Actor = actorOf(c.By)
	if e.ClientAddr == "" {
		e.ClientAddr = c.ClientAddr
		if e.ClientAddr == "" {
			e.ClientAddr = c.By.ClientAddr
		}
	}
	if e.SessionID == "" {
		e.SessionID = c.By.SessionID
	}
	if e.Reason == "" {
		e.Reason = c.Reason
	}
	if e.RequestID == "" {
		e.RequestID = c.RequestID
	}
	if e.Outcome == "" {
		e.Outcome = audit.Success
	}
	if e.Time.IsZero() {
		e.Time = w.s.cfg.Now()
	}
	if _, err := w.s.cfg.Auditor.AppendTx(ctx, w.Tx, e); err != nil {
		return fmt.Errorf("%w: audit store: %w", ErrUnavailable, err)
	}
	return nil
}

func actorOf(p Principal) audit.Actor {
	a := audit.Actor{UserID: p.UserID, Username: p.Username, Org: p.OrgID}
	for i, r := range p.Roles {
		if i > 0 {
			a.Role += ","
		}
		a.Role += r
	}
	return a
}

// write runs fn in a transaction, bumps the change counter, commits,
// reloads the snapshot (so the change holds for the next decision) and
// announces it.
func (s *Service) write(ctx context.Context, fn func(w *wtx) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("%w: accesscontrol: begin: %w", ErrUnavailable, err)
	}
	defer tx.Rollback(context.Background())
	w := &wtx{Tx: tx, s: s}
	if err := fn(w); err != nil {
		return err
	}
	var v int64
	if err := tx.QueryRow(ctx, "update access_version set version = version + 1 returning version").Scan(&v); err != nil {
		return fmt.Errorf("accesscontrol: bump version: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("%w: accesscontrol: commit: %w", ErrUnavailable, err)
	}
	if err := s.Reload(context.WithoutCancel(ctx)); err != nil {
		s.log.Error("reload after change failed", "err", err)
	}
	s.publish(SubjectChanged, ChangedNotice{Version: v})
	for _, n := range w.revoked {
		s.publish(SubjectRevoked, n)
	}
	return nil
}

func (s *Service) publish(subject string, v any) {
	if s.cfg.Notifier == nil {
		return
	}
	data, err := json.Marshal(v)
	if err == nil {
		err = s.cfg.Notifier.Publish(subject, data)
	}
	if err != nil {
		s.log.Warn("announcing an access change failed; other processes will catch up by polling", "subject", subject, "err", err)
	}
}

// require checks that the principal may use a global permission.
func (s *Service) require(p Principal, perm Permission) error {
	d := s.Decide(p, perm, Resource{}, s.cfg.Now())
	if !d.Allowed {
		return deniedf("%s needs %s (%s)", p.Username, perm, d.Reason)
	}
	return nil
}
