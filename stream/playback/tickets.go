package playback

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gwanje/gwanje/stream"
	"github.com/gwanje/gwanje/stream/record"
)

// DefaultTicketTTL is how long a ticket waits to be redeemed when
// TicketRequest.TTL is zero; MaxTicketTTL bounds it.
const (
	DefaultTicketTTL = 30 * time.Second
	MaxTicketTTL     = 10 * time.Minute
)

// Ticket errors are those of package stream (wrapped), so logs and
// metrics use the same reasons (stream.RejectReason).
var (
	ErrNoTicket      = stream.ErrNoTicket
	ErrMalformed     = stream.ErrMalformed
	ErrUnknownTicket = stream.ErrUnknownTicket
	ErrTicketUsed    = stream.ErrTicketUsed
	ErrTicketExpired = stream.ErrTicketExpired
	ErrWrongCamera   = stream.ErrWrongCamera
	ErrInvalid       = stream.ErrInvalidRequest
	// ErrNoFootage: no node holds footage of the camera in the range.
	ErrNoFootage = errors.New("playback: no recorded footage in the range")
	// ErrWrongTransport: the ticket was issued for the other door (an RTSP
	// ticket presented to the browser endpoint or the other way round).
	ErrWrongTransport = errors.New("playback: the ticket is for another transport")
	// errOutOfRange: a position outside the ticket's footage range.
	errOutOfRange = errors.New("playback: outside the ticket's footage range")
)

// Transports a ticket opens.
const (
	// TransportRTSP: the RTSP server (Server, rtsp://node/playback/…).
	TransportRTSP = "rtsp"
	// TransportMSE: fMP4 over HTTPS for a browser's Media Source
	// Extensions (Server.Handler, https://node/playback/mse/…).
	TransportMSE = "mse"
)

// TicketRequest asks for a one-time playback ticket. Control fills it
// after authorizing playback.view and committing the playback.start entry
// (with the footage range).
type TicketRequest struct {
	UserID    string
	Username  string
	SessionID string
	CameraID  string
	// From and To bound the footage the ticket opens.
	From, To time.Time
	Purpose  string
	// AuditSeq is the committed playback.start entry. Required.
	AuditSeq int64
	TTL      time.Duration
	// Transport is TransportRTSP (the default when empty) or TransportMSE.
	Transport string
}

// Ticket is an issued ticket; Token is secret (only inside URL).
type Ticket struct {
	Token     string
	URL       string
	Node      string
	ExpiresAt time.Time
}

// Grant is what a redeemed ticket allows.
type Grant struct {
	UserID, Username, SessionID, CameraID, Purpose, Node string
	From, To                                             time.Time
	AuditSeq                                             int64
	HashPrefix                                           string
	Transport                                            string
}

// Tickets issues and redeems playback tickets in PostgreSQL (table
// recording_playback_tickets). stream.Tickets has no footage range and
// builds live URLs, so playback keeps its own small table with the same
// rules: 32 random bytes, only the SHA-256 stored, one atomic redemption.
type Tickets struct {
	pool *pgxpool.Pool
}

// NewTickets returns the ticket store.
func NewTickets(pool *pgxpool.Pool) *Tickets { return &Tickets{pool: pool} }

// BrowserURL builds the URL a browser opens first (the session's
// manifest, see Server.Handler).
func BrowserURL(base, cameraID, token string) string {
	return strings.TrimRight(base, "/") + MSEPrefix + cameraID + "?ticket=" + url.QueryEscape(token)
}

// URL builds the URL a player opens.
func URL(base, cameraID, token string) string {
	return strings.TrimRight(base, "/") + "/playback/" + cameraID + "?ticket=" + url.QueryEscape(token)
}

