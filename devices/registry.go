package devices

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gwanje/gwanje/audit"
)

// Auditor writes an audit entry inside the caller's transaction, so that a
// registry change and its audit record commit or roll back together. The
// audit store (*audit.Store) implements it.
type Auditor interface {
	AppendTx(ctx context.Context, tx pgx.Tx, e audit.Entry) (audit.Record, error)
}

// Actor is who asks for a change, with what the audit record needs.
type Actor struct {
	audit.Actor
	ClientAddr string
	SessionID  string
	RequestID  string
	// Reason is why the change is made (recorded in the audit entry).
	Reason string
}

// Defaults of Config.
const (
	DefaultCallTimeout     = 5 * time.Second
	DefaultRegisterTimeout = 30 * time.Second
	DefaultRTSPTimeout     = 5 * time.Second
	DefaultDriftWarning    = 5 * time.Second
	DefaultListLimit       = 100
	MaxListLimit           = 1000
)

// Config configures a Registry. Zero values take the documented defaults.
type Config struct {
	// Pool is the PostgreSQL pool (migrated with pgdb). Required.
	Pool *pgxpool.Pool
	// Auditor records every change in the change's transaction. Required:
	// without it nothing can be changed (fail closed).
	Auditor Auditor
	// KeyFile is the AES-256 key sealing camera credentials (32 raw bytes or
	// 64 hex digits). When empty, DataDir/devices-credentials.key is used and
	// created (mode 0600) on first use. One of KeyFile and DataDir is required.
	KeyFile string
	// DataDir is the server's data directory.
	DataDir string
	// PreviousKeyFiles are keys used before a rotation: credentials sealed
	// under them can still be opened, and ResealCredentials moves them to
	// the current key. Default none.
	PreviousKeyFiles []string
	// CallTimeout bounds each ONVIF call during registration; default 5s.
	CallTimeout time.Duration
	// RegisterTimeout bounds a whole registration probe; default 30s.
	RegisterTimeout time.Duration
	// RTSPTimeout bounds the RTSP DESCRIBE check; default 5s.
	RTSPTimeout time.Duration
	// MaxResponseBytes limits ONVIF responses; default the onvif default (1 MiB).
	MaxResponseBytes int64
	// DriftWarning is the clock offset above which registration reports a
	// warning (registration still succeeds); default 5s.
	DriftWarning time.Duration
	// DiscoveryRate is probes per second for Discover; default the onvif default.
	DiscoveryRate int
	// DiscoveryWait is how long Discover listens after the last probe; default the onvif default (2s).
	DiscoveryWait time.Duration
	// DiscoveryMaxHosts bounds the addresses of one Discover; default the onvif default (1024).
	DiscoveryMaxHosts int
	// Logger; default slog.Default(). Credentials are never logged.
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Registry is the camera registry. It is safe for concurrent use.
type Registry struct {
	cfg    Config
	db     *pgxpool.Pool
	log    *slog.Logger
	sealer *sealer

	mu     sync.Mutex
	closed bool
}

// New validates cfg and loads (or creates) the credential key.
func New(cfg Config) (*Registry, error) {
	if cfg.Pool == nil {
		return nil, errors.New("devices: Config.Pool is required")
	}
	if cfg.Auditor == nil {
		return nil, errors.New("devices: Config.Auditor is required")
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = DefaultCallTimeout
	}
	if cfg.RegisterTimeout <= 0 {
		cfg.RegisterTimeout = DefaultRegisterTimeout
	}
	if cfg.RTSPTimeout <= 0 {
		cfg.RTSPTimeout = DefaultRTSPTimeout
	}
	if cfg.DriftWarning <= 0 {
		cfg.DriftWarning = DefaultDriftWarning
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	var key []byte
	var err error
	switch {
	case cfg.KeyFile != "":
		key, err = loadKey(cfg.KeyFile, false)
	case cfg.DataDir != "":
		key, err = loadKey(filepath.Join(cfg.DataDir, KeyFileName), true)
	default:
		return nil, errors.New("devices: Config.KeyFile or Config.DataDir is required (camera credentials are encrypted at rest)")
	}
	if err != nil {
		return nil, fmt.Errorf("devices: credential key: %w", err)
	}
	s, err := newSealer(key)
	if err != nil {
		return nil, fmt.Errorf("devices: credential key: %w", err)
	}
	for _, p := range cfg.PreviousKeyFiles {
		k, err := loadKey(p, false)
		if err == nil {
			err = s.addPrevious(k)
		}
		if err != nil {
			return nil, fmt.Errorf("devices: previous credential key: %w", err)
		}
	}
	return &Registry{cfg: cfg, db: cfg.Pool, log: cfg.Logger.With("component", "devices"), sealer: s}, nil
}

// Close marks the registry closed. It does not close the pool. Safe to call twice.
func (r *Registry) Close() {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
}

func (r *Registry) checkOpen() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return errors.New("devices: registry closed")
	}
	return nil
}

// KeyID names the credential key in use (a hash prefix, not the key).
func (r *Registry) KeyID() string { return r.sealer.keyID }

