package audit_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/gwanje/gwanje/audit"
	"github.com/gwanje/gwanje/internal/pgtest"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

var kst = time.FixedZone("KST", 9*3600)

func TestLedger(t *testing.T) {
	s := start(t, pgtest.Pool(t), audit.Config{})
	s.SetCameraNamer(namer{"cam-7": "교차로 7번 (중앙사거리)"})
	ctx := context.Background()
	from := time.Date(2026, 4, 1, 10, 0, 0, 0, kst)
	to := from.Add(30 * time.Minute)
	day := time.Date(2026, 5, 3, 14, 0, 0, 0, kst)
	for _, e := range []audit.Entry{
		{Time: day, Type: "playback.start", Outcome: audit.Success, Actor: audit.Actor{Username: "김관제", Role: "operator"},
			Cameras: []string{"cam-7"}, FootageFrom: &from, FootageTo: &to, Purpose: "crime_prevention", PurposeText: "절도 사건 확인"},
		{Time: day.Add(time.Hour), Type: "export.provide", Outcome: audit.Success, Actor: audit.Actor{Username: "이책임", Role: "manager"},
			Cameras: []string{"cam-7"}, FootageFrom: &from, FootageTo: &to, Purpose: "crime_prevention",
			Details: map[string]any{"file": "cam-7_20260401.mp4 (동영상)", "recipient": "OO경찰서 형사과 경위 박OO 010-0000-0000",
				"basis": "공문 제2026-123호, 법 제18조②7", "form": "동영상 / 온라인", "period": "열람기간 2026-06-03까지"}},
		{Time: day.Add(2 * time.Hour), Type: "playback.start", Outcome: audit.Denied, Actor: audit.Actor{Username: "무권한"}},
		{Time: day.Add(3 * time.Hour), Type: "live.view.start", Outcome: audit.Success, Live: true},
		{Time: day.Add(4 * time.Hour), Type: "recording.destroy", Outcome: audit.Success, Actor: audit.Actor{Username: "retention-sweeper"},
			Cameras: []string{"cam-7"}, Reason: "보관기간(30일) 경과", Details: map[string]any{"file": "segments 2026-04-01..02"}},
		{Time: day.AddDate(0, 1, 0), Type: "playback.start", Outcome: audit.Success},
	} {
		if _, err := s.Append(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	mstart := time.Date(2026, 5, 1, 0, 0, 0, 0, kst)
	rows, err := s.Ledger(ctx, mstart, mstart.AddDate(0, 1, 0))
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, r := range rows {
		kinds = append(kinds, string(r.Kind))
	}
	if strings.Join(kinds, ",") != "이용,제공,파기" {
		t.Fatalf("kinds %v", kinds)
	}
	if p := rows[1]; p.Party != "OO경찰서 형사과 경위 박OO 010-0000-0000" || p.Basis == "" || !strings.Contains(p.Period, "촬영 2026-04-01 10:00:00 ~ 2026-04-01 10:30:00") {
		t.Fatalf("provision row: %+v", p)
	}
	if !strings.Contains(rows[0].Purpose, "범죄 예방·수사") || rows[0].File != "교차로 7번 (중앙사거리) 영상 2026-04-01 10:00:00 ~ 2026-04-01 10:30:00" {
		t.Fatalf("use row: %+v", rows[0])
	}

	var buf bytes.Buffer
	if err := s.WriteLedgerCSV(ctx, &buf, mstart, mstart.AddDate(0, 1, 0)); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(buf.String(), "\uFEFF"))).ReadAll()
	if err != nil || len(recs) != 4 || recs[0][0] != "번호" || recs[2][1] != "제공" {
		t.Fatalf("csv: %v %v", recs, err)
	}
	buf.Reset()
	if err := s.WriteLedgerXLSX(ctx, &buf, mstart, mstart.AddDate(0, 1, 0)); err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	xrows, err := f.GetRows("개인영상정보 관리대장")
	if err != nil || len(xrows) != 6 || xrows[2][1] != "구분" || xrows[5][1] != "파기" {
		t.Fatalf("xlsx: %v %v", xrows, err)
	}
}

