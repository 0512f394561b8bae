package devices

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"
)

// FuzzParseOpenData: the import parser never panics, reports bad rows with
// line numbers, and what it accepts survives an export and a re-import
// unchanged.
func FuzzParseOpenData(f *testing.F) {
	f.Add([]byte(goodCSV))
	f.Add([]byte("3000000,A1,기관,주소,,생활방범,2,200,,30,202005,02-1,37.5,127.0,2026-05-18,,,\n"))
	f.Add([]byte(header + "\"unterminated,,,\n"))
	f.Add([]byte(" a , \"b\"\"c\" ,\r\n,,,\r"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rows, bad, err := ParseOpenData(bytes.NewReader(data), ParseOptions{MaxBytes: 1 << 20})
		if err != nil {
			return
		}
		for _, b := range bad {
			if b.Line < 1 || b.Reason == "" {
				t.Fatalf("bad row without line or reason: %+v", b)
			}
		}
		if len(rows) == 0 {
			return
		}
		var buf bytes.Buffer
		if err := WriteOpenData(&buf, rows, EncodingUTF8); err != nil {
			t.Fatalf("write: %v", err)
		}
		again, bad2, err := ParseOpenData(&buf, ParseOptions{Encoding: EncodingUTF8})
		if err != nil || len(bad2) != 0 || len(again) != len(rows) {
			t.Fatalf("re-read: %d rows (want %d), %v, %v\n%q", len(again), len(rows), bad2, err, buf.String())
		}
		for i := range rows {
			a, b := rows[i], again[i]
			a.Line, b.Line = 0, 0
			if !reflect.DeepEqual(a, b) {
				t.Fatalf("row %d changed:\n%+v\n%+v", i, a, b)
			}
		}
	})
}

// FuzzParseSchedule: schedule parsing never panics, and an accepted
// schedule's canonical form parses to the same canonical form and the same
// decisions.
func FuzzParseSchedule(f *testing.F) {
	for _, s := range []string{"24시간", "평일 07:00~09:00, 17:00~20:00", "02-01~05-15, 11-01~12-15",
		"mon-fri 22:00~06:00; 주말 24h", "2026-11-01~2026-11-30 09:00~18:00", "월,수,금 09:00~18:00", "단속기간 내", "~:,;"} {
		f.Add(s)
	}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, Seoul)
	f.Fuzz(func(t *testing.T, text string) {
		s, err := ParseSchedule(text)
		if err != nil {
			if !strings.Contains(err.Error(), "devices: invalid request") {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		canon := s.String()
		s2, err := ParseSchedule(canon)
		if err != nil {
			t.Fatalf("canonical %q of %q does not parse: %v", canon, text, err)
		}
		if s2.String() != canon {
			t.Fatalf("canonical form not stable: %q -> %q", canon, s2.String())
		}
		for h := 0; h < 24*400; h += 37 {
			at := base.Add(time.Duration(h) * time.Hour).Add(time.Duration(h%60) * time.Minute)
			if s.Scheduled(at) != s2.Scheduled(at) {
				t.Fatalf("%q and %q disagree at %v", text, canon, at)
			}
		}
	})
}
