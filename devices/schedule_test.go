package devices

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func kst(s string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04", s, Seoul)
	if err != nil {
		panic(err)
	}
	return t
}

func TestScheduled(t *testing.T) {
	// 2026-11-23 is a Monday.
	cases := []struct {
		sched string
		at    string
		want  bool
	}{
		{"24시간", "2026-11-23 03:00", true},
		{"24h", "2026-11-29 23:59", true},
		{"평일 07:00~09:00, 17:00~20:00", "2026-11-23 07:00", true},
		{"평일 07:00~09:00, 17:00~20:00", "2026-11-23 08:59", true},
		{"평일 07:00~09:00, 17:00~20:00", "2026-11-23 09:00", false},
		{"평일 07:00~09:00, 17:00~20:00", "2026-11-23 18:30", true},
		{"평일 07:00~09:00, 17:00~20:00", "2026-11-28 08:00", false}, // Saturday
		{"평일 07:00 ~ 09:00 , 17:00~20:00", "2026-11-27 17:00", true},
		{"주말 10:00~18:00", "2026-11-29 12:00", true},
		{"주말 10:00~18:00", "2026-11-24 12:00", false},
		{"월,수,금 09:00~18:00", "2026-11-25 10:00", true},
		{"월,수,금 09:00~18:00", "2026-11-24 10:00", false},
		{"월~수 09:00~18:00", "2026-11-24 10:00", true},
		{"mon-fri 22:00~06:00", "2026-11-28 05:00", true},  // Saturday early morning belongs to Friday night
		{"mon-fri 22:00~06:00", "2026-11-23 05:00", false}, // Monday early morning belongs to Sunday
		{"mon-fri 22:00~06:00", "2026-11-23 22:00", true},
		{"02-01~05-15, 11-01~12-15", "2026-11-23 03:00", true}, // fire season
		{"02-01~05-15, 11-01~12-15", "2026-12-16 00:00", false},
		{"02-01~05-15,11-01~12-15", "2026-05-15 23:59", true},
		{"11-01~05-15", "2027-01-10 12:00", true}, // wraps over new year
		{"11-01~05-15", "2026-06-01 12:00", false},
		{"2026-11-01~2026-11-30 09:00~18:00", "2026-11-23 10:00", true},
		{"2026-11-01~2026-11-30 09:00~18:00", "2027-11-23 10:00", false},
		{"평일 07:00~09:00; 주말 24시간", "2026-11-28 03:00", true},
		{"평일 07:00~09:00; 주말 24시간", "2026-11-23 03:00", false},
		{"매일 00:00~24:00", "2026-11-23 23:59", true},
	}
	for _, c := range cases {
		s, err := ParseSchedule(c.sched)
		if err != nil {
			t.Errorf("ParseSchedule(%q): %v", c.sched, err)
			continue
		}
		if got := s.Scheduled(kst(c.at)); got != c.want {
			t.Errorf("%q at %s: %v, want %v", c.sched, c.at, got, c.want)
		}
		// The canonical form means the same.
		s2, err := ParseSchedule(s.String())
		if err != nil || s2.Scheduled(kst(c.at)) != c.want || s2.String() != s.String() {
			t.Errorf("canonical %q of %q: %v", s.String(), c.sched, err)
		}
	}
	// The default location is Korea: 23:30 UTC on Sunday is Monday 08:30 KST.
	s := MustParseSchedule("평일 07:00~09:00")
	if !s.Scheduled(time.Date(2026, 11, 22, 23, 30, 0, 0, time.UTC)) {
		t.Error("not evaluated in Korea Standard Time")
	}
}

func TestParseScheduleRejects(t *testing.T) {
	for _, bad := range []string{
		"", " ; ", "단속기간 내", "25:00~26:00", "07:00~07:00", "07:60~08:00", "07:00-09:00x",
		"평일 평일", "07:00~08:00 09:00~10:00", "02-30~03-01", "13-01~13-02", "2026-12-01~2026-11-01",
		"2026-02-29~2026-03-01", "11-01~2026-12-01", "24:00~01:00", "foo",
	} {
		if _, err := ParseSchedule(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseSchedule(%q) = %v, want ErrInvalid", bad, err)
		}
	}
}