func TestAccessReview(t *testing.T) {
	s := start(t, pgtest.Pool(t), audit.Config{Location: kst})
	ctx := context.Background()
	add := func(e audit.Entry) {
		t.Helper()
		if _, err := s.Append(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	kim := audit.Actor{UserID: "u-kim", Username: "kim", Role: "operator"}
	// Baseline (March–April): kim logs in from 10.0.0.5 and views in office hours.
	for d := 0; d < 40; d++ {
		at := time.Date(2026, 3, 1+d%28, 9+d%8, 0, 0, 0, kst)
		add(audit.Entry{Time: at, Type: "auth.login", Outcome: audit.Success, Actor: kim, ClientAddr: "10.0.0.5:40000"})
		add(audit.Entry{Time: at.Add(time.Minute), Type: "live.view.start", Outcome: audit.Success, Actor: kim, ClientAddr: "10.0.0.5:40000", Cameras: []string{"cam-1"}, Live: true})
	}
	may := time.Date(2026, 5, 6, 10, 0, 0, 0, kst)
	old := may.AddDate(0, 0, -40)
	add(audit.Entry{Time: may, Type: "live.view.start", Outcome: audit.Success, Actor: kim, ClientAddr: "10.0.0.5:1", Cameras: []string{"cam-1"}, Live: true})
	add(audit.Entry{Time: may.Add(time.Hour), Type: "playback.start", Outcome: audit.Success, Actor: kim, ClientAddr: "10.0.0.5:1", Cameras: []string{"cam-2"}, FootageFrom: &old})
	add(audit.Entry{Time: time.Date(2026, 5, 7, 3, 0, 0, 0, kst), Type: "live.view.start", Outcome: audit.Success, Actor: kim, ClientAddr: "10.0.0.5:1", Cameras: []string{"cam-3"}, Live: true})
	add(audit.Entry{Time: may.Add(2 * time.Hour), Type: "live.view.start", Outcome: audit.Success, Actor: kim, ClientAddr: "203.0.113.9:5", Cameras: []string{"cam-4"}, Live: true})
	for i := 0; i < 25; i++ {
		add(audit.Entry{Time: may.Add(5*time.Hour + time.Duration(i)*10*time.Second), Type: "live.view.start", Outcome: audit.Success, Actor: kim, ClientAddr: "10.0.0.5:1", Cameras: []string{"sweep-" + string(rune('a'+i))}, Live: true})
	}
	rev, err := s.AccessReview(ctx, may)
	if err != nil {
		t.Fatal(err)
	}
	if len(rev.Rows) != 29 || len(rev.Summary) != 1 || rev.Summary[0].Views != 29 || rev.Summary[0].Cameras != 29 {
		t.Fatalf("rows %d summary %+v", len(rev.Rows), rev.Summary)
	}
	flags := func(i int) string { return strings.Join(rev.Rows[i].Flags, ",") }
	for i, want := range []string{"", "far_past", "off_hours", "unusual_address"} {
		if flags(i) != want {
			t.Errorf("row %d (%s): flags %q, want %q", i, rev.Rows[i].Entry.Time.In(kst), flags(i), want)
		}
	}
	if !strings.Contains(flags(28), "many_cameras") || strings.Contains(flags(4), "many_cameras") {
		t.Errorf("many cameras: first %q last %q", flags(4), flags(28))
	}
	var buf bytes.Buffer
	if err := rev.WriteCSV(&buf); err != nil || !strings.Contains(buf.String(), "평소 시간대 외 열람 (off_hours)") {
		t.Fatalf("csv: %v", err)
	}
	buf.Reset()
	if err := rev.WriteXLSX(&buf); err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if rows, err := f.GetRows("요약"); err != nil || len(rows) != 4 || rows[3][0] != "u-kim" {
		t.Fatalf("summary sheet: %v %v", rows, err)
	}
}

func TestRetentionDropsWholeExpiredMonths(t *testing.T) {
	c := &clock{t: time.Date(2023, 1, 10, 0, 0, 0, 0, time.UTC)}
	s := start(t, pgtest.Pool(t), audit.Config{Clock: c.now})
	ctx := context.Background()
	mustAppend(t, s, 5) // 2023-01: access entries only
	c.set(time.Date(2023, 2, 10, 0, 0, 0, 0, time.UTC))
	mustAppend(t, s, 3) // 2023-02: access entries and a grant change
	if _, err := s.Append(ctx, audit.Entry{Type: "grant.create", Outcome: audit.Success}); err != nil {
		t.Fatal(err)
	}
	c.set(time.Date(2025, 3, 10, 0, 0, 0, 0, time.UTC))
	mustAppend(t, s, 2)
	if _, err := s.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	dropped, err := s.DropExpired(ctx, audit.Actor{Username: "retention-job"})
	if err != nil {
		t.Fatal(err)
	}
	// 2023-01 ended more than 24 months before March 2025; 2023-02 holds
	// a grant change, kept 36 months.
	if len(dropped) != 1 || dropped[0].Entries != 5 || dropped[0].LastSeq != 5 {
		t.Fatalf("dropped %+v", dropped)
	}
	rep := mustVerify(t, s, audit.VerifyRange{})
	if !rep.OK || rep.FirstSeq != 6 || !strings.Contains(rep.Anchor, "retention") {
		t.Fatalf("verify after retention: %+v %v", rep, rep.Problem)
	}
	p, err := s.Query(ctx, audit.Filter{Types: []string{"audit.retention.drop"}})
	if err != nil || len(p.Entries) != 1 || p.Entries[0].Entry.Details["month"] != "2023-01" {
		t.Fatalf("retention entry: %+v %v", p.Entries, err)
	}
	// Three years on, the grant month goes too.
	c.set(time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC))
	// (and the empty months made ahead after it)
	if dropped, err = s.DropExpired(ctx, audit.Actor{Username: "retention-job"}); err != nil || len(dropped) < 1 || dropped[0].FirstSeq != 6 || dropped[0].Entries != 4 {
		t.Fatalf("second drop: %+v %v", dropped, err)
	}
	for _, d := range dropped[1:] {
		if d.Entries != 0 {
			t.Fatalf("second drop: %+v", dropped)
		}
	}
	if rep := mustVerify(t, s, audit.VerifyRange{}); !rep.OK || rep.FirstSeq != 10 {
		t.Fatalf("verify after second drop: %+v %v", rep, rep.Problem)
	}
}

// namer names the cameras of the ledger tests.
type namer map[string]string

func (n namer) CameraName(_ context.Context, id string) (string, error) { return n[id], nil }