func newID() string {
	var u [16]byte
	if _, err := rand.Read(u[:]); err != nil {
		panic(err)
	}
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// validID reports whether s looks like a UUID (so that a bad id is
// ErrNotFound, not a database error).
func validID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// inTx runs fn in a transaction, committing when it returns nil.
func (r *Registry) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	if err := r.checkOpen(); err != nil {
		return err
	}
	tx, err := r.db.Begin(ctx)
	if err != nil {
		return fmt.Errorf("devices: begin: %w", err)
	}
	defer tx.Rollback(context.Background())
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("devices: commit: %w", mapDBError(err))
	}
	return nil
}

func (r *Registry) audit(ctx context.Context, tx pgx.Tx, a Actor, typ string, cameras []string, details map[string]any) error {
	e := audit.Entry{
		Type: typ, Outcome: audit.Success, Actor: a.Actor, ClientAddr: a.ClientAddr, SessionID: a.SessionID,
		RequestID: a.RequestID, Reason: a.Reason, Cameras: cameras, Details: details,
	}
	if _, err := r.cfg.Auditor.AppendTx(ctx, tx, e); err != nil {
		return fmt.Errorf("devices: audit %s: %w", typ, err)
	}
	return nil
}

// mapDBError turns constraint violations into ErrAlreadyExists / ErrNotFound
// / ErrInvalid.
func mapDBError(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505":
			what := "a unique value"
			switch {
			case strings.Contains(pe.ConstraintName, "device_url"):
				what = "the device URL"
			case strings.Contains(pe.ConstraintName, "endpoint_ref"):
				what = "the endpoint reference"
			case strings.Contains(pe.ConstraintName, "management_no"):
				what = "the management number"
			}
			return fmt.Errorf("%w: %s is already registered", ErrAlreadyExists, what)
		case "23503":
			return fmt.Errorf("%w: no such site", ErrNotFound)
		case "23514", "22P02", "22001", "22003":
			return fmt.Errorf("%w: %s", ErrInvalid, pe.Message)
		}
	}
	return err
}

func nullStr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func strOf(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func posArgs(p *Position) (lat, lon *float64) {
	if p == nil {
		return nil, nil
	}
	return &p.Lat, &p.Lon
}

func posOf(lat, lon *float64) *Position {
	if lat == nil || lon == nil {
		return nil
	}
	return &Position{*lat, *lon}
}

// ---- sites ----

const siteCols = `id::text, name, management_no, org, org_phone, department, road_address, lot_address, latitude, longitude,
	contractor_id, contractor_name, contractor_contact, contractor_phone, created_at, updated_at`

func scanSite(row pgx.Row) (Site, error) {
	var s Site
	var mno *string
	var lat, lon *float64
	err := row.Scan(&s.ID, &s.Name, &mno, &s.Org, &s.OrgPhone, &s.Department, &s.RoadAddress, &s.LotAddress, &lat, &lon,
		&s.Contractor.ID, &s.Contractor.Name, &s.Contractor.Contact, &s.Contractor.Phone, &s.CreatedAt, &s.UpdatedAt)
	s.ManagementNo = strOf(mno)
	s.Position = posOf(lat, lon)
	return s, err
}

// CreateSite adds a site; audited as site.create.
func (r *Registry) CreateSite(ctx context.Context, f SiteFields, a Actor) (Site, error) {
	if err := f.normalize(); err != nil {
		return Site{}, err
	}
	id := newID()
	var out Site
	err := r.inTx(ctx, func(tx pgx.Tx) error {
		lat, lon := posArgs(f.Position)
		row := tx.QueryRow(ctx, `insert into devices_sites (id, name, management_no, org, org_phone, department, road_address,
			lot_address, latitude, longitude, contractor_id, contractor_name, contractor_contact, contractor_phone)
			values ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14) returning `+siteCols,
			id, f.Name, nullStr(f.ManagementNo), f.Org, f.OrgPhone, f.Department, f.RoadAddress, f.LotAddress, lat, lon,
			f.Contractor.ID, f.Contractor.Name, f.Contractor.Contact, f.Contractor.Phone)
		var err error
		if out, err = scanSite(row); err != nil {
			return fmt.Errorf("devices: create site: %w", mapDBError(err))
		}
		return r.audit(ctx, tx, a, "site.create", nil, map[string]any{"site_id": id, "name": f.Name,
			"department": f.Department, "contractor": f.Contractor.Name})
	})
	if err != nil {
		return Site{}, err
	}
	return out, nil
}

// UpdateSite replaces a site's fields; audited as site.update.
func (r *Registry) UpdateSite(ctx context.Context, id string, f SiteFields, a Actor) (Site, error) {
	if !validID(id) {
		return Site{}, fmt.Errorf("%w: site %q", ErrNotFound, id)
	}
	if err := f.normalize(); err != nil {
		return Site{}, err
	}
	var out Site
	err := r.inTx(ctx, func(tx pgx.Tx) error {
		lat, lon := posArgs(f.Position)
		row := tx.QueryRow(ctx, `update devices_sites set name=$2, management_no=$3, org=$4, org_phone=$5, department=$6,
			road_address=$7, lot_address=$8, latitude=$9, longitude=$10, contractor_id=$11, contractor_name=$12,
			contractor_contact=$13, contractor_phone=$14, updated_at=now() where id=$1 returning `+siteCols,
			id, f.Name, nullStr(f.ManagementNo), f.Org, f.OrgPhone, f.Department, f.RoadAddress, f.LotAddress, lat, lon,
			f.Contractor.ID, f.Contractor.Name, f.Contractor.Contact, f.Contractor.Phone)
		var err error
		if out, err = scanSite(row); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return fmt.Errorf("%w: site %s", ErrNotFound, id)
			}
			return fmt.Errorf("devices: update site: %w", mapDBError(err))
		}
		return r.audit(ctx, tx, a, "site.update", nil, map[string]any{"site_id": id, "name": f.Name})
	})
	if err != nil {
		return Site{}, err
	}
	return out, nil
}

