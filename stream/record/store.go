package record

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// KST is Korea Standard Time, the default Location for data-key days.
var KST = time.FixedZone("KST", 9*60*60)

// Alarm kinds.
const (
	AlarmDiskFull     = "disk_full"     // the storage quota or the disk is full: writing stopped
	AlarmDiskOK       = "disk_ok"       // space is back: writing resumed
	AlarmWriteFailed  = "write_failed"  // a segment could not be written (I/O error); it was discarded
	AlarmTampered     = "tampered"      // a segment failed verification (playback or check)
	AlarmMissing      = "missing"       // an indexed segment's file is gone
	AlarmQuarantined  = "quarantined"   // a file was moved aside by the start-up check
	AlarmOverRetained = "over_retained" // the daily check found footage older than its retention
)

// Alarm is raised through StoreConfig.Alarm. It never carries keys or
// credentials.
type Alarm struct {
	Kind     string
	CameraID string
	Node     string
	Path     string
	Detail   string
	Time     time.Time
}

// ErrDiskFull is returned (wrapped) when a write would pass the storage
// quota or the disk has no space.
var ErrDiskFull = errors.New("record: storage full")

// ErrInvalid marks invalid arguments.
var ErrInvalid = errors.New("record: invalid request")

// ErrNotFound marks an unknown hold, node or segment.
var ErrNotFound = errors.New("record: not found")

// StoreConfig configures a Store. Zero values take the defaults documented
// on each field.
type StoreConfig struct {
	// Pool is the database with the recording schema. Required.
	Pool *pgxpool.Pool
	// Dir is this node's storage path for segments. Required; created.
	Dir string
	// Node names this recorder node in the index. Default: the host name.
	Node string
	// DataDir holds the key files. Default: Dir.
	DataDir string
	// KeyFile is the key-encryption key (64 hex digits), created mode 0600
	// on first start when missing. Default DataDir/recording.kek. All
	// nodes sharing a database must use the same key.
	KeyFile string
	// SigningKeyFile is the Ed25519 key (PKCS#8 PEM) that signs manifests,
	// created when missing. Default DataDir/recording-manifest.pem.
	SigningKeyFile string
	// Location decides the day of a data key. Default KST.
	Location *time.Location
	// ChunkSize is the plaintext size of an encrypted chunk. Default 128 KiB.
	ChunkSize int
	// MaxBytes is a quota on the bytes under Dir; 0 means none. Writing
	// stops (ErrDiskFull, AlarmDiskFull) before it would be passed, and
	// resumes once retention has deleted footage and usage is below 80 %.
	MaxBytes int64
	// MinFreeBytes: writing stops when the file system has less free
	// space than this, and resumes with twice as much. Default 256 MiB;
	// negative disables.
	MinFreeBytes int64
	// GapTolerance: holes between segments shorter than this are not
	// reported as gaps. Default 1s.
	GapTolerance time.Duration
	// Alarm receives alarms (disk full, tampering, missing files).
	// Optional; alarms are logged and counted either way.
	Alarm func(Alarm)
	// Metrics. Default NewMetrics().
	Metrics *Metrics
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger. Default slog.Default().
	Logger *slog.Logger
}

// Store is a node's record store: the segment files under Dir, their
// index in PostgreSQL, the data keys, manifests and legal holds. The
// Recorder writes it, the Sweeper destroys from it, playback reads it.
type Store struct {
	cfg  StoreConfig
	pool *pgxpool.Pool
	dir  string
	node string
	keys *keyring
	sign ed25519.PrivateKey
	log  *slog.Logger
	m    *Metrics
	used atomic.Int64
	full atomic.Bool
	// deletedSinceFull counts footage bytes deleted since the disk last
	// became full (see checkSpace).
	deletedSinceFull atomic.Int64
	quar             string
	alarm            func(Alarm)
	lastEnd          sync.Map // camera ID → end (time.Time) of its newest segment indexed here
}

