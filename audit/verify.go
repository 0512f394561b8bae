package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Problem kinds Verify reports.
const (
	// ProblemEdited: the entry's content does not match its hash.
	ProblemEdited = "edited"
	// ProblemMissing: sequence numbers are missing (entries deleted, or a
	// month dropped without a retention record).
	ProblemMissing = "missing"
	// ProblemChain: the entry's previous hash is not the hash of the entry
	// before it (entries reordered, replaced or inserted), or its log time
	// goes back.
	ProblemChain = "chain_broken"
	// ProblemTailCut: entries after the last one present were removed: the
	// chain head or a signed checkpoint is beyond the end.
	ProblemTailCut = "tail_cut"
	// ProblemBadSignature: a checkpoint's signature is invalid or made with
	// an untrusted key.
	ProblemBadSignature = "bad_checkpoint_signature"
	// ProblemCheckpoint: a validly signed checkpoint names another hash
	// than the entry at its seq has (the chain was rewritten).
	ProblemCheckpoint = "checkpoint_mismatch"
)

// VerifyRange bounds a verification. Zero fields mean "from the first
// entry" and "to the last". Seq bounds win over time bounds; time bounds
// select by log time (From inclusive, To exclusive).
type VerifyRange struct {
	FromSeq, ToSeq int64
	From, To       time.Time
}

// Problem is the first integrity failure found.
type Problem struct {
	Seq    int64
	Kind   string
	Detail string
}

func (p *Problem) String() string {
	return fmt.Sprintf("entry %d: %s: %s", p.Seq, p.Kind, p.Detail)
}

// VerifyReport is what Verify found.
type VerifyReport struct {
	OK bool
	// FirstSeq and LastSeq are the entries checked; Checked their number.
	FirstSeq, LastSeq, Checked int64
	// Checkpoints is the number of valid checkpoints matched; LastCheckpoint
	// the highest; Unsigned the entries after it (protected by the chain
	// only until the next checkpoint).
	Checkpoints    int
	LastCheckpoint int64
	Unsigned       int64
	// Anchor says where the chain was anchored: "genesis", "retention of
	// entries up to N", or "entry N (not verified)".
	Anchor   string
	Problem  *Problem
	Duration time.Duration
}

// Verify walks the chain and the checkpoints in r and reports the first
// broken entry. An error means verification could not run (database),
// never that the log is broken: that is the report's Problem.
func (s *Store) Verify(ctx context.Context, r VerifyRange) (*VerifyReport, error) {
	start := time.Now()
	rep, err := s.verify(ctx, r)
	if err != nil {
		return nil, fmt.Errorf("audit: verify: %w", err)
	}
	rep.OK = rep.Problem == nil
	rep.Duration = time.Since(start)
	return rep, nil
}

