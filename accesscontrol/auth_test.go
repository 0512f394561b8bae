package accesscontrol

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestLoginAndSessions(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.SessionIdleTimeout = 10 * time.Minute
		c.SessionLifetime = time.Hour
		c.SessionTouchInterval = time.Minute
	})
	org := e.org(OrgDepartment, "안전총괄과")
	u := e.user("op-kim", org.ID, "blue lantern 42 river")
	_ = u

	r := e.login("OP-Kim ", "blue lantern 42 river")
	if len(r.Token) < 40 || r.Principal.UserID != u.ID || r.Principal.SessionID == "" {
		t.Fatalf("login result %+v", r)
	}
	// The token is stored only as its hash.
	var n int
	e.pool.QueryRow(e.ctx, "select count(*) from access_sessions where token_hash::text like '%'||$1||'%'", r.Token).Scan(&n)
	if n != 0 {
		t.Fatal("token stored in clear")
	}
	p, err := e.svc.Authenticate(e.ctx, r.Token)
	if err != nil || p.SessionID != r.Session.ID || p.Username != "op-kim" {
		t.Fatalf("authenticate: %+v %v", p, err)
	}
	for _, bad := range []string{"", "nope", strings.Repeat("A", 43)} {
		if _, err := e.svc.Authenticate(e.ctx, bad); !errors.Is(err, ErrUnauthenticated) {
			t.Errorf("token %q: %v", bad, err)
		}
	}

	lastSeen := func() time.Time {
		var ls time.Time
		e.pool.QueryRow(e.ctx, "select last_seen_at from access_sessions where id = $1", r.Session.ID).Scan(&ls)
		return ls
	}
	// Within the touch interval nothing is written.
	e.clock.Add(30 * time.Second)
	if _, err := e.svc.Authenticate(e.ctx, r.Token); err != nil {
		t.Fatal(err)
	}
	if !lastSeen().Equal(t0) {
		t.Errorf("last seen written within the touch interval: %v", lastSeen())
	}
	// After it, last seen moves, keeping the session alive past the idle timeout.
	for i := 0; i < 8; i++ {
		e.clock.Add(5 * time.Minute)
		if _, err := e.svc.Authenticate(e.ctx, r.Token); err != nil {
			t.Fatalf("after %d×5m: %v", i+1, err)
		}
	}
	if !lastSeen().Equal(e.clock.Now()) {
		t.Errorf("last seen %v, want %v", lastSeen(), e.clock.Now())
	}
	// Idle timeout.
	e.clock.Add(10 * time.Minute)
	if _, err := e.svc.Authenticate(e.ctx, r.Token); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("idle session accepted: %v", err)
	}
	// Absolute lifetime: used every 5 minutes, still ends after an hour.
	r2 := e.login("op-kim", "blue lantern 42 river")
	start := e.clock.Now()
	for e.clock.Now().Sub(start) < time.Hour-5*time.Minute {
		e.clock.Add(5 * time.Minute)
		if _, err := e.svc.Authenticate(e.ctx, r2.Token); err != nil {
			t.Fatalf("at %v: %v", e.clock.Now().Sub(start), err)
		}
	}
	e.clock.Add(5 * time.Minute)
	if _, err := e.svc.Authenticate(e.ctx, r2.Token); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("session past its lifetime accepted: %v", err)
	}
	// Logout.
	r3 := e.login("op-kim", "blue lantern 42 river")
	if err := e.svc.Logout(e.ctx, r3.Token); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Authenticate(e.ctx, r3.Token); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("logged-out session accepted: %v", err)
	}
	if got := e.notifier.revoked(); len(got) == 0 || got[len(got)-1].SessionID != r3.Session.ID {
		t.Errorf("logout not announced: %+v", got)
	}
	// Revocation by an administrator.
	r4 := e.login("op-kim", "blue lantern 42 river")
	sessions, err := e.svc.ListSessions(e.ctx, e.admin, SessionFilter{UserID: u.ID, Open: true})
	if err != nil || len(sessions) != 1 || sessions[0].ID != r4.Session.ID {
		t.Fatalf("open sessions: %+v %v", sessions, err)
	}
	if err := e.svc.RevokeSession(e.ctx, e.change("suspicious"), r4.Session.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Authenticate(e.ctx, r4.Token); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("revoked session accepted: %v", err)
	}
	// Login audit: successes and no secrets.
	rows := auditRows(t, e.pool, "auth.login")
	if len(rows) < 5 {
		t.Fatalf("auth.login entries: %d", len(rows))
	}
	for _, a := range auditRows(t, e.pool, "") {
		s := fmt.Sprint(a)
		for _, secret := range []string{"blue lantern 42 river", adminPassword, r.Token} {
			if strings.Contains(s, secret) {
				t.Errorf("audit entry %s holds a secret", a.Type)
			}
		}
	}
}

