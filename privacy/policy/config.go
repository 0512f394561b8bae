package policy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gwanje/gwanje/audit"
	"github.com/gwanje/gwanje/devices"
)

// Registry is what the policy needs from the camera registry
// (*devices.Registry implements it). The installation figures come from
// InstallationReport and nowhere else.
type Registry interface {
	InstallationReport(ctx context.Context, f devices.ReportFilter) (*devices.InstallationReport, error)
	ListSites(ctx context.Context) ([]devices.Site, error)
}

// Auditor writes an audit entry inside the caller's transaction, so that a
// published version and its policy.publish record commit or roll back
// together. The audit store (*audit.Store) implements it.
type Auditor interface {
	AppendTx(ctx context.Context, tx pgx.Tx, e audit.Entry) (audit.Record, error)
}

// Actor is who publishes, with what the audit record needs.
type Actor struct {
	audit.Actor
	ClientAddr string
	SessionID  string
	RequestID  string
}

// Layout is how the installation status is laid out.
type Layout string

// Layouts.
const (
	// LayoutAuto takes LayoutDepartments from AutoDepartmentThreshold
	// departments on, LayoutPurposes below.
	LayoutAuto Layout = ""
	// LayoutPurposes: tables per purpose and department for items 2–4
	// (counties and districts, like 장흥군's).
	LayoutPurposes Layout = "purposes"
	// LayoutDepartments: one block per department with its manager, hours,
	// retention, storage place, counts, locations and coverage (cities, like
	// 인천광역시's).
	LayoutDepartments Layout = "departments"
)

// AutoDepartmentThreshold is the number of departments from which
// LayoutAuto lays the document out per department.
const AutoDepartmentThreshold = 4

// Officer is the 개인정보 보호책임자 (chief privacy officer) or another
// named contact.
type Officer struct {
	Name       string `json:"name,omitempty"`       // e.g. 김보호
	Title      string `json:"title,omitempty"`      // 직위/직책, e.g. 기획조정실장
	Department string `json:"department,omitempty"` // e.g. 기획예산담당관
	Phone      string `json:"phone,omitempty"`
	Email      string `json:"email,omitempty"`
}

// Staff is one row of the 관리책임자·접근권한자 table (구분, 직위, 소속,
// 전화번호, 비고), as 인천 미추홀구 publishes it.
type Staff struct {
	Role       string `yaml:"role" json:"role"`                       // 구분: 관리책임자 or 접근권한자
	Title      string `yaml:"title" json:"title"`                     // 직위, e.g. 안전총괄과장, 주무관
	Department string `yaml:"department" json:"department,omitempty"` // 소속
	Phone      string `yaml:"phone" json:"phone,omitempty"`           // 전화번호
	Note       string `yaml:"note" json:"note,omitempty"`             // 비고
}

// Staff roles.
const (
	RoleManager = "관리책임자"
	RoleAccess  = "접근권한자"
)

// ParseStaff reads a Staff row written "구분|직위|소속|전화번호|비고" (the
// last fields may be left out), as the --institution-staff setting takes it.
func ParseStaff(s string) (Staff, error) {
	f := strings.Split(s, "|")
	if len(f) < 2 || len(f) > 5 {
		return Staff{}, fmt.Errorf("%w: staff row %q: write 구분|직위|소속|전화번호|비고", ErrInvalid, s)
	}
	for len(f) < 5 {
		f = append(f, "")
	}
	st := Staff{Role: strings.TrimSpace(f[0]), Title: strings.TrimSpace(f[1]), Department: strings.TrimSpace(f[2]),
		Phone: strings.TrimSpace(f[3]), Note: strings.TrimSpace(f[4])}
	return st, st.validate()
}

func (st Staff) validate() error {
	if st.Role != RoleManager && st.Role != RoleAccess {
		return fmt.Errorf("%w: staff role %q (관리책임자 or 접근권한자)", ErrInvalid, st.Role)
	}
	if st.Title == "" {
		return fmt.Errorf("%w: staff row of %s without a 직위", ErrInvalid, st.Role)
	}
	for _, v := range []string{st.Title, st.Department, st.Phone, st.Note} {
		if err := checkText("staff", v, 200); err != nil {
			return err
		}
	}
	return nil
}