func (s *Store) verify(ctx context.Context, r VerifyRange) (*VerifyReport, error) {
	rep := &VerifyReport{}
	h, err := readHead(ctx, s.pool, false)
	if err != nil {
		return nil, err
	}
	from, to := r.FromSeq, r.ToSeq
	if from == 0 && !r.From.IsZero() {
		if err := s.pool.QueryRow(ctx, "select coalesce(min(seq), $2) from audit_entry where logged_at >= $1", r.From, h.seq+1).Scan(&from); err != nil {
			return nil, err
		}
	}
	if to == 0 && !r.To.IsZero() {
		if err := s.pool.QueryRow(ctx, "select coalesce(max(seq), 0) from audit_entry where logged_at < $1", r.To).Scan(&to); err != nil {
			return nil, err
		}
	}
	toEnd := to == 0
	if toEnd {
		to = 1<<63 - 1
	}

	// The anchor: the hash the first checked entry must follow.
	var retainedUpTo int64
	var retainedHash []byte
	if err := s.pool.QueryRow(ctx, "select last_seq, last_hash from audit_retention order by last_seq desc limit 1").Scan(&retainedUpTo, &retainedHash); err != nil && !isNoRows(err) {
		return nil, err
	}
	if from <= retainedUpTo+1 {
		from = retainedUpTo + 1
	}
	expect := from
	var prev []byte
	switch {
	case from == 1:
		prev, rep.Anchor = genesis, "genesis"
	case from == retainedUpTo+1:
		prev, rep.Anchor = retainedHash, fmt.Sprintf("retention record of entries up to %d", retainedUpTo)
	default:
		err := s.pool.QueryRow(ctx, "select hash from audit_entry where seq = $1", from-1).Scan(&prev)
		if isNoRows(err) {
			// The anchor itself is gone: start at the first entry present.
			prev = nil
			rep.Anchor = fmt.Sprintf("entry %d is missing", from-1)
		} else if err != nil {
			return nil, err
		} else {
			rep.Anchor = fmt.Sprintf("entry %d (not verified)", from-1)
		}
	}

	cps, err := s.Checkpoints(ctx, from, to)
	if err != nil {
		return nil, err
	}
	trusted := append([]ed25519.PublicKey{s.pub}, s.cfg.TrustedKeys...)
	isTrusted := func(pk ed25519.PublicKey) bool {
		for _, k := range trusted {
			if bytes.Equal(k, pk) {
				return true
			}
		}
		return false
	}
	cpi := 0
	fail := func(seq int64, kind, format string, args ...any) {
		if rep.Problem == nil {
			rep.Problem = &Problem{Seq: seq, Kind: kind, Detail: fmt.Sprintf(format, args...)}
		}
	}
	// checkpointsUpTo checks the checkpoints with seq <= upTo; hash is the
	// entry hash at upTo (nil when upTo is not an entry).
	checkpointsUpTo := func(upTo int64, hash []byte) {
		for cpi < len(cps) && cps[cpi].Seq <= upTo && rep.Problem == nil {
			c := cps[cpi]
			cpi++
			if !isTrusted(c.PublicKey) || !c.Valid() {
				fail(c.Seq, ProblemBadSignature, "the checkpoint at entry %d has an invalid signature or an untrusted key", c.Seq)
				return
			}
			if c.Seq == upTo && hash != nil && !bytes.Equal(c.Hash, hash) {
				fail(c.Seq, ProblemCheckpoint, "the signed checkpoint names hash %x…, the entry has %x…: the chain was rewritten up to here", c.Hash[:6], hash[:6])
				return
			}
			rep.Checkpoints++
			rep.LastCheckpoint = c.Seq
		}
	}

	var lastLogged int64 = -1 << 63
	last := from - 1
	err = s.scanRaw(ctx, from, to, func(f *fields, prevHash, hash []byte, buf []byte) ([]byte, bool) {
		if rep.Checked == 0 {
			rep.FirstSeq = f.seq
			if prev == nil { // anchor missing: report it at the first entry
				fail(from-1, ProblemMissing, "entry %d, which entry %d follows, is missing", from-1, f.seq)
				return buf, false
			}
		}
		sum, buf := entryHash(prevHash, f, buf)
		switch {
		case f.seq > expect:
			checkpointsUpTo(expect-1, nil)
			if expect == f.seq-1 {
				fail(expect, ProblemMissing, "entry %d is missing (deleted): entry %d follows entry %d", expect, f.seq, expect-1)
			} else {
				fail(expect, ProblemMissing, "entries %d to %d are missing (deleted): entry %d follows entry %d", expect, f.seq-1, f.seq, expect-1)
			}
		case f.seq < expect:
			fail(f.seq, ProblemChain, "entry %d appears again after entry %d (duplicated or reordered)", f.seq, expect-1)
		case !bytes.Equal(sum, hash):
			fail(f.seq, ProblemEdited, "its content does not match its hash: the entry was edited")
		case !bytes.Equal(prevHash, prev):
			fail(f.seq, ProblemChain, "its previous-entry hash does not match entry %d's hash: entries were reordered, replaced or inserted", f.seq-1)
		case f.loggedAt < lastLogged:
			fail(f.seq, ProblemChain, "its log time is earlier than entry %d's (reordered)", f.seq-1)
		}
		if rep.Problem != nil {
			return buf, false
		}
		checkpointsUpTo(f.seq, hash)
		if rep.Problem != nil {
			return buf, false
		}
		rep.Checked++
		rep.LastSeq = f.seq
		last = f.seq
		lastLogged = f.loggedAt
		prev = append(prev[:0:0], hash...)
		expect = f.seq + 1
		return buf, true
	})
	if err != nil {
		return nil, err
	}
	if rep.Problem != nil {
		return rep, nil
	}
	// Checkpoints beyond the last entry: the tail was cut off.
	if toEnd {
		more, err := s.Checkpoints(ctx, last+1, 1<<63-1)
		if err != nil {
			return nil, err
		}
		for _, c := range more {
			if !isTrusted(c.PublicKey) || !c.Valid() {
				fail(c.Seq, ProblemBadSignature, "the checkpoint at entry %d has an invalid signature or an untrusted key", c.Seq)
				return rep, nil
			}
		}
		if n := len(more); n > 0 {
			fail(last+1, ProblemTailCut, "entries from %d on are missing: the log ends at entry %d but a signed checkpoint covers entry %d", last+1, last, more[n-1].Seq)
			return rep, nil
		}
		if h.seq > last {
			fail(last+1, ProblemTailCut, "entries from %d on are missing: the log ends at entry %d but the chain head is at entry %d", last+1, last, h.seq)
			return rep, nil
		}
		if h.seq == last && last > 0 && !bytes.Equal(h.hash, prev) {
			fail(last, ProblemChain, "the chain head's hash does not match the last entry's")
			return rep, nil
		}
	} else {
		checkpointsUpTo(to, nil)
	}
	if rep.LastSeq > rep.LastCheckpoint {
		rep.Unsigned = rep.LastSeq - max(rep.LastCheckpoint, rep.FirstSeq-1)
	}
	return rep, nil
}

