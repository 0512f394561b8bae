package devices

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gwanje/gwanje/internal/textcheck"
)

// Lifecycle is where a camera is in its life. Cameras are never deleted:
// decommissioned cameras keep their rows because footage and audit records
// refer to them.
type Lifecycle string

// Lifecycles.
const (
	Planned        Lifecycle = "planned"
	Active         Lifecycle = "active"
	Maintenance    Lifecycle = "maintenance"
	Decommissioned Lifecycle = "decommissioned"
)

// Valid reports whether l is a known lifecycle.
func (l Lifecycle) Valid() bool {
	return l == Planned || l == Active || l == Maintenance || l == Decommissioned
}

// Signage is how the public is told about a camera (안내판).
type Signage string

// Signage kinds.
const (
	SignagePhysical Signage = "sign"     // a physical sign
	SignageHomepage Signage = "homepage" // a homepage notice instead (distance, traffic, 산불감시 cameras)
	SignageExempt   Signage = "exempt"   // military or national security sites
)

// Valid reports whether s is a known signage kind.
func (s Signage) Valid() bool {
	return s == SignagePhysical || s == SignageHomepage || s == SignageExempt
}

// DefaultRetentionDays is the retention when none can be justified (30 days).
const DefaultRetentionDays = 30

// MaxRetentionDays bounds the retention.
const MaxRetentionDays = 3650

// Contractor is the company that installs or maintains cameras under a
// contract (수탁업체).
type Contractor struct {
	ID      string // the organization id or name in accesscontrol, as the caller knows it
	Name    string
	Contact string // contact person
	Phone   string
}

// Position is a WGS84 latitude and longitude.
type Position struct {
	Lat, Lon float64
}

// SiteFields are the editable fields of a site (개소).
type SiteFields struct {
	Name         string
	ManagementNo string // 관리번호 of the open-data standard; unique when set
	Org          string // 관리기관 (organization id or name)
	OrgPhone     string // 관리기관전화번호
	Department   string // 담당부서
	RoadAddress  string // 소재지도로명주소
	LotAddress   string // 소재지지번주소
	Position     *Position
	Contractor   Contractor
}

// Site is a place where cameras stand.
type Site struct {
	ID string
	SiteFields
	CreatedAt, UpdatedAt time.Time
}

// CameraFields are the registry fields of a camera that people set and
// change. Field names in update masks are the snake_case forms listed in
// CameraFieldNames.
type CameraFields struct {
	SiteID       string
	Name         string
	ManagementNo string
	// Purpose is the local category (방범, 산불감시, 주정차단속, …; see
	// LocalPurposes). The national category follows from it.
	Purpose string
	// LegalBasis 1–5; zero takes the purpose's default.
	LegalBasis LegalBasis
	// Addresses and position; empty ones are copied from the site when the
	// camera is created.
	RoadAddress string
	LotAddress  string
	Position    *Position
	Coverage    string // 촬영범위, e.g. "반경 100M 이내"
	Resolution  int    // 카메라화소수 in units of 10,000 pixels (200 = 2 MP); 0 = unknown
	Direction   string // 촬영방면정보
	InstallYM   string // 설치연월 YYYYMM
	// Schedule is the recording schedule text (see Schedule); default "24시간".
	Schedule string
	// RetentionDays is how long footage is kept, 1–3650; 0 means the default
	// (30) unless NotStored. More than 30 needs RetentionReason.
	RetentionDays    int
	NotStored        bool // 미보유: footage is not stored at all
	RetentionReason  string
	StoragePlace     string // 보관장소
	MonitoringMethod string // 관제방법, e.g. 상시 모니터링
	MonitoringPlace  string
	// Org and Department default to the site's.
	Org           string
	Department    string
	Manager       string // 관리책임자
	ManagerPhone  string
	AccessPersons []string  // 접근권한자
	Signage       Signage   // default SignagePhysical
	Labels        []string  // e.g. "sensitive"
	Lifecycle     Lifecycle // default Active (Planned for imports without a device)
}