// NewStore opens the store: creates Dir, loads or creates the keys and
// measures the bytes under Dir. Run Check before recording.
func NewStore(cfg StoreConfig) (*Store, error) {
	if cfg.Pool == nil || cfg.Dir == "" {
		return nil, fmt.Errorf("%w: StoreConfig.Pool and Dir are required", ErrInvalid)
	}
	if cfg.Node == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			h = "recorder"
		}
		cfg.Node = sanitize(h)
	}
	if !validName(cfg.Node) {
		return nil, fmt.Errorf("%w: node %q", ErrInvalid, cfg.Node)
	}
	if cfg.DataDir == "" {
		cfg.DataDir = cfg.Dir
	}
	if cfg.KeyFile == "" {
		cfg.KeyFile = filepath.Join(cfg.DataDir, "recording.kek")
	}
	if cfg.SigningKeyFile == "" {
		cfg.SigningKeyFile = filepath.Join(cfg.DataDir, "recording-manifest.pem")
	}
	if cfg.Location == nil {
		cfg.Location = KST
	}
	if cfg.ChunkSize == 0 {
		cfg.ChunkSize = DefaultChunkSize
	}
	if cfg.ChunkSize < 4<<10 || cfg.ChunkSize > maxChunkSize {
		return nil, fmt.Errorf("%w: ChunkSize %d", ErrInvalid, cfg.ChunkSize)
	}
	if cfg.MinFreeBytes == 0 {
		cfg.MinFreeBytes = 256 << 20
	}
	if cfg.GapTolerance == 0 {
		cfg.GapTolerance = time.Second
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("record: storage path: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("record: storage path: %w", err)
	}
	kek, kid, err := loadKEK(cfg.KeyFile, true)
	if err != nil {
		return nil, err
	}
	sk, err := loadSigningKey(cfg.SigningKeyFile)
	if err != nil {
		return nil, err
	}
	s := &Store{cfg: cfg, pool: cfg.Pool, dir: dir, node: cfg.Node, sign: sk, m: cfg.Metrics,
		log: cfg.Logger.With("component", "record", "node", cfg.Node), alarm: cfg.Alarm,
		quar: filepath.Join(dir, quarantineDir)}
	s.keys = newKeyring(cfg.Pool, kek, kid, cfg.Location)
	var used int64
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				used += fi.Size()
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("record: storage path: %w", err)
	}
	s.used.Store(used)
	s.m.DiskUsed.Set(float64(used))
	return s, nil
}

// Node is this store's node ID.
func (s *Store) Node() string { return s.node }

// Dir is the storage path.
func (s *Store) Dir() string { return s.dir }

// Metrics returns the store's metrics (shared with the Recorder and Sweeper).
func (s *Store) Metrics() *Metrics { return s.m }

// PublicKey is the Ed25519 key that verifies this node's manifests.
func (s *Store) PublicKey() ed25519.PublicKey { return s.sign.Public().(ed25519.PublicKey) }

// UsedBytes is the number of bytes under Dir as the store accounts them.
func (s *Store) UsedBytes() int64 { return s.used.Load() }

// DiskFull reports whether writing is stopped for lack of space.
func (s *Store) DiskFull() bool { return s.full.Load() }

func (s *Store) raise(a Alarm) {
	if a.Time.IsZero() {
		a.Time = s.cfg.Now()
	}
	a.Node = s.node
	s.m.Alarms.WithLabelValues(a.Kind).Inc()
	s.log.Warn("record: alarm", "kind", a.Kind, "camera", a.CameraID, "path", a.Path, "detail", a.Detail)
	if s.alarm != nil {
		s.alarm(a)
	}
}

// reserve accounts n bytes about to be written; it fails with ErrDiskFull
// (and raises the alarm once) when the quota would be passed.
func (s *Store) reserve(n int64) error {
	if s.full.Load() {
		return ErrDiskFull
	}
	if s.cfg.MaxBytes > 0 && s.used.Load()+n > s.cfg.MaxBytes {
		s.setFull(fmt.Sprintf("quota of %d bytes reached", s.cfg.MaxBytes))
		return ErrDiskFull
	}
	s.m.DiskUsed.Set(float64(s.used.Add(n)))
	s.m.BytesWritten.Add(float64(n))
	return nil
}

func (s *Store) release(n int64) {
	s.m.DiskUsed.Set(float64(s.used.Add(-n)))
}

// releaseDeleted accounts recorded footage deleted (retention, quarantine):
// space that may let recording resume after the quota was reached.
func (s *Store) releaseDeleted(n int64) {
	s.release(n)
	s.deletedSinceFull.Add(n)
}

func (s *Store) setFull(why string) {
	if s.full.CompareAndSwap(false, true) {
		s.deletedSinceFull.Store(0)
		s.m.DiskFull.Set(1)
		s.raise(Alarm{Kind: AlarmDiskFull, Detail: why})
	}
}

