package export

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gwanje/gwanje/audit"
	"github.com/gwanje/gwanje/internal/revoke"
)

// Auditor writes audit entries inside the caller's transaction;
// *audit.Store implements it.
type Auditor interface {
	AppendTx(ctx context.Context, tx pgx.Tx, e audit.Entry) (audit.Record, error)
}

// DownloadPrefix is the path the download handler serves under.
const DownloadPrefix = "/exports/download/"

// LinksConfig configures Links. Zero values take the defaults documented
// on each field.
type LinksConfig struct {
	// Pool is the database with the privacy schema. Required.
	Pool *pgxpool.Pool
	// Auditor records every download before it is served. Required.
	Auditor Auditor
	// Dir is where export files are (Exporter.Dir()). Required.
	Dir string
	// TTL is a link's lifetime when the caller gives none. Default 72h;
	// at most MaxTTL.
	TTL time.Duration
	// MaxTTL bounds a link's lifetime. Default 14 days.
	MaxTTL time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Authorizer re-decides a link's maker when the link is used, and a
	// download in progress when a notice names its maker (revoke.Decider):
	// a link lives only while its maker's login session is open and one of
	// the permissions it was made with is still granted on its cameras.
	// Optional: without it links are honoured until they expire.
	Authorizer revoke.Decider
	// Notices delivers access.revoked notices (events.Notices); Run
	// listens to them. Optional.
	Notices revoke.Subscriber
	// Logger. Default slog.Default().
	Logger *slog.Logger
}

// Links issues one-time download links and serves them (Handler).
type Links struct {
	cfg LinksConfig
	log *slog.Logger
	rev *revoke.Watcher
}

// NewLinks checks cfg.
func NewLinks(cfg LinksConfig) (*Links, error) {
	if cfg.Pool == nil || cfg.Auditor == nil || cfg.Dir == "" {
		return nil, fmt.Errorf("%w: LinksConfig.Pool, Auditor and Dir are required", ErrInvalid)
	}
	if cfg.MaxTTL <= 0 {
		cfg.MaxTTL = 14 * 24 * time.Hour
	}
	if cfg.TTL <= 0 {
		cfg.TTL = 72 * time.Hour
	}
	cfg.TTL = min(cfg.TTL, cfg.MaxTTL)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	log := cfg.Logger.With("component", "export-links")
	return &Links{cfg: cfg, log: log, rev: revoke.New(revoke.Config{Decider: cfg.Authorizer, Notices: cfg.Notices,
		RecheckInterval: -1, Logger: log})}, nil
}

// Run listens for revocations (ending downloads in progress) until ctx
// ends or Close is called. Links are checked when used whether or not Run
// runs.
func (l *Links) Run(ctx context.Context) error {
	if err := l.rev.Start(); err != nil {
		return fmt.Errorf("export: links: %w", err)
	}
	<-ctx.Done()
	l.Close()
	return nil
}

// Close stops Run. Safe to call more than once.
func (l *Links) Close() { l.rev.Close() }

// ErrRevoked: the link's maker may no longer export (logged out, disabled,
// right revoked); the link is refused with 403.
var ErrRevoked = errors.New("export: the download link was revoked")

// LinkEntry is the audit entry a link's download writes: its type
// (export.provide or request.copy) and the fields of the ledger row.
type LinkEntry struct {
	Type        string         `json:"type"`
	Cameras     []string       `json:"cameras"`
	FootageFrom *time.Time     `json:"footage_from,omitempty"`
	FootageTo   *time.Time     `json:"footage_to,omitempty"`
	Purpose     string         `json:"purpose"`
	Reason      string         `json:"reason,omitempty"`
	RequestID   string         `json:"request_id,omitempty"`
	Details     map[string]any `json:"details"`
}

// Link is an issued link; Token is shown once and never stored.
type Link struct {
	Token     string
	Path      string // DownloadPrefix + Token
	ExportID  string
	ExpiresAt time.Time
}

func hashToken(tok string) []byte {
	s := sha256.Sum256([]byte(tok))
	return s[:]
}

