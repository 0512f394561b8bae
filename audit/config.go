package audit

import (
	"context"
	"crypto/ed25519"
	"errors"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Errors. Every write failure wraps ErrUnavailable: the caller must refuse
// the audited action (fail closed).
var (
	// ErrUnavailable means the audit store could not commit the entry
	// (database down, timeout, store closed). Refuse the audited action.
	ErrUnavailable = errors.New("audit store unavailable")
	// ErrInvalid means the entry itself is malformed (a programming error).
	ErrInvalid = errors.New("invalid audit entry")
	// ErrClosed means the store was closed; it wraps ErrUnavailable.
	ErrClosed = errors.New("audit store closed")
)

// Publisher hands a published entry to the message bus (NATS in gwanjed).
// Publish must return only once the message is accepted (for JetStream: the
// publish is acknowledged); an error makes the relay retry later, from the
// same entry. Messages may be delivered more than once; the payload's "seq"
// identifies an entry.
type Publisher interface {
	Publish(ctx context.Context, subject string, data []byte) error
}

// SubjectPrefix starts every subject the outbox publishes to:
// gwanje.v1.audit.<type>, e.g. gwanje.v1.audit.live.view.start. Signed
// checkpoints go to the anchor logs (Config.Anchors).
const SubjectPrefix = "gwanje.v1.audit."

// Config configures a Store. Zero values take the documented defaults.
type Config struct {
	// Pool is the application's connection pool. Required. In production it
	// connects as an application role that may only SELECT and INSERT the
	// audit tables (FORMAT.md, "Privileges").
	Pool *pgxpool.Pool
	// AdminPool creates monthly partitions and drops expired ones (DDL).
	// Default Pool. In production: a pool connected as the schema owner.
	AdminPool *pgxpool.Pool

	// SigningKey signs checkpoints. When nil, KeyFile is loaded, or created
	// (mode 0600) when it does not exist. One of the two is required; all
	// gwanjed processes writing one database should share the key file.
	SigningKey ed25519.PrivateKey
	KeyFile    string
	// TrustedKeys are further public keys whose checkpoints Verify accepts
	// (e.g. keys of other processes or of earlier years). The store's own
	// key is always trusted.
	TrustedKeys []ed25519.PublicKey
	// RedactKey keys Redact's HMAC. Default: derived from the signing key
	// (HMAC-SHA256(seed, "gwanje.audit.redact.v1")).
	RedactKey []byte

	// CheckpointEvery signs (and anchors) a checkpoint after this many new
	// entries. Default 100. With CheckpointInterval it bounds what can be
	// cut from the tail unseen (FORMAT.md, "Anchors").
	CheckpointEvery int
	// CheckpointInterval signs (and anchors) a checkpoint at least this
	// often while new entries arrive. Default 10s.
	CheckpointInterval time.Duration
	// Anchors keep a copy of every checkpoint outside PostgreSQL (a
	// JetStream stream, a file); Verify and CheckIntegrity compare the
	// chain with the newest of them. None: only the database's checkpoints.
	Anchors []AnchorLog
	// IntegrityInterval is how often Run checks that chain head >= outbox
	// cursor >= newest anchored checkpoint (also once at start). Default 30s.
	IntegrityInterval time.Duration
	// Alarm is told when an integrity check starts or stops failing (and
	// when an entry had to be published as a summary). Nil: logged only.
	Alarm func(Alarm)
	// MaxPublish bounds the size of one published entry; larger entries are
	// published as a summary with their hash (FORMAT.md, "Outbox").
	// Default 64 KiB.
	MaxPublish int

	// Publisher receives every entry through the outbox. Nil: nothing is
	// published and the outbox cursor stays where it is, so a publisher
	// added later starts from there.
	Publisher Publisher
	// RelayInterval is how often the relay looks for entries written by
	// other processes, and the retry delay after a failed publish.
	// Default 1s.
	RelayInterval time.Duration
	// RelayBatch bounds the entries published per relay round. Default 256.
	RelayBatch int

	// QueueSize bounds the entries waiting for the writer. Default 8192.
	QueueSize int
	// MaxBatch bounds the entries committed in one transaction. Default 1024.
	MaxBatch int
	// Pipeline is how many batches may be in flight at once (inserted in
	// parallel; their head updates serialize in the database). Default 1.
	Pipeline int
	// GatherDelay is how long the writer may wait for more entries when
	// fewer are queued than its previous batch held (like PostgreSQL's
	// commit_delay). Default 200µs; negative: never wait.
	GatherDelay time.Duration
	// WriteTimeout bounds one commit of a batch. Default 5s.
	WriteTimeout time.Duration
	// AppendTimeout bounds how long Append waits for its commit. Default 10s.
	AppendTimeout time.Duration

	// AccessRetentionMonths is how many whole months of entries are kept at
	// least. Default 24 (접속기록: at least 2 years).
	AccessRetentionMonths int
	// GrantRetentionMonths applies instead to months holding grant, role
	// and account changes (types starting with a GrantTypes prefix).
	// Default 36 (at least 3 years).
	GrantRetentionMonths int
	// GrantTypes are the type prefixes kept for GrantRetentionMonths.
	// Default GrantChangeTypes() (the grant-change types of Types).
	GrantTypes []string

	// VerifyParallel is how many connections Verify reads a long range
	// with (segments of at least 100,000 entries). Default 2.
	VerifyParallel int

	// Location is the time zone of reports and review months.
	// Default Asia/Seoul (UTC+9 when the zone database is missing).
	Location *time.Location
	// Ledger maps entry types to ledger kinds. Default DefaultLedgerTypes
	// (derived from Types).
	Ledger map[string]LedgerKind
	// Review tunes the monthly access-log review. Zero fields take the
	// defaults documented on ReviewConfig.
	Review ReviewConfig

	// Clock returns the current time. Default time.Now.
	Clock func() time.Time
	// Logger receives operational messages; never entry contents or
	// secrets. Default slog.Default().
	Logger *slog.Logger
}

func (c *Config) defaults() {
	if c.AdminPool == nil {
		c.AdminPool = c.Pool
	}
	if c.CheckpointEvery <= 0 {
		c.CheckpointEvery = 100
	}
	if c.CheckpointInterval <= 0 {
		c.CheckpointInterval = 10 * time.Second
	}
	if c.IntegrityInterval <= 0 {
		c.IntegrityInterval = 30 * time.Second
	}
	if c.MaxPublish <= 0 {
		c.MaxPublish = 64 << 10
	}
	if c.RelayInterval <= 0 {
		c.RelayInterval = time.Second
	}
	if c.RelayBatch <= 0 {
		c.RelayBatch = 256
	}
	if c.QueueSize <= 0 {
		c.QueueSize = 8192
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = 1024
	}
	if c.Pipeline <= 0 {
		c.Pipeline = 1
	}
	if c.GatherDelay == 0 {
		c.GatherDelay = 200 * time.Microsecond
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 5 * time.Second
	}
	if c.AppendTimeout <= 0 {
		c.AppendTimeout = 10 * time.Second
	}
	if c.AccessRetentionMonths <= 0 {
		c.AccessRetentionMonths = 24
	}
	if c.GrantRetentionMonths <= 0 {
		c.GrantRetentionMonths = 36
	}
	if c.GrantTypes == nil {
		c.GrantTypes = GrantChangeTypes()
	}
	if c.VerifyParallel <= 0 {
		c.VerifyParallel = 2
	}
	if c.Location == nil {
		loc, err := time.LoadLocation("Asia/Seoul")
		if err != nil {
			loc = time.FixedZone("KST", 9*3600)
		}
		c.Location = loc
	}
	if c.Ledger == nil {
		c.Ledger = DefaultLedgerTypes
	}
	c.Review.defaults()
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}