func TestLoginFailuresLookTheSame(t *testing.T) {
	e := newEnv(t, nil)
	org := e.org(OrgDepartment, "d")
	e.user("alice", org.ID, "alpha bravo 123 charlie")
	hashed := e.svc.hashes.computed.Load()
	_, errUnknown := e.svc.Login(e.ctx, LoginRequest{Username: "nobody", Password: "x", ClientAddr: "10.0.0.9:1"})
	_, errWrong := e.svc.Login(e.ctx, LoginRequest{Username: "alice", Password: "x", ClientAddr: "10.0.0.8:1"})
	// Both cost one argon2 computation on the pool.
	if n := e.svc.hashes.computed.Load() - hashed; n != 2 {
		t.Errorf("%d password hashes for an unknown user and a wrong password, want 2", n)
	}
	if errUnknown == nil || errWrong == nil || errUnknown.Error() != errWrong.Error() ||
		!errors.Is(errUnknown, ErrUnauthenticated) || !errors.Is(errWrong, ErrUnauthenticated) {
		t.Fatalf("unknown user: %v; wrong password: %v", errUnknown, errWrong)
	}
	rows := auditRows(t, e.pool, "auth.login")
	var failed []auditRow
	for _, r := range rows {
		if r.Outcome == "failed" {
			failed = append(failed, r)
		}
	}
	if len(failed) != 2 || failed[0].Reason != "unknown user" || failed[0].Username != "nobody" || failed[1].Reason != "wrong password" {
		t.Errorf("failed logins audited as %+v", failed)
	}
}

