package devices

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/gwanje/gwanje/internal/keyfile"
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
// file does not exist; see package keyfile.
func loadKey(path string, create bool) ([]byte, error) {
	var b []byte
	var err error
	if create {
		b, err = keyfile.LoadOrCreate(path, keyfile.RandomHex(32), keyfile.KeyCheck(32))
	} else {
		b, err = keyfile.Read(path, keyfile.KeyCheck(32))
	}
	if err != nil {
		return nil, err
	}
	return keyfile.DecodeKey(b, 32)
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
	return s.sealJSON([]byte(cameraID), c)
}

func (s *sealer) sealJSON(aad []byte, v any) ([]byte, error) {
	plain, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return s.aead.Seal(nonce, nonce, plain, aad), nil
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
	var c Credentials
	if err := s.openJSON("credentials", cameraID, []byte(cameraID), keyID, sealed, &c); err != nil {
		return Credentials{}, err
	}
	return c, nil
}

// openJSON opens what sealJSON sealed under the current or a previous key.
func (s *sealer) openJSON(what, cameraID string, aad []byte, keyID string, sealed []byte, v any) error {
	aead := s.aead
	if keyID != s.keyID {
		var ok bool
		if aead, ok = s.old[keyID]; !ok {
			return fmt.Errorf("%s of camera %s are sealed with key %s, which is neither the configured key %s nor a previous key", what, cameraID, keyID, s.keyID)
		}
	}
	n := aead.NonceSize()
	if len(sealed) < n {
		return fmt.Errorf("%s of camera %s are truncated", what, cameraID)
	}
	plain, err := aead.Open(nil, sealed[:n], sealed[n:], aad)
	if err != nil {
		return fmt.Errorf("%s of camera %s cannot be decrypted", what, cameraID)
	}
	if err := json.Unmarshal(plain, v); err != nil {
		return fmt.Errorf("%s of camera %s are corrupt", what, cameraID)
	}
	return nil
}

// SecretURIs are the URIs of a camera that carry credentials (in the path
// or query: rtsp://h/user=admin_password=secret_channel=1_stream=0.sdp).
// They are sealed like the credentials (AES-256-GCM, the camera id and
// "/uris" as additional data); the registry's clear columns hold them
// redacted. Keys are "stream:" + profile token and "snapshot".
type secretURIs map[string]string

func uriAAD(cameraID string) []byte { return []byte(cameraID + "/uris") }

func (s *sealer) sealURIs(cameraID string, u secretURIs) ([]byte, error) {
	return s.sealJSON(uriAAD(cameraID), u)
}

func (s *sealer) openURIs(cameraID, keyID string, sealed []byte) (secretURIs, error) {
	var u secretURIs
	if err := s.openJSON("stream URIs", cameraID, uriAAD(cameraID), keyID, sealed, &u); err != nil {
		return nil, err
	}
	return u, nil
}
