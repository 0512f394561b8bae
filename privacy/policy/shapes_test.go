package policy_test

import (
	"time"

	"github.com/gwanje/gwanje/devices"
	"github.com/gwanje/gwanje/privacy/policy"
)

// shape is a registry shaped like one kind of seed document.
type shape struct {
	name   string
	layout policy.Layout
	build  func(e *env) (policy.Institution, policy.ContractSource)
	// retentionCamera is changed by the retention test; retentionClause is
	// the clause that must be the only one changed.
	retentionCamera string
	retentionClause string
}

var shapes = []shape{
	{name: "city", layout: policy.LayoutDepartments, build: buildCity,
		retentionCamera: "문학경기장-01", retentionClause: "2.dept.체육진흥과"},
	{name: "county", layout: policy.LayoutPurposes, build: buildCounty,
		retentionCamera: "탐진강 산책로-01", retentionClause: "4.retention"},
	{name: "district", layout: policy.LayoutPurposes, build: buildDistrict,
		retentionCamera: "주안역 광장-01", retentionClause: "4.retention"},
}

func cam(purpose, dept, manager, phone, storage string) devices.CameraFields {
	return devices.CameraFields{Purpose: purpose, Department: dept, Manager: manager, ManagerPhone: phone,
		Coverage: "반경 100M 이내", Resolution: 200, InstallYM: "202403", StoragePlace: storage,
		MonitoringMethod: "상시 모니터링", AccessPersons: []string{"관제요원", dept + " 담당자"}, Lifecycle: devices.Active}
}

