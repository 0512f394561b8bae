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
	_, errUnknown := e.svc.Login(e.ctx, LoginRequest{Username: "nobody", Password: "x", ClientAddr: "10.0.0.9:1"})
	_, errWrong := e.svc.Login(e.ctx, LoginRequest{Username: "alice", Password: "x", ClientAddr: "10.0.0.9:1"})
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

func TestBruteForceLocksOnlyThatAccount(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.MaxFailedLogins = 5
		c.LockoutPeriod = 15 * time.Minute
	})
	org := e.org(OrgDepartment, "d")
	victim := e.user("victim", org.ID, "moon river 7788 quiet")
	e.user("bystander", org.ID, "sun valley 99 gentle")

	// 100 wrong passwords from one client, concurrently, while another user
	// logs in over and over: every bystander login succeeds.
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.svc.Login(e.ctx, LoginRequest{Username: "victim", Password: fmt.Sprintf("guess-%d", i), ClientAddr: "203.0.113.7:4444"})
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
		if _, err := e.svc.Login(e.ctx, LoginRequest{Username: "bystander", Password: "sun valley 99 gentle", ClientAddr: "10.1.1.1:1"}); err != nil {
			t.Fatalf("bystander login during the attack: %v", err)
		}
		bystanderLogins++
	}
	close(errs)
	for err := range errs {
		if !errors.Is(err, ErrUnauthenticated) {
			t.Fatalf("wrong password: %v", err)
		}
	}
	// The account is locked: the right password is refused, the same way.
	_, err := e.svc.Login(e.ctx, LoginRequest{Username: "victim", Password: "moon river 7788 quiet", ClientAddr: "10.2.2.2:1"})
	if !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("locked account logged in: %v", err)
	}
	u, _ := e.svc.GetUser(e.ctx, e.admin, victim.ID)
	if u.LockedUntil == nil || !u.LockedUntil.After(e.clock.Now()) {
		t.Fatalf("victim not locked: %+v", u.LockedUntil)
	}
	var denied, lockEvents int
	for _, r := range auditRows(t, e.pool, "auth.login") {
		if r.Outcome == "denied" && r.Reason == "account locked" {
			denied++
		}
		if r.Details["locked"] == true {
			lockEvents++
		}
	}
	if denied == 0 || lockEvents == 0 {
		t.Errorf("lockout not audited: denied=%d lock events=%d", denied, lockEvents)
	}
	// Attempts on one account are serialized and attempts on a locked
	// account do no argon2 work (they only wait), so the attacker cannot
	// burn CPU: exactly MaxFailedLogins of the 100 reached argon2.
	var failedCount int
	e.pool.QueryRow(e.ctx, "select count(*) from test_audit where type = 'auth.login' and reason = 'wrong password'").Scan(&failedCount)
	if failedCount != 5 {
		t.Errorf("%d attempts checked the password, want 5", failedCount)
	}
	// After the lockout period the right password works again.
	e.clock.Add(16 * time.Minute)
	e.login("victim", "moon river 7788 quiet")
	// An administrator can also unlock.
	for i := 0; i < 5; i++ {
		e.svc.Login(e.ctx, LoginRequest{Username: "victim", Password: "bad"})
	}
	if _, err := e.svc.UpdateUser(e.ctx, e.change("called the helpdesk"), victim.ID, UserUpdate{Unlock: true}); err != nil {
		t.Fatal(err)
	}
	e.login("victim", "moon river 7788 quiet")
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
	// A wrong code counts as a failure like a wrong password.
	var failed int
	e.pool.QueryRow(e.ctx, "select failed_logins from access_users where id = $1", u.ID).Scan(&failed)
	if failed != 1 {
		t.Errorf("failed_logins = %d after one bad code", failed)
	}
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
