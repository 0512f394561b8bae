package devices

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/korean"
	"golang.org/x/text/transform"

	"github.com/gwanje/gwanje/internal/textcheck"
)

// OpenDataColumns are the 18 columns of the national open-data standard
// 전국CCTV표준데이터, in order.
var OpenDataColumns = []string{
	"개방자치단체코드", "관리번호", "관리기관명", "소재지도로명주소", "소재지지번주소", "설치목적구분", "카메라대수",
	"카메라화소수", "촬영방면정보", "보관일수", "설치연월", "관리기관전화번호", "WGS84위도", "WGS84경도",
	"데이터기준일자", "데이터갱신구분", "데이터갱신시점", "최종수정시점",
}

// Encoding of an open-data file.
type Encoding string

// Encodings.
const (
	EncodingAuto  Encoding = ""      // import: UTF-8 when the file is valid UTF-8, else CP949
	EncodingUTF8  Encoding = "utf-8" // export writes a byte-order mark so that spreadsheets read it
	EncodingCP949 Encoding = "cp949" // what most published files use
)

// MaxCamerasPerRow bounds 카메라대수 of one row.
const MaxCamerasPerRow = 1000

// OpenDataRow is one validated row of the standard: a site and its cameras.
type OpenDataRow struct {
	Line          int // line number in the file (1-based)
	LocalGovCode  string
	ManagementNo  string
	OrgName       string
	RoadAddress   string
	LotAddress    string
	Purpose       string // as given (a national or local category)
	CameraCount   int
	Resolution    int
	Direction     string
	RetentionDays int // 0 = not stored
	InstallYM     string
	OrgPhone      string
	Position      *Position
	DataDate      string // YYYY-MM-DD
	UpdateKind    string
	UpdatedAt     string
	ModifiedAt    string
}

// RowError is a bad row of an import.
type RowError struct {
	Line   int
	Column string // "" for the whole row
	Reason string
}

func (e RowError) Error() string {
	if e.Column == "" {
		return fmt.Sprintf("line %d: %s", e.Line, e.Reason)
	}
	return fmt.Sprintf("line %d: %s: %s", e.Line, e.Column, e.Reason)
}

// ParseOptions configures ParseOpenData.
type ParseOptions struct {
	Encoding Encoding
	// MaxBytes bounds the input; default 512 MiB.
	MaxBytes int64
	// MaxErrors stops parsing after this many bad rows; default 1000.
	MaxErrors int
}

