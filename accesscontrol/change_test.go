package accesscontrol

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func TestChangesAreAuditedTogetherAndTakeEffectAtOnce(t *testing.T) {
	e := newEnv(t, nil)
	org := e.org(OrgDepartment, "안전총괄과")
	u := e.user("op-lee", org.ID, "op lee secret 9876")
	p := Principal{UserID: u.ID, Username: u.Username, OrgID: org.ID}
	cam := Resource{CameraID: "cam-1", Site: "site-a", Purpose: PurposeCrimePrevention}

	// Audit store down: the grant is refused, nothing is written.
	e.auditor.fail.Store(true)
	_, err := e.svc.CreateGrant(e.ctx, e.change("night shift"), NewGrant{UserID: u.ID, Role: RoleOperator,
		Scope: Scope{Sites: []string{"site-a"}, Purposes: []Purpose{PurposeCrimePrevention}}})
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("grant with the audit store down: %v", err)
	}
	var n int
	e.pool.QueryRow(e.ctx, "select count(*) from access_grants where user_id = $1", u.ID).Scan(&n)
	if n != 0 {
		t.Fatal("grant written without its audit record")
	}
	if d := e.svc.Decide(p, PermLiveView, cam, e.clock.Now()); d.Allowed {
		t.Fatal("unaudited grant is in force")
	}
	e.auditor.fail.Store(false)

	g, err := e.svc.CreateGrant(e.ctx, e.change("night shift"), NewGrant{UserID: u.ID, Role: RoleOperator,
		Scope: Scope{Sites: []string{"site-a"}, Purposes: []Purpose{PurposeCrimePrevention}}})
	if err != nil {
		t.Fatal(err)
	}
	// Footage rights: pending until a second person approves.
	if d := e.svc.Decide(p, PermLiveView, cam, e.clock.Now()); d.Allowed || g.Status != GrantPending {
		t.Fatalf("pending grant in force: %+v %+v", g, d)
	}
	if _, err := e.svc.ApproveGrant(e.ctx, Change{By: e.manager, Reason: "roster checked"}, g.ID); err != nil {
		t.Fatal(err)
	}
	if d := e.svc.Decide(p, PermLiveView, cam, e.clock.Now()); !d.Allowed || d.GrantID != g.ID {
		t.Fatalf("approved grant not in force: %+v", d)
	}
	rows := auditRows(t, e.pool, "grant.create")
	last := rows[len(rows)-1]
	if last.UserID != e.admin.UserID || last.Reason != "night shift" || last.Details["grant_id"] != g.ID || last.Details["status"] != "pending" {
		t.Errorf("grant.create audited as %+v", last)
	}
	rows = auditRows(t, e.pool, "grant.approve")
	if last := rows[len(rows)-1]; last.UserID != e.manager.UserID || last.Details["grant_id"] != g.ID || last.Details["requested_by"] != e.admin.UserID {
		t.Errorf("grant.approve audited as %+v", last)
	}

	// Revocation: the next decision denies, and it is announced.
	if err := e.svc.RevokeGrant(e.ctx, Change{By: e.admin}, g.ID); !errors.Is(err, ErrInvalid) {
		t.Errorf("revoke without a reason: %v", err)
	}
	if err := e.svc.RevokeGrant(e.ctx, e.change("shift over"), g.ID); err != nil {
		t.Fatal(err)
	}
	if d := e.svc.Decide(p, PermLiveView, cam, e.clock.Now()); d.Allowed {
		t.Fatal("revoked grant still allows")
	}
	if err := e.svc.RevokeGrant(e.ctx, e.change("again"), g.ID); !errors.Is(err, ErrConflict) {
		t.Errorf("second revoke: %v", err)
	}
	if got := e.notifier.revoked(); len(got) == 0 || got[len(got)-1].UserID != u.ID || got[len(got)-1].Event != "grant.revoke" {
		t.Errorf("revocation not announced: %+v", got)
	}

	// Disabling: sessions end and decisions deny.
	if _, err := e.grant("back", NewGrant{UserID: u.ID, Role: RoleOperator, Scope: Scope{All: true}}); err != nil {
		t.Fatal(err)
	}
	r := e.login("op-lee", "op lee secret 9876")
	if err := e.svc.DisableUser(e.ctx, e.change("retired"), u.ID); err != nil {
		t.Fatal(err)
	}
	if d := e.svc.Decide(r.Principal, PermLiveView, cam, e.clock.Now()); d.Allowed || d.Reason != ReasonUserDisabled {
		t.Fatalf("disabled user: %+v", d)
	}
	if _, err := e.svc.Authenticate(e.ctx, r.Token); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("disabled user's session: %v", err)
	}
	if _, err := e.svc.Login(e.ctx, LoginRequest{Username: "op-lee", Password: "op lee secret 9876"}); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("disabled user logged in: %v", err)
	}
	got, err := e.svc.GetUser(e.ctx, e.admin, u.ID)
	if err != nil || !got.Disabled {
		t.Errorf("disabled user kept: %+v %v", got, err)
	}
}