// Maker is who makes a link, in which login session, and with which
// permissions (any one of them, still granted on the link's cameras for its
// purpose, keeps the link valid).
type Maker struct {
	UserID, Username, SessionID string
	Permissions                 []string
}

// CreateTx issues a link for an export inside the caller's transaction
// (the caller writes its own audit entry beside it). ttl 0 takes the
// default.
func (l *Links) CreateTx(ctx context.Context, tx pgx.Tx, exportID string, by Maker, ttl time.Duration, e LinkEntry) (Link, error) {
	if ttl <= 0 {
		ttl = l.cfg.TTL
	}
	if ttl > l.cfg.MaxTTL {
		return Link{}, fmt.Errorf("%w: a link may live at most %s", ErrInvalid, l.cfg.MaxTTL)
	}
	if e.Type == "" || by.Username == "" || by.UserID == "" || len(by.Permissions) == 0 {
		return Link{}, fmt.Errorf("%w: a link needs its entry type, who made it and with which permissions", ErrInvalid)
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return Link{}, fmt.Errorf("export: %w", err)
	}
	tok := base64.RawURLEncoding.EncodeToString(b[:])
	now := l.cfg.Now()
	exp := now.Add(ttl)
	ej, err := json.Marshal(e)
	if err != nil {
		return Link{}, fmt.Errorf("export: %w", err)
	}
	_, err = tx.Exec(ctx, `insert into privacy_download_links (token_hash, export_id, created_at, created_by, expires_at,
		entry_type, entry, user_id, session_id, permissions) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		hashToken(tok), exportID, now, by.Username, exp, e.Type, ej, by.UserID, by.SessionID, by.Permissions)
	if err != nil {
		return Link{}, fmt.Errorf("export: link: %w", err)
	}
	return Link{Token: tok, Path: DownloadPrefix + tok, ExportID: exportID, ExpiresAt: exp}, nil
}

// Handler serves GET DownloadPrefix+token: once, before expiry. The link
// is consumed and the download's audit entry committed before the first
// byte is sent; if that fails the answer is 503 and nothing is sent.
// Unknown, used and expired links all get the same 404 (nothing is
// revealed to a guesser); a used or expired link's attempt is logged. A
// link whose maker may no longer export (Config.Authorizer) gets 403 and
// stays unused; a download in progress is cut when a revocation notice
// ends its maker's access.
func (l *Links) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		tok := r.URL.Path
		if i := strings.LastIndex(tok, "/"); i >= 0 {
			tok = tok[i+1:]
		}
		if tok == "" || len(tok) > 64 {
			http.NotFound(w, r)
			return
		}
		if r.Method == http.MethodHead { // never consume a link for a HEAD
			w.WriteHeader(http.StatusOK)
			return
		}
		name, path, holders, err := l.consume(r.Context(), tok, r.RemoteAddr)
		switch {
		case errors.Is(err, ErrExpired):
			http.NotFound(w, r)
			return
		case errors.Is(err, ErrRevoked):
			http.Error(w, "this download link was revoked", http.StatusForbidden)
			return
		case err != nil:
			l.log.Error("export: download refused", "err", err)
			http.Error(w, "download unavailable; try again later", http.StatusServiceUnavailable)
			return
		}
		f, err := os.Open(path)
		if err != nil {
			l.log.Error("export: download: file missing after the link was consumed", "err", err)
			http.Error(w, "file unavailable", http.StatusInternalServerError)
			return
		}
		defer f.Close()
		// A download in progress ends like a live view when its maker's
		// access ends: the body is cut short (the client sees a truncated
		// transfer).
		dctx, cut := context.WithCancelCause(r.Context())
		defer cut(nil)
		for _, h := range holders {
			untrack := l.rev.Track(h, func(reason string) { cut(fmt.Errorf("%w: %s", ErrRevoked, reason)) })
			defer untrack()
		}
		w.Header().Set("Content-Type", "video/mp4")
		w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s"`, strings.ReplaceAll(name, `"`, "")))
		w.Header().Set("Cache-Control", "no-store")
		fi, err := f.Stat()
		if err == nil {
			http.ServeContent(w, r, "", fi.ModTime(), cutFile{f, dctx})
			if cause := context.Cause(dctx); errors.Is(cause, ErrRevoked) {
				l.log.Warn("export: download cut", "err", cause)
				panic(http.ErrAbortHandler) // never let a cut body look complete
			}
		}
	})
}

