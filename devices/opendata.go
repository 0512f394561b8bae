package devices

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/csv"
	"encoding/json"
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

// ImportResult says what an import did or, on DryRun or failure, would do.
type ImportResult struct {
	Rows    int // good rows
	Sites   int
	Cameras int
	Errors  []RowError
	DryRun  bool
	// Imported is true when the rows were committed.
	Imported bool
}

// ImportOpenData imports a 전국CCTV표준데이터 CSV: one site per row, with
// 카메라대수 cameras. Every row is validated first; when any row is bad (or
// its 관리번호 is already in the registry) nothing is imported and the error
// wraps ErrInvalid, with the bad rows in the result. The import is one
// transaction with its audit entry (device.import).
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
	res := ImportResult{Rows: len(rows), DryRun: opt.DryRun}
	// Collisions with the registry.
	mnos := make([]string, len(rows))
	for i, row := range rows {
		mnos[i] = row.ManagementNo
		res.Sites++
		res.Cameras += row.CameraCount
	}
	taken := map[string]bool{}
	qrows, err := r.db.Query(ctx, `select management_no from devices_sites where management_no = any($1)`, mnos)
	if err != nil {
		return ImportResult{}, fmt.Errorf("devices: import: %w", err)
	}
	for qrows.Next() {
		var m string
		if err := qrows.Scan(&m); err != nil {
			qrows.Close()
			return ImportResult{}, fmt.Errorf("devices: import: %w", err)
		}
		taken[m] = true
	}
	qrows.Close()
	if err := qrows.Err(); err != nil {
		return ImportResult{}, fmt.Errorf("devices: import: %w", err)
	}
	for _, row := range rows {
		if taken[row.ManagementNo] {
			bad = append(bad, RowError{Line: row.Line, Column: "관리번호", Reason: fmt.Sprintf("%q is already in the registry", row.ManagementNo)})
		}
	}
	sortRowErrors(bad)
	res.Errors = bad
	if len(bad) > 0 {
		return res, fmt.Errorf("%w: %d bad rows, nothing imported (first: %v)", ErrInvalid, len(bad), bad[0])
	}
	if len(rows) == 0 {
		return res, fmt.Errorf("%w: no rows to import", ErrInvalid)
	}
	if opt.DryRun {
		return res, nil
	}
	err = r.inTx(ctx, func(tx pgx.Tx) error {
		siteRows := make([][]any, 0, len(rows))
		camRows := make([][]any, 0, res.Cameras)
		for _, row := range rows {
			sid := newUUID()
			extra, _ := json.Marshal(map[string]string{"lg_code": row.LocalGovCode, "data_date": row.DataDate,
				"update_kind": row.UpdateKind, "updated_at": row.UpdatedAt, "modified_at": row.ModifiedAt, "purpose": row.Purpose})
			lat, lon := posArgs(row.Position)
			name := row.RoadAddress
			if name == "" {
				name = row.LotAddress
			}
			name = name + " (" + row.ManagementNo + ")"
			siteRows = append(siteRows, []any{sid, name, row.ManagementNo, row.OrgName, row.OrgPhone, opt.Department,
				row.RoadAddress, row.LotAddress, lat, lon, extra})
			p, _ := LookupPurpose(row.Purpose)
			var ret *int
			reason := ""
			if row.RetentionDays > 0 {
				d := row.RetentionDays
				ret = &d
				if d > DefaultRetentionDays {
					reason = opt.RetentionReason
				}
			}
			for i := 1; i <= row.CameraCount; i++ {
				camRows = append(camRows, []any{newUUID(), sid, fmt.Sprintf("%s #%d", row.ManagementNo, i), p.Local, p.National,
					int16(p.Basis), row.RoadAddress, row.LotAddress, lat, lon, row.Resolution, row.Direction, row.InstallYM,
					ret, reason, row.OrgName, opt.Department, string(opt.Lifecycle)})
			}
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"devices_sites"}, []string{"id", "name", "management_no", "org",
			"org_phone", "department", "road_address", "lot_address", "latitude", "longitude", "open_data"},
			pgx.CopyFromRows(siteRows)); err != nil {
			return fmt.Errorf("devices: import sites: %w", mapDBError(err))
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"devices_cameras"}, []string{"id", "site_id", "name", "purpose",
			"national_purpose", "legal_basis", "road_address", "lot_address", "latitude", "longitude", "resolution",
			"direction", "install_ym", "retention_days", "retention_reason", "org", "department", "lifecycle"},
			pgx.CopyFromRows(camRows)); err != nil {
			return fmt.Errorf("devices: import cameras: %w", mapDBError(err))
		}
		return r.audit(ctx, tx, a, "device.import", nil, map[string]any{"format": "전국CCTV표준데이터",
			"rows": res.Rows, "sites": res.Sites, "cameras": res.Cameras,
			"first_management_no": rows[0].ManagementNo, "last_management_no": rows[len(rows)-1].ManagementNo})
	})
	if err != nil {
		return res, err
	}
	res.Imported = true
	r.log.Info("open data imported", "rows", res.Rows, "cameras", res.Cameras)
	return res, nil
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
// and group of cameras that share purpose, resolution, direction, retention
// and install month (카메라대수 counts them). Decommissioned and planned
// cameras are left out. A site that needs several rows gets 관리번호 with
// suffixes -2, -3…; a site without a 관리번호 uses its id.
func (r *Registry) OpenDataRows(ctx context.Context, opt ExportOptions) ([]OpenDataRow, error) {
	date := opt.DataDate
	if date.IsZero() {
		date = r.cfg.Now()
	}
	dataDate := date.In(Seoul).Format("2006-01-02")
	q := `select s.id::text, coalesce(s.management_no, ''), s.org, s.org_phone, coalesce(s.open_data->>'lg_code', ''),
		coalesce(s.open_data->>'purpose', ''),
		c.road_address, c.lot_address, c.national_purpose, c.resolution, c.direction, coalesce(c.retention_days, 0),
		c.install_ym, c.latitude, c.longitude, c.org, count(*), max(greatest(c.updated_at, s.updated_at)), min(c.seq)
		from devices_cameras c join devices_sites s on s.id = c.site_id
		where c.lifecycle in ('active', 'maintenance') and ($1 = '' or c.org = $1 or s.org = $1)
		group by s.id, c.road_address, c.lot_address, c.national_purpose, c.resolution, c.direction,
			coalesce(c.retention_days, 0), c.install_ym, c.latitude, c.longitude, c.org
		order by s.seq, min(c.seq)`
	rows, err := r.db.Query(ctx, q, opt.Org)
	if err != nil {
		return nil, fmt.Errorf("devices: export: %w", err)
	}
	defer rows.Close()
	var out []OpenDataRow
	perSite := map[string]int{}
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
		perSite[siteID]++
		if k := perSite[siteID]; k > 1 {
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
		row.ModifiedAt = mod.In(Seoul).Format("2006-01-02 15:04:05")
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
