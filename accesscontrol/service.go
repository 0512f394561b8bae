package accesscontrol

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
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
	// MaxFailedLogins locks an account after that many consecutive failures;
	// default 5.
	MaxFailedLogins int
	// LockoutPeriod is how long a locked account stays locked; default 15m.
	LockoutPeriod time.Duration
	// FailureDelay is the least time a failed login takes to answer (waited,
	// not computed, so an attacker cannot burn CPU with it); default 1s.
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
	if c.MaxFailedLogins == 0 {
		c.MaxFailedLogins = 5
	}
	if c.LockoutPeriod == 0 {
		c.LockoutPeriod = 15 * time.Minute
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

	attemptsMu sync.Mutex
	attempts   map[string]*accountGate // login attempts in progress, by account name

	closeOnce sync.Once
	closed    chan struct{}
}

// New creates a Service and loads its first snapshot.
func New(ctx context.Context, cfg Config) (*Service, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	s := &Service{
		cfg:      cfg,
		pool:     cfg.Pool,
		log:      cfg.Logger.With("component", "accesscontrol"),
		reloadCh: make(chan struct{}, 1),
		closed:   make(chan struct{}),
		attempts: map[string]*accountGate{},
	}
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
	t := time.NewTicker(s.cfg.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
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
