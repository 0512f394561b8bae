package audit

import (
	"context"
	"testing"
	"time"

	"github.com/gwanje/gwanje/internal/pgtest"
)

// TestVerifyFindsRewrittenChain: an attacker who knows the format edits an
// entry and recomputes hashes. Rewriting one entry breaks the link to the
// next; rewriting the whole rest of the chain is caught by the signed
// checkpoint.
func TestVerifyFindsRewrittenChain(t *testing.T) {
	for _, tc := range []struct {
		name       string
		from, upTo int64
		seq        int64
		kind       string
	}{
		{"one entry rehashed", 12, 12, 13, ProblemChain},
		{"rest of the chain rehashed", 5, 20, 10, ProblemCheckpoint},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			pool := pgtest.Pool(t)
			s, err := New(Config{Pool: pool, SigningKey: testSigningKey(), CheckpointInterval: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			go s.Run(ctx)
			defer s.Close()
			for i := 0; i < 20; i++ {
				if _, err := s.Append(ctx, Entry{Type: "live.view.start", Outcome: Success, Reason: "ok"}); err != nil {
					t.Fatal(err)
				}
				if i == 9 {
					if _, err := s.Checkpoint(ctx); err != nil {
						t.Fatal(err)
					}
				}
			}
			var prev []byte
			if err := pool.QueryRow(ctx, "select hash from audit_entry where seq = $1", tc.from-1).Scan(&prev); err != nil {
				t.Fatal(err)
			}
			tx, err := pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(ctx)
			if _, err := tx.Exec(ctx, "set local session_replication_role = replica"); err != nil {
				t.Fatal(err)
			}
			for seq := tc.from; seq <= tc.upTo; seq++ {
				rows, err := tx.Query(ctx, "select "+entryCols+" from audit_entry where seq = $1", seq)
				if err != nil {
					t.Fatal(err)
				}
				rows.Next()
				st, err := scanStored(rows)
				rows.Close()
				if err != nil {
					t.Fatal(err)
				}
				r := &row{seq: seq, loggedAt: st.LoggedAt.UnixMicro(), e: st.Entry, details: "{}"}
				if seq == tc.from {
					r.e.Reason = "rewritten"
				}
				r.seal(prev)
				prev = r.hash
				if _, err := tx.Exec(ctx, "update audit_entry set reason = $1, prev_hash = $2, hash = $3 where seq = $4", r.e.Reason, r.prev, r.hash, seq); err != nil {
					t.Fatal(err)
				}
			}
			if tc.upTo == 20 {
				if _, err := tx.Exec(ctx, "update audit_head set hash = $1", prev); err != nil {
					t.Fatal(err)
				}
			}
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			rep, err := s.Verify(ctx, VerifyRange{})
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK || rep.Problem.Seq != tc.seq || rep.Problem.Kind != tc.kind {
				t.Fatalf("got %+v %v, want entry %d %s", rep, rep.Problem, tc.seq, tc.kind)
			}
		})
	}
}
