package devices

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/xuri/excelize/v2"
)

// Total counts sites (개소) and cameras (대수) of one group.
type Total struct {
	Key     string
	Label   string // extra label, e.g. the national purpose of a local one
	Sites   int
	Cameras int
}

// ReportCamera is one line of the full list.
type ReportCamera struct {
	Camera
	SiteName   string
	Contractor Contractor
}

// InstallationReport is the installation status (설치 현황).
type InstallationReport struct {
	GeneratedAt  time.Time
	Total        Total
	ByPurpose    []Total // local purpose, Label = national purpose (legal basis)
	ByNational   []Total
	ByDepartment []Total
	// ByPurposeDepartment crosses local purpose and department: Key is the
	// purpose, Label the department (장흥군's table: 방범 / 안전총괄과 374 개소 860 대).
	ByPurposeDepartment []Total
	ByRetention         []Total // in RetentionBands order
	ByContractor        []Total // "" = not outsourced (직영)
	Cameras             []ReportCamera
}

// ReportFilter limits a report.
type ReportFilter struct {
	Org        string
	Department string
	SiteIDs    []string
	// IncludePlanned counts planned cameras too (default: active and maintenance only).
	IncludePlanned bool
}

type counter struct {
	order   []string
	sites   map[string]map[string]bool
	cameras map[string]int
	label   map[string]string
}

func newCounter() *counter {
	return &counter{sites: map[string]map[string]bool{}, cameras: map[string]int{}, label: map[string]string{}}
}

func (c *counter) add(key, label, site string) {
	if _, ok := c.sites[key]; !ok {
		c.sites[key] = map[string]bool{}
		c.order = append(c.order, key)
	}
	c.sites[key][site] = true
	c.cameras[key]++
	if label != "" {
		c.label[key] = label
	}
}

func (c *counter) totals(order []string) []Total {
	keys := order
	if keys == nil {
		keys = append([]string(nil), c.order...)
		sort.SliceStable(keys, func(i, j int) bool {
			if c.cameras[keys[i]] != c.cameras[keys[j]] {
				return c.cameras[keys[i]] > c.cameras[keys[j]]
			}
			return keys[i] < keys[j]
		})
	}
	out := make([]Total, 0, len(keys))
	for _, k := range keys {
		out = append(out, Total{Key: k, Label: c.label[k], Sites: len(c.sites[k]), Cameras: c.cameras[k]})
	}
	return out
}

// InstallationReport computes the installation status from the registry.
func (r *Registry) InstallationReport(ctx context.Context, f ReportFilter) (*InstallationReport, error) {
	lcs := []string{string(Active), string(Maintenance)}
	if f.IncludePlanned {
		lcs = append(lcs, string(Planned))
	}
	sites := f.SiteIDs
	if sites == nil {
		sites = []string{}
	}
	rows, err := r.db.Query(ctx, `select `+cameraCols+`, s.name, s.contractor_id, s.contractor_name, s.contractor_contact,
		s.contractor_phone from devices_cameras c join devices_sites s on s.id = c.site_id
		where c.lifecycle = any($1) and ($2 = '' or c.org = $2) and ($3 = '' or c.department = $3)
		and (cardinality($4::text[]) = 0 or c.site_id::text = any($4)) order by s.name, c.name, c.seq`,
		lcs, f.Org, f.Department, sites)
	if err != nil {
		return nil, fmt.Errorf("devices: report: %w", err)
	}
	defer rows.Close()
	rep := &InstallationReport{GeneratedAt: r.cfg.Now()}
	purpose, national, dept, band, contractor := newCounter(), newCounter(), newCounter(), newCounter(), newCounter()
	cross := newCounter()
	allSites := map[string]bool{}
	for rows.Next() {
		var rc ReportCamera
		var seq int64
		dest, finish := cameraDest(&rc.Camera, &seq)
		dest = append(dest, &rc.SiteName, &rc.Contractor.ID, &rc.Contractor.Name, &rc.Contractor.Contact, &rc.Contractor.Phone)
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("devices: report: %w", err)
		}
		if err := finish(); err != nil {
			return nil, fmt.Errorf("devices: report: %w", err)
		}
		c := &rc.Camera
		allSites[c.SiteID] = true
		purpose.add(c.Purpose, fmt.Sprintf("%s (%d호 %s)", c.NationalPurpose, c.LegalBasis, c.LegalBasis.Label()), c.SiteID)
		national.add(c.NationalPurpose, "", c.SiteID)
		dept.add(c.Department, "", c.SiteID)
		cross.add(c.Purpose+"\x00"+c.Department, "", c.SiteID)
		band.add(string(BandOf(c.RetentionDays, c.NotStored)), "", c.SiteID)
		contractor.add(rc.Contractor.Name, "", c.SiteID)
		rep.Cameras = append(rep.Cameras, rc)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("devices: report: %w", err)
	}
	rep.Total = Total{Key: "합계", Sites: len(allSites), Cameras: len(rep.Cameras)}
	rep.ByPurpose = purpose.totals(nil)
	var natOrder []string
	for _, n := range NationalPurposes {
		if _, ok := national.sites[n]; ok {
			natOrder = append(natOrder, n)
		}
	}
	rep.ByNational = national.totals(natOrder)
	rep.ByDepartment = dept.totals(nil)
	rep.ByPurposeDepartment = cross.totals(nil)
	sort.SliceStable(rep.ByPurposeDepartment, func(i, j int) bool {
		return rep.ByPurposeDepartment[i].Key < rep.ByPurposeDepartment[j].Key
	})
	for i := range rep.ByPurposeDepartment {
		t := &rep.ByPurposeDepartment[i]
		t.Key, t.Label, _ = strings.Cut(t.Key, "\x00")
	}
	bands := make([]string, len(RetentionBands))
	for i, b := range RetentionBands {
		bands[i] = string(b)
		if _, ok := band.sites[bands[i]]; !ok {
			band.sites[bands[i]] = map[string]bool{}
		}
	}
	rep.ByRetention = band.totals(bands)
	rep.ByContractor = contractor.totals(nil)
	for i := range rep.ByContractor {
		if rep.ByContractor[i].Key == "" {
			rep.ByContractor[i].Label = "직영 (위탁 없음)"
		}
	}
	return rep, nil
}

