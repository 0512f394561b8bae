package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Store is the audit store. Create it with New, start its writer, outbox
// relay and checkpointer with Run, stop it with Close.
type Store struct {
	cfg       Config
	pool      *pgxpool.Pool
	admin     *pgxpool.Pool
	priv      ed25519.PrivateKey
	pub       ed25519.PublicKey
	redactKey []byte
	log       *slog.Logger
	m         *metrics
	now       func() time.Time

	queue chan *pending

	namer atomic.Pointer[CameraNamer]

	mu     sync.RWMutex // held for reading while queueing; for writing to close
	closed bool

	stop     chan struct{} // closed by Close
	stopOnce sync.Once
	started  atomic.Bool
	done     chan struct{} // closed when Run returns (or by Close if Run never ran)
	doneOnce sync.Once

	relayWake chan struct{}
	ckptWake  chan struct{}
	headSeq   atomic.Int64 // last committed seq this process knows of
	headStale atomic.Bool  // the writer must re-read the chain head
	ckptSeq   atomic.Int64 // seq of the last checkpoint this process knows of

	anchorMu sync.Mutex
	// anchorWrite orders this process's anchor appends: a checkpoint is
	// never anchored after a newer one.
	anchorWrite sync.Mutex
	anchored    Checkpoint // newest anchored checkpoint this process knows of
	lastCkpt    Checkpoint // last checkpoint this process signed or found

	checkWake   chan struct{}
	relayDone   chan struct{} // closed when the relay returns
	integrityMu sync.Mutex
	broken      string // the integrity problem raised; "" when none
}

type pending struct {
	e       Entry
	details string
	done    chan result
}

type result struct {
	rec Record
	err error
}

// head is the chain head: the last entry's seq, hash and log time.
type head struct {
	seq    int64
	hash   []byte
	logged int64 // µs
}

// New checks cfg, loads or creates the signing key and makes sure the
// partitions for this month and the next two exist. It starts nothing:
// Append commits only while Run runs (AppendTx, queries and reports work
// without it).
func New(cfg Config) (*Store, error) {
	if cfg.Pool == nil {
		return nil, errors.New("audit: Config.Pool is required")
	}
	cfg.defaults()
	priv := cfg.SigningKey
	if priv == nil {
		if cfg.KeyFile == "" {
			return nil, errors.New("audit: a checkpoint signing key is required (Config.SigningKey or Config.KeyFile)")
		}
		var err error
		if priv, err = LoadOrCreateKey(cfg.KeyFile); err != nil {
			return nil, err
		}
	}
	if len(priv) != ed25519.PrivateKeySize {
		return nil, errors.New("audit: Config.SigningKey is not an Ed25519 private key")
	}
	rk := cfg.RedactKey
	if len(rk) == 0 {
		m := hmac.New(sha256.New, priv.Seed())
		m.Write([]byte("gwanje.audit.redact.v1"))
		rk = m.Sum(nil)
	}
	s := &Store{
		cfg: cfg, pool: cfg.Pool, admin: cfg.AdminPool,
		priv: priv, pub: priv.Public().(ed25519.PublicKey), redactKey: bytes.Clone(rk),
		log: cfg.Logger.With("component", "audit"), now: cfg.Clock, m: newMetrics(),
		queue:     make(chan *pending, cfg.QueueSize),
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
		relayWake: make(chan struct{}, 1),
		ckptWake:  make(chan struct{}, 1),
		checkWake: make(chan struct{}, 1),
		relayDone: make(chan struct{}),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := s.ensurePartitions(ctx, s.now()); err != nil {
		return nil, err
	}
	var ck int64
	if err := s.pool.QueryRow(ctx, "select coalesce(max(seq), 0) from audit_checkpoint").Scan(&ck); err != nil {
		return nil, fmt.Errorf("audit: %w: %w", ErrUnavailable, err)
	}
	s.ckptSeq.Store(ck)
	return s, nil
}

// ensurePartitions creates the partitions of t's month and the two after it.
func (s *Store) ensurePartitions(ctx context.Context, t time.Time) error {
	t = t.UTC()
	first := time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 3; i++ {
		if _, err := s.admin.Exec(ctx, "select audit_ensure_partition($1)", first.AddDate(0, i, 0)); err != nil {
			return fmt.Errorf("audit: create monthly partition: %w: %w", ErrUnavailable, err)
		}
	}
	return nil
}

// PublicKey returns the checkpoint verification key, for outside auditors.
func (s *Store) PublicKey() ed25519.PublicKey { return s.pub }

// Redact returns a keyed hash of secret, "hmac-sha256:<hex>", to record in
// place of a token, ticket or credential: equal secrets give equal values,
// and the secret cannot be recovered or guessed offline without the key.
func (s *Store) Redact(secret string) string {
	m := hmac.New(sha256.New, s.redactKey)
	m.Write([]byte(secret))
	return "hmac-sha256:" + hex.EncodeToString(m.Sum(nil))
}

// Run runs the group-commit writer, the outbox relay and the checkpointer
// until ctx ends or Close is called. On the way out it commits the entries
// already queued and signs a final checkpoint. It returns nil after a normal
// stop. Run may be called once.
func (s *Store) Run(ctx context.Context) error {
	if !s.started.CompareAndSwap(false, true) {
		select {
		case <-s.stop:
			return nil // closed before it ran
		default:
			return errors.New("audit: Run called twice")
		}
	}
	defer s.doneOnce.Do(func() { close(s.done) })
	select {
	case <-s.stop:
		return nil
	default:
	}
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	writerDone := make(chan struct{})
	wg.Add(4)
	go func() { defer wg.Done(); defer close(writerDone); s.writer(bg) }()
	go func() { defer wg.Done(); s.relay(bg, writerDone) }()
	go func() { defer wg.Done(); s.checkpointer(bg, writerDone) }()
	go func() { defer wg.Done(); s.checker(bg, writerDone) }()
	select {
	case <-ctx.Done():
		s.shut()
	case <-s.stop:
	}
	// The writer drains the queue and exits; relay and checkpointer do a
	// last round after it and exit. cancel bounds nothing here: every
	// database call has its own timeout.
	wg.Wait()
	cancel()
	return nil
}

// shut refuses new entries and tells the goroutines to finish.
func (s *Store) shut() {
	s.stopOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		close(s.stop)
	})
}

