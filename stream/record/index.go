package record

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Segment statuses.
const (
	StatusOK          = "ok"
	StatusMissing     = "missing"
	StatusQuarantined = "quarantined"
)

// Segment is one indexed segment file.
type Segment struct {
	ID       int64
	CameraID string
	Node     string
	Start    time.Time
	End      time.Time
	// Path is relative to the node's storage path.
	Path   string
	Size   int64
	SHA256 []byte
	KeyID  string
	Codec  string
	Frames int
	Status string
	Chain  []byte
}

// Duration is End - Start.
func (s Segment) Duration() time.Duration { return s.End.Sub(s.Start) }

// Gap is a time range without recorded footage.
type Gap struct {
	From, To time.Time
}

// Listing is what ListRecordings returns: the segments overlapping the
// range in time order, and the gaps between from and to that no
// segment covers.
type Listing struct {
	Segments []Segment
	Gaps     []Gap
}

const segCols = `id, camera_id, node, start_at, end_at, path, size, sha256, key_id, codec, frames, status, chain`

func scanSegment(row pgx.Row) (Segment, error) {
	var s Segment
	err := row.Scan(&s.ID, &s.CameraID, &s.Node, &s.Start, &s.End, &s.Path, &s.Size, &s.SHA256, &s.KeyID,
		&s.Codec, &s.Frames, &s.Status, &s.Chain)
	return s, err
}

func (s *Store) hourOf(t time.Time) time.Time { return t.UTC().Truncate(time.Hour) }

// chainLink computes a segment's link in its camera-hour chain.
func chainLink(prev []byte, seg *Segment) []byte {
	h := sha256.New()
	h.Write([]byte("gwanje.recording.segment.v1\n"))
	if len(prev) == 0 {
		prev = make([]byte, 32)
	}
	h.Write(prev)
	str := func(v string) {
		h.Write(binary.BigEndian.AppendUint32(nil, uint32(len(v))))
		h.Write([]byte(v))
	}
	str(seg.CameraID)
	str(seg.Node)
	h.Write(binary.BigEndian.AppendUint64(nil, uint64(seg.Start.UnixMicro())))
	h.Write(binary.BigEndian.AppendUint64(nil, uint64(seg.End.UnixMicro())))
	str(seg.Path)
	h.Write(binary.BigEndian.AppendUint64(nil, uint64(seg.Size)))
	h.Write(seg.SHA256)
	str(seg.KeyID)
	return h.Sum(nil)
}

// insertSegment indexes a finished segment and links it into its
// camera-hour chain, after the fencing check (checkFence: f is the lease it
// was written under, nil for the start-up check). Only one recorder writes
// a camera on a node, so the chain has no concurrent writers; the row lock
// is for safety.
func (s *Store) insertSegment(ctx context.Context, seg *Segment, f *fence) error {
	seg.Node = s.node
	seg.Start, seg.End = seg.Start.Truncate(time.Microsecond), seg.End.Truncate(time.Microsecond)
	hour := s.hourOf(seg.Start)
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := s.checkFence(ctx, tx, seg, f); err != nil {
			return err
		}
		var prev []byte
		err := tx.QueryRow(ctx, `select chain from recording_segments where node = $1 and camera_id = $2 and hour = $3
			order by id desc limit 1 for update`, s.node, seg.CameraID, hour).Scan(&prev)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("record: index: %w", err)
		}
		seg.Chain = chainLink(prev, seg)
		if seg.Status == "" {
			seg.Status = StatusOK
		}
		err = tx.QueryRow(ctx, `insert into recording_segments
			(camera_id, node, start_at, end_at, path, size, sha256, key_id, codec, frames, hour, chain, status)
			values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) returning id`,
			seg.CameraID, seg.Node, seg.Start, seg.End, seg.Path, seg.Size, seg.SHA256, seg.KeyID, seg.Codec,
			seg.Frames, hour, seg.Chain, seg.Status).Scan(&seg.ID)
		if err != nil {
			return fmt.Errorf("record: index: %w", err)
		}
		return nil
	})
}

// ListRecordings returns the segments of a camera overlapping [from, to)
// (any node, status ok) and the gaps in that range.
func (s *Store) ListRecordings(ctx context.Context, cameraID string, from, to time.Time) (Listing, error) {
	return ListRecordings(ctx, s.pool, cameraID, from, to, s.cfg.GapTolerance)
}

