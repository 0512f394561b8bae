package devices

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
)

// KeyFileName is the name of the credential key file created in
// Config.DataDir when no Config.KeyFile is given.
const KeyFileName = "devices-credentials.key"

// Credentials are a camera's username and password. They are never logged:
// String, GoString and LogValue hide the password.
type Credentials struct {
	Username string `json:"u"`
	Password string `json:"p"`
}

// String hides the password.
func (c Credentials) String() string { return "Credentials{" + c.Username + ", ***}" }

// GoString hides the password.
func (c Credentials) GoString() string { return c.String() }

// LogValue hides the password.
func (c Credentials) LogValue() slog.Value {
	return slog.GroupValue(slog.String("username", c.Username), slog.String("password", "***"))
}

// sealer encrypts credentials with AES-256-GCM under the current key and
// opens them under the current or a previous key.
type sealer struct {
	keyID string
	aead  cipher.AEAD
	old   map[string]cipher.AEAD // previous keys by id
}

// loadKey reads a key file (32 raw bytes, or 64 hex digits with optional
// white space), or creates one (mode 0600, hex) when create is set and the
// file does not exist.
func loadKey(path string, create bool) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && create {
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, os.ErrExist) {
			return loadKey(path, false) // another process made it first
		}
		if err != nil {
			return nil, err
		}
		_, err = f.WriteString(hex.EncodeToString(key) + "\n")
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(path)
			return nil, err
		}
		return key, nil
	}
	if err != nil {
		return nil, err
	}
	if len(b) == 32 {
		return b, nil
	}
	k, err := hex.DecodeString(string(bytes.TrimSpace(b)))
	if err != nil || len(k) != 32 {
		return nil, fmt.Errorf("key file %s must hold 32 bytes or 64 hex digits", path)
	}
	return k, nil
}

func newSealer(key []byte) (*sealer, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(key)
	return &sealer{keyID: hex.EncodeToString(sum[:8]), aead: aead}, nil
}

// seal encrypts creds bound to the camera id; the result is nonce||ciphertext.
func (s *sealer) seal(cameraID string, c Credentials) ([]byte, error) {
	plain, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return s.aead.Seal(nonce, nonce, plain, []byte(cameraID)), nil
}

// addPrevious makes a previous key usable for opening.
func (s *sealer) addPrevious(key []byte) error {
	o, err := newSealer(key)
	if err != nil {
		return err
	}
	if s.old == nil {
		s.old = map[string]cipher.AEAD{}
	}
	if o.keyID != s.keyID {
		s.old[o.keyID] = o.aead
	}
	return nil
}

func (s *sealer) open(cameraID, keyID string, sealed []byte) (Credentials, error) {
	aead := s.aead
	if keyID != s.keyID {
		var ok bool
		if aead, ok = s.old[keyID]; !ok {
			return Credentials{}, fmt.Errorf("credentials of camera %s are sealed with key %s, which is neither the configured key %s nor a previous key", cameraID, keyID, s.keyID)
		}
	}
	n := aead.NonceSize()
	if len(sealed) < n {
		return Credentials{}, fmt.Errorf("credentials of camera %s are truncated", cameraID)
	}
	plain, err := aead.Open(nil, sealed[:n], sealed[n:], []byte(cameraID))
	if err != nil {
		return Credentials{}, fmt.Errorf("credentials of camera %s cannot be decrypted", cameraID)
	}
	var c Credentials
	if err := json.Unmarshal(plain, &c); err != nil {
		return Credentials{}, fmt.Errorf("credentials of camera %s are corrupt", cameraID)
	}
	return c, nil
}
