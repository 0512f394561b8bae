// Package requests runs the two procedures by which footage is seen or
// leaves the center outside ordinary monitoring:
//
//   - subject requests (정보주체 열람·존재확인·삭제 청구, subject.go): intake
//     with identity verification and, for agents, the power of attorney; a
//     legal hold on the footage named; the 10-day clock with a reminder and
//     an overdue alarm on NATS (clock.go, Service.Run); decisions — viewing
//     notice, postponement, refusal with a reason from the legal list and
//     how to object, "already destroyed" verified against the record store
//     and the recording.destroy entries — and a granted deletion that
//     destroys exactly the segments inside the range, with its 파기 entry;
//   - third-party provision (제3자 제공, provision.go): the request with the
//     recipient, official letter and legal basis; four-eyes approval by a
//     manager of the cameras' department who is not the requester (an
//     emergency approval with the letter to follow stays flagged until it
//     arrives); the export (package privacy/export) with a signed manifest
//     and a one-time download link; holds for the period of use; the case
//     outcome and the recipient's destruction confirmation; the 목적 외 이용
//     및 제3자 제공 대장 and a monthly report (register.go).
//
// Every change is written with its audit entry in one transaction
// (audit.AppendTx) under the ledger's type names, so that the 관리대장
// (audit.Store.Ledger) shows the rows: request.view and request.copy
// (열람), provision.* and export.provide (제공), export.create (이용),
// recording.destroy and export.destroy (파기); the details carry file,
// recipient, basis, form, period and witness.
//
// Authorization: every call takes the caller's accesscontrol.Principal and
// decides through Config.Decider (accesscontrol.Service.Decide):
// request.handle for subject requests, export.request on every camera to
// ask for a provision, export.approve on every camera (so: a manager whose
// grant covers the cameras' department) to approve or reject it. Denials
// are audited and returned wrapped in ErrPermissionDenied.
package requests

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	ac "github.com/gwanje/gwanje/accesscontrol"
	"github.com/gwanje/gwanje/audit"
	"github.com/gwanje/gwanje/privacy/export"
	"github.com/gwanje/gwanje/stream/record"
)

// Errors; control maps them to gRPC codes.
var (
	ErrInvalid          = errors.New("requests: invalid request")
	ErrNotFound         = errors.New("requests: not found")
	ErrConflict         = errors.New("requests: conflict")
	ErrPermissionDenied = errors.New("requests: permission denied")
	// ErrUnavailable: the audit store or the database failed; nothing
	// changed (fail closed).
	ErrUnavailable = errors.New("requests: unavailable")

	// ErrInvalidRefusal: the refusal reason is not one the law allows
	// (wraps ErrInvalid; the error is a *RefusalError).
	ErrInvalidRefusal = fmt.Errorf("%w: not a lawful refusal reason", ErrInvalid)
	// ErrSelfApproval: the approver is the requester (wraps
	// ErrPermissionDenied).
	ErrSelfApproval = fmt.Errorf("%w: the requester cannot approve their own request (four eyes)", ErrPermissionDenied)
	// ErrNotDestroyed: "already destroyed" was claimed but the record
	// store still has footage, or no destruction entry covers the range
	// (wraps ErrConflict).
	ErrNotDestroyed = fmt.Errorf("%w: the footage is not shown destroyed", ErrConflict)
)

// Auditor writes audit entries; *audit.Store implements it.
type Auditor interface {
	AppendTx(ctx context.Context, tx pgx.Tx, e audit.Entry) (audit.Record, error)
	Append(ctx context.Context, e audit.Entry) (audit.Record, error)
}

// AuditQuerier finds the destruction entries; *audit.Store implements it.
type AuditQuerier interface {
	Query(ctx context.Context, f audit.Filter) (audit.Page, error)
}

// Decider decides; *accesscontrol.Service implements it.
type Decider interface {
	Decide(p ac.Principal, perm ac.Permission, r ac.Resource, now time.Time) ac.Decision
}