// GetSite returns a site.
func (r *Registry) GetSite(ctx context.Context, id string) (Site, error) {
	if !validID(id) {
		return Site{}, fmt.Errorf("%w: site %q", ErrNotFound, id)
	}
	s, err := scanSite(r.db.QueryRow(ctx, `select `+siteCols+` from devices_sites where id=$1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Site{}, fmt.Errorf("%w: site %s", ErrNotFound, id)
	}
	if err != nil {
		return Site{}, fmt.Errorf("devices: get site: %w", err)
	}
	return s, nil
}

// ListSites returns every site ordered by name.
func (r *Registry) ListSites(ctx context.Context) ([]Site, error) {
	rows, err := r.db.Query(ctx, `select `+siteCols+` from devices_sites order by name, id`)
	if err != nil {
		return nil, fmt.Errorf("devices: list sites: %w", err)
	}
	defer rows.Close()
	var out []Site
	for rows.Next() {
		s, err := scanSite(rows)
		if err != nil {
			return nil, fmt.Errorf("devices: list sites: %w", err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// ---- cameras ----

const cameraCols = `c.id::text, c.site_id::text, c.name, c.management_no, c.purpose, c.national_purpose, c.legal_basis,
	c.road_address, c.lot_address, c.latitude, c.longitude, c.coverage, c.resolution, c.direction, c.install_ym, c.schedule,
	c.retention_days, c.retention_reason, c.storage_place, c.monitoring_method, c.monitoring_place, c.org, c.department,
	c.manager, c.manager_phone, c.access_persons, c.signage, c.labels, c.lifecycle, c.decommissioned_at,
	c.decommission_reason, c.device_url, c.endpoint_ref, c.manufacturer, c.model, c.firmware, c.serial, c.hardware_id,
	c.profiles, c.profile_token, c.stream_uri, c.snapshot_uri, c.ptz, c.clock_offset_ms, c.registered_at,
	c.cred_sealed is not null, c.pending_reasons, c.created_at, c.updated_at, c.seq`

// cameraScan holds the nullable columns of a camera row while scanning.
type cameraScan struct {
	mno, durl, eref *string
	lat, lon        *float64
	retention       *int32
	basis           int16
	profiles        []byte
	offsetMS        *int64
	registered      *time.Time
}

// cameraDest returns scan destinations for cameraCols and a function that
// completes c after the scan.
func cameraDest(c *Camera, seq *int64) ([]any, func() error) {
	s := &cameraScan{}
	f := &c.CameraFields
	return []any{&c.ID, &f.SiteID, &f.Name, &s.mno, &f.Purpose, &c.NationalPurpose, &s.basis,
		&f.RoadAddress, &f.LotAddress, &s.lat, &s.lon, &f.Coverage, &f.Resolution, &f.Direction, &f.InstallYM, &f.Schedule,
		&s.retention, &f.RetentionReason, &f.StoragePlace, &f.MonitoringMethod, &f.MonitoringPlace, &f.Org, &f.Department,
		&f.Manager, &f.ManagerPhone, &f.AccessPersons, &f.Signage, &f.Labels, &f.Lifecycle, &c.DecommissionedAt,
		&c.DecommissionReason, &s.durl, &s.eref, &c.Device.Manufacturer, &c.Device.Model, &c.Device.Firmware, &c.Device.Serial,
		&c.Device.HardwareID, &s.profiles, &c.Device.ProfileToken, &c.Device.StreamURI, &c.Device.SnapshotURI, &c.Device.PTZ,
		&s.offsetMS, &s.registered, &c.HasCredentials, &c.PendingReasons, &c.CreatedAt, &c.UpdatedAt, seq}, func() error { return s.finish(c) }
}

func (s *cameraScan) finish(c *Camera) error {
	f := &c.CameraFields
	f.ManagementNo = strOf(s.mno)
	f.LegalBasis = LegalBasis(s.basis)
	f.Position = posOf(s.lat, s.lon)
	if s.retention == nil {
		f.NotStored = true
	} else {
		f.RetentionDays = int(*s.retention)
	}
	c.Device.DeviceURL = strOf(s.durl)
	c.Device.EndpointReference = strOf(s.eref)
	if len(s.profiles) > 0 {
		if err := json.Unmarshal(s.profiles, &c.Device.Profiles); err != nil {
			return fmt.Errorf("profiles of camera %s: %w", c.ID, err)
		}
	}
	if s.offsetMS != nil {
		c.Device.ClockOffset = time.Duration(*s.offsetMS) * time.Millisecond
		c.Device.ClockKnown = true
	}
	if s.registered != nil {
		c.Device.RegisteredAt = *s.registered
	}
	return nil
}

func scanCamera(row pgx.Row) (Camera, int64, error) {
	var c Camera
	var seq int64
	dest, finish := cameraDest(&c, &seq)
	if err := row.Scan(dest...); err != nil {
		return Camera{}, 0, err
	}
	if err := finish(); err != nil {
		return Camera{}, 0, err
	}
	return c, seq, nil
}

func retentionArg(f *CameraFields) *int {
	if f.NotStored {
		return nil
	}
	d := f.RetentionDays
	return &d
}

// inheritSite copies the site's address, position, org and department into
// empty camera fields.
func inheritSite(f *CameraFields, s Site) {
	if f.RoadAddress == "" {
		f.RoadAddress = s.RoadAddress
	}
	if f.LotAddress == "" {
		f.LotAddress = s.LotAddress
	}
	if f.Position == nil && s.Position != nil {
		p := *s.Position
		f.Position = &p
	}
	if f.Org == "" {
		f.Org = s.Org
	}
	if f.Department == "" {
		f.Department = s.Department
	}
}

func (r *Registry) siteForUpdate(ctx context.Context, tx pgx.Tx, id string) (Site, error) {
	if !validID(id) {
		return Site{}, fmt.Errorf("%w: site %q", ErrNotFound, id)
	}
	s, err := scanSite(tx.QueryRow(ctx, `select `+siteCols+` from devices_sites where id=$1 for share`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Site{}, fmt.Errorf("%w: site %s", ErrNotFound, id)
	}
	if err != nil {
		return Site{}, fmt.Errorf("devices: site: %w", err)
	}
	return s, nil
}

// insertCamera stores a new camera row; f must be normalized. URIs of d
// that carry credentials are sealed and stored redacted; pending lists why
// registration could not check everything (see RegisterResult.Pending).
func (r *Registry) insertCamera(ctx context.Context, tx pgx.Tx, id string, f *CameraFields, national string,
	d *DeviceFacts, creds *Credentials, pending []string) error {
	lat, lon := posArgs(f.Position)
	var uriKeyID *string
	var uriSealed []byte
	if d != nil {
		clear, sec := splitSecretURIs(*d)
		d = &clear
		if sec != nil {
			var err error
			if uriSealed, err = r.sealer.sealURIs(id, sec); err != nil {
				return fmt.Errorf("devices: seal stream URIs: %w", err)
			}
			k := r.sealer.keyID
			uriKeyID = &k
		}
	}
	if pending == nil {
		pending = []string{}
	}
	var keyID *string
	var sealed []byte
	if creds != nil {
		var err error
		if sealed, err = r.sealer.seal(id, *creds); err != nil {
			return fmt.Errorf("devices: seal credentials: %w", err)
		}
		k := r.sealer.keyID
		keyID = &k
	}
	var durl, eref *string
	var profiles []byte = []byte("[]")
	var manufacturer, model, firmware, serial, hw, ptoken, stream, snap string
	var ptz bool
	var offset *int64
	var registered *time.Time
	if d != nil {
		durl, eref = nullStr(d.DeviceURL), nullStr(d.EndpointReference)
		if d.Profiles != nil {
			var err error
			if profiles, err = json.Marshal(d.Profiles); err != nil {
				return err
			}
		}
		manufacturer, model, firmware, serial, hw = d.Manufacturer, d.Model, d.Firmware, d.Serial, d.HardwareID
		ptoken, stream, snap, ptz = d.ProfileToken, d.StreamURI, d.SnapshotURI, d.PTZ
		if d.ClockKnown {
			ms := d.ClockOffset.Milliseconds()
			offset = &ms
		}
		t := d.RegisteredAt
		registered = &t
	}
	_, err := tx.Exec(ctx, `insert into devices_cameras (id, site_id, name, management_no, purpose, national_purpose,
		legal_basis, road_address, lot_address, latitude, longitude, coverage, resolution, direction, install_ym, schedule,
		retention_days, retention_reason, storage_place, monitoring_method, monitoring_place, org, department, manager,
		manager_phone, access_persons, signage, labels, lifecycle, device_url, endpoint_ref, manufacturer, model, firmware,
		serial, hardware_id, profiles, profile_token, stream_uri, snapshot_uri, ptz, clock_offset_ms, registered_at,
		cred_key_id, cred_sealed, uri_key_id, uri_sealed, pending_reasons)
		values ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,$23,$24,$25,$26,$27,$28,$29,
		$30,$31,$32,$33,$34,$35,$36,$37,$38,$39,$40,$41,$42,$43,$44,$45,$46,$47,$48)`,
		id, f.SiteID, f.Name, nullStr(f.ManagementNo), f.Purpose, national, int16(f.LegalBasis), f.RoadAddress, f.LotAddress,
		lat, lon, f.Coverage, f.Resolution, f.Direction, f.InstallYM, f.Schedule, retentionArg(f), f.RetentionReason,
		f.StoragePlace, f.MonitoringMethod, f.MonitoringPlace, f.Org, f.Department, f.Manager, f.ManagerPhone,
		f.AccessPersons, string(f.Signage), f.Labels, string(f.Lifecycle), durl, eref, manufacturer, model, firmware,
		serial, hw, profiles, ptoken, stream, snap, ptz, offset, registered, keyID, sealed, uriKeyID, uriSealed, pending)
	if err != nil {
		return fmt.Errorf("devices: insert camera: %w", mapDBError(err))
	}
	return nil
}

// CreateCamera adds a camera without contacting it (a planned camera, or
// one recorded before it can be reached); Register is the usual way.
// Audited as device.create.
func (r *Registry) CreateCamera(ctx context.Context, f CameraFields, a Actor) (Camera, error) {
	if f.Lifecycle == "" {
		f.Lifecycle = Planned
	}
	if f.Lifecycle == Decommissioned {
		return Camera{}, fmt.Errorf("%w: a new camera cannot be decommissioned", ErrInvalid)
	}
	id := newID()
	err := r.inTx(ctx, func(tx pgx.Tx) error {
		site, err := r.siteForUpdate(ctx, tx, strings.TrimSpace(f.SiteID))
		if err != nil {
			return err
		}
		inheritSite(&f, site)
		national, err := f.normalize()
		if err != nil {
			return err
		}
		if err := r.insertCamera(ctx, tx, id, &f, national, nil, nil, nil); err != nil {
			return err
		}
		return r.audit(ctx, tx, a, "device.create", []string{id}, map[string]any{"site_id": f.SiteID, "name": f.Name,
			"purpose": f.Purpose, "lifecycle": string(f.Lifecycle)})
	})
	if err != nil {
		return Camera{}, err
	}
	return r.Get(ctx, id)
}

// Get returns a camera (never its credentials).
func (r *Registry) Get(ctx context.Context, id string) (Camera, error) {
	if !validID(id) {
		return Camera{}, fmt.Errorf("%w: camera %q", ErrNotFound, id)
	}
	c, _, err := scanCamera(r.db.QueryRow(ctx, `select `+cameraCols+` from devices_cameras c where c.id=$1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Camera{}, fmt.Errorf("%w: camera %s", ErrNotFound, id)
	}
	if err != nil {
		return Camera{}, fmt.Errorf("devices: get camera: %w", err)
	}
	return c, nil
}