// ListRecordings is Store.ListRecordings for callers without a store
// (control): any pool with the recording schema.
func ListRecordings(ctx context.Context, q interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}, cameraID string, from, to time.Time, tolerance time.Duration) (Listing, error) {
	if !to.After(from) {
		return Listing{}, fmt.Errorf("%w: empty time range", ErrInvalid)
	}
	rows, err := q.Query(ctx, `select `+segCols+` from recording_segments
		where camera_id = $1 and status = 'ok' and start_at < $3 and end_at > $2 order by start_at, id`,
		cameraID, from, to)
	if err != nil {
		return Listing{}, fmt.Errorf("record: list: %w", err)
	}
	segs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Segment, error) { return scanSegment(r) })
	if err != nil {
		return Listing{}, fmt.Errorf("record: list: %w", err)
	}
	l := Listing{Segments: segs}
	cur := from
	for _, sg := range segs {
		if sg.Start.Sub(cur) > tolerance {
			l.Gaps = append(l.Gaps, Gap{From: cur, To: sg.Start})
		}
		if sg.End.After(cur) {
			cur = sg.End
		}
	}
	if to.Sub(cur) > tolerance {
		l.Gaps = append(l.Gaps, Gap{From: cur, To: to})
	}
	return l, nil
}

// Segments returns this node's segments of a camera overlapping [from, to)
// with status ok, in time order (what playback on this node can serve).
func (s *Store) Segments(ctx context.Context, cameraID string, from, to time.Time) ([]Segment, error) {
	rows, err := s.pool.Query(ctx, `select `+segCols+` from recording_segments
		where camera_id = $1 and node = $2 and status = 'ok' and start_at < $4 and end_at > $3
		order by start_at, id`, cameraID, s.node, from, to)
	if err != nil {
		return nil, fmt.Errorf("record: segments: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Segment, error) { return scanSegment(r) })
	if err != nil {
		return nil, fmt.Errorf("record: segments: %w", err)
	}
	return out, nil
}

// manifestEntry is one segment in a signed manifest.
type manifestEntry struct {
	ID     int64  `json:"id"`
	Start  string `json:"start"`
	End    string `json:"end"`
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	Key    string `json:"key"`
	Chain  string `json:"chain"`
}

// Manifest is the signed content of a camera-hour's chain.
type Manifest struct {
	Version  int             `json:"v"`
	Camera   string          `json:"camera"`
	Node     string          `json:"node"`
	Hour     string          `json:"hour"`
	Segments []manifestEntry `json:"segments"`
	Head     string          `json:"head"`
}

func manifestMessage(payload []byte) []byte {
	return append([]byte("gwanje.recording.manifest.v1\n"), payload...)
}

// SignManifests signs a manifest for every camera-hour of this node that
// has segments not yet covered by one, when the hour ended before before
// (all: every such camera-hour, e.g. at shutdown). It returns how many
// manifests it wrote.
func (s *Store) SignManifests(ctx context.Context, before time.Time, all bool) (int, error) {
	rows, err := s.pool.Query(ctx, `select distinct camera_id, hour from recording_segments
		where node = $1 and manifest_id is null and ($3 or hour + interval '1 hour' <= $2)`,
		s.node, before, all)
	if err != nil {
		return 0, fmt.Errorf("record: manifests: %w", err)
	}
	type ch struct {
		cam  string
		hour time.Time
	}
	todo, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ch, error) {
		var c ch
		return c, r.Scan(&c.cam, &c.hour)
	})
	if err != nil {
		return 0, fmt.Errorf("record: manifests: %w", err)
	}
	n := 0
	for _, c := range todo {
		if err := s.signHour(ctx, c.cam, c.hour); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func (s *Store) signHour(ctx context.Context, cam string, hour time.Time) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `select `+segCols+` from recording_segments
			where node = $1 and camera_id = $2 and hour = $3 order by id for update`, s.node, cam, hour)
		if err != nil {
			return err
		}
		segs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Segment, error) { return scanSegment(r) })
		if err != nil {
			return err
		}
		if len(segs) == 0 {
			return nil
		}
		m := Manifest{Version: 1, Camera: cam, Node: s.node, Hour: hour.UTC().Format(time.RFC3339)}
		for _, sg := range segs {
			m.Segments = append(m.Segments, manifestEntry{ID: sg.ID, Start: sg.Start.UTC().Format(time.RFC3339Nano),
				End: sg.End.UTC().Format(time.RFC3339Nano), Path: sg.Path, Size: sg.Size,
				SHA256: hex.EncodeToString(sg.SHA256), Key: sg.KeyID, Chain: hex.EncodeToString(sg.Chain)})
		}
		head := segs[len(segs)-1].Chain
		m.Head = hex.EncodeToString(head)
		payload, err := json.Marshal(m)
		if err != nil {
			return err
		}
		sig := ed25519.Sign(s.sign, manifestMessage(payload))
		var id int64
		err = tx.QueryRow(ctx, `insert into recording_manifests (camera_id, node, hour, segments, head, payload, public_key, signature)
			values ($1, $2, $3, $4, $5, $6, $7, $8) returning id`, cam, s.node, hour, len(segs), head, string(payload),
			[]byte(s.PublicKey()), sig).Scan(&id)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `update recording_segments set manifest_id = $1 where node = $2 and camera_id = $3 and hour = $4`,
			id, s.node, cam, hour)
		return err
	})
}