// Close stops Run (after it commits what is queued) and waits for it.
// Entries queued when Run never ran fail with ErrClosed. Safe to call more
// than once and concurrently.
func (s *Store) Close() error {
	s.shut()
	if !s.started.Load() {
		if s.started.CompareAndSwap(false, true) {
			s.failQueued(fmt.Errorf("audit: %w: %w", ErrUnavailable, ErrClosed))
			s.doneOnce.Do(func() { close(s.done) })
		}
	}
	<-s.done
	return nil
}

func (s *Store) failQueued(err error) {
	for {
		select {
		case p := <-s.queue:
			p.done <- result{err: err}
		default:
			return
		}
	}
}

// Append records e and returns once it is committed, together with the
// entries of concurrent callers (group commit). Any failure to commit wraps
// ErrUnavailable: refuse the audited action.
//
// Audit writes do not die with the client: once Append has queued the entry
// (it tries that first, even when ctx is already done), the entry is
// committed whatever happens to ctx. If ctx ends while Append waits for the
// commit, Append returns at once with an error wrapping ctx.Err() and
// ErrUnavailable — the caller must not proceed, since it cannot know the
// outcome — and the entry is still committed in the background.
func (s *Store) Append(ctx context.Context, e Entry) (_ Record, err error) {
	c, details, err := prepare(e)
	if err != nil {
		return Record{}, err
	}
	p := &pending{e: c, details: details, done: make(chan result, 1)}
	start := time.Now()
	defer func() { s.m.observeAppend(start, err) }()
	timer := time.NewTimer(s.cfg.AppendTimeout)
	defer timer.Stop()
	if err := s.enqueue(ctx, p, timer.C); err != nil {
		return Record{}, err
	}
	select {
	case r := <-p.done:
		return r.rec, r.err
	case <-ctx.Done():
		return Record{}, fmt.Errorf("audit: %w: caller gone before the commit (%w); the entry is still being committed", ErrUnavailable, ctx.Err())
	case <-timer.C:
		return Record{}, fmt.Errorf("audit: %w: no commit within %s", ErrUnavailable, s.cfg.AppendTimeout)
	}
}

func (s *Store) enqueue(ctx context.Context, p *pending, timeout <-chan time.Time) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return fmt.Errorf("audit: %w: %w", ErrUnavailable, ErrClosed)
	}
	select {
	case s.queue <- p:
		return nil
	default:
	}
	select {
	case s.queue <- p:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("audit: %w: queue full and caller gone: %w", ErrUnavailable, ctx.Err())
	case <-timeout:
		return fmt.Errorf("audit: %w: queue full for %s", ErrUnavailable, s.cfg.AppendTimeout)
	}
}

