package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/gwanje/gwanje/internal/keyfile"
)

// checkpointDomain prefixes the signed checkpoint message (FORMAT.md).
const checkpointDomain = "gwanje.audit.checkpoint.v1\n"

// Checkpoint is a signed statement that the chain had reached Seq with
// Hash at LoggedAt.
type Checkpoint struct {
	Seq       int64
	Hash      []byte
	LoggedAt  time.Time
	PublicKey ed25519.PublicKey
	Signature []byte
}

// CheckpointMessage returns the bytes a checkpoint signs: the domain string,
// then seq and logged_at (µs since the Unix epoch) as 8-byte big-endian
// integers, then the 32-byte hash.
func CheckpointMessage(seq int64, hash []byte, loggedAt time.Time) []byte {
	b := []byte(checkpointDomain)
	b = binary.BigEndian.AppendUint64(b, uint64(seq))
	b = binary.BigEndian.AppendUint64(b, uint64(usec(loggedAt)))
	return append(b, hash...)
}

// Valid reports whether the checkpoint's signature is good under its key.
func (c Checkpoint) Valid() bool {
	return len(c.PublicKey) == ed25519.PublicKeySize &&
		ed25519.Verify(c.PublicKey, CheckpointMessage(c.Seq, c.Hash, c.LoggedAt), c.Signature)
}

// LoadOrCreateKey loads the Ed25519 checkpoint key from path (PKCS#8 PEM),
// creating it with mode 0600 when the file does not exist (package keyfile:
// processes starting at once end with one key). A key file readable by
// others is refused.
func LoadOrCreateKey(path string) (ed25519.PrivateKey, error) {
	priv, err := keyfile.Ed25519(path)
	if err != nil {
		return nil, fmt.Errorf("audit: signing key: %w", err)
	}
	return priv, nil
}

// PublicKeyPEM returns the checkpoint verification key as a PEM PUBLIC KEY
// (PKIX), to hand to an outside auditor.
func (s *Store) PublicKeyPEM() []byte {
	der, _ := x509.MarshalPKIXPublicKey(s.pub)
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// ParsePublicKeyPEM parses a key written by PublicKeyPEM.
func ParsePublicKeyPEM(b []byte) (ed25519.PublicKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PUBLIC KEY" {
		return nil, errors.New("audit: not a PEM PUBLIC KEY")
	}
	k, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("audit: public key: %w", err)
	}
	pk, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, errors.New("audit: not an Ed25519 public key")
	}
	return pk, nil
}

// Checkpoint signs the chain head now (with a Publisher: the last entry
// already published, so that head >= outbox cursor >= newest anchor always
// holds), unless a checkpoint already covers it, stores it and anchors it
// in every anchor log. It returns the latest checkpoint. It refuses to sign
// a chain that does not extend the newest anchored checkpoint: a cut chain
// is never legitimised by a new signature (CheckIntegrity raises the alarm).
func (s *Store) Checkpoint(ctx context.Context) (Checkpoint, error) {
	target, err := s.checkpointTarget(ctx)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("audit: checkpoint: %w", err)
	}
	if target.seq == 0 {
		return Checkpoint{}, nil
	}
	if known := s.newestKnownAnchor(); known.Seq > 0 {
		var at []byte
		if known.Seq <= target.seq {
			if at, err = s.hashAt(ctx, known.Seq); err != nil {
				return Checkpoint{}, fmt.Errorf("audit: checkpoint: %w", err)
			}
		}
		if !bytes.Equal(at, known.Hash) {
			s.kickCheck()
			return Checkpoint{}, fmt.Errorf("audit: checkpoint refused: the chain (at entry %d) does not extend the checkpoint anchored at entry %d", target.seq, known.Seq)
		}
	}
	s.anchorMu.Lock()
	last := s.lastCkpt
	s.anchorMu.Unlock()
	c := last
	if target.seq > last.Seq {
		c = Checkpoint{Seq: target.seq, Hash: target.hash, LoggedAt: fromUsec(target.logged), PublicKey: s.pub}
		c.Signature = ed25519.Sign(s.priv, CheckpointMessage(c.Seq, c.Hash, c.LoggedAt))
		if _, err := s.pool.Exec(ctx, `insert into audit_checkpoint (seq, hash, logged_at, public_key, signature)
		values ($1, $2, $3, $4, $5) on conflict (seq) do nothing`, c.Seq, c.Hash, c.LoggedAt, []byte(c.PublicKey), c.Signature); err != nil {
			return Checkpoint{}, fmt.Errorf("audit: checkpoint: %w", err)
		}
		s.anchorMu.Lock()
		if c.Seq > s.lastCkpt.Seq {
			s.lastCkpt = c
		}
		s.anchorMu.Unlock()
		if old := s.ckptSeq.Load(); c.Seq > old {
			s.ckptSeq.CompareAndSwap(old, c.Seq)
		}
	}
	if c.Seq > s.newestKnownAnchor().Seq {
		if err := s.anchor(ctx, c); err != nil {
			return c, fmt.Errorf("audit: checkpoint %d signed but not anchored (retried): %w", c.Seq, err)
		}
	}
	return c, nil
}

