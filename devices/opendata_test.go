package devices

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/korean"
	"golang.org/x/text/transform"

	"github.com/gwanje/gwanje/camsim"
)

const header = "개방자치단체코드,관리번호,관리기관명,소재지도로명주소,소재지지번주소,설치목적구분,카메라대수,카메라화소수,촬영방면정보,보관일수,설치연월,관리기관전화번호,WGS84위도,WGS84경도,데이터기준일자,데이터갱신구분,데이터갱신시점,최종수정시점\n"

const goodCSV = header +
	"3000000,202630000000800463,서울특별시 종로구청,서울특별시 종로구 북촌로 134-1,,생활방범,2,200,360도 전방면,30,202005,02-2148-3033,37.58785,126.9843,2026-05-18,,2026-05-19 22:58:23,2026-05-18 15:24:18\n" +
	"  3000000 , 202630000000800464 ,  서울특별시   종로구청 ,\"서울특별시 종로구 율곡로 1, 101호\",,산불감시,\"1,0\" ,\"  \",동측, 90 ,2019-03,02-2148-3033,37.5,127.0,20260518,,,\n" +
	"3000000,202630000000800465,서울특별시 종로구청,,서울특별시 종로구 가회동 1,재난재해,3,,,0,,,,,2026-05-18,,,\n"

func TestParseOpenData(t *testing.T) {
	rows, bad, err := ParseOpenData(strings.NewReader(goodCSV), ParseOptions{})
	if err != nil || len(bad) != 0 || len(rows) != 3 {
		t.Fatalf("rows %d bad %v err %v", len(rows), bad, err)
	}
	r := rows[1]
	if r.Line != 3 || r.ManagementNo != "202630000000800464" || r.OrgName != "서울특별시 종로구청" ||
		r.RoadAddress != "서울특별시 종로구 율곡로 1, 101호" || r.CameraCount != 10 || r.RetentionDays != 90 ||
		r.InstallYM != "201903" || r.DataDate != "2026-05-18" || r.Purpose != "산불감시" || r.Resolution != 0 {
		t.Fatalf("normalised row %+v", r)
	}
	if rows[2].RetentionDays != 0 || rows[2].Position != nil {
		t.Fatalf("row 3 %+v", rows[2])
	}
	// CP949 reads the same.
	cp, _, err := transform.Bytes(korean.EUCKR.NewEncoder(), []byte(goodCSV))
	if err != nil {
		t.Fatal(err)
	}
	rows2, bad2, err := ParseOpenData(bytes.NewReader(cp), ParseOptions{})
	if err != nil || len(bad2) != 0 || len(rows2) != 3 || rows2[1].RoadAddress != r.RoadAddress {
		t.Fatalf("CP949: %d %v %v", len(rows2), bad2, err)
	}
}

