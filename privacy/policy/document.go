package policy

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gwanje/gwanje/devices"
)

// Kind says where a clause's content comes from, which decides how a change
// of it is named in the revision history.
type Kind string

// Clause kinds.
const (
	// KindText: fixed text and the institution config.
	KindText Kind = "text"
	// KindStatus: the installation and operation status from the registry
	// (설치 및 운영현황).
	KindStatus Kind = "status"
	// KindOutsourcing: the contractors (위탁에 관한 사항).
	KindOutsourcing Kind = "outsourcing"
)

// Block types.
const (
	BlockParagraph = "p"
	BlockList      = "list"
	BlockTable     = "table"
	BlockFields    = "fields" // two-column rows: label, value
)

// Block is one paragraph, list or table of a clause.
type Block struct {
	Type    string     `json:"type"`
	Text    string     `json:"text,omitempty"`
	Items   []string   `json:"items,omitempty"`
	Caption string     `json:"caption,omitempty"`
	Header  []string   `json:"header,omitempty"`
	Rows    [][]string `json:"rows,omitempty"`
	// Total marks the last row of a table as its total (합계).
	Total bool `json:"total,omitempty"`
}

// Clause is one unit of the document. Its ID is stable across versions, so
// that versions compare clause by clause.
type Clause struct {
	ID     string  `json:"id"`
	Item   int     `json:"item"` // 0 (preamble) or 1–8, the required item it belongs to
	Title  string  `json:"title,omitempty"`
	Kind   Kind    `json:"kind"`
	Blocks []Block `json:"blocks"`
}

// Items are the headings of the eight required items; Items[0] is the
// preamble's (empty).
var Items = [9]string{
	"",
	"영상정보처리기기의 설치 근거 및 설치 목적",
	"설치 대수, 설치 위치 및 촬영 범위",
	"관리책임자, 담당부서 및 영상정보에 대한 접근권한자",
	"영상정보의 촬영시간, 보관기간, 보관장소 및 처리방법",
	"영상정보 확인 방법 및 장소",
	"정보주체의 영상정보 열람 등 요구에 대한 조치",
	"영상정보의 안전성 확보조치",
	"그 밖에 영상정보처리기기의 설치·운영 및 관리에 필요한 사항",
}

// Heading returns "N. heading" of item n (1–8).
func Heading(n int) string {
	if n < 1 || n > 8 {
		return ""
	}
	return strconv.Itoa(n) + ". " + Items[n]
}

// Label names the clause in comparisons: "2. 설치 현황".
func (c Clause) Label() string {
	if c.Item == 0 {
		return "머리말"
	}
	if c.Title != "" {
		return strconv.Itoa(c.Item) + ". " + c.Title
	}
	return Heading(c.Item)
}

// Lines is the clause's canonical text, one line a paragraph, list item or
// table row; versions are compared on it.
func (c Clause) Lines() []string {
	var out []string
	if c.Title != "" {
		out = append(out, "■ "+c.Title)
	}
	for _, b := range c.Blocks {
		switch b.Type {
		case BlockParagraph:
			out = append(out, b.Text)
		case BlockList:
			for _, it := range b.Items {
				out = append(out, "- "+it)
			}
		case BlockTable:
			if b.Caption != "" {
				out = append(out, "["+b.Caption+"]")
			}
			out = append(out, strings.Join(b.Header, " | "))
			for _, r := range b.Rows {
				out = append(out, strings.Join(r, " | "))
			}
		case BlockFields:
			for _, r := range b.Rows {
				out = append(out, strings.Join(r, ": "))
			}
		}
	}
	return out
}

// Figures are the installation figures the document shows, copied from the
// installation report it was built from (for checks; not compared).
type Figures struct {
	Total               devices.Total
	ByPurposeDepartment []devices.Total
	ByDepartment        []devices.Total
	ByRetention         []devices.Total
}

// Document is the policy: a title and its clauses in order.
type Document struct {
	Title       string   `json:"title"`
	Institution string   `json:"institution"`
	Layout      Layout   `json:"layout"`
	Clauses     []Clause `json:"clauses"`
	Figures     Figures  `json:"-"`
}

// Clause returns the clause with the id, or false.
func (d *Document) Clause(id string) (Clause, bool) {
	for _, c := range d.Clauses {
		if c.ID == id {
			return c, true
		}
	}
	return Clause{}, false
}

// Hash is the SHA-256 of the title and the clauses: equal hashes, equal
// documents.
func (d *Document) Hash() []byte {
	b, _ := json.Marshal(struct {
		Title   string   `json:"title"`
		Clauses []Clause `json:"clauses"`
	}{d.Title, d.Clauses})
	h := sha256.Sum256(b)
	return h[:]
}

// topic returns name with its topic particle (은/는).
func topic(name string) string { return name + particle(name, "은", "는") }

// particle picks the particle after a final consonant (batchim) or a vowel.
func particle(word, consonant, vowel string) string {
	r := []rune(strings.TrimSpace(word))
	if len(r) == 0 {
		return vowel
	}
	last := r[len(r)-1]
	if last >= 0xAC00 && last <= 0xD7A3 && (last-0xAC00)%28 != 0 {
		return consonant
	}
	return vowel
}

