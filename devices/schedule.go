package devices

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Seoul is Korea Standard Time (UTC+9, no daylight saving time). It is a
// fixed zone so that schedules do not depend on the host's tz database.
var Seoul = time.FixedZone("KST", 9*60*60)

// MaxScheduleLen bounds the text of a schedule.
const MaxScheduleLen = 512

// Schedule is a camera's recording schedule (촬영시간). Its text form is one
// or more clauses separated by ";" or a new line; a time is scheduled when
// any clause covers it. A clause is a sequence of parts separated by spaces,
// each optional, at most one of each kind:
//
//   - dates: month-day ranges "11-01~05-15" (wrapping over new year; "11/01"
//     also accepted) or absolute ranges "2026-11-01~2027-05-15", comma-separated;
//   - days: 매일, 평일 (Mon–Fri), 주말 (Sat, Sun), lists and ranges of 월 화 수
//     목 금 토 일 ("월,수,금", "월~금"), or English mon…sun, daily, weekdays,
//     weekends;
//   - times: "07:00~09:00, 17:00~20:00" (end exclusive, an end before the
//     start runs past midnight, "24:00" is the end of the day), or 24시간 / 24h.
//
// Missing parts mean "always": "24시간" records all the time, "평일
// 07:00~09:00, 17:00~20:00" on weekday rush hours, "02-01~05-15, 11-01~12-15"
// (a fire season) all day on those dates. Ranges are inclusive of both dates.
type Schedule struct {
	Clauses []ScheduleClause
}

// ScheduleClause is one clause of a Schedule. Nil slices mean "always".
type ScheduleClause struct {
	Dates []DateRange
	Days  []time.Weekday // nil = every day
	Times []TimeWindow   // nil = all day
}

// DateRange is an inclusive range of dates. When Year is zero in both ends
// the range recurs every year (and may wrap over new year).
type DateRange struct {
	FromYear, ToYear int
	From, To         MonthDay
}

// MonthDay is a day of the year.
type MonthDay struct {
	Month time.Month
	Day   int
}

// TimeWindow is a daily window in minutes after midnight, [Start, End).
// End < Start runs past midnight.
type TimeWindow struct {
	Start, End int
}

// AlwaysSchedule records all the time.
var AlwaysSchedule = Schedule{Clauses: []ScheduleClause{{}}}