// ListColumns are the columns of the full list in CSV and XLSX.
var ListColumns = []string{"관리번호", "개소", "카메라", "설치목적", "설치목적구분", "법적근거", "소재지도로명주소",
	"소재지지번주소", "WGS84위도", "WGS84경도", "촬영범위", "카메라화소수", "촬영방면", "설치연월", "촬영시간", "보관일수",
	"보관기간사유", "보관장소", "관제방법", "관리기관", "담당부서", "관리책임자", "연락처", "접근권한자", "수탁업체",
	"수탁업체 담당자", "수탁업체 연락처", "안내판", "상태", "제조사", "모델", "시리얼", "PTZ", "라벨", "카메라 ID"}

var signageKo = map[Signage]string{SignagePhysical: "안내판", SignageHomepage: "홈페이지 게재", SignageExempt: "설치 예외"}
var lifecycleKo = map[Lifecycle]string{Planned: "설치 예정", Active: "운영", Maintenance: "점검 중", Decommissioned: "철거"}

func (rc *ReportCamera) listRecord() []string {
	c := &rc.Camera
	lat, lon := "", ""
	if c.Position != nil {
		lat = strconv.FormatFloat(c.Position.Lat, 'f', -1, 64)
		lon = strconv.FormatFloat(c.Position.Lon, 'f', -1, 64)
	}
	ret := "미보유"
	if !c.NotStored {
		ret = strconv.Itoa(c.RetentionDays)
	}
	ptz := ""
	if c.Device.PTZ {
		ptz = "Y"
	}
	return []string{c.ManagementNo, rc.SiteName, c.Name, c.Purpose, c.NationalPurpose, strconv.Itoa(int(c.LegalBasis)),
		c.RoadAddress, c.LotAddress, lat, lon, c.Coverage, strconv.Itoa(c.Resolution), c.Direction, c.InstallYM, c.Schedule,
		ret, c.RetentionReason, c.StoragePlace, c.MonitoringMethod, c.Org, c.Department, c.Manager, c.ManagerPhone,
		strings.Join(c.AccessPersons, ", "), rc.Contractor.Name, rc.Contractor.Contact, rc.Contractor.Phone,
		signageKo[c.Signage], lifecycleKo[c.Lifecycle], c.Device.Manufacturer, c.Device.Model, c.Device.Serial, ptz,
		strings.Join(c.Labels, ", "), c.ID}
}

// ReportPart selects what WriteCSV writes.
type ReportPart string

// Report parts.
const (
	ReportSummary ReportPart = "summary" // the totals tables, one after another
	ReportList    ReportPart = "list"    // the full list of cameras
)

