package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gwanje/gwanje/privacy/policy"
)

func TestInstitutionSettings(t *testing.T) {
	cfg, err := parseFlags([]string{"--config", "../../deploy/gwanjed.example.yaml", "--review-place", "안전총괄과 열람실"})
	if err != nil {
		t.Fatal(err)
	}
	in := cfg.institution()
	want := []policy.Staff{
		{Role: "관리책임자", Title: "안전총괄과장", Department: "안전총괄과", Phone: "032-880-4045"},
		{Role: "접근권한자", Title: "통합관제담당", Department: "안전총괄과", Phone: "032-880-4826"},
		{Role: "접근권한자", Title: "주무관", Department: "안전총괄과", Phone: "032-880-4827"},
	}
	if !reflect.DeepEqual(in.Staff, want) {
		t.Errorf("staff %+v, want %+v", in.Staff, want)
	}
	if in.Name != "인천광역시 미추홀구" || in.Scope != "본청, 소속기관 미포함" || in.CPO.Name != "최보호" ||
		in.CPO.Phone != "032-880-4500" || in.ControlCenter != "미추홀구청 CCTV 통합관제센터" ||
		in.RequestPlace != "안전총괄과 통합관제팀" || in.ReviewPlace != "안전총괄과 열람실" || in.MaxSitesListed != 8 {
		t.Errorf("institution %+v", in)
	}

	// The environment and the command line take the same rows separated by ";".
	t.Setenv("GWANJE_INSTITUTION_STAFF", "관리책임자|과장|교통행정과|032-1;접근권한자|주무관|교통행정과")
	cfg, err = parseFlags(nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.InstitutionStaff.String(); got != "관리책임자|과장|교통행정과|032-1|;접근권한자|주무관|교통행정과||" {
		t.Errorf("staff from the environment: %s", got)
	}
}

func TestInstitutionSettingsRefused(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, yaml, want string
		args             []string
	}{
		{"unknown role", "institution-staff: [\"관리자|과장\"]\n", "staff role", nil},
		{"unknown key", "institution-staff:\n  - {role: 관리책임자, title: 과장, mobile: 010}\n", `unknown key "mobile"`, nil},
		{"no title", "institution-staff: [\"접근권한자|\"]\n", "without a 직위", nil},
		{"layout", "policy-layout: tables\n", "layout", nil},
		{"listed", "", "policy-listed-sites", []string{"--policy-listed-sites", "0"}},
		{"bidi", "", "institution", []string{"--control-center", "관제\u202e센터"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".yaml")
			if err := os.WriteFile(file, []byte(tc.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := parseFlags(append([]string{"--config", file}, tc.args...))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}