// CameraInfo is what a decision needs to know of a camera.
type CameraInfo struct {
	ID   string
	Name string // the camera's name, as people know it
	// Place is where it stands: its site's name and address.
	Place      string
	Site       string
	Department string
	Labels     []string
}

// Cameras gives camera facts from the device registry (gwanjed adapts
// devices.Registry).
type Cameras interface {
	// Camera returns a camera's facts; an error wrapping ErrNotFound for
	// an unknown camera.
	Camera(ctx context.Context, id string) (CameraInfo, error)
	// SiteCameras lists the cameras of a site (개소).
	SiteCameras(ctx context.Context, site string) ([]string, error)
}

// Publisher sends alarms (events.Notices implements it).
type Publisher interface {
	Publish(subject string, data []byte) error
}

// Config configures a Service. Zero values take the defaults documented on
// each field.
type Config struct {
	// Pool is the database (privacy and recording schemas). Required.
	Pool *pgxpool.Pool
	// Auditor and AuditQuery: the audit store. Required.
	Auditor    Auditor
	AuditQuery AuditQuerier
	// Decider: accesscontrol. Required.
	Decider Decider
	// Cameras: the registry. Required.
	Cameras Cameras
	// Store is this node's record store: footage checks, deletions.
	// Required.
	Store *record.Store
	// Exporter makes export files; Links issues download links. Required
	// for exports.
	Exporter *export.Exporter
	Links    *export.Links
	// Publisher receives the clock's reminders and overdue alarms.
	// Optional (nil: they are only logged).
	Publisher Publisher
	// Deadline of a subject request from receipt. Default 10 days.
	Deadline time.Duration
	// RemindBefore: the reminder goes this long before the deadline.
	// Default 2 days.
	RemindBefore time.Duration
	// CheckInterval of the clock in Run. Default 1m.
	CheckInterval time.Duration
	// LinkTTL is the download links' lifetime. Default: the Links' default.
	LinkTTL time.Duration
	// Location formats dates in the ledger details. Default record.KST.
	Location *time.Location
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger. Default slog.Default().
	Logger *slog.Logger
}

// Service handles subject requests and provisions.
type Service struct {
	cfg       Config
	pool      *pgxpool.Pool
	log       *slog.Logger
	stop      chan struct{}
	closeOnce sync.Once
}

