// Package manifest is the signed manifest of an exported file (반출 영상):
// what footage it holds (camera, range, the source segments and their
// SHA-256 hashes), the exported file's own SHA-256 and size, who requested
// and who approved it, signed with Ed25519. Verify proves, with nothing but
// the public key, that a file is the one the manifest describes and that
// the manifest came from this system unchanged.
//
// The package uses the standard library only, so the standalone verifier
// (cmd/gwanje-verify) stays small.
//
// File format. A manifest file is one JSON object, written compactly and
// ending with a newline:
//
//	{"manifest":{...},"signature":"<base64 Ed25519 signature>","key":"<hex SHA-256 of the public key>"}
//
// The signature covers "gwanje.export.manifest.v1\n" followed by the exact
// bytes of the "manifest" value. Verify also re-encodes the envelope and
// requires the file to be byte-for-byte that encoding, so any changed byte
// anywhere in the file fails verification.
package manifest

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/gwanje/gwanje/internal/keyfile"
)

// Errors. Every verification failure wraps ErrVerify.
var (
	// ErrVerify: the file or the manifest does not verify.
	ErrVerify = errors.New("manifest: verification failed")
	// ErrSignature: the manifest's signature is not valid for the key (the
	// manifest was changed, or it was signed by another key).
	ErrSignature = fmt.Errorf("%w: bad signature", ErrVerify)
	// ErrFileMismatch: the file's SHA-256 or size differs from the manifest.
	ErrFileMismatch = fmt.Errorf("%w: the file does not match the manifest", ErrVerify)
	// ErrMalformed: the manifest file cannot be parsed.
	ErrMalformed = fmt.Errorf("%w: malformed manifest", ErrVerify)
	// ErrKey: a key file cannot be read.
	ErrKey = errors.New("manifest: bad key")
)

// Version is the manifest format version.
const Version = 1

const domain = "gwanje.export.manifest.v1\n"

// Segment is one source segment of the record store the export was read
// from (its hash was verified while reading).
type Segment struct {
	ID     int64     `json:"id"`
	Node   string    `json:"node"`
	Start  time.Time `json:"start"`
	End    time.Time `json:"end"`
	SHA256 string    `json:"sha256"`
	Size   int64     `json:"size"`
}

// Mask is a region blacked out (burned in) over a time range, in
// fractions of the frame (0..1).
type Mask struct {
	X      float64   `json:"x"`
	Y      float64   `json:"y"`
	W      float64   `json:"w"`
	H      float64   `json:"h"`
	From   time.Time `json:"from"`
	To     time.Time `json:"to"`
	Reason string    `json:"reason,omitempty"`
}

// Range is a time range (a gap without footage).
type Range struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

// File is the exported file.
type File struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	Format string `json:"format"` // "video/mp4"
}

// Manifest is the signed description of one exported file.
type Manifest struct {
	Version  int    `json:"v"`
	ExportID string `json:"export_id"`
	System   string `json:"system"`
	Camera   string `json:"camera"`
	// From and To are the range asked for; FirstFrame and LastFrame the
	// footage times of the first and last frame in the file (the file
	// starts at the first keyframe at or after From).
	From       time.Time `json:"from"`
	To         time.Time `json:"to"`
	FirstFrame time.Time `json:"first_frame"`
	LastFrame  time.Time `json:"last_frame"`
	Frames     int       `json:"frames"`
	Codec      string    `json:"codec"`
	Form       string    `json:"form"` // video or still
	Segments   []Segment `json:"segments"`
	// Gaps are parts of [From, To) without recorded footage.
	Gaps  []Range `json:"gaps,omitempty"`
	Masks []Mask  `json:"masks"`
	File  File    `json:"file"`
	// Reference is the provision or subject request the export is for.
	Reference   string    `json:"reference"`
	Purpose     string    `json:"purpose"`
	RequestedBy string    `json:"requested_by"`
	ApprovedBy  string    `json:"approved_by"`
	RequestedAt time.Time `json:"requested_at"`
	ApprovedAt  time.Time `json:"approved_at"`
	CreatedAt   time.Time `json:"created_at"`
}

type envelope struct {
	Manifest  json.RawMessage `json:"manifest"`
	Signature string          `json:"signature"`
	Key       string          `json:"key"`
}

// KeyID is the hex SHA-256 of a public key.
func KeyID(pub ed25519.PublicKey) string {
	s := sha256.Sum256(pub)
	return hex.EncodeToString(s[:])
}

