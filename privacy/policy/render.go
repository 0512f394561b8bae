package policy

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"strconv"
	"strings"
	"time"
)

// VersionInfo describes a published version (without its content).
type VersionInfo struct {
	Number       int
	PublishedAt  time.Time
	AnnouncedOn  time.Time // 공고일자 (civil date, KST)
	EffectiveOn  time.Time // 시행일자 (civil date, KST)
	UrgentReason string    // why it took effect less than 7 days after its announcement
	Revision     string    // the 개정 연혁 line (제·개정 내용)
	PublishedBy  string
	ContentHash  []byte
	// Institution is the settings the version was published with (nil for
	// imported revisions and versions published before settings were
	// recorded).
	Institution *Institution
	// Imported marks a revision the city published before gwanje
	// (ImportHistory); HasDocument, that its text was imported with it.
	Imported    bool
	HasDocument bool
}

// Version is a published version with its content.
type Version struct {
	VersionInfo
	Document Document
	// Changes is the 전·후 비교 against the previous version (empty for the first).
	Changes  []Change
	HTML     string
	Markdown string
}

//go:embed policy.css
var css string

//go:embed policy.html.tmpl
var policyTmplText string

var numericHeaders = map[string]bool{"개소": true, "대수": true}

var funcs = template.FuncMap{
	"css":     func() template.CSS { return template.CSS(css) },
	"date":    Date,
	"ym":      func(t time.Time) string { return fmt.Sprintf("%d. %d.", t.Year(), int(t.Month())) },
	"numeric": func(h string) bool { return numericHeaders[h] },
	"last":    func(i, n int) bool { return i == n-1 },
	"colnum": func(header []string, i int) bool {
		return i < len(header) && numericHeaders[header[i]]
	},
}

var policyTmpl = template.Must(template.New("policy").Funcs(funcs).Parse(policyTmplText))

// NoticeMarker is where the HTTP handler inserts the notice of a pending
// revision into a stored page.
const NoticeMarker = "<!--gwanje:notice-->"

type section struct {
	Heading string
	Clauses []Clause
}

// compareRow is one row of the 전·후 비교 table, the changed part of each
// paired line underlined.
type compareRow struct {
	Label         string
	Before, After []template.HTML
	New, Removed  bool
}

// markPair underlines what differs between two lines (after their common
// prefix and suffix).
func markPair(a, b string) (template.HTML, template.HTML) {
	ra, rb := []rune(a), []rune(b)
	p := 0
	for p < len(ra) && p < len(rb) && ra[p] == rb[p] {
		p++
	}
	q := 0
	for q < len(ra)-p && q < len(rb)-p && ra[len(ra)-1-q] == rb[len(rb)-1-q] {
		q++
	}
	mark := func(r []rune) template.HTML {
		pre, mid, suf := string(r[:p]), string(r[p:len(r)-q]), string(r[len(r)-q:])
		out := template.HTMLEscapeString(pre)
		if mid != "" {
			out += "<u>" + template.HTMLEscapeString(mid) + "</u>"
		}
		return template.HTML(out + template.HTMLEscapeString(suf))
	}
	return mark(ra), mark(rb)
}

func compareRows(changes []Change) []compareRow {
	var out []compareRow
	for _, c := range changes {
		for _, h := range c.Hunks {
			r := compareRow{Label: c.Label, New: c.Before == nil, Removed: c.After == nil}
			n := min(len(h.Before), len(h.After))
			for i := 0; i < n; i++ {
				a, b := markPair(h.Before[i], h.After[i])
				r.Before, r.After = append(r.Before, a), append(r.After, b)
			}
			for _, l := range h.Before[n:] {
				r.Before = append(r.Before, template.HTML("<u>"+template.HTMLEscapeString(l)+"</u>"))
			}
			for _, l := range h.After[n:] {
				r.After = append(r.After, template.HTML("<u>"+template.HTMLEscapeString(l)+"</u>"))
			}
			out = append(out, r)
		}
	}
	return out
}

type pageView struct {
	Compare  []compareRow
	Doc      *Document
	Meta     VersionInfo
	Preamble []Clause
	Sections []section
	History  []VersionInfo
	Changes  []Change
	Notice   template.HTML
}

func sections(d *Document) (pre []Clause, secs []section) {
	for _, c := range d.Clauses {
		if c.Item == 0 {
			pre = append(pre, c)
			continue
		}
		h := Heading(c.Item)
		if len(secs) == 0 || secs[len(secs)-1].Heading != h {
			secs = append(secs, section{Heading: h})
		}
		secs[len(secs)-1].Clauses = append(secs[len(secs)-1].Clauses, c)
	}
	return pre, secs
}

