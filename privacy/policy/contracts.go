package policy

import (
	"context"
	"fmt"
	"time"

	"github.com/gwanje/gwanje/accesscontrol"
)

// Outsourcing is one outsourcing contract as the 위탁 section shows it.
type Outsourcing struct {
	// Contractor is the company (수탁업체), matched with the registry's site
	// contractors by name or by ContractorID.
	Contractor   string
	ContractorID string
	// Work is the outsourced work (위탁업무), e.g. the contract title.
	Work    string
	Contact string // 담당자
	Phone   string // 연락처
	// Sites are the registry site ids (or names) the contract covers.
	Sites    []string
	StartsOn time.Time
	EndsOn   time.Time
}

// ContractSource lists the outsourcing contracts in force at a time.
type ContractSource interface {
	Contracts(ctx context.Context, at time.Time) ([]Outsourcing, error)
}

// ContractLister is what AccessContracts needs from accesscontrol
// (*accesscontrol.Service implements it).
type ContractLister interface {
	ListContracts(ctx context.Context, by accesscontrol.Principal, orgID string) ([]accesscontrol.Contract, error)
	ListOrgs(ctx context.Context, by accesscontrol.Principal) ([]accesscontrol.Org, error)
}

// AccessContracts reads the contracts recorded in accesscontrol, as By (a
// principal holding contract.manage, e.g. the server's system principal).
type AccessContracts struct {
	Lister ContractLister
	By     accesscontrol.Principal
}

// Contracts implements ContractSource: the contracts live at at, with their
// organization's name as the contractor.
func (a AccessContracts) Contracts(ctx context.Context, at time.Time) ([]Outsourcing, error) {
	orgs, err := a.Lister.ListOrgs(ctx, a.By)
	if err != nil {
		return nil, fmt.Errorf("policy: contracts: %w", err)
	}
	names := map[string]string{}
	for _, o := range orgs {
		names[o.ID] = o.Name
	}
	cs, err := a.Lister.ListContracts(ctx, a.By, "")
	if err != nil {
		return nil, fmt.Errorf("policy: contracts: %w", err)
	}
	var out []Outsourcing
	for _, c := range cs {
		if !c.LiveAt(at) {
			continue
		}
		out = append(out, Outsourcing{Contractor: names[c.OrgID], ContractorID: c.OrgID, Work: c.Title,
			Contact: c.ContactName, Phone: c.ContactPhone, Sites: c.Sites, StartsOn: c.StartsAt, EndsOn: c.EndsAt})
	}
	return out, nil
}

// ContractReader is what DirectContracts needs from accesscontrol
// (*accesscontrol.Service implements it): the contracts in force and the
// names of their organizations, read without a principal (the server's own
// wiring; the contracts' content is published anyway).
type ContractReader interface {
	ContractsInForce(ctx context.Context, at time.Time) ([]accesscontrol.Contract, map[string]string, error)
}

// DirectContracts is a ContractSource reading the contracts made with
// `contracts create` directly.
type DirectContracts struct{ Reader ContractReader }

// Contracts implements ContractSource.
func (d DirectContracts) Contracts(ctx context.Context, at time.Time) ([]Outsourcing, error) {
	cs, names, err := d.Reader.ContractsInForce(ctx, at)
	if err != nil {
		return nil, fmt.Errorf("policy: contracts: %w", err)
	}
	out := make([]Outsourcing, 0, len(cs))
	for _, c := range cs {
		out = append(out, Outsourcing{Contractor: names[c.OrgID], ContractorID: c.OrgID, Work: c.Title,
			Contact: c.ContactName, Phone: c.ContactPhone, Sites: c.Sites, StartsOn: c.StartsAt, EndsOn: c.EndsAt})
	}
	return out, nil
}