// AppendTx records e inside the caller's transaction, so that the entry and
// the change it describes commit or roll back together. It locks the chain
// head until tx ends: keep such transactions short. tx should run at READ
// COMMITTED (the default); at REPEATABLE READ or SERIALIZABLE the caller
// must retry on serialization failures. The returned Record is valid only
// if tx commits.
func (s *Store) AppendTx(ctx context.Context, tx pgx.Tx, e Entry) (Record, error) {
	c, details, err := prepare(e)
	if err != nil {
		return Record{}, err
	}
	h, err := readHead(ctx, tx, true)
	if err != nil {
		return Record{}, fmt.Errorf("audit: %w: %w", ErrUnavailable, err)
	}
	rows := s.build(h, []*pending{{e: c, details: details}})
	n, err := insertRows(ctx, tx, h, rows)
	if err == nil && n != 1 {
		err = errors.New("chain head changed while locked")
	}
	if err != nil {
		return Record{}, fmt.Errorf("audit: %w: %w", ErrUnavailable, err)
	}
	r := rows[0]
	return Record{Seq: r.seq, Time: r.e.Time, Hash: r.hash}, nil
}

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

func readHead(ctx context.Context, q querier, lock bool) (head, error) {
	sql := "select seq, hash, logged_at from audit_head"
	if lock {
		sql += " for update"
	}
	var h head
	var t time.Time
	if err := q.QueryRow(ctx, sql).Scan(&h.seq, &h.hash, &t); err != nil {
		return head{}, fmt.Errorf("read chain head: %w", err)
	}
	h.logged = usec(t)
	return h, nil
}

// build turns a batch into chained rows after h. The log time never goes
// back: it is the later of the clock and h's log time.
func (s *Store) build(h head, batch []*pending) []*row {
	logged := usec(s.now())
	if logged < h.logged {
		logged = h.logged
	}
	rows := make([]*row, len(batch))
	prev := h.hash
	for i, p := range batch {
		r := &row{seq: h.seq + int64(i) + 1, loggedAt: logged, e: p.e, details: p.details}
		if r.e.Time.IsZero() {
			r.e.Time = fromUsec(logged)
		}
		r.seal(prev)
		prev = r.hash
		rows[i] = r
	}
	return rows
}

const insertSQL = `with h as (
	update audit_head set seq = $1, hash = $2, logged_at = $3
	where id and seq = $4 and hash = $5
	returning 1
)
insert into audit_entry (seq, logged_at, time, type, outcome, user_id, username, role, org,
	client_addr, session_id, cameras, footage_from, footage_to, live, purpose, purpose_text,
	reason, request_id, details, prev_hash, hash)
select u.seq, $3, u.time, u.type, u.outcome, u.user_id, u.username, u.role, u.org,
	u.client_addr, u.session_id, string_to_array(u.cameras, E'\x1f'), u.footage_from, u.footage_to,
	u.live, u.purpose, u.purpose_text, u.reason, u.request_id, u.details, u.prev_hash, u.hash
from unnest($6::bigint[], $7::timestamptz[], $8::text[], $9::text[], $10::text[], $11::text[],
	$12::text[], $13::text[], $14::text[], $15::text[], $16::text[], $17::timestamptz[],
	$18::timestamptz[], $19::bool[], $20::text[], $21::text[], $22::text[], $23::text[],
	$24::text[], $25::bytea[], $26::bytea[])
	as u(seq, time, type, outcome, user_id, username, role, org, client_addr, session_id, cameras,
	footage_from, footage_to, live, purpose, purpose_text, reason, request_id, details, prev_hash, hash)
where exists (select from h)`