// normField trims and collapses white space (including no-break and
// ideographic spaces) and drops control characters.
func normField(s string) string {
	if s == "" {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range s {
		switch {
		case r == utf8.RuneError:
			b.WriteRune(r)
			space = false
		case unicode.IsSpace(r) || r == '\u00a0' || r == '\u3000' || r == '\ufeff':
			space = true
		case unicode.IsControl(r):
		default:
			if space && b.Len() > 0 {
				b.WriteByte(' ')
			}
			space = false
			b.WriteRune(r)
		}
	}
	return b.String()
}

func decodeInput(data []byte, enc Encoding) ([]byte, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	switch enc {
	case EncodingAuto:
		if utf8.Valid(data) {
			return data, nil
		}
		fallthrough
	case EncodingCP949:
		out, _, err := transform.Bytes(korean.EUCKR.NewDecoder(), data)
		if err != nil {
			return nil, fmt.Errorf("%w: the file is neither UTF-8 nor CP949: %v", ErrInvalid, err)
		}
		return out, nil
	case EncodingUTF8:
		if !utf8.Valid(data) {
			return nil, fmt.Errorf("%w: the file is not valid UTF-8 (try CP949)", ErrInvalid)
		}
		return data, nil
	}
	return nil, fmt.Errorf("%w: unknown encoding %q (utf-8 or cp949)", ErrInvalid, enc)
}

// ParseOpenData reads a 전국CCTV표준데이터 CSV (with or without its header
// row), normalises stray white space and number formatting, and validates
// every row. It returns the good rows and the bad ones with line numbers and
// reasons; err is set only when the file as a whole cannot be read.
func ParseOpenData(in io.Reader, opt ParseOptions) ([]OpenDataRow, []RowError, error) {
	if opt.MaxBytes <= 0 {
		opt.MaxBytes = 512 << 20
	}
	if opt.MaxErrors <= 0 {
		opt.MaxErrors = 1000
	}
	raw, err := io.ReadAll(io.LimitReader(in, opt.MaxBytes+1))
	if err != nil {
		return nil, nil, fmt.Errorf("devices: read open data: %w", err)
	}
	if int64(len(raw)) > opt.MaxBytes {
		return nil, nil, fmt.Errorf("%w: file larger than %d bytes", ErrInvalid, opt.MaxBytes)
	}
	data, err := decodeInput(raw, opt.Encoding)
	if err != nil {
		return nil, nil, err
	}
	sc := newCSVScanner(string(data))
	var rows []OpenDataRow
	var bad []RowError
	seen := map[string]int{}
	first := true
	for len(bad) < opt.MaxErrors {
		rec, line, err, ok := sc.next()
		if !ok {
			break
		}
		if err != nil {
			bad = append(bad, RowError{Line: line, Reason: err.Error()})
			break
		}
		for i := range rec {
			rec[i] = normField(rec[i])
		}
		if first {
			first = false
			if len(rec) > 0 && rec[0] == OpenDataColumns[0] {
				continue
			}
		}
		// Drop empty trailing fields (a trailing comma) and skip blank rows.
		for len(rec) > len(OpenDataColumns) && rec[len(rec)-1] == "" {
			rec = rec[:len(rec)-1]
		}
		if allEmpty(rec) {
			continue
		}
		if len(rec) != len(OpenDataColumns) {
			bad = append(bad, RowError{Line: line, Reason: fmt.Sprintf("%d columns, want %d", len(rec), len(OpenDataColumns))})
			continue
		}
		row, rerr := parseOpenDataRecord(line, rec)
		if rerr != nil {
			bad = append(bad, *rerr)
			continue
		}
		if prev, dup := seen[row.ManagementNo]; dup {
			bad = append(bad, RowError{Line: line, Column: "관리번호", Reason: fmt.Sprintf("%q repeats line %d", row.ManagementNo, prev)})
			continue
		}
		seen[row.ManagementNo] = line
		rows = append(rows, row)
	}
	return rows, bad, nil
}

func allEmpty(rec []string) bool {
	for _, f := range rec {
		if f != "" {
			return false
		}
	}
	return true
}

func parseInt(s string) (int, error) {
	s = strings.ReplaceAll(strings.ReplaceAll(s, ",", ""), " ", "")
	if strings.HasSuffix(s, ".0") {
		s = strings.TrimSuffix(s, ".0")
	}
	n, err := strconv.Atoi(s)
	if err != nil || len(s) > 9 {
		return 0, fmt.Errorf("%q is not a whole number", s)
	}
	return n, nil
}

func parseOpenDataRecord(line int, rec []string) (OpenDataRow, *RowError) {
	fail := func(col int, format string, args ...any) (OpenDataRow, *RowError) {
		return OpenDataRow{}, &RowError{Line: line, Column: OpenDataColumns[col], Reason: fmt.Sprintf(format, args...)}
	}
	for i, f := range rec {
		if !utf8.ValidString(f) || strings.ContainsRune(f, utf8.RuneError) {
			return fail(i, "invalid characters")
		}
		if err := textcheck.Check(f); err != nil {
			return fail(i, "%v", err)
		}
		if len(f) > maxText {
			return fail(i, "longer than %d bytes", maxText)
		}
	}
	r := OpenDataRow{Line: line, LocalGovCode: rec[0], ManagementNo: rec[1], OrgName: rec[2], RoadAddress: rec[3],
		LotAddress: rec[4], Purpose: rec[5], Direction: rec[8], OrgPhone: rec[11], UpdateKind: rec[15],
		UpdatedAt: rec[16], ModifiedAt: rec[17]}
	if r.LocalGovCode != "" && !isDigits(r.LocalGovCode) {
		return fail(0, "%q is not a numeric code", r.LocalGovCode)
	}
	if r.ManagementNo == "" {
		return fail(1, "required")
	}
	if len(r.ManagementNo) > 100 {
		return fail(1, "longer than 100 bytes")
	}
	if r.OrgName == "" {
		return fail(2, "required")
	}
	if r.RoadAddress == "" && r.LotAddress == "" {
		return OpenDataRow{}, &RowError{Line: line, Column: "소재지도로명주소/소재지지번주소", Reason: "one of the addresses is required"}
	}
	if _, err := LookupPurpose(r.Purpose); err != nil {
		return fail(5, "unknown purpose %q (use one of %s)", r.Purpose, strings.Join(NationalPurposes, ", "))
	}
	n, err := parseInt(rec[6])
	if err != nil {
		return fail(6, "%v", err)
	}
	if n < 1 || n > MaxCamerasPerRow {
		return fail(6, "%d out of range 1–%d", n, MaxCamerasPerRow)
	}
	r.CameraCount = n
	if rec[7] != "" {
		px, err := parseInt(strings.TrimSuffix(rec[7], "만"))
		if err != nil {
			return fail(7, "%v", err)
		}
		if px < 0 || px > 100000 {
			return fail(7, "%d out of range", px)
		}
		r.Resolution = px
	}
	if rec[9] == "" {
		r.RetentionDays = DefaultRetentionDays
	} else {
		d, err := parseInt(rec[9])
		if err != nil {
			return fail(9, "%v", err)
		}
		if d < 0 || d > MaxRetentionDays {
			return fail(9, "%d out of range 0–%d", d, MaxRetentionDays)
		}
		r.RetentionDays = d
	}
	if ym := rec[10]; ym != "" {
		ym = strings.NewReplacer("-", "", ".", "", "/", "", " ", "").Replace(ym)
		if err := ValidateInstallYM(ym); err != nil {
			return fail(10, "%q is not a year-month YYYYMM", rec[10])
		}
		r.InstallYM = ym
	}
	if !phoneRe.MatchString(r.OrgPhone) {
		return fail(11, "%q is not a phone number", r.OrgPhone)
	}
	if rec[12] != "" || rec[13] != "" {
		lat, err1 := strconv.ParseFloat(rec[12], 64)
		lon, err2 := strconv.ParseFloat(rec[13], 64)
		if err1 != nil {
			return fail(12, "%q is not a number", rec[12])
		}
		if err2 != nil {
			return fail(13, "%q is not a number", rec[13])
		}
		p := &Position{lat, lon}
		if ValidatePosition(p) != nil {
			hint := ""
			if lat > 90 && lon <= 90 {
				hint = " (latitude and longitude swapped?)"
			}
			return fail(12, "position %v,%v out of WGS84 range%s", lat, lon, hint)
		}
		r.Position = p
	}
	if d := rec[14]; d != "" {
		t, err := time.Parse("2006-01-02", d)
		if err != nil {
			if t, err = time.Parse("20060102", d); err != nil {
				return fail(14, "%q is not a date YYYY-MM-DD", d)
			}
		}
		r.DataDate = t.Format("2006-01-02")
	}
	return r, nil
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// record returns the row as the 18 CSV fields.
func (r OpenDataRow) record() []string {
	lat, lon := "", ""
	if r.Position != nil {
		lat = strconv.FormatFloat(r.Position.Lat, 'f', -1, 64)
		lon = strconv.FormatFloat(r.Position.Lon, 'f', -1, 64)
	}
	res := ""
	if r.Resolution > 0 {
		res = strconv.Itoa(r.Resolution)
	}
	return []string{r.LocalGovCode, r.ManagementNo, r.OrgName, r.RoadAddress, r.LotAddress, r.Purpose,
		strconv.Itoa(r.CameraCount), res, r.Direction, strconv.Itoa(r.RetentionDays), r.InstallYM, r.OrgPhone,
		lat, lon, r.DataDate, r.UpdateKind, r.UpdatedAt, r.ModifiedAt}
}

// WriteOpenData writes rows as a 전국CCTV표준데이터 CSV with its header in
// the given encoding (UTF-8 with a byte-order mark, or CP949; characters
// CP949 cannot hold become '?').
func WriteOpenData(w io.Writer, rows []OpenDataRow, enc Encoding) error {
	var out io.Writer
	var closer io.Closer
	bw := bufio.NewWriter(w)
	switch enc {
	case EncodingUTF8, EncodingAuto:
		bw.WriteString("\ufeff")
		out = bw
	case EncodingCP949:
		tw := transform.NewWriter(bw, encoding.ReplaceUnsupported(korean.EUCKR.NewEncoder()))
		out, closer = tw, tw
	default:
		return fmt.Errorf("%w: unknown encoding %q (utf-8 or cp949)", ErrInvalid, enc)
	}
	cw := csv.NewWriter(out)
	cw.UseCRLF = true
	if err := cw.Write(OpenDataColumns); err != nil {
		return err
	}
	for _, r := range rows {
		if err := cw.Write(r.record()); err != nil {
			return err
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return err
	}
	if closer != nil {
		if err := closer.Close(); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// ImportOptions configures ImportOpenData.
type ImportOptions struct {
	ParseOptions
	// DryRun validates everything (including collisions with the registry)
	// and imports nothing.
	DryRun bool
	// Department is recorded on every imported camera; default "".
	Department string
	// Lifecycle of imported cameras; default Active (they exist; they have
	// no ONVIF facts until registered).
	Lifecycle Lifecycle
	// RetentionReason is recorded for rows keeping footage more than 30
	// days; default "전국CCTV표준데이터 가져오기 (원자료 보관일수)".
	RetentionReason string
}

// Update kinds (데이터갱신구분) of the standard: I a new row, U a changed
// row, D a row to delete. An empty kind is an upsert (I when the 관리번호 is
// new, U when it is in the registry).
const (
	UpdateInsert = "I"
	UpdateUpdate = "U"
	UpdateDelete = "D"
)

// normUpdateKind reads 데이터갱신구분 as people write it.
func normUpdateKind(s string) (string, bool) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "":
		return "", true
	case "I", "C", "신규", "입력", "추가", "INSERT":
		return UpdateInsert, true
	case "U", "수정", "변경", "UPDATE":
		return UpdateUpdate, true
	case "D", "삭제", "DELETE":
		return UpdateDelete, true
	}
	return "", false
}

// ImportResult says what an import did or, on DryRun or failure, would do.
type ImportResult struct {
	Rows    int // good rows
	Sites   int // sites the rows name
	Cameras int // cameras the rows count
	// Per row: new 관리번호 (inserted), changed (updated), the same as the
	// registry (unchanged), deleted (데이터갱신구분 D: their cameras
	// decommissioned), and refused (bad, or a kind the registry
	// contradicts; see Errors).
	Inserted, Updated, Unchanged, Deleted, Refused int
	Errors                                         []RowError
	DryRun                                         bool
	// Imported is true when the rows were committed.
	Imported bool
}

// importCam is a registry camera an import row may change.
type importCam struct {
	id, siteID, purpose, national, direction, installYM, road, lot, org string
	resolution, retention                                               int
	lat, lon                                                            *float64
}

// importSite is a registry site named by a 관리번호.
type importSite struct {
	id, org, phone, road, lot string
	lat, lon                  *float64
}

type importPlan struct {
	row    OpenDataRow
	kind   string // UpdateInsert, UpdateUpdate, UpdateDelete or "" (unchanged)
	site   *importSite
	cams   []importCam
	siteCh bool // the site's own fields change
}

func floatEq(a, b *float64) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}

// camChanged reports whether the camera differs from what the row says.
func (row *OpenDataRow) camChanged(c importCam) bool {
	p, _ := LookupPurpose(row.Purpose)
	lat, lon := posArgs(row.Position)
	return c.national != p.National || c.resolution != row.Resolution || c.direction != row.Direction ||
		c.retention != row.RetentionDays || c.installYM != row.InstallYM || c.road != row.RoadAddress ||
		c.lot != row.LotAddress || c.org != row.OrgName || !floatEq(c.lat, lat) || !floatEq(c.lon, lon)
}

func (row *OpenDataRow) siteChanged(s *importSite) bool {
	lat, lon := posArgs(row.Position)
	return s.org != row.OrgName || s.phone != row.OrgPhone || s.road != row.RoadAddress || s.lot != row.LotAddress ||
		!floatEq(s.lat, lat) || !floatEq(s.lon, lon)
}

// ImportOpenData brings a 전국CCTV표준데이터 CSV into the registry as an
// upsert by 관리번호, honouring 데이터갱신구분: a row's 관리번호 names the
// cameras that carry it (their own 관리번호, or their site's when they have
// none). I inserts a site with 카메라대수 cameras (refused when the
// 관리번호 is already there with other data); U changes the cameras and the
// site to what the row says, adding or decommissioning cameras to match
// 카메라대수 (refused when the 관리번호 is not in the registry); D
// decommissions them (refused when absent); an empty kind inserts or
// updates. A row equal to the registry is unchanged. Every row is checked
// first; when any is bad or refused, nothing changes and the error wraps
// ErrInvalid, with the rows in the result. The import is one transaction
// with one audit entry (device.import) summarizing it.
func (r *Registry) ImportOpenData(ctx context.Context, in io.Reader, opt ImportOptions, a Actor) (ImportResult, error) {
	if err := r.checkOpen(); err != nil {
		return ImportResult{}, err
	}
	if opt.Lifecycle == "" {
		opt.Lifecycle = Active
	}
	if !opt.Lifecycle.Valid() || opt.Lifecycle == Decommissioned {
		return ImportResult{}, fmt.Errorf("%w: import lifecycle %q", ErrInvalid, opt.Lifecycle)
	}
	if opt.RetentionReason == "" {
		opt.RetentionReason = "전국CCTV표준데이터 가져오기 (원자료 보관일수)"
	}
	if err := checkText("department", opt.Department, false); err != nil {
		return ImportResult{}, err
	}
	rows, bad, err := ParseOpenData(in, opt.ParseOptions)
	if err != nil {
		return ImportResult{}, err
	}
	res := ImportResult{Rows: len(rows), DryRun: opt.DryRun, Refused: len(bad)}
	if len(rows) == 0 && len(bad) == 0 {
		return res, fmt.Errorf("%w: no rows to import", ErrInvalid)
	}
	var plans []importPlan
	var summary map[string]any
	err = r.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if plans, err = r.planImport(ctx, tx, rows, &res, &bad); err != nil {
			return err
		}
		sortRowErrors(bad)
		res.Errors = bad
		if len(bad) > 0 {
			return fmt.Errorf("%w: %d bad rows, nothing imported (first: %v)", ErrInvalid, len(bad), bad[0])
		}
		if opt.DryRun {
			return errDryRun
		}
		if summary, err = r.applyImport(ctx, tx, plans, opt, a); err != nil {
			return err
		}
		summary["format"] = "전국CCTV표준데이터"
		summary["rows"], summary["sites"], summary["cameras"] = res.Rows, res.Sites, res.Cameras
		summary["inserted"], summary["updated"], summary["unchanged"], summary["deleted"] = res.Inserted, res.Updated, res.Unchanged, res.Deleted
		cams, _ := summary["camera_ids"].([]string)
		delete(summary, "camera_ids")
		return r.audit(ctx, tx, a, "device.import", cams, summary)
	})
	if errors.Is(err, errDryRun) {
		return res, nil
	}
	if err != nil {
		return res, err
	}
	res.Imported = true
	r.log.Info("open data imported", "rows", res.Rows, "inserted", res.Inserted, "updated", res.Updated,
		"unchanged", res.Unchanged, "deleted", res.Deleted)
	return res, nil
}

