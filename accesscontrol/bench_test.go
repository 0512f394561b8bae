package accesscontrol

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"syscall"
	"testing"
	"time"
)

// benchWorld builds a snapshot of 10,000 users, 100,000 grants and 10,000
// cameras (100 sites × 100 cameras, 20 departments), with contractor
// companies and deny rules, and a set of requests to decide.
func benchWorld(b *testing.B) (*Service, []benchReq) {
	const (
		nUsers   = 10_000
		nGrants  = 100_000
		nCameras = 10_000
		nSites   = 100
		nDepts   = 20
	)
	rng := rand.New(rand.NewPCG(1, 2))
	now := t0
	var d snapshotData
	d.version = 1
	d.orgs = []Org{{ID: "dept", Kind: OrgDepartment}, {ID: "police", Kind: OrgPolice}}
	for i := 0; i < 10; i++ {
		id := fmt.Sprintf("ctr-%d", i)
		d.orgs = append(d.orgs, Org{ID: id, Kind: OrgContractor})
		d.contracts = append(d.contracts, Contract{ID: id + "-c", OrgID: id, Sites: []string{site(i * 3), site(i*3 + 1), site(i*3 + 2)},
			StartsAt: now.AddDate(0, -6, 0), EndsAt: now.AddDate(0, 6, 0)})
	}
	roles := []string{RoleOperator, RoleManager, RolePolice, RoleTechnician, RoleContractor, RoleAuditor, RoleAdmin}
	perms := map[string][]Permission{
		RoleOperator:   {PermLiveView, PermPlaybackView, PermPTZControl, PermSnapshotView, PermDeviceRead, PermHealthRead, PermAlarmAck},
		RoleManager:    {PermLiveView, PermPlaybackView, PermSnapshotView, PermExportRequest, PermExportApprove, PermDeviceRead, PermHealthRead, PermAlarmAck, PermReportRead, PermRequestHandle, PermSessionManage},
		RolePolice:     {PermLiveView, PermPlaybackView, PermSnapshotView, PermExportRequest, PermDeviceRead},
		RoleTechnician: {PermDeviceRead, PermDeviceDiscover, PermDeviceRegister, PermDeviceConfigure, PermHealthRead, PermAlarmAck},
		RoleContractor: {PermLiveView, PermDeviceRead, PermDeviceConfigure, PermHealthRead},
		RoleAuditor:    {PermAuditRead, PermAuditVerify, PermReportRead},
		RoleAdmin:      {PermUserManage, PermGrantManage, PermContractManage, PermSessionManage, PermDeviceRead, PermHealthRead},
	}
	for _, r := range roles {
		d.roles = append(d.roles, Role{Name: r, Permissions: perms[r]})
	}
	for i := 0; i < nUsers; i++ {
		org := "dept"
		switch {
		case i%10 == 9:
			org = fmt.Sprintf("ctr-%d", i%100/10)
		case i%10 == 8:
			org = "police"
		}
		d.users = append(d.users, User{ID: fmt.Sprintf("user-%05d", i), Username: fmt.Sprintf("u%05d", i), OrgID: org})
	}
	exp := now.AddDate(0, 1, 0)
	old := now.AddDate(0, -1, 0)
	for i := 0; i < nGrants; i++ {
		ui := i % nUsers
		u := d.users[ui]
		role := roles[rng.IntN(4)]
		switch {
		case u.OrgID == "police":
			role = RolePolice
		case ui%10 == 9:
			role = RoleContractor
		}
		g := Grant{ID: fmt.Sprintf("grant-%06d", i), UserID: u.ID, Role: role,
			Scope: Scope{Purposes: []Purpose{PurposeCrimePrevention, PurposeFacilitySafety, PurposeMaintenance}}}
		switch rng.IntN(4) {
		case 0:
			g.Scope.Sites = []string{site(rng.IntN(nSites)), site(rng.IntN(nSites))}
		case 1:
			for k := 0; k < 5; k++ {
				g.Scope.Cameras = append(g.Scope.Cameras, cam(rng.IntN(nCameras)))
			}
		case 2:
			g.Scope.Departments = []string{dept(rng.IntN(nDepts))}
		case 3:
			g.Scope.Sites = []string{site(rng.IntN(nSites))}
			g.AllowedHours = &HourRange{From: 8, To: 20}
		}
		switch rng.IntN(5) {
		case 0:
			g.ExpiresAt = &exp
		case 1:
			g.ExpiresAt = &old // expired
		case 2:
			g.MaxPlaybackAge = 72 * time.Hour
		}
		d.grants = append(d.grants, g)
	}
	d.denies = []DenyRule{
		{ID: "deny-sensitive", Labels: []string{"sensitive"}, Roles: []string{RoleOperator, RoleContractor}},
		{ID: "deny-restroom", Labels: []string{"restroom"}, Permissions: []Permission{PermLiveView, PermPlaybackView}},
	}
	s := &Service{}
	s.snap.Store(buildSnapshot(d, seoul))

	cameras := make([]Resource, nCameras)
	for i := range cameras {
		cameras[i] = Resource{CameraID: cam(i), Site: site(i / (nCameras / nSites)), Department: dept(i % nDepts)}
		if i%50 == 0 {
			cameras[i].Labels = []string{"sensitive"}
		}
	}
	reqPerms := []Permission{PermLiveView, PermLiveView, PermLiveView, PermPlaybackView, PermPTZControl, PermDeviceRead, PermHealthRead, PermDeviceConfigure, PermExportRequest}
	reqs := make([]benchReq, 1<<16)
	for i := range reqs {
		u := d.users[rng.IntN(nUsers)]
		var grants []Grant
		for k := 0; k < 10; k++ { // 10 grants per user: user i has grants i, i+10000, …
			grants = append(grants, d.grants[int(u.ID[5:][0]-'0')*0+k*nUsers+idx(u.ID)])
		}
		// Half the requests aim inside one of the user's grants, half at random.
		c := cameras[rng.IntN(nCameras)]
		if rng.IntN(2) == 0 {
			g := grants[rng.IntN(len(grants))]
			switch {
			case len(g.Scope.Cameras) > 0:
				c = cameras[idx(g.Scope.Cameras[0])]
			case len(g.Scope.Sites) > 0:
				c = cameras[idx(g.Scope.Sites[0])*(nCameras/nSites)+rng.IntN(nCameras/nSites)]
			}
		}
		c.Purpose = PurposeCrimePrevention
		c.FootageFrom = now.Add(-time.Duration(rng.IntN(96)) * time.Hour)
		reqs[i] = benchReq{p: Principal{UserID: u.ID}, perm: reqPerms[rng.IntN(len(reqPerms))], r: c,
			now: now.Add(time.Duration(rng.IntN(24)) * time.Hour)}
	}
	return s, reqs
}