type summaryTable struct {
	title  string
	header string
	rows   []Total
	label  string // header of the Label column; default 비고
}

func (rep *InstallationReport) tables() []summaryTable {
	return []summaryTable{
		{"설치목적별", "설치목적", rep.ByPurpose, "비고"},
		{"설치목적구분별", "설치목적구분", rep.ByNational, "비고"},
		{"담당부서별", "담당부서", rep.ByDepartment, "비고"},
		{"설치목적·담당부서별", "설치목적", rep.ByPurposeDepartment, "담당부서"},
		{"보관기간별", "보관기간", rep.ByRetention, "비고"},
		{"수탁업체별", "수탁업체", rep.ByContractor, "비고"},
	}
}

// WriteCSV writes a part of the report as UTF-8 CSV with a byte-order mark.
func (rep *InstallationReport) WriteCSV(w io.Writer, part ReportPart) error {
	if _, err := io.WriteString(w, "\ufeff"); err != nil {
		return err
	}
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	switch part {
	case ReportSummary, "":
		cw.Write([]string{"표", "구분", "비고", "개소", "대수"})
		for _, t := range rep.tables() {
			for _, row := range t.rows {
				cw.Write([]string{t.title, row.Key, row.Label, strconv.Itoa(row.Sites), strconv.Itoa(row.Cameras)})
			}
		}
		cw.Write([]string{"합계", "", "", strconv.Itoa(rep.Total.Sites), strconv.Itoa(rep.Total.Cameras)})
	case ReportList:
		cw.Write(ListColumns)
		for i := range rep.Cameras {
			cw.Write(rep.Cameras[i].listRecord())
		}
	default:
		return fmt.Errorf("%w: report part %q (summary or list)", ErrInvalid, part)
	}
	cw.Flush()
	return cw.Error()
}

// WriteXLSX writes the report as a workbook: a 현황 sheet with every totals
// table and a 전체목록 sheet with the full list.
func (rep *InstallationReport) WriteXLSX(w io.Writer) error {
	f := excelize.NewFile()
	defer f.Close()
	const sum = "현황"
	if err := f.SetSheetName("Sheet1", sum); err != nil {
		return err
	}
	bold, _ := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}})
	row := 1
	set := func(sheet string, r int, vals ...any) error {
		cell, _ := excelize.CoordinatesToCellName(1, r)
		return f.SetSheetRow(sheet, cell, &vals)
	}
	if err := set(sum, row, "CCTV 설치 현황", "", "기준일시", rep.GeneratedAt.In(Seoul).Format("2006-01-02 15:04")); err != nil {
		return err
	}
	f.SetCellStyle(sum, "A1", "A1", bold)
	row += 2
	set(sum, row, "합계", "", rep.Total.Sites, rep.Total.Cameras)
	row += 2
	for _, t := range rep.tables() {
		set(sum, row, t.title)
		a, _ := excelize.CoordinatesToCellName(1, row)
		f.SetCellStyle(sum, a, a, bold)
		row++
		set(sum, row, t.header, t.label, "개소", "대수")
		a, _ = excelize.CoordinatesToCellName(1, row)
		b, _ := excelize.CoordinatesToCellName(4, row)
		f.SetCellStyle(sum, a, b, bold)
		row++
		for _, tr := range t.rows {
			key := tr.Key
			if key == "" {
				key = "(없음)"
			}
			set(sum, row, key, tr.Label, tr.Sites, tr.Cameras)
			row++
		}
		row++
	}
	f.SetColWidth(sum, "A", "A", 22)
	f.SetColWidth(sum, "B", "B", 40)
	const list = "전체목록"
	if _, err := f.NewSheet(list); err != nil {
		return err
	}
	sw, err := f.NewStreamWriter(list)
	if err != nil {
		return err
	}
	hdr := make([]any, len(ListColumns))
	for i, c := range ListColumns {
		hdr[i] = excelize.Cell{Value: c, StyleID: bold}
	}
	if err := sw.SetRow("A1", hdr); err != nil {
		return err
	}
	for i := range rep.Cameras {
		rec := rep.Cameras[i].listRecord()
		vals := make([]any, len(rec))
		for j, v := range rec {
			vals[j] = v
		}
		cell, _ := excelize.CoordinatesToCellName(1, i+2)
		if err := sw.SetRow(cell, vals); err != nil {
			return err
		}
	}
	if err := sw.Flush(); err != nil {
		return err
	}
	return f.Write(w)
}