func TestLockoutIsPerAddress(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.MaxFailedLogins = 5
		c.LockoutPeriod = 15 * time.Minute
	})
	org := e.org(OrgDepartment, "d")
	victim := e.user("victim", org.ID, "moon river 7788 quiet")
	e.user("bystander", org.ID, "sun valley 99 gentle")
	const attacker = "203.0.113.7:4444"

	// 100 wrong passwords from one address, concurrently, while another user
	// logs in over and over from elsewhere: every bystander login succeeds.
	hashed := e.svc.hashes.computed.Load()
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.svc.Login(e.ctx, LoginRequest{Username: "victim", Password: fmt.Sprintf("guess-%d", i), ClientAddr: attacker})
			errs <- err
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	bystanderLogins := 0
	for running := true; running || bystanderLogins < 3; {
		select {
		case <-done:
			running = false
		default:
		}
		addr := fmt.Sprintf("10.1.%d.%d:1", bystanderLogins/200, bystanderLogins%200)
		if _, err := e.svc.Login(e.ctx, LoginRequest{Username: "bystander", Password: "sun valley 99 gentle", ClientAddr: addr}); err != nil {
			t.Fatalf("bystander login during the attack: %v", err)
		}
		bystanderLogins++
	}
	close(errs)
	checked := 0
	for err := range errs {
		switch {
		case errors.Is(err, ErrUnauthenticated):
			checked++
		case errors.Is(err, ErrTooMany):
			if d, ok := RetryAfter(err); !ok || d <= 0 {
				t.Errorf("refusal without a retry delay: %v", err)
			}
		default:
			t.Fatalf("wrong password: %v", err)
		}
	}
	// Only MaxFailedLogins of the 100 reached argon2; the rest were refused
	// at once, before any work.
	if checked != 5 {
		t.Errorf("%d attempts checked the password, want 5", checked)
	}
	if n := e.svc.hashes.computed.Load() - hashed - int64(bystanderLogins); n != 5 {
		t.Errorf("%d password hashes for the attack, want 5", n)
	}
	// The account is locked at the attacker's address: even the right
	// password is refused there, at once and with the wait...
	_, err := e.svc.Login(e.ctx, LoginRequest{Username: "victim", Password: "moon river 7788 quiet", ClientAddr: attacker})
	if d, ok := RetryAfter(err); !errors.Is(err, ErrTooMany) || !ok || d < 14*time.Minute {
		t.Fatalf("locked pair: %v (retry after %v)", err, d)
	}
	// ...while the victim logs in from their own workstation.
	if _, err := e.svc.Login(e.ctx, LoginRequest{Username: "victim", Password: "moon river 7788 quiet", ClientAddr: "10.2.2.2:1"}); err != nil {
		t.Fatalf("victim from another address: %v", err)
	}
	// Audited: the lockout on its own; the wrong passwords as the first of
	// the window plus one counted entry (written by the flush).
	if err := e.svc.trail.flush(e.ctx, e.clock.Now(), true); err != nil {
		t.Fatal(err)
	}
	var lockEvents, wrongEntries, wrong int
	for _, r := range auditRows(t, e.pool, "") {
		if r.Type == "auth.lockout" && r.Username == "victim" {
			lockEvents++
		}
		if r.Type == "auth.login" && r.Outcome == "failed" {
			wrongEntries++
			if r.Reason == "wrong password" {
				wrong++
			} else if reasons, ok := r.Details["reasons"].(map[string]any); ok {
				n, _ := reasons["wrong password"].(float64)
				wrong += int(n)
			}
		}
	}
	if lockEvents != 1 || wrong != 5 || wrongEntries > 2 {
		t.Errorf("lockout entries %d, wrong passwords accounted for %d in %d entries: want 1, and 5 in at most 2", lockEvents, wrong, wrongEntries)
	}
	// After the lockout period the right password works from there again.
	e.clock.Add(16 * time.Minute)
	if _, err := e.svc.Login(e.ctx, LoginRequest{Username: "victim", Password: "moon river 7788 quiet", ClientAddr: attacker}); err != nil {
		t.Fatalf("after the lockout period: %v", err)
	}
	// An administrator's unlock lifts the lock at every address at once.
	for i := 0; i < 5; i++ {
		e.svc.Login(e.ctx, LoginRequest{Username: "victim", Password: "bad", ClientAddr: "10.3.3.3:1"})
	}
	if _, err := e.svc.Login(e.ctx, LoginRequest{Username: "victim", Password: "moon river 7788 quiet", ClientAddr: "10.3.3.3:1"}); !errors.Is(err, ErrTooMany) {
		t.Fatalf("not locked after 5 failures: %v", err)
	}
	if _, err := e.svc.UpdateUser(e.ctx, e.change("called the helpdesk"), victim.ID, UserUpdate{Unlock: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Login(e.ctx, LoginRequest{Username: "victim", Password: "moon river 7788 quiet", ClientAddr: "10.3.3.3:1"}); err != nil {
		t.Fatalf("after unlock: %v", err)
	}
}

func TestAccountCeilingOnlySlows(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.AccountFailureCeiling = 20
		c.AccountSlowInterval = 2 * time.Second
	})
	org := e.org(OrgDepartment, "d")
	e.user("target", org.ID, "amber field 31 window")
	// A distributed attack: 4 wrong passwords from each of 5 addresses (none
	// of them locked) make 20 failures of the account.
	for a := 0; a < 5; a++ {
		for i := 0; i < 4; i++ {
			if _, err := e.svc.Login(e.ctx, LoginRequest{Username: "target", Password: "guess", ClientAddr: fmt.Sprintf("198.51.100.%d:1", a)}); !errors.Is(err, ErrUnauthenticated) {
				t.Fatalf("guess %d from %d: %v", i, a, err)
			}
		}
	}
	// Slowed: one check per interval, whoever asks; the next is refused with
	// the wait.
	if _, err := e.svc.Login(e.ctx, LoginRequest{Username: "target", Password: "guess", ClientAddr: "198.51.100.77:1"}); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("first check in slow mode: %v", err)
	}
	_, err := e.svc.Login(e.ctx, LoginRequest{Username: "target", Password: "amber field 31 window", ClientAddr: "10.9.9.9:1"})
	if d, ok := RetryAfter(err); !errors.Is(err, ErrTooMany) || !ok || d != 2*time.Second {
		t.Fatalf("second check within the interval: %v (%v)", err, d)
	}
	var slowed int
	for _, r := range auditRows(t, e.pool, "auth.account.slowed") {
		if r.Username == "target" {
			slowed++
		}
	}
	if slowed != 1 {
		t.Errorf("%d auth.account.slowed entries, want 1", slowed)
	}
	// Slowed, not locked: the owner gets in once the interval has passed,
	// and that lifts the slow mode.
	e.clock.Add(2 * time.Second)
	e.loginFrom("target", "amber field 31 window", "10.9.9.9:1")
	e.loginFrom("target", "amber field 31 window", "10.9.9.9:1")
}