// insertRows inserts rows after h and moves the head, in one statement that
// inserts nothing when the head is no longer h. It returns the rows inserted.
func insertRows(ctx context.Context, q querier, h head, rows []*row) (int64, error) {
	last := rows[len(rows)-1]
	args := append([]any{last.seq, last.hash, fromUsec(last.loggedAt), h.seq, h.hash}, columnArrays(rows)...)
	tag, err := q.Exec(ctx, insertSQL, args...)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

// columnArrays returns rows as the column arrays $6… of insertSQL.
func columnArrays(rows []*row) []any {
	n := len(rows)
	var (
		seqs                                       = make([]int64, n)
		times, froms, tos                          = make([]time.Time, n), make([]*time.Time, n), make([]*time.Time, n)
		types, outcomes, uids, unames, roles, orgs = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		addrs, sessions, cams, purposes, ptexts    = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		reasons, reqs, details                     = make([]string, n), make([]string, n), make([]string, n)
		lives                                      = make([]bool, n)
		prevs, hashes                              = make([][]byte, n), make([][]byte, n)
	)
	for i, r := range rows {
		e := &r.e
		seqs[i], times[i], froms[i], tos[i] = r.seq, e.Time, e.FootageFrom, e.FootageTo
		types[i], outcomes[i] = e.Type, string(e.Outcome)
		uids[i], unames[i], roles[i], orgs[i] = e.Actor.UserID, e.Actor.Username, e.Actor.Role, e.Actor.Org
		addrs[i], sessions[i], cams[i] = e.ClientAddr, e.SessionID, strings.Join(e.Cameras, camSep)
		purposes[i], ptexts[i], reasons[i], reqs[i], details[i] = e.Purpose, e.PurposeText, e.Reason, e.RequestID, r.details
		lives[i], prevs[i], hashes[i] = e.Live, r.prev, r.hash
	}
	return []any{seqs, times, types, outcomes, uids, unames, roles, orgs, addrs, sessions, cams, froms, tos,
		lives, purposes, ptexts, reasons, reqs, details, prevs, hashes}
}

// isNoPartition reports whether err says the month's partition is missing.
func isNoPartition(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23514" && strings.Contains(pe.Message, "no partition")
}

// batchJob is one batch on its way through the pipeline.
type batchJob struct {
	batch []*pending
	after *head // the head it was chained on; nil: chain it under the lock
	rows  []*row
	err   error
}

// writer is the group-commit pipeline (FORMAT.md, "Group commit"): this
// goroutine takes every entry queued so far as one batch, chains it after
// the head it assumes (the previous batch's last entry) and hands it to one
// of Pipeline committers, which commits it and answers its callers. With
// two or more committers the next batch is already waiting on the head's
// row lock when the previous one commits.
func (s *Store) writer(ctx context.Context) {
	k := s.cfg.Pipeline
	work := make(chan *batchJob)
	slots := make(chan struct{}, k)
	var cwg sync.WaitGroup
	for i := 0; i < k; i++ {
		cwg.Add(1)
		go func() {
			defer cwg.Done()
			for j := range work {
				s.commitJob(ctx, j)
				s.answer(j, j.err)
				<-slots
			}
		}()
	}
	defer func() {
		close(work)
		cwg.Wait()
	}()

	var assumed *head
	// dispatch hands batch to a committer; the caller holds a slot.
	dispatch := func(batch []*pending) {
		if s.headStale.Swap(false) || assumed == nil {
			// Something failed or another writer moved the head: let the
			// batches in flight finish, then start again from the database.
			for i := 1; i < k; i++ {
				slots <- struct{}{}
			}
			assumed = nil
			cctx, cancel := context.WithTimeout(ctx, s.cfg.WriteTimeout)
			if h, err := readHead(cctx, s.pool, false); err == nil {
				assumed = &h
			}
			cancel()
			for i := 1; i < k; i++ {
				<-slots
			}
		}
		j := &batchJob{batch: batch, after: assumed}
		if assumed != nil {
			j.rows = s.build(*assumed, batch)
			h := newHead(j.rows)
			assumed = &h
		}
		work <- j
	}
	// take collects a batch: first, whatever else is queued, and — when
	// that is fewer than recent batches held — whatever arrives within
	// GatherDelay more (the callers of the previous batch coming back), so
	// that batches stay large instead of alternating large and small.
	lastSize := 0
	gather := time.NewTimer(time.Hour)
	gather.Stop()
	take := func(first *pending) []*pending {
		batch := make([]*pending, 0, max(lastSize, 16))
		if first != nil {
			batch = append(batch, first)
		}
	drain:
		for len(batch) < s.cfg.MaxBatch {
			select {
			case p := <-s.queue:
				batch = append(batch, p)
			default:
				break drain
			}
		}
		if first != nil && len(batch) < lastSize && s.cfg.GatherDelay > 0 {
			gather.Reset(s.cfg.GatherDelay)
		wait:
			for len(batch) < lastSize && len(batch) < s.cfg.MaxBatch {
				select {
				case p := <-s.queue:
					batch = append(batch, p)
				case <-gather.C:
					break wait
				}
			}
			gather.Stop()
		}
		// The target decays slowly, so that a few small batches (callers
		// out of step) do not shrink the following ones.
		lastSize = max(len(batch), lastSize-1)
		return batch
	}
	for {
		// Wait for a free committer first, and only then take the batch:
		// what queues while the committers are busy joins the next batch.
		slots <- struct{}{}
		select {
		case p := <-s.queue:
			dispatch(take(p))
		case <-s.stop:
			// Closed for new entries: commit what is queued, then stop.
			for {
				b := take(nil)
				if len(b) == 0 {
					<-slots
					return
				}
				dispatch(b)
				slots <- struct{}{}
			}
		}
	}
}

// commitJob commits j.rows in one statement and round trip (insertSQL:
// move the head if it is still j.after, insert the rows; a synchronous
// commit). When the head was elsewhere, the batch is chained again under
// the head's lock.
func (s *Store) commitJob(ctx context.Context, j *batchJob) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.WriteTimeout)
	defer cancel()
	for attempt := 0; attempt < 3; attempt++ {
		var err error
		if j.after != nil && j.rows != nil {
			var n int64
			n, err = insertRows(ctx, s.pool, *j.after, j.rows)
			if err == nil && n == int64(len(j.rows)) {
				return
			}
			if err == nil {
				s.log.Debug("chain head moved; chaining the batch under the lock")
			} else if !isNoPartition(err) {
				s.headStale.Store(true)
				j.rows, j.err = s.resolve(ctx, j.rows, err)
				return
			}
		} else {
			var rows []*row
			rows, err = s.writeLocked(ctx, j.batch)
			if err == nil {
				j.rows = rows
				return
			}
			if !isNoPartition(err) {
				s.headStale.Store(true)
				if rows != nil {
					j.rows, j.err = s.resolve(ctx, rows, err)
				} else {
					j.rows, j.err = nil, err
				}
				return
			}
		}
		s.headStale.Store(true)
		if isNoPartition(err) {
			if perr := s.ensurePartitions(ctx, s.now()); perr != nil {
				j.rows, j.err = nil, perr
				return
			}
		}
		j.after = nil // chain it under the lock
	}
	j.rows, j.err = nil, errors.New("could not append after 3 attempts")
}