// cpuTime is the CPU time (user + system) the process used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

type benchReq struct {
	p    Principal
	perm Permission
	r    Resource
	now  time.Time
}

func site(i int) string { return fmt.Sprintf("site-%03d", i) }
func cam(i int) string  { return fmt.Sprintf("cam-%05d", i) }
func dept(i int) string { return fmt.Sprintf("dept-%02d", i) }

// idx parses the number at the end of an id.
func idx(id string) int {
	n := 0
	for i := len(id) - 1; i >= 0 && id[i] >= '0' && id[i] <= '9'; i-- {
		n = 0
		fmt.Sscanf(id[i:], "%d", &n)
	}
	return n
}

func BenchmarkDecide(b *testing.B) {
	s, reqs := benchWorld(b)
	allowed := 0
	for _, q := range reqs {
		if s.Decide(q.p, q.perm, q.r, q.now).Allowed {
			allowed++
		}
	}
	b.Logf("10,000 users, 100,000 grants, 10,000 cameras; %.0f%% of the sample requests allowed", 100*float64(allowed)/float64(len(reqs)))

	b.Run("per-core", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		cpu0 := cpuTime()
		for b.Loop() {
			q := &reqs[i&(len(reqs)-1)]
			s.Decide(q.p, q.perm, q.r, q.now)
			i++
		}
		cpu := cpuTime() - cpu0
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
		// On a shared machine wall time includes time the process was not
		// running; CPU time is what a core actually spent.
		b.ReportMetric(float64(b.N)/cpu.Seconds(), "decisions/cpu-s")
	})
	b.Run("parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			i := rand.IntN(len(reqs))
			for pb.Next() {
				q := &reqs[i&(len(reqs)-1)]
				s.Decide(q.p, q.perm, q.r, q.now)
				i++
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
	})
	b.Run("latency", func(b *testing.B) {
		lat := make([]time.Duration, 0, 1<<22)
		i := 0
		for b.Loop() {
			q := &reqs[i&(len(reqs)-1)]
			t := time.Now()
			s.Decide(q.p, q.perm, q.r, q.now)
			if len(lat) < cap(lat) {
				lat = append(lat, time.Since(t))
			}
			i++
		}
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
		b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
		b.ReportMetric(float64(lat[len(lat)*999/1000].Nanoseconds()), "p99.9-ns")
	})
}