// num formats a count with thousands separators.
func num(n int) string {
	s := strconv.Itoa(n)
	if n < 0 {
		return "-" + num(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// Date formats a civil date the Korean way: 2026. 5. 18.
func Date(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return fmt.Sprintf("%d. %d. %d.", t.Year(), int(t.Month()), t.Day())
}

// tally counts values, keeping them sorted by value.
type tally struct {
	n map[string]int
}

func (t *tally) add(v string) {
	if t.n == nil {
		t.n = map[string]int{}
	}
	t.n[v]++
}

func (t *tally) keys() []string {
	ks := make([]string, 0, len(t.n))
	for k := range t.n {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// list joins the values; with counts when there are several.
func (t *tally) list(counts bool) string {
	ks := t.keys()
	if len(ks) == 0 {
		return "-"
	}
	if len(ks) == 1 || !counts {
		return strings.Join(ks, ", ")
	}
	parts := make([]string, len(ks))
	for i, k := range ks {
		parts[i] = fmt.Sprintf("%s (%s대)", k, num(t.n[k]))
	}
	return strings.Join(parts, ", ")
}

func retentionText(c *devices.Camera) string {
	if c.NotStored {
		if r := strings.TrimSpace(c.RetentionReason); r != "" {
			return "미보유 (" + r + ")" // e.g. 미보유 (위반차량 사진자료 준영구 보관)
		}
		return "미보유 (저장하지 않음)"
	}
	t := "촬영일로부터 " + strconv.Itoa(c.RetentionDays) + "일"
	if c.RetentionDays > devices.DefaultRetentionDays && c.RetentionReason != "" {
		t += " (사유: " + c.RetentionReason + ")"
	}
	return t
}

// retentionDays orders retentions by duration (not as text); not stored
// sorts last.
func retentionDays(c *devices.Camera) int {
	if c.NotStored {
		return 1 << 30
	}
	return c.RetentionDays
}

// retentionSummary writes the retention of a group as people write it: the
// retention of most cameras, with the sites that keep footage differently
// as exceptions ("촬영일로부터 30일 (*문학경기장 21일)") when they are few,
// else every retention with its count, shortest first.
func retentionSummary(cams []*devices.ReportCamera) string {
	type grp struct {
		text, short string
		days, n     int
		sites       map[string]bool
	}
	var gs []*grp
	by := map[string]*grp{}
	for _, c := range cams {
		t := retentionText(&c.Camera)
		g, ok := by[t]
		if !ok {
			short := strconv.Itoa(c.RetentionDays) + "일"
			if c.NotStored {
				short = "미보유"
			}
			g = &grp{text: t, short: short, days: retentionDays(&c.Camera), sites: map[string]bool{}}
			by[t] = g
			gs = append(gs, g)
		}
		g.n++
		g.sites[c.SiteName] = true
	}
	if len(gs) == 0 {
		return "-"
	}
	slices.SortFunc(gs, func(a, b *grp) int {
		if a.days != b.days {
			return a.days - b.days
		}
		return strings.Compare(a.text, b.text)
	})
	if len(gs) == 1 {
		return gs[0].text
	}
	main := gs[0]
	for _, g := range gs {
		if g.n > main.n {
			main = g
		}
	}
	var exc []string
	few := true
	for _, g := range gs {
		if g == main {
			continue
		}
		if len(g.sites) > 3 || g.n*2 > main.n {
			few = false
			break
		}
		names := make([]string, 0, len(g.sites))
		for n := range g.sites {
			names = append(names, n)
		}
		slices.Sort(names)
		exc = append(exc, "*"+strings.Join(names, ", ")+" "+g.short)
	}
	if few {
		return main.text + " (" + strings.Join(exc, "; ") + ")"
	}
	parts := make([]string, len(gs))
	for i, g := range gs {
		parts[i] = fmt.Sprintf("%s (%s대)", g.text, num(g.n))
	}
	return strings.Join(parts, ", ")
}

func managerText(c *devices.Camera) string {
	switch {
	case c.Manager != "" && c.ManagerPhone != "":
		return c.Manager + " (" + c.ManagerPhone + ")"
	case c.Manager != "":
		return c.Manager
	case c.ManagerPhone != "":
		return c.ManagerPhone
	}
	return ""
}

func orNone(s string) string {
	if strings.TrimSpace(s) == "" {
		return "(미지정)"
	}
	return s
}

// purposeOrder sorts local purposes by national category (in the order of
// the open-data standard: 생활방범 first) and name, so that the tables keep
// their order when counts change.
func purposeOrder(national map[string]string) func(a, b string) int {
	natIdx := func(n string) int {
		if i := slices.Index(devices.NationalPurposes, n); i >= 0 {
			return i
		}
		return len(devices.NationalPurposes)
	}
	return func(a, b string) int {
		if na, nb := natIdx(national[a]), natIdx(national[b]); na != nb {
			return na - nb
		}
		return strings.Compare(a, b)
	}
}

// group is the cameras of one purpose × department, or one department.
type group struct {
	purpose, department string
	cameras             []*devices.ReportCamera
}

// sitesText lists the site names of a group (up to max, then "외 N개소"),
// counting the sites whose cameras all have exempt signage without naming
// them.
func sitesText(cams []*devices.ReportCamera, max int) string {
	named := map[string]bool{}
	public := map[string]bool{}
	hiddenIDs := map[string]bool{}
	for _, c := range cams {
		if c.Signage == devices.SignageExempt {
			hiddenIDs[c.SiteID] = true
		} else {
			named[c.SiteName] = true
			public[c.SiteID] = true
		}
	}
	hidden := 0
	for id := range hiddenIDs {
		if !public[id] {
			hidden++
		}
	}
	names := make([]string, 0, len(named))
	for n := range named {
		names = append(names, n)
	}
	slices.Sort(names)
	var s string
	if len(names) > max {
		s = strings.Join(names[:max], ", ") + " 외 " + num(len(names)-max) + "개소"
	} else {
		s = strings.Join(names, ", ")
	}
	if hidden > 0 {
		h := "보안시설 " + num(hidden) + "개소 (위치 비공개)"
		if s == "" {
			return h
		}
		s += ", " + h
	}
	return s
}

func distinct(cams []*devices.ReportCamera, f func(*devices.ReportCamera) string, counts bool) string {
	var t tally
	for _, c := range cams {
		if v := strings.TrimSpace(f(c)); v != "" {
			t.add(v)
		}
	}
	return t.list(counts)
}

func distinctMulti(cams []*devices.ReportCamera, f func(*devices.ReportCamera) []string) string {
	var t tally
	for _, c := range cams {
		for _, v := range f(c) {
			if v = strings.TrimSpace(v); v != "" {
				t.add(v)
			}
		}
	}
	return t.list(false)
}

func siteCount(cams []*devices.ReportCamera) int {
	s := map[string]bool{}
	for _, c := range cams {
		s[c.SiteID] = true
	}
	return len(s)
}

// Build writes the document from an installation report and the contracts
// in force. It is a pure function: the same inputs give the same document.
func Build(in Institution, rep *devices.InstallationReport, contracts []Outsourcing) Document {
	in = in.withDefaults()
	cams := make([]*devices.ReportCamera, len(rep.Cameras))
	for i := range rep.Cameras {
		c := rep.Cameras[i]
		c.Purpose = devices.PurposeLabel(c.Purpose) // a city's own label, without the purpose it maps to
		cams[i] = &c
	}
	basis := map[string]devices.LegalBasis{}
	national := map[string]string{}
	depts := map[string][]*devices.ReportCamera{}
	var deptNames []string
	for _, c := range cams {
		if b, ok := basis[c.Purpose]; !ok || c.LegalBasis < b {
			basis[c.Purpose] = c.LegalBasis
		}
		national[c.Purpose] = c.NationalPurpose
		if _, ok := depts[c.Department]; !ok {
			deptNames = append(deptNames, c.Department)
		}
		depts[c.Department] = append(depts[c.Department], c)
	}
	slices.Sort(deptNames)
	byPurpose := purposeOrder(national)
	groups := map[[2]string]*group{}
	var gkeys [][2]string
	for _, c := range cams {
		k := [2]string{c.Purpose, c.Department}
		g, ok := groups[k]
		if !ok {
			g = &group{purpose: c.Purpose, department: c.Department}
			groups[k] = g
			gkeys = append(gkeys, k)
		}
		g.cameras = append(g.cameras, c)
	}
	slices.SortFunc(gkeys, func(a, b [2]string) int {
		if c := byPurpose(a[0], b[0]); c != 0 {
			return c
		}
		return strings.Compare(a[1], b[1])
	})
	layout := in.Layout
	if layout == LayoutAuto {
		layout = LayoutPurposes
		if len(deptNames) >= AutoDepartmentThreshold {
			layout = LayoutDepartments
		}
	}

	d := Document{Title: in.Name + " 영상정보처리기기 운영·관리 방침", Institution: in.Name, Layout: layout,
		Figures: Figures{Total: rep.Total, ByPurposeDepartment: rep.ByPurposeDepartment, ByDepartment: rep.ByDepartment,
			ByRetention: rep.ByRetention}}
	add := func(c Clause) { d.Clauses = append(d.Clauses, c) }

	// 0. preamble
	named := topic(in.Name)
	if in.Scope != "" {
		named = in.Name + "(" + in.Scope + ")" + particle(in.Name, "은", "는")
	}
	pre := []Block{{Type: BlockParagraph, Text: named + " 「개인정보 보호법」의 고정형 영상정보처리기기 설치·운영 제한 규정에 따라 " +
		"영상정보처리기기를 설치·운영하고 있으며, 이를 통하여 처리되는 개인영상정보가 보호될 수 있도록 다음과 같이 " +
		"영상정보처리기기 운영·관리 방침을 정하여 공개합니다."}}
	if in.Homepage != "" {
		pre = append(pre, Block{Type: BlockParagraph, Text: "이 방침은 " + in.Name + " 인터넷 홈페이지(" + in.Homepage + ")에 지속적으로 게재합니다."})
	}
	add(Clause{ID: "0.preamble", Item: 0, Kind: KindText, Blocks: pre})

	// 1. legal basis and purpose
	purposes := make([]string, 0, len(basis))
	for p := range basis {
		purposes = append(purposes, p)
	}
	slices.SortFunc(purposes, byPurpose)
	var basisRows [][]string
	for _, p := range purposes {
		var bs []string
		seen := map[devices.LegalBasis]bool{}
		for _, c := range cams {
			if c.Purpose == p && !seen[c.LegalBasis] {
				seen[c.LegalBasis] = true
				bs = append(bs, fmt.Sprintf("%s (허용 사유 제%d호)", c.LegalBasis.Label(), c.LegalBasis))
			}
		}
		slices.Sort(bs)
		if st := strings.TrimSpace(in.Statutes[p]); st != "" {
			bs = append([]string{st}, bs...) // the statute by name, then 개인정보 보호법 §25①'s items
		}
		basisRows = append(basisRows, []string{p, national[p], strings.Join(bs, ", ")})
	}
	b1 := []Block{{Type: BlockParagraph, Text: topic(in.Name) + " 「개인정보 보호법」의 고정형 영상정보처리기기 설치 허용 사유에 따라 " +
		"다음의 목적으로 공개된 장소에 영상정보처리기기를 설치·운영합니다."}}
	if len(basisRows) > 0 {
		b1 = append(b1, Block{Type: BlockTable, Header: []string{"설치목적", "설치목적구분", "설치 근거"}, Rows: basisRows})
	}
	add(Clause{ID: "1.basis", Item: 1, Kind: KindStatus, Blocks: b1})

	// 2. number, locations, coverage
	var instRows [][]string
	for _, k := range gkeys {
		g := groups[k]
		instRows = append(instRows, []string{g.purpose, orNone(g.department), num(siteCount(g.cameras)), num(len(g.cameras))})
	}
	instRows = append(instRows, []string{"합계", "", num(rep.Total.Sites), num(rep.Total.Cameras)})
	add(Clause{ID: "2.installation", Item: 2, Title: "설치 현황", Kind: KindStatus, Blocks: []Block{
		{Type: BlockParagraph, Text: fmt.Sprintf("%s%s 설치·운영하는 영상정보처리기기는 총 %s개소 %s대입니다.",
			in.Name, particle(in.Name, "이", "가"), num(rep.Total.Sites), num(rep.Total.Cameras))},
		{Type: BlockTable, Caption: "설치목적별·담당부서별 설치 현황", Header: []string{"설치목적", "담당부서", "개소", "대수"},
			Rows: instRows, Total: true},
	}})
	switch layout {
	case LayoutDepartments:
		for _, u := range operationUnits(in.Tables, deptNames, depts) {
			dn, dc := u.department, u.cameras
			var pt tally
			for _, c := range dc {
				pt.add(c.Purpose)
			}
			ps := pt.keys()
			slices.SortFunc(ps, byPurpose)
			parts := make([]string, len(ps))
			for i, p := range ps {
				parts[i] = p + " " + num(pt.n[p]) + "대"
			}
			count := num(siteCount(dc)) + "개소 " + num(len(dc)) + "대"
			if len(ps) > 1 {
				count += " (" + strings.Join(parts, ", ") + ")"
			} else if len(ps) == 1 {
				count += " (" + ps[0] + ")"
			}
			id, title := "2.dept."+orNone(dn), "부서별 운영현황: "+orNone(dn)
			if u.table != nil {
				id, title = "2.table."+orNone(dn)+"."+u.table.Name, "부서별 운영현황: "+orNone(dn)+" ("+u.table.Name+")"
			}
			rows := [][]string{
				{"담당부서", orNone(dn)},
				{"관리책임자 및 연락처", distinct(dc, func(c *devices.ReportCamera) string { return managerText(&c.Camera) }, false)},
				{"촬영시간", hoursText(dc, u.table)},
				{"보관기간", retentionSummary(dc)},
			}
			if b := retentionBands(dc); b != "" {
				rows = append(rows, []string{"보관기간별 대수", b})
			}
			rows = append(rows,
				[]string{"보관장소", distinct(dc, func(c *devices.ReportCamera) string { return c.StoragePlace }, false)},
				[]string{"설치대수", count},
				[]string{"위치 및 촬영범위", sitesText(dc, in.MaxSitesListed) + " / 촬영범위: " +
					distinct(dc, func(c *devices.ReportCamera) string { return c.Coverage }, false)},
				[]string{"접근권한자", distinctMulti(dc, func(c *devices.ReportCamera) []string { return c.AccessPersons })})
			add(Clause{ID: id, Item: 2, Title: title, Kind: KindStatus, Blocks: []Block{{Type: BlockFields, Rows: rows}}})
		}
	default:
		var rows [][]string
		for _, k := range gkeys {
			g := groups[k]
			rows = append(rows, []string{g.purpose, orNone(g.department), sitesText(g.cameras, in.MaxSitesListed),
				distinct(g.cameras, func(c *devices.ReportCamera) string { return c.Coverage }, false)})
		}
		add(Clause{ID: "2.locations", Item: 2, Title: "설치 위치 및 촬영 범위", Kind: KindStatus, Blocks: []Block{
			{Type: BlockTable, Header: []string{"설치목적", "담당부서", "설치 위치", "촬영범위"}, Rows: rows},
		}})
	}

	// 3. manager, department, persons with access
	cpo := in.CPO
	name := strings.TrimSpace(cpo.Title + " " + cpo.Name)
	if cpo.Name == "" {
		name = strings.TrimSpace(cpo.Title + " (지정 예정)")
	}
	cpoRows := [][]string{{"개인정보 보호책임자", name}}
	if cpo.Department != "" {
		cpoRows = append(cpoRows, []string{"소속", cpo.Department})
	}
	var contact []string
	for _, v := range []string{cpo.Phone, cpo.Email} {
		if v != "" {
			contact = append(contact, v)
		}
	}
	if len(contact) > 0 {
		cpoRows = append(cpoRows, []string{"연락처", strings.Join(contact, ", ")})
	}
	add(Clause{ID: "3.cpo", Item: 3, Title: "개인정보 보호책임자", Kind: KindText, Blocks: []Block{
		{Type: BlockParagraph, Text: topic(in.Name) + " 개인영상정보를 보호하고 관련 불만을 처리하기 위하여 다음과 같이 개인정보 보호책임자를 지정하고 있습니다."},
		{Type: BlockFields, Rows: cpoRows},
	}})
	if len(in.Staff) > 0 {
		rows := make([][]string, len(in.Staff))
		for i, st := range in.Staff {
			role := st.Role
			if i > 0 && in.Staff[i-1].Role == st.Role {
				role = "" // one 구분 cell for consecutive rows, as published
			}
			rows[i] = []string{role, st.Title, orDash(st.Department), orDash(st.Phone), st.Note}
		}
		add(Clause{ID: "3.staff", Item: 3, Title: "개인영상정보 관리책임자 및 접근권한자", Kind: KindText, Blocks: []Block{
			{Type: BlockParagraph, Text: "영상정보를 보호하고 개인영상정보와 관련한 민원을 처리하기 위하여 다음과 같이 관리책임자와 접근권한자를 두고 있습니다."},
			{Type: BlockTable, Header: []string{"구분", "직위", "소속", "전화번호", "비고"}, Rows: rows},
		}})
	}
	if layout == LayoutDepartments {
		add(Clause{ID: "3.managers", Item: 3, Title: "관리책임자 및 접근권한자", Kind: KindText, Blocks: []Block{
			{Type: BlockParagraph, Text: "담당부서별 관리책임자 및 연락처와 영상정보에 접근할 수 있는 접근권한자는 2.의 부서별 운영현황과 같습니다. " +
				"접근권한은 업무에 필요한 최소한의 인원에게만 부여합니다."},
		}})
	} else {
		var rows [][]string
		for _, dn := range deptNames {
			dc := depts[dn]
			rows = append(rows, []string{orNone(dn),
				distinct(dc, func(c *devices.ReportCamera) string { return managerText(&c.Camera) }, false),
				distinctMulti(dc, func(c *devices.ReportCamera) []string { return c.AccessPersons })})
		}
		add(Clause{ID: "3.managers", Item: 3, Title: "관리책임자 및 접근권한자", Kind: KindStatus, Blocks: []Block{
			{Type: BlockParagraph, Text: "영상정보처리기기의 담당부서, 관리책임자 및 영상정보에 접근할 수 있는 접근권한자는 다음과 같습니다. " +
				"접근권한은 업무에 필요한 최소한의 인원에게만 부여합니다."},
			{Type: BlockTable, Header: []string{"담당부서", "관리책임자 및 연락처", "접근권한자"}, Rows: rows},
		}})
	}

	// 4. hours, retention, storage place, destruction
	if layout == LayoutDepartments {
		add(Clause{ID: "4.retention", Item: 4, Title: "촬영시간, 보관기간 및 보관장소", Kind: KindText, Blocks: []Block{
			{Type: BlockParagraph, Text: "담당부서별 촬영시간, 보관기간 및 보관장소는 2.의 부서별 운영현황과 같습니다."},
		}})
	} else {
		var rows [][]string
		for _, k := range gkeys {
			g := groups[k]
			rows = append(rows, []string{g.purpose, orNone(g.department),
				distinct(g.cameras, func(c *devices.ReportCamera) string { return c.Schedule }, true),
				retentionSummary(g.cameras),
				distinct(g.cameras, func(c *devices.ReportCamera) string { return c.StoragePlace }, false)})
		}
		var bands [][]string
		for _, t := range rep.ByRetention {
			if t.Cameras > 0 {
				bands = append(bands, []string{t.Key, num(t.Cameras)})
			}
		}
		blocks := []Block{{Type: BlockTable, Header: []string{"설치목적", "담당부서", "촬영시간", "보관기간", "보관장소"}, Rows: rows}}
		if len(bands) > 0 {
			blocks = append(blocks, Block{Type: BlockTable, Caption: "보관기간별 현황", Header: []string{"보관기간", "대수"}, Rows: bands})
		}
		add(Clause{ID: "4.retention", Item: 4, Title: "촬영시간, 보관기간 및 보관장소", Kind: KindStatus, Blocks: blocks})
	}
	add(Clause{ID: "4.processing", Item: 4, Title: "처리방법", Kind: KindText, Blocks: []Block{
		{Type: BlockList, Items: []string{
			"보관기간이 지난 영상정보는 지체 없이 복원이 불가능한 방법으로 영구 삭제(출력물의 경우 파쇄 또는 소각)합니다.",
			"수사·재판 또는 정보주체의 열람 등 요구가 진행 중인 영상정보는 그 절차가 끝날 때까지 보존한 후 파기합니다.",
			"영상정보를 파기한 경우 파기한 파일명(자동 삭제의 경우 삭제 주기와 확인 일시), 파기 일시, 책임자를 개인영상정보 관리대장에 기록합니다.",
			"영상정보처리기기로 음성은 녹음하지 않습니다.",
		}},
	}})

	// 5. review
	var items5 []string
	if in.ControlCenter != "" {
		items5 = append(items5, "영상정보는 "+in.ControlCenter+"에서 관제합니다.")
	}
	items5 = append(items5, "관제방법: "+distinct(cams, func(c *devices.ReportCamera) string { return c.MonitoringMethod }, false))
	if mp := distinct(cams, func(c *devices.ReportCamera) string { return c.MonitoringPlace }, false); mp != "-" {
		items5 = append(items5, "관제장소: "+mp)
	}
	items5 = append(items5,
		"보관된 영상정보는 접근권한자가 열람 목적을 기록한 후 확인하며, 열람자·열람 일시·열람 목적·대상 영상은 기록되어 위·변조되지 않도록 관리됩니다.",
		"확인 방법: 관리책임자에게 미리 연락하고 방문하여 개인영상정보 열람·존재확인 청구서(전자문서 포함)를 제출하시면 확인할 수 있습니다.",
		"확인 장소: "+in.ReviewPlace)
	add(Clause{ID: "5.review", Item: 5, Kind: KindStatus, Blocks: []Block{{Type: BlockList, Items: items5}}})

	// 6. subject requests
	add(Clause{ID: "6.requests", Item: 6, Kind: KindText, Blocks: []Block{
		{Type: BlockParagraph, Text: "정보주체는 자신이 촬영된 영상정보 또는 명백히 정보주체의 급박한 생명, 신체, 재산의 이익을 위하여 필요한 " +
			"영상정보에 대하여 열람, 존재확인 또는 삭제를 " + in.RequestPlace + "에 청구할 수 있습니다. 대리인이 청구하는 경우에는 정보주체의 위임장을 함께 제출하여야 합니다."},
		{Type: BlockList, Items: []string{
			"청구를 받으면 본인(대리인의 경우 위임장) 여부를 확인합니다.",
			"청구를 받은 날부터 10일 이내에 열람 일시·장소를 알리거나, 연기하는 경우 그 사유를, 거절하는 경우 구체적인 사유와 이의제기 방법을 알립니다.",
			"열람은 " + in.ReviewPlace + "에서 합니다.",
			"영상에 다른 사람이 함께 촬영된 경우에는 그 사람을 알아볼 수 없도록 가림(마스킹) 처리를 한 후 열람하게 합니다.",
			"청구와 그 처리 결과(청구인의 성명·연락처, 대상 영상, 목적, 거절 사유, 사본 제공 여부)는 개인영상정보 관리대장에 기록합니다.",
		}},
		{Type: BlockParagraph, Text: "다음의 경우에는 열람 등 요구를 거절할 수 있으며, 이 경우 그 사유를 구체적으로 알립니다."},
		{Type: BlockList, Items: []string{
			"범죄의 수사, 공소의 제기 및 유지, 재판에 중대한 지장을 초래하는 경우",
			"보관기간이 지나 영상정보가 이미 파기된 경우",
			"다른 사람의 사생활 침해 우려가 커서 가림 처리로도 보호할 수 없는 경우",
			"법률에 따라 열람 등이 금지되거나 제한되는 경우",
			"그 밖에 열람 등을 거부할 정당한 사유가 있는 경우",
		}},
		{Type: BlockParagraph, Text: "경찰관이 입회하여야만 열람할 수 있다는 것이나 영상에 다른 사람이 함께 촬영되어 있다는 것은 거절 사유가 아닙니다. " +
			"다른 사람은 가림 처리를 한 후 열람하게 합니다."},
		{Type: BlockParagraph, Text: "거절 또는 연기 결정에 이의가 있는 경우 다음의 방법으로 구제를 받을 수 있습니다."},
		{Type: BlockList, Items: in.Remedies},
	}})

	// 7. safeguards
	add(Clause{ID: "7.safeguards", Item: 7, Kind: KindText, Blocks: []Block{
		{Type: BlockParagraph, Text: topic(in.Name) + " 처리하는 영상정보가 분실·도난·유출·위조·변조 또는 훼손되지 않도록 다음과 같이 " +
			"관리적·기술적·물리적 안전성 확보조치를 하고 있습니다."},
		{Type: BlockList, Items: in.Safeguards},
	}})

	// 8. other: use beyond the purpose and provision, signage, outsourcing, changes
	add(Clause{ID: "8.provision", Item: 8, Title: "영상정보의 목적 외 이용 및 제3자 제공", Kind: KindText, Blocks: []Block{
		{Type: BlockParagraph, Text: topic(in.Name) + " 영상정보를 수집 목적 이외로 이용하거나 제3자에게 제공하지 않습니다. 다만, " +
			"「개인정보 보호법」에 따라 다음의 경우에는 정보주체 또는 제3자의 이익을 부당하게 침해할 우려가 없는 범위에서 이용하거나 제공할 수 있습니다."},
		{Type: BlockList, Items: []string{
			"정보주체로부터 별도의 동의를 받은 경우",
			"다른 법률에 특별한 규정이 있는 경우",
			"명백히 정보주체 또는 제3자의 급박한 생명, 신체, 재산의 이익을 위하여 필요하다고 인정되는 경우",
			"범죄의 수사와 공소의 제기 및 유지에 필요한 경우",
			"법원의 재판업무 수행을 위하여 필요한 경우",
			"형(刑) 및 감호, 보호처분의 집행을 위하여 필요한 경우",
		}},
		{Type: BlockParagraph, Text: "목적 외 이용 또는 제3자 제공을 하는 경우에는 파일명, 이용하거나 제공받는 자, 목적, 법적 근거, 제공 일시와 형태, " +
			"요청한 안전성 확보조치를 개인영상정보 관리대장과 목적 외 이용 및 제3자 제공 대장에 기록하고, 다른 사람은 가림 처리를 한 후 제공합니다."},
	}})
	var signs, homepage, exempt int
	for _, c := range cams {
		switch c.Signage {
		case devices.SignageHomepage:
			homepage++
		case devices.SignageExempt:
			exempt++
		default:
			signs++
		}
	}
	add(Clause{ID: "8.signage", Item: 8, Title: "안내판의 설치", Kind: KindStatus, Blocks: []Block{
		{Type: BlockParagraph, Text: "정보주체가 쉽게 알아볼 수 있도록 영상정보처리기기가 설치된 곳에 설치 목적 및 장소, 촬영 범위 및 시간, " +
			"관리책임자의 연락처(위탁한 경우 수탁자의 명칭과 연락처)를 적은 안내판을 설치합니다."},
		{Type: BlockList, Items: []string{
			"산불감시용 등 장소적 특성으로 안내판을 설치하기 어렵거나 설치하더라도 정보주체가 쉽게 알아볼 수 없는 경우에는 인터넷 홈페이지에 게재하는 것으로 갈음합니다.",
			"군사시설, 국가중요시설 등 보안이 필요한 시설에는 안내판을 설치하지 않을 수 있으며, 그 위치는 공개하지 않습니다.",
		}},
		{Type: BlockTable, Header: []string{"안내 방법", "대수"}, Rows: [][]string{
			{"안내판 설치", num(signs)}, {"홈페이지 게재로 갈음", num(homepage)}, {"설치 예외 (보안시설)", num(exempt)}}},
	}})
	// outsourcing and changes
	add(outsourcingClause(in, cams, contracts))
	add(Clause{ID: "8.change", Item: 8, Title: "방침의 변경", Kind: KindText, Blocks: []Block{
		{Type: BlockList, Items: []string{
			"이 방침은 공고일자로부터 7일 이상이 지난 시행일자부터 시행합니다. 다만, 긴급히 변경하여야 하는 경우에는 그 사유를 밝히고 공고와 함께 시행할 수 있습니다.",
			"이 방침을 변경하는 경우에는 변경 내용과 시행일자를 인터넷 홈페이지에 공지하고, 개정 연혁과 변경 전·후 비교를 함께 게재합니다.",
		}},
	}})
	return d
}

func outsourcingClause(in Institution, cams []*devices.ReportCamera, contracts []Outsourcing) Clause {
	type row struct {
		name, work, contact, phone, period, note string
	}
	type siteInfo struct {
		name       string
		contractor devices.Contractor
	}
	sites := map[string]siteInfo{} // by site id and by name
	for _, c := range cams {
		si := siteInfo{c.SiteName, c.Contractor}
		sites[c.SiteID], sites[c.SiteName] = si, si
	}
	reg := map[string]devices.Contractor{} // by name
	for _, c := range cams {
		if n := strings.TrimSpace(c.Contractor.Name); n != "" {
			if _, ok := reg[n]; !ok {
				reg[n] = c.Contractor
			}
		}
	}
	var rows []row
	covered := map[string]bool{}
	period := false
	for _, o := range contracts {
		name := strings.TrimSpace(o.Contractor)
		if name == "" {
			for n, rc := range reg {
				if o.ContractorID != "" && rc.ID == o.ContractorID {
					name = n
				}
			}
		}
		if name == "" {
			name = o.ContractorID
		}
		if name == "" {
			continue
		}
		rc := reg[name]
		if rc.Name == "" && o.ContractorID != "" {
			for n, r := range reg {
				if r.ID == o.ContractorID {
					rc, name = r, n
				}
			}
		}
		covered[name] = true
		r := row{name: name, work: o.Work, contact: o.Contact, phone: o.Phone}
		if r.contact == "" {
			r.contact = rc.Contact
		}
		if r.phone == "" {
			r.phone = rc.Phone
		}
		if !o.StartsOn.IsZero() && !o.EndsOn.IsZero() {
			r.period = Date(o.StartsOn.In(devices.Seoul)) + " ~ " + Date(o.EndsOn.In(devices.Seoul))
			period = true
		}
		// One row per contracted facility when the facilities have their
		// own contacts (a company with 14 facilities: 14 rows), else one
		// row for the work with the number of facilities.
		var per []row
		contacts := map[string]bool{}
		seen := map[string]bool{}
		for _, id := range o.Sites {
			si, ok := sites[id]
			if !ok || seen[si.name] {
				continue
			}
			seen[si.name] = true
			fr := r
			fr.note = si.name
			if si.contractor.Name == name && si.contractor.Contact != "" {
				fr.contact, fr.phone = si.contractor.Contact, si.contractor.Phone
			}
			contacts[fr.contact+"\x00"+fr.phone] = true
			per = append(per, fr)
		}
		if len(contacts) > 1 {
			rows = append(rows, per...)
			continue
		}
		if len(per) > 1 {
			r.note = num(len(per)) + "개소"
		} else if len(per) == 1 {
			r.note = per[0].note
		}
		rows = append(rows, r)
	}
	for n, rc := range reg {
		if !covered[n] {
			rows = append(rows, row{name: n, contact: rc.Contact, phone: rc.Phone})
		}
	}
	for i := range rows {
		if strings.TrimSpace(rows[i].work) == "" {
			rows[i].work = "영상정보처리기기 설치 및 유지보수"
		}
	}
	slices.SortFunc(rows, func(a, b row) int {
		if c := strings.Compare(a.name, b.name); c != 0 {
			return c
		}
		if c := strings.Compare(a.work, b.work); c != 0 {
			return c
		}
		if c := strings.Compare(a.period, b.period); c != 0 {
			return c
		}
		return strings.Compare(a.note, b.note)
	})
	cl := Clause{ID: "8.outsourcing", Item: 8, Title: "영상정보처리기기 설치·관리 등의 위탁", Kind: KindOutsourcing}
	if len(rows) == 0 {
		cl.Blocks = []Block{{Type: BlockParagraph, Text: topic(in.Name) + " 영상정보처리기기의 설치·관리 업무를 위탁하지 않고 직접 운영합니다."}}
		return cl
	}
	header := []string{"수탁업체", "위탁업무명", "담당자", "연락처"}
	if period {
		header = append(header, "위탁기간")
	}
	header = append(header, "비고")
	tr := make([][]string, len(rows))
	for i, r := range rows {
		tr[i] = []string{r.name, r.work, orDash(r.contact), orDash(r.phone)}
		if period {
			tr[i] = append(tr[i], orDash(r.period))
		}
		tr[i] = append(tr[i], r.note)
	}
	cl.Blocks = []Block{
		{Type: BlockParagraph, Text: topic(in.Name) + " 영상정보처리기기의 설치·관리 업무를 다음과 같이 위탁하고 있으며, 위탁계약서에 위탁 업무의 목적 및 범위, " +
			"재위탁 제한, 영상정보에 대한 접근 제한 등 안전성 확보조치, 영상정보의 관리 현황 점검, 위반 시 손해배상 등 책임에 관한 사항을 정하고 있습니다. " +
			"수탁업체의 계정은 계약 기간 동안 계약된 개소로 한정되며, 영상 재생과 반출은 허용되지 않습니다."},
		{Type: BlockTable, Header: header, Rows: tr},
	}
	return cl
}

func orDash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "-"
	}
	return s
}

// unit is one block of the department layout: a department's cameras that
// no table takes (table nil), or an operation table's.
type unit struct {
	department string
	table      *OperationTable
	cameras    []*devices.ReportCamera
}

// operationUnits assigns each camera to the first table that takes it, else
// to its department's default block; departments in order, a department's
// default block before its tables (in the order configured). Tables
// without cameras are left out.
func operationUnits(tables []OperationTable, deptNames []string, depts map[string][]*devices.ReportCamera) []unit {
	var out []unit
	for _, dn := range deptNames {
		def := unit{department: dn}
		byTable := make([][]*devices.ReportCamera, len(tables))
		for _, c := range depts[dn] {
			i := slices.IndexFunc(tables, func(t OperationTable) bool { return t.takes(c) })
			if i < 0 {
				def.cameras = append(def.cameras, c)
				continue
			}
			byTable[i] = append(byTable[i], c)
		}
		if len(def.cameras) > 0 {
			out = append(out, def)
		}
		for i := range tables {
			if len(byTable[i]) > 0 {
				out = append(out, unit{department: dn, table: &tables[i], cameras: byTable[i]})
			}
		}
	}
	return out
}

// hoursText writes the hours of a block: with parts, the hours of the sites
// in no part, then each part's name and hours ("평일 (07:00 ~ 09:00,
// 17:00 ~ 20:00), BRT구간 365일 24시간"); else each schedule with its count
// when there are several.
func hoursText(cams []*devices.ReportCamera, t *OperationTable) string {
	sched := func(c *devices.ReportCamera) string { return c.Schedule }
	if t == nil || len(t.Parts) == 0 {
		return distinct(cams, sched, true)
	}
	partOf := func(c *devices.ReportCamera) int {
		return slices.IndexFunc(t.Parts, func(p TablePart) bool { return slices.Contains(p.Sites, c.SiteName) })
	}
	var rest []*devices.ReportCamera
	per := make([][]*devices.ReportCamera, len(t.Parts))
	for _, c := range cams {
		if i := partOf(c); i >= 0 {
			per[i] = append(per[i], c)
		} else {
			rest = append(rest, c)
		}
	}
	var out []string
	if len(rest) > 0 {
		out = append(out, distinct(rest, sched, true))
	}
	for i, p := range t.Parts {
		if len(per[i]) > 0 {
			out = append(out, p.Name+" "+distinct(per[i], sched, true))
		}
	}
	return strings.Join(out, ", ")
}

// Retention bands, shortest first, as published ("1개월 이내 868대,
// 1~3개월 150대, 3개월~1년 6대").
var retentionBandNames = []string{"1개월 이내", "1~3개월", "3개월~1년", "1년 초과", "미보유"}

func retentionBand(c *devices.Camera) int {
	switch {
	case c.NotStored:
		return 4
	case c.RetentionDays <= 31:
		return 0
	case c.RetentionDays <= 92:
		return 1
	case c.RetentionDays <= 366:
		return 2
	}
	return 3
}

// retentionBands counts a block's cameras per retention band, sorted by
// duration; empty when they all fall in one band.
func retentionBands(cams []*devices.ReportCamera) string {
	var n [5]int
	bands := 0
	for _, c := range cams {
		b := retentionBand(&c.Camera)
		if n[b] == 0 {
			bands++
		}
		n[b]++
	}
	if bands < 2 {
		return ""
	}
	var out []string
	for i, k := range n {
		if k > 0 {
			out = append(out, retentionBandNames[i]+" "+num(k)+"대")
		}
	}
	return strings.Join(out, ", ")
}
