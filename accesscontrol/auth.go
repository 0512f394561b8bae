package accesscontrol

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gwanje/gwanje/audit"
)

// ErrTOTPRequired is returned by Login when the password was right but the
// account needs a TOTP code and none was given: the client asks for the
// code and logs in again. It wraps ErrUnauthenticated.
var ErrTOTPRequired = fmt.Errorf("%w: a TOTP code is required", ErrUnauthenticated)

// errBadLogin is the one answer to every failed login, whatever the cause.
var errBadLogin = fmt.Errorf("%w: invalid username, password or code", ErrUnauthenticated)

// LoginRequest is what a client sends to log in.
type LoginRequest struct {
	Username   string
	Password   string
	TOTP       string // the 6-digit code, when the account has TOTP
	ClientAddr string
	RequestID  string
}

// LoginResult is a successful login. Token is the session's bearer secret:
// hand it to the client and nowhere else (it is stored only as SHA-256).
type LoginResult struct {
	Token     string
	Session   Session
	Principal Principal
}

// Login checks the credentials and opens a session. It audits itself
// (auth.login with outcome success, failed or denied, and the reason), so
// callers do not audit logins: a success in the transaction of the new
// session; failures through the coalesced trail of failures (the first of
// each kind from an address in a window written at once, the rest counted).
//
// Before any work, the guard may refuse the attempt at once with an error
// wrapping ErrTooMany and the wait (see guard and ROLES.md, "Logins under
// attack"): the address is in failure backoff or out of login budget, the
// account is locked at this address, or the account is slowed. Refusals
// are audited as auth.throttled (coalesced). The password is then checked on
// the bounded hashing pool, which refuses at once when its queue is full and
// drops requests whose context ended while they waited. Unknown users cost
// the same argon2 work, on the same pool, as a wrong password, and every
// failed check returns the same error (wrapping ErrUnauthenticated) after at
// least Config.FailureDelay.
func (s *Service) Login(ctx context.Context, req LoginRequest) (LoginResult, error) {
	if err := ctx.Err(); err != nil {
		return LoginResult{}, err
	}
	name := strings.ToLower(strings.TrimSpace(req.Username))
	src := sourceOf(req.ClientAddr)
	now := s.cfg.Now()
	entry := audit.Entry{Time: now, Type: "auth.login", ClientAddr: req.ClientAddr, RequestID: req.RequestID,
		Actor: audit.Actor{Username: name}}
	att, err := s.guard.admitLogin(name, src, now)
	if err != nil {
		e := entry
		e.Type, e.Outcome, e.Reason, e.Details = "auth.throttled", audit.Denied, refusalReason(err), map[string]any{"on": "login"}
		s.recordFailure(ctx, src, e)
		s.m.logins.WithLabelValues(loginThrottled).Inc()
		return LoginResult{}, err
	}
	start := time.Now()
	res, outcome, failure, err := s.login(ctx, req, name, entry)
	if outcome == attemptNotChecked && errors.Is(err, ErrTooMany) {
		e := entry
		e.Type, e.Outcome, e.Reason, e.Details = "auth.throttled", audit.Denied, refusalReason(err), map[string]any{"on": "login"}
		s.recordFailure(ctx, src, e)
	}
	r := att.done(outcome, s.cfg.Now())
	switch {
	case outcome == attemptSucceeded:
		s.m.logins.WithLabelValues(loginSuccess).Inc()
	case outcome == attemptFailed:
		s.m.logins.WithLabelValues(loginFailed).Inc()
	case errors.Is(err, ErrTooMany):
		s.m.logins.WithLabelValues(loginThrottled).Inc()
	default:
		s.m.logins.WithLabelValues(loginUnavailable).Inc()
	}
	if outcome != attemptFailed {
		return res, err
	}
	if s.recordFailure(ctx, src, failure) {
		s.log.Info("login failed", "username", req.Username, "client", req.ClientAddr, "reason", failure.Reason)
	}
	if r.pairLocked {
		s.m.lockouts.Inc()
		e := entry
		e.Type, e.Outcome, e.Reason = "auth.lockout", audit.Denied, "account locked at this address after failed logins"
		e.Actor = failure.Actor
		e.Details = map[string]any{"locked_for": s.cfg.LockoutPeriod.String(), "failures": s.cfg.MaxFailedLogins}
		s.recordFailure(ctx, src, e)
	}
	if r.accountSlowed {
		e := entry
		e.Type, e.Outcome, e.Reason = "auth.account.slowed", audit.Denied, "many failed logins from all addresses: password checks slowed"
		e.Actor = failure.Actor
		e.Details = map[string]any{"failures": s.cfg.AccountFailureCeiling, "interval": s.cfg.AccountSlowInterval.String()}
		s.recordFailure(ctx, "", e)
		s.log.Warn("account slowed after failed logins from many addresses", "username", name)
	}
	if wait := s.cfg.FailureDelay - time.Since(start); wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
	return LoginResult{}, err
}

