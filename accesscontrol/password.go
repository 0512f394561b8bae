package accesscontrol

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// hashPassword returns an argon2id hash in the PHC string format. It runs
// on the hashing pool, waiting for a worker however busy the pool is: only
// authenticated changes and start-up make new hashes.
func (s *Service) hashPassword(pw string) string {
	a := s.cfg.Argon2
	salt := make([]byte, a.SaltLen)
	rand.Read(salt)
	var key []byte
	s.hashes.wait(func() { key = argon2.IDKey([]byte(pw), salt, a.Time, a.MemoryKiB, a.Threads, a.KeyLen) })
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, a.MemoryKiB, a.Time, a.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

type phc struct {
	m, t uint32
	p    uint8
	salt []byte
	key  []byte
}

func parsePHC(h string) (phc, error) {
	var x phc
	parts := strings.Split(h, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return x, fmt.Errorf("not an argon2id hash")
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return x, fmt.Errorf("unsupported argon2 version")
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &x.m, &x.t, &x.p); err != nil {
		return x, fmt.Errorf("bad argon2 parameters: %w", err)
	}
	var err error
	if x.salt, err = base64.RawStdEncoding.DecodeString(parts[4]); err != nil {
		return x, fmt.Errorf("bad salt: %w", err)
	}
	if x.key, err = base64.RawStdEncoding.DecodeString(parts[5]); err != nil || len(x.key) == 0 {
		return x, fmt.Errorf("bad key")
	}
	return x, nil
}

// verifyPassword checks pw against the hash on the hashing pool; stale
// reports that the hash was made with other parameters than the configured
// ones. It fails without hashing (ErrTooMany) when the pool's queue is full,
// and with ctx's error when ctx ends before a worker is free.
func (s *Service) verifyPassword(ctx context.Context, hash, pw string) (ok, stale bool, err error) {
	x, perr := parsePHC(hash)
	if perr != nil {
		// Still do the work, so that a broken row is not faster.
		x, _ = parsePHC(s.dummyHash)
		pw += "\x00invalid"
	}
	var key []byte
	if err := s.hashes.do(ctx, func() { key = argon2.IDKey([]byte(pw), x.salt, x.t, x.m, x.p, uint32(len(x.key))) }); err != nil {
		return false, false, err
	}
	ok = subtle.ConstantTimeCompare(key, x.key) == 1 && perr == nil
	a := s.cfg.Argon2
	stale = x.m != a.MemoryKiB || x.t != a.Time || x.p != a.Threads || uint32(len(x.key)) != a.KeyLen
	return ok, stale, nil
}

func (s *Service) checkNewPassword(username, pw string) error {
	if len([]rune(pw)) < s.cfg.MinPasswordLength {
		return invalidf("the password must have at least %d characters", s.cfg.MinPasswordLength)
	}
	if len(pw) > 1024 {
		return invalidf("the password is too long")
	}
	if strings.EqualFold(pw, username) || strings.Contains(strings.ToLower(pw), strings.ToLower(username)) {
		return invalidf("the password must not contain the username")
	}
	return nil
}

// randomPassword makes a one-time password of 20 characters from an
// alphabet without look-alikes.
func randomPassword() string {
	const alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := make([]byte, 20)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