// ManifestReport is the result of verifying a camera-hour's chain of
// custody.
type ManifestReport struct {
	Camera string
	Hour   time.Time
	// Signed: the latest manifest's signature is valid (with one of the
	// trusted keys).
	Signed bool
	// ChainOK: the links recompute from the listed segments to the head.
	ChainOK bool
	// Listed segments; Present of them match their index row (hash, size);
	// Destroyed have no row any more (retention); Mismatch have a row that
	// differs (edited index).
	Listed, Present, Destroyed int
	Mismatch                   []int64
	// Unlisted segments of the hour are indexed but not in the manifest
	// (written after it was signed).
	Unlisted []int64
}

// OK is true when the hour's custody is intact.
func (r ManifestReport) OK() bool { return r.Signed && r.ChainOK && len(r.Mismatch) == 0 }

// VerifyManifest checks the latest manifest of a camera-hour on this node:
// its signature (by this store's key or one of trusted), the chain, and
// the index rows against it.
func (s *Store) VerifyManifest(ctx context.Context, cam string, hour time.Time, trusted ...ed25519.PublicKey) (ManifestReport, error) {
	hour = s.hourOf(hour)
	rep := ManifestReport{Camera: cam, Hour: hour}
	var payload string
	var pub, sig []byte
	err := s.pool.QueryRow(ctx, `select payload, public_key, signature from recording_manifests
		where camera_id = $1 and node = $2 and hour = $3 order by id desc limit 1`, cam, s.node, hour).Scan(&payload, &pub, &sig)
	if errors.Is(err, pgx.ErrNoRows) {
		return rep, fmt.Errorf("%w: no manifest for %s %s", ErrNotFound, cam, hour.Format(time.RFC3339))
	}
	if err != nil {
		return rep, fmt.Errorf("record: manifest: %w", err)
	}
	keys := append([]ed25519.PublicKey{s.PublicKey()}, trusted...)
	for _, k := range keys {
		if string(k) == string(pub) && ed25519.Verify(k, manifestMessage([]byte(payload)), sig) {
			rep.Signed = true
		}
	}
	var m Manifest
	if err := json.Unmarshal([]byte(payload), &m); err != nil {
		return rep, fmt.Errorf("record: manifest: %w", err)
	}
	rows, err := s.pool.Query(ctx, `select `+segCols+` from recording_segments where node = $1 and camera_id = $2 and hour = $3`,
		s.node, cam, hour)
	if err != nil {
		return rep, fmt.Errorf("record: manifest: %w", err)
	}
	segs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Segment, error) { return scanSegment(r) })
	if err != nil {
		return rep, fmt.Errorf("record: manifest: %w", err)
	}
	byID := map[int64]Segment{}
	for _, sg := range segs {
		byID[sg.ID] = sg
	}
	rep.Listed = len(m.Segments)
	rep.ChainOK = true
	var prev []byte
	listed := map[int64]bool{}
	for _, e := range m.Segments {
		listed[e.ID] = true
		start, err1 := time.Parse(time.RFC3339Nano, e.Start)
		end, err2 := time.Parse(time.RFC3339Nano, e.End)
		sum, err3 := hex.DecodeString(e.SHA256)
		if err := errors.Join(err1, err2, err3); err != nil {
			rep.ChainOK = false
			continue
		}
		link := chainLink(prev, &Segment{CameraID: m.Camera, Node: m.Node, Start: start, End: end, Path: e.Path,
			Size: e.Size, SHA256: sum, KeyID: e.Key})
		if hex.EncodeToString(link) != e.Chain {
			rep.ChainOK = false
		}
		prev = link
		sg, ok := byID[e.ID]
		switch {
		case !ok:
			rep.Destroyed++
		case sg.Size != e.Size || hex.EncodeToString(sg.SHA256) != e.SHA256 || sg.Path != e.Path ||
			!sg.Start.Equal(start) || !sg.End.Equal(end):
			rep.Mismatch = append(rep.Mismatch, e.ID)
		default:
			rep.Present++
		}
	}
	if hex.EncodeToString(prev) != m.Head {
		rep.ChainOK = false
	}
	for _, sg := range segs {
		if !listed[sg.ID] {
			rep.Unlisted = append(rep.Unlisted, sg.ID)
		}
	}
	return rep, nil
}