// checkSpace re-evaluates the disk-full state: it clears it when retention
// has deleted footage and the quota is below 80 % again, and the file
// system has twice MinFreeBytes; it sets it when the file system is below
// MinFreeBytes. It returns whether writing may go on.
func (s *Store) checkSpace() bool {
	free := int64(-1)
	if s.cfg.MinFreeBytes > 0 {
		var st syscall.Statfs_t
		if err := syscall.Statfs(s.dir, &st); err == nil {
			free = int64(st.Bavail) * int64(st.Bsize)
		}
	}
	lowFS := free >= 0 && free < s.cfg.MinFreeBytes
	if s.full.Load() {
		// Resume only with a clear margin: the segment in progress that was
		// discarded when the disk filled frees space at once, and resuming
		// on that alone fills the disk again within a segment (the alarm
		// would flap). Below 80 % of the quota and with twice the minimum
		// free space, recording resumes.
		//
		// Under a quota, the space must also come from deleted footage
		// (retention): the discarded segment in progress alone can be more
		// than any margin of a small quota.
		quotaOK := s.cfg.MaxBytes <= 0 || (s.used.Load() < s.cfg.MaxBytes-s.cfg.MaxBytes/5 && s.deletedSinceFull.Load() > 0)
		roomOK := free < 0 || free >= 2*s.cfg.MinFreeBytes
		if quotaOK && roomOK && s.full.CompareAndSwap(true, false) {
			s.m.DiskFull.Set(0)
			s.raise(Alarm{Kind: AlarmDiskOK, Detail: "space available again; recording resumes"})
		}
		return !s.full.Load()
	}
	if lowFS {
		s.setFull(fmt.Sprintf("file system has %d bytes free (minimum %d)", free, s.cfg.MinFreeBytes))
		return false
	}
	return true
}

const quarantineDir = ".quarantine"

// segPath is the relative path of a finished segment.
func (s *Store) segPath(camera string, start, end time.Time) string {
	return camera + "/" + start.In(s.cfg.Location).Format("2006-01-02") + "/" +
		fmt.Sprintf("%d-%d.gseg", start.UnixMilli(), end.UnixMilli())
}

func (s *Store) abs(rel string) string { return filepath.Join(s.dir, filepath.FromSlash(rel)) }

// validName: 1-128 characters of [A-Za-z0-9._-], not starting with a dot
// (camera IDs become directory names).
func validName(v string) bool {
	if v == "" || len(v) > 128 || v[0] == '.' {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func sanitize(v string) string {
	b := []byte(v)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			b[i] = '-'
		}
	}
	out := strings.TrimLeft(string(b), ".")
	if out == "" {
		return "node"
	}
	return out
}

func newID(prefix string) string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// RegisterNode records this node's playback URL, so tickets point players
// at the node that holds the files.
func (s *Store) RegisterNode(ctx context.Context, playbackURL string) error {
	_, err := s.pool.Exec(ctx, `insert into recording_nodes (node, playback_url) values ($1, $2)
		on conflict (node) do update set playback_url = excluded.playback_url, updated_at = now()`, s.node, playbackURL)
	if err != nil {
		return fmt.Errorf("record: register node: %w", err)
	}
	return nil
}

// NodeURL returns the playback URL of a node.
func NodeURL(ctx context.Context, pool *pgxpool.Pool, node string) (string, error) {
	var u string
	err := pool.QueryRow(ctx, `select playback_url from recording_nodes where node = $1`, node).Scan(&u)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && u == "") {
		return "", fmt.Errorf("%w: playback node %q", ErrNotFound, node)
	}
	if err != nil {
		return "", fmt.Errorf("record: node: %w", err)
	}
	return u, nil
}

// RegisterBrowserURL records this node's HTTPS base URL for browser
// playback (stream/playback's fMP4 endpoint); empty withdraws it.
func (s *Store) RegisterBrowserURL(ctx context.Context, browserURL string) error {
	_, err := s.pool.Exec(ctx, `insert into recording_nodes (node, browser_url) values ($1, $2)
		on conflict (node) do update set browser_url = excluded.browser_url, updated_at = now()`, s.node, browserURL)
	if err != nil {
		return fmt.Errorf("record: register node: %w", err)
	}
	return nil
}

// NodeBrowserURL returns the HTTPS base URL of a node's browser playback.
func NodeBrowserURL(ctx context.Context, pool *pgxpool.Pool, node string) (string, error) {
	var u string
	err := pool.QueryRow(ctx, `select browser_url from recording_nodes where node = $1`, node).Scan(&u)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && u == "") {
		return "", fmt.Errorf("%w: browser playback node %q", ErrNotFound, node)
	}
	if err != nil {
		return "", fmt.Errorf("record: node: %w", err)
	}
	return u, nil
}

// RaiseAlarm raises an alarm on behalf of a reader of the store (playback:
// a segment that fails verification).
func (s *Store) RaiseAlarm(a Alarm) { s.raise(a) }

// Pool is the store's database.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }
