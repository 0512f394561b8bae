package accesscontrol

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gwanje/gwanje/audit"
)

// ContractInput is a contract's content, for CreateContract and
// UpdateContract.
type ContractInput struct {
	OrgID        string // contractor organization; fixed after creation
	Title        string
	Sites        []string
	StartsAt     time.Time
	EndsAt       time.Time
	ContactName  string
	ContactPhone string
	Clauses      Clauses
}

func validateContract(in ContractInput) error {
	switch {
	case strings.TrimSpace(in.Title) == "":
		return invalidf("a contract needs a title")
	case len(in.Sites) == 0:
		return invalidf("a contract must name the sites it covers")
	case in.StartsAt.IsZero() || in.EndsAt.IsZero():
		return invalidf("a contract needs a start and an end")
	case !in.EndsAt.After(in.StartsAt):
		return invalidf("a contract must end after it starts")
	}
	for _, s := range in.Sites {
		if s == "" {
			return invalidf("empty site name")
		}
	}
	cl := in.Clauses
	for name, v := range map[string]string{
		"purpose and scope": cl.PurposeAndScope, "sub-contracting restriction": cl.SubcontractingRestriction,
		"access restriction and safeguards": cl.AccessRestrictionAndSafeguards, "inspection": cl.Inspection, "liability": cl.Liability} {
		if strings.TrimSpace(v) == "" {
			return invalidf("the contract's %s clause is missing (all five clauses of a CCTV outsourcing contract are required)", name)
		}
		if err := checkDisplayed("the contract's "+name+" clause", v); err != nil {
			return err
		}
	}
	return checkDisplayed("contract title", in.Title)
}

func contractDetails(c Contract) map[string]any {
	return map[string]any{"contract_id": c.ID, "org_id": c.OrgID, "title": c.Title, "sites": c.Sites,
		"starts_at": c.StartsAt.UTC().Format(time.RFC3339), "ends_at": c.EndsAt.UTC().Format(time.RFC3339)}
}

// CreateContract records a contractor company's contract. Needs
// contract.manage.
func (s *Service) CreateContract(ctx context.Context, c Change, in ContractInput) (Contract, error) {
	if err := s.require(c.By, PermContractManage); err != nil {
		return Contract{}, err
	}
	if err := validateContract(in); err != nil {
		return Contract{}, err
	}
	if err := validID("organization", in.OrgID); err != nil {
		return Contract{}, err
	}
	var out Contract
	err := s.write(ctx, func(w *wtx) error {
		var kind OrgKind
		if err := w.QueryRow(ctx, "select kind from access_orgs where id = $1", in.OrgID).Scan(&kind); errors.Is(err, pgx.ErrNoRows) {
			return notFoundf("organization %s", in.OrgID)
		} else if err != nil {
			return fmt.Errorf("accesscontrol: create contract: %w", err)
		}
		if kind != OrgContractor {
			return invalidf("contracts are for contractor organizations, not a %s", kind)
		}
		var by *string
		if c.By.UserID != "" {
			by = &c.By.UserID
		}
		now := s.cfg.Now()
		cl := in.Clauses
		var err error
		out, err = scanContract(w.QueryRow(ctx, `insert into access_contracts (org_id, title, sites, starts_at, ends_at, contact_name,
				contact_phone, clause_purpose_scope, clause_subcontracting, clause_access_safeguards, clause_inspection,
				clause_liability, created_by, created_at, updated_at)
			values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14) returning `+contractCols,
			in.OrgID, in.Title, in.Sites, in.StartsAt, in.EndsAt, in.ContactName, in.ContactPhone, cl.PurposeAndScope,
			cl.SubcontractingRestriction, cl.AccessRestrictionAndSafeguards, cl.Inspection, cl.Liability, by, now))
		if err != nil {
			return fmt.Errorf("accesscontrol: create contract: %w", err)
		}
		return w.audit(ctx, c, audit.Entry{Type: "contract.create", Details: contractDetails(out)})
	})
	return out, err
}

// ListContracts lists contracts, of one organization when orgID is set.
// Needs contract.manage.
func (s *Service) ListContracts(ctx context.Context, by Principal, orgID string) ([]Contract, error) {
	if err := s.require(by, PermContractManage); err != nil {
		return nil, err
	}
	if orgID == "" {
		return queryContracts(ctx, s.pool, "")
	}
	if err := validID("organization", orgID); err != nil {
		return nil, err
	}
	return queryContracts(ctx, s.pool, "where org_id = $1", orgID)
}

// UpdateContract replaces a contract's content (not its organization).
// Sites removed or a shortened period end the contractors' rights there at
// the next decision. Needs contract.manage.
func (s *Service) UpdateContract(ctx context.Context, c Change, id string, in ContractInput) (Contract, error) {
	if err := s.require(c.By, PermContractManage); err != nil {
		return Contract{}, err
	}
	if err := validateContract(in); err != nil {
		return Contract{}, err
	}
	if err := validID("contract", id); err != nil {
		return Contract{}, err
	}
	var out Contract
	err := s.write(ctx, func(w *wtx) error {
		old, err := scanContract(w.QueryRow(ctx, "select "+contractCols+" from access_contracts where id = $1 for update", id))
		if errors.Is(err, pgx.ErrNoRows) {
			return notFoundf("contract %s", id)
		} else if err != nil {
			return fmt.Errorf("accesscontrol: update contract: %w", err)
		}
		if old.EndedAt != nil {
			return conflictf("contract %s was ended; record a new one", id)
		}
		cl := in.Clauses
		out, err = scanContract(w.QueryRow(ctx, `update access_contracts set title = $2, sites = $3, starts_at = $4, ends_at = $5,
				contact_name = $6, contact_phone = $7, clause_purpose_scope = $8, clause_subcontracting = $9,
				clause_access_safeguards = $10, clause_inspection = $11, clause_liability = $12, updated_at = $13
			where id = $1 returning `+contractCols,
			id, in.Title, in.Sites, in.StartsAt, in.EndsAt, in.ContactName, in.ContactPhone, cl.PurposeAndScope,
			cl.SubcontractingRestriction, cl.AccessRestrictionAndSafeguards, cl.Inspection, cl.Liability, s.cfg.Now()))
		if err != nil {
			return fmt.Errorf("accesscontrol: update contract: %w", err)
		}
		if err := w.revokeOrg(ctx, old.OrgID, "contract.update"); err != nil {
			return err
		}
		d := contractDetails(out)
		d["before"] = contractDetails(old)
		return w.audit(ctx, c, audit.Entry{Type: "contract.update", Details: d})
	})
	return out, err
}

// EndContract ends a contract now (early termination); the company's
// contractors lose the rights it covered at the next decision. Needs
// contract.manage and a reason.
func (s *Service) EndContract(ctx context.Context, c Change, id string) error {
	if err := s.require(c.By, PermContractManage); err != nil {
		return err
	}
	if strings.TrimSpace(c.Reason) == "" {
		return invalidf("say why the contract ends")
	}
	if err := validID("contract", id); err != nil {
		return err
	}
	return s.write(ctx, func(w *wtx) error {
		var org string
		var ended *time.Time
		if err := w.QueryRow(ctx, "select org_id::text, ended_at from access_contracts where id = $1 for update", id).Scan(&org, &ended); errors.Is(err, pgx.ErrNoRows) {
			return notFoundf("contract %s", id)
		} else if err != nil {
			return fmt.Errorf("accesscontrol: end contract: %w", err)
		}
		if ended != nil {
			return conflictf("contract %s is already ended", id)
		}
		if _, err := w.Exec(ctx, "update access_contracts set ended_at = $2, end_reason = $3, updated_at = $2 where id = $1", id, s.cfg.Now(), c.Reason); err != nil {
			return fmt.Errorf("accesscontrol: end contract: %w", err)
		}
		if err := w.revokeOrg(ctx, org, "contract.end"); err != nil {
			return err
		}
		return w.audit(ctx, c, audit.Entry{Type: "contract.update", Details: map[string]any{"contract_id": id, "org_id": org, "ended": true}})
	})
}

// revokeOrg queues revocation notices for every enabled user of an org.
func (w *wtx) revokeOrg(ctx context.Context, org, event string) error {
	rows, err := w.Query(ctx, "select id::text from access_users where org_id = $1 and disabled_at is null", org)
	if err != nil {
		return fmt.Errorf("accesscontrol: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("accesscontrol: %w", err)
	}
	for _, id := range ids {
		w.revoked = append(w.revoked, RevokedNotice{UserID: id, Event: event})
	}
	return nil
}

// ContractsInForce lists the contracts in force at at with their
// organizations' names, for in-process consumers that publish what is
// public anyway (the 위탁 table of the 운영·관리 방침). It checks no
// principal and is not reachable over the API.
func (s *Service) ContractsInForce(ctx context.Context, at time.Time) ([]Contract, map[string]string, error) {
	orgs, err := queryOrgs(ctx, s.pool, "")
	if err != nil {
		return nil, nil, err
	}
	names := make(map[string]string, len(orgs))
	for _, o := range orgs {
		names[o.ID] = o.Name
	}
	all, err := queryContracts(ctx, s.pool, "")
	if err != nil {
		return nil, nil, err
	}
	var out []Contract
	for _, c := range all {
		if c.LiveAt(at) {
			out = append(out, c)
		}
	}
	return out, names, nil
}
