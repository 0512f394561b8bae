package accesscontrol

import (
	"errors"
	"testing"
	"time"
)

// TestBidiControlsRefused (issue 14, finding 9): names and other displayed
// text holding bidirectional formatting characters are refused with
// ErrInvalid, and nothing is stored.
func TestBidiControlsRefused(t *testing.T) {
	e := newEnv(t, nil)
	org := e.org(OrgDepartment, "안전총괄과")
	company := e.org(OrgContractor, "한빛정보통신")
	u := e.user("kim", org.ID, "a long enough password 1")
	rlo := "관리자\u202etxt.exe"
	str := func(s string) *string { return &s }
	clauses := Clauses{PurposeAndScope: "유지보수", SubcontractingRestriction: "재위탁 금지",
		AccessRestrictionAndSafeguards: "지정 계정", Inspection: "분기 점검", Liability: "손해배상"}
	for _, tc := range []struct {
		name string
		do   func() error
	}{
		{"user display name (RLO)", func() error {
			_, _, err := e.svc.CreateUser(e.ctx, e.change("t"), NewUser{Username: "lee", DisplayName: rlo, OrgID: org.ID})
			return err
		}},
		{"user display name (isolate)", func() error {
			_, _, err := e.svc.CreateUser(e.ctx, e.change("t"), NewUser{Username: "park", DisplayName: "a\u2067b", OrgID: org.ID})
			return err
		}},
		{"user phone (LRM)", func() error {
			_, _, err := e.svc.CreateUser(e.ctx, e.change("t"), NewUser{Username: "choi", Phone: "010\u200e", OrgID: org.ID})
			return err
		}},
		{"display name update", func() error {
			_, err := e.svc.UpdateUser(e.ctx, e.change("t"), u.ID, UserUpdate{DisplayName: str("\u202bkim")})
			return err
		}},
		{"organization name", func() error {
			_, err := e.svc.CreateOrg(e.ctx, e.change("t"), OrgPolice, "경찰서\u202d")
			return err
		}},
		{"contract title", func() error {
			_, err := e.svc.CreateContract(e.ctx, e.change("t"), ContractInput{OrgID: company.ID, Title: "계약\u2066",
				Sites: []string{"s"}, StartsAt: t0, EndsAt: t0.Add(time.Hour), Clauses: clauses})
			return err
		}},
		{"contract clause", func() error {
			c := clauses
			c.Liability = "손해\u200f배상"
			_, err := e.svc.CreateContract(e.ctx, e.change("t"), ContractInput{OrgID: company.ID, Title: "계약",
				Sites: []string{"s"}, StartsAt: t0, EndsAt: t0.Add(time.Hour), Clauses: c})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.do(); !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
		})
	}
	var n int
	if err := e.pool.QueryRow(e.ctx, `select (select count(*) from access_users where username in ('lee', 'park', 'choi'))
		+ (select count(*) from access_orgs where kind = 'police') + (select count(*) from access_contracts)`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("refused input stored: %d %v", n, err)
	}
	got, err := getUser(e.ctx, e.pool, u.ID)
	if err != nil || got.DisplayName != "" {
		t.Fatalf("display name changed: %q %v", got.DisplayName, err)
	}
}