// UpdateRequest changes registry fields of a camera.
type UpdateRequest struct {
	ID string
	// Fields holds the new values of the fields named in Mask.
	Fields CameraFields
	// Mask names the fields to change (see CameraFieldNames). Empty: every
	// field (a full replacement).
	Mask []string
}

// Update changes registry fields; the result is validated as a whole.
// Decommissioned cameras cannot be changed (ErrConflict), and the lifecycle
// cannot be set to decommissioned here: use Decommission. Audited as
// device.update with the changed field names.
func (r *Registry) Update(ctx context.Context, req UpdateRequest, a Actor) (Camera, error) {
	if !validID(req.ID) {
		return Camera{}, fmt.Errorf("%w: camera %q", ErrNotFound, req.ID)
	}
	mask := req.Mask
	if len(mask) == 0 {
		mask = CameraFieldNames
	}
	err := r.inTx(ctx, func(tx pgx.Tx) error {
		if err := r.updateTx(ctx, tx, req.ID, &req.Fields, mask); err != nil {
			return err
		}
		return r.audit(ctx, tx, a, "device.update", []string{req.ID}, map[string]any{"fields": mask})
	})
	if err != nil {
		return Camera{}, err
	}
	return r.Get(ctx, req.ID)
}

// updateTx applies the fields of src named in mask to camera id in tx and
// validates the result; the caller audits.
func (r *Registry) updateTx(ctx context.Context, tx pgx.Tx, id string, src *CameraFields, mask []string) error {
	cur, _, err := scanCamera(tx.QueryRow(ctx, `select `+cameraCols+` from devices_cameras c where c.id=$1 for update`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%w: camera %s", ErrNotFound, id)
	}
	if err != nil {
		return fmt.Errorf("devices: update: %w", err)
	}
	if cur.Lifecycle == Decommissioned {
		return fmt.Errorf("%w: camera %s is decommissioned", ErrConflict, id)
	}
	f := cur.CameraFields
	for _, name := range mask {
		if err := applyField(&f, src, name); err != nil {
			return err
		}
	}
	if f.Lifecycle == Decommissioned {
		return fmt.Errorf("%w: use Decommission to decommission a camera", ErrInvalid)
	}
	if f.SiteID != cur.SiteID {
		if _, err := r.siteForUpdate(ctx, tx, f.SiteID); err != nil {
			return err
		}
	}
	national, err := f.normalize()
	if err != nil {
		return err
	}
	lat, lon := posArgs(f.Position)
	_, err = tx.Exec(ctx, `update devices_cameras set site_id=$2, name=$3, management_no=$4, purpose=$5,
		national_purpose=$6, legal_basis=$7, road_address=$8, lot_address=$9, latitude=$10, longitude=$11, coverage=$12,
		resolution=$13, direction=$14, install_ym=$15, schedule=$16, retention_days=$17, retention_reason=$18,
		storage_place=$19, monitoring_method=$20, monitoring_place=$21, org=$22, department=$23, manager=$24,
		manager_phone=$25, access_persons=$26, signage=$27, labels=$28, lifecycle=$29, updated_at=now() where id=$1`,
		id, f.SiteID, f.Name, nullStr(f.ManagementNo), f.Purpose, national, int16(f.LegalBasis), f.RoadAddress,
		f.LotAddress, lat, lon, f.Coverage, f.Resolution, f.Direction, f.InstallYM, f.Schedule, retentionArg(&f),
		f.RetentionReason, f.StoragePlace, f.MonitoringMethod, f.MonitoringPlace, f.Org, f.Department, f.Manager,
		f.ManagerPhone, f.AccessPersons, string(f.Signage), f.Labels, string(f.Lifecycle))
	if err != nil {
		return fmt.Errorf("devices: update: %w", mapDBError(err))
	}
	return nil
}

// MaxBatchUpdate bounds the cameras of one BatchUpdate.
const MaxBatchUpdate = 20000

// BatchUpdateRequest changes the same registry fields of many cameras.
type BatchUpdateRequest struct {
	// IDs are the cameras, in the order reported.
	IDs []string
	// Fields holds the new values of the fields named in Mask.
	Fields CameraFields
	// Mask names the fields to change (see CameraFieldNames); required.
	Mask []string
	// ValidateOnly checks every camera and changes nothing.
	ValidateOnly bool
}

// BatchUpdate changes the fields named in req.Mask of every camera in
// req.IDs, all or none: each result is validated as Update validates it,
// and the first camera that cannot take the change (decommissioned,
// invalid, unknown) refuses the batch with its id in the error. Audited as
// one device.update.batch entry listing the cameras. It returns the number
// of cameras changed (or that would be, with ValidateOnly).
func (r *Registry) BatchUpdate(ctx context.Context, req BatchUpdateRequest, a Actor) (int, error) {
	if len(req.Mask) == 0 {
		return 0, fmt.Errorf("%w: name the fields to change", ErrInvalid)
	}
	var ids []string
	seen := map[string]bool{}
	for _, id := range req.IDs {
		if !validID(id) {
			return 0, fmt.Errorf("%w: camera %q", ErrNotFound, id)
		}
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return 0, fmt.Errorf("%w: no cameras selected", ErrInvalid)
	}
	if len(ids) > MaxBatchUpdate {
		return 0, fmt.Errorf("%w: %d cameras in one batch, at most %d", ErrInvalid, len(ids), MaxBatchUpdate)
	}
	if err := checkText("reason", strings.TrimSpace(a.Reason), true); err != nil {
		return 0, err
	}
	err := r.inTx(ctx, func(tx pgx.Tx) error {
		for _, id := range ids {
			f := req.Fields
			if err := r.updateTx(ctx, tx, id, &f, req.Mask); err != nil {
				return fmt.Errorf("camera %s: %w", id, err)
			}
		}
		if req.ValidateOnly {
			return errDryRun
		}
		return r.audit(ctx, tx, a, "device.update.batch", ids, map[string]any{"fields": req.Mask, "count": len(ids)})
	})
	if err != nil && !errors.Is(err, errDryRun) {
		return 0, err
	}
	return len(ids), nil
}

// SelectIDs returns the ids of every camera matching f (ignoring its
// paging), at most max+1 so that the caller can tell it was too many.
func (r *Registry) SelectIDs(ctx context.Context, f Filter, max int) ([]string, error) {
	var ids []string
	f.Limit, f.Cursor = MaxListLimit, ""
	for {
		p, err := r.List(ctx, f)
		if err != nil {
			return nil, err
		}
		for _, c := range p.Cameras {
			ids = append(ids, c.ID)
		}
		if p.NextCursor == "" || len(ids) > max {
			return ids, nil
		}
		f.Cursor = p.NextCursor
	}
}

func applyField(dst, src *CameraFields, name string) error {
	switch name {
	case "site_id":
		dst.SiteID = src.SiteID
	case "name":
		dst.Name = src.Name
	case "management_no":
		dst.ManagementNo = src.ManagementNo
	case "purpose":
		dst.Purpose = src.Purpose
		if src.LegalBasis == 0 {
			dst.LegalBasis = 0 // the new purpose's default
		}
	case "legal_basis":
		dst.LegalBasis = src.LegalBasis
	case "road_address":
		dst.RoadAddress = src.RoadAddress
	case "lot_address":
		dst.LotAddress = src.LotAddress
	case "position":
		dst.Position = src.Position
	case "coverage":
		dst.Coverage = src.Coverage
	case "resolution":
		dst.Resolution = src.Resolution
	case "direction":
		dst.Direction = src.Direction
	case "install_ym":
		dst.InstallYM = src.InstallYM
	case "schedule":
		dst.Schedule = src.Schedule
	case "retention_days":
		dst.RetentionDays = src.RetentionDays
		if src.RetentionDays > 0 {
			dst.NotStored = false
		}
	case "not_stored":
		dst.NotStored = src.NotStored
		if src.NotStored {
			dst.RetentionDays = 0
		}
	case "retention_reason":
		dst.RetentionReason = src.RetentionReason
	case "storage_place":
		dst.StoragePlace = src.StoragePlace
	case "monitoring_method":
		dst.MonitoringMethod = src.MonitoringMethod
	case "monitoring_place":
		dst.MonitoringPlace = src.MonitoringPlace
	case "org":
		dst.Org = src.Org
	case "department":
		dst.Department = src.Department
	case "manager":
		dst.Manager = src.Manager
	case "manager_phone":
		dst.ManagerPhone = src.ManagerPhone
	case "access_persons":
		dst.AccessPersons = src.AccessPersons
	case "signage":
		dst.Signage = src.Signage
	case "labels":
		dst.Labels = src.Labels
	case "lifecycle":
		dst.Lifecycle = src.Lifecycle
	default:
		return fmt.Errorf("%w: unknown field %q in update mask", ErrInvalid, name)
	}
	return nil
}

// Decommission takes a camera out of service for good. The row stays (with
// its history); its device URL and endpoint reference become free for a new
// registration. Audited as device.decommission.
func (r *Registry) Decommission(ctx context.Context, id, reason string, a Actor) (Camera, error) {
	if !validID(id) {
		return Camera{}, fmt.Errorf("%w: camera %q", ErrNotFound, id)
	}
	reason = strings.TrimSpace(reason)
	if err := checkText("decommission reason", reason, true); err != nil {
		return Camera{}, err
	}
	err := r.inTx(ctx, func(tx pgx.Tx) error {
		var lc string
		err := tx.QueryRow(ctx, `select lifecycle from devices_cameras where id=$1 for update`, id).Scan(&lc)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w: camera %s", ErrNotFound, id)
		}
		if err != nil {
			return fmt.Errorf("devices: decommission: %w", err)
		}
		if lc == string(Decommissioned) {
			return fmt.Errorf("%w: camera %s is already decommissioned", ErrConflict, id)
		}
		if err := r.decommissionTx(ctx, tx, id, reason); err != nil {
			return err
		}
		if a.Reason == "" {
			a.Reason = reason
		}
		return r.audit(ctx, tx, a, "device.decommission", []string{id}, map[string]any{"previous_lifecycle": lc})
	})
	if err != nil {
		return Camera{}, err
	}
	return r.Get(ctx, id)
}