var errDryRun = errors.New("dry run")

// planImport decides what each row does against the registry (locked for
// the transaction), counting into res and refusing into bad.
func (r *Registry) planImport(ctx context.Context, tx pgx.Tx, rows []OpenDataRow, res *ImportResult, bad *[]RowError) ([]importPlan, error) {
	mnos := make([]string, len(rows))
	for i, row := range rows {
		mnos[i] = row.ManagementNo
	}
	sites := map[string]*importSite{}
	q, err := tx.Query(ctx, `select id::text, management_no, org, org_phone, road_address, lot_address, latitude, longitude
		from devices_sites where management_no = any($1) for update`, mnos)
	if err != nil {
		return nil, fmt.Errorf("devices: import: %w", err)
	}
	for q.Next() {
		var s importSite
		var m string
		if err := q.Scan(&s.id, &m, &s.org, &s.phone, &s.road, &s.lot, &s.lat, &s.lon); err != nil {
			q.Close()
			return nil, fmt.Errorf("devices: import: %w", err)
		}
		sites[m] = &s
	}
	q.Close()
	if err := q.Err(); err != nil {
		return nil, fmt.Errorf("devices: import: %w", err)
	}
	cams := map[string][]importCam{}
	q, err = tx.Query(ctx, `select c.id::text, c.site_id::text, coalesce(nullif(c.management_no, ''), s.management_no),
		c.purpose, c.national_purpose, c.direction, c.install_ym, c.road_address, c.lot_address, c.org, c.resolution,
		coalesce(c.retention_days, 0), c.latitude, c.longitude
		from devices_cameras c join devices_sites s on s.id = c.site_id
		where c.lifecycle <> 'decommissioned' and coalesce(nullif(c.management_no, ''), s.management_no) = any($1)
		order by c.seq for update of c`, mnos)
	if err != nil {
		return nil, fmt.Errorf("devices: import: %w", err)
	}
	for q.Next() {
		var c importCam
		var m string
		if err := q.Scan(&c.id, &c.siteID, &m, &c.purpose, &c.national, &c.direction, &c.installYM, &c.road, &c.lot,
			&c.org, &c.resolution, &c.retention, &c.lat, &c.lon); err != nil {
			q.Close()
			return nil, fmt.Errorf("devices: import: %w", err)
		}
		cams[m] = append(cams[m], c)
	}
	q.Close()
	if err := q.Err(); err != nil {
		return nil, fmt.Errorf("devices: import: %w", err)
	}
	refuse := func(row OpenDataRow, col, format string, args ...any) {
		*bad = append(*bad, RowError{Line: row.Line, Column: col, Reason: fmt.Sprintf(format, args...)})
		res.Refused++
	}
	var plans []importPlan
	for _, row := range rows {
		kind, ok := normUpdateKind(row.UpdateKind)
		if !ok {
			refuse(row, "데이터갱신구분", "%q is not I, U or D", row.UpdateKind)
			continue
		}
		p := importPlan{row: row, site: sites[row.ManagementNo], cams: cams[row.ManagementNo]}
		present := p.site != nil || len(p.cams) > 0
		changed := len(p.cams) != row.CameraCount || (p.site != nil && row.siteChanged(p.site))
		for _, c := range p.cams {
			changed = changed || row.camChanged(c)
		}
		p.siteCh = p.site != nil && row.siteChanged(p.site)
		switch {
		case kind == UpdateDelete && !present:
			refuse(row, "관리번호", "%q is not in the registry: nothing to delete (데이터갱신구분 D)", row.ManagementNo)
			continue
		case kind == UpdateDelete:
			p.kind = UpdateDelete
			res.Deleted++
		case kind == UpdateUpdate && !present:
			refuse(row, "관리번호", "%q is not in the registry: nothing to update (데이터갱신구분 U; use I for a new row)", row.ManagementNo)
			continue
		case !present:
			p.kind = UpdateInsert
			res.Inserted++
		case !changed:
			res.Unchanged++
		case kind == UpdateInsert:
			refuse(row, "관리번호", "%q is already in the registry with other data (데이터갱신구분 I; use U to change it)", row.ManagementNo)
			continue
		default:
			p.kind = UpdateUpdate
			res.Updated++
		}
		res.Sites++
		res.Cameras += row.CameraCount
		plans = append(plans, p)
	}
	return plans, nil
}

