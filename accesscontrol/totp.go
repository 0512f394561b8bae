package accesscontrol

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"net/url"
	"time"
)

// TOTP per RFC 6238 with the defaults every authenticator app uses:
// HMAC-SHA1, 30-second steps, 6 digits. One step of clock skew either way is
// accepted, and a code (its time step) is never accepted twice.
const (
	totpStep   = 30
	totpDigits = 6
	totpSkew   = 1
)

// hotp is RFC 4226's HOTP value for counter.
func hotp(secret []byte, counter uint64) string {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], counter)
	m := hmac.New(sha1.New, secret)
	m.Write(msg[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	code := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	return fmt.Sprintf("%0*d", totpDigits, code%1_000_000)
}

// totpCode is the code for time t.
func totpCode(secret []byte, t time.Time) string {
	return hotp(secret, uint64(t.Unix())/totpStep)
}

// verifyTOTP checks code at t and returns the matching time step, which
// must be greater than last (replay protection).
func verifyTOTP(secret []byte, code string, t time.Time, last int64) (int64, bool) {
	if len(code) != totpDigits {
		return 0, false
	}
	now := t.Unix() / totpStep
	for d := int64(-totpSkew); d <= totpSkew; d++ {
		c := now + d
		if c <= last || c < 0 {
			continue
		}
		if hmac.Equal([]byte(hotp(secret, uint64(c))), []byte(code)) {
			return c, true
		}
	}
	return 0, false
}

// TOTPEnrollment is what a user needs to set up an authenticator app. It is
// shown once to the user enrolling; it is a secret.
type TOTPEnrollment struct {
	// Secret in base32, for typing in.
	Secret string
	// URI is the otpauth:// URI for a QR code.
	URI string
}

func (s *Service) totpEnrollment(username string, secret []byte) TOTPEnrollment {
	enc := base32NoPad.EncodeToString(secret)
	label := url.PathEscape(s.cfg.TOTPIssuer + ":" + username)
	v := url.Values{"secret": {enc}, "issuer": {s.cfg.TOTPIssuer}, "algorithm": {"SHA1"}, "digits": {"6"}, "period": {"30"}}
	return TOTPEnrollment{Secret: enc, URI: "otpauth://totp/" + label + "?" + v.Encode()}
}

// sealTOTP encrypts a TOTP secret with the configured key (AES-256-GCM, the
// user id as additional data); without a key it is stored as is with a
// one-byte marker.
func (s *Service) sealTOTP(userID string, secret []byte) ([]byte, error) {
	if len(s.cfg.TOTPKey) == 0 {
		return append([]byte{0}, secret...), nil
	}
	gcm, err := s.gcm()
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, gcm.NonceSize())
	rand.Read(nonce)
	out := append([]byte{1}, nonce...)
	return gcm.Seal(out, nonce, secret, []byte(userID)), nil
}

func (s *Service) openTOTP(userID string, sealed []byte) ([]byte, error) {
	if len(sealed) < 1 {
		return nil, errors.New("empty TOTP secret")
	}
	switch sealed[0] {
	case 0:
		return sealed[1:], nil
	case 1:
		gcm, err := s.gcm()
		if err != nil {
			return nil, err
		}
		n := gcm.NonceSize()
		if len(sealed) < 1+n {
			return nil, errors.New("short TOTP secret")
		}
		return gcm.Open(nil, sealed[1:1+n], sealed[1+n:], []byte(userID))
	}
	return nil, errors.New("unknown TOTP secret format")
}

func (s *Service) gcm() (cipher.AEAD, error) {
	if len(s.cfg.TOTPKey) == 0 {
		return nil, errors.New("a TOTP secret is sealed but no TOTP key is configured")
	}
	b, err := aes.NewCipher(s.cfg.TOTPKey)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

var base32NoPad = base32.StdEncoding.WithPadding(base32.NoPadding)