// decommissionTx marks a camera decommissioned in tx; the caller audits.
func (r *Registry) decommissionTx(ctx context.Context, tx pgx.Tx, id, reason string) error {
	if _, err := tx.Exec(ctx, `update devices_cameras set lifecycle='decommissioned', decommissioned_at=$2,
		decommission_reason=$3, updated_at=now() where id=$1`, id, r.cfg.Now(), reason); err != nil {
		return fmt.Errorf("devices: decommission: %w", err)
	}
	return nil
}

// SetCredentials replaces the stored credentials of a camera (after they
// were changed on the camera). Audited as device.credentials (without them).
func (r *Registry) SetCredentials(ctx context.Context, id string, c Credentials, a Actor) error {
	if !validID(id) {
		return fmt.Errorf("%w: camera %q", ErrNotFound, id)
	}
	if c.Username == "" {
		return fmt.Errorf("%w: username is required", ErrInvalid)
	}
	sealed, err := r.sealer.seal(id, c)
	if err != nil {
		return fmt.Errorf("devices: seal credentials: %w", err)
	}
	return r.inTx(ctx, func(tx pgx.Tx) error {
		ct, err := tx.Exec(ctx, `update devices_cameras set cred_key_id=$2, cred_sealed=$3, updated_at=now()
			where id=$1 and lifecycle <> 'decommissioned'`, id, r.sealer.keyID, sealed)
		if err != nil {
			return fmt.Errorf("devices: set credentials: %w", err)
		}
		if ct.RowsAffected() == 0 {
			return fmt.Errorf("%w: camera %s (or decommissioned)", ErrNotFound, id)
		}
		return r.audit(ctx, tx, a, "device.credentials", []string{id}, map[string]any{"username_set": true})
	})
}

