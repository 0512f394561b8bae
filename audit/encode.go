package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// hashDomain prefixes every entry hash (FORMAT.md, "Entry hash").
const hashDomain = "gwanje.audit.entry.v1\n"

// HashSize is the size of an entry hash (SHA-256).
const HashSize = sha256.Size

// genesis is the previous hash of entry 1.
var genesis = make([]byte, HashSize)

var typeRE = regexp.MustCompile(`^[a-z0-9_]+(\.[a-z0-9_]+)*$`)

// row is an entry as stored: the caller's fields, cleaned, plus what the
// store assigns. It is exactly what the hash covers.
type row struct {
	seq      int64
	loggedAt int64 // µs since the Unix epoch, UTC
	e        Entry // cleaned: valid UTF-8, no NUL, times truncated to µs
	details  string
	prev     []byte
	hash     []byte
}

// clean makes a string storable in PostgreSQL text: valid UTF-8 without NUL.
func clean(s string) string {
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "\uFFFD")
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// camSep separates camera IDs on their way into the database.
const camSep = "\x1f"

func usec(t time.Time) int64 { return t.UnixMicro() }

func fromUsec(us int64) time.Time { return time.UnixMicro(us).UTC() }

// prepare validates e and returns it cleaned, with its canonical details.
// Time stays zero when the caller left it zero (the writer sets it).
func prepare(e Entry) (Entry, string, error) {
	if !typeRE.MatchString(e.Type) || len(e.Type) > 200 {
		return Entry{}, "", fmt.Errorf("%w: type %q must be dotted lower-case words like live.view.start", ErrInvalid, e.Type)
	}
	switch e.Outcome {
	case Success, Denied, Failed:
	default:
		return Entry{}, "", fmt.Errorf("%w: outcome %q must be success, denied or failed", ErrInvalid, e.Outcome)
	}
	c := e
	c.Actor = Actor{UserID: clean(e.Actor.UserID), Username: clean(e.Actor.Username), Role: clean(e.Actor.Role), Org: clean(e.Actor.Org)}
	c.ClientAddr = clean(e.ClientAddr)
	c.SessionID = clean(e.SessionID)
	c.Cameras = nil
	for _, cam := range e.Cameras {
		cam = strings.ReplaceAll(clean(cam), camSep, "\uFFFD")
		if cam != "" {
			c.Cameras = append(c.Cameras, cam)
		}
	}
	if !e.Time.IsZero() {
		c.Time = e.Time.Truncate(time.Microsecond).UTC()
	}
	if e.FootageFrom != nil {
		t := e.FootageFrom.Truncate(time.Microsecond).UTC()
		c.FootageFrom = &t
	}
	if e.FootageTo != nil {
		t := e.FootageTo.Truncate(time.Microsecond).UTC()
		c.FootageTo = &t
	}
	c.Purpose = clean(e.Purpose)
	c.PurposeText = clean(e.PurposeText)
	c.Reason = clean(e.Reason)
	c.RequestID = clean(e.RequestID)
	details, err := canonicalDetails(e.Details)
	if err != nil {
		return Entry{}, "", err
	}
	c.Details = nil
	if len(e.Details) > 0 {
		// Keep what a reader gets back: the decoded canonical form.
		_ = json.Unmarshal([]byte(details), &c.Details)
	}
	return c, details, nil
}

// canonicalDetails encodes details as JSON with sorted keys, no HTML
// escaping and no insignificant space; "{}" when empty. The stored text is
// hashed byte for byte and never re-encoded, so its exact form only has to
// be valid JSON.
func canonicalDetails(d map[string]any) (string, error) {
	if len(d) == 0 {
		return "{}", nil
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(d); err != nil {
		return "", fmt.Errorf("%w: details: %v", ErrInvalid, err)
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

// encoder builds the canonical encoding of FORMAT.md.
type encoder struct{ b []byte }

func (w *encoder) u8(v byte)    { w.b = append(w.b, v) }
func (w *encoder) u32(v uint32) { w.b = binary.BigEndian.AppendUint32(w.b, v) }
func (w *encoder) i64(v int64)  { w.b = binary.BigEndian.AppendUint64(w.b, uint64(v)) }
func (w *encoder) bytes(s []byte) {
	w.u32(uint32(len(s)))
	w.b = append(w.b, s...)
}

// fields is the stored form of an entry, as raw column values, shared by the
// writer (from Go values) and the verifier (from the database's binary
// results) so that both hash the same bytes.
type fields struct {
	seq, loggedAt, time                              int64
	typ, outcome, userID, username, role, org        []byte
	clientAddr, sessionID                            []byte
	cameras                                          [][]byte
	hasFrom, hasTo                                   bool
	from, to                                         int64
	live                                             bool
	purpose, purposeText, reason, requestID, details []byte
}

// appendCanonical appends the canonical encoding of f (FORMAT.md) to dst.
func appendCanonical(dst []byte, f *fields) []byte {
	w := encoder{b: dst}
	w.i64(f.seq)
	w.i64(f.loggedAt)
	w.i64(f.time)
	for _, s := range [][]byte{f.typ, f.outcome, f.userID, f.username, f.role, f.org, f.clientAddr, f.sessionID} {
		w.bytes(s)
	}
	w.u32(uint32(len(f.cameras)))
	for _, c := range f.cameras {
		w.bytes(c)
	}
	for _, t := range []struct {
		ok bool
		v  int64
	}{{f.hasFrom, f.from}, {f.hasTo, f.to}} {
		if t.ok {
			w.u8(1)
			w.i64(t.v)
		} else {
			w.u8(0)
		}
	}
	if f.live {
		w.u8(1)
	} else {
		w.u8(0)
	}
	for _, s := range [][]byte{f.purpose, f.purposeText, f.reason, f.requestID, f.details} {
		w.bytes(s)
	}
	return w.b
}

// entryHash returns SHA-256(domain || prev || canonical(f)); buf is scratch.
func entryHash(prev []byte, f *fields, buf []byte) ([]byte, []byte) {
	buf = append(buf[:0], hashDomain...)
	buf = append(buf, prev...)
	buf = appendCanonical(buf, f)
	sum := sha256.Sum256(buf)
	return sum[:], buf
}

func (r *row) fields() *fields {
	e := &r.e
	f := &fields{
		seq: r.seq, loggedAt: r.loggedAt, time: usec(e.Time),
		typ: []byte(e.Type), outcome: []byte(e.Outcome),
		userID: []byte(e.Actor.UserID), username: []byte(e.Actor.Username),
		role: []byte(e.Actor.Role), org: []byte(e.Actor.Org),
		clientAddr: []byte(e.ClientAddr), sessionID: []byte(e.SessionID),
		live: e.Live, purpose: []byte(e.Purpose), purposeText: []byte(e.PurposeText),
		reason: []byte(e.Reason), requestID: []byte(e.RequestID), details: []byte(r.details),
	}
	for _, c := range e.Cameras {
		f.cameras = append(f.cameras, []byte(c))
	}
	if e.FootageFrom != nil {
		f.hasFrom, f.from = true, usec(*e.FootageFrom)
	}
	if e.FootageTo != nil {
		f.hasTo, f.to = true, usec(*e.FootageTo)
	}
	return f
}

// seal sets r.prev and r.hash.
func (r *row) seal(prev []byte) {
	r.prev = prev
	r.hash, _ = entryHash(prev, r.fields(), nil)
}
