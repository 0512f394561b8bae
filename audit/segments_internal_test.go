package audit

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gwanje/gwanje/internal/pgtest"
)

// TestVerifySegments: verification split over several connections finds
// the same first problem as one walk, wherever the segment borders fall.
func TestVerifySegments(t *testing.T) {
	old := verifySegmentMin
	verifySegmentMin = 5
	defer func() { verifySegmentMin = old }()
	// 40 entries over 4 segments: 1-10, 11-20, 21-30, 31-40.
	for _, tc := range []struct {
		name string
		sql  string
		seq  int64
		kind string
	}{
		{"clean", "", 0, ""},
		{"edit in segment 3", "update audit_entry set reason = 'x' where seq = 25", 25, ProblemEdited},
		{"edits in two segments", "update audit_entry set reason = 'x' where seq in (17, 33)", 17, ProblemEdited},
		{"delete the last of segment 1", "delete from audit_entry where seq = 10", 10, ProblemMissing},
		{"delete the first of segment 2", "delete from audit_entry where seq = 11", 11, ProblemMissing},
		{"delete across a border", "delete from audit_entry where seq between 19 and 22", 19, ProblemMissing},
		{"delete a whole segment", "delete from audit_entry where seq between 11 and 20", 11, ProblemMissing},
		{"cut the tail", "delete from audit_entry where seq >= 36", 36, ProblemTailCut},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			pool := pgtest.Pool(t)
			s, err := New(Config{Pool: pool, SigningKey: testSigningKey(), CheckpointInterval: time.Hour, VerifyParallel: 4})
			if err != nil {
				t.Fatal(err)
			}
			go s.Run(ctx)
			defer s.Close()
			for i := 0; i < 40; i++ {
				if _, err := s.Append(ctx, Entry{Type: "live.view.start", Outcome: Success, RequestID: fmt.Sprint(i)}); err != nil {
					t.Fatal(err)
				}
				if i == 29 {
					if _, err := s.Checkpoint(ctx); err != nil {
						t.Fatal(err)
					}
				}
			}
			if tc.sql != "" {
				tx, err := pool.Begin(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := tx.Exec(ctx, "set local session_replication_role = replica"); err != nil {
					t.Fatal(err)
				}
				if _, err := tx.Exec(ctx, tc.sql); err != nil {
					t.Fatal(err)
				}
				if err := tx.Commit(ctx); err != nil {
					t.Fatal(err)
				}
			}
			for _, par := range []int{1, 4} {
				s.cfg.VerifyParallel = par
				rep, err := s.Verify(ctx, VerifyRange{})
				if err != nil {
					t.Fatal(err)
				}
				if tc.kind == "" {
					if !rep.OK || rep.Checked != 40 || rep.FirstSeq != 1 || rep.LastSeq != 40 || rep.Checkpoints != 1 || rep.Unsigned != 10 {
						t.Fatalf("parallel %d: %+v %v", par, rep, rep.Problem)
					}
					continue
				}
				if rep.OK || rep.Problem.Seq != tc.seq || rep.Problem.Kind != tc.kind {
					t.Fatalf("parallel %d: got %+v %v, want entry %d %s", par, rep, rep.Problem, tc.seq, tc.kind)
				}
			}
		})
	}
}