// recordFailure audits the failure of an unauthenticated caller through the
// coalesced trail; it outlives the caller's hang-up. It reports whether the
// entry was written on its own (rather than counted).
func (s *Service) recordFailure(ctx context.Context, src string, e audit.Entry) bool {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	// Lockouts and slowed accounts are rare and must show on their own.
	wait := e.Type == "auth.lockout" || e.Type == "auth.account.slowed"
	recorded, err := s.trail.record(actx, src, e, wait)
	if err != nil {
		s.log.Error("recording a failure failed", "type", e.Type, "err", err)
	}
	return recorded
}

// appendAudit writes one entry in a transaction of its own.
func (s *Service) appendAudit(ctx context.Context, e audit.Entry) error {
	return s.tx(ctx, false, func(w *wtx) error {
		if _, err := s.cfg.Auditor.AppendTx(ctx, w.Tx, e); err != nil {
			return fmt.Errorf("%w: audit store: %w", ErrUnavailable, err)
		}
		return nil
	})
}

type loginRow struct {
	id, username, orgID string
	orgKind             OrgKind
	hash                string
	mustChange          bool
	totpSecret          []byte
	totpEnabled         bool
	totpLast            int64
	disabled            bool
}

// login checks the credentials of an admitted attempt. A failed check
// returns attemptFailed with the entry to audit; anything that stopped
// before a check returns attemptNotChecked.
func (s *Service) login(ctx context.Context, req LoginRequest, name string, entry audit.Entry) (LoginResult, attemptOutcome, audit.Entry, error) {
	failed := func(e audit.Entry, outcome audit.Outcome, reason string) (LoginResult, attemptOutcome, audit.Entry, error) {
		e.Outcome, e.Reason = outcome, reason
		return LoginResult{}, attemptFailed, e, errBadLogin
	}
	notChecked := func(err error) (LoginResult, attemptOutcome, audit.Entry, error) {
		return LoginResult{}, attemptNotChecked, audit.Entry{}, err
	}
	var u loginRow
	err := s.pool.QueryRow(ctx, `select u.id::text, u.username, u.org_id::text, o.kind, u.password_hash, u.must_change_password,
			u.totp_secret, u.totp_enabled, u.totp_last_counter, u.disabled_at is not null
		from access_users u join access_orgs o on o.id = u.org_id where u.username = $1`, name).
		Scan(&u.id, &u.username, &u.orgID, &u.orgKind, &u.hash, &u.mustChange, &u.totpSecret, &u.totpEnabled, &u.totpLast, &u.disabled)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		if _, _, err := s.verifyPassword(ctx, s.dummyHash, req.Password); err != nil {
			return notChecked(err)
		}
		return failed(entry, audit.Failed, "unknown user")
	case ctx.Err() != nil:
		return notChecked(ctx.Err())
	case err != nil:
		return notChecked(fmt.Errorf("%w: accesscontrol: login: %w", ErrUnavailable, err))
	}
	// From here on the attempt is recorded whatever the client does.
	entry.Actor = audit.Actor{UserID: u.id, Username: u.username, Org: u.orgID}
	ok, stale, err := s.verifyPassword(ctx, u.hash, req.Password)
	if err != nil {
		return notChecked(err)
	}
	ctx = context.WithoutCancel(ctx)
	if u.disabled {
		return failed(entry, audit.Denied, "account disabled")
	}
	if !ok {
		return failed(entry, audit.Failed, "wrong password")
	}
	now := s.cfg.Now()
	entry.Time = now
	var totpCounter int64
	if u.totpEnabled {
		if req.TOTP == "" {
			return notChecked(ErrTOTPRequired)
		}
		secret, err := s.openTOTP(u.id, u.totpSecret)
		if err != nil {
			s.log.Error("cannot open a TOTP secret", "user", u.username, "err", err)
			return failed(entry, audit.Failed, "TOTP secret unreadable")
		}
		c, ok := verifyTOTP(secret, req.TOTP, now, u.totpLast)
		if !ok {
			return failed(entry, audit.Failed, "wrong TOTP code")
		}
		totpCounter = c
	}

	token := make([]byte, 32)
	rand.Read(token)
	sum := sha256.Sum256(token)
	sess := Session{UserID: u.id, Username: u.username, ClientAddr: req.ClientAddr, CreatedAt: now, LastSeenAt: now,
		ExpiresAt: now.Add(s.cfg.SessionLifetime)}
	newHash := ""
	if stale {
		newHash = s.hashPassword(req.Password)
	}
	err = s.tx(ctx, false, func(w *wtx) error {
		if _, err := w.Exec(ctx, `update access_users set failed_logins = 0, locked_until = null, last_login_at = $2,
				totp_last_counter = greatest(totp_last_counter, $3),
				password_hash = case when $4 = '' then password_hash else $4 end where id = $1`,
			u.id, now, totpCounter, newHash); err != nil {
			return fmt.Errorf("accesscontrol: login: %w", err)
		}
		if err := w.QueryRow(ctx, `insert into access_sessions (user_id, token_hash, client_addr, created_at, last_seen_at, expires_at)
				values ($1, $2, $3, $4, $4, $5) returning id::text`, u.id, sum[:], req.ClientAddr, now, sess.ExpiresAt).Scan(&sess.ID); err != nil {
			return fmt.Errorf("accesscontrol: login: %w", err)
		}
		e := entry
		e.Outcome, e.SessionID = audit.Success, sess.ID
		if _, err := s.cfg.Auditor.AppendTx(ctx, w.Tx, e); err != nil {
			return fmt.Errorf("%w: audit store: %w", ErrUnavailable, err)
		}
		return nil
	})
	if err != nil {
		return notChecked(err)
	}
	p := s.principal(u.id, u.username, u.orgID, u.orgKind, sess.ID, req.ClientAddr, u.mustChange, u.totpEnabled, now)
	return LoginResult{Token: base64.RawURLEncoding.EncodeToString(token), Session: sess, Principal: p}, attemptSucceeded, audit.Entry{}, nil
}

