package policy

import (
	"slices"
	"strings"
)

// Hunk is one run of changed lines of a clause: Before lines replaced by
// After lines (either may be empty).
type Hunk struct {
	Before []string `json:"before,omitempty"`
	After  []string `json:"after,omitempty"`
}

// Change is one changed clause of the 전·후 비교: Before is nil for a new
// clause (신설), After nil for a removed one (삭제).
type Change struct {
	ClauseID string   `json:"clause_id"`
	Label    string   `json:"label"`
	Item     int      `json:"item"`
	Kind     Kind     `json:"kind"`
	Before   []string `json:"before"`
	After    []string `json:"after"`
	Hunks    []Hunk   `json:"hunks"`
}

// Compare lists the clauses that differ between two documents, in the new
// document's order followed by the removed clauses.
func Compare(before, after *Document) []Change {
	old := map[string]Clause{}
	if before != nil {
		for _, c := range before.Clauses {
			old[c.ID] = c
		}
	}
	var out []Change
	seen := map[string]bool{}
	for _, c := range after.Clauses {
		seen[c.ID] = true
		a := c.Lines()
		o, ok := old[c.ID]
		if !ok {
			out = append(out, Change{ClauseID: c.ID, Label: c.Label(), Item: c.Item, Kind: c.Kind, After: a,
				Hunks: []Hunk{{After: a}}})
			continue
		}
		b := o.Lines()
		if slices.Equal(a, b) {
			continue
		}
		out = append(out, Change{ClauseID: c.ID, Label: c.Label(), Item: c.Item, Kind: c.Kind, Before: b, After: a,
			Hunks: diffLines(b, a)})
	}
	if before != nil {
		for _, c := range before.Clauses {
			if !seen[c.ID] {
				b := c.Lines()
				out = append(out, Change{ClauseID: c.ID, Label: c.Label(), Item: c.Item, Kind: c.Kind, Before: b,
					Hunks: []Hunk{{Before: b}}})
			}
		}
	}
	return out
}

// diffLines groups the lines not in the longest common subsequence of a and
// b into hunks.
func diffLines(a, b []string) []Hunk {
	n, m := len(a), len(b)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out []Hunk
	var cur Hunk
	flush := func() {
		if len(cur.Before)+len(cur.After) > 0 {
			out = append(out, cur)
			cur = Hunk{}
		}
	}
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && a[i] == b[j]:
			flush()
			i++
			j++
		case j < m && (i == n || lcs[i][j+1] >= lcs[i+1][j]):
			cur.After = append(cur.After, b[j])
			j++
		default:
			cur.Before = append(cur.Before, a[i])
			i++
		}
	}
	flush()
	return out
}

// Revision phrases.
const (
	RevisionFirst       = "제정"
	RevisionStatus      = "설치 및 운영현황 현행화"
	RevisionOutsourcing = "위탁에 관한 사항 현행화"
	// RevisionMigrated is the line of the first gwanje version after the
	// city's earlier revisions were imported: the document is rebuilt from
	// the registry as a whole.
	RevisionMigrated = "전부 개정 (설치 및 운영현황 등록 정보 기준 작성)"
)

// ProposeRevision proposes the 개정 연혁 line of a version with these
// changes: 제정 for the first, "설치 및 운영현황 현행화" for registry figures,
// "위탁에 관한 사항 현행화" for contractors, and "<조항> 변경" for each other
// clause.
func ProposeRevision(first bool, changes []Change) string {
	if first {
		return RevisionFirst
	}
	var status, outsourcing bool
	var other []string
	for _, c := range changes {
		switch c.Kind {
		case KindStatus:
			status = true
		case KindOutsourcing:
			outsourcing = true
		default:
			l := strings.TrimSpace(strings.TrimLeft(c.Label, "0123456789. "))
			if !slices.Contains(other, l+" 변경") {
				other = append(other, l+" 변경")
			}
		}
	}
	var parts []string
	if status {
		parts = append(parts, RevisionStatus)
	}
	if outsourcing {
		parts = append(parts, RevisionOutsourcing)
	}
	parts = append(parts, other...)
	if len(parts) == 0 {
		return "일부 개정"
	}
	return strings.Join(parts, "; ")
}