func TestPurposeTable(t *testing.T) {
	// Every local category of the domain description maps to a national one.
	for local, want := range map[string]string{
		"방범": NationalLivingCrime, "생활방범": NationalLivingCrime, "차량방범": NationalVehicle, "어린이보호": NationalChild,
		"어린이안전": NationalChild, "초등학교": NationalChild, "쓰레기단속(무단투기)": NationalWaste,
		"시설물관리(청사)": NationalFacility, "문화재관리": NationalFacility, "재난재해(재난감시)": NationalDisaster,
		"산불감시": NationalDisaster, "양식장감시": NationalOther, "불법어로감시": NationalOther,
		"주정차단속": NationalTrafficEnf, "교통단속(버스전용차로, 노후경유차)": NationalTrafficEnf, "버스전용차로": NationalTrafficEnf,
		"노후경유차": NationalTrafficEnf, "교통정보수집": NationalTrafficInfo, "생태통로관찰": NationalOther,
		"다목적": NationalMulti, "기타": NationalOther,
	} {
		p, err := LookupPurpose(local)
		if err != nil || p.National != want || !p.Basis.Valid() {
			t.Errorf("LookupPurpose(%q) = %+v, %v; want %s", local, p, err, want)
		}
	}
	for _, n := range NationalPurposes {
		if p, err := LookupPurpose(n); err != nil || p.National != n {
			t.Errorf("national %q does not map to itself: %+v %v", n, p, err)
		}
	}
	if _, err := LookupPurpose("감시"); !errors.Is(err, ErrInvalid) {
		t.Errorf("unknown purpose: %v", err)
	}
	// A city's own label maps to a known purpose named in parentheses.
	for in, want := range map[string]PurposeInfo{
		"불법주정차단속 (주정차단속)":    {Local: "불법주정차단속 (주정차단속)", National: NationalTrafficEnf, Basis: BasisTrafficEnforce},
		"수도권 대기환경 단속（노후경유차）": {Local: "수도권 대기환경 단속 (노후경유차)", National: NationalTrafficEnf, Basis: BasisTrafficEnforce},
		"자연환경 감시(생태통로관찰)":    {Local: "자연환경 감시 (생태통로관찰)", National: NationalOther, Basis: BasisLaw},
	} {
		if p, err := LookupPurpose(in); err != nil || p != want {
			t.Errorf("LookupPurpose(%q) = %+v, %v; want %+v", in, p, err, want)
		} else if l := PurposeLabel(p.Local); l != strings.SplitN(want.Local, " (", 2)[0] {
			t.Errorf("PurposeLabel(%q) = %q", p.Local, l)
		}
	}
	for _, bad := range []string{"불법주정차단속", "불법주정차단속 (감시)", "(주정차단속)", "불법주정차단속 ()"} {
		if _, err := LookupPurpose(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("LookupPurpose(%q): %v", bad, err)
		}
	}
	if l := PurposeLabel("쓰레기단속(무단투기)"); l != "쓰레기단속(무단투기)" {
		t.Errorf("a known purpose's label changed: %q", l)
	}
	if p, _ := LookupPurpose("주정차단속"); p.Basis != BasisTrafficEnforce {
		t.Errorf("주정차단속 basis %d", p.Basis)
	}
}

func TestBandOf(t *testing.T) {
	for _, c := range []struct {
		days int
		ns   bool
		want RetentionBand
	}{{7, false, BandMonth}, {30, false, BandMonth}, {60, false, BandThreeMonth}, {90, false, BandThreeMonth},
		{180, false, BandYear}, {365, false, BandYear}, {730, false, BandOverYear}, {0, true, BandNotStored}} {
		if got := BandOf(c.days, c.ns); got != c.want {
			t.Errorf("BandOf(%d,%v) = %s, want %s", c.days, c.ns, got, c.want)
		}
	}
}