// IssueTicket picks the node holding most of the footage of the range,
// stores the ticket and returns the URL of that node's playback server.
func (t *Tickets) IssueTicket(ctx context.Context, req TicketRequest) (Ticket, error) {
	switch {
	case req.UserID == "":
		return Ticket{}, fmt.Errorf("%w: user ID is required", ErrInvalid)
	case !validName(req.CameraID):
		return Ticket{}, fmt.Errorf("%w: camera ID %q", ErrInvalid, req.CameraID)
	case req.From.IsZero() || !req.To.After(req.From):
		return Ticket{}, fmt.Errorf("%w: a footage range (from < to) is required", ErrInvalid)
	case req.AuditSeq <= 0:
		return Ticket{}, fmt.Errorf("%w: the audit entry's sequence number is required", ErrInvalid)
	case req.TTL < 0 || req.TTL > MaxTicketTTL:
		return Ticket{}, fmt.Errorf("%w: TTL %v out of range", ErrInvalid, req.TTL)
	case req.Transport != "" && req.Transport != TransportRTSP && req.Transport != TransportMSE:
		return Ticket{}, fmt.Errorf("%w: transport %q", ErrInvalid, req.Transport)
	}
	if req.Transport == "" {
		req.Transport = TransportRTSP
	}
	if req.TTL == 0 {
		req.TTL = DefaultTicketTTL
	}
	var node string
	err := t.pool.QueryRow(ctx, `select node from recording_segments
		where camera_id = $1 and status = 'ok' and start_at < $3 and end_at > $2
		group by node order by sum(extract(epoch from least(end_at, $3) - greatest(start_at, $2))) desc, node limit 1`,
		req.CameraID, req.From, req.To).Scan(&node)
	if errors.Is(err, pgx.ErrNoRows) {
		return Ticket{}, ErrNoFootage
	}
	if err != nil {
		return Ticket{}, fmt.Errorf("playback: issue ticket: %w", err)
	}
	nodeURL, mkURL := record.NodeURL, URL
	if req.Transport == TransportMSE {
		nodeURL, mkURL = record.NodeBrowserURL, BrowserURL
	}
	base, err := nodeURL(ctx, t.pool, node)
	if err != nil {
		return Ticket{}, fmt.Errorf("playback: issue ticket: %w", err)
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return Ticket{}, err
	}
	token := base64.RawURLEncoding.EncodeToString(raw[:])
	h := sha256.Sum256(raw[:])
	var exp time.Time
	err = t.pool.QueryRow(ctx, `insert into recording_playback_tickets
		(hash, user_id, username, session_id, camera_id, from_at, to_at, purpose, audit_seq, node, expires_at, transport)
		values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, now() + $11::interval, $12) returning expires_at`,
		h[:], req.UserID, req.Username, req.SessionID, req.CameraID, req.From, req.To, req.Purpose, req.AuditSeq,
		node, req.TTL, req.Transport).Scan(&exp)
	if err != nil {
		return Ticket{}, fmt.Errorf("playback: issue ticket: %w", err)
	}
	return Ticket{Token: token, URL: mkURL(base, req.CameraID, token), Node: node, ExpiresAt: exp}, nil
}

func ticketHash(token string) ([]byte, error) {
	if token == "" {
		return nil, ErrNoTicket
	}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) != 32 {
		return nil, ErrMalformed
	}
	h := sha256.Sum256(raw)
	return h[:], nil
}

const grantCols = `user_id, username, session_id, camera_id, purpose, node, from_at, to_at, audit_seq, transport`

func scanGrant(r pgx.Row, g *Grant, extra ...any) error {
	return r.Scan(append([]any{&g.UserID, &g.Username, &g.SessionID, &g.CameraID, &g.Purpose, &g.Node, &g.From, &g.To,
		&g.AuditSeq, &g.Transport}, extra...)...)
}

// Check says whether a ticket would open cameraID over transport, without
// using it.
func (t *Tickets) Check(ctx context.Context, token, cameraID, transport string) (Grant, error) {
	h, err := ticketHash(token)
	if err != nil {
		return Grant{}, err
	}
	var g Grant
	var used *time.Time
	var expired bool
	err = scanGrant(t.pool.QueryRow(ctx, `select `+grantCols+`, used_at, expires_at <= now()
		from recording_playback_tickets where hash = $1`, h), &g, &used, &expired)
	if errors.Is(err, pgx.ErrNoRows) {
		return Grant{}, ErrUnknownTicket
	}
	if err != nil {
		return Grant{}, fmt.Errorf("playback: check ticket: %w", err)
	}
	g.HashPrefix = hex.EncodeToString(h[:6])
	switch {
	case used != nil:
		return g, ErrTicketUsed
	case expired:
		return g, ErrTicketExpired
	case g.CameraID != cameraID:
		return g, ErrWrongCamera
	case g.Transport != transport:
		return g, ErrWrongTransport
	}
	return g, nil
}

// Redeem uses a ticket for transport once (atomic); by is the player's
// address.
func (t *Tickets) Redeem(ctx context.Context, token, cameraID, transport, by string) (Grant, error) {
	h, err := ticketHash(token)
	if err != nil {
		return Grant{}, err
	}
	var g Grant
	err = scanGrant(t.pool.QueryRow(ctx, `update recording_playback_tickets set used_at = now(), used_by = $3
		where hash = $1 and camera_id = $2 and transport = $4 and used_at is null and expires_at > now()
		returning `+grantCols, h, cameraID, by, transport), &g)
	if errors.Is(err, pgx.ErrNoRows) {
		if _, cerr := t.Check(ctx, token, cameraID, transport); cerr != nil {
			return Grant{}, cerr
		}
		return Grant{}, ErrTicketUsed
	}
	if err != nil {
		return Grant{}, fmt.Errorf("playback: redeem ticket: %w", err)
	}
	g.HashPrefix = hex.EncodeToString(h[:6])
	return g, nil
}

// Sweep deletes tickets expired more than keep ago.
func (t *Tickets) Sweep(ctx context.Context, keep time.Duration) (int64, error) {
	tag, err := t.pool.Exec(ctx, `delete from recording_playback_tickets where expires_at < now() - $1::interval`, keep)
	if err != nil {
		return 0, fmt.Errorf("playback: sweep tickets: %w", err)
	}
	return tag.RowsAffected(), nil
}

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
