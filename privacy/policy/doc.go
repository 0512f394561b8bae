// Package policy writes the CCTV 운영·관리 방침 (the operation and management
// policy every Korean public body running fixed video devices must post
// continuously on its homepage), its signage (안내판) and its revision history
// from the camera registry, so that nobody types the figures by hand.
//
// # The document
//
// Build turns the registry's installation report (devices.InstallationReport,
// the one source of the installation figures), the sites, the outsourcing
// contracts and a small Institution config into a Document: an ordered list of
// clauses with stable ids ("1.basis", "2.installation", "2.dept.안전총괄과",
// "4.retention", "8.outsourcing", …), grouped under the eight items the law
// requires:
//
//  1. 설치 근거 및 설치 목적 (legal basis and purpose)
//  2. 설치 대수, 설치 위치 및 촬영 범위 (number, locations, coverage), with the
//     installation table per purpose and department (개소/대수)
//  3. 관리책임자, 담당부서 및 접근권한자 (manager, department, persons with access)
//  4. 촬영시간, 보관기간, 보관장소 및 처리방법 (hours, retention, storage, destruction)
//  5. 영상정보 확인 방법 및 장소 (how and where footage is reviewed)
//  6. 정보주체의 열람 등 요구에 대한 조치 (subject requests, refusal reasons)
//  7. 안전성 확보조치 (safeguards)
//  8. 그 밖의 사항: 위탁 (contractor table) and the change clause
//
// Every fact lives in exactly one clause, so versions compare clause by
// clause: a camera's retention is in "4.retention" (purpose layout, for
// counties and districts: 장흥군's purpose × department table) or in its
// department's block "2.dept.<부서>" (department layout, for cities:
// 인천광역시's blocks of 담당부서, 관리책임자 및 연락처, 촬영시간, 보관기간,
// 보관장소, 설치대수, 위치 및 촬영범위). Layout chooses; LayoutAuto takes the
// department layout from four departments on. A Document renders as a
// self-contained, printable HTML page (no external assets) and as Markdown.
// Locations of cameras whose signage is exempt (military, national security)
// are not listed; they are counted.
//
// # Versions
//
// Service.Publish computes the document from the registry now; when it equals
// the latest version (same content hash) nothing is published. Otherwise it
// stores an immutable version (the table refuses updates and deletes) with
// its number, clauses, HTML and Markdown, the proposed 개정 연혁 line
// ("설치 및 운영현황 현행화; 위탁에 관한 사항 현행화" when only registry
// figures and contractors changed), the 전·후 비교 of the changed clauses, and
// 공고일자/시행일자 (the effective date at least 7 days after the
// announcement unless an urgent reason is recorded). The version and its
// policy.publish audit entry are written in one transaction through the
// consumer-side Auditor: without the audit record there is no version.
//
// # HTTP
//
// Service.Handler serves the public, read-only pages (no login; nothing on
// them that the published documents do not contain): /policy (the version in
// force, with a notice of an announced revision), /policy.md, /policy/history,
// /policy/v/{n} and /policy/v/{n}.md, and the signage: /signage (one
// printable sign per site whose signage is a physical sign, exempt sites
// excluded) and /signage/homepage (the sites whose signage is a homepage
// notice).
//
// Errors wrap ErrInvalid or ErrNotFound.
package policy