// tx runs fn in a transaction; bump also bumps the change counter, reloads
// the snapshot and announces the change after the commit.
func (s *Service) tx(ctx context.Context, bump bool, fn func(w *wtx) error) error {
	if bump {
		return s.write(ctx, fn)
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("%w: accesscontrol: begin: %w", ErrUnavailable, err)
	}
	defer tx.Rollback(context.Background())
	w := &wtx{Tx: tx, s: s}
	if err := fn(w); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("%w: accesscontrol: commit: %w", ErrUnavailable, err)
	}
	for _, n := range w.revoked {
		s.publish(SubjectRevoked, n)
	}
	return nil
}

func (s *Service) principal(userID, username, orgID string, kind OrgKind, sessionID, addr string, mustChange, totpEnabled bool, now time.Time) Principal {
	return Principal{
		UserID: userID, Username: username, OrgID: orgID, OrgKind: kind, SessionID: sessionID, ClientAddr: addr,
		Roles:              s.snap.Load().rolesAt(userID, now),
		MustChangePassword: mustChange,
		MustEnrollTOTP:     s.cfg.RequireTOTPForContractors && kind == OrgContractor && !totpEnabled,
	}
}

func hashToken(token string) ([]byte, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) != 32 {
		return nil, false
	}
	sum := sha256.Sum256(raw)
	return sum[:], true
}

var errBadSession = fmt.Errorf("%w: the session is unknown, expired or revoked; log in again", ErrUnauthenticated)

// Authenticate turns a session token into a Principal. It reads the session
// (one indexed lookup) and writes its last-seen time only when it is older
// than SessionTouchInterval, so most calls do not write. Expired (idle or
// absolute), revoked and unknown sessions and disabled users all give the
// same error wrapping ErrUnauthenticated.
func (s *Service) Authenticate(ctx context.Context, token string) (Principal, error) {
	p, _, err := s.authenticate(ctx, token)
	return p, err
}

