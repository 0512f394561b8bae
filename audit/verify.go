package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"sync"
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
	// ProblemAnchor: a checkpoint anchored outside the database names
	// another hash than the entry at its seq: the tail was cut and the
	// chain continued from the cut. The problem's seq is the entry after
	// the newest anchored checkpoint the chain still matches.
	ProblemAnchor = "anchor_mismatch"
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
	Anchor string
	// Anchored is the newest checkpoint anchored outside the database
	// (Config.Anchors) that the check compared with, 0 when none;
	// AnchorLog says where it is, or why the anchors could not be read.
	Anchored  int64
	AnchorLog string
	Problem   *Problem
	Duration  time.Duration
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

// segment is a seq range walked on its own connection.
type segment struct {
	from, to int64
	prev     []byte // hash entry from must follow; nil: that entry is missing
	inner    bool   // another segment follows
	cps      []Checkpoint
	// results
	problem                 *Problem
	checked, first, last    int64
	firstLogged, lastLogged int64
	checkpoints             int
	lastCheckpoint          int64
	err                     error
}

// verifySegmentMin is the smallest range worth a connection of its own.
var verifySegmentMin int64 = 100000

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
	var prev []byte
	switch {
	case from == 1:
		prev, rep.Anchor = genesis, "genesis"
	case from == retainedUpTo+1:
		prev, rep.Anchor = retainedHash, fmt.Sprintf("retention record of entries up to %d", retainedUpTo)
	default:
		if prev, err = s.hashAt(ctx, from-1); err != nil {
			return nil, err
		}
		if prev == nil {
			rep.Anchor = fmt.Sprintf("entry %d is missing", from-1)
		} else {
			rep.Anchor = fmt.Sprintf("entry %d (not verified)", from-1)
		}
	}

	cps, err := s.Checkpoints(ctx, from, to)
	if err != nil {
		return nil, err
	}
	trusted := append([]ed25519.PublicKey{s.pub}, s.cfg.TrustedKeys...)

	// Split long ranges over connections: each segment after the first is
	// anchored on the stored hash of the entry before it, which the segment
	// before verifies, so together they check exactly the whole chain.
	end := to
	if toEnd {
		if err := s.pool.QueryRow(ctx, "select coalesce(max(seq), 0) from audit_entry").Scan(&end); err != nil {
			return nil, err
		}
	}
	n := int64(1)
	if span := end - from + 1; span > 2*verifySegmentMin {
		n = min(int64(s.cfg.VerifyParallel), span/verifySegmentMin)
	}
	segs := make([]*segment, n)
	step := (end - from + 1) / n
	for i := range segs {
		sg := &segment{from: from + int64(i)*step, to: from + int64(i+1)*step - 1}
		if i == 0 {
			sg.prev = prev
		}
		if i == len(segs)-1 {
			sg.to = to
		} else {
			sg.inner = true
		}
		for _, c := range cps {
			if c.Seq >= sg.from && c.Seq <= sg.to {
				sg.cps = append(sg.cps, c)
			}
		}
		segs[i] = sg
	}
	for _, sg := range segs[1:] {
		if sg.prev, err = s.hashAt(ctx, sg.from-1); err != nil {
			return nil, err
		}
	}
	var wg sync.WaitGroup
	for _, sg := range segs {
		wg.Add(1)
		go func() { defer wg.Done(); s.walk(ctx, sg, trusted) }()
	}
	wg.Wait()
	var lastSeen int64 = from - 1
	var lastLogged int64 = -1 << 63
	for _, sg := range segs {
		if sg.err != nil {
			return nil, sg.err
		}
		if sg.checked > 0 && sg.firstLogged < lastLogged && sg.problem == nil {
			sg.problem = &Problem{Seq: sg.first, Kind: ProblemChain, Detail: fmt.Sprintf("its log time is earlier than entry %d's (reordered)", sg.first-1)}
		}
		if rep.Checked == 0 {
			rep.FirstSeq = sg.first
		}
		rep.Checked += sg.checked
		rep.Checkpoints += sg.checkpoints
		if sg.lastCheckpoint > 0 {
			rep.LastCheckpoint = sg.lastCheckpoint
		}
		if sg.checked > 0 {
			rep.LastSeq, lastSeen, lastLogged = sg.last, sg.last, sg.lastLogged
		}
		if sg.problem != nil {
			rep.Problem = sg.problem
			return rep, nil
		}
	}
	fail := func(seq int64, kind, format string, args ...any) {
		rep.Problem = &Problem{Seq: seq, Kind: kind, Detail: fmt.Sprintf(format, args...)}
	}
	if toEnd {
		// Checkpoints beyond the last entry: the tail was cut off.
		more, err := s.Checkpoints(ctx, lastSeen+1, 1<<63-1)
		if err != nil {
			return nil, err
		}
		for _, c := range more {
			if !isTrusted(trusted, c.PublicKey) || !c.Valid() {
				fail(c.Seq, ProblemBadSignature, "the checkpoint at entry %d has an invalid signature or an untrusted key", c.Seq)
				return rep, nil
			}
		}
		if n := len(more); n > 0 {
			fail(lastSeen+1, ProblemTailCut, "entries from %d on are missing: the log ends at entry %d but a signed checkpoint covers entry %d", lastSeen+1, lastSeen, more[n-1].Seq)
			return rep, nil
		}
		if h.seq > lastSeen {
			fail(lastSeen+1, ProblemTailCut, "entries from %d on are missing: the log ends at entry %d but the chain head is at entry %d", lastSeen+1, lastSeen, h.seq)
			return rep, nil
		}
		if h.seq == lastSeen && lastSeen > 0 {
			hh, err := s.hashAt(ctx, lastSeen)
			if err != nil {
				return nil, err
			}
			if !bytes.Equal(h.hash, hh) {
				fail(lastSeen, ProblemChain, "the chain head's hash does not match the last entry's")
				return rep, nil
			}
		}
	}
	if toEnd && len(s.cfg.Anchors) > 0 {
		if err := s.verifyAnchors(ctx, rep, from, lastSeen); err != nil {
			return nil, err
		}
		if rep.Problem != nil {
			return rep, nil
		}
	}
	if rep.LastSeq > rep.LastCheckpoint {
		rep.Unsigned = rep.LastSeq - max(rep.LastCheckpoint, rep.FirstSeq-1)
	}
	return rep, nil
}