// checkpointTarget is the entry the next checkpoint names: the head, or
// with a Publisher the last published entry (the outbox cursor).
func (s *Store) checkpointTarget(ctx context.Context) (head, error) {
	h, err := readHead(ctx, s.pool, false)
	if err != nil || s.cfg.Publisher == nil {
		return h, err
	}
	cursor, err := s.OutboxCursor(ctx)
	if err != nil {
		return head{}, err
	}
	if cursor >= h.seq {
		return h, nil
	}
	if cursor == 0 {
		return head{}, nil
	}
	var t time.Time
	var hash []byte
	if err := s.pool.QueryRow(ctx, "select hash, logged_at from audit_entry where seq = $1", cursor).Scan(&hash, &t); err != nil {
		if isNoRows(err) {
			s.kickCheck()
			return head{}, fmt.Errorf("the outbox cursor names entry %d, which is missing", cursor)
		}
		return head{}, err
	}
	return head{seq: cursor, hash: hash, logged: usec(t)}, nil
}

// Checkpoints returns the stored checkpoints with from <= seq <= to.
func (s *Store) Checkpoints(ctx context.Context, from, to int64) ([]Checkpoint, error) {
	rows, err := s.pool.Query(ctx, `select seq, hash, logged_at, public_key, signature from audit_checkpoint
		where seq between $1 and $2 order by seq`, from, to)
	if err != nil {
		return nil, fmt.Errorf("audit: checkpoints: %w", err)
	}
	defer rows.Close()
	var out []Checkpoint
	for rows.Next() {
		var c Checkpoint
		var pk []byte
		if err := rows.Scan(&c.Seq, &c.Hash, &c.LoggedAt, &pk, &c.Signature); err != nil {
			return nil, fmt.Errorf("audit: checkpoints: %w", err)
		}
		c.PublicKey = pk
		c.LoggedAt = c.LoggedAt.UTC()
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit: checkpoints: %w", err)
	}
	return out, nil
}

// checkpointer signs and anchors a checkpoint every CheckpointEvery
// entries (woken by the writer and the relay) or every CheckpointInterval
// when entries arrived (also from other processes) or an anchor is owed,
// and a last one after the writer has stopped.
func (s *Store) checkpointer(ctx context.Context, writerDone <-chan struct{}) {
	t := time.NewTicker(s.cfg.CheckpointInterval)
	defer t.Stop()
	round := func(always bool) {
		cctx, cancel := context.WithTimeout(ctx, s.cfg.WriteTimeout+10*time.Second)
		defer cancel()
		target, err := s.checkpointTarget(cctx)
		if err != nil {
			s.log.Warn("checkpoint skipped", "err", err)
			return
		}
		ck := s.ckptSeq.Load()
		owed := len(s.cfg.Anchors) > 0 && s.newestKnownAnchor().Seq < ck
		due := target.seq > ck && (always || target.seq-ck >= int64(s.cfg.CheckpointEvery))
		if !due && !owed {
			return
		}
		if _, err := s.Checkpoint(cctx); err != nil {
			s.log.Warn("checkpoint failed", "err", err)
		}
	}
	for {
		select {
		case <-writerDone:
			if s.cfg.Publisher != nil {
				// Let the relay's last round publish first (bounded).
				wait := time.NewTimer(2 * time.Second)
				select {
				case <-s.relayDone:
				case <-wait.C:
				}
				wait.Stop()
			}
			round(true)
			return
		case <-s.ckptWake:
			round(false)
		case <-t.C:
			round(true)
		}
	}
}