// cutFile is the export file read for a download; reads fail once ctx is
// done (the maker's access ended).
type cutFile struct {
	*os.File
	ctx context.Context
}

func (f cutFile) Read(p []byte) (int, error) {
	if err := context.Cause(f.ctx); err != nil {
		return 0, err
	}
	return f.File.Read(p)
}

// consume marks the link used and writes its audit entry in one
// transaction; it returns the file's name and path and the link's holders
// (one per camera) for the revocation watcher.
func (l *Links) consume(ctx context.Context, tok, from string) (name, path string, holders []revoke.Holder, err error) {
	now := l.cfg.Now()
	err = pgx.BeginFunc(ctx, l.cfg.Pool, func(tx pgx.Tx) error {
		var exportID, by, typ, fileName, filePath, userID, sessionID string
		var perms []string
		var exp time.Time
		var used *time.Time
		var ej []byte
		var destroyed *time.Time
		err := tx.QueryRow(ctx, `select l.export_id, l.created_by, l.expires_at, l.used_at, l.entry_type, l.entry,
				e.file_name, e.path, e.destroyed_at, l.user_id, l.session_id, l.permissions
			from privacy_download_links l join privacy_exports e on e.id = l.export_id
			where l.token_hash = $1 for update of l`, hashToken(tok)).
			Scan(&exportID, &by, &exp, &used, &typ, &ej, &fileName, &filePath, &destroyed, &userID, &sessionID, &perms)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrExpired
		}
		if err != nil {
			return fmt.Errorf("export: link: %w", err)
		}
		if used != nil || !now.Before(exp) || destroyed != nil {
			l.log.Warn("export: used or expired download link presented", "export", exportID, "from", host(from))
			return ErrExpired
		}
		var e LinkEntry
		if err := json.Unmarshal(ej, &e); err != nil {
			return fmt.Errorf("export: link entry: %w", err)
		}
		holders = holders[:0]
		for _, cam := range e.Cameras {
			h := revoke.Holder{UserID: userID, Username: by, SessionID: sessionID, Permissions: perms,
				CameraID: cam, Purpose: e.Purpose}
			if e.FootageFrom != nil {
				h.FootageFrom = *e.FootageFrom
			}
			holders = append(holders, h)
		}
		if l.cfg.Authorizer != nil {
			if userID == "" || len(holders) == 0 {
				l.log.Warn("export: download link without a recorded maker refused", "export", exportID, "from", host(from))
				return ErrRevoked
			}
			for _, h := range holders {
				if !l.rev.Allowed(ctx, h) {
					l.log.Warn("export: revoked download link presented", "export", exportID, "user", userID,
						"camera", h.CameraID, "from", host(from))
					return ErrRevoked
				}
			}
		}
		if e.Details == nil {
			e.Details = map[string]any{}
		}
		e.Details["export_id"] = exportID
		e.Details["downloaded_from"] = host(from)
		e.Details["link_created_by"] = by
		if _, err := tx.Exec(ctx, `update privacy_download_links set used_at = $2, used_from = $3 where token_hash = $1`,
			hashToken(tok), now, host(from)); err != nil {
			return fmt.Errorf("export: link: %w", err)
		}
		if _, err := l.cfg.Auditor.AppendTx(ctx, tx, audit.Entry{Time: now, Type: typ, Outcome: audit.Success,
			Actor:      audit.Actor{Username: "download-link", Role: "recipient"},
			ClientAddr: from, Cameras: e.Cameras, FootageFrom: e.FootageFrom, FootageTo: e.FootageTo,
			Purpose: e.Purpose, Reason: e.Reason, RequestID: e.RequestID, Details: e.Details}); err != nil {
			return err
		}
		name, path = fileName, filepath.Clean(filePath)
		return nil
	})
	return name, path, holders, err
}

func host(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}