// OperationTable is one 운영현황 단위: a block of the department layout with
// its own manager, hours, retention, storage place, count and locations.
type OperationTable struct {
	// Name of the table, e.g. "버스전용차로 단속"; unique within its
	// department.
	Name string `json:"name"`
	// Department (담당부서) whose cameras it takes.
	Department string `json:"department"`
	// Purposes it takes (local purposes); none: any.
	Purposes []string `json:"purposes,omitempty"`
	// Sites it takes, by name; none: any.
	Sites []string `json:"sites,omitempty"`
	// Parts name groups of its sites whose hours are written apart
	// ("평일 (07:00 ~ 09:00, 17:00 ~ 20:00), BRT구간 365일 24시간"): the
	// hours of the sites in no part come first, then each part's name and
	// hours.
	Parts []TablePart `json:"parts,omitempty"`
}

// TablePart is a named part of an operation table, e.g. "BRT구간".
type TablePart struct {
	Name  string   `json:"name"`
	Sites []string `json:"sites"`
}

func (t OperationTable) takes(c *devices.ReportCamera) bool {
	return t.Department == c.Department && (len(t.Purposes) == 0 || slices.Contains(t.Purposes, c.Purpose)) &&
		(len(t.Sites) == 0 || slices.Contains(t.Sites, c.SiteName))
}

func (t OperationTable) validate() error {
	if t.Name == "" || t.Department == "" {
		return fmt.Errorf("%w: an operation table needs a name and a department", ErrInvalid)
	}
	texts := append(append([]string{t.Name, t.Department}, t.Purposes...), t.Sites...)
	for _, p := range t.Parts {
		if p.Name == "" || len(p.Sites) == 0 {
			return fmt.Errorf("%w: operation table %s: a part needs a name and sites", ErrInvalid, t.Name)
		}
		texts = append(append(texts, p.Name), p.Sites...)
	}
	for _, v := range texts {
		if err := checkText("operation table", v, 200); err != nil {
			return err
		}
	}
	return nil
}

// Institution is what the registry does not know about the body publishing
// the policy. Zero values take the defaults documented on each field; none
// of them invents a place or a person: what is not set is described by the
// duty that holds it (e.g. "영상정보처리기기 담당부서").
type Institution struct {
	// Name of the public body (기관명). Default "○○시" (the placeholder of
	// municipal templates; set it).
	Name string `json:"name,omitempty"`
	// Scope says which parts of the body the policy covers, e.g.
	// "본청, 소속기관 미포함" or "본청 및 소속기관 포함"; published after the
	// name in the preamble. Default none.
	Scope string `json:"scope,omitempty"`
	// Homepage where the policy is posted, e.g. https://www.jangheung.go.kr.
	// Default none (the sentence naming it is left out).
	Homepage string `json:"homepage,omitempty"`
	// CPO is the 개인정보 보호책임자. When Name is empty the document says
	// "지정 예정" and New logs a warning.
	CPO Officer `json:"cpo,omitempty"`
	// Staff is the 관리책임자·접근권한자 table (직위, 소속, 전화번호), in
	// order. Default none: the managers and persons with access are those the
	// registry records per camera.
	Staff []Staff `json:"staff,omitempty"`
	// ControlCenter is the control-center place (관제 장소), e.g.
	// "미추홀구청 CCTV 통합관제센터". Default none: the 관제장소 the registry
	// records per camera.
	ControlCenter string `json:"control_center,omitempty"`
	// RequestPlace is where requests to view, confirm or delete footage are
	// filed (청구 접수처), e.g. "안전총괄과 통합관제팀". Default the CPO's
	// department, else "영상정보처리기기 담당부서".
	RequestPlace string `json:"request_place,omitempty"`
	// ReviewPlace is where a data subject views footage (확인 장소). Default
	// RequestPlace.
	ReviewPlace string `json:"review_place,omitempty"`
	// Safeguards are the technical, administrative and physical safeguards
	// (item 7), one measure a line. Default DefaultSafeguards.
	Safeguards []string `json:"safeguards,omitempty"`
	// Remedies are where a refused subject may object (item 6). Default
	// DefaultRemedies.
	Remedies []string `json:"remedies,omitempty"`
	// Statutes names the laws a purpose is installed under besides
	// 「개인정보 보호법」 제25조제1항 (legal basis by statute name), keyed by
	// the registry's (local) purpose, e.g. "자연환경 보전" →
	// "「자연환경보전법」 제○조". Published in item 1 before the §25① items.
	// Default none.
	Statutes map[string]string `json:"statutes,omitempty"`
	// Tables are the operation tables (운영현황 단위) of the department
	// layout, for a department that runs several (its 방범 cameras and its
	// 버스전용차로 단속 cameras, each with its own hours, retention, storage
	// place and count). A camera belongs to the first table whose
	// department is its own and whose purposes and sites (when listed)
	// include its own; a department's cameras that no table takes make its
	// default block. Default none: one block per department.
	Tables []OperationTable `json:"tables,omitempty"`
	// Layout; default LayoutAuto.
	Layout Layout `json:"layout,omitempty"`
	// MaxSitesListed bounds the site names listed per group in 위치 및
	// 촬영범위 ("… 외 N개소"); default 8.
	MaxSitesListed int `json:"max_sites_listed,omitempty"`
}