// Credentials returns the decrypted credentials of a camera, for the
// server-side components that talk to it (relay, health workers). Never hand
// them to a client, never log them.
func (r *Registry) Credentials(ctx context.Context, id string) (Credentials, error) {
	if !validID(id) {
		return Credentials{}, fmt.Errorf("%w: camera %q", ErrNotFound, id)
	}
	var keyID *string
	var sealed []byte
	err := r.db.QueryRow(ctx, `select cred_key_id, cred_sealed from devices_cameras where id=$1`, id).Scan(&keyID, &sealed)
	if errors.Is(err, pgx.ErrNoRows) {
		return Credentials{}, fmt.Errorf("%w: camera %s", ErrNotFound, id)
	}
	if err != nil {
		return Credentials{}, fmt.Errorf("devices: credentials: %w", err)
	}
	if keyID == nil {
		return Credentials{}, fmt.Errorf("%w: camera %s has no credentials", ErrNotFound, id)
	}
	c, err := r.sealer.open(id, *keyID, sealed)
	if err != nil {
		return Credentials{}, fmt.Errorf("devices: %w", err)
	}
	return c, nil
}

// ResealCredentials re-encrypts under the current key every credential
// sealed under a previous key (after a key rotation), in one transaction
// with its audit entry (device.credentials.reseal). It returns how many
// were resealed.
func (r *Registry) ResealCredentials(ctx context.Context, a Actor) (int, error) {
	n := 0
	err := r.inTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `select id::text, cred_key_id, cred_sealed from devices_cameras
			where cred_key_id is not null and cred_key_id <> $1 for update`, r.sealer.keyID)
		if err != nil {
			return fmt.Errorf("devices: reseal: %w", err)
		}
		type item struct {
			id, keyID string
			sealed    []byte
		}
		var items []item
		for rows.Next() {
			var it item
			if err := rows.Scan(&it.id, &it.keyID, &it.sealed); err != nil {
				rows.Close()
				return fmt.Errorf("devices: reseal: %w", err)
			}
			items = append(items, it)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("devices: reseal: %w", err)
		}
		var ids []string
		for _, it := range items {
			c, err := r.sealer.open(it.id, it.keyID, it.sealed)
			if err != nil {
				return fmt.Errorf("devices: reseal: %w", err)
			}
			sealed, err := r.sealer.seal(it.id, c)
			if err != nil {
				return fmt.Errorf("devices: reseal: %w", err)
			}
			if _, err := tx.Exec(ctx, `update devices_cameras set cred_key_id=$2, cred_sealed=$3 where id=$1`,
				it.id, r.sealer.keyID, sealed); err != nil {
				return fmt.Errorf("devices: reseal: %w", err)
			}
			ids = append(ids, it.id)
		}
		uris, err := r.resealURIs(ctx, tx)
		if err != nil {
			return err
		}
		ids = unionIDs(ids, uris)
		n = len(ids)
		if n == 0 {
			return nil
		}
		return r.audit(ctx, tx, a, "device.credentials.reseal", ids, map[string]any{"key_id": r.sealer.keyID, "count": n})
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// Filter selects cameras for List.
type Filter struct {
	SiteID          string
	SiteIDs         []string // any of these sites (e.g. a contractor's scope); empty = any
	Purpose         string   // local purpose
	NationalPurpose string
	Department      string
	Org             string
	ContractorID    string
	Lifecycle       Lifecycle // empty = every lifecycle except decommissioned
	Label           string
	// Text matches name, management number, addresses, device URL,
	// manufacturer, model and serial (case-insensitive substring).
	Text string
	// IncludeDecommissioned lists decommissioned cameras too when Lifecycle is empty.
	IncludeDecommissioned bool
	// Limit is the page size; default 100, at most 1000.
	Limit int
	// Cursor continues a previous List (Page.NextCursor).
	Cursor string
}