// Sign encodes m and signs it with key; the result is the manifest file.
func Sign(m Manifest, key ed25519.PrivateKey) ([]byte, error) {
	if len(key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("%w: not an Ed25519 private key", ErrKey)
	}
	m.Version = Version
	payload, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	sig := ed25519.Sign(key, append([]byte(domain), payload...))
	return encode(envelope{Manifest: payload, Signature: base64.StdEncoding.EncodeToString(sig),
		Key: KeyID(key.Public().(ed25519.PublicKey))})
}

func encode(e envelope) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(e); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	return buf.Bytes(), nil
}

// Open checks a manifest file's signature with pub and returns the
// manifest. It does not look at the exported file (Verify does).
func Open(data []byte, pub ed25519.PublicKey) (*Manifest, error) {
	if len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: not an Ed25519 public key", ErrKey)
	}
	var e envelope
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	canon, err := encode(e)
	if err != nil || !bytes.Equal(canon, data) {
		return nil, fmt.Errorf("%w: the file is not in its canonical form (changed?)", ErrMalformed)
	}
	sig, err := base64.StdEncoding.DecodeString(e.Signature)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return nil, fmt.Errorf("%w: signature encoding", ErrSignature)
	}
	if e.Key != KeyID(pub) {
		return nil, fmt.Errorf("%w: signed by key %.16s…, not by the key given (%.16s…)", ErrSignature, e.Key, KeyID(pub))
	}
	if !ed25519.Verify(pub, append([]byte(domain), e.Manifest...), sig) {
		return nil, ErrSignature
	}
	var m Manifest
	dec = json.NewDecoder(bytes.NewReader(e.Manifest))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if m.Version != Version {
		return nil, fmt.Errorf("%w: version %d", ErrMalformed, m.Version)
	}
	return &m, nil
}

// Verify checks the manifest's signature with pub, then that file (read to
// the end) has the manifest's SHA-256 and size. It returns the manifest
// when both hold; every failure wraps ErrVerify (or ErrKey).
func Verify(file io.Reader, manifestData []byte, pub ed25519.PublicKey) (*Manifest, error) {
	m, err := Open(manifestData, pub)
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	n, err := io.Copy(h, file)
	if err != nil {
		return nil, fmt.Errorf("manifest: reading the file: %w", err)
	}
	if n != m.File.Size || hex.EncodeToString(h.Sum(nil)) != m.File.SHA256 {
		return m, fmt.Errorf("%w (size %d, manifest says %d)", ErrFileMismatch, n, m.File.Size)
	}
	return m, nil
}

// VerifyFiles is Verify on paths: the exported file, the manifest file and
// the public key file (PEM "PUBLIC KEY", or 64 hex digits).
func VerifyFiles(filePath, manifestPath, pubKeyPath string) (*Manifest, error) {
	pub, err := LoadPublicKey(pubKeyPath)
	if err != nil {
		return nil, err
	}
	md, err := os.ReadFile(manifestPath)
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	f, err := os.Open(filePath)
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	defer f.Close()
	return Verify(f, md, pub)
}

// ParsePublicKey reads a public key: PEM ("PUBLIC KEY", PKIX) or 64 hex
// digits.
func ParsePublicKey(b []byte) (ed25519.PublicKey, error) {
	if blk, _ := pem.Decode(b); blk != nil {
		k, err := x509.ParsePKIXPublicKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrKey, err)
		}
		pub, ok := k.(ed25519.PublicKey)
		if !ok {
			return nil, fmt.Errorf("%w: not an Ed25519 key", ErrKey)
		}
		return pub, nil
	}
	raw, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: expected PEM or 64 hex digits", ErrKey)
	}
	return ed25519.PublicKey(raw), nil
}

// LoadPublicKey reads a public key file (see ParsePublicKey).
func LoadPublicKey(path string) (ed25519.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKey, err)
	}
	return ParsePublicKey(b)
}

// PublicKeyPEM encodes a public key as PEM ("PUBLIC KEY").
func PublicKeyPEM(pub ed25519.PublicKey) []byte {
	der, _ := x509.MarshalPKIXPublicKey(pub)
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// LoadOrCreateKey loads the Ed25519 signing key (PKCS#8 PEM) at path, or
// creates it (mode 0600, directory 0700; package keyfile) when missing. The
// public key is also written beside it as path+".pub" for handing to
// recipients.
func LoadOrCreateKey(path string) (ed25519.PrivateKey, error) {
	priv, err := keyfile.Ed25519(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKey, err)
	}
	if _, err := os.Stat(path + ".pub"); errors.Is(err, os.ErrNotExist) {
		_ = os.WriteFile(path+".pub", PublicKeyPEM(priv.Public().(ed25519.PublicKey)), 0o644)
	}
	return priv, nil
}