// pgEpochUsec is 2000-01-01 in µs since the Unix epoch.
const pgEpochUsec = 946684800000000

// scanRaw streams the entries from..to in seq order as raw binary column
// values (no per-column conversions: the bytes are hashed as they come)
// and calls fn for each until it returns false.
func (s *Store) scanRaw(ctx context.Context, from, to int64, fn func(f *fields, prev, hash, buf []byte) ([]byte, bool)) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	sql := `select seq, logged_at, time, type, outcome, user_id, username, role, org, client_addr,
		session_id, cameras, footage_from, footage_to, live, purpose, purpose_text, reason, request_id,
		details, prev_hash, hash from audit_entry where seq >= $1 and seq <= $2 order by seq`
	rr := conn.Conn().PgConn().ExecParams(ctx, sql,
		[][]byte{[]byte(strconv.FormatInt(from, 10)), []byte(strconv.FormatInt(to, 10))},
		nil, nil, []int16{1})
	var f fields
	var buf []byte
	var bad error
	for rr.NextRow() {
		v := rr.Values()
		if len(v) != 22 {
			bad = errors.New("unexpected column count")
			break
		}
		if bad = decodeRaw(&f, v); bad != nil {
			break
		}
		var ok bool
		buf, ok = fn(&f, v[20], v[21], buf)
		if !ok {
			break
		}
	}
	_, err = rr.Close()
	if bad != nil {
		return bad
	}
	return err
}

func i64(b []byte) (int64, error) {
	if len(b) != 8 {
		return 0, errors.New("bad int8/timestamptz value")
	}
	return int64(binary.BigEndian.Uint64(b)), nil
}

func decodeRaw(f *fields, v [][]byte) error {
	var err error
	if f.seq, err = i64(v[0]); err != nil {
		return err
	}
	if f.loggedAt, err = i64(v[1]); err != nil {
		return err
	}
	f.loggedAt += pgEpochUsec
	if f.time, err = i64(v[2]); err != nil {
		return err
	}
	f.time += pgEpochUsec
	f.typ, f.outcome, f.userID, f.username, f.role, f.org, f.clientAddr, f.sessionID = v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10]
	if f.cameras, err = textArray(f.cameras[:0], v[11]); err != nil {
		return err
	}
	f.hasFrom, f.hasTo = v[12] != nil, v[13] != nil
	if f.hasFrom {
		if f.from, err = i64(v[12]); err != nil {
			return err
		}
		f.from += pgEpochUsec
	}
	if f.hasTo {
		if f.to, err = i64(v[13]); err != nil {
			return err
		}
		f.to += pgEpochUsec
	}
	f.live = len(v[14]) == 1 && v[14][0] == 1
	f.purpose, f.purposeText, f.reason, f.requestID, f.details = v[15], v[16], v[17], v[18], v[19]
	return nil
}

// textArray decodes a one-dimensional text[] in PostgreSQL's binary format.
func textArray(dst [][]byte, b []byte) ([][]byte, error) {
	if len(b) < 12 {
		return nil, errors.New("bad text[] value")
	}
	ndim := binary.BigEndian.Uint32(b)
	if ndim == 0 {
		return dst, nil
	}
	if ndim != 1 || len(b) < 20 {
		return nil, errors.New("text[] is not one-dimensional")
	}
	n := int(binary.BigEndian.Uint32(b[12:]))
	p := 20
	for i := 0; i < n; i++ {
		if len(b) < p+4 {
			return nil, errors.New("short text[] value")
		}
		l := int(int32(binary.BigEndian.Uint32(b[p:])))
		p += 4
		if l < 0 || len(b) < p+l {
			return nil, errors.New("bad text[] element")
		}
		dst = append(dst, b[p:p+l])
		p += l
	}
	return dst, nil
}
