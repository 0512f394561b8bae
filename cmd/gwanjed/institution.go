package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/gwanje/gwanje/privacy/policy"
)

// staffFlag is the --institution-staff setting: the 관리책임자·접근권한자
// table of the published policy. On the command line and in the environment
// rows are separated by ";" and written "구분|직위|소속|전화번호|비고"; in the
// YAML file it is a list of such strings or of maps with the keys role,
// title, department, phone, note.
type staffFlag []policy.Staff

func (s *staffFlag) String() string {
	parts := make([]string, len(*s))
	for i, st := range *s {
		parts[i] = strings.Join([]string{st.Role, st.Title, st.Department, st.Phone, st.Note}, "|")
	}
	return strings.Join(parts, ";")
}

// Set replaces the table with the ";"-separated rows in v.
func (s *staffFlag) Set(v string) error {
	var out []policy.Staff
	for _, row := range strings.Split(v, ";") {
		if strings.TrimSpace(row) == "" {
			continue
		}
		st, err := policy.ParseStaff(row)
		if err != nil {
			return err
		}
		out = append(out, st)
	}
	*s = out
	return nil
}

// SetYAML implements config.YAMLValue.
func (s *staffFlag) SetYAML(v any) error {
	switch x := v.(type) {
	case nil:
		*s = nil
		return nil
	case string:
		return s.Set(x)
	case []any:
		var out []policy.Staff
		for i, e := range x {
			var st policy.Staff
			var err error
			switch r := e.(type) {
			case string:
				st, err = policy.ParseStaff(r)
			case map[string]any:
				st, err = staffFromMap(r)
			default:
				err = fmt.Errorf("row %d: write a string 구분|직위|소속|전화번호|비고 or a map", i+1)
			}
			if err != nil {
				return fmt.Errorf("row %d: %w", i+1, err)
			}
			out = append(out, st)
		}
		*s = out
		return nil
	}
	return errors.New("a list of rows (구분|직위|소속|전화번호|비고, or maps with role, title, department, phone, note)")
}

func staffFromMap(m map[string]any) (policy.Staff, error) {
	fields := map[string]string{}
	for k, v := range m {
		switch k {
		case "role", "title", "department", "phone", "note":
			if v != nil {
				fields[k] = fmt.Sprint(v)
			}
		default:
			return policy.Staff{}, fmt.Errorf("unknown key %q (role, title, department, phone, note)", k)
		}
	}
	return policy.ParseStaff(strings.Join([]string{fields["role"], fields["title"], fields["department"],
		fields["phone"], fields["note"]}, "|"))
}

// institution is the policy's institution from the settings.
func (c Config) institution() policy.Institution {
	return policy.Institution{Name: c.InstitutionName, Scope: c.InstitutionScope, Homepage: c.InstitutionHomepage,
		CPO:   policy.Officer{Name: c.CPOName, Title: c.CPOTitle, Department: c.CPODepartment, Phone: c.CPOPhone, Email: c.CPOEmail},
		Staff: c.InstitutionStaff, ControlCenter: c.ControlCenter, RequestPlace: c.RequestPlace, ReviewPlace: c.ReviewPlace,
		Layout: policy.Layout(c.PolicyLayout), MaxSitesListed: c.PolicyListedSites}
}
