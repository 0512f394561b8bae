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
// (auth.login with outcome success, failed or denied, and the reason) in the
// same transaction as the failure counter or the new session, so callers do
// not audit logins.
//
// Every failure returns the same error (wrapping ErrUnauthenticated) after at
// least Config.FailureDelay: unknown users cost the same argon2 work as a
// wrong password. After MaxFailedLogins consecutive failures the account is
// locked for LockoutPeriod; attempts on a locked account do no argon2 work
// (they only wait), so hammering one account neither slows other users'
// logins nor keeps a core busy. The lock is per account, not per client.
func (s *Service) Login(ctx context.Context, req LoginRequest) (LoginResult, error) {
	start := time.Now()
	res, reason, err := s.login(ctx, req)
	if err == nil || errors.Is(err, ErrTOTPRequired) || errors.Is(err, ErrUnavailable) {
		return res, err
	}
	s.log.Info("login failed", "username", req.Username, "client", req.ClientAddr, "reason", reason)
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

// lockAccount serializes login attempts on one account name within this
// process, so that concurrent guesses cannot all slip in before the lockout
// is written: at most MaxFailedLogins argon2 computations per lockout
// period. Other accounts are not affected.
func (s *Service) lockAccount(ctx context.Context, name string) (func(), error) {
	s.attemptsMu.Lock()
	a := s.attempts[name]
	if a == nil {
		a = &accountGate{ch: make(chan struct{}, 1)}
		s.attempts[name] = a
	}
	a.refs++
	s.attemptsMu.Unlock()
	release := func() {
		s.attemptsMu.Lock()
		if a.refs--; a.refs == 0 {
			delete(s.attempts, name)
		}
		s.attemptsMu.Unlock()
	}
	select {
	case a.ch <- struct{}{}:
		return func() { <-a.ch; release() }, nil
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	}
}

type accountGate struct {
	ch   chan struct{}
	refs int
}

type loginRow struct {
	id, username, orgID string
	orgKind             OrgKind
	hash                string
	mustChange          bool
	totpSecret          []byte
	totpEnabled         bool
	totpLast            int64
	lockedUntil         *time.Time
	disabled            bool
}

func (s *Service) login(ctx context.Context, req LoginRequest) (LoginResult, string, error) {
	name := strings.ToLower(strings.TrimSpace(req.Username))
	unlock, err := s.lockAccount(ctx, name)
	if err != nil {
		return LoginResult{}, "cancelled", errBadLogin
	}
	defer unlock()
	now := s.cfg.Now()
	entry := audit.Entry{Time: now, Type: "auth.login", ClientAddr: req.ClientAddr, RequestID: req.RequestID,
		Actor: audit.Actor{Username: name}}

	var u loginRow
	err = s.pool.QueryRow(ctx, `select u.id::text, u.username, u.org_id::text, o.kind, u.password_hash, u.must_change_password,
			u.totp_secret, u.totp_enabled, u.totp_last_counter, u.locked_until, u.disabled_at is not null
		from access_users u join access_orgs o on o.id = u.org_id where u.username = $1`, name).
		Scan(&u.id, &u.username, &u.orgID, &u.orgKind, &u.hash, &u.mustChange, &u.totpSecret, &u.totpEnabled, &u.totpLast, &u.lockedUntil, &u.disabled)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		s.verifyPassword(s.dummyHash, req.Password)
		return s.loginFailed(ctx, entry, "", audit.Failed, "unknown user")
	case err != nil:
		return LoginResult{}, "database", fmt.Errorf("%w: accesscontrol: login: %w", ErrUnavailable, err)
	}
	entry.Actor = audit.Actor{UserID: u.id, Username: u.username, Org: u.orgID}
	if u.lockedUntil != nil && now.Before(*u.lockedUntil) {
		return s.loginFailed(ctx, entry, "", audit.Denied, "account locked")
	}
	ok, stale := s.verifyPassword(u.hash, req.Password)
	if u.disabled {
		return s.loginFailed(ctx, entry, "", audit.Denied, "account disabled")
	}
	if !ok {
		return s.loginFailed(ctx, entry, u.id, audit.Failed, "wrong password")
	}
	var totpCounter int64
	if u.totpEnabled {
		if req.TOTP == "" {
			return LoginResult{}, "totp required", ErrTOTPRequired
		}
		secret, err := s.openTOTP(u.id, u.totpSecret)
		if err != nil {
			s.log.Error("cannot open a TOTP secret", "user", u.username, "err", err)
			return s.loginFailed(ctx, entry, "", audit.Failed, "TOTP secret unreadable")
		}
		c, ok := verifyTOTP(secret, req.TOTP, now, u.totpLast)
		if !ok {
			return s.loginFailed(ctx, entry, u.id, audit.Failed, "wrong TOTP code")
		}
		totpCounter = c
	}

	token := make([]byte, 32)
	rand.Read(token)
	sum := sha256.Sum256(token)
	sess := Session{UserID: u.id, Username: u.username, ClientAddr: req.ClientAddr, CreatedAt: now, LastSeenAt: now,
		ExpiresAt: now.Add(s.cfg.SessionLifetime)}
	err = s.tx(ctx, false, func(w *wtx) error {
		newHash := ""
		if stale {
			newHash = s.hashPassword(req.Password)
		}
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
		return LoginResult{}, "", err
	}
	p := s.principal(u.id, u.username, u.orgID, u.orgKind, sess.ID, req.ClientAddr, u.mustChange, u.totpEnabled, now)
	return LoginResult{Token: base64.RawURLEncoding.EncodeToString(token), Session: sess, Principal: p}, "", nil
}

// loginFailed counts a failure against userID (when set), locking the
// account at the limit, and audits it, in one transaction.
func (s *Service) loginFailed(ctx context.Context, e audit.Entry, userID string, outcome audit.Outcome, reason string) (LoginResult, string, error) {
	e.Outcome, e.Reason = outcome, reason
	err := s.tx(ctx, false, func(w *wtx) error {
		if userID != "" {
			var locked bool
			err := w.QueryRow(ctx, `update access_users set
					failed_logins = case when failed_logins + 1 >= $2 then 0 else failed_logins + 1 end,
					locked_until = case when failed_logins + 1 >= $2 then $3::timestamptz else locked_until end
				where id = $1 returning locked_until is not null and locked_until = $3::timestamptz`,
				userID, s.cfg.MaxFailedLogins, e.Time.Add(s.cfg.LockoutPeriod)).Scan(&locked)
			if err != nil {
				return fmt.Errorf("accesscontrol: count failed login: %w", err)
			}
			if locked {
				e.Details = map[string]any{"locked": true, "locked_for": s.cfg.LockoutPeriod.String()}
				s.log.Warn("account locked after failed logins", "username", e.Actor.Username, "client", e.ClientAddr)
			}
		}
		_, err := s.cfg.Auditor.AppendTx(ctx, w.Tx, e)
		return err
	})
	if err != nil {
		s.log.Error("recording a failed login failed", "err", err)
	}
	return LoginResult{}, reason, errBadLogin
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
	sum, ok := hashToken(token)
	if !ok {
		return Principal{}, errBadSession
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
		return Principal{}, errBadSession
	case err != nil:
		return Principal{}, fmt.Errorf("%w: accesscontrol: authenticate: %w", ErrUnavailable, err)
	}
	if revoked != nil || disabled || !now.Before(expires) || now.Sub(lastSeen) >= s.cfg.SessionIdleTimeout {
		return Principal{}, errBadSession
	}
	if now.Sub(lastSeen) >= s.cfg.SessionTouchInterval {
		if _, err := s.pool.Exec(ctx, "update access_sessions set last_seen_at = $2 where id = $1 and last_seen_at < $2", sessID, now); err != nil {
			s.log.Warn("touching a session failed", "session", sessID, "err", err)
		}
	}
	return s.principal(userID, username, orgID, kind, sessID, addr, mustChange, totp, now), nil
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
	if ok, _ := s.verifyPassword(hash, current); !ok {
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