// New checks cfg.
func New(cfg Config) (*Service, error) {
	if cfg.Pool == nil || cfg.Auditor == nil || cfg.AuditQuery == nil || cfg.Decider == nil || cfg.Cameras == nil || cfg.Store == nil {
		return nil, fmt.Errorf("%w: Config.Pool, Auditor, AuditQuery, Decider, Cameras and Store are required", ErrInvalid)
	}
	if cfg.Deadline <= 0 {
		cfg.Deadline = 10 * 24 * time.Hour
	}
	if cfg.RemindBefore <= 0 {
		cfg.RemindBefore = 2 * 24 * time.Hour
	}
	if cfg.CheckInterval <= 0 {
		cfg.CheckInterval = time.Minute
	}
	if cfg.Location == nil {
		cfg.Location = record.KST
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Service{cfg: cfg, pool: cfg.Pool, log: cfg.Logger.With("component", "privacy-requests"), stop: make(chan struct{})}, nil
}

// Close stops Run. Safe to call more than once.
func (s *Service) Close() { s.closeOnce.Do(func() { close(s.stop) }) }

func newID(prefix string) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

func actor(p ac.Principal) audit.Actor {
	return audit.Actor{UserID: p.UserID, Username: p.Username, Role: strings.Join(p.Roles, ","), Org: p.OrgID}
}

func (s *Service) fmtTime(t time.Time) string {
	return t.In(s.cfg.Location).Format("2006-01-02 15:04:05")
}

// tx runs fn in a transaction; audit failures come back wrapping
// ErrUnavailable.
func (s *Service) tx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	err := pgx.BeginFunc(ctx, s.pool, fn)
	if err != nil && errors.Is(err, audit.ErrUnavailable) && !errors.Is(err, ErrUnavailable) {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}

// denied audits a refusal (best effort: the caller is refused either way)
// and returns err.
func (s *Service) denied(ctx context.Context, p ac.Principal, typ string, cams []string, reason string, err error) error {
	if _, aerr := s.cfg.Auditor.Append(ctx, audit.Entry{Type: typ, Outcome: audit.Denied, Actor: actor(p),
		ClientAddr: p.ClientAddr, SessionID: p.SessionID, Cameras: cams, Reason: reason}); aerr != nil {
		s.log.Warn("requests: denial not audited", "type", typ, "err", aerr)
	}
	return err
}

// requireGlobal checks a global permission (request.handle).
func (s *Service) requireGlobal(ctx context.Context, p ac.Principal, perm ac.Permission, typ string) error {
	d := s.cfg.Decider.Decide(p, perm, ac.Resource{}, s.cfg.Now())
	if !d.Allowed {
		return s.denied(ctx, p, typ, nil, fmt.Sprintf("%s: %s", perm, d.Reason),
			fmt.Errorf("%w: %s needs %s (%s)", ErrPermissionDenied, p.Username, perm, d.Reason))
	}
	return nil
}

// requireCameras checks a camera permission on every camera, with the
// purpose and the oldest footage time.
func (s *Service) requireCameras(ctx context.Context, p ac.Principal, perm ac.Permission, cams []string, purpose ac.Purpose, from time.Time, typ string) error {
	return s.requireCamerasAny(ctx, p, []ac.Permission{perm}, cams, purpose, from, typ)
}

// requireCamerasAny is requireCameras where any one of perms suffices on
// each camera. Only a real denial (none of them) is recorded.
func (s *Service) requireCamerasAny(ctx context.Context, p ac.Principal, perms []ac.Permission, cams []string, purpose ac.Purpose, from time.Time, typ string) error {
	now := s.cfg.Now()
	for _, id := range cams {
		ci, err := s.cfg.Cameras.Camera(ctx, id)
		if err != nil {
			return fmt.Errorf("%w: camera %s: %v", ErrNotFound, id, err)
		}
		res := ac.Resource{CameraID: id, Site: ci.Site, Department: ci.Department, Labels: ci.Labels, Purpose: purpose, FootageFrom: from}
		var names, reasons, entry []string
		for _, perm := range perms {
			d := s.cfg.Decider.Decide(p, perm, res, now)
			if d.Allowed {
				names = nil
				break
			}
			names, reasons = append(names, string(perm)), append(reasons, string(d.Reason))
			entry = append(entry, fmt.Sprintf("%s on camera %s: %s", perm, id, d.Reason))
		}
		if names != nil {
			return s.denied(ctx, p, typ, cams, strings.Join(entry, "; "),
				fmt.Errorf("%w: %s needs %s on camera %s (%s)", ErrPermissionDenied, p.Username, strings.Join(names, " or "), id, strings.Join(reasons, "; ")))
		}
	}
	return nil
}

// cleanCameras trims, deduplicates and checks camera IDs against the
// registry.
func (s *Service) cleanCameras(ctx context.Context, cams []string, site string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	add := func(c string) {
		c = strings.TrimSpace(c)
		if c != "" && !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	for _, c := range cams {
		add(c)
	}
	if site = strings.TrimSpace(site); site != "" {
		sc, err := s.cfg.Cameras.SiteCameras(ctx, site)
		if err != nil {
			return nil, fmt.Errorf("%w: site %s: %v", ErrNotFound, site, err)
		}
		for _, c := range sc {
			add(c)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: name the cameras or the site of the footage", ErrInvalid)
	}
	for _, c := range out {
		if _, err := s.cfg.Cameras.Camera(ctx, c); err != nil {
			return nil, fmt.Errorf("%w: camera %s: %v", ErrNotFound, c, err)
		}
	}
	return out, nil
}
