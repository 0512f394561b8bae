package requests_test

import (
	"errors"
	"testing"
	"time"

	"github.com/gwanje/gwanje/privacy/requests"
)

// TestBidiControlsRefused (issue 14, finding 9): a recipient or requester
// whose name holds bidirectional formatting characters would show in the
// ledger as someone else; such text is refused with ErrInvalid and nothing
// is recorded.
func TestBidiControlsRefused(t *testing.T) {
	e := newEnv(t, envOpts{})
	from := time.Now().Add(-time.Hour)
	for _, tc := range []struct {
		name string
		do   func() error
	}{
		{"recipient name", func() error {
			r := policeRequest(from, from.Add(time.Minute))
			r.Recipient.Name = "김\u202e수사"
			_, err := e.svc.RequestProvision(e.ctx, e.users["police1"], r)
			return err
		}},
		{"provision reason", func() error {
			r := policeRequest(from, from.Add(time.Minute))
			r.Reason = "절도\u2067"
			_, err := e.svc.RequestProvision(e.ctx, e.users["police1"], r)
			return err
		}},
		{"requester name", func() error {
			in := intake(requests.KindView, from, from.Add(time.Minute))
			in.RequesterName = "\u200f홍길동"
			_, err := e.svc.OpenRequest(e.ctx, e.users["manager1"], in)
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.do(); !errors.Is(err, requests.ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
		})
	}
	var n int
	if err := e.pool.QueryRow(e.ctx, `select (select count(*) from privacy_provisions) + (select count(*) from privacy_subject_requests)`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("refused input stored: %d %v", n, err)
	}
}