var dayNames = map[string]time.Weekday{
	"일": time.Sunday, "월": time.Monday, "화": time.Tuesday, "수": time.Wednesday,
	"목": time.Thursday, "금": time.Friday, "토": time.Saturday,
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

var koDay = [7]string{"일", "월", "화", "수", "목", "금", "토"}

// ParseSchedule parses and validates the text form of a schedule. An empty
// text is an error: say "24시간".
func ParseSchedule(text string) (Schedule, error) {
	if len(text) > MaxScheduleLen {
		return Schedule{}, fmt.Errorf("%w: schedule longer than %d bytes", ErrInvalid, MaxScheduleLen)
	}
	if !utf8.ValidString(text) {
		return Schedule{}, fmt.Errorf("%w: schedule is not valid UTF-8", ErrInvalid)
	}
	var s Schedule
	for _, raw := range strings.FieldsFunc(text, func(r rune) bool { return r == ';' || r == '\n' || r == '\r' }) {
		if strings.TrimSpace(raw) == "" {
			continue
		}
		c, err := parseClause(raw)
		if err != nil {
			return Schedule{}, fmt.Errorf("%w: schedule %q: %v", ErrInvalid, strings.TrimSpace(raw), err)
		}
		s.Clauses = append(s.Clauses, c)
	}
	if len(s.Clauses) == 0 {
		return Schedule{}, fmt.Errorf("%w: empty schedule (write 24시간 to record all the time)", ErrInvalid)
	}
	return s, nil
}

// MustParseSchedule is ParseSchedule that panics; for constants.
func MustParseSchedule(text string) Schedule {
	s, err := ParseSchedule(text)
	if err != nil {
		panic(err)
	}
	return s
}

func parseClause(raw string) (ScheduleClause, error) {
	// Glue comma- and tilde-separated lists back together: "07:00 ~ 09:00,
	// 17:00~20:00" is one part.
	r := strings.NewReplacer("～", "~", "〜", "~", "，", ",")
	raw = r.Replace(raw)
	var b strings.Builder
	fields := strings.Fields(raw)
	for i, f := range fields {
		if i > 0 {
			prev := fields[i-1]
			if !strings.HasSuffix(prev, ",") && !strings.HasSuffix(prev, "~") &&
				!strings.HasPrefix(f, ",") && !strings.HasPrefix(f, "~") {
				b.WriteByte(' ')
			}
		}
		b.WriteString(f)
	}
	var c ScheduleClause
	var haveDates, haveDays, haveTimes bool
	for _, part := range strings.Fields(b.String()) {
		lp := strings.ToLower(part)
		switch {
		case lp == "24시간" || lp == "24h" || lp == "상시" || lp == "always":
			if haveTimes {
				return c, fmt.Errorf("two time parts")
			}
			haveTimes = true
		case strings.Contains(part, ":"):
			if haveTimes {
				return c, fmt.Errorf("two time parts")
			}
			haveTimes = true
			for _, w := range strings.Split(part, ",") {
				tw, err := parseWindow(w)
				if err != nil {
					return c, err
				}
				c.Times = append(c.Times, tw)
			}
		case len(part) > 0 && part[0] >= '0' && part[0] <= '9':
			if haveDates {
				return c, fmt.Errorf("two date parts")
			}
			haveDates = true
			for _, d := range strings.Split(part, ",") {
				dr, err := parseDateRange(d)
				if err != nil {
					return c, err
				}
				c.Dates = append(c.Dates, dr)
			}
		default:
			if haveDays {
				return c, fmt.Errorf("two day parts")
			}
			haveDays = true
			days, err := parseDays(lp)
			if err != nil {
				return c, err
			}
			c.Days = days
		}
	}
	return c, nil
}

func parseHM(s string) (int, error) {
	h, m, ok := strings.Cut(s, ":")
	if !ok || len(h) < 1 || len(h) > 2 || len(m) != 2 {
		return 0, fmt.Errorf("bad time %q (want HH:MM)", s)
	}
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil || hh < 0 || mm < 0 || mm > 59 || hh > 24 || (hh == 24 && mm != 0) {
		return 0, fmt.Errorf("bad time %q (want HH:MM)", s)
	}
	return hh*60 + mm, nil
}

func parseWindow(s string) (TimeWindow, error) {
	a, b, ok := strings.Cut(s, "~")
	if !ok {
		return TimeWindow{}, fmt.Errorf("bad time window %q (want HH:MM~HH:MM)", s)
	}
	start, err := parseHM(a)
	if err != nil {
		return TimeWindow{}, err
	}
	end, err := parseHM(b)
	if err != nil {
		return TimeWindow{}, err
	}
	if start == 24*60 {
		return TimeWindow{}, fmt.Errorf("window %q starts at 24:00", s)
	}
	if start == end {
		return TimeWindow{}, fmt.Errorf("empty time window %q", s)
	}
	return TimeWindow{start, end}, nil
}

func parseDate(s string) (year int, md MonthDay, err error) {
	s = strings.ReplaceAll(s, "/", "-")
	s = strings.ReplaceAll(s, ".", "-")
	parts := strings.Split(s, "-")
	var y, m, d string
	switch len(parts) {
	case 2:
		m, d = parts[0], parts[1]
	case 3:
		y, m, d = parts[0], parts[1], parts[2]
	default:
		return 0, md, fmt.Errorf("bad date %q (want MM-DD or YYYY-MM-DD)", s)
	}
	if y != "" {
		if year, err = strconv.Atoi(y); err != nil || len(y) != 4 || year < 1900 || year > 9999 {
			return 0, md, fmt.Errorf("bad year in %q", s)
		}
	}
	mm, err1 := strconv.Atoi(m)
	dd, err2 := strconv.Atoi(d)
	if err1 != nil || err2 != nil || len(m) > 2 || len(d) > 2 || mm < 1 || mm > 12 || dd < 1 {
		return 0, md, fmt.Errorf("bad date %q", s)
	}
	maxDay := 31
	if year != 0 {
		maxDay = time.Date(year, time.Month(mm)+1, 0, 0, 0, 0, 0, time.UTC).Day()
	} else if mm == 2 {
		maxDay = 29
	} else if mm == 4 || mm == 6 || mm == 9 || mm == 11 {
		maxDay = 30
	}
	if dd > maxDay {
		return 0, md, fmt.Errorf("bad date %q: day out of range", s)
	}
	return year, MonthDay{time.Month(mm), dd}, nil
}

func parseDateRange(s string) (DateRange, error) {
	a, b, ok := strings.Cut(s, "~")
	if !ok {
		return DateRange{}, fmt.Errorf("bad date range %q (want MM-DD~MM-DD)", s)
	}
	y1, from, err := parseDate(a)
	if err != nil {
		return DateRange{}, err
	}
	y2, to, err := parseDate(b)
	if err != nil {
		return DateRange{}, err
	}
	if (y1 == 0) != (y2 == 0) {
		return DateRange{}, fmt.Errorf("date range %q mixes recurring and absolute dates", s)
	}
	dr := DateRange{y1, y2, from, to}
	if y1 != 0 && dr.absKey(true) > dr.absKey(false) {
		return DateRange{}, fmt.Errorf("date range %q ends before it starts", s)
	}
	return dr, nil
}

func (d DateRange) absKey(from bool) int {
	if from {
		return d.FromYear*10000 + int(d.From.Month)*100 + d.From.Day
	}
	return d.ToYear*10000 + int(d.To.Month)*100 + d.To.Day
}

func parseDays(s string) ([]time.Weekday, error) {
	switch s {
	case "매일", "daily", "everyday":
		return nil, nil
	case "평일", "weekdays", "weekday":
		return []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday}, nil
	case "주말", "weekends", "weekend":
		return []time.Weekday{time.Saturday, time.Sunday}, nil
	}
	var set [7]bool
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSuffix(item, "요일")
		a, b, isRange := strings.Cut(item, "~")
		if !isRange {
			a, b, isRange = strings.Cut(item, "-")
		}
		da, ok := dayNames[strings.TrimSuffix(a, "요일")]
		if !ok {
			return nil, fmt.Errorf("unknown day %q (use 매일, 평일, 주말, 월…일, mon…sun)", item)
		}
		if !isRange {
			set[da] = true
			continue
		}
		db, ok := dayNames[strings.TrimSuffix(b, "요일")]
		if !ok {
			return nil, fmt.Errorf("unknown day %q", item)
		}
		for d := da; ; d = (d + 1) % 7 {
			set[d] = true
			if d == db {
				break
			}
		}
	}
	var out []time.Weekday
	// Monday first, Sunday last, as Koreans read a week.
	for _, d := range []time.Weekday{1, 2, 3, 4, 5, 6, 0} {
		if set[d] {
			out = append(out, d)
		}
	}
	return out, nil
}

