package accesscontrol

import (
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

type fixture struct {
	Now  time.Time `yaml:"now"`
	Orgs []struct {
		Name string  `yaml:"name"`
		Kind OrgKind `yaml:"kind"`
	} `yaml:"orgs"`
	Contracts []struct {
		Org    string    `yaml:"org"`
		Title  string    `yaml:"title"`
		Sites  []string  `yaml:"sites"`
		Starts time.Time `yaml:"starts"`
		Ends   time.Time `yaml:"ends"`
		Ended  bool      `yaml:"ended"`
	} `yaml:"contracts"`
	Cameras map[string]fixtureCamera `yaml:"cameras"`
	Users   []struct {
		Name     string `yaml:"name"`
		Org      string `yaml:"org"`
		Disabled bool   `yaml:"disabled"`
	} `yaml:"users"`
	Grants []struct {
		User           string        `yaml:"user"`
		Role           string        `yaml:"role"`
		All            bool          `yaml:"all"`
		Sites          []string      `yaml:"sites"`
		Cameras        []string      `yaml:"cameras"`
		Departments    []string      `yaml:"departments"`
		Purposes       []Purpose     `yaml:"purposes"`
		NotBefore      *time.Time    `yaml:"not_before"`
		Expires        *time.Time    `yaml:"expires"`
		Hours          []int         `yaml:"hours"`
		MaxPlaybackAge time.Duration `yaml:"max_playback_age"`
		Revoked        bool          `yaml:"revoked"`
	} `yaml:"grants"`
	Deny []struct {
		Cameras     []string     `yaml:"cameras"`
		Sites       []string     `yaml:"sites"`
		Labels      []string     `yaml:"labels"`
		Users       []string     `yaml:"users"`
		Roles       []string     `yaml:"roles"`
		Permissions []Permission `yaml:"permissions"`
		Reason      string       `yaml:"reason"`
	} `yaml:"deny"`
	Matrix struct {
		Camera struct {
			ID         string `yaml:"id"`
			Site       string `yaml:"site"`
			Department string `yaml:"department"`
		} `yaml:"camera"`
		Roles map[string][]Permission `yaml:"roles"`
	} `yaml:"matrix"`
	Assertions []struct {
		User       string        `yaml:"user"`
		Perm       Permission    `yaml:"perm"`
		Camera     string        `yaml:"camera"`
		Purpose    Purpose       `yaml:"purpose"`
		At         *time.Time    `yaml:"at"`
		FootageAge time.Duration `yaml:"footage_age"`
		Allowed    bool          `yaml:"allowed"`
		Reason     Reason        `yaml:"reason"`
	} `yaml:"assertions"`
}

type fixtureCamera struct {
	Site       string   `yaml:"site"`
	Department string   `yaml:"department"`
	Labels     []string `yaml:"labels"`
}

func TestAuthorizationFixtures(t *testing.T) {
	raw, err := os.ReadFile("testdata/authz.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var fx fixture
	if err := yaml.Unmarshal(raw, &fx); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, nil)
	e.clock.Set(fx.Now)
	orgs := map[string]Org{}
	for _, o := range fx.Orgs {
		orgs[o.Name] = e.org(o.Kind, o.Name)
	}
	for _, c := range fx.Contracts {
		ct, err := e.svc.CreateContract(e.ctx, e.change("contract signed"), ContractInput{
			OrgID: orgs[c.Org].ID, Title: c.Title, Sites: c.Sites, StartsAt: c.Starts, EndsAt: c.Ends, Clauses: testClauses})
		if err != nil {
			t.Fatalf("contract %s: %v", c.Title, err)
		}
		if c.Ended {
			if err := e.svc.EndContract(e.ctx, e.change("terminated for breach"), ct.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	users := map[string]User{}
	for _, u := range fx.Users {
		users[u.Name] = e.user(u.Name, orgs[u.Org].ID, "fixture-pass-"+fmt.Sprint(len(users))+"-xyz")
	}
	for _, g := range fx.Grants {
		ng := NewGrant{UserID: users[g.User].ID, Role: g.Role, Scope: Scope{All: g.All, Sites: g.Sites, Cameras: g.Cameras,
			Departments: g.Departments, Purposes: g.Purposes}, NotBefore: g.NotBefore, ExpiresAt: g.Expires, MaxPlaybackAge: g.MaxPlaybackAge}
		if len(g.Hours) == 2 {
			ng.AllowedHours = &HourRange{From: g.Hours[0], To: g.Hours[1]}
		}
		gr, err := e.grant("duty assignment", ng)
		if err != nil {
			t.Fatalf("grant %+v: %v", g, err)
		}
		if g.Revoked {
			if err := e.svc.RevokeGrant(e.ctx, e.change("moved to another team"), gr.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, u := range fx.Users {
		if u.Disabled {
			if err := e.svc.DisableUser(e.ctx, e.change("left the office"), users[u.Name].ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, d := range fx.Deny {
		var ids []string
		for _, u := range d.Users {
			ids = append(ids, users[u].ID)
		}
		if _, err := e.svc.CreateDenyRule(e.ctx, e.change(d.Reason), DenyRule{Cameras: d.Cameras, Sites: d.Sites, Labels: d.Labels,
			Users: ids, Roles: d.Roles, Permissions: d.Permissions}); err != nil {
			t.Fatal(err)
		}
	}

	principal := func(name string) Principal {
		u := users[name]
		return Principal{UserID: u.ID, Username: u.Username, OrgID: u.OrgID, OrgKind: u.OrgKind}
	}
	for i, a := range fx.Assertions {
		name := fmt.Sprintf("%02d_%s_%s_%s", i, a.User, a.Perm, a.Camera)
		t.Run(name, func(t *testing.T) {
			now := fx.Now
			if a.At != nil {
				now = *a.At
			}
			var r Resource
			if a.Camera != "" {
				c, ok := fx.Cameras[a.Camera]
				if !ok {
					t.Fatalf("unknown camera %s", a.Camera)
				}
				r = Resource{CameraID: a.Camera, Site: c.Site, Department: c.Department, Labels: c.Labels}
			}
			r.Purpose = a.Purpose
			if a.FootageAge > 0 {
				r.FootageFrom = now.Add(-a.FootageAge)
			}
			d := e.svc.Decide(principal(a.User), a.Perm, r, now)
			if d.Allowed != a.Allowed || d.Reason != a.Reason {
				t.Errorf("got allowed=%v reason=%s, want allowed=%v reason=%s (decision %+v)", d.Allowed, d.Reason, a.Allowed, a.Reason, d)
			}
			if d.Allowed && d.GrantID == "" {
				t.Errorf("allowed without a grant id")
			}
			if a.Perm.Valid() && d.PurposeRequired != a.Perm.PurposeRequired() {
				t.Errorf("PurposeRequired = %v", d.PurposeRequired)
			}
		})
	}

	t.Run("matrix", func(t *testing.T) {
		e.clock.Set(fx.Now)
		mc := fx.Matrix.Camera
		contractorOrg := orgs["한빛정보통신"]
		roles, err := e.svc.ListRoles(e.ctx, e.admin)
		if err != nil {
			t.Fatal(err)
		}
		if len(fx.Matrix.Roles) != len(BuiltinRoles) {
			t.Fatalf("the matrix must cover every built-in role")
		}
		for _, role := range BuiltinRoles {
			want, ok := fx.Matrix.Roles[role]
			if !ok {
				t.Fatalf("matrix lacks role %s", role)
			}
			// The stored role is what the matrix says (ROLES.md documents it).
			for _, r := range roles {
				if r.Name == role {
					got := slices.Clone(r.Permissions)
					w := slices.Clone(want)
					slices.Sort(got)
					slices.Sort(w)
					if !slices.Equal(got, w) {
						t.Errorf("role %s has %v, the matrix says %v", role, got, w)
					}
				}
			}
			org := orgs["안전총괄과"]
			if role == RoleContractor {
				org = contractorOrg
			}
			u := e.user("matrix-"+role, org.ID, "matrix-pw-"+fmt.Sprint(len(role))+"-secret")
			if _, err := e.grant("matrix", NewGrant{UserID: u.ID, Role: role, Scope: Scope{All: true}}); err != nil {
				t.Fatal(err)
			}
			p := Principal{UserID: u.ID, Username: u.Username, OrgID: u.OrgID, OrgKind: u.OrgKind}
			for _, perm := range Permissions {
				r := Resource{}
				if perm.CameraScoped() {
					r = Resource{CameraID: mc.ID, Site: mc.Site, Department: mc.Department, Purpose: PurposeMaintenance, FootageFrom: fx.Now.Add(-time.Hour)}
				}
				d := e.svc.Decide(p, perm, r, fx.Now)
				allowed := slices.Contains(want, perm)
				if role == RoleContractor && permInfos[perm].contractorForbidden {
					allowed = false
					if d.Reason != ReasonContractorForbid {
						t.Errorf("%s %s: reason %s, want %s", role, perm, d.Reason, ReasonContractorForbid)
					}
				} else if !allowed && d.Reason != ReasonNoGrant {
					t.Errorf("%s %s: reason %s, want %s", role, perm, d.Reason, ReasonNoGrant)
				}
				if d.Allowed != allowed {
					t.Errorf("%s %s: allowed=%v, want %v (%s)", role, perm, d.Allowed, allowed, d.Reason)
				}
				if role == RoleAdmin && perm.Footage() && d.Allowed {
					t.Errorf("admin has footage right %s", perm)
				}
			}
		}
	})
}

var testClauses = Clauses{
	PurposeAndScope:                "방범 CCTV 유지보수 (site-a, site-b)",
	SubcontractingRestriction:      "재위탁 금지",
	AccessRestrictionAndSafeguards: "지정 계정으로만 접근, 녹화영상 열람·반출 금지",
	Inspection:                     "분기별 관리현황 점검",
	Liability:                      "위반 시 손해배상",
}