func TestSourceThrottle(t *testing.T) {
	e := newEnv(t, nil) // defaults: burst 10, one per 2s; 10 free failures, then 1s doubling
	org := e.org(OrgDepartment, "d")
	e.user("kim", org.ID, "quiet harbor 55 lamp")
	const src = "192.0.2.10:5555"

	// The login budget: 10 at once, then one per 2 s.
	for i := 0; i < 10; i++ {
		e.loginFrom("kim", "quiet harbor 55 lamp", src)
	}
	_, err := e.svc.Login(e.ctx, LoginRequest{Username: "kim", Password: "quiet harbor 55 lamp", ClientAddr: src})
	if d, ok := RetryAfter(err); !errors.Is(err, ErrTooMany) || d != 2*time.Second || !ok {
		t.Fatalf("11th login at once: %v (%v)", err, d)
	}
	e.clock.Add(2 * time.Second)
	e.loginFrom("kim", "quiet harbor 55 lamp", src)

	// Failures: unknown tokens from one address, growing blocks past the
	// free ones. A session that ended does not count.
	const bad = "203.0.113.50:1"
	r := e.loginFrom("kim", "quiet harbor 55 lamp", bad)
	if err := e.svc.Logout(e.ctx, r.Token); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		if _, err := e.svc.AuthenticateCall(e.ctx, r.Token, Caller{Addr: bad}); !errors.Is(err, ErrUnauthenticated) {
			t.Fatalf("ended session %d: %v", i, err)
		}
	}
	unknown := strings.Repeat("A", 43)
	for i := 0; i < 10; i++ {
		if _, err := e.svc.AuthenticateCall(e.ctx, unknown, Caller{Addr: bad}); !errors.Is(err, ErrUnauthenticated) {
			t.Fatalf("free failure %d: %v", i, err)
		}
	}
	for i, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second} {
		if _, err := e.svc.AuthenticateCall(e.ctx, unknown, Caller{Addr: bad}); !errors.Is(err, ErrUnauthenticated) {
			t.Fatalf("failure %d: %v", 11+i, err)
		}
		// Blocked now, for all calls and logins from there, with the wait.
		_, err := e.svc.AuthenticateCall(e.ctx, unknown, Caller{Addr: bad})
		if d, _ := RetryAfter(err); !errors.Is(err, ErrTooMany) || d != want {
			t.Fatalf("after failure %d: %v (%v), want a block of %v", 11+i, err, d, want)
		}
		if _, err := e.svc.Login(e.ctx, LoginRequest{Username: "kim", Password: "quiet harbor 55 lamp", ClientAddr: bad}); !errors.Is(err, ErrTooMany) {
			t.Fatalf("login from a blocked address: %v", err)
		}
		e.clock.Add(want)
	}
	// Other addresses are not affected.
	e.loginFrom("kim", "quiet harbor 55 lamp", "192.0.2.11:1")
	// IPv6 addresses are throttled by /64.
	if a, b := sourceOf("[2001:db8:1:2:aaaa::1]:443"), sourceOf("[2001:db8:1:2:bbbb::2]:80"); a != b {
		t.Errorf("one /64, two keys: %s %s", a, b)
	}
	if a, b := sourceOf("10.0.0.1:1"), sourceOf("10.0.0.1:2"); a != b || a != "10.0.0.1" {
		t.Errorf("ports split one address: %s %s", a, b)
	}
}

