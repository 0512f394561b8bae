package stream

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
)

// DefaultTicketTTL is how long a ticket may wait to be redeemed when
// TicketRequest.TTL is zero.
const DefaultTicketTTL = 30 * time.Second

// MaxTicketTTL bounds TicketRequest.TTL: a ticket is for opening a player
// now, not a bookmark.
const MaxTicketTTL = 10 * time.Minute

// tokenBytes is the number of random bytes in a ticket token.
const tokenBytes = 32

// Ticket errors. Every refusal of a ticket at the relay is one of these
// (wrapped); RejectReason maps them to the label used in logs and metrics.
var (
	ErrNoTicket       = errors.New("stream: no ticket")
	ErrMalformed      = errors.New("stream: malformed ticket")
	ErrUnknownTicket  = errors.New("stream: unknown ticket")
	ErrTicketUsed     = errors.New("stream: ticket already used")
	ErrTicketExpired  = errors.New("stream: ticket expired")
	ErrWrongCamera    = errors.New("stream: ticket is for another camera")
	ErrWrongProfile   = errors.New("stream: ticket is for another profile")
	ErrNoNode         = errors.New("stream: no live stream node")
	ErrInvalidRequest = errors.New("stream: invalid ticket request")
	ErrWrongTransport = errors.New("stream: ticket is for another transport")
)

// Transports a ticket is issued for.
const (
	// TransportRTSP: the relay's RTSP server (the default).
	TransportRTSP = "rtsp"
	// TransportWebRTC: the node's WHEP endpoint (stream/whep).
	TransportWebRTC = "webrtc"
)

// TicketRequest asks for a one-time ticket. Control fills it after it has
// authorized the view and committed the live.view.start audit entry.
type TicketRequest struct {
	// UserID is the viewer's account. Required.
	UserID string
	// Username is shown in the end-of-view audit entry. Optional.
	Username string
	// SessionID is the viewer's login session (not its token): ending that
	// session closes the view. Optional but recommended.
	SessionID string
	// CameraID and Profile name the stream. Required.
	CameraID string
	Profile  string
	// Purpose is the purpose-of-viewing code, repeated in the end entry.
	Purpose string
	// AuditSeq is the sequence number of the committed live.view.start
	// entry. Required (> 0): no ticket without its audit record.
	AuditSeq int64
	// TTL is how long the ticket may wait to be redeemed. Default
	// DefaultTicketTTL, at most MaxTicketTTL.
	TTL time.Duration
	// Transport is TransportRTSP (default) or TransportWebRTC: the ticket
	// opens a view only there, and its URL is the node's RTSP URL or its
	// WHEP URL (Node.WebURL).
	Transport string
}

// Ticket is an issued ticket. Token is a secret: it is returned once, inside
// URL, and never logged or stored (only its SHA-256 is).
type Ticket struct {
	Token     string
	URL       string
	Node      Node
	ExpiresAt time.Time
	// ViewID is the id the live view will have when the ticket opens it
	// (LiveSession.ID).
	ViewID string
}

// NodePicker chooses the stream node that serves a camera. *Nodes
// implements it; a single-process setup may use StaticNode.
type NodePicker interface {
	PickNode(ctx context.Context, cameraID string) (Node, error)
}

// StaticNode is a NodePicker that always returns the same node.
type StaticNode Node

// PickNode implements NodePicker.
func (s StaticNode) PickNode(context.Context, string) (Node, error) {
	if s.URL == "" {
		return Node{}, ErrNoNode
	}
	return Node(s), nil
}

// Tickets issues and redeems tickets in PostgreSQL (table stream_tickets),
// so that control on one machine issues and any stream node redeems.
type Tickets struct {
	pool  *pgxpool.Pool
	nodes NodePicker
	now   func() time.Time
}

// NewTickets returns a ticket store over pool. nodes chooses the node whose
// URL the ticket carries; it may be nil for a store that only redeems (the
// relay).
func NewTickets(pool *pgxpool.Pool, nodes NodePicker) *Tickets {
	return &Tickets{pool: pool, nodes: nodes, now: time.Now}
}

