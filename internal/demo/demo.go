// Package demo sets up what `gwanjed --demo` shows a newcomer: simulated
// cameras on loopback registered through the same path a technician uses,
// two sites (one maintained by a contractor), and one account per built-in
// role, named after the role.
package demo

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"time"

	ac "github.com/gwanje/gwanje/accesscontrol"
	"github.com/gwanje/gwanje/camsim"
	"github.com/gwanje/gwanje/devices"
)

// Config configures the demo.
type Config struct {
	Access  *ac.Service
	Devices *devices.Registry
	// Password of every demo account; default a random one (returned).
	Password string
	// Cameras is the number of simulated cameras; default 8.
	Cameras int
	// BaseIP gives camera i the loopback address BaseIP+i with fixed ports,
	// so that a restarted demo finds its cameras where it registered them.
	// Default 127.0.2.1; ports 8080 (ONVIF), 8554 (RTSP), 3702 (discovery).
	BaseIP string
	Logger *slog.Logger
}

// Result is what the demo made.
type Result struct {
	Password string
	Accounts []string
	Cameras  int
	Fleet    *camsim.Fleet
}

// Roles are the demo accounts, one per built-in role, in display order.
var Roles = []string{ac.RoleOperator, ac.RoleManager, ac.RolePolice, ac.RoleTechnician, ac.RoleContractor, ac.RoleAuditor, ac.RoleAdmin}