// buildCity is shaped like 인천광역시: several departments with their own
// blocks, many contractors, a homepage-notice group, an exempt site, footage
// not stored for some purposes.
func buildCity(e *env) (policy.Institution, policy.ContractSource) {
	const org, center = "인천광역시", "인천광역시 CCTV 통합관제센터"
	site := func(name, dept, addr string, c devices.Contractor) devices.Site {
		return e.site(devices.SiteFields{Name: name, Org: org, Department: dept, RoadAddress: addr, Contractor: c})
	}
	facility := devices.Contractor{ID: "org-facility", Name: "한국시설관리(주)", Contact: "이정비", Phone: "032-440-1111"}
	safety := devices.Contractor{ID: "org-icctv", Name: "인천씨씨티브이", Contact: "최설치", Phone: "032-440-2222"}
	traffic := devices.Contractor{ID: "org-traffic", Name: "교통시스템(주)", Contact: "정교통", Phone: "032-440-3333"}
	guard := devices.Contractor{ID: "org-guard", Name: "한빛보안", Contact: "강보안", Phone: "032-440-4444"}

	sport := cam("시설물관리", "체육진흥과", "김체육", "032-440-5001", "각 경기장 방재실")
	sport.Coverage = "경기장 내·외부"
	sport.AccessPersons = []string{"각 경기장 방재실 근무자"}
	e.cameras(site("문학경기장", "체육진흥과", "인천광역시 미추홀구 매소홀로 618", facility), 6, sport)
	e.cameras(site("아시아드주경기장", "체육진흥과", "인천광역시 서구 봉오대로 806", facility), 5, sport)
	e.cameras(site("삼산월드체육관", "체육진흥과", "인천광역시 부평구 삼산동 체육관로 60", facility), 4, sport)

	crime := cam("방범", "안전정책과", "박안전", "032-440-5002", center)
	crime.Coverage = "360도 전방면"
	e.cameras(site("인천시청 앞 광장", "안전정책과", "인천광역시 남동구 정각로 29", safety), 3, crime)
	e.cameras(site("중앙공원", "안전정책과", "인천광역시 남동구 구월동 1461", safety), 2, crime)

	info := cam("교통정보수집", "교통정보과", "윤교통", "032-440-5003", "")
	info.NotStored = true
	info.Signage = devices.SignageHomepage
	info.Coverage = "도로 전방 1km"
	e.cameras(site("경인고속도로 가좌IC", "교통정보과", "인천광역시 서구 가좌동", traffic), 2, info)
	e.cameras(site("인천대교 진입로", "교통정보과", "인천광역시 연수구 송도동", traffic), 2, info)

	flood := cam("재난감시", "재난안전과", "한재난", "032-440-5004", "")
	flood.NotStored = true
	flood.Coverage = "하천 수위"
	e.cameras(site("굴포천 수위관측소", "재난안전과", "인천광역시 부평구 갈산동", devices.Contractor{}), 2, flood)

	hall := cam("시설물관리(청사)", "총무과", "오총무", "032-440-5005", "인천광역시청 방재실")
	hall.Coverage = "건물 내"
	hall.RetentionDays, hall.RetentionReason = 60, "청사 출입 사고 조사 기간"
	e.cameras(site("인천광역시청 본관", "총무과", "인천광역시 남동구 정각로 29", guard), 4, hall)
	bunker := hall
	bunker.Signage = devices.SignageExempt
	e.cameras(site("비상대비 상황실", "총무과", "비공개", guard), 2, bunker)

	inst := policy.Institution{Name: org, Homepage: "https://www.incheon.go.kr",
		CPO:           policy.Officer{Name: "홍보호", Title: "행정국장", Department: "정보화담당관", Phone: "032-440-2000", Email: "privacy@incheon.go.kr"},
		ControlCenter: "인천광역시청 별관 3층 CCTV 통합관제센터", ReviewPlace: "인천광역시청 별관 3층 열람실"}
	contracts := staticContracts{
		{Contractor: "한국시설관리(주)", ContractorID: "org-facility", Work: "경기장 CCTV 유지보수", Contact: "박유지", Phone: "032-440-1112",
			StartsOn: time.Date(2026, 1, 1, 0, 0, 0, 0, devices.Seoul), EndsOn: time.Date(2026, 12, 31, 0, 0, 0, 0, devices.Seoul)},
		{ContractorID: "org-traffic", Work: "교통정보 CCTV 운영 지원",
			StartsOn: time.Date(2026, 3, 1, 0, 0, 0, 0, devices.Seoul), EndsOn: time.Date(2027, 2, 28, 0, 0, 0, 0, devices.Seoul)},
		{Contractor: "새롬정보기술", Work: "통합관제센터 영상저장장치 유지보수", Contact: "서저장", Phone: "032-440-6666",
			StartsOn: time.Date(2026, 1, 1, 0, 0, 0, 0, devices.Seoul), EndsOn: time.Date(2026, 12, 31, 0, 0, 0, 0, devices.Seoul)},
		// ended: not listed
		{Contractor: "옛정보통신", Work: "구형 CCTV 철거", StartsOn: time.Date(2025, 1, 1, 0, 0, 0, 0, devices.Seoul),
			EndsOn: time.Date(2025, 12, 31, 0, 0, 0, 0, devices.Seoul)},
	}
	return inst, contracts
}