// DefaultSafeguards are the safeguards gwanje itself implements, worded as
// municipal policies word them.
var DefaultSafeguards = []string{
	"관리적 조치: 내부관리계획 수립·시행, 접근권한자의 지정 및 최소화, 관제요원 등에 대한 정기적인 개인정보 보호 교육",
	"기술적 조치: 영상정보에 대한 접근 통제 및 접근 권한의 차등 부여, 영상정보의 암호화 저장, 접속기록의 2년 이상 보관 및 월 1회 이상 점검",
	"위·변조 방지: 영상정보의 생성 일시, 열람 목적·열람자·열람 일시 등을 기록하고 위·변조되지 않도록 관리",
	"물리적 조치: 관제센터 및 영상정보 보관시설에 대한 출입 통제와 잠금장치 설치",
}

// DefaultRemedies are the remedies named in refusals.
var DefaultRemedies = []string{
	"「행정심판법」에 따른 행정심판 또는 「행정소송법」에 따른 행정소송",
	"개인정보 침해신고센터 (privacy.kisa.or.kr, 국번 없이 118)",
	"개인정보 분쟁조정위원회 (www.kopico.go.kr, 1833-6972)",
}

func (in Institution) withDefaults() Institution {
	trim := func(ps ...*string) {
		for _, p := range ps {
			*p = strings.TrimSpace(*p)
		}
	}
	trim(&in.Name, &in.Scope, &in.Homepage, &in.CPO.Name, &in.CPO.Title, &in.CPO.Department, &in.CPO.Phone, &in.CPO.Email,
		&in.ControlCenter, &in.ReviewPlace, &in.RequestPlace)
	staff := make([]Staff, len(in.Staff))
	for i, st := range in.Staff {
		trim(&st.Role, &st.Title, &st.Department, &st.Phone, &st.Note)
		staff[i] = st
	}
	in.Staff = staff
	if in.Name == "" {
		in.Name = "○○시"
	}
	if in.RequestPlace == "" {
		if in.CPO.Department != "" {
			in.RequestPlace = in.CPO.Department
		} else {
			in.RequestPlace = "영상정보처리기기 담당부서"
		}
	}
	if in.ReviewPlace == "" {
		in.ReviewPlace = in.RequestPlace
	}
	if len(in.Safeguards) == 0 {
		in.Safeguards = DefaultSafeguards
	}
	if len(in.Remedies) == 0 {
		in.Remedies = DefaultRemedies
	}
	if in.MaxSitesListed <= 0 {
		in.MaxSitesListed = 8
	}
	return in
}