// Start starts the simulated cameras and sets up sites, cameras and
// accounts; on a restart it finds them in place and only starts the
// cameras. The caller closes Result.Fleet.
func Start(ctx context.Context, cfg Config) (*Result, error) {
	if cfg.Cameras <= 0 {
		cfg.Cameras = 8
	}
	if cfg.BaseIP == "" {
		cfg.BaseIP = "127.0.2.1"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Password == "" {
		cfg.Password = RandomPassword()
	}
	fleet, err := camsim.StartFleet(ctx, camsim.FleetConfig{
		Count: cfg.Cameras, IDPrefix: "demo-cam-", PTZEvery: cfg.Cameras, BaseIP: cfg.BaseIP,
		HTTPPort: 8080, RTSPPort: 8554, DiscoveryPort: 3702,
		Template: camsim.Config{Logger: cfg.Logger.With("component", "camsim")},
	})
	if err != nil {
		return nil, fmt.Errorf("demo: simulated cameras on %s…: %w", cfg.BaseIP, err)
	}
	res := &Result{Password: cfg.Password, Fleet: fleet}
	if err := setup(ctx, cfg, res); err != nil {
		fleet.Close()
		return nil, err
	}
	return res, nil
}

func setup(ctx context.Context, cfg Config, res *Result) error {
	admin, err := adminPrincipal(ctx, cfg)
	if err != nil {
		return err
	}
	by := ac.Change{By: admin, Reason: "demo setup"}
	actor := devices.Actor{Reason: "demo setup"}
	actor.Username, actor.UserID = admin.Username, admin.UserID

	sites, err := cfg.Devices.ListSites(ctx)
	if err != nil {
		return err
	}
	if len(sites) > 0 {
		cfg.Logger.Info("demo: sites, cameras and accounts exist from an earlier start; starting the cameras only")
		res.Accounts = Roles
		res.Cameras = len(res.Fleet.Cameras())
		return nil
	}

	orgs := map[ac.OrgKind]ac.Org{}
	for kind, name := range map[ac.OrgKind]string{ac.OrgDepartment: "안전총괄과", ac.OrgPolice: "중앙경찰서", ac.OrgContractor: "한빛정보통신"} {
		o, err := cfg.Access.CreateOrg(ctx, by, kind, name)
		if err != nil {
			return fmt.Errorf("demo: organization %s: %w", name, err)
		}
		orgs[kind] = o
	}
	street, err := cfg.Devices.CreateSite(ctx, devices.SiteFields{
		Name: "중앙로 사거리", Org: "데모시청", OrgPhone: "02-000-0000", Department: "안전총괄과",
		RoadAddress: "데모시 중앙로 1", Position: &devices.Position{Lat: 37.5665, Lon: 126.9780},
	}, actor)
	if err != nil {
		return fmt.Errorf("demo: site: %w", err)
	}
	park, err := cfg.Devices.CreateSite(ctx, devices.SiteFields{
		Name: "시민공원 어린이놀이터", Org: "데모시청", OrgPhone: "02-000-0000", Department: "안전총괄과",
		RoadAddress: "데모시 공원로 7", Position: &devices.Position{Lat: 37.5700, Lon: 126.9820},
		Contractor: devices.Contractor{ID: orgs[ac.OrgContractor].ID, Name: "한빛정보통신", Contact: "김정비", Phone: "010-0000-0000"},
	}, actor)
	if err != nil {
		return fmt.Errorf("demo: site: %w", err)
	}
	now := time.Now()
	if _, err := cfg.Access.CreateContract(ctx, by, ac.ContractInput{
		OrgID: orgs[ac.OrgContractor].ID, Title: "공원 CCTV 유지보수", Sites: []string{park.ID},
		StartsAt: now.Add(-24 * time.Hour), EndsAt: now.AddDate(1, 0, 0), ContactName: "김정비", ContactPhone: "010-0000-0000",
		Clauses: ac.Clauses{
			PurposeAndScope: "공원 CCTV의 유지보수", SubcontractingRestriction: "재위탁 금지",
			AccessRestrictionAndSafeguards: "지정 계정으로만 접근, 영상 반출 금지", Inspection: "분기별 관리 현황 점검",
			Liability: "위반 시 손해배상",
		},
	}); err != nil {
		return fmt.Errorf("demo: contract: %w", err)
	}

	for i, cam := range res.Fleet.Cameras() {
		info := cam.Info()
		f := devices.CameraFields{SiteID: street.ID, Name: fmt.Sprintf("중앙로 %d", i+1), Purpose: "방범",
			Coverage: "반경 100M 이내", Resolution: 200, Schedule: "24시간", RetentionDays: 30,
			StoragePlace: "데모시 CCTV 통합관제센터", MonitoringMethod: "상시 모니터링", Manager: "박관리", ManagerPhone: "02-000-0001"}
		if i%2 == 1 {
			f = devices.CameraFields{SiteID: park.ID, Name: fmt.Sprintf("공원 %d", i+1), Purpose: "어린이보호",
				Coverage: "놀이터 전방면", Resolution: 400, Schedule: "매일 06:00~23:00", RetentionDays: 14,
				StoragePlace: "데모시 CCTV 통합관제센터", MonitoringMethod: "수시 모니터링", Manager: "박관리", ManagerPhone: "02-000-0001"}
		}
		r, err := cfg.Devices.Register(ctx, devices.RegisterRequest{
			DeviceURL: info.DeviceServiceURL, Username: info.Username, Password: info.Password, Fields: f,
		}, actor)
		if err != nil {
			return fmt.Errorf("demo: register %s: %w", info.ID, err)
		}
		res.Cameras++
		cfg.Logger.Info("demo: camera registered", "camera", r.Camera.ID, "name", f.Name, "device", info.Manufacturer+" "+info.Model)
	}

	// The accounts are provisioned with the demo password and their grants
	// in force at once (accesscontrol.Provision): the privileged setup path,
	// outside the one-time-password and four-eyes rules that the API
	// enforces. admin and manager are the first start's (gwanjed bootstraps
	// them with the demo password in demo mode).
	for _, role := range Roles {
		org := orgs[ac.OrgDepartment].ID
		scope := ac.Scope{All: true}
		switch role {
		case ac.RolePolice:
			org = orgs[ac.OrgPolice].ID
			scope = ac.Scope{All: false, Sites: []string{street.ID, park.ID}, Purposes: []ac.Purpose{ac.PurposeCrimePrevention}}
		case ac.RoleContractor:
			org = orgs[ac.OrgContractor].ID
			scope = ac.Scope{Sites: []string{park.ID}, Purposes: []ac.Purpose{ac.PurposeMaintenance}}
		case ac.RoleAdmin:
			continue // the bootstrap administrator, named admin
		case ac.RoleManager:
			if err := moveBootstrapManager(ctx, cfg, by, org); err != nil {
				return err
			}
			continue
		}
		if _, err := cfg.Access.Provision(ctx, "demo setup", ac.NewUser{Username: role, DisplayName: "데모 " + role, OrgID: org}, cfg.Password,
			ac.NewGrant{Role: role, Scope: scope}); err != nil {
			return fmt.Errorf("demo: account %s: %w", role, err)
		}
	}
	res.Accounts = Roles
	return cfg.Access.Reload(ctx)
}

// moveBootstrapManager puts the first start's responsible manager, named
// manager, into the demo department.
func moveBootstrapManager(ctx context.Context, cfg Config, by ac.Change, org string) error {
	users, err := cfg.Access.ListUsers(ctx, by.By, ac.UserFilter{})
	if err != nil {
		return fmt.Errorf("demo: account manager: %w", err)
	}
	for _, u := range users {
		if u.Username == ac.RoleManager {
			name := "데모 manager"
			_, err := cfg.Access.UpdateUser(ctx, by, u.ID, ac.UserUpdate{DisplayName: &name, OrgID: &org})
			if err != nil {
				return fmt.Errorf("demo: account manager: %w", err)
			}
			return nil
		}
	}
	return fmt.Errorf("demo: the first start made no account named manager: this data dir was made by an older gwanjed (use a new --data-dir)")
}

// adminPrincipal logs in as the bootstrap administrator "admin" with the
// demo password (gwanjed bootstraps it with that password in demo mode).
func adminPrincipal(ctx context.Context, cfg Config) (ac.Principal, error) {
	res, err := cfg.Access.Login(ctx, ac.LoginRequest{Username: ac.RoleAdmin, Password: cfg.Password, ClientAddr: "demo"})
	if err != nil {
		if errors.Is(err, ac.ErrUnauthenticated) {
			return ac.Principal{}, fmt.Errorf("demo: cannot log in as admin with the demo password: this data dir was made without --demo or with another --demo-password (use a new --data-dir, or the same --demo-password): %w", err)
		}
		return ac.Principal{}, err
	}
	return res.Principal, nil
}

// RandomPassword returns a 16-character password without look-alike characters.
func RandomPassword() string {
	const alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := make([]byte, 16)
	for i := range b {
		n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		b[i] = alphabet[n.Int64()]
	}
	return string(b)
}
