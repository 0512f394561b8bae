package accesscontrol

import (
	"context"
	"fmt"

	"github.com/gwanje/gwanje/audit"
)

// BootstrapConfig configures the first administrator and the first
// responsible manager. Footage rights need a second person's approval
// (grant.approve), and no administrator can ever approve, so the first
// start also creates the first approver: the responsible manager
// (관리책임자), with the manager role over everything. Every later approver
// is made through an approved grant.
type BootstrapConfig struct {
	// Username of the first administrator; default "admin".
	Username string
	// Password, from configuration; empty: a one-time password is generated,
	// returned once and must be changed at the first login.
	Password string
	// OrgName of the administrator's department; default "시스템관리".
	OrgName string
	// ManagerUsername of the first responsible manager; default "manager".
	ManagerUsername string
	// ManagerPassword, from configuration; empty: a one-time password is
	// generated, returned once and must be changed at the first login.
	ManagerPassword string
}

// BootstrapResult says what Bootstrap did. Password is set only when it
// was generated: print it once to the operator's console and nowhere else
// (never to a log).
type BootstrapResult struct {
	Created  bool
	UserID   string
	Username string
	Password string
	// The first responsible manager, likewise.
	ManagerUserID   string
	ManagerUsername string
	ManagerPassword string
}

// bootstrapActor is the audit actor of the first start.
var bootstrapActor = Principal{Username: "system:bootstrap"}

// Bootstrap creates the first administrator when no user exists yet (under
// an advisory lock, so two processes starting at once create one). It does
// nothing on later starts.
func (s *Service) Bootstrap(ctx context.Context, cfg BootstrapConfig) (BootstrapResult, error) {
	if cfg.Username == "" {
		cfg.Username = "admin"
	}
	if cfg.OrgName == "" {
		cfg.OrgName = "시스템관리"
	}
	if cfg.ManagerUsername == "" {
		cfg.ManagerUsername = RoleManager
	}
	if cfg.ManagerUsername == cfg.Username {
		return BootstrapResult{}, fmt.Errorf("accesscontrol: bootstrap: the administrator and the responsible manager must be two accounts (both are named %q)", cfg.Username)
	}
	oneTime := ""
	if cfg.Password == "" {
		oneTime = randomPassword()
		cfg.Password = oneTime
	} else if err := s.checkNewPassword(cfg.Username, cfg.Password); err != nil {
		return BootstrapResult{}, fmt.Errorf("accesscontrol: bootstrap: the configured administrator password: %w", err)
	}
	mgrOneTime := ""
	if cfg.ManagerPassword == "" {
		mgrOneTime = randomPassword()
		cfg.ManagerPassword = mgrOneTime
	} else if err := s.checkNewPassword(cfg.ManagerUsername, cfg.ManagerPassword); err != nil {
		return BootstrapResult{}, fmt.Errorf("accesscontrol: bootstrap: the configured manager password: %w", err)
	}
	hash := s.hashPassword(cfg.Password)
	mgrHash := s.hashPassword(cfg.ManagerPassword)
	res := BootstrapResult{Username: cfg.Username, ManagerUsername: cfg.ManagerUsername}
	c := Change{By: bootstrapActor, Reason: "first start: initial administrator"}
	err := s.write(ctx, func(w *wtx) error {
		if _, err := w.Exec(ctx, "select pg_advisory_xact_lock(107079497249651)"); err != nil {
			return fmt.Errorf("accesscontrol: bootstrap: %w", err)
		}
		var n int
		if err := w.QueryRow(ctx, "select count(*) from access_users").Scan(&n); err != nil {
			return fmt.Errorf("accesscontrol: bootstrap: %w", err)
		}
		if n > 0 {
			return nil
		}
		var org string
		err := w.QueryRow(ctx, `insert into access_orgs (kind, name) values ('department', $1)
			on conflict (name) do update set name = excluded.name returning id::text`, cfg.OrgName).Scan(&org)
		if err != nil {
			return fmt.Errorf("accesscontrol: bootstrap: %w", err)
		}
		err = w.QueryRow(ctx, `insert into access_users (username, display_name, org_id, password_hash, must_change_password)
			values ($1, 'Administrator', $2, $3, $4) returning id::text`, cfg.Username, org, hash, oneTime != "").Scan(&res.UserID)
		if err != nil {
			return fmt.Errorf("accesscontrol: bootstrap: %w", err)
		}
		var grant string
		err = w.QueryRow(ctx, `insert into access_grants (user_id, role, scope_all, reason) values ($1, 'admin', true, $2) returning id::text`,
			res.UserID, c.Reason).Scan(&grant)
		if err != nil {
			return fmt.Errorf("accesscontrol: bootstrap: %w", err)
		}
		err = w.QueryRow(ctx, `insert into access_users (username, display_name, org_id, password_hash, must_change_password)
			values ($1, 'Responsible manager', $2, $3, $4) returning id::text`, cfg.ManagerUsername, org, mgrHash, mgrOneTime != "").Scan(&res.ManagerUserID)
		if err != nil {
			return fmt.Errorf("accesscontrol: bootstrap: %w", err)
		}
		var mgrGrant string
		err = w.QueryRow(ctx, `insert into access_grants (user_id, role, scope_all, reason) values ($1, 'manager', true, $2) returning id::text`,
			res.ManagerUserID, "first start: the first responsible manager, who approves footage rights").Scan(&mgrGrant)
		if err != nil {
			return fmt.Errorf("accesscontrol: bootstrap: %w", err)
		}
		for _, e := range []audit.Entry{
			{Type: "org.create", Details: map[string]any{"org_id": org, "kind": "department", "name": cfg.OrgName}},
			{Type: "user.create", Details: map[string]any{"user_id": res.UserID, "username": cfg.Username, "one_time_password": oneTime != ""}},
			{Type: "grant.create", Details: map[string]any{"grant_id": grant, "user_id": res.UserID, "role": RoleAdmin, "all": true, "status": string(GrantActive)}},
			{Type: "user.create", Details: map[string]any{"user_id": res.ManagerUserID, "username": cfg.ManagerUsername, "one_time_password": mgrOneTime != ""}},
			{Type: "grant.create", Details: map[string]any{"grant_id": mgrGrant, "user_id": res.ManagerUserID, "role": RoleManager, "all": true, "status": string(GrantActive)}},
		} {
			if err := w.audit(ctx, c, e); err != nil {
				return err
			}
		}
		res.Created = true
		return nil
	})
	if err != nil || !res.Created {
		return BootstrapResult{Created: false}, err
	}
	s.log.Info("created the first administrator and responsible manager", "username", res.Username,
		"one_time_password", oneTime != "", "manager", res.ManagerUsername, "manager_one_time_password", mgrOneTime != "")
	res.Password, res.ManagerPassword = oneTime, mgrOneTime
	return res, nil
}