// IssueTicket creates a one-time ticket for req and returns the URL the
// viewer's player opens: <node URL>/live/<camera>/<profile>?ticket=<token>.
// The caller must have committed the live.view.start audit entry first and
// pass its sequence number.
func (t *Tickets) IssueTicket(ctx context.Context, req TicketRequest) (Ticket, error) {
	if err := validTicketRequest(&req); err != nil {
		return Ticket{}, err
	}
	if t.nodes == nil {
		return Ticket{}, fmt.Errorf("stream: issue ticket: %w", ErrNoNode)
	}
	node, err := t.nodes.PickNode(ctx, req.CameraID)
	if err != nil {
		return Ticket{}, fmt.Errorf("stream: issue ticket: %w", err)
	}
	var raw [tokenBytes]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return Ticket{}, fmt.Errorf("stream: issue ticket: random: %w", err)
	}
	base := node.URL
	if req.Transport == TransportWebRTC {
		if base = node.WebURL; base == "" {
			return Ticket{}, fmt.Errorf("stream: issue ticket: node %s serves no WebRTC (no HTTPS address): %w", node.ID, ErrNoNode)
		}
	}
	token := base64.RawURLEncoding.EncodeToString(raw[:])
	hash := sha256.Sum256(raw[:])
	viewID := newID()
	var expires time.Time
	err = t.pool.QueryRow(ctx, `
		insert into stream_tickets
		    (hash, user_id, username, session_id, camera_id, profile, purpose, audit_seq, node, expires_at, transport, view_id)
		values ($1, $2, $3, $4, $5, $6, $7, $8, $9, now() + $10::interval, $11, $12)
		returning expires_at`,
		hash[:], req.UserID, req.Username, req.SessionID, req.CameraID, req.Profile, req.Purpose,
		req.AuditSeq, node.ID, req.TTL, req.Transport, viewID).Scan(&expires)
	if err != nil {
		return Ticket{}, fmt.Errorf("stream: issue ticket: %w", err)
	}
	u := LiveURL(base, req.CameraID, req.Profile, token)
	if req.Transport == TransportWebRTC {
		u = WHEPURL(base, req.CameraID, req.Profile, token)
	}
	return Ticket{Token: token, URL: u, Node: node, ExpiresAt: expires, ViewID: viewID}, nil
}

func validTicketRequest(req *TicketRequest) error {
	switch {
	case req.UserID == "":
		return fmt.Errorf("%w: user ID is required", ErrInvalidRequest)
	case !validName(req.CameraID):
		return fmt.Errorf("%w: camera ID %q", ErrInvalidRequest, req.CameraID)
	case !validName(req.Profile):
		return fmt.Errorf("%w: profile %q", ErrInvalidRequest, req.Profile)
	case req.AuditSeq <= 0:
		return fmt.Errorf("%w: the audit entry's sequence number is required", ErrInvalidRequest)
	case req.TTL < 0 || req.TTL > MaxTicketTTL:
		return fmt.Errorf("%w: TTL %v out of range (0..%v)", ErrInvalidRequest, req.TTL, MaxTicketTTL)
	}
	if req.TTL == 0 {
		req.TTL = DefaultTicketTTL
	}
	switch req.Transport {
	case "":
		req.Transport = TransportRTSP
	case TransportRTSP, TransportWebRTC:
	default:
		return fmt.Errorf("%w: transport %q (rtsp or webrtc)", ErrInvalidRequest, req.Transport)
	}
	return nil
}

// LiveURL builds the URL a player opens. Camera IDs and profiles are
// restricted to URL-safe characters (validName), so they need no escaping.
func LiveURL(base, cameraID, profile, token string) string {
	return strings.TrimRight(base, "/") + "/live/" + cameraID + "/" + profile + "?ticket=" + url.QueryEscape(token)
}

// WHEPPrefix is the path of WHEP offers on a node's HTTPS address:
// WHEPPrefix<camera>/<profile>?ticket=<token>.
const WHEPPrefix = "/whep/live/"

// WHEPURL builds the WHEP URL a browser POSTs its offer to.
func WHEPURL(base, cameraID, profile, token string) string {
	return strings.TrimRight(base, "/") + WHEPPrefix + cameraID + "/" + profile + "?ticket=" + url.QueryEscape(token)
}

// validName reports whether s may be a camera ID or profile in a live path:
// 1-128 characters of [A-Za-z0-9._-], not starting with a dot.
func validName(s string) bool {
	if s == "" || len(s) > 128 || s[0] == '.' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// Grant is what a redeemed ticket allows: one view of one camera profile by
// one user.
type Grant struct {
	UserID    string
	Username  string
	SessionID string
	CameraID  string
	Profile   string
	Purpose   string
	AuditSeq  int64
	Node      string
	// Transport is where the ticket opens a view (TransportRTSP or
	// TransportWebRTC); ViewID the id of that view.
	Transport string
	ViewID    string
	// HashPrefix identifies the ticket in logs (12 hex digits of its
	// SHA-256); the token itself is never logged.
	HashPrefix string
}

// ForTransport returns ErrWrongTransport when the ticket was issued for
// another transport than transport: an RTSP ticket opens no WebRTC view and
// the other way round, so the view's end records how it was really served.
func (g Grant) ForTransport(transport string) error {
	if g.Transport != transport {
		return ErrWrongTransport
	}
	return nil
}

// ticketHash decodes a token and returns its SHA-256.
func ticketHash(token string) ([]byte, error) {
	if token == "" {
		return nil, ErrNoTicket
	}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) != tokenBytes {
		return nil, ErrMalformed
	}
	h := sha256.Sum256(raw)
	return h[:], nil
}

