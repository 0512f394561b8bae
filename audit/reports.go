package audit

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"net"
	"sort"
	"strings"
	"time"

	"github.com/gwanje/gwanje/internal/xlsx"
)

// LedgerKind is a row kind (구분) of the ledger 개인영상정보 관리대장.
type LedgerKind string

// Ledger kinds.
const (
	LedgerUse     LedgerKind = "이용"
	LedgerProvide LedgerKind = "제공"
	LedgerView    LedgerKind = "열람"
	LedgerDestroy LedgerKind = "파기"
)

// DefaultLedgerTypes maps entry types to ledger kinds; a key ending in ".*"
// matches a type prefix. Only successful entries make ledger rows. The
// ledger.* types are for entries written for the ledger alone (e.g. a
// viewing done on paper); the others are the actions as audited.
var DefaultLedgerTypes = LedgerTypes()

// Detail keys the ledger reads from Entry.Details (all optional strings).
const (
	DetailFile      = "file"      // 파일명/형태
	DetailWitness   = "witness"   // 관리책임자·입회자 확인
	DetailRecipient = "recipient" // 이용·제공받는 제3자 / 열람등 요구자 (소속/계급/성명/연락처)
	DetailBasis     = "basis"     // 이용·제공 근거 (문서번호, 보안서약, 법 조항)
	DetailForm      = "form"      // 이용·제공 형태 (동영상/사진; USB/온라인)
	DetailPeriod    = "period"    // 기간: retention, scheduled destruction, result, safeguards
)

// PurposeLabels are the Korean names of the purpose-of-viewing codes.
var PurposeLabels = map[string]string{
	"crime_prevention":    "범죄 예방·수사",
	"facility_safety":     "시설안전·화재예방",
	"traffic_enforcement": "교통단속",
	"traffic_info":        "교통정보 수집·분석",
	"disaster_response":   "재난·재해 대응",
	"subject_request":     "정보주체 열람 청구 처리",
	"maintenance":         "유지보수·점검",
	"other":               "기타",
}

func purposeLabel(code, text string) string {
	s := code
	if l, ok := PurposeLabels[code]; ok {
		s = code + " (" + l + ")"
	}
	if text != "" {
		if s != "" {
			s += ": "
		}
		s += text
	}
	return s
}

// CameraNamer names cameras for the ledger (파일명 names the place, never
// an id); devices.Registry through control.LedgerCameras implements it.
type CameraNamer interface {
	// CameraName is the camera's name and place, e.g. "교차로 1번
	// (중앙사거리)".
	CameraName(ctx context.Context, id string) (string, error)
}

// SetCameraNamer gives the ledger the registry's camera names (the
// registry is built after the audit store it audits into). Until it is
// set, or for a camera it does not know, the ledger says "카메라 미상".
func (s *Store) SetCameraNamer(n CameraNamer) { s.namer.Store(&n) }

func (s *Store) cameraNames(ctx context.Context, ids []string, cache map[string]string) string {
	names := make([]string, 0, len(ids))
	np := s.namer.Load()
	for _, id := range ids {
		name, ok := cache[id]
		if !ok && np != nil {
			name, _ = (*np).CameraName(ctx, id)
			cache[id] = name
		}
		if name == "" {
			name = "카메라 미상"
		}
		names = append(names, name)
	}
	return strings.Join(names, ", ")
}

// LedgerRow is one row of the ledger.
type LedgerRow struct {
	No        int
	Seq       int64
	Kind      LedgerKind
	Time      time.Time
	File      string
	Handler   string
	Purpose   string
	Party     string
	Basis     string
	Form      string
	Period    string
	EntryType string
}

// LedgerHeader is the ledger's column row (DOMAIN.md).
var LedgerHeader = []string{"번호", "구분", "일시", "파일명/형태", "담당자", "목적/사유",
	"이용·제공받는 제3자/열람등 요구자", "이용·제공 근거", "이용·제공 형태", "기간", "감사 일련번호", "유형"}

func (s *Store) ledgerKind(typ string) (LedgerKind, bool) {
	if k, ok := s.cfg.Ledger[typ]; ok {
		return k, true
	}
	for p, k := range s.cfg.Ledger {
		if pre, ok := strings.CutSuffix(p, "*"); ok && strings.HasPrefix(typ, pre) {
			return k, true
		}
	}
	return "", false
}

