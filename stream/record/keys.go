package record

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gwanje/gwanje/internal/keyfile"
)

// loadKEK reads the 32-byte key-encryption key from path (64 hex digits),
// creating it (mode 0600, random; package keyfile) when it does not exist
// and create is set. The key is never logged; its ID is a digest prefix.
func loadKEK(path string, create bool) (key []byte, id string, err error) {
	var b []byte
	if create {
		b, err = keyfile.LoadOrCreate(path, keyfile.RandomHex(32), hexKey)
	} else {
		b, err = keyfile.Read(path, hexKey)
	}
	if err != nil {
		return nil, "", fmt.Errorf("record: key file: %w", err)
	}
	key, _ = hex.DecodeString(strings.TrimSpace(string(b)))
	return key, kekID(key), nil
}

// hexKey accepts 64 hex digits (a 256-bit key) with surrounding white space.
func hexKey(b []byte) error {
	k, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(k) != 32 {
		return errors.New("want 64 hex digits (a 256-bit key)")
	}
	return nil
}

func kekID(k []byte) string {
	s := sha256.Sum256(append([]byte("gwanje.recording.kek.id\n"), k...))
	return hex.EncodeToString(s[:8])
}

// loadSigningKey reads an Ed25519 private key (PKCS#8 PEM) from path,
// creating one when it does not exist (package keyfile).
func loadSigningKey(path string) (ed25519.PrivateKey, error) {
	priv, err := keyfile.Ed25519(path)
	if err != nil {
		return nil, fmt.Errorf("record: signing key: %w", err)
	}
	return priv, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// keyring holds the data keys: one per camera per day, wrapped by the KEK
// in recording_keys. Unwrapped keys are cached in memory for a short time
// (so a key destroyed by another process stops working here soon after)
// and never logged.
type keyring struct {
	pool  *pgxpool.Pool
	kek   []byte
	kekID string
	loc   *time.Location
	ttl   time.Duration

	mu    sync.Mutex
	byID  map[string]cachedKey
	byDay map[string]string // camera|day -> key ID
}

type cachedKey struct {
	dek []byte
	at  time.Time
}

func newKeyring(pool *pgxpool.Pool, kek []byte, kekID string, loc *time.Location) *keyring {
	return &keyring{pool: pool, kek: kek, kekID: kekID, loc: loc, ttl: time.Minute,
		byID: map[string]cachedKey{}, byDay: map[string]string{}}
}

func wrapAAD(id, camera string, day string) []byte {
	return []byte("gwanje.recording.key.v1\n" + id + "\n" + camera + "\n" + day)
}

func (k *keyring) wrap(dek []byte, id, camera, day string) ([]byte, error) {
	aead, err := newGCM(k.kek)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return aead.Seal(nonce, nonce, dek, wrapAAD(id, camera, day)), nil
}

func (k *keyring) unwrap(w []byte, id, camera, day string) ([]byte, error) {
	aead, err := newGCM(k.kek)
	if err != nil {
		return nil, err
	}
	if len(w) < aead.NonceSize()+gcmTag {
		return nil, errors.New("record: wrapped key too short")
	}
	dek, err := aead.Open(nil, w[:aead.NonceSize()], w[aead.NonceSize():], wrapAAD(id, camera, day))
	if err != nil {
		return nil, errors.New("record: data key does not unwrap with this key-encryption key")
	}
	return dek, nil
}

func (k *keyring) dayOf(t time.Time) string { return t.In(k.loc).Format(time.DateOnly) }

// keyFor returns the data key of camera for the day of t, creating it.
func (k *keyring) keyFor(ctx context.Context, camera string, t time.Time) (string, []byte, error) {
	day := k.dayOf(t)
	ck := camera + "|" + day
	k.mu.Lock()
	if id, ok := k.byDay[ck]; ok {
		if c, ok := k.byID[id]; ok {
			k.mu.Unlock()
			return id, bytesClone(c.dek), nil
		}
	}
	k.mu.Unlock()
	for range 3 {
		var id string
		var wrapped []byte
		err := k.pool.QueryRow(ctx, `select id, wrapped from recording_keys
			where camera_id = $1 and day = $2 and wrapped is not null`, camera, day).Scan(&id, &wrapped)
		if err == nil {
			dek, err := k.unwrap(wrapped, id, camera, day)
			if err != nil {
				return "", nil, err
			}
			k.mu.Lock()
			k.byID[id] = cachedKey{dek: dek, at: time.Now()}
			k.byDay[ck] = id
			k.mu.Unlock()
			return id, bytesClone(dek), nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return "", nil, fmt.Errorf("record: data key: %w", err)
		}
		dek := make([]byte, 32)
		var rid [12]byte
		if _, err := rand.Read(dek); err != nil {
			return "", nil, err
		}
		if _, err := rand.Read(rid[:]); err != nil {
			return "", nil, err
		}
		id = "k" + hex.EncodeToString(rid[:])
		w, err := k.wrap(dek, id, camera, day)
		if err != nil {
			return "", nil, err
		}
		if _, err := k.pool.Exec(ctx, `insert into recording_keys (id, camera_id, day, wrapped, kek_id)
			values ($1, $2, $3, $4, $5) on conflict (camera_id, day) where wrapped is not null do nothing`,
			id, camera, day, w, k.kekID); err != nil {
			return "", nil, fmt.Errorf("record: data key: %w", err)
		}
		// Loop: read back whichever key won.
	}
	return "", nil, errors.New("record: data key: could not create")
}

// key returns a data key by ID for reading; ErrKeyDestroyed once it was
// destroyed.
func (k *keyring) key(ctx context.Context, id string) ([]byte, error) {
	k.mu.Lock()
	if c, ok := k.byID[id]; ok && time.Since(c.at) < k.ttl {
		k.mu.Unlock()
		return bytesClone(c.dek), nil
	}
	k.mu.Unlock()
	var camera string
	var day time.Time
	var wrapped []byte
	err := k.pool.QueryRow(ctx, `select camera_id, day, wrapped from recording_keys where id = $1`, id).
		Scan(&camera, &day, &wrapped)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%w: unknown key", ErrKeyDestroyed)
	}
	if err != nil {
		return nil, fmt.Errorf("record: data key: %w", err)
	}
	if wrapped == nil {
		k.forget(id)
		return nil, ErrKeyDestroyed
	}
	dek, err := k.unwrap(wrapped, id, camera, day.Format(time.DateOnly))
	if err != nil {
		return nil, err
	}
	k.mu.Lock()
	k.byID[id] = cachedKey{dek: dek, at: time.Now()}
	k.mu.Unlock()
	return bytesClone(dek), nil
}

// forget drops a key from the cache (after it was destroyed), overwriting
// the cached copy.
func (k *keyring) forget(id string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if c, ok := k.byID[id]; ok {
		clear(c.dek)
		delete(k.byID, id)
	}
	for d, v := range k.byDay {
		if v == id {
			delete(k.byDay, d)
		}
	}
}

func bytesClone(b []byte) []byte { return append([]byte(nil), b...) }