// Caller is where a call comes from: its client address ("ip:port"), the
// request ID and the method, for throttling and for the audit of failures.
type Caller struct {
	Addr, RequestID, Method string
}

// AuthenticateCall is Authenticate for a call from a client, guarded
// against floods: a client address in failure backoff (see Config.
// FreeFailures) is refused at once with an error wrapping ErrTooMany,
// without looking the token up; a token that matches no session counts as a
// failure of the address (a session that ended does not: its holder is no
// stranger). Refusals are audited as auth.session.invalid or auth.throttled
// through the coalesced trail of failures.
func (s *Service) AuthenticateCall(ctx context.Context, token string, c Caller) (Principal, error) {
	now := s.cfg.Now()
	src := sourceOf(c.Addr)
	e := audit.Entry{Time: now, Outcome: audit.Denied, ClientAddr: c.Addr, RequestID: c.RequestID,
		Details: map[string]any{"method": c.Method}}
	if err := s.guard.checkSource(src, now); err != nil {
		e.Type, e.Reason = "auth.throttled", refusalReason(err)
		s.recordFailure(ctx, src, e)
		return Principal{}, err
	}
	p, known, err := s.authenticate(ctx, token)
	if err == nil || !errors.Is(err, ErrUnauthenticated) {
		return p, err
	}
	e.Type, e.Reason = "auth.session.invalid", "expired or revoked session"
	if !known {
		e.Reason = "unknown session token"
		s.guard.sourceFailed(src, now)
	}
	s.recordFailure(ctx, src, e)
	return Principal{}, err
}

// authenticate is Authenticate; known reports that the token is of a
// session that exists (valid or not).
func (s *Service) authenticate(ctx context.Context, token string) (Principal, bool, error) {
	sum, ok := hashToken(token)
	if !ok {
		return Principal{}, false, errBadSession
	}
	now := s.cfg.Now()
	var (
		sessID, userID, username, orgID, addr string
		kind                                  OrgKind
		lastSeen, expires                     time.Time
		revoked                               *time.Time
		disabled, mustChange, totp            bool
	)
	err := s.pool.QueryRow(ctx, `select s.id::text, s.user_id::text, u.username, u.org_id::text, o.kind, s.client_addr,
			s.last_seen_at, s.expires_at, s.revoked_at, u.disabled_at is not null, u.must_change_password, u.totp_enabled
		from access_sessions s join access_users u on u.id = s.user_id join access_orgs o on o.id = u.org_id
		where s.token_hash = $1`, sum).
		Scan(&sessID, &userID, &username, &orgID, &kind, &addr, &lastSeen, &expires, &revoked, &disabled, &mustChange, &totp)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return Principal{}, false, errBadSession
	case err != nil:
		return Principal{}, false, fmt.Errorf("%w: accesscontrol: authenticate: %w", ErrUnavailable, err)
	}
	if revoked != nil || disabled || !now.Before(expires) || now.Sub(lastSeen) >= s.cfg.SessionIdleTimeout {
		return Principal{}, true, errBadSession
	}
	if now.Sub(lastSeen) >= s.cfg.SessionTouchInterval {
		if _, err := s.pool.Exec(ctx, "update access_sessions set last_seen_at = $2 where id = $1 and last_seen_at < $2", sessID, now); err != nil {
			s.log.Warn("touching a session failed", "session", sessID, "err", err)
		}
	}
	return s.principal(userID, username, orgID, kind, sessID, addr, mustChange, totp, now), true, nil
}

// Logout ends the session of the token and audits auth.logout.
func (s *Service) Logout(ctx context.Context, token string) error {
	p, err := s.Authenticate(ctx, token)
	if err != nil {
		return err
	}
	return s.endSession(ctx, Change{By: p, Reason: "logout"}, p.SessionID, "auth.logout")
}

func (s *Service) endSession(ctx context.Context, c Change, sessionID, event string) error {
	if err := validID("session", sessionID); err != nil {
		return err
	}
	return s.tx(ctx, false, func(w *wtx) error {
		var userID string
		err := w.QueryRow(ctx, `update access_sessions set revoked_at = $2, revoke_reason = $3
			where id = $1 and revoked_at is null returning user_id::text`, sessionID, s.cfg.Now(), c.Reason).Scan(&userID)
		if errors.Is(err, pgx.ErrNoRows) {
			return notFoundf("no open session %s", sessionID)
		}
		if err != nil {
			return fmt.Errorf("accesscontrol: end session: %w", err)
		}
		w.revoked = append(w.revoked, RevokedNotice{UserID: userID, SessionID: sessionID, Event: event})
		return w.audit(ctx, c, audit.Entry{Type: event, Details: map[string]any{"session_id": sessionID, "user_id": userID}})
	})
}

