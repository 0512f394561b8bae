package devices

import (
	"fmt"
	"sort"
	"strings"
)

// LegalBasis is the legal ground of an installation in a public place
// (개인정보 보호법, installation of fixed video devices, ①1–5).
type LegalBasis int

// Legal bases.
const (
	BasisLaw            LegalBasis = 1 // 법령에서 구체적으로 허용
	BasisCrime          LegalBasis = 2 // 범죄의 예방 및 수사
	BasisFacilitySafety LegalBasis = 3 // 시설의 안전 및 관리, 화재 예방
	BasisTrafficEnforce LegalBasis = 4 // 교통단속
	BasisTrafficInfo    LegalBasis = 5 // 교통정보의 수집·분석 및 제공
)

var basisLabels = map[LegalBasis]string{
	BasisLaw:            "법령에서 구체적으로 허용",
	BasisCrime:          "범죄의 예방 및 수사",
	BasisFacilitySafety: "시설안전 및 화재 예방",
	BasisTrafficEnforce: "교통단속",
	BasisTrafficInfo:    "교통정보의 수집·분석 및 제공",
}

// Label returns the Korean label of b, or "" when b is not 1–5.
func (b LegalBasis) Label() string { return basisLabels[b] }

// Valid reports whether b is 1–5.
func (b LegalBasis) Valid() bool { return b >= 1 && b <= 5 }

// National installation-purpose categories (설치목적구분) of the open-data
// standard 전국CCTV표준데이터.
const (
	NationalLivingCrime = "생활방범"
	NationalMulti       = "다목적"
	NationalChild       = "어린이보호"
	NationalTrafficEnf  = "교통단속"
	NationalTrafficInfo = "교통정보수집"
	NationalFacility    = "시설물관리"
	NationalDisaster    = "재난재해"
	NationalWaste       = "쓰레기단속"
	NationalVehicle     = "차량방범"
	NationalOther       = "기타"
)

// NationalPurposes lists the national categories in the order of the standard.
var NationalPurposes = []string{
	NationalLivingCrime, NationalMulti, NationalChild, NationalTrafficEnf, NationalTrafficInfo,
	NationalFacility, NationalDisaster, NationalWaste, NationalVehicle, NationalOther,
}

// PurposeInfo is a local installation purpose (설치목적, finer than the
// national standard) with its national category and default legal basis.
type PurposeInfo struct {
	Local    string
	National string
	Basis    LegalBasis
}

// purposeTable maps every local category named in the domain description
// (and the national categories themselves, and common spellings) to its
// national category and default legal basis.
var purposeTable = []PurposeInfo{
	{"방범", NationalLivingCrime, BasisCrime},
	{"생활방범", NationalLivingCrime, BasisCrime},
	{"차량방범", NationalVehicle, BasisCrime},
	{"어린이보호", NationalChild, BasisCrime},
	{"어린이안전", NationalChild, BasisCrime},
	{"초등학교", NationalChild, BasisCrime},
	{"쓰레기단속", NationalWaste, BasisLaw},
	{"무단투기", NationalWaste, BasisLaw},
	{"시설물관리", NationalFacility, BasisFacilitySafety},
	{"청사", NationalFacility, BasisFacilitySafety},
	{"문화재관리", NationalFacility, BasisFacilitySafety},
	{"재난재해", NationalDisaster, BasisFacilitySafety},
	{"재난감시", NationalDisaster, BasisFacilitySafety},
	{"산불감시", NationalDisaster, BasisFacilitySafety},
	{"양식장감시", NationalOther, BasisCrime},
	{"불법어로감시", NationalOther, BasisLaw},
	{"주정차단속", NationalTrafficEnf, BasisTrafficEnforce},
	{"교통단속", NationalTrafficEnf, BasisTrafficEnforce},
	{"버스전용차로", NationalTrafficEnf, BasisTrafficEnforce},
	{"노후경유차", NationalTrafficEnf, BasisTrafficEnforce},
	{"교통정보수집", NationalTrafficInfo, BasisTrafficInfo},
	{"생태통로관찰", NationalOther, BasisLaw},
	{"다목적", NationalMulti, BasisCrime},
	{"기타", NationalOther, BasisLaw},
}

var purposeByLocal = func() map[string]PurposeInfo {
	m := make(map[string]PurposeInfo, len(purposeTable))
	for _, p := range purposeTable {
		m[p.Local] = p
	}
	return m
}()

// normPurpose drops spaces and a parenthesised suffix: "쓰레기단속(무단투기)"
// and "시설물관리 (청사)" name their main category.
func normPurpose(s string) string {
	s = strings.Join(strings.Fields(s), "")
	if i := strings.IndexAny(s, "(（"); i > 0 {
		s = s[:i]
	}
	return s
}

// LookupPurpose returns the national category and default legal basis of a
// local purpose. A known purpose with a detail in parentheses
// ("쓰레기단속(무단투기)") is that purpose. A city's own label outside the
// list names the known purpose it maps to in parentheses, "불법주정차단속
// (주정차단속)": it is kept as written (Local, the label published in the
// policy, without the mapping) and counted under that purpose's national
// category in reports. Unknown purposes are ErrInvalid.
func LookupPurpose(local string) (PurposeInfo, error) {
	p, ok := purposeByLocal[normPurpose(local)]
	if !ok {
		if label, mapped, found := localLabel(local); found {
			if q, known := purposeByLocal[normPurpose(mapped)]; known {
				return PurposeInfo{Local: label + " (" + q.Local + ")", National: q.National, Basis: q.Basis}, nil
			}
		}
	}
	if !ok {
		return PurposeInfo{}, fmt.Errorf("%w: unknown purpose %q (known: %s)", ErrInvalid, local, strings.Join(LocalPurposes(), ", "))
	}
	return p, nil
}

// LocalPurposes lists the known local purposes, sorted.
func LocalPurposes() []string {
	out := make([]string, 0, len(purposeTable))
	for _, p := range purposeTable {
		out = append(out, p.Local)
	}
	sort.Strings(out)
	return out
}

// IsNationalPurpose reports whether s is one of NationalPurposes.
func IsNationalPurpose(s string) bool {
	for _, n := range NationalPurposes {
		if s == n {
			return true
		}
	}
	return false
}

// localLabel splits "label (purpose)" into its label and the purpose in the
// last parentheses.
func localLabel(s string) (label, mapped string, ok bool) {
	s = strings.TrimSpace(strings.ReplaceAll(strings.ReplaceAll(s, "（", "("), "）", ")"))
	if !strings.HasSuffix(s, ")") {
		return "", "", false
	}
	i := strings.LastIndex(s, "(")
	if i <= 0 {
		return "", "", false
	}
	label = strings.Join(strings.Fields(s[:i]), " ")
	mapped = strings.TrimSpace(s[i+1 : len(s)-1])
	return label, mapped, label != "" && mapped != ""
}

// PurposeLabel is the label of a local purpose as published: a city's own
// label without the known purpose it maps to ("불법주정차단속 (주정차단속)" →
// "불법주정차단속"); other purposes as they are.
func PurposeLabel(local string) string {
	if _, ok := purposeByLocal[normPurpose(local)]; ok {
		return local
	}
	if label, mapped, ok := localLabel(local); ok {
		if _, known := purposeByLocal[normPurpose(mapped)]; known {
			return label
		}
	}
	return local
}