// Check reports whether the institution settings are valid (errors wrap
// ErrInvalid), as New would find them.
func (in Institution) Check() error { return in.withDefaults().validate() }

func (in Institution) validate() error {
	if in.Layout != LayoutAuto && in.Layout != LayoutPurposes && in.Layout != LayoutDepartments {
		return fmt.Errorf("%w: layout %q (purposes, departments or empty for auto)", ErrInvalid, in.Layout)
	}
	if h := in.Homepage; h != "" && !strings.HasPrefix(h, "https://") && !strings.HasPrefix(h, "http://") {
		return fmt.Errorf("%w: homepage %q must be an http(s) address", ErrInvalid, h)
	}
	for _, s := range append(append([]string{in.Name, in.Scope, in.ControlCenter, in.ReviewPlace, in.RequestPlace,
		in.CPO.Name, in.CPO.Title, in.CPO.Department, in.CPO.Phone, in.CPO.Email}, in.Safeguards...), in.Remedies...) {
		if err := checkText("institution text", s, 1000); err != nil {
			return err
		}
	}
	for k, v := range in.Statutes {
		if err := checkText("statute purpose", k, 200); err != nil {
			return err
		}
		if err := checkText("statute", v, 1000); err != nil {
			return err
		}
	}
	if len(in.Tables) > 200 {
		return fmt.Errorf("%w: %d operation tables (at most 200)", ErrInvalid, len(in.Tables))
	}
	seen := map[[2]string]bool{}
	for _, t := range in.Tables {
		if err := t.validate(); err != nil {
			return err
		}
		if seen[[2]string{t.Department, t.Name}] {
			return fmt.Errorf("%w: operation table %s of %s listed twice", ErrInvalid, t.Name, t.Department)
		}
		seen[[2]string{t.Department, t.Name}] = true
	}
	if len(in.Staff) > 200 {
		return fmt.Errorf("%w: %d staff rows (at most 200)", ErrInvalid, len(in.Staff))
	}
	for _, st := range in.Staff {
		if err := st.validate(); err != nil {
			return err
		}
	}
	return nil
}

// Config configures a Service. Zero values take the documented defaults.
type Config struct {
	// Pool is the PostgreSQL pool (migrated with pgdb, schema "policy").
	// Required.
	Pool *pgxpool.Pool
	// Registry is the camera registry. Required.
	Registry Registry
	// Auditor records every published version in its transaction. Required:
	// without it nothing can be published (fail closed).
	Auditor Auditor
	// Contracts lists the outsourcing contracts that add the work, contact
	// and period to the contractors the registry names per site. Default
	// none: the 위탁 section lists the registry's site contractors only.
	Contracts ContractSource
	// Institution is what the registry does not know.
	Institution Institution
	// ReportFilter limits the cameras the policy covers (e.g. Org). Default
	// the whole registry (active and maintenance cameras).
	ReportFilter devices.ReportFilter
	// Logger; default slog.Default().
	Logger *slog.Logger
	// Now is the clock; default time.Now. Dates are civil dates in Korea
	// Standard Time.
	Now func() time.Time
}

// Service builds, publishes and serves the policy. It is safe for
// concurrent use and starts no goroutines.
type Service struct {
	cfg  Config
	inst Institution
	log  *slog.Logger
}

// New validates cfg and fills its defaults.
func New(cfg Config) (*Service, error) {
	switch {
	case cfg.Pool == nil:
		return nil, errors.New("policy: Config.Pool is required")
	case cfg.Registry == nil:
		return nil, errors.New("policy: Config.Registry is required")
	case cfg.Auditor == nil:
		return nil, errors.New("policy: Config.Auditor is required")
	}
	inst := cfg.Institution.withDefaults()
	if err := inst.validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Service{cfg: cfg, inst: inst, log: cfg.Logger.With("component", "policy")}
	if inst.CPO.Name == "" {
		s.log.Warn("no 개인정보 보호책임자 configured; the policy will say 지정 예정", "institution", inst.Name)
	}
	return s, nil
}

// Institution returns the institution config with its defaults filled.
func (s *Service) Institution() Institution { return s.inst }