func TestValidationErrorsAreTyped(t *testing.T) {
	e := newEnv(t, nil)
	org := e.org(OrgDepartment, "d")
	u := e.user("someone", org.ID, "some long password")
	outsider := Principal{UserID: u.ID, Username: u.Username}
	nobody := "00000000-0000-0000-0000-000000000000"
	cases := []struct {
		name string
		err  error
		want error
	}{
		{"empty scope", func() error {
			_, err := e.svc.CreateGrant(e.ctx, e.change("x"), NewGrant{UserID: u.ID, Role: RoleOperator})
			return err
		}(), ErrInvalid},
		{"no reason", func() error {
			_, err := e.svc.CreateGrant(e.ctx, e.change(""), NewGrant{UserID: u.ID, Role: RoleOperator, Scope: Scope{All: true}})
			return err
		}(), ErrInvalid},
		{"unknown role", func() error {
			_, err := e.svc.CreateGrant(e.ctx, e.change("x"), NewGrant{UserID: u.ID, Role: "wizard", Scope: Scope{All: true}})
			return err
		}(), ErrNotFound},
		{"unknown user", func() error {
			_, err := e.svc.CreateGrant(e.ctx, e.change("x"), NewGrant{UserID: nobody, Role: RoleOperator, Scope: Scope{All: true}})
			return err
		}(), ErrNotFound},
		{"bad hours", func() error {
			_, err := e.svc.CreateGrant(e.ctx, e.change("x"), NewGrant{UserID: u.ID, Role: RoleOperator, Scope: Scope{All: true}, AllowedHours: &HourRange{From: 5, To: 5}})
			return err
		}(), ErrInvalid},
		{"duplicate username", func() error {
			_, _, err := e.svc.CreateUser(e.ctx, e.change("x"), NewUser{Username: "someone", OrgID: org.ID})
			return err
		}(), ErrAlreadyExists},
		{"bad username", func() error {
			_, _, err := e.svc.CreateUser(e.ctx, e.change("x"), NewUser{Username: "Bad Name!", OrgID: org.ID})
			return err
		}(), ErrInvalid},
		{"duplicate org", func() error { _, err := e.svc.CreateOrg(e.ctx, e.change("x"), OrgDepartment, "d"); return err }(), ErrAlreadyExists},
		{"contract for a department", func() error {
			_, err := e.svc.CreateContract(e.ctx, e.change("x"), ContractInput{OrgID: org.ID, Title: "t", Sites: []string{"s"},
				StartsAt: t0, EndsAt: t0.Add(time.Hour), Clauses: testClauses})
			return err
		}(), ErrInvalid},
		{"contract without clauses", func() error {
			_, err := e.svc.CreateContract(e.ctx, e.change("x"), ContractInput{OrgID: org.ID, Title: "t", Sites: []string{"s"},
				StartsAt: t0, EndsAt: t0.Add(time.Hour)})
			return err
		}(), ErrInvalid},
		{"not allowed", func() error { _, err := e.svc.CreateOrg(e.ctx, Change{By: outsider}, OrgPolice, "p"); return err }(), ErrPermissionDenied},
		{"unknown grant", e.svc.RevokeGrant(e.ctx, e.change("x"), "not-a-uuid"), ErrNotFound},
		{"unknown role update", func() error {
			_, _, err := e.svc.UpdateRole(e.ctx, e.change("x"), "wizard", nil)
			return err
		}(), ErrNotFound},
	}
	for _, c := range cases {
		if !errors.Is(c.err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, c.err, c.want)
		}
	}
}

// fakeBus is an in-memory Subscriber/Notifier pair standing in for NATS.
type fakeBus struct {
	handlers atomic.Pointer[[]func([]byte)]
}

func (b *fakeBus) Subscribe(subject string, h func([]byte)) (func() error, error) {
	for {
		old := b.handlers.Load()
		var hs []func([]byte)
		if old != nil {
			hs = append(hs, *old...)
		}
		hs = append(hs, h)
		if b.handlers.CompareAndSwap(old, &hs) {
			return func() error { return nil }, nil
		}
	}
}

func (b *fakeBus) Publish(subject string, data []byte) error {
	if hs := b.handlers.Load(); hs != nil {
		for _, h := range *hs {
			h(data)
		}
	}
	return nil
}

func TestOtherProcessesReload(t *testing.T) {
	for _, mode := range []string{"notice", "poll"} {
		t.Run(mode, func(t *testing.T) {
			bus := &fakeBus{}
			e := newEnv(t, func(c *Config) {
				if mode == "notice" {
					c.Notifier = bus
					c.PollInterval = time.Hour
				}
			})
			// A second process on the same database.
			cfg2 := e.cfg
			cfg2.Notifier = nil
			if mode == "notice" {
				cfg2.Subscriber = bus
			} else {
				cfg2.PollInterval = 10 * time.Millisecond
			}
			other, err := New(e.ctx, cfg2)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(e.ctx)
			done := make(chan error, 1)
			go func() { done <- other.Run(ctx) }()
			defer func() {
				cancel()
				if err := <-done; err != nil {
					t.Error(err)
				}
				other.Close()
				other.Close()
			}()
			// Wait until Run has subscribed (notice mode).
			for mode == "notice" && bus.handlers.Load() == nil {
				time.Sleep(time.Millisecond)
			}
			org := e.org(OrgPolice, "중부경찰서")
			u := e.user("police-kang", org.ID, "police kang secret 1")
			g, err := e.svc.CreateGrant(e.ctx, e.change("investigation"), NewGrant{UserID: u.ID, Role: RolePolice, Scope: Scope{All: true}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.svc.ApproveGrant(e.ctx, Change{By: e.manager, Reason: "letter seen"}, g.ID); err != nil {
				t.Fatal(err)
			}
			p := Principal{UserID: u.ID}
			cam := Resource{CameraID: "c", Purpose: PurposeCrimePrevention}
			waitFor(t, func() bool { return other.Decide(p, PermLiveView, cam, e.clock.Now()).Allowed })
			if err := e.svc.RevokeGrant(e.ctx, e.change("case closed"), g.ID); err != nil {
				t.Fatal(err)
			}
			waitFor(t, func() bool { return !other.Decide(p, PermLiveView, cam, e.clock.Now()).Allowed })
		})
	}
}

// waitFor polls cond until it holds or a generous deadline passes.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(2 * time.Millisecond)
	}
}
