package audit_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gwanje/gwanje/audit"
	"github.com/gwanje/gwanje/internal/pgtest"
)

// asSuperuser runs sqls with triggers off, as an attacker with superuser
// rights would.
func asSuperuser(t *testing.T, pool *pgxpool.Pool, sqls ...string) {
	t.Helper()
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "set local session_replication_role = replica"); err != nil {
		t.Fatal(err)
	}
	for _, q := range sqls {
		if _, err := tx.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
}

// chain20 writes 20 entries with signed checkpoints at 10 and 20.
func chain20(t *testing.T) (*pgxpool.Pool, *audit.Store) {
	pool := pgtest.Pool(t)
	s := start(t, pool, audit.Config{CheckpointInterval: time.Hour})
	ctx := context.Background()
	for _, n := range []int{10, 10} {
		mustAppend(t, s, n)
		if _, err := s.Checkpoint(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if rep := mustVerify(t, s, audit.VerifyRange{}); !rep.OK || rep.Checked != 20 || rep.Checkpoints != 2 || rep.Unsigned != 0 {
		t.Fatalf("clean chain: %+v %v", rep, rep.Problem)
	}
	return pool, s
}

func TestVerifyFindsTampering(t *testing.T) {
	other := ed25519.NewKeyFromSeed([]byte("an attacker's key, 32 bytes long"))
	forged := ed25519.Sign(other, audit.CheckpointMessage(20, make([]byte, 32), time.Unix(0, 0)))
	for _, tc := range []struct {
		name   string
		sql    []string
		seq    int64
		kind   string
		detail string
	}{
		{"edit a field", []string{"update audit_entry set reason = 'nothing to see' where seq = 5"}, 5, audit.ProblemEdited, "edited"},
		{"edit a camera", []string{"update audit_entry set cameras = '{cam-x}' where seq = 12"}, 12, audit.ProblemEdited, "edited"},
		{"edit the log time", []string{"update audit_entry set time = time - interval '1 day' where seq = 3"}, 3, audit.ProblemEdited, "edited"},
		{"delete one", []string{"delete from audit_entry where seq = 5"}, 5, audit.ProblemMissing, "entry 5 is missing"},
		{"delete several", []string{"delete from audit_entry where seq between 5 and 7"}, 5, audit.ProblemMissing, "entries 5 to 7 are missing"},
		{"delete the first", []string{"delete from audit_entry where seq = 1"}, 1, audit.ProblemMissing, "entry 1 is missing"},
		{"swap two", []string{"update audit_entry set seq = case seq when 4 then 5 else 4 end where seq in (4, 5)"}, 4, audit.ProblemEdited, "edited"},
		{"cut the tail", []string{"delete from audit_entry where seq >= 15"}, 15, audit.ProblemTailCut, "ends at entry 14"},
		{"cut the tail and move the head back", []string{
			"delete from audit_entry where seq >= 15",
			"update audit_head set seq = 14, hash = (select hash from audit_entry where seq = 14)",
		}, 15, audit.ProblemTailCut, "signed checkpoint covers entry 20"},
		{"break a checkpoint signature", []string{"update audit_checkpoint set signature = overlay(signature placing '\\x00' from 1 for 1) where seq = 10"}, 10, audit.ProblemBadSignature, "invalid signature"},
		{"checkpoint from an untrusted key", []string{
			"delete from audit_checkpoint where seq = 20",
			"insert into audit_checkpoint (seq, hash, logged_at, public_key, signature) values (20, '\\x" + strings.Repeat("00", 32) + "', 'epoch', '\\x" + hexs(other.Public().(ed25519.PublicKey)) + "', '\\x" + hexs(forged) + "')",
		}, 20, audit.ProblemBadSignature, "untrusted key"},
		{"insert a forged entry", []string{"insert into audit_entry select seq + 1, logged_at, time, type, outcome, user_id, username, role, org, client_addr, session_id, cameras, footage_from, footage_to, live, purpose, purpose_text, reason, request_id, details, hash, prev_hash from audit_entry where seq = 20"}, 21, audit.ProblemEdited, "edited"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pool, s := chain20(t)
			asSuperuser(t, pool, tc.sql...)
			rep := mustVerify(t, s, audit.VerifyRange{})
			if rep.OK || rep.Problem == nil {
				t.Fatalf("tampering not found: %+v", rep)
			}
			p := rep.Problem
			if p.Seq != tc.seq || p.Kind != tc.kind || !strings.Contains(p.Detail, tc.detail) {
				t.Fatalf("got %s, want entry %d: %s (%q)", p, tc.seq, tc.kind, tc.detail)
			}
		})
	}
}

func TestVerifyRanges(t *testing.T) {
	pool, s := chain20(t)
	rep := mustVerify(t, s, audit.VerifyRange{FromSeq: 5, ToSeq: 15})
	if !rep.OK || rep.FirstSeq != 5 || rep.LastSeq != 15 || rep.Checked != 11 || rep.Checkpoints != 1 {
		t.Fatalf("range: %+v %v", rep, rep.Problem)
	}
	asSuperuser(t, pool, "update audit_entry set reason = 'x' where seq = 18")
	if rep := mustVerify(t, s, audit.VerifyRange{FromSeq: 5, ToSeq: 15}); !rep.OK {
		t.Fatalf("an edit outside the range was reported: %v", rep.Problem)
	}
	if rep := mustVerify(t, s, audit.VerifyRange{From: time.Now().Add(-time.Hour)}); rep.OK || rep.Problem.Seq != 18 {
		t.Fatalf("time range: %+v %v", rep, rep.Problem)
	}
}

func TestChangesRefused(t *testing.T) {
	pool, _ := chain20(t)
	ctx := context.Background()
	var part string
	if err := pool.QueryRow(ctx, "select audit_ensure_partition(now())").Scan(&part); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"update audit_entry set reason = 'x' where seq = 1",
		"update audit_entry set reason = 'x'",
		"delete from audit_entry where seq = 1",
		"delete from audit_entry",
		"truncate audit_entry",
		"update " + part + " set reason = 'x' where seq = 1",
		"delete from " + part,
		"truncate " + part,
		"update audit_checkpoint set seq = 1",
		"delete from audit_checkpoint",
		"truncate audit_checkpoint",
		"truncate audit_retention",
	} {
		_, err := pool.Exec(ctx, q)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "42501" || !strings.Contains(pe.Message, "append-only") {
			t.Errorf("%s: got %v, want refusal", q, err)
		}
	}
	var n int
	if err := pool.QueryRow(ctx, "select count(*) from audit_entry").Scan(&n); err != nil || n != 20 {
		t.Fatalf("entries left: %d %v", n, err)
	}
}

func hexs(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}