// Scheduled reports whether the schedule records at t, in Korea Standard Time.
func (s Schedule) Scheduled(t time.Time) bool { return s.ScheduledIn(t, Seoul) }

// ScheduledIn reports whether the schedule records at t in the given location.
func (s Schedule) ScheduledIn(t time.Time, loc *time.Location) bool {
	t = t.In(loc)
	for _, c := range s.Clauses {
		if c.covers(t) {
			return true
		}
	}
	return false
}

func (c ScheduleClause) covers(t time.Time) bool {
	min := t.Hour()*60 + t.Minute()
	if c.Times == nil {
		return c.dayOK(t)
	}
	for _, w := range c.Times {
		if w.End > w.Start {
			if min >= w.Start && min < w.End && c.dayOK(t) {
				return true
			}
			continue
		}
		// Past midnight: the part after midnight belongs to the previous
		// day's window.
		if min >= w.Start && c.dayOK(t) {
			return true
		}
		if min < w.End && c.dayOK(t.AddDate(0, 0, -1)) {
			return true
		}
	}
	return false
}

func (c ScheduleClause) dayOK(t time.Time) bool {
	if c.Days != nil {
		ok := false
		for _, d := range c.Days {
			if t.Weekday() == d {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	if c.Dates == nil {
		return true
	}
	for _, d := range c.Dates {
		if d.contains(t) {
			return true
		}
	}
	return false
}

func (d DateRange) contains(t time.Time) bool {
	if d.FromYear != 0 {
		k := t.Year()*10000 + int(t.Month())*100 + t.Day()
		return k >= d.absKey(true) && k <= d.absKey(false)
	}
	k := int(t.Month())*100 + t.Day()
	from := int(d.From.Month)*100 + d.From.Day
	to := int(d.To.Month)*100 + d.To.Day
	if from <= to {
		return k >= from && k <= to
	}
	return k >= from || k <= to
}

// IsAlways reports whether the schedule records all the time.
func (s Schedule) IsAlways() bool {
	for _, c := range s.Clauses {
		if c.Dates == nil && c.Days == nil && c.Times == nil {
			return true
		}
	}
	return false
}

// String returns the canonical text form, which ParseSchedule reads back
// to the same schedule.
func (s Schedule) String() string {
	if s.IsAlways() {
		return "24시간"
	}
	parts := make([]string, 0, len(s.Clauses))
	for _, c := range s.Clauses {
		parts = append(parts, c.String())
	}
	return strings.Join(parts, "; ")
}

func hm(m int) string { return fmt.Sprintf("%02d:%02d", m/60, m%60) }

func (d DateRange) String() string {
	f := func(y int, md MonthDay) string {
		if y != 0 {
			return fmt.Sprintf("%04d-%02d-%02d", y, md.Month, md.Day)
		}
		return fmt.Sprintf("%02d-%02d", md.Month, md.Day)
	}
	return f(d.FromYear, d.From) + "~" + f(d.ToYear, d.To)
}

// String returns the canonical text form of the clause.
func (c ScheduleClause) String() string {
	var parts []string
	if c.Dates != nil {
		ds := make([]string, len(c.Dates))
		for i, d := range c.Dates {
			ds[i] = d.String()
		}
		parts = append(parts, strings.Join(ds, ","))
	}
	if c.Days != nil {
		parts = append(parts, daysString(c.Days))
	}
	if c.Times != nil {
		ws := make([]string, len(c.Times))
		for i, w := range c.Times {
			ws[i] = hm(w.Start) + "~" + hm(w.End)
		}
		parts = append(parts, strings.Join(ws, ","))
	} else {
		parts = append(parts, "24시간")
	}
	return strings.Join(parts, " ")
}

func daysString(days []time.Weekday) string {
	var set [7]bool
	for _, d := range days {
		set[d] = true
	}
	switch set {
	case [7]bool{false, true, true, true, true, true, false}:
		return "평일"
	case [7]bool{true, false, false, false, false, false, true}:
		return "주말"
	case [7]bool{true, true, true, true, true, true, true}:
		return "매일"
	}
	var out []string
	for _, d := range []time.Weekday{1, 2, 3, 4, 5, 6, 0} {
		if set[d] {
			out = append(out, koDay[d])
		}
	}
	return strings.Join(out, ",")
}
