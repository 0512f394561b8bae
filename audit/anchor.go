package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// AnchorLog is an append-only log outside PostgreSQL that keeps copies of
// the signed checkpoints (FORMAT.md, "Anchors"), so that cutting the tail of
// the chain together with the checkpoints that cover it and the head row
// still shows. gwanjed uses a JetStream stream with file storage
// (events.Anchors) and optionally a file (FileAnchor).
type AnchorLog interface {
	// Append stores data durably and returns only once it is stored. id
	// identifies the record: a repeat with the same id may be dropped.
	Append(ctx context.Context, id string, data []byte) error
	// Newest calls fn with the stored records, newest first, until fn
	// returns false or the records run out.
	Newest(ctx context.Context, fn func(data []byte) bool) error
	// Name says where the log is, for reports and logs.
	Name() string
}

// anchorRecord is the JSON form of an anchored checkpoint.
type anchorRecord struct {
	Seq       int64  `json:"seq"`
	Hash      string `json:"hash"`
	LoggedAt  string `json:"logged_at"`
	PublicKey string `json:"public_key"`
	Signature string `json:"signature"`
}

// MarshalAnchor encodes a checkpoint as it is anchored: one line of JSON
// with seq, hash (hex), logged_at (RFC 3339, µs, UTC), public_key and
// signature (hex).
func MarshalAnchor(c Checkpoint) []byte {
	b, _ := json.Marshal(anchorRecord{Seq: c.Seq, Hash: hex.EncodeToString(c.Hash),
		LoggedAt:  c.LoggedAt.UTC().Truncate(time.Microsecond).Format("2006-01-02T15:04:05.000000Z07:00"),
		PublicKey: hex.EncodeToString(c.PublicKey), Signature: hex.EncodeToString(c.Signature)})
	return b
}

// ParseAnchor decodes a record written by MarshalAnchor. It does not check
// the signature (Checkpoint.Valid does).
func ParseAnchor(b []byte) (Checkpoint, error) {
	var r anchorRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return Checkpoint{}, fmt.Errorf("audit: anchored checkpoint: %w", err)
	}
	var c Checkpoint
	var err error
	c.Seq = r.Seq
	if c.Hash, err = hex.DecodeString(r.Hash); err != nil || len(c.Hash) != 32 {
		return Checkpoint{}, errors.New("audit: anchored checkpoint: bad hash")
	}
	if c.LoggedAt, err = time.Parse(time.RFC3339Nano, r.LoggedAt); err != nil {
		return Checkpoint{}, fmt.Errorf("audit: anchored checkpoint: %w", err)
	}
	c.LoggedAt = c.LoggedAt.UTC()
	pk, err := hex.DecodeString(r.PublicKey)
	if err != nil || len(pk) != ed25519.PublicKeySize {
		return Checkpoint{}, errors.New("audit: anchored checkpoint: bad public key")
	}
	c.PublicKey = pk
	if c.Signature, err = hex.DecodeString(r.Signature); err != nil {
		return Checkpoint{}, errors.New("audit: anchored checkpoint: bad signature")
	}
	return c, nil
}

// FileAnchor appends anchored checkpoints to a file, one JSON line each,
// synced before Append returns. Put it where the database's operators
// cannot write (another disk, a WORM mount, a file shipped to a log host).
// Concurrent use by one process is safe; processes must not share a file.
type FileAnchor struct {
	path string
	mu   sync.Mutex
}