// HashPrefix returns the loggable identifier of a token: the first 12 hex
// digits of its SHA-256, or "-" when it is malformed.
func HashPrefix(token string) string {
	h, err := ticketHash(token)
	if err != nil {
		return "-"
	}
	return hex.EncodeToString(h[:6])
}

// Check looks a ticket up without using it and says why it would be
// refused for cameraID/profile, or returns its grant when it is good.
func (t *Tickets) Check(ctx context.Context, token, cameraID, profile string) (Grant, error) {
	h, err := ticketHash(token)
	if err != nil {
		return Grant{}, err
	}
	var g Grant
	var used *time.Time
	var expired bool
	err = t.pool.QueryRow(ctx, `
		select user_id, username, session_id, camera_id, profile, purpose, audit_seq, node, transport, view_id,
		       used_at, expires_at <= now()
		from stream_tickets where hash = $1`, h).
		Scan(&g.UserID, &g.Username, &g.SessionID, &g.CameraID, &g.Profile, &g.Purpose, &g.AuditSeq, &g.Node,
			&g.Transport, &g.ViewID, &used, &expired)
	if errors.Is(err, pgx.ErrNoRows) {
		return Grant{}, ErrUnknownTicket
	}
	if err != nil {
		return Grant{}, fmt.Errorf("stream: check ticket: %w", err)
	}
	g.HashPrefix = hex.EncodeToString(h[:6])
	switch {
	case used != nil:
		return g, ErrTicketUsed
	case expired:
		return g, ErrTicketExpired
	case g.CameraID != cameraID:
		return g, ErrWrongCamera
	case g.Profile != profile:
		return g, ErrWrongProfile
	}
	return g, nil
}

// Redeem uses a ticket for cameraID/profile, once: of any number of
// concurrent calls with the same token at most one succeeds. A ticket for
// another camera or profile is refused and stays unused. by (the viewer's
// address) is recorded.
func (t *Tickets) Redeem(ctx context.Context, token, cameraID, profile, by string) (Grant, error) {
	h, err := ticketHash(token)
	if err != nil {
		return Grant{}, err
	}
	var g Grant
	err = t.pool.QueryRow(ctx, `
		update stream_tickets set used_at = now(), used_by = $4
		where hash = $1 and camera_id = $2 and profile = $3
		  and used_at is null and expires_at > now()
		returning user_id, username, session_id, camera_id, profile, purpose, audit_seq, node, transport, view_id`,
		h, cameraID, profile, by).
		Scan(&g.UserID, &g.Username, &g.SessionID, &g.CameraID, &g.Profile, &g.Purpose, &g.AuditSeq, &g.Node,
			&g.Transport, &g.ViewID)
	if errors.Is(err, pgx.ErrNoRows) {
		// Say why, for the log and the metric.
		if _, cerr := t.Check(ctx, token, cameraID, profile); cerr != nil {
			return Grant{}, cerr
		}
		return Grant{}, ErrTicketUsed // lost a race that Check cannot see any more
	}
	if err != nil {
		return Grant{}, fmt.Errorf("stream: redeem ticket: %w", err)
	}
	g.HashPrefix = hex.EncodeToString(h[:6])
	return g, nil
}

// Sweep deletes tickets that expired more than keep ago and returns how
// many. Their audit entries stay in the audit store.
func (t *Tickets) Sweep(ctx context.Context, keep time.Duration) (int64, error) {
	tag, err := t.pool.Exec(ctx, `delete from stream_tickets where expires_at < now() - $1::interval`, keep)
	if err != nil {
		return 0, fmt.Errorf("stream: sweep tickets: %w", err)
	}
	return tag.RowsAffected(), nil
}

// RejectReason maps a ticket or path error to the short label used in logs
// and in the ticket-rejection metric.
func RejectReason(err error) string {
	switch {
	case errors.Is(err, ErrNoTicket):
		return "no_ticket"
	case errors.Is(err, ErrMalformed):
		return "malformed_ticket"
	case errors.Is(err, ErrUnknownTicket):
		return "unknown_ticket"
	case errors.Is(err, ErrTicketUsed):
		return "replayed"
	case errors.Is(err, ErrTicketExpired):
		return "expired"
	case errors.Is(err, ErrWrongCamera):
		return "wrong_camera"
	case errors.Is(err, ErrWrongProfile):
		return "wrong_profile"
	case errors.Is(err, ErrWrongTransport):
		return "wrong_transport"
	case errors.Is(err, errBadPath):
		return "bad_path"
	default:
		return "error"
	}
}
