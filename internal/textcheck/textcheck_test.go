package textcheck

import (
	"errors"
	"testing"
)

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want error
	}{
		{"plain", "중앙로 사거리 CAM-01", nil},
		{"empty", "", nil},
		{"emoji and joiners", "a\u200db", nil},
		{"RLO", "admin\u202egnp.exe", ErrBidiControl},
		{"LRE", "\u202ax", ErrBidiControl},
		{"RLE", "\u202bx", ErrBidiControl},
		{"PDF", "x\u202c", ErrBidiControl},
		{"LRO", "\u202dx", ErrBidiControl},
		{"LRI", "\u2066x", ErrBidiControl},
		{"RLI", "\u2067x", ErrBidiControl},
		{"FSI", "\u2068x", ErrBidiControl},
		{"PDI", "x\u2069", ErrBidiControl},
		{"LRM", "x\u200e", ErrBidiControl},
		{"RLM", "x\u200f", ErrBidiControl},
		{"ALM", "x\u061c", ErrBidiControl},
		{"invalid utf-8", "ab\xffc", ErrInvalidUTF8},
		{"replacement char itself is fine", "a\ufffdb", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Check(tc.in)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Check(%q) = %v, want nil", tc.in, err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Check(%q) = %v, want %v", tc.in, err, tc.want)
			}
		})
	}
}

func TestFieldNamesField(t *testing.T) {
	err := Field("display_name", "a\u202eb")
	if err == nil || err.Error() != "display_name contains a bidirectional formatting character U+202E (byte 1)" {
		t.Fatalf("Field = %v", err)
	}
}
