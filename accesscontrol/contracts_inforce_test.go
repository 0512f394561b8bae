package accesscontrol

import "testing"

// TestContractsInForce: the policy's 위탁 table reads the contracts made
// with CreateContract without a principal; ended and future contracts are
// left out, and each comes with its organization's name.
func TestContractsInForce(t *testing.T) {
	e := newEnv(t, nil)
	han := e.org(OrgContractor, "한빛정보통신")
	nam := e.org(OrgContractor, "남도통신")
	for _, in := range []ContractInput{
		{OrgID: han.ID, Title: "방범 CCTV 유지보수", Sites: []string{"site-a", "site-b"}, StartsAt: t0.AddDate(0, -1, 0),
			EndsAt: t0.AddDate(1, 0, 0), ContactName: "김정비", ContactPhone: "061-860-7000", Clauses: testClauses},
		{OrgID: nam.ID, Title: "내년 계약", Sites: []string{"site-c"}, StartsAt: t0.AddDate(1, 0, 0), EndsAt: t0.AddDate(2, 0, 0),
			Clauses: testClauses},
	} {
		if _, err := e.svc.CreateContract(e.ctx, e.change("signed"), in); err != nil {
			t.Fatal(err)
		}
	}
	cs, names, err := e.svc.ContractsInForce(e.ctx, t0)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 1 || cs[0].Title != "방범 CCTV 유지보수" || names[cs[0].OrgID] != "한빛정보통신" || cs[0].ContactPhone != "061-860-7000" {
		t.Fatalf("contracts in force %+v names %v", cs, names)
	}
}
