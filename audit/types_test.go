package audit_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/gwanje/gwanje/audit"
)

// typeLiteral matches a string literal that names an audit entry type: a
// dotted lower-case name whose first word is an area entries are written
// for (a literal ending in "." is a prefix completed at run time, like
// "ptz." + action).
var typeLiteral = regexp.MustCompile(`"((?:auth|access|user|org|role|grant|contract|device|site|ptz|alarm|live|playback|snapshot|recording|export|provision|request|ledger|policy|report|audit)\.[a-z_.]*)"`)

// TestEveryEmittedTypeIsListed greps the source of every package that
// writes audit entries (files that build an audit.Entry or name an audit
// type constant) for type literals, and fails for any missing from
// audit.Types. Lines that name permissions (same dotted form) and the
// events package (NATS subjects) are skipped.
func TestEveryEmittedTypeIsListed(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	found := map[string][]string{}
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			if strings.HasPrefix(d.Name(), ".") || rel == "proto" || rel == "events" || rel == "cmd/auditbench" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		src := string(b)
		if !strings.Contains(src, "Entry{") && !strings.Contains(src, "AppendTx") && !strings.Contains(src, "Audit") {
			return nil
		}
		for i, line := range strings.Split(src, "\n") {
			if strings.Contains(line, "Perm") || strings.HasPrefix(strings.TrimSpace(line), "//") {
				continue
			}
			for _, m := range typeLiteral.FindAllStringSubmatch(line, -1) {
				found[m[1]] = append(found[m[1]], rel+":"+strconv.Itoa(i+1))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(found) < 40 {
		t.Fatalf("only %d types found in the source: the grep is broken", len(found))
	}
	var missing []string
	for typ, where := range found {
		if _, ok := audit.LookupType(typ); !ok {
			if strings.HasSuffix(typ, ".") && hasType(typ) {
				continue
			}
			missing = append(missing, typ+" ("+strings.Join(where, ", ")+")")
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Fatalf("audit entry types written by the code but not in audit.Types (add them with their classes):\n%s", strings.Join(missing, "\n"))
	}
}

func hasType(prefix string) bool {
	for _, ti := range audit.Types {
		if ti.Type == prefix {
			return true
		}
	}
	return false
}

// TestFiltersDeriveFromTheTypeList: the grant-change, view and ledger
// filters are the list's classes, and every grant-change type is one the
// code emits (the old default named "account.", which nothing emits).
func TestFiltersDeriveFromTheTypeList(t *testing.T) {
	for _, g := range audit.GrantChangeTypes() {
		if ti, ok := audit.LookupType(g); !ok || !ti.GrantChange {
			t.Errorf("grant filter %q", g)
		}
	}
	for _, want := range []string{"grant.create", "role.update", "user.create", "contract.create", "grant.deny.create"} {
		if ti, ok := audit.LookupType(want); !ok || !ti.GrantChange {
			t.Errorf("%s is not a grant change", want)
		}
	}
	if _, ok := audit.LookupType("account.create"); ok {
		t.Error("account.* is listed although nothing emits it")
	}
	views := strings.Join(audit.ViewTypes(), " ")
	for _, want := range []string{"live.view.start", "playback.start", "snapshot.view", "export.create"} {
		if !strings.Contains(views, want) {
			t.Errorf("view filter lacks %s: %s", want, views)
		}
	}
	if audit.DefaultLedgerTypes["playback.start"] != audit.LedgerUse || audit.DefaultLedgerTypes["recording.destroy"] != audit.LedgerDestroy ||
		audit.DefaultLedgerTypes["provision.approve"] != audit.LedgerProvide || audit.DefaultLedgerTypes["request.view"] != audit.LedgerView {
		t.Errorf("ledger: %v", audit.DefaultLedgerTypes)
	}
}
