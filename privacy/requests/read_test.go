package requests_test

import (
	"errors"
	"testing"
	"time"

	"github.com/gwanje/gwanje/audit"
	"github.com/gwanje/gwanje/privacy/requests"
)

// TestProvisionReadRecordsOnlyRealDenials (issue 14, finding 9): the
// requesting police officer (export.request) and an approving manager
// (export.approve) read a provision without any denial being recorded;
// someone with neither right is refused, and that one denial is recorded.
func TestProvisionReadRecordsOnlyRealDenials(t *testing.T) {
	e := newEnv(t, envOpts{})
	from := time.Now().Add(-time.Hour)
	p, err := e.svc.RequestProvision(e.ctx, e.users["police1"], policeRequest(from, from.Add(10*time.Minute)))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		user    string
		allowed bool
	}{
		{"police1", true},      // export.request only
		{"manager2", true},     // export.approve
		{"police1", true},      // again: never a false denial
		{"parkmanager", false}, // another department's cameras
	} {
		_, err := e.svc.GetProvision(e.ctx, e.users[tc.user], p.ID)
		if tc.allowed && err != nil {
			t.Fatalf("%s: %v", tc.user, err)
		}
		if !tc.allowed && !errors.Is(err, requests.ErrPermissionDenied) {
			t.Fatalf("%s read a provision of other cameras: %v", tc.user, err)
		}
	}
	denied := e.entries("provision.read", audit.Denied)
	if len(denied) != 1 || denied[0].Entry.Actor.Username != "parkmanager" {
		for _, d := range denied {
			t.Logf("provision.read denied: %s (%s)", d.Entry.Actor.Username, d.Entry.Reason)
		}
		t.Fatalf("provision.read denials recorded: %d, want exactly parkmanager's", len(denied))
	}
}