// RenderHTML renders a document as a self-contained, printable HTML page
// (inline CSS, no external assets): the header with 공고일자 and 시행일자
// when meta.Number > 0, the clauses, the 개정 연혁 (history, oldest first)
// and the 전·후 비교 (changes).
func RenderHTML(d *Document, meta VersionInfo, history []VersionInfo, changes []Change) (string, error) {
	pre, secs := sections(d)
	var buf bytes.Buffer
	if err := policyTmpl.Execute(&buf, pageView{Doc: d, Meta: meta, Preamble: pre, Sections: secs, History: history,
		Changes: changes, Compare: compareRows(changes), Notice: NoticeMarker}); err != nil {
		return "", fmt.Errorf("policy: render html: %w", err)
	}
	return buf.String(), nil
}

func mdCell(s string) string {
	s = strings.ReplaceAll(s, `\`, `\\`)
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "\n", " ")
}

func mdTable(b *strings.Builder, header []string, rows [][]string) {
	cells := make([]string, len(header))
	seps := make([]string, len(header))
	for i, h := range header {
		cells[i] = mdCell(h)
		seps[i] = "---"
		if numericHeaders[h] {
			seps[i] = "---:"
		}
	}
	fmt.Fprintf(b, "| %s |\n| %s |\n", strings.Join(cells, " | "), strings.Join(seps, " | "))
	for _, r := range rows {
		cs := make([]string, len(r))
		for i, c := range r {
			cs[i] = mdCell(c)
			if c == "" {
				cs[i] = " "
			}
		}
		fmt.Fprintf(b, "| %s |\n", strings.Join(cs, " | "))
	}
	b.WriteString("\n")
}

func mdBlocks(b *strings.Builder, blocks []Block) {
	for _, bl := range blocks {
		switch bl.Type {
		case BlockParagraph:
			b.WriteString(bl.Text + "\n\n")
		case BlockList:
			for _, it := range bl.Items {
				b.WriteString("- " + it + "\n")
			}
			b.WriteString("\n")
		case BlockTable:
			if bl.Caption != "" {
				b.WriteString("**" + bl.Caption + "**\n\n")
			}
			mdTable(b, bl.Header, bl.Rows)
		case BlockFields:
			mdTable(b, []string{"구분", "내용"}, bl.Rows)
		}
	}
}

// RenderMarkdown renders a document as Markdown (GitHub tables), with the
// same parts as RenderHTML.
func RenderMarkdown(d *Document, meta VersionInfo, history []VersionInfo, changes []Change) string {
	var b strings.Builder
	b.WriteString("# " + d.Title + "\n\n")
	if meta.Number > 0 {
		fmt.Fprintf(&b, "- 공고일자: %s\n- 시행일자: %s\n- 제%d판: %s\n", Date(meta.AnnouncedOn), Date(meta.EffectiveOn),
			meta.Number, meta.Revision)
		if meta.UrgentReason != "" {
			b.WriteString("- 긴급 시행 사유: " + meta.UrgentReason + "\n")
		}
		b.WriteString("\n")
	}
	pre, secs := sections(d)
	for _, c := range pre {
		mdBlocks(&b, c.Blocks)
	}
	for _, s := range secs {
		b.WriteString("## " + s.Heading + "\n\n")
		for _, c := range s.Clauses {
			if c.Title != "" {
				b.WriteString("### " + c.Title + "\n\n")
			}
			mdBlocks(&b, c.Blocks)
		}
	}
	if len(history) > 0 {
		b.WriteString("## 개정 연혁\n\n")
		rows := make([][]string, len(history))
		for i, h := range history {
			rows[i] = []string{strconv.Itoa(h.Number), fmt.Sprintf("%d. %d.", h.AnnouncedOn.Year(), int(h.AnnouncedOn.Month())),
				h.Revision, Date(h.AnnouncedOn), Date(h.EffectiveOn)}
		}
		mdTable(&b, []string{"번호", "년월", "제·개정 내용", "공고일자", "시행일자"}, rows)
	}
	if len(changes) > 0 {
		b.WriteString("## 전·후 비교\n\n")
		var rows [][]string
		for _, c := range changes {
			for _, h := range c.Hunks {
				before, after := strings.Join(h.Before, "<br>"), strings.Join(h.After, "<br>")
				if c.Before == nil {
					before = "(신설)"
				}
				if c.After == nil {
					after = "(삭제)"
				}
				rows = append(rows, []string{c.Label, before, after})
			}
		}
		mdTable(&b, []string{"조항", "현행", "개정"}, rows)
	}
	return b.String()
}
