package policy

import (
	"reflect"
	"testing"
)

func TestDiffLines(t *testing.T) {
	for _, tc := range []struct {
		name string
		a, b []string
		want []Hunk
	}{
		{"equal", []string{"a", "b"}, []string{"a", "b"}, nil},
		{"changed line", []string{"a", "b", "c"}, []string{"a", "B", "c"}, []Hunk{{Before: []string{"b"}, After: []string{"B"}}}},
		{"added", []string{"a"}, []string{"a", "b"}, []Hunk{{After: []string{"b"}}}},
		{"removed", []string{"a", "b"}, []string{"b"}, []Hunk{{Before: []string{"a"}}}},
		{"two hunks", []string{"a", "b", "c", "d"}, []string{"A", "b", "c", "D"},
			[]Hunk{{Before: []string{"a"}, After: []string{"A"}}, {Before: []string{"d"}, After: []string{"D"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := diffLines(tc.a, tc.b); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParticles(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"장흥군", "장흥군은"}, {"인천광역시", "인천광역시는"}, {"○○시", "○○시는"}, {"gwanje", "gwanje는"}, {"미추홀구", "미추홀구는"},
	} {
		if got := topic(tc.in); got != tc.want {
			t.Errorf("topic(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestProposeRevision(t *testing.T) {
	st := Change{Kind: KindStatus}
	out := Change{Kind: KindOutsourcing}
	txt := Change{Kind: KindText, Label: "7. 영상정보의 안전성 확보조치"}
	for _, tc := range []struct {
		name    string
		first   bool
		changes []Change
		want    string
	}{
		{"first", true, nil, "제정"},
		{"status", false, []Change{st, st}, "설치 및 운영현황 현행화"},
		{"outsourcing", false, []Change{out}, "위탁에 관한 사항 현행화"},
		{"both", false, []Change{out, st}, "설치 및 운영현황 현행화; 위탁에 관한 사항 현행화"},
		{"text too", false, []Change{st, txt}, "설치 및 운영현황 현행화; 영상정보의 안전성 확보조치 변경"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ProposeRevision(tc.first, tc.changes); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestNum(t *testing.T) {
	for in, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 3278: "3,278", 370000: "370,000", 1234567: "1,234,567"} {
		if got := num(in); got != want {
			t.Errorf("num(%d) = %q, want %q", in, got, want)
		}
	}
}