func TestParseOpenDataBadRows(t *testing.T) {
	in := header +
		"3000000,A1,기관,주소,,생활방범,2,200,,30,202005,02-1,37.5,127.0,2026-05-18,,,\n" + // line 2 ok
		"3000000,,기관,주소,,생활방범,2,200,,30,202005,02-1,37.5,127.0,2026-05-18,,,\n" + // 3 no 관리번호
		"3000000,A3,기관,주소,,감시,2,200,,30,202005,02-1,37.5,127.0,2026-05-18,,,\n" + // 4 purpose
		"3000000,A4,기관,주소,,생활방범,0,200,,30,202005,02-1,37.5,127.0,2026-05-18,,,\n" + // 5 count
		"3000000,A5,기관,주소,,생활방범,2,200,,30,202013,02-1,37.5,127.0,2026-05-18,,,\n" + // 6 ym
		"3000000,A6,기관,주소,,생활방범,2,200,,30,202005,02-1,127.0,37.5,2026-05-18,,,\n" + // 7 swapped
		"3000000,A1,기관,주소,,생활방범,2,200,,30,202005,02-1,37.5,127.0,2026-05-18,,,\n" + // 8 duplicate
		"3000000,A8,기관,주소\n" + // 9 columns
		"3000000,A9,기관,,,생활방범,2,200,,30,202005,02-1,37.5,127.0,2026-05-18,,,\n" + // 10 no address
		"3000000,A10,기관,주소,,생활방범,2,200,,9999,202005,02-1,37.5,127.0,2026-05-18,,,\n" + // 11 retention
		"3000000,A11,기관,주소,,생활방범,2,200,,30,202005,02-1,37.5,127.0,2026-13-18,,,\n" // 12 date
	rows, bad, err := ParseOpenData(strings.NewReader(in), ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 {
		t.Errorf("%d good rows", len(rows))
	}
	want := []int{3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	if len(bad) != len(want) {
		t.Fatalf("bad rows %v", bad)
	}
	for i, b := range bad {
		if b.Line != want[i] || b.Reason == "" {
			t.Errorf("bad[%d] = %v, want line %d", i, b, want[i])
		}
	}
	if !strings.Contains(bad[4].Error(), "swapped") {
		t.Errorf("swapped coordinates: %v", bad[4])
	}
}

func TestImportExportOpenData(t *testing.T) {
	e := newEnv(t)
	// Dry run imports nothing.
	res, err := e.reg.ImportOpenData(e.ctx, strings.NewReader(goodCSV), ImportOptions{DryRun: true}, e.actor)
	if err != nil || res.Rows != 3 || res.Cameras != 15 || res.Imported {
		t.Fatalf("dry run: %+v %v", res, err)
	}
	if n := e.count(`select count(*) from devices_cameras`); n != 0 {
		t.Fatalf("dry run stored %d", n)
	}
	// A bad row stops the whole import.
	bad := goodCSV + "3000000,X,기관,주소,,없는목적,1,,,30,,,,,,,,\n"
	res, err = e.reg.ImportOpenData(e.ctx, strings.NewReader(bad), ImportOptions{}, e.actor)
	if !errors.Is(err, ErrInvalid) || len(res.Errors) != 1 || res.Errors[0].Line != 5 || res.Imported {
		t.Fatalf("bad import: %+v %v", res, err)
	}
	if n := e.count(`select count(*) from devices_sites`); n != 0 {
		t.Fatalf("half an import: %d sites", n)
	}
	res, err = e.reg.ImportOpenData(e.ctx, strings.NewReader(goodCSV), ImportOptions{Department: "안전총괄과"}, e.actor)
	if err != nil || !res.Imported || res.Sites != 3 || res.Cameras != 15 {
		t.Fatalf("import: %+v %v", res, err)
	}
	if n := e.count(`select count(*) from devices_cameras`); n != 15 {
		t.Fatalf("%d cameras", n)
	}
	if n := e.count(`select count(*) from devices_cameras where retention_days is null`); n != 3 {
		t.Fatalf("%d not stored", n)
	}
	if n := e.count(`select count(*) from test_audit where type='device.import'`); n != 1 {
		t.Fatalf("%d import audit entries", n)
	}
	// Importing again: every row is as the registry has it.
	res, err = e.reg.ImportOpenData(e.ctx, strings.NewReader(goodCSV), ImportOptions{}, e.actor)
	if err != nil || res.Unchanged != 3 || res.Inserted+res.Updated+res.Deleted+res.Refused != 0 {
		t.Fatalf("re-import: %+v %v", res, err)
	}

	// Export, UTF-8 and CP949, reads back to the same rows.
	for _, enc := range []Encoding{EncodingUTF8, EncodingCP949} {
		var buf bytes.Buffer
		n, err := e.reg.ExportOpenData(e.ctx, &buf, ExportOptions{Encoding: enc, DataDate: time.Date(2026, 11, 22, 0, 0, 0, 0, Seoul)})
		if err != nil || n != 3 {
			t.Fatalf("export %s: %d %v", enc, n, err)
		}
		if enc == EncodingCP949 && bytes.HasPrefix(buf.Bytes(), []byte("\xef\xbb\xbf")) {
			t.Fatal("CP949 export has a BOM")
		}
		rows, bad, err := ParseOpenData(&buf, ParseOptions{Encoding: enc})
		if err != nil || len(bad) != 0 || len(rows) != 3 {
			t.Fatalf("re-read %s: %v %v", enc, bad, err)
		}
		r := rows[1]
		if r.ManagementNo != "202630000000800464" || r.CameraCount != 10 || r.Purpose != "재난재해" || r.RetentionDays != 90 ||
			r.RoadAddress != "서울특별시 종로구 율곡로 1, 101호" || r.LocalGovCode != "3000000" || r.DataDate != "2026-11-22" ||
			r.Position == nil || r.Position.Lat != 37.5 {
			t.Errorf("%s row %+v", enc, r)
		}
		if rows[0].Purpose != "생활방범" || rows[0].OrgPhone != "02-2148-3033" || rows[0].InstallYM != "202005" {
			t.Errorf("%s row %+v", enc, rows[0])
		}
	}
}

func TestInstallationReport(t *testing.T) {
	e := newEnv(t)
	s1, s2 := e.site("군청앞"), e.site("산")
	cam := startCam(t, camsim.Config{Dialect: camsim.DialectAxis, PTZ: true})
	f := fields(s1, "정문")
	if _, err := e.reg.Register(e.ctx, RegisterRequest{DeviceURL: cam.DeviceServiceURL(), Username: "admin", Password: "camsim", Fields: f}, e.actor); err != nil {
		t.Fatal(err)
	}
	add := func(site Site, name, purpose, dept string, days int, notStored bool) {
		f := fields(site, name)
		f.Purpose, f.Department, f.RetentionDays, f.NotStored, f.Lifecycle = purpose, dept, days, notStored, Active
		if days > 30 {
			f.RetentionReason = "사유"
		}
		if _, err := e.reg.CreateCamera(e.ctx, f, e.actor); err != nil {
			t.Fatal(err)
		}
	}
	add(s1, "후문", "방범", "안전총괄과", 60, false)
	add(s2, "산불1", "산불감시", "산림과", 0, true)
	add(s2, "산불2", "산불감시", "산림과", 180, false)
	rep, err := e.reg.InstallationReport(e.ctx, ReportFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Total.Sites != 2 || rep.Total.Cameras != 4 {
		t.Fatalf("total %+v", rep.Total)
	}
	want := map[string][2]int{"방범": {1, 2}, "산불감시": {1, 2}}
	for _, p := range rep.ByPurpose {
		if w := want[p.Key]; w != [2]int{p.Sites, p.Cameras} {
			t.Errorf("purpose %+v", p)
		}
	}
	bands := map[string]int{}
	for _, b := range rep.ByRetention {
		bands[b.Key] = b.Cameras
	}
	if bands[string(BandMonth)] != 1 || bands[string(BandThreeMonth)] != 1 || bands[string(BandYear)] != 1 || bands[string(BandNotStored)] != 1 {
		t.Errorf("bands %+v", rep.ByRetention)
	}
	if len(rep.ByContractor) != 1 || rep.ByContractor[0].Key != "한빛정보통신" || rep.ByContractor[0].Cameras != 4 {
		t.Errorf("contractors %+v", rep.ByContractor)
	}
	cross := map[string]int{}
	for _, c := range rep.ByPurposeDepartment {
		cross[c.Key+"/"+c.Label] = c.Sites*1000 + c.Cameras
	}
	if cross["방범/안전총괄과"] != 1002 || cross["산불감시/산림과"] != 1002 || len(cross) != 2 {
		t.Errorf("purpose × department %+v", rep.ByPurposeDepartment)
	}
	var csvBuf, listBuf, xlsx bytes.Buffer
	if err := rep.WriteCSV(&csvBuf, ReportSummary); err != nil || !strings.Contains(csvBuf.String(), "설치목적별,방범,") {
		t.Fatalf("summary CSV: %v\n%s", err, csvBuf.String())
	}
	if err := rep.WriteCSV(&listBuf, ReportList); err != nil || strings.Count(listBuf.String(), "\r\n") != 5 {
		t.Fatalf("list CSV: %v\n%s", err, listBuf.String())
	}
	if strings.Contains(listBuf.String(), "camsim") {
		t.Fatal("the list shows the camera password")
	}
	if err := rep.WriteXLSX(&xlsx); err != nil {
		t.Fatal(err)
	}
	wb, err := excelize.OpenReader(&xlsx)
	if err != nil {
		t.Fatal(err)
	}
	listRows, err := wb.GetRows("전체목록")
	if err != nil || len(listRows) != 5 || listRows[0][0] != "관리번호" {
		t.Fatalf("XLSX list: %v %v", len(listRows), err)
	}
	sumRows, _ := wb.GetRows("현황")
	found := false
	for _, r := range sumRows {
		if len(r) >= 4 && r[0] == "방범" && r[2] == "1" && r[3] == "2" {
			found = true
		}
	}
	if !found {
		t.Errorf("XLSX summary lacks 방범 1 개소 2 대: %v", sumRows)
	}
}

func TestImportOpenDataUpsert(t *testing.T) {
	e := newEnv(t)
	res, err := e.reg.ImportOpenData(e.ctx, strings.NewReader(goodCSV), ImportOptions{}, e.actor)
	if err != nil || res.Inserted != 3 || res.Cameras != 15 {
		t.Fatalf("first import: %+v %v", res, err)
	}
	const (
		m463 = "202630000000800463"
		m464 = "202630000000800464"
		m465 = "202630000000800465"
	)
	active := func(mno string) int {
		return e.count(`select count(*) from devices_cameras where management_no=$1 and lifecycle <> 'decommissioned'`, mno)
	}
	auditN := func() int { return e.count(`select count(*) from test_audit where type='device.import'`) }

	// Refused rows: nothing changes, every refusal is reported.
	refused := header +
		"3000000,NEW-1,서울특별시 종로구청,서울특별시 종로구 새길 1,,생활방범,1,,,30,,02-2148-3033,,,,U,,\n" + // U of a new 관리번호
		"3000000," + m463 + ",서울특별시 종로구청,서울특별시 종로구 북촌로 134-1,,생활방범,5,200,360도 전방면,30,202005,02-2148-3033,37.58785,126.9843,2026-05-18,I,,\n" + // I of an existing one, other data
		"3000000,NEW-2,서울특별시 종로구청,서울특별시 종로구 새길 2,,생활방범,1,,,30,,02-2148-3033,,,,D,,\n" + // D of a new one
		"3000000,NEW-3,서울특별시 종로구청,서울특별시 종로구 새길 3,,생활방범,1,,,30,,02-2148-3033,,,,X,,\n" + // no such kind
		"3000000,NEW-4,서울특별시 종로구청,서울특별시 종로구 새길 4,,생활방범,1,,,30,,02-2148-3033,,,,I,,\n" // fine alone
	before := auditN()
	res, err = e.reg.ImportOpenData(e.ctx, strings.NewReader(refused), ImportOptions{}, e.actor)
	if !errors.Is(err, ErrInvalid) || res.Refused != 4 || len(res.Errors) != 4 || res.Inserted != 1 || res.Imported {
		t.Fatalf("refused: %+v %v", res, err)
	}
	for i, line := range []int{2, 3, 4, 5} {
		if res.Errors[i].Line != line {
			t.Errorf("refusal %d on line %d, want %d (%v)", i, res.Errors[i].Line, line, res.Errors[i])
		}
	}
	if n := e.count(`select count(*) from devices_sites`); n != 3 || auditN() != before || active(m463) != 2 {
		t.Fatalf("a refused import changed the registry: %d sites, %d audit entries", n, auditN()-before)
	}

	// Upsert: U grows a row and changes its retention, an empty kind equal
	// to the registry is unchanged, D deletes, I inserts.
	upsert := header +
		"3000000," + m463 + ",서울특별시 종로구청,서울특별시 종로구 북촌로 134-1,,생활방범,3,200,360도 전방면,60,202005,02-2148-3033,37.58785,126.9843,2026-05-18,U,,\n" +
		"3000000," + m464 + ",서울특별시 종로구청,\"서울특별시 종로구 율곡로 1, 101호\",,산불감시,10,,동측,90,201903,02-2148-3033,37.5,127.0,2026-05-18,,,\n" +
		"3000000," + m465 + ",서울특별시 종로구청,,서울특별시 종로구 가회동 1,재난재해,3,,,0,,,,,2026-05-18,D,,\n" +
		"3000000,NEW-4,서울특별시 종로구청,서울특별시 종로구 새길 4,,생활방범,1,,,30,,02-2148-3033,,,,I,,\n"
	dry, err := e.reg.ImportOpenData(e.ctx, strings.NewReader(upsert), ImportOptions{DryRun: true}, e.actor)
	if err != nil || dry.Imported || dry.Inserted != 1 || dry.Updated != 1 || dry.Unchanged != 1 || dry.Deleted != 1 || dry.Refused != 0 {
		t.Fatalf("dry run: %+v %v", dry, err)
	}
	if auditN() != before || active(m465) != 3 || active("NEW-4") != 0 {
		t.Fatal("the dry run changed the registry")
	}
	res, err = e.reg.ImportOpenData(e.ctx, strings.NewReader(upsert), ImportOptions{}, e.actor)
	if err != nil || !res.Imported || res.Inserted != 1 || res.Updated != 1 || res.Unchanged != 1 || res.Deleted != 1 || res.Refused != 0 {
		t.Fatalf("upsert: %+v %v", res, err)
	}
	if active(m463) != 3 || active(m464) != 10 || active(m465) != 0 || active("NEW-4") != 1 {
		t.Fatalf("cameras: %d %d %d %d", active(m463), active(m464), active(m465), active("NEW-4"))
	}
	if n := e.count(`select count(*) from devices_cameras where management_no=$1 and retention_days=60`, m463); n != 3 {
		t.Fatalf("%d cameras of %s keep 60 days", n, m463)
	}
	if auditN() != before+1 {
		t.Fatalf("%d import audit entries for one import", auditN()-before)
	}
	// The one entry summarizes the import and lists the cameras changed
	// (the two updated of 463, the one added is new; the three of 465).
	var details string
	var cams int
	if err := e.pool.QueryRow(e.ctx, `select details::text, coalesce(cardinality(cameras), 0) from test_audit
		where type='device.import' order by seq desc limit 1`).Scan(&details, &cams); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"inserted": 1`, `"updated": 1`, `"unchanged": 1`, `"deleted": 1`, m465, "NEW-4"} {
		if !strings.Contains(details, want) {
			t.Errorf("audit details %s lack %s", details, want)
		}
	}
	if cams != 5 {
		t.Errorf("the audit entry lists %d cameras, want 5", cams)
	}
	if n := e.count(`select count(*) from test_audit where type='device.decommission'`); n != 0 {
		t.Errorf("%d separate decommission entries", n)
	}

	// A site of mixed retention: one camera of 464 gets its own 관리번호 and
	// 30 days. The export names both 관리번호 as the registry has them, and
	// importing the export changes nothing.
	var one string
	if err := e.pool.QueryRow(e.ctx, `select id::text from devices_cameras where management_no=$1 order by seq limit 1`, m464).Scan(&one); err != nil {
		t.Fatal(err)
	}
	if _, err := e.reg.Update(e.ctx, UpdateRequest{ID: one, Fields: CameraFields{ManagementNo: m464 + "-A", RetentionDays: 30},
		Mask: []string{"management_no", "retention_days"}}, e.actor); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := e.reg.ExportOpenData(e.ctx, &buf, ExportOptions{Encoding: EncodingUTF8}); err != nil {
		t.Fatal(err)
	}
	exported := buf.String()
	rows, bad, err := ParseOpenData(strings.NewReader(exported), ParseOptions{})
	if err != nil || len(bad) != 0 {
		t.Fatal(bad, err)
	}
	got := map[string]int{}
	for _, r := range rows {
		got[r.ManagementNo] = r.CameraCount
		if r.UpdatedAt == "" {
			t.Errorf("row %s without 데이터갱신시점", r.ManagementNo)
		}
		if n := e.count(`select count(*) from devices_cameras where management_no=$1`, r.ManagementNo); n == 0 {
			t.Errorf("exported 관리번호 %s is not in the registry", r.ManagementNo)
		}
	}
	if got[m464] != 9 || got[m464+"-A"] != 1 || got[m463] != 3 || len(got) != 4 {
		t.Fatalf("exported rows %v", got)
	}
	res, err = e.reg.ImportOpenData(e.ctx, strings.NewReader(exported), ImportOptions{}, e.actor)
	if err != nil || res.Unchanged != 4 || res.Updated+res.Inserted+res.Deleted+res.Refused != 0 {
		t.Fatalf("re-importing the export: %+v %v", res, err)
	}
}