// CameraFieldNames are the field names accepted in update masks.
var CameraFieldNames = []string{
	"site_id", "name", "management_no", "purpose", "legal_basis", "road_address", "lot_address", "position",
	"coverage", "resolution", "direction", "install_ym", "schedule", "retention_days", "not_stored",
	"retention_reason", "storage_place", "monitoring_method", "monitoring_place", "org", "department",
	"manager", "manager_phone", "access_persons", "signage", "labels", "lifecycle",
}

// Profile is a media profile of a camera as recorded at registration.
type Profile struct {
	Token     string  `json:"token"`
	Name      string  `json:"name,omitempty"`
	Encoding  string  `json:"encoding"`
	Width     int     `json:"width"`
	Height    int     `json:"height"`
	FrameRate float64 `json:"frame_rate,omitempty"`
	StreamURI string  `json:"stream_uri,omitempty"`
	PTZ       bool    `json:"ptz,omitempty"`
}

// DeviceFacts are what the camera told about itself at registration.
type DeviceFacts struct {
	DeviceURL         string
	EndpointReference string
	Manufacturer      string
	Model             string
	Firmware          string
	Serial            string
	HardwareID        string
	Profiles          []Profile
	ProfileToken      string // the profile streamed by default
	StreamURI         string // of ProfileToken, without user info; redacted when read from the registry
	SnapshotURI       string
	PTZ               bool
	// ClockOffset is camera clock minus server clock at registration,
	// meaningful when ClockKnown (the camera told its time).
	ClockOffset  time.Duration
	ClockKnown   bool
	RegisteredAt time.Time
}

// Camera is one camera of the registry. It never holds credentials.
type Camera struct {
	ID string
	CameraFields
	NationalPurpose string // 설치목적구분
	Device          DeviceFacts
	HasCredentials  bool
	// PendingReasons say why registration could not check everything (the
	// stream was not reachable yet); empty once health saw the camera up.
	PendingReasons     []string
	DecommissionedAt   *time.Time
	DecommissionReason string
	CreatedAt          time.Time
	UpdatedAt          time.Time
}

// ParsedSchedule returns the camera's schedule parsed (24시간 when unset).
func (c *Camera) ParsedSchedule() Schedule {
	s, err := ParseSchedule(c.Schedule)
	if err != nil {
		return AlwaysSchedule
	}
	return s
}

// Scheduled reports whether the camera is scheduled to record at t (Korea
// Standard Time). Decommissioned cameras never record.
func (c *Camera) Scheduled(t time.Time) bool {
	if c.Lifecycle == Decommissioned {
		return false
	}
	return c.ParsedSchedule().Scheduled(t)
}

const maxText = 500

var (
	ymRe    = regexp.MustCompile(`^[0-9]{6}$`)
	phoneRe = regexp.MustCompile(`^[0-9+()\- .]{0,32}$`)
	labelRe = regexp.MustCompile(`^[\p{L}\p{N}_.:-]{1,64}$`)
)

func checkText(name, v string, required bool) error {
	if !utf8.ValidString(v) {
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrInvalid, name)
	}
	if err := textcheck.Field(name, v); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if required && strings.TrimSpace(v) == "" {
		return fmt.Errorf("%w: %s is required", ErrInvalid, name)
	}
	if len(v) > maxText {
		return fmt.Errorf("%w: %s is longer than %d bytes", ErrInvalid, name, maxText)
	}
	if strings.ContainsAny(v, "\x00\r\n") {
		return fmt.Errorf("%w: %s contains a control character", ErrInvalid, name)
	}
	return nil
}

// ValidatePosition checks WGS84 ranges (and rejects NaN and infinities).
func ValidatePosition(p *Position) error {
	if p == nil {
		return nil
	}
	if math.IsNaN(p.Lat) || math.IsNaN(p.Lon) || p.Lat < -90 || p.Lat > 90 || p.Lon < -180 || p.Lon > 180 {
		return fmt.Errorf("%w: position %v,%v is outside WGS84 ranges (latitude -90..90, longitude -180..180)", ErrInvalid, p.Lat, p.Lon)
	}
	return nil
}