func TestTOTP(t *testing.T) {
	// RFC 6238 appendix B test vectors (SHA-1, 8 digits; we use the last 6).
	secret := []byte("12345678901234567890")
	for _, v := range []struct {
		unix int64
		code string
	}{{59, "94287082"}, {1111111109, "07081804"}, {1111111111, "14050471"}, {1234567890, "89005924"}, {2000000000, "69279037"}, {20000000000, "65353130"}} {
		if got := totpCode(secret, time.Unix(v.unix, 0)); got != v.code[2:] {
			t.Errorf("TOTP at %d = %s, want %s", v.unix, got, v.code[2:])
		}
	}

	e := newEnv(t, func(c *Config) {
		c.RequireTOTPForContractors = true
		c.TOTPKey = []byte("0123456789abcdef0123456789abcdef")
	})
	org := e.org(OrgContractor, "한빛정보통신")
	u := e.user("ct-han", org.ID, "contractor password 1")
	if _, err := e.svc.CreateContract(e.ctx, e.change("signed"), ContractInput{OrgID: org.ID, Title: "유지보수", Sites: []string{"site-a"},
		StartsAt: t0.AddDate(0, -1, 0), EndsAt: t0.AddDate(1, 0, 0), Clauses: testClauses}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.grant("maintenance", NewGrant{UserID: u.ID, Role: RoleContractor, Scope: Scope{Sites: []string{"site-a"}}}); err != nil {
		t.Fatal(err)
	}
	cam := Resource{CameraID: "c1", Site: "site-a"}

	// Not enrolled: the session can only enroll.
	r := e.login("ct-han", "contractor password 1")
	if !r.Principal.MustEnrollTOTP {
		t.Fatal("contractor without TOTP not restricted")
	}
	if d := e.svc.Decide(r.Principal, PermDeviceConfigure, cam, e.clock.Now()); d.Allowed || d.Reason != ReasonTOTPEnrollment {
		t.Fatalf("restricted session decided %+v", d)
	}
	enr, err := e.svc.BeginTOTP(e.ctx, r.Principal)
	if err != nil || !strings.HasPrefix(enr.URI, "otpauth://totp/") {
		t.Fatalf("begin: %+v %v", enr, err)
	}
	var sealed []byte
	e.pool.QueryRow(e.ctx, "select totp_secret from access_users where id = $1", u.ID).Scan(&sealed)
	raw := secretOf(t, enr.Secret)
	if strings.Contains(string(sealed), string(raw)) || sealed[0] != 1 {
		t.Fatal("TOTP secret not sealed at rest")
	}
	if err := e.svc.ConfirmTOTP(e.ctx, r.Principal, "000000"); !errors.Is(err, ErrInvalid) && totpCode(raw, e.clock.Now()) != "000000" {
		t.Fatalf("wrong confirmation code: %v", err)
	}
	if err := e.svc.ConfirmTOTP(e.ctx, r.Principal, totpCode(raw, e.clock.Now())); err != nil {
		t.Fatal(err)
	}

	// Now a code is needed; the same code is not accepted twice.
	e.clock.Add(30 * time.Second)
	_, err = e.svc.Login(e.ctx, LoginRequest{Username: "ct-han", Password: "contractor password 1"})
	if !errors.Is(err, ErrTOTPRequired) {
		t.Fatalf("login without code: %v", err)
	}
	code := totpCode(raw, e.clock.Now())
	r2, err := e.svc.Login(e.ctx, LoginRequest{Username: "ct-han", Password: "contractor password 1", TOTP: code})
	if err != nil || r2.Principal.MustEnrollTOTP {
		t.Fatalf("login with code: %+v %v", r2.Principal, err)
	}
	if d := e.svc.Decide(r2.Principal, PermDeviceConfigure, cam, e.clock.Now()); !d.Allowed {
		t.Fatalf("enrolled contractor: %+v", d)
	}
	if _, err := e.svc.Login(e.ctx, LoginRequest{Username: "ct-han", Password: "contractor password 1", TOTP: code}); !errors.Is(err, ErrUnauthenticated) || errors.Is(err, ErrTOTPRequired) {
		t.Fatalf("replayed code: %v", err)
	}
	// One step of skew is accepted, two are not.
	e.clock.Add(30 * time.Second)
	if _, err := e.svc.Login(e.ctx, LoginRequest{Username: "ct-han", Password: "contractor password 1", TOTP: totpCode(raw, e.clock.Now().Add(30*time.Second))}); err != nil {
		t.Fatalf("code one step ahead: %v", err)
	}
	e.clock.Add(2 * time.Minute)
	if _, err := e.svc.Login(e.ctx, LoginRequest{Username: "ct-han", Password: "contractor password 1", TOTP: totpCode(raw, e.clock.Now().Add(-90*time.Second))}); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("stale code: %v", err)
	}
	// A wrong code counts as a failure like a wrong password (the stale code
	// was one since the last success): four more lock the account at this
	// address, and then even the right code is refused there.
	for i := 0; i < 4; i++ {
		if _, err := e.svc.Login(e.ctx, LoginRequest{Username: "ct-han", Password: "contractor password 1", TOTP: "000000"}); !errors.Is(err, ErrUnauthenticated) {
			t.Fatalf("wrong code %d: %v", i, err)
		}
	}
	if _, err := e.svc.Login(e.ctx, LoginRequest{Username: "ct-han", Password: "contractor password 1", TOTP: totpCode(raw, e.clock.Now())}); !errors.Is(err, ErrTooMany) {
		t.Fatalf("after five wrong codes: %v", err)
	}
	_ = u
}

