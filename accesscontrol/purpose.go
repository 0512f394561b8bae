package accesscontrol

import "fmt"

// Purpose is a purpose-of-viewing code (열람목적). The set is fixed so that
// clients, reports and audits agree.
type Purpose string

// The purposes of viewing.
const (
	PurposeCrimePrevention    Purpose = "crime_prevention"
	PurposeFacilitySafety     Purpose = "facility_safety"
	PurposeTrafficEnforcement Purpose = "traffic_enforcement"
	PurposeTrafficInfo        Purpose = "traffic_info"
	PurposeDisasterResponse   Purpose = "disaster_response"
	PurposeSubjectRequest     Purpose = "subject_request"
	PurposeMaintenance        Purpose = "maintenance"
	PurposeOther              Purpose = "other"
)

// Purposes lists every purpose in display order.
var Purposes = []Purpose{
	PurposeCrimePrevention, PurposeFacilitySafety, PurposeTrafficEnforcement, PurposeTrafficInfo,
	PurposeDisasterResponse, PurposeSubjectRequest, PurposeMaintenance, PurposeOther,
}

var purposeLabels = map[Purpose]string{
	PurposeCrimePrevention:    "범죄 예방·수사",
	PurposeFacilitySafety:     "시설안전·화재예방",
	PurposeTrafficEnforcement: "교통단속",
	PurposeTrafficInfo:        "교통정보 수집·분석",
	PurposeDisasterResponse:   "재난·재해 대응",
	PurposeSubjectRequest:     "정보주체 열람 청구 처리",
	PurposeMaintenance:        "유지보수·점검",
	PurposeOther:              "기타",
}

// Label returns the Korean label of p, or "" for an unknown code.
func (p Purpose) Label() string { return purposeLabels[p] }

// String shows the code with its Korean label, e.g. "crime_prevention (범죄 예방·수사)".
func (p Purpose) String() string {
	if l := p.Label(); l != "" {
		return fmt.Sprintf("%s (%s)", string(p), l)
	}
	return string(p)
}

// ValidatePurpose checks a stated purpose: the code must be known, and
// "other" needs free text.
func ValidatePurpose(code, text string) (Purpose, error) {
	p := Purpose(code)
	if _, ok := purposeLabels[p]; !ok {
		return "", fmt.Errorf("unknown purpose %q: use one of crime_prevention, facility_safety, traffic_enforcement, traffic_info, disaster_response, subject_request, maintenance, other", code)
	}
	if p == PurposeOther && text == "" {
		return "", fmt.Errorf("purpose %q needs a reason in free text", code)
	}
	return p, nil
}