// applyImport carries out the plans; it returns the audit summary.
func (r *Registry) applyImport(ctx context.Context, tx pgx.Tx, plans []importPlan, opt ImportOptions, a Actor) (map[string]any, error) {
	var siteRows, camRows [][]any
	var inserted, updated, deleted, touched []string
	newCam := func(sid any, row OpenDataRow, i int) {
		p, _ := LookupPurpose(row.Purpose)
		lat, lon := posArgs(row.Position)
		var ret *int
		reason := ""
		if row.RetentionDays > 0 {
			d := row.RetentionDays
			ret = &d
			if d > DefaultRetentionDays {
				reason = opt.RetentionReason
			}
		}
		camRows = append(camRows, []any{newUUID(), sid, fmt.Sprintf("%s #%d", row.ManagementNo, i), row.ManagementNo,
			p.Local, p.National, int16(p.Basis), row.RoadAddress, row.LotAddress, lat, lon, row.Resolution, row.Direction,
			row.InstallYM, ret, reason, row.OrgName, opt.Department, string(opt.Lifecycle)})
	}
	openData := func(row OpenDataRow) []byte {
		b, _ := json.Marshal(map[string]string{"lg_code": row.LocalGovCode, "data_date": row.DataDate,
			"update_kind": row.UpdateKind, "updated_at": row.UpdatedAt, "modified_at": row.ModifiedAt, "purpose": row.Purpose})
		return b
	}
	decommissionReason := "전국CCTV표준데이터 가져오기"
	if a.Reason != "" {
		decommissionReason += ": " + a.Reason
	}
	for _, pl := range plans {
		row := pl.row
		lat, lon := posArgs(row.Position)
		switch pl.kind {
		case UpdateInsert:
			inserted = append(inserted, row.ManagementNo)
			if pl.site != nil { // a site without cameras
				for i := 1; i <= row.CameraCount; i++ {
					newCam(uuidOf(pl.site.id), row, i)
				}
				continue
			}
			sid := newUUID()
			name := row.RoadAddress
			if name == "" {
				name = row.LotAddress
			}
			name = name + " (" + row.ManagementNo + ")"
			siteRows = append(siteRows, []any{sid, name, row.ManagementNo, row.OrgName, row.OrgPhone, opt.Department,
				row.RoadAddress, row.LotAddress, lat, lon, openData(row)})
			for i := 1; i <= row.CameraCount; i++ {
				newCam(sid, row, i)
			}
		case UpdateDelete:
			deleted = append(deleted, row.ManagementNo)
			for _, c := range pl.cams {
				if err := r.decommissionTx(ctx, tx, c.id, decommissionReason); err != nil {
					return nil, err
				}
				touched = append(touched, c.id)
			}
		case UpdateUpdate:
			updated = append(updated, row.ManagementNo)
			if pl.site != nil {
				if _, err := tx.Exec(ctx, `update devices_sites set org=$2, org_phone=$3, road_address=$4, lot_address=$5,
					latitude=$6, longitude=$7, open_data=open_data || $8::jsonb, updated_at=case when $9 then now() else updated_at end
					where id=$1`, pl.site.id, row.OrgName, row.OrgPhone, row.RoadAddress, row.LotAddress, lat, lon,
					openData(row), pl.siteCh); err != nil {
					return nil, fmt.Errorf("devices: import: update site: %w", mapDBError(err))
				}
			}
			p, _ := LookupPurpose(row.Purpose)
			var ret *int
			if row.RetentionDays > 0 {
				d := row.RetentionDays
				ret = &d
			}
			for i, c := range pl.cams {
				if i >= row.CameraCount {
					if err := r.decommissionTx(ctx, tx, c.id, decommissionReason+" (카메라대수 감소)"); err != nil {
						return nil, err
					}
					touched = append(touched, c.id)
					continue
				}
				if !row.camChanged(c) {
					continue
				}
				touched = append(touched, c.id)
				if _, err := tx.Exec(ctx, `update devices_cameras set
					purpose = case when national_purpose = $2 then purpose else $3 end,
					legal_basis = case when national_purpose = $2 then legal_basis else $4 end,
					national_purpose = $2, resolution=$5, direction=$6, retention_days=$7,
					retention_reason = case when $7::int > $8::int and retention_reason = '' then $9 else retention_reason end,
					install_ym=$10, road_address=$11, lot_address=$12, latitude=$13, longitude=$14, org=$15, updated_at=now()
					where id=$1`, c.id, p.National, p.Local, int16(p.Basis), row.Resolution, row.Direction, ret,
					DefaultRetentionDays, opt.RetentionReason, row.InstallYM, row.RoadAddress, row.LotAddress, lat, lon,
					row.OrgName); err != nil {
					return nil, fmt.Errorf("devices: import: update camera: %w", mapDBError(err))
				}
			}
			if n := row.CameraCount - len(pl.cams); n > 0 {
				sid := ""
				switch {
				case pl.site != nil:
					sid = pl.site.id
				default:
					sid = pl.cams[0].siteID
				}
				for i := len(pl.cams) + 1; i <= row.CameraCount; i++ {
					newCam(uuidOf(sid), row, i)
				}
			}
		}
	}
	if len(siteRows) > 0 {
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"devices_sites"}, []string{"id", "name", "management_no", "org",
			"org_phone", "department", "road_address", "lot_address", "latitude", "longitude", "open_data"},
			pgx.CopyFromRows(siteRows)); err != nil {
			return nil, fmt.Errorf("devices: import sites: %w", mapDBError(err))
		}
	}
	if len(camRows) > 0 {
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"devices_cameras"}, []string{"id", "site_id", "name", "management_no",
			"purpose", "national_purpose", "legal_basis", "road_address", "lot_address", "latitude", "longitude", "resolution",
			"direction", "install_ym", "retention_days", "retention_reason", "org", "department", "lifecycle"},
			pgx.CopyFromRows(camRows)); err != nil {
			return nil, fmt.Errorf("devices: import cameras: %w", mapDBError(err))
		}
	}
	return map[string]any{"inserted_management_nos": bounded(inserted), "updated_management_nos": bounded(updated),
		"deleted_management_nos": bounded(deleted), "camera_ids": touched}, nil
}