func secretOf(t *testing.T, b32 string) []byte {
	t.Helper()
	enr := TOTPEnrollment{}
	_ = enr
	s, err := base32NoPad.DecodeString(b32)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestPasswordChangeResetAndBootstrap(t *testing.T) {
	e := newEnv(t, nil)
	org := e.org(OrgDepartment, "d")
	u, oneTime, err := e.svc.CreateUser(e.ctx, e.change("new hire"), NewUser{Username: "newbie", OrgID: org.ID})
	if err != nil || len(oneTime) < 16 || !u.MustChangePassword {
		t.Fatalf("create with one-time password: %+v %q %v", u, oneTime, err)
	}
	if _, err := e.svc.CreateGrant(e.ctx, e.change("duty"), NewGrant{UserID: u.ID, Role: RoleAuditor, Scope: Scope{All: true}}); err != nil {
		t.Fatal(err)
	}
	r := e.login("newbie", oneTime)
	if !r.Principal.MustChangePassword {
		t.Fatal("one-time password does not force a change")
	}
	if d := e.svc.Decide(r.Principal, PermAuditRead, Resource{}, e.clock.Now()); d.Allowed || d.Reason != ReasonPasswordChange {
		t.Fatalf("before change: %+v", d)
	}
	if err := e.svc.ChangePassword(e.ctx, r.Principal, "wrong", "a brand new password"); !errors.Is(err, ErrPermissionDenied) {
		t.Fatalf("change with wrong current password: %v", err)
	}
	if err := e.svc.ChangePassword(e.ctx, r.Principal, oneTime, "short"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("short password: %v", err)
	}
	if err := e.svc.ChangePassword(e.ctx, r.Principal, oneTime, "a brand new password"); err != nil {
		t.Fatal(err)
	}
	p, err := e.svc.Authenticate(e.ctx, r.Token)
	if err != nil || p.MustChangePassword {
		t.Fatalf("after change: %+v %v", p, err)
	}
	if d := e.svc.Decide(p, PermAuditRead, Resource{}, e.clock.Now()); !d.Allowed {
		t.Fatalf("after change: %+v", d)
	}
	// Admin reset: sessions end, the next login must change the password.
	pw, err := e.svc.ResetPassword(e.ctx, e.change("forgot it"), u.ID)
	if err != nil || pw == "" {
		t.Fatal(err)
	}
	if _, err := e.svc.Authenticate(e.ctx, r.Token); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("session survived a reset: %v", err)
	}
	if r := e.login("newbie", pw); !r.Principal.MustChangePassword {
		t.Error("reset does not force a change")
	}
	// Bootstrap runs once.
	res, err := e.svc.Bootstrap(e.ctx, BootstrapConfig{})
	if err != nil || res.Created {
		t.Fatalf("second bootstrap: %+v %v", res, err)
	}
	// The admin has no footage rights but manages.
	if d := e.svc.Decide(e.admin, PermLiveView, Resource{CameraID: "c", Purpose: PurposeCrimePrevention}, e.clock.Now()); d.Allowed {
		t.Error("admin may view live")
	}
	if _, _, err := e.svc.UpdateRole(e.ctx, e.change("try"), RoleAdmin, []Permission{PermUserManage, PermPlaybackView}); !errors.Is(err, ErrInvalid) {
		t.Errorf("admin role got playback: %v", err)
	}
	if _, _, err := e.svc.UpdateRole(e.ctx, e.change("try"), RoleContractor, []Permission{PermExportRequest}); !errors.Is(err, ErrInvalid) {
		t.Errorf("contractor role got export: %v", err)
	}
	if _, err := e.svc.CreateGrant(e.ctx, e.change("me"), NewGrant{UserID: e.admin.UserID, Role: RoleOperator, Scope: Scope{All: true}}); !errors.Is(err, ErrPermissionDenied) {
		t.Errorf("self grant: %v", err)
	}
}

func TestGeneratedBootstrapPassword(t *testing.T) {
	e := newEnv(t, nil)
	// A fresh database of our own for a generated-password bootstrap.
	_, err := e.pool.Exec(e.ctx, "truncate access_grants, access_sessions, access_users, access_orgs cascade")
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.svc.Bootstrap(context.Background(), BootstrapConfig{Username: "root"})
	if err != nil || !res.Created || len(res.Password) != 20 {
		t.Fatalf("%+v %v", res, err)
	}
	if r := e.login("root", res.Password); !r.Principal.MustChangePassword || r.Principal.Roles[0] != RoleAdmin {
		t.Fatalf("%+v", r.Principal)
	}
}