// verifyAnchors compares the chain, which ends at lastSeen, with the
// checkpoints anchored outside the database, newest first: a checkpoint
// beyond the end means the tail was cut (the first missing entry is
// lastSeen+1); one the chain does not match means the tail was cut and the
// chain continued (reported after the newest anchored checkpoint that
// still matches). Anchors that cannot be read are said in AnchorLog, not
// reported as a problem: they prove nothing either way.
func (s *Store) verifyAnchors(ctx context.Context, rep *VerifyReport, from, lastSeen int64) error {
	var beyond, mismatch *Checkpoint
	var beyondLog, mismatchLog string
	var matched int64
	var ignored int
	for _, l := range s.cfg.Anchors {
		var dbErr error
		seen := 0
		n, err := s.anchoredIn(ctx, l, func(c Checkpoint) bool {
			seen++
			if c.Seq > rep.Anchored {
				rep.Anchored, rep.AnchorLog = c.Seq, l.Name()
			}
			if c.Seq > lastSeen {
				if beyond == nil || c.Seq > beyond.Seq {
					beyond, beyondLog = &c, l.Name()
				}
				return true
			}
			if c.Seq < from {
				return false
			}
			h, err := s.hashAt(ctx, c.Seq)
			if err != nil {
				dbErr = err
				return false
			}
			if bytes.Equal(h, c.Hash) {
				matched = max(matched, c.Seq)
				// Several processes may anchor slightly out of order: a
				// match ends the reading only past the newest few records.
				return seen < newestLookback
			}
			if mismatch == nil || c.Seq < mismatch.Seq {
				mismatch, mismatchLog = &c, l.Name()
			}
			return true
		})
		ignored += n
		if dbErr != nil {
			return dbErr
		}
		if err != nil {
			if rep.AnchorLog != "" {
				rep.AnchorLog += "; "
			}
			rep.AnchorLog += "not read: " + err.Error()
			s.log.Warn("verify: anchored checkpoints not read", "log", l.Name(), "err", err)
		}
	}
	if ignored > 0 {
		s.log.Warn("verify: anchored records with bad signatures or untrusted keys ignored", "count", ignored)
	}
	// rewritten finds, among the entries after the last matched anchor up
	// to seq, the first logged after c: an entry at or before c's seq that
	// was logged after it cannot be the original, so the chain was cut
	// before it and written again.
	rewritten := func(upTo int64, c *Checkpoint) (int64, error) {
		var first *int64
		err := s.pool.QueryRow(ctx, "select min(seq) from audit_entry where seq > $1 and seq <= $2 and logged_at > $3",
			max(matched, from-1), upTo, c.LoggedAt).Scan(&first)
		if err != nil || first == nil {
			return 0, err
		}
		return *first, nil
	}
	switch {
	case mismatch != nil:
		first, err := rewritten(mismatch.Seq, mismatch)
		if err != nil {
			return err
		}
		if first == 0 {
			first = max(matched+1, from)
		}
		rep.Problem = &Problem{Seq: first, Kind: ProblemAnchor, Detail: fmt.Sprintf(
			"entry %d does not match the checkpoint anchored in %s (the chain matches the anchored checkpoints up to entry %d only): entries from %d on were cut and the chain was written again from there",
			mismatch.Seq, mismatchLog, matched, first)}
	case beyond != nil:
		first, err := rewritten(lastSeen, beyond)
		if err != nil {
			return err
		}
		if first > 0 {
			rep.Problem = &Problem{Seq: first, Kind: ProblemTailCut, Detail: fmt.Sprintf(
				"entries from %d on are missing: the checkpoint anchored in %s covers entry %d, and entries %d to %d were logged after it: the tail was cut and the chain written again from entry %d",
				first, beyondLog, beyond.Seq, first, lastSeen, first)}
			break
		}
		rep.Problem = &Problem{Seq: lastSeen + 1, Kind: ProblemTailCut, Detail: fmt.Sprintf(
			"entries from %d on are missing: the log ends at entry %d but the checkpoint anchored in %s covers entry %d",
			lastSeen+1, lastSeen, beyondLog, beyond.Seq)}
	}
	switch {
	case rep.Anchored > 0:
		rep.Anchor += fmt.Sprintf("; outside the database: checkpoint at entry %d (%s)", rep.Anchored, rep.AnchorLog)
	case rep.AnchorLog != "":
		rep.Anchor += "; outside the database: " + rep.AnchorLog
	default:
		rep.Anchor += "; outside the database: no checkpoint anchored yet"
	}
	return nil
}

// hashAt returns the stored hash of entry seq, nil when there is none.
func (s *Store) hashAt(ctx context.Context, seq int64) ([]byte, error) {
	var h []byte
	err := s.pool.QueryRow(ctx, "select hash from audit_entry where seq = $1", seq).Scan(&h)
	if isNoRows(err) {
		return nil, nil
	}
	return h, err
}

func isTrusted(trusted []ed25519.PublicKey, pk ed25519.PublicKey) bool {
	for _, k := range trusted {
		if bytes.Equal(k, pk) {
			return true
		}
	}
	return false
}

// walk verifies one segment, recording its first problem.
func (s *Store) walk(ctx context.Context, sg *segment, trusted []ed25519.PublicKey) {
	cpi := 0
	fail := func(seq int64, kind, format string, args ...any) {
		if sg.problem == nil {
			sg.problem = &Problem{Seq: seq, Kind: kind, Detail: fmt.Sprintf(format, args...)}
		}
	}
	// checkpointsUpTo checks the checkpoints with seq <= upTo; hash is the
	// entry hash at upTo (nil when upTo is not an entry).
	checkpointsUpTo := func(upTo int64, hash []byte) {
		for cpi < len(sg.cps) && sg.cps[cpi].Seq <= upTo && sg.problem == nil {
			c := sg.cps[cpi]
			cpi++
			if !isTrusted(trusted, c.PublicKey) || !c.Valid() {
				fail(c.Seq, ProblemBadSignature, "the checkpoint at entry %d has an invalid signature or an untrusted key", c.Seq)
				return
			}
			if c.Seq == upTo && hash != nil && !bytes.Equal(c.Hash, hash) {
				fail(c.Seq, ProblemCheckpoint, "the signed checkpoint names hash %x…, the entry has %x…: the chain was rewritten up to here", c.Hash[:6], hash[:6])
				return
			}
			sg.checkpoints++
			sg.lastCheckpoint = c.Seq
		}
	}
	expect := sg.from
	prev := sg.prev
	var lastLogged int64 = -1 << 63
	sg.err = s.scanRaw(ctx, sg.from, sg.to, func(f *fields, prevHash, hash []byte, buf []byte) ([]byte, bool) {
		if sg.checked == 0 {
			sg.first, sg.firstLogged = f.seq, f.loggedAt
			if prev == nil { // anchor missing: report it at the first entry
				fail(sg.from-1, ProblemMissing, "entry %d, which entry %d follows, is missing", sg.from-1, f.seq)
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
		if sg.problem != nil {
			return buf, false
		}
		checkpointsUpTo(f.seq, hash)
		if sg.problem != nil {
			return buf, false
		}
		sg.checked++
		sg.last = f.seq
		lastLogged = f.loggedAt
		sg.lastLogged = f.loggedAt
		prev = append(prev[:0:0], hash...)
		expect = f.seq + 1
		return buf, true
	})
	if sg.err == nil && sg.problem == nil && sg.to != 1<<63-1 {
		// Entries missing at the end of a segment that another follows.
		if sg.inner && (sg.checked == 0 || sg.last < sg.to) {
			last := sg.from - 1
			if sg.checked > 0 {
				last = sg.last
			}
			if last < sg.to && sg.prev != nil {
				fail(last+1, ProblemMissing, "entries %d to %d are missing (deleted)", last+1, sg.to)
			}
		}
		checkpointsUpTo(sg.to, nil)
	}
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