// bounded keeps an audit detail list readable: at most 1000 items, then
// a count of the rest.
func bounded(s []string) []string {
	const max = 1000
	if len(s) <= max {
		return s
	}
	return append(s[:max:max], fmt.Sprintf("… %d more", len(s)-max))
}

func sortRowErrors(errs []RowError) {
	// insertion sort by line is enough for at most MaxErrors+rows entries
	// in near-sorted order; use the standard library for clarity.
	sortSlice(errs, func(a, b RowError) bool { return a.Line < b.Line })
}

// ExportOptions configures ExportOpenData.
type ExportOptions struct {
	Encoding Encoding
	// LocalGovCode (개방자치단체코드) for sites that have none from an import.
	LocalGovCode string
	// DataDate (데이터기준일자); default today in Korea.
	DataDate time.Time
	// Org limits the export to one 관리기관; default every camera.
	Org string
}

// OpenDataRows builds the open-data rows of the registry: one row per site
// and group of cameras that share 관리번호, purpose, resolution, direction,
// retention and install month (카메라대수 counts them). Decommissioned and
// planned cameras are left out. A row's 관리번호 is its cameras' own (set by
// an import, or by an update that gives part of a site its own number, e.g.
// the cameras with a different retention), else their site's, else the
// site's id, so that it names what is in the registry and an import of the
// file updates the same cameras. Only cameras of one 관리번호 that still
// differ get suffixes -2, -3… (give them their own 관리번호 to avoid it).
// 데이터갱신시점 and 최종수정시점 are the row's last change in the registry.
func (r *Registry) OpenDataRows(ctx context.Context, opt ExportOptions) ([]OpenDataRow, error) {
	date := opt.DataDate
	if date.IsZero() {
		date = r.cfg.Now()
	}
	dataDate := date.In(Seoul).Format("2006-01-02")
	q := `select s.id::text, coalesce(nullif(c.management_no, ''), s.management_no, ''), s.org, s.org_phone,
		coalesce(s.open_data->>'lg_code', ''), coalesce(s.open_data->>'purpose', ''),
		c.road_address, c.lot_address, c.national_purpose, c.resolution, c.direction, coalesce(c.retention_days, 0),
		c.install_ym, c.latitude, c.longitude, c.org, count(*), max(greatest(c.updated_at, s.updated_at)), min(c.seq)
		from devices_cameras c join devices_sites s on s.id = c.site_id
		where c.lifecycle in ('active', 'maintenance') and ($1 = '' or c.org = $1 or s.org = $1)
		group by s.id, coalesce(nullif(c.management_no, ''), s.management_no, ''), c.road_address, c.lot_address,
			c.national_purpose, c.resolution, c.direction, coalesce(c.retention_days, 0), c.install_ym, c.latitude,
			c.longitude, c.org
		order by s.seq, min(c.seq)`
	rows, err := r.db.Query(ctx, q, opt.Org)
	if err != nil {
		return nil, fmt.Errorf("devices: export: %w", err)
	}
	defer rows.Close()
	var out []OpenDataRow
	perKey := map[string]int{}
	for rows.Next() {
		var siteID, mno, org, phone, lg, origPurpose, camOrg string
		var row OpenDataRow
		var lat, lon *float64
		var n int64
		var mod time.Time
		var minSeq int64
		if err := rows.Scan(&siteID, &mno, &org, &phone, &lg, &origPurpose, &row.RoadAddress, &row.LotAddress, &row.Purpose,
			&row.Resolution, &row.Direction, &row.RetentionDays, &row.InstallYM, &lat, &lon, &camOrg, &n, &mod, &minSeq); err != nil {
			return nil, fmt.Errorf("devices: export: %w", err)
		}
		if mno == "" {
			mno = siteID
		}
		perKey[mno]++
		if k := perKey[mno]; k > 1 {
			mno = fmt.Sprintf("%s-%d", mno, k)
		}
		if origPurpose != "" && IsNationalPurpose(origPurpose) {
			if p, err := LookupPurpose(origPurpose); err == nil && p.National == row.Purpose {
				row.Purpose = origPurpose
			}
		}
		if org == "" {
			org = camOrg
		}
		if lg == "" {
			lg = opt.LocalGovCode
		}
		row.LocalGovCode, row.ManagementNo, row.OrgName, row.OrgPhone = lg, mno, org, phone
		row.CameraCount = int(n)
		row.Position = posOf(lat, lon)
		row.DataDate = dataDate
		row.UpdatedAt = mod.In(Seoul).Format("2006-01-02 15:04:05")
		row.ModifiedAt = row.UpdatedAt
		out = append(out, row)
	}
	return out, rows.Err()
}

// ExportOpenData writes the registry as a 전국CCTV표준데이터 CSV.
func (r *Registry) ExportOpenData(ctx context.Context, w io.Writer, opt ExportOptions) (int, error) {
	rows, err := r.OpenDataRows(ctx, opt)
	if err != nil {
		return 0, err
	}
	return len(rows), WriteOpenData(w, rows, opt.Encoding)
}

// uuidOf is a textual id in binary form, for COPY.
func uuidOf(id string) pgtype.UUID {
	var u pgtype.UUID
	_ = u.Scan(id)
	return u
}

// newUUID is newID in binary form, for COPY.
func newUUID() pgtype.UUID {
	var u pgtype.UUID
	if _, err := rand.Read(u.Bytes[:]); err != nil {
		panic(err)
	}
	u.Bytes[6] = u.Bytes[6]&0x0f | 0x40
	u.Bytes[8] = u.Bytes[8]&0x3f | 0x80
	u.Valid = true
	return u
}