// buildCounty is shaped like 장흥군: the purpose totals table (방범 /
// 안전총괄과 …), a contractor, 산불감시 cameras on a homepage notice.
func buildCounty(e *env) (policy.Institution, policy.ContractSource) {
	const org, center = "장흥군", "장흥군 CCTV 통합관제센터"
	hanbit := devices.Contractor{ID: "c-1", Name: "한빛정보통신", Contact: "김정비", Phone: "061-860-7000"}
	site := func(name, dept, addr string, c devices.Contractor) devices.Site {
		return e.site(devices.SiteFields{Name: name, Org: org, Department: dept, RoadAddress: addr, Contractor: c})
	}
	crime := cam("방범", "안전총괄과", "홍길동", "061-860-0000", center)
	e.cameras(site("장흥읍 건산리 교차로", "안전총괄과", "전라남도 장흥군 장흥읍 건산리 100", hanbit), 4, crime)
	e.cameras(site("탐진강 산책로", "안전총괄과", "전라남도 장흥군 장흥읍 탐진강변로 1", hanbit), 3, crime)
	e.cameras(site("정남진 전망대", "안전총괄과", "전라남도 장흥군 관산읍 정남진해안로 242-58", hanbit), 2, crime)
	child := cam("어린이보호", "안전총괄과", "홍길동", "061-860-0000", center)
	e.cameras(site("장흥초등학교", "안전총괄과", "전라남도 장흥군 장흥읍 장흥로 60", hanbit), 3, child)
	waste := cam("쓰레기단속(무단투기)", "환경위생과", "임환경", "061-860-0100", center)
	waste.Coverage = "배출장 주변"
	e.cameras(site("장흥읍 쓰레기 배출장", "환경위생과", "전라남도 장흥군 장흥읍 예양리 50", devices.Contractor{}), 2, waste)
	fire := cam("산불감시", "산림과", "조산림", "061-860-0200", "")
	fire.NotStored = true
	fire.Signage = devices.SignageHomepage
	fire.Schedule = "02-01~05-15, 11-01~12-15"
	fire.Coverage = "반경 5km"
	planned := crime
	planned.Lifecycle = devices.Planned // not installed yet: not counted
	e.cameras(site("장평면 소재지", "안전총괄과", "전라남도 장흥군 장평면", hanbit), 2, planned)
	e.cameras(site("억불산 산불감시탑", "산림과", "전라남도 장흥군 장흥읍 평화리 산 1", devices.Contractor{}), 1, fire)
	return policy.Institution{Name: org, Homepage: "https://www.jangheung.go.kr",
		CPO: policy.Officer{Name: "문보호", Title: "기획홍보실장", Department: "기획홍보실", Phone: "061-860-0300"}}, nil
}

// buildDistrict is shaped like 인천 미추홀구: one control center stores and
// monitors everything, two departments, no contractor.
func buildDistrict(e *env) (policy.Institution, policy.ContractSource) {
	const org, center = "인천광역시 미추홀구", "미추홀구청 CCTV 통합관제센터"
	site := func(name, dept, addr string) devices.Site {
		return e.site(devices.SiteFields{Name: name, Org: org, Department: dept, RoadAddress: addr})
	}
	crime := cam("생활방범", "안전총괄과", "이안전", "032-880-4000", center)
	crime.MonitoringPlace = center
	e.cameras(site("주안역 광장", "안전총괄과", "인천광역시 미추홀구 주안로 95-19"), 3, crime)
	e.cameras(site("용현동 골목길", "안전총괄과", "인천광역시 미추홀구 용현동 600"), 2, crime)
	child := cam("어린이안전", "안전총괄과", "이안전", "032-880-4000", center)
	child.MonitoringPlace = center
	e.cameras(site("숭의초등학교", "안전총괄과", "인천광역시 미추홀구 숭의동 200"), 2, child)
	bus := cam("버스전용차로", "교통행정과", "장교통", "032-880-4100", center)
	bus.MonitoringPlace = center
	bus.Schedule = "평일 07:00~09:00, 17:00~20:00"
	bus.Coverage = "버스전용차로 구간"
	e.cameras(site("인하로 버스전용차로", "교통행정과", "인천광역시 미추홀구 인하로 100"), 2, bus)
	return policy.Institution{Name: org, Scope: "본청, 소속기관 미포함",
		CPO: policy.Officer{Name: "최보호", Title: "행정지원국장", Phone: "032-880-4500"},
		Staff: []policy.Staff{
			{Role: policy.RoleManager, Title: "안전총괄과장", Department: "안전총괄과", Phone: "032-880-4045"},
			{Role: policy.RoleAccess, Title: "통합관제담당", Department: "안전총괄과", Phone: "032-880-4826"},
			{Role: policy.RoleAccess, Title: "주무관", Department: "안전총괄과", Phone: "032-880-4827"},
		},
		ControlCenter: center, RequestPlace: "안전총괄과 통합관제팀"}, nil
}