func (s *Store) answer(j *batchJob, err error) {
	if err != nil {
		s.log.Error("audit entries not committed: refusing the audited actions", "entries", len(j.batch), "err", err)
		err = fmt.Errorf("audit: %w: %w", ErrUnavailable, err)
		for _, p := range j.batch {
			p.done <- result{err: err}
		}
		return
	}
	for i, p := range j.batch {
		r := j.rows[i]
		p.done <- result{rec: Record{Seq: r.seq, Time: r.e.Time, Hash: r.hash}}
	}
	h := newHead(j.rows)
	if h.seq > s.headSeq.Load() {
		s.headSeq.Store(h.seq)
	}
	select {
	case s.relayWake <- struct{}{}:
	default:
	}
	if h.seq-s.ckptSeq.Load() >= int64(s.cfg.CheckpointEvery) {
		select {
		case s.ckptWake <- struct{}{}:
		default:
		}
	}
}

func newHead(rows []*row) head {
	l := rows[len(rows)-1]
	return head{seq: l.seq, hash: l.hash, logged: l.loggedAt}
}

func (s *Store) writeLocked(ctx context.Context, batch []*pending) ([]*row, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	h, err := readHead(ctx, tx, true)
	if err != nil {
		return nil, err
	}
	rows := s.build(h, batch)
	n, err := insertRows(ctx, tx, h, rows)
	if err != nil {
		return nil, err
	}
	if n != int64(len(rows)) {
		return nil, fmt.Errorf("chain head changed while locked (%d of %d rows)", n, len(rows))
	}
	if err := tx.Commit(ctx); err != nil {
		return rows, err
	}
	return rows, nil
}

// resolve handles an error after rows were sent: the transaction may or
// may not have committed (a lost connection). It looks at the database
// once: if the batch's last entry is there with its hash, the batch
// committed; otherwise it did not (the transaction is atomic, so nothing is
// half-written).
func (s *Store) resolve(ctx context.Context, rows []*row, cause error) ([]*row, error) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	var hash []byte
	last := rows[len(rows)-1]
	if err := s.pool.QueryRow(cctx, "select hash from audit_entry where seq = $1", last.seq).Scan(&hash); err == nil && bytes.Equal(hash, last.hash) {
		return rows, nil
	}
	return nil, cause
}