// Page is one page of List.
type Page struct {
	Cameras []Camera
	// NextCursor continues the listing; "" at the end.
	NextCursor string
}

func encodeCursor(seq int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("c" + strconv.FormatInt(seq, 10)))
}

func decodeCursor(s string) (int64, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) < 2 || b[0] != 'c' {
		return 0, fmt.Errorf("%w: bad cursor", ErrInvalid)
	}
	n, err := strconv.ParseInt(string(b[1:]), 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%w: bad cursor", ErrInvalid)
	}
	return n, nil
}

func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// List returns cameras matching f in registration order, a page at a time.
func (r *Registry) List(ctx context.Context, f Filter) (Page, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultListLimit
	}
	if limit > MaxListLimit {
		limit = MaxListLimit
	}
	var after int64
	if f.Cursor != "" {
		var err error
		if after, err = decodeCursor(f.Cursor); err != nil {
			return Page{}, err
		}
	}
	where := []string{"c.seq > $1"}
	args := []any{after}
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	if f.SiteID != "" {
		if !validID(f.SiteID) {
			return Page{}, nil
		}
		add("c.site_id = ?", f.SiteID)
	}
	if len(f.SiteIDs) > 0 {
		ids := make([]string, 0, len(f.SiteIDs))
		for _, s := range f.SiteIDs {
			if validID(s) {
				ids = append(ids, s)
			}
		}
		add("c.site_id::text = any(?)", ids)
	}
	if f.Purpose != "" {
		add("c.purpose = ?", normPurpose(f.Purpose))
	}
	if f.NationalPurpose != "" {
		add("c.national_purpose = ?", f.NationalPurpose)
	}
	if f.Department != "" {
		add("c.department = ?", f.Department)
	}
	if f.Org != "" {
		add("c.org = ?", f.Org)
	}
	if f.ContractorID != "" {
		add("s.contractor_id = ?", f.ContractorID)
	}
	switch {
	case f.Lifecycle != "":
		if !f.Lifecycle.Valid() {
			return Page{}, fmt.Errorf("%w: lifecycle %q", ErrInvalid, f.Lifecycle)
		}
		add("c.lifecycle = ?", string(f.Lifecycle))
	case !f.IncludeDecommissioned:
		where = append(where, "c.lifecycle <> 'decommissioned'")
	}
	if f.Label != "" {
		add("? = any(c.labels)", strings.ToLower(strings.TrimSpace(f.Label)))
	}
	if t := strings.TrimSpace(f.Text); t != "" {
		add(`concat_ws(' ', c.name, c.management_no, c.road_address, c.lot_address, c.device_url, c.manufacturer,
			c.model, c.serial, c.purpose, c.department) ilike ?`, "%"+likeEscape(t)+"%")
	}
	args = append(args, limit+1)
	q := `select ` + cameraCols + ` from devices_cameras c join devices_sites s on s.id = c.site_id where ` +
		strings.Join(where, " and ") + ` order by c.seq limit $` + strconv.Itoa(len(args))
	rows, err := r.db.Query(ctx, q, args...)
	if err != nil {
		return Page{}, fmt.Errorf("devices: list: %w", err)
	}
	defer rows.Close()
	var p Page
	var lastSeq int64
	for rows.Next() {
		c, seq, err := scanCamera(rows)
		if err != nil {
			return Page{}, fmt.Errorf("devices: list: %w", err)
		}
		if len(p.Cameras) == limit {
			p.NextCursor = encodeCursor(lastSeq)
			break
		}
		p.Cameras = append(p.Cameras, c)
		lastSeq = seq
	}
	if err := rows.Err(); err != nil {
		return Page{}, fmt.Errorf("devices: list: %w", err)
	}
	return p, nil
}