// ValidateInstallYM checks a YYYYMM year-month.
func ValidateInstallYM(ym string) error {
	if ym == "" {
		return nil
	}
	if !ymRe.MatchString(ym) {
		return fmt.Errorf("%w: install year-month %q must be YYYYMM", ErrInvalid, ym)
	}
	y, _ := strconv.Atoi(ym[:4])
	m, _ := strconv.Atoi(ym[4:])
	if y < 1970 || y > 2100 || m < 1 || m > 12 {
		return fmt.Errorf("%w: install year-month %q out of range", ErrInvalid, ym)
	}
	return nil
}

func checkPhone(name, v string) error {
	if !phoneRe.MatchString(v) {
		return fmt.Errorf("%w: %s %q is not a phone number", ErrInvalid, name, v)
	}
	return nil
}

// normalize fills defaults and validates site fields.
func (f *SiteFields) normalize() error {
	trimAll(&f.Name, &f.ManagementNo, &f.Org, &f.OrgPhone, &f.Department, &f.RoadAddress, &f.LotAddress,
		&f.Contractor.ID, &f.Contractor.Name, &f.Contractor.Contact, &f.Contractor.Phone)
	for _, c := range []struct {
		n, v string
		req  bool
	}{
		{"site name", f.Name, true}, {"management number", f.ManagementNo, false}, {"org", f.Org, false},
		{"department", f.Department, false}, {"road address", f.RoadAddress, false}, {"lot address", f.LotAddress, false},
		{"contractor id", f.Contractor.ID, false}, {"contractor name", f.Contractor.Name, false},
		{"contractor contact", f.Contractor.Contact, false},
	} {
		if err := checkText(c.n, c.v, c.req); err != nil {
			return err
		}
	}
	if err := checkPhone("org phone", f.OrgPhone); err != nil {
		return err
	}
	if err := checkPhone("contractor phone", f.Contractor.Phone); err != nil {
		return err
	}
	if f.Contractor.ID != "" && f.Contractor.Name == "" {
		f.Contractor.Name = f.Contractor.ID
	}
	return ValidatePosition(f.Position)
}

func trimAll(ps ...*string) {
	for _, p := range ps {
		*p = strings.TrimSpace(*p)
	}
}

