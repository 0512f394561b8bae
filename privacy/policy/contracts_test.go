package policy_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gwanje/gwanje/accesscontrol"
	"github.com/gwanje/gwanje/privacy/policy"
)

type fakeLister struct {
	orgs      []accesscontrol.Org
	contracts []accesscontrol.Contract
	err       error
	by        []string
}

func (f *fakeLister) ListOrgs(ctx context.Context, by accesscontrol.Principal) ([]accesscontrol.Org, error) {
	f.by = append(f.by, by.Username)
	return f.orgs, f.err
}

func (f *fakeLister) ListContracts(ctx context.Context, by accesscontrol.Principal, org string) ([]accesscontrol.Contract, error) {
	return f.contracts, f.err
}

func TestAccessContracts(t *testing.T) {
	at := time.Date(2026, 5, 18, 0, 0, 0, 0, time.UTC)
	ended := at.Add(-time.Hour)
	f := &fakeLister{
		orgs: []accesscontrol.Org{{ID: "o1", Kind: accesscontrol.OrgContractor, Name: "한빛정보통신"},
			{ID: "o2", Kind: accesscontrol.OrgContractor, Name: "남도통신"}},
		contracts: []accesscontrol.Contract{
			{ID: "k1", OrgID: "o1", Title: "CCTV 유지보수", Sites: []string{"s1"}, StartsAt: at.AddDate(0, -1, 0), EndsAt: at.AddDate(0, 6, 0),
				ContactName: "김정비", ContactPhone: "061-000-0000"},
			{ID: "k2", OrgID: "o2", Title: "끝난 계약", StartsAt: at.AddDate(-1, 0, 0), EndsAt: at.AddDate(1, 0, 0), EndedAt: &ended},
			{ID: "k3", OrgID: "o2", Title: "아직 시작 전", StartsAt: at.AddDate(0, 1, 0), EndsAt: at.AddDate(1, 0, 0)},
		},
	}
	src := policy.AccessContracts{Lister: f, By: accesscontrol.Principal{Username: "system"}}
	got, err := src.Contracts(context.Background(), at)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Contractor != "한빛정보통신" || got[0].ContractorID != "o1" || got[0].Work != "CCTV 유지보수" ||
		got[0].Contact != "김정비" || !slices.Equal(got[0].Sites, []string{"s1"}) {
		t.Fatalf("contracts in force: %+v", got)
	}
	if !slices.Equal(f.by, []string{"system"}) {
		t.Errorf("listed as %v", f.by)
	}
	f.err = errors.New("denied")
	if _, err := src.Contracts(context.Background(), at); err == nil {
		t.Error("lister error not returned")
	}
}

func TestConcurrentPublishStoresOneVersion(t *testing.T) {
	e := newEnv(t)
	inst, contracts := buildDistrict(e)
	svc := e.service(inst, contracts)
	const n = 4
	var wg sync.WaitGroup
	created := make([]bool, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, created[i], errs[i] = svc.Publish(e.ctx, e.actor, policy.PublishOptions{})
		}()
	}
	wg.Wait()
	k := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if created[i] {
			k++
		}
	}
	if k != 1 {
		t.Errorf("%d publishers created a version, want 1", k)
	}
	if c := e.count("select count(*) from policy_versions"); c != 1 {
		t.Errorf("%d versions stored", c)
	}
}

type fakeReader struct {
	contracts []accesscontrol.Contract
	names     map[string]string
}

func (f fakeReader) ContractsInForce(ctx context.Context, at time.Time) ([]accesscontrol.Contract, map[string]string, error) {
	return f.contracts, f.names, nil
}

// TestDirectContracts: the contracts made with `contracts create` reach the
// 위탁 table as 수탁업체, 위탁업무, 담당자, 연락처 and period.
func TestDirectContracts(t *testing.T) {
	at := time.Date(2026, 5, 18, 0, 0, 0, 0, time.UTC)
	r := fakeReader{names: map[string]string{"o1": "(주)제이한테크"}, contracts: []accesscontrol.Contract{
		{ID: "k1", OrgID: "o1", Title: "CCTV 통합관제센터 유지보수", Sites: []string{"s1"}, StartsAt: at.AddDate(0, -1, 0),
			EndsAt: at.AddDate(0, 6, 0), ContactName: "김정비", ContactPhone: "032-868-9166"}}}
	got, err := policy.DirectContracts{Reader: r}.Contracts(context.Background(), at)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Contractor != "(주)제이한테크" || got[0].Work != "CCTV 통합관제센터 유지보수" ||
		got[0].Phone != "032-868-9166" || got[0].Contact != "김정비" || !slices.Equal(got[0].Sites, []string{"s1"}) {
		t.Fatalf("got %+v", got)
	}
}
