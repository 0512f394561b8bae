package audit

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Appender commits an audit entry (*Store implements it).
type Appender interface {
	Append(ctx context.Context, e Entry) (Record, error)
}

// SpoolConfig configures a Spool.
type SpoolConfig struct {
	// Dir holds the spooled entries (created with mode 0700). Required;
	// gwanjed uses <data-dir>/audit-spool. One process per directory.
	Dir string
	// Store commits the entries. Required.
	Store Appender
	// RetryMin and RetryMax bound the pause between attempts while the
	// store is unavailable (doubling). Defaults 100ms and 10s.
	RetryMin, RetryMax time.Duration
	// Logger; default slog.Default().
	Logger *slog.Logger
}

// Spool is a durable local queue in front of the audit store for entries
// that record what already happened and must never be dropped: the end of
// a live view or a playback (live.view.end, playback.end). Append writes
// the entry to a file (fsynced) and returns; Run commits the files to the
// store in order, retrying for as long as the store is unavailable (there
// is no deadline), and removes each once committed. Files left at shutdown
// or by a crash are committed by the next Run. Delivery is at least once:
// a crash between the commit and the removal commits the entry again
// (each carries a "spool_id" detail to tell repeats apart). Not for
// entries that must be committed before an action (fail closed): use
// Store.Append for those.
type Spool struct {
	cfg  SpoolConfig
	log  *slog.Logger
	wake chan struct{}

	mu      sync.Mutex
	seq     int64
	prefix  string
	closed  bool
	runOnce sync.Once
	stop    chan struct{}
	stopped sync.Once
	done    chan struct{}
}

// NewSpool checks cfg and creates the directory.
func NewSpool(cfg SpoolConfig) (*Spool, error) {
	if cfg.Dir == "" || cfg.Store == nil {
		return nil, errors.New("audit: SpoolConfig.Dir and Store are required")
	}
	if cfg.RetryMin <= 0 {
		cfg.RetryMin = 100 * time.Millisecond
	}
	if cfg.RetryMax <= 0 {
		cfg.RetryMax = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("audit: spool: %w", err)
	}
	var r [6]byte
	_, _ = rand.Read(r[:])
	return &Spool{cfg: cfg, log: cfg.Logger.With("component", "audit-spool"), wake: make(chan struct{}, 1),
		prefix: hex.EncodeToString(r[:]), stop: make(chan struct{}), done: make(chan struct{})}, nil
}

// Append validates e and writes it to the spool durably (the file is
// fsynced and renamed into place). It returns an empty Record: the entry
// is committed later, by Run. An error means the entry is not spooled
// (invalid, or the disk failed).
func (s *Spool) Append(_ context.Context, e Entry) (Record, error) {
	if _, _, err := prepare(e); err != nil {
		return Record{}, err
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return Record{}, fmt.Errorf("audit: spool: %w: %w", ErrUnavailable, ErrClosed)
	}
	s.seq++
	// Names sort in the order entries were spooled: nanoseconds, then a
	// per-process counter.
	name := fmt.Sprintf("%020d-%s-%012d", time.Now().UnixNano(), s.prefix, s.seq)
	s.mu.Unlock()
	d := make(map[string]any, len(e.Details)+1)
	for k, v := range e.Details {
		d[k] = v
	}
	d["spool_id"] = name
	e.Details = d
	data, err := json.Marshal(e)
	if err != nil {
		return Record{}, fmt.Errorf("audit: spool: %w: %w", ErrInvalid, err)
	}
	if err := writeFileSync(filepath.Join(s.cfg.Dir, name+".json"), data); err != nil {
		return Record{}, fmt.Errorf("audit: spool: %w: %w", ErrUnavailable, err)
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return Record{}, nil
}

func writeFileSync(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// Pending returns how many entries wait in the spool.
func (s *Spool) Pending() (int, error) {
	names, err := s.files()
	return len(names), err
}

func (s *Spool) files() ([]string, error) {
	ents, err := os.ReadDir(s.cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("audit: spool: %w", err)
	}
	var names []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".json") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}

// Run commits spooled entries until ctx ends or Close is called. Entries
// not committed by then stay in the spool for the next Run.
func (s *Spool) Run(ctx context.Context) error {
	first := false
	s.runOnce.Do(func() { first = true })
	if !first {
		return errors.New("audit: Spool.Run called twice")
	}
	defer close(s.done)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-s.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	backoff := s.cfg.RetryMin
	for {
		err := s.drain(ctx)
		wait := s.cfg.RetryMin * 50 // look again now and then (entries of an earlier crash)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			s.log.Warn("audit spool: entries wait for the audit store", "err", err, "retry_in", backoff)
			wait = backoff
			backoff = min(backoff*2, s.cfg.RetryMax)
		} else {
			backoff = s.cfg.RetryMin
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-s.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// drain commits every spooled entry in order; it stops at the first that
// cannot be committed.
func (s *Spool) drain(ctx context.Context) error {
	names, err := s.files()
	if err != nil {
		return err
	}
	for _, name := range names {
		path := filepath.Join(s.cfg.Dir, name)
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("audit: spool: %w", err)
		}
		var e Entry
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber() // numbers in details keep their exact form
		if err := dec.Decode(&e); err != nil {
			s.quarantine(path, err)
			continue
		}
		actx, cancel := context.WithTimeout(ctx, 15*time.Second)
		_, err = s.cfg.Store.Append(actx, e)
		cancel()
		if errors.Is(err, ErrInvalid) {
			s.quarantine(path, err)
			continue
		}
		if err != nil {
			return err
		}
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("audit: spool: committed but not removed (will be committed again): %w", err)
		}
	}
	return nil
}

// quarantine moves a spooled file that cannot become an entry aside.
func (s *Spool) quarantine(path string, cause error) {
	bad := path + ".bad-" + strconv.FormatInt(time.Now().Unix(), 10)
	s.log.Error("audit spool: an entry cannot be committed; moved aside", "file", bad, "err", cause)
	if err := os.Rename(path, bad); err != nil {
		s.log.Error("audit spool: cannot move aside", "file", path, "err", err)
	}
}

// Close refuses further entries and stops Run (what is spooled stays on
// disk for the next start). Safe to call more than once.
func (s *Spool) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.stopped.Do(func() { close(s.stop) })
	started := true
	s.runOnce.Do(func() { started = false })
	if started {
		<-s.done
	}
}