// normalize fills defaults and validates camera fields; it returns the
// national purpose.
func (f *CameraFields) normalize() (national string, err error) {
	trimAll(&f.SiteID, &f.Name, &f.ManagementNo, &f.Purpose, &f.RoadAddress, &f.LotAddress, &f.Coverage,
		&f.Direction, &f.InstallYM, &f.Schedule, &f.RetentionReason, &f.StoragePlace, &f.MonitoringMethod,
		&f.MonitoringPlace, &f.Org, &f.Department, &f.Manager, &f.ManagerPhone)
	for _, c := range []struct {
		n, v string
		req  bool
	}{
		{"site", f.SiteID, true}, {"camera name", f.Name, true}, {"management number", f.ManagementNo, false},
		{"purpose", f.Purpose, true}, {"road address", f.RoadAddress, false}, {"lot address", f.LotAddress, false},
		{"coverage", f.Coverage, false}, {"direction", f.Direction, false}, {"retention reason", f.RetentionReason, false},
		{"storage place", f.StoragePlace, false}, {"monitoring method", f.MonitoringMethod, false},
		{"monitoring place", f.MonitoringPlace, false}, {"org", f.Org, false}, {"department", f.Department, false},
		{"manager", f.Manager, false},
	} {
		if err := checkText(c.n, c.v, c.req); err != nil {
			return "", err
		}
	}
	p, err := LookupPurpose(f.Purpose)
	if err != nil {
		return "", err
	}
	f.Purpose = p.Local
	if f.LegalBasis == 0 {
		f.LegalBasis = p.Basis
	}
	if !f.LegalBasis.Valid() {
		return "", fmt.Errorf("%w: legal basis %d must be 1–5", ErrInvalid, f.LegalBasis)
	}
	if err := ValidatePosition(f.Position); err != nil {
		return "", err
	}
	if f.Resolution < 0 || f.Resolution > 100000 {
		return "", fmt.Errorf("%w: resolution %d out of range (units of 10,000 pixels, 200 = 2 MP)", ErrInvalid, f.Resolution)
	}
	if err := ValidateInstallYM(f.InstallYM); err != nil {
		return "", err
	}
	if f.Schedule == "" {
		f.Schedule = "24시간"
	}
	s, err := ParseSchedule(f.Schedule)
	if err != nil {
		return "", err
	}
	f.Schedule = s.String()
	if f.NotStored {
		if f.RetentionDays != 0 {
			return "", fmt.Errorf("%w: a camera whose footage is not stored has no retention days", ErrInvalid)
		}
	} else {
		if f.RetentionDays == 0 {
			f.RetentionDays = DefaultRetentionDays
		}
		if f.RetentionDays < 1 || f.RetentionDays > MaxRetentionDays {
			return "", fmt.Errorf("%w: retention %d days out of range 1–%d", ErrInvalid, f.RetentionDays, MaxRetentionDays)
		}
		if f.RetentionDays > DefaultRetentionDays && f.RetentionReason == "" {
			return "", fmt.Errorf("%w: retention of %d days (more than %d) needs a recorded reason", ErrInvalid, f.RetentionDays, DefaultRetentionDays)
		}
	}
	if err := checkPhone("manager phone", f.ManagerPhone); err != nil {
		return "", err
	}
	if f.Signage == "" {
		f.Signage = SignagePhysical
	}
	if !f.Signage.Valid() {
		return "", fmt.Errorf("%w: signage %q must be sign, homepage or exempt", ErrInvalid, f.Signage)
	}
	if f.Lifecycle == "" {
		f.Lifecycle = Active
	}
	if !f.Lifecycle.Valid() {
		return "", fmt.Errorf("%w: lifecycle %q must be planned, active, maintenance or decommissioned", ErrInvalid, f.Lifecycle)
	}
	if len(f.AccessPersons) > 1000 || len(f.Labels) > 64 {
		return "", fmt.Errorf("%w: too many access persons or labels", ErrInvalid)
	}
	ap := make([]string, 0, len(f.AccessPersons))
	for _, a := range f.AccessPersons {
		a = strings.TrimSpace(a)
		if a == "" {
			continue
		}
		if err := checkText("access person", a, false); err != nil {
			return "", err
		}
		ap = append(ap, a)
	}
	f.AccessPersons = ap
	ls := make([]string, 0, len(f.Labels))
	for _, l := range f.Labels {
		l = strings.ToLower(strings.TrimSpace(l))
		if l == "" {
			continue
		}
		if !labelRe.MatchString(l) {
			return "", fmt.Errorf("%w: label %q (letters, digits, _ . : - up to 64)", ErrInvalid, l)
		}
		if !slices.Contains(ls, l) {
			ls = append(ls, l)
		}
	}
	slices.Sort(ls)
	f.Labels = ls
	return p.National, nil
}

// RetentionBand is a published retention band (보관기간별 현황).
type RetentionBand string

// Retention bands.
const (
	BandMonth      RetentionBand = "1개월 이내"
	BandThreeMonth RetentionBand = "1~3개월"
	BandYear       RetentionBand = "3개월~1년"
	BandOverYear   RetentionBand = "1년 초과"
	BandNotStored  RetentionBand = "미보유"
)

// RetentionBands lists the bands in report order.
var RetentionBands = []RetentionBand{BandMonth, BandThreeMonth, BandYear, BandOverYear, BandNotStored}

// BandOf returns the retention band of a retention in days (0 or less: not stored).
func BandOf(days int, notStored bool) RetentionBand {
	switch {
	case notStored || days <= 0:
		return BandNotStored
	case days <= 31:
		return BandMonth
	case days <= 92:
		return BandThreeMonth
	case days <= 366:
		return BandYear
	}
	return BandOverYear
}

func sortSlice[T any](s []T, less func(a, b T) bool) {
	slices.SortStableFunc(s, func(a, b T) int {
		switch {
		case less(a, b):
			return -1
		case less(b, a):
			return 1
		}
		return 0
	})
}