// NewFileAnchor returns the anchor file at path, creating it (and its
// directory, mode 0700) with mode 0600 when it does not exist.
func NewFileAnchor(path string) (*FileAnchor, error) {
	if path == "" {
		return nil, errors.New("audit: anchor file: empty path")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("audit: anchor file: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit: anchor file: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("audit: anchor file: %w", err)
	}
	return &FileAnchor{path: path}, nil
}

// Name implements AnchorLog.
func (a *FileAnchor) Name() string { return "file " + a.path }

// Append implements AnchorLog: one line, then fsync.
func (a *FileAnchor) Append(_ context.Context, _ string, data []byte) error {
	if bytes.ContainsAny(data, "\r\n") {
		return errors.New("audit: anchor file: record holds a line break")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	f, err := os.OpenFile(a.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("audit: anchor file: %w", err)
	}
	_, err = f.Write(append(bytes.Clone(data), '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("audit: anchor file: %w", err)
	}
	return nil
}

// Newest implements AnchorLog, reading the file backwards in blocks.
func (a *FileAnchor) Newest(ctx context.Context, fn func(data []byte) bool) error {
	a.mu.Lock()
	f, err := os.Open(a.path)
	a.mu.Unlock()
	if err != nil {
		return fmt.Errorf("audit: anchor file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("audit: anchor file: %w", err)
	}
	const block = 64 << 10
	end := st.Size()
	var tail []byte // the start of a line whose beginning is not read yet
	for end > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		start := max(end-block, 0)
		buf := make([]byte, end-start, int(end-start)+len(tail))
		if _, err := f.ReadAt(buf, start); err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("audit: anchor file: %w", err)
		}
		buf = append(buf, tail...)
		for {
			i := bytes.LastIndexByte(buf[:max(len(buf)-1, 0)], '\n')
			if i < 0 {
				break
			}
			if line := bytes.TrimSpace(buf[i+1:]); len(line) > 0 && !fn(line) {
				return nil
			}
			buf = buf[:i+1]
		}
		tail = buf
		end = start
	}
	if line := bytes.TrimSpace(tail); len(line) > 0 {
		fn(line)
	}
	return nil
}

// anchorID is the record id of a checkpoint in an anchor log.
func anchorID(seq int64) string { return "audit-checkpoint-" + strconv.FormatInt(seq, 10) }

// anchor stores c in every anchor log, unless a newer checkpoint is
// already anchored (appends are ordered, so the logs' newest record is this
// process's newest checkpoint). It returns the first error; the logs that
// took it keep it (a repeat is harmless).
func (s *Store) anchor(ctx context.Context, c Checkpoint) error {
	s.anchorWrite.Lock()
	defer s.anchorWrite.Unlock()
	if c.Seq <= s.newestKnownAnchor().Seq {
		return nil // a newer checkpoint was anchored meanwhile: it covers this one
	}
	data := MarshalAnchor(c)
	var first error
	for _, l := range s.cfg.Anchors {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := l.Append(actx, anchorID(c.Seq), data)
		cancel()
		if err != nil && first == nil {
			first = fmt.Errorf("anchor checkpoint %d in %s: %w", c.Seq, l.Name(), err)
		}
	}
	if first == nil {
		s.noteAnchor(c)
	}
	return first
}

// noteAnchor remembers c as the newest anchored checkpoint when it is.
func (s *Store) noteAnchor(c Checkpoint) {
	s.anchorMu.Lock()
	if c.Seq > s.anchored.Seq {
		s.anchored = c
	}
	s.anchorMu.Unlock()
}

func (s *Store) newestKnownAnchor() Checkpoint {
	s.anchorMu.Lock()
	defer s.anchorMu.Unlock()
	return s.anchored
}

// newestLookback is how many of a log's newest valid records NewestAnchor
// reads.
const newestLookback = 8

// maxAnchorsRead bounds how many anchored checkpoints a verification or a
// check reads per log, newest first.
const maxAnchorsRead = 10000

// NewestAnchor returns the anchored checkpoint with the highest seq over
// every anchor log (valid and trusted ones only); ok is false when there is
// none.
func (s *Store) NewestAnchor(ctx context.Context) (c Checkpoint, where string, ok bool, err error) {
	for _, l := range s.cfg.Anchors {
		n := 0
		_, err := s.anchoredIn(ctx, l, func(a Checkpoint) bool {
			if a.Seq > c.Seq {
				c, where, ok = a, l.Name(), true
			}
			// Several processes may anchor slightly out of order: look at
			// a few of the newest records.
			n++
			return n < newestLookback
		})
		if err != nil {
			return Checkpoint{}, "", false, fmt.Errorf("audit: %w", err)
		}
	}
	if ok {
		s.noteAnchor(c)
	}
	return c, where, ok, nil
}

// anchoredIn is anchored for one log.
func (s *Store) anchoredIn(ctx context.Context, l AnchorLog, fn func(c Checkpoint) bool) (ignored int, err error) {
	trusted := s.trusted()
	n := 0
	err = l.Newest(ctx, func(data []byte) bool {
		n++
		c, err := ParseAnchor(data)
		if err != nil || !isTrusted(trusted, c.PublicKey) || !c.Valid() {
			ignored++
			return n < maxAnchorsRead
		}
		return fn(c) && n < maxAnchorsRead
	})
	if err != nil {
		return ignored, fmt.Errorf("read anchors in %s: %w", l.Name(), err)
	}
	return ignored, nil
}

func (s *Store) trusted() []ed25519.PublicKey {
	return append([]ed25519.PublicKey{s.pub}, s.cfg.TrustedKeys...)
}