// Ledger returns the ledger rows for entries with from <= time < to.
func (s *Store) Ledger(ctx context.Context, from, to time.Time) ([]LedgerRow, error) {
	var types []string
	for t := range s.cfg.Ledger {
		types = append(types, t)
	}
	var out []LedgerRow
	names := map[string]string{}
	err := s.each(ctx, Filter{From: from, To: to, Types: types, Outcome: Success}, func(st *Stored) error {
		kind, ok := s.ledgerKind(st.Entry.Type)
		if !ok {
			return nil
		}
		e := &st.Entry
		d := func(k string) string {
			if v, ok := e.Details[k]; ok && v != nil {
				return fmt.Sprint(v)
			}
			return ""
		}
		r := LedgerRow{No: len(out) + 1, Seq: st.Seq, Kind: kind, Time: e.Time.In(s.cfg.Location), EntryType: e.Type,
			File: d(DetailFile), Party: d(DetailRecipient), Basis: d(DetailBasis), Form: d(DetailForm)}
		if r.File == "" && len(e.Cameras) > 0 {
			r.File = s.cameraNames(ctx, e.Cameras, names)
			if e.FootageFrom != nil || e.FootageTo != nil {
				r.File += " 영상 " + s.fmtRange(e.FootageFrom, e.FootageTo)
			} else {
				r.File += " 실시간 영상 " + s.fmtTime(e.Time)
			}
		}
		r.Handler = strings.TrimSpace(strings.Join(nonEmpty(e.Actor.Username, e.Actor.Role, e.Actor.Org), " / "))
		if w := d(DetailWitness); w != "" {
			r.Handler += " (확인: " + w + ")"
		}
		r.Purpose = purposeLabel(e.Purpose, e.PurposeText)
		if e.Reason != "" {
			r.Purpose = strings.Join(nonEmpty(r.Purpose, e.Reason), "; ")
		}
		var period []string
		if e.FootageFrom != nil || e.FootageTo != nil {
			period = append(period, "촬영 "+s.fmtRange(e.FootageFrom, e.FootageTo))
		}
		if p := d(DetailPeriod); p != "" {
			period = append(period, p)
		}
		r.Period = strings.Join(period, "; ")
		out = append(out, r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

func (s *Store) fmtTime(t time.Time) string {
	return t.In(s.cfg.Location).Format("2006-01-02 15:04:05")
}

func (s *Store) fmtRange(from, to *time.Time) string {
	var a, b string
	if from != nil {
		a = s.fmtTime(*from)
	}
	if to != nil {
		b = s.fmtTime(*to)
	}
	return a + " ~ " + b
}

func (s *Store) ledgerRecords(rows []LedgerRow) [][]string {
	out := [][]string{LedgerHeader}
	for _, r := range rows {
		out = append(out, []string{fmt.Sprint(r.No), string(r.Kind), s.fmtTime(r.Time), r.File, r.Handler, r.Purpose,
			r.Party, r.Basis, r.Form, r.Period, fmt.Sprint(r.Seq), r.EntryType})
	}
	return out
}

// WriteLedgerCSV writes the ledger for from <= time < to as CSV (UTF-8 with
// a byte-order mark, so that spreadsheet programs read the Korean).
func (s *Store) WriteLedgerCSV(ctx context.Context, w io.Writer, from, to time.Time) error {
	rows, err := s.Ledger(ctx, from, to)
	if err != nil {
		return err
	}
	return writeCSV(w, s.ledgerRecords(rows))
}

// WriteLedgerXLSX writes the ledger for from <= time < to as an XLSX
// workbook with one sheet, 개인영상정보 관리대장.
func (s *Store) WriteLedgerXLSX(ctx context.Context, w io.Writer, from, to time.Time) error {
	rows, err := s.Ledger(ctx, from, to)
	if err != nil {
		return err
	}
	title := fmt.Sprintf("개인영상정보 관리대장 (%s ~ %s)", from.In(s.cfg.Location).Format("2006-01-02"), to.In(s.cfg.Location).Format("2006-01-02"))
	return writeXLSX(w, []sheet{{Name: "개인영상정보 관리대장", Title: title, Records: s.ledgerRecords(rows)}})
}

func writeCSV(w io.Writer, records [][]string) error {
	if _, err := io.WriteString(w, "\uFEFF"); err != nil {
		return fmt.Errorf("audit: csv: %w", err)
	}
	cw := csv.NewWriter(w)
	if err := cw.WriteAll(records); err != nil {
		return fmt.Errorf("audit: csv: %w", err)
	}
	return nil
}

type sheet = xlsx.Sheet

func writeXLSX(w io.Writer, sheets []sheet) error { return xlsx.Write(w, sheets) }

// ReviewConfig tunes the monthly access-log review (접속기록 점검).
type ReviewConfig struct {
	// ViewTypes are the entry types reviewed. Default live.view.start,
	// playback.start, export.*, snapshot.*.
	ViewTypes []string
	// LoginTypes are successful-login types; their client addresses are an
	// account's usual addresses. Default auth.login.
	LoginTypes []string
	// BaselineDays before the month give each account's usual hours and
	// addresses. Default 90.
	BaselineDays int
	// UsualHourShare: an hour of day is usual for an account when at least
	// this share of its baseline views fell in it (or next to it).
	// Default 0.02.
	UsualHourShare float64
	// MinBaseline views are needed before hours are judged; with fewer, the
	// month itself is the baseline. Default 20.
	MinBaseline int
	// ManyCameras distinct cameras viewed by one account within
	// ManyCamerasWindow are flagged. Defaults 20 and 10 minutes.
	ManyCameras       int
	ManyCamerasWindow time.Duration
	// FarPast: playback of footage older than this at viewing time is
	// flagged. Default 14 days.
	FarPast time.Duration
}

func (c *ReviewConfig) defaults() {
	if c.ViewTypes == nil {
		c.ViewTypes = ViewTypes()
	}
	if c.LoginTypes == nil {
		c.LoginTypes = []string{"auth.login"}
	}
	if c.BaselineDays <= 0 {
		c.BaselineDays = 90
	}
	if c.UsualHourShare <= 0 {
		c.UsualHourShare = 0.02
	}
	if c.MinBaseline <= 0 {
		c.MinBaseline = 20
	}
	if c.ManyCameras <= 0 {
		c.ManyCameras = 20
	}
	if c.ManyCamerasWindow <= 0 {
		c.ManyCamerasWindow = 10 * time.Minute
	}
	if c.FarPast <= 0 {
		c.FarPast = 14 * 24 * time.Hour
	}
}

// Review flags.
const (
	FlagOffHours       = "off_hours"       // 평소 시간대 외 열람
	FlagManyCameras    = "many_cameras"    // 단시간 다수 카메라 열람
	FlagFarPast        = "far_past"        // 오래된 영상 재생
	FlagUnusualAddress = "unusual_address" // 평소 접속 주소 외 열람
)

var flagLabels = map[string]string{
	FlagOffHours: "평소 시간대 외 열람", FlagManyCameras: "단시간 다수 카메라 열람",
	FlagFarPast: "오래된 영상 재생", FlagUnusualAddress: "평소 접속 주소 외 열람",
}

// ReviewRow is one view of the month with its flags.
type ReviewRow struct {
	Stored
	Flags []string
}

// ReviewSummary is one account's month.
type ReviewSummary struct {
	UserID, Username string
	Views, Cameras   int
	Flagged          int
}

// Review is the monthly access-log review.
type Review struct {
	Month   time.Time // first instant of the month in Config.Location
	Rows    []ReviewRow
	Summary []ReviewSummary
	loc     *time.Location
}

// AccessReview builds the review of the month containing month (in
// Config.Location): every view, with flags worth a look.
func (s *Store) AccessReview(ctx context.Context, month time.Time) (*Review, error) {
	rc := s.cfg.Review
	loc := s.cfg.Location
	m := month.In(loc)
	start := time.Date(m.Year(), m.Month(), 1, 0, 0, 0, 0, loc)
	end := start.AddDate(0, 1, 0)
	base := start.AddDate(0, 0, -rc.BaselineDays)
	rev := &Review{Month: start, loc: loc}

	hours := map[string]*[24]int{}        // account → baseline views per hour
	baseViews := map[string]int{}         // account → baseline views
	addrs := map[string]map[string]bool{} // account → login hosts
	key := func(e *Entry) string {
		if e.Actor.UserID != "" {
			return e.Actor.UserID
		}
		return "name:" + e.Actor.Username
	}
	countHour := func(e *Entry) {
		k := key(e)
		if hours[k] == nil {
			hours[k] = &[24]int{}
		}
		hours[k][e.Time.In(loc).Hour()]++
		baseViews[k]++
	}
	err := s.each(ctx, Filter{From: base, To: end, Types: rc.LoginTypes, Outcome: Success}, func(st *Stored) error {
		k := key(&st.Entry)
		if addrs[k] == nil {
			addrs[k] = map[string]bool{}
		}
		addrs[k][host(st.Entry.ClientAddr)] = true
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := s.each(ctx, Filter{From: base, To: start, Types: rc.ViewTypes}, func(st *Stored) error {
		countHour(&st.Entry)
		return nil
	}); err != nil {
		return nil, err
	}
	if err := s.each(ctx, Filter{From: start, To: end, Types: rc.ViewTypes}, func(st *Stored) error {
		rev.Rows = append(rev.Rows, ReviewRow{Stored: *st})
		return nil
	}); err != nil {
		return nil, err
	}
	// Accounts without enough baseline views are judged against the month.
	monthViews := map[string]int{}
	for _, r := range rev.Rows {
		monthViews[key(&r.Entry)]++
	}
	useMonth := map[string]bool{}
	for k := range monthViews {
		if baseViews[k] < rc.MinBaseline {
			useMonth[k] = true
			hours[k], baseViews[k] = &[24]int{}, 0
		}
	}
	for _, r := range rev.Rows {
		if useMonth[key(&r.Entry)] {
			countHour(&r.Entry)
		}
	}
	byUser := map[string][]int{}
	for i := range rev.Rows {
		r := &rev.Rows[i]
		e := &r.Entry
		k := key(e)
		byUser[k] = append(byUser[k], i)
		if h := hours[k]; h != nil && baseViews[k] >= rc.MinBaseline {
			hr := e.Time.In(loc).Hour()
			n := h[hr] + h[(hr+23)%24] + h[(hr+1)%24]
			if float64(n) < rc.UsualHourShare*float64(baseViews[k]) {
				r.Flags = append(r.Flags, FlagOffHours)
			}
		}
		if e.FootageFrom != nil && !e.Live && e.Time.Sub(*e.FootageFrom) > rc.FarPast {
			r.Flags = append(r.Flags, FlagFarPast)
		}
		if a := addrs[k]; len(a) > 0 && e.ClientAddr != "" && !a[host(e.ClientAddr)] {
			r.Flags = append(r.Flags, FlagUnusualAddress)
		}
	}
	users := make([]string, 0, len(byUser))
	for k := range byUser {
		users = append(users, k)
	}
	sort.Strings(users)
	for _, k := range users {
		idx := byUser[k]
		all := map[string]bool{}
		lo := 0
		win := map[string]int{}
		for _, i := range idx {
			for _, c := range rev.Rows[i].Entry.Cameras {
				all[c] = true
				win[c]++
			}
			for rev.Rows[i].Entry.Time.Sub(rev.Rows[idx[lo]].Entry.Time) > rc.ManyCamerasWindow {
				for _, c := range rev.Rows[idx[lo]].Entry.Cameras {
					if win[c]--; win[c] == 0 {
						delete(win, c)
					}
				}
				lo++
			}
			if len(win) >= rc.ManyCameras {
				rev.Rows[i].Flags = append(rev.Rows[i].Flags, FlagManyCameras)
			}
		}
		sum := ReviewSummary{UserID: rev.Rows[idx[0]].Entry.Actor.UserID, Username: rev.Rows[idx[0]].Entry.Actor.Username,
			Views: len(idx), Cameras: len(all)}
		for _, i := range idx {
			if len(rev.Rows[i].Flags) > 0 {
				sum.Flagged++
			}
		}
		rev.Summary = append(rev.Summary, sum)
	}
	return rev, nil
}

func host(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

var reviewHeader = []string{"일시", "계정", "이름", "역할", "소속", "접속 주소", "유형", "결과", "카메라",
	"영상 생성일시", "열람목적", "점검 사항", "감사 일련번호"}

func (r *Review) records() [][]string {
	out := [][]string{reviewHeader}
	f := func(t time.Time) string { return t.In(r.loc).Format("2006-01-02 15:04:05") }
	for _, row := range r.Rows {
		e := &row.Entry
		footage := ""
		switch {
		case e.Live:
			footage = "live"
		case e.FootageFrom != nil && e.FootageTo != nil:
			footage = f(*e.FootageFrom) + " ~ " + f(*e.FootageTo)
		case e.FootageFrom != nil:
			footage = f(*e.FootageFrom) + " ~"
		}
		var flags []string
		for _, fl := range row.Flags {
			flags = append(flags, flagLabels[fl]+" ("+fl+")")
		}
		out = append(out, []string{f(e.Time), e.Actor.UserID, e.Actor.Username, e.Actor.Role, e.Actor.Org, e.ClientAddr,
			e.Type, string(e.Outcome), strings.Join(e.Cameras, ", "), footage, purposeLabel(e.Purpose, e.PurposeText),
			strings.Join(flags, "; "), fmt.Sprint(row.Seq)})
	}
	return out
}

// WriteCSV writes the review's rows as CSV (UTF-8 with a byte-order mark).
func (r *Review) WriteCSV(w io.Writer) error { return writeCSV(w, r.records()) }

// WriteXLSX writes the review as an XLSX workbook: a summary per account
// (요약) and every view with its flags (열람기록).
func (r *Review) WriteXLSX(w io.Writer) error {
	sum := [][]string{{"계정", "이름", "열람 건수", "카메라 수", "점검 대상 건수"}}
	for _, s := range r.Summary {
		sum = append(sum, []string{s.UserID, s.Username, fmt.Sprint(s.Views), fmt.Sprint(s.Cameras), fmt.Sprint(s.Flagged)})
	}
	title := "접속기록 점검 " + r.Month.Format("2006-01")
	return writeXLSX(w, []sheet{{Name: "요약", Title: title, Records: sum}, {Name: "열람기록", Title: title, Records: r.records()}})
}
