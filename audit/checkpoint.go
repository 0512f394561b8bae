package audit

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
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

// Checkpoint signs the chain head now, unless a checkpoint already covers
// it, and returns the latest checkpoint.
func (s *Store) Checkpoint(ctx context.Context) (Checkpoint, error) {
	h, err := readHead(ctx, s.pool, false)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("audit: checkpoint: %w", err)
	}
	if h.seq == 0 {
		return Checkpoint{}, nil
	}
	c := Checkpoint{Seq: h.seq, Hash: h.hash, LoggedAt: fromUsec(h.logged), PublicKey: s.pub}
	c.Signature = ed25519.Sign(s.priv, CheckpointMessage(c.Seq, c.Hash, c.LoggedAt))
	tag, err := s.pool.Exec(ctx, `insert into audit_checkpoint (seq, hash, logged_at, public_key, signature)
		values ($1, $2, $3, $4, $5) on conflict (seq) do nothing`, c.Seq, c.Hash, c.LoggedAt, []byte(c.PublicKey), c.Signature)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("audit: checkpoint: %w", err)
	}
	if old := s.ckptSeq.Load(); c.Seq > old {
		s.ckptSeq.CompareAndSwap(old, c.Seq)
	}
	if tag.RowsAffected() == 1 && s.cfg.Publisher != nil {
		// Best effort: an outside copy of the latest checkpoint makes cutting
		// the checkpoints together with the tail detectable too.
		data, _ := json.Marshal(map[string]any{"seq": c.Seq, "hash": fmt.Sprintf("%x", c.Hash),
			"logged_at": c.LoggedAt, "public_key": fmt.Sprintf("%x", []byte(c.PublicKey)), "signature": fmt.Sprintf("%x", c.Signature)})
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if err := s.cfg.Publisher.Publish(pctx, SubjectPrefix+"checkpoint", data); err != nil {
			s.log.Warn("checkpoint not published", "seq", c.Seq, "err", err)
		}
		cancel()
	}
	return c, nil
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

// checkpointer signs a checkpoint every CheckpointEvery entries (woken by
// the writer) or every CheckpointInterval when entries arrived (also from
// other processes), and a last one after the writer has stopped.
func (s *Store) checkpointer(ctx context.Context, writerDone <-chan struct{}) {
	t := time.NewTicker(s.cfg.CheckpointInterval)
	defer t.Stop()
	round := func() {
		cctx, cancel := context.WithTimeout(ctx, s.cfg.WriteTimeout)
		defer cancel()
		h, err := readHead(cctx, s.pool, false)
		if err != nil {
			s.log.Warn("checkpoint skipped", "err", err)
			return
		}
		if h.seq <= s.ckptSeq.Load() {
			return
		}
		if _, err := s.Checkpoint(cctx); err != nil {
			s.log.Warn("checkpoint failed", "err", err)
		}
	}
	for {
		select {
		case <-writerDone:
			round()
			return
		case <-s.ckptWake:
			round()
		case <-t.C:
			round()
		}
	}
}