// ChangePassword sets a new password for the principal's own account after
// checking the current one, and lifts a forced change.
func (s *Service) ChangePassword(ctx context.Context, p Principal, current, next string) error {
	var hash string
	if err := s.pool.QueryRow(ctx, "select password_hash from access_users where id = $1", p.UserID).Scan(&hash); err != nil {
		return errBadSession
	}
	ok, _, err := s.verifyPassword(ctx, hash, current)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: the current password is wrong", ErrPermissionDenied)
	}
	if err := s.checkNewPassword(p.Username, next); err != nil {
		return err
	}
	if current == next {
		return invalidf("the new password must differ from the current one")
	}
	newHash := s.hashPassword(next)
	return s.tx(ctx, false, func(w *wtx) error {
		if _, err := w.Exec(ctx, `update access_users set password_hash = $2, must_change_password = false,
				password_changed_at = $3, updated_at = $3 where id = $1`, p.UserID, newHash, s.cfg.Now()); err != nil {
			return fmt.Errorf("accesscontrol: change password: %w", err)
		}
		return w.audit(ctx, Change{By: p}, audit.Entry{Type: "user.password.change", Details: map[string]any{"user_id": p.UserID}})
	})
}

// BeginTOTP starts TOTP enrollment for the principal's own account: it
// stores a new secret (not yet in force) and returns it for the
// authenticator app. ConfirmTOTP with a first code turns it on.
func (s *Service) BeginTOTP(ctx context.Context, p Principal) (TOTPEnrollment, error) {
	var enabled bool
	if err := s.pool.QueryRow(ctx, "select totp_enabled from access_users where id = $1", p.UserID).Scan(&enabled); err != nil {
		return TOTPEnrollment{}, errBadSession
	}
	if enabled {
		return TOTPEnrollment{}, conflictf("TOTP is already enabled; an administrator must reset it first")
	}
	secret := make([]byte, 20)
	rand.Read(secret)
	sealed, err := s.sealTOTP(p.UserID, secret)
	if err != nil {
		return TOTPEnrollment{}, err
	}
	if _, err := s.pool.Exec(ctx, "update access_users set totp_secret = $2, totp_last_counter = 0 where id = $1 and not totp_enabled", p.UserID, sealed); err != nil {
		return TOTPEnrollment{}, fmt.Errorf("accesscontrol: begin TOTP: %w", err)
	}
	return s.totpEnrollment(p.Username, secret), nil
}

// ConfirmTOTP turns TOTP on after checking a code from the new secret.
func (s *Service) ConfirmTOTP(ctx context.Context, p Principal, code string) error {
	var sealed []byte
	var enabled bool
	if err := s.pool.QueryRow(ctx, "select totp_secret, totp_enabled from access_users where id = $1", p.UserID).Scan(&sealed, &enabled); err != nil {
		return errBadSession
	}
	if enabled {
		return conflictf("TOTP is already enabled")
	}
	if sealed == nil {
		return invalidf("start the TOTP enrollment first")
	}
	secret, err := s.openTOTP(p.UserID, sealed)
	if err != nil {
		return fmt.Errorf("accesscontrol: confirm TOTP: %w", err)
	}
	c, ok := verifyTOTP(secret, code, s.cfg.Now(), 0)
	if !ok {
		return invalidf("the TOTP code is wrong; check the device's clock")
	}
	return s.tx(ctx, true, func(w *wtx) error {
		if _, err := w.Exec(ctx, "update access_users set totp_enabled = true, totp_last_counter = $2, updated_at = $3 where id = $1",
			p.UserID, c, s.cfg.Now()); err != nil {
			return fmt.Errorf("accesscontrol: confirm TOTP: %w", err)
		}
		return w.audit(ctx, Change{By: p}, audit.Entry{Type: "user.totp.enable", Details: map[string]any{"user_id": p.UserID}})
	})
}
