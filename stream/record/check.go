package record

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// CheckReport says what the start-up check found and did.
type CheckReport struct {
	// Files is the number of finished segment files on disk.
	Files int
	// Indexed: finished files that had no index row (killed between
	// rename and insert) and were verified and indexed.
	Indexed int
	// Salvaged: segments in progress at a crash (.partial) whose sealed
	// footage (every chunk up to the torn one the process was writing)
	// was re-sealed into a finished, indexed segment.
	Salvaged int
	// Discarded: segments in progress at a crash that held no sealed
	// footage yet (younger than one seal interval, or empty): removed.
	Discarded int
	// Quarantined: files that failed verification, moved to .quarantine.
	Quarantined int
	// Missing: index rows of this node whose file is gone (now status
	// missing; they show as gaps).
	Missing int
	// SizeMismatch: indexed files whose size differs from the index
	// (quarantined).
	SizeMismatch int
	// Fenced: finished or salvaged segments that cover time another
	// recorder of the pool holds (a later lease of the camera began before
	// they end): removed, not indexed (ErrFenced).
	Fenced int
}

// Check makes the index and the files of this node agree. It runs before
// recording starts (Recorder.Run runs it): a .partial file (the segment in
// progress when the recorder died) is salvaged up to its last complete,
// authenticated fragment and indexed, or quarantined when nothing can be
// saved; a finished file without an index row is verified and indexed, or
// quarantined; an indexed file whose size differs is quarantined; an index
// row without its file is marked missing. Every quarantine and missing
// file raises an alarm.
func (s *Store) Check(ctx context.Context) (CheckReport, error) {
	var rep CheckReport
	rows, err := s.pool.Query(ctx, `select `+segCols+` from recording_segments where node = $1 and status = 'ok'`, s.node)
	if err != nil {
		return rep, fmt.Errorf("record: check: %w", err)
	}
	segs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Segment, error) { return scanSegment(r) })
	if err != nil {
		return rep, fmt.Errorf("record: check: %w", err)
	}
	indexed := make(map[string]Segment, len(segs))
	for _, sg := range segs {
		indexed[sg.Path] = sg
	}
	var partials, finals, salvages []string
	err = filepath.WalkDir(s.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == quarantineDir {
				return filepath.SkipDir
			}
			return nil
		}
		switch {
		case strings.HasSuffix(p, ".partial"):
			partials = append(partials, p)
		case strings.HasSuffix(p, ".gseg"):
			finals = append(finals, p)
		case strings.HasSuffix(p, ".partial.salvage"):
			salvages = append(salvages, p)
		}
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("record: check: %w", err)
	}
	seen := map[string]bool{}
	for _, p := range finals {
		rel, err := filepath.Rel(s.dir, p)
		if err != nil {
			continue
		}
		rel = filepath.ToSlash(rel)
		seen[rel] = true
		rep.Files++
		if sg, ok := indexed[rel]; ok {
			fi, err := os.Stat(p)
			if err == nil && fi.Size() == sg.Size {
				continue
			}
			rep.SizeMismatch++
			if err := s.quarantine(ctx, rel, &sg, "size differs from the index"); err != nil {
				return rep, err
			}
			rep.Quarantined++
			continue
		}
		res, err := s.indexOrphan(ctx, rel)
		if err != nil {
			return rep, err
		}
		switch res {
		case salvaged:
			rep.Indexed++
		case fenced:
			rep.Files--
			rep.Fenced++
		default:
			rep.Quarantined++
		}
	}
	for _, sg := range segs {
		if seen[sg.Path] {
			continue
		}
		if _, err := os.Stat(s.abs(sg.Path)); err == nil {
			continue
		}
		if _, err := s.pool.Exec(ctx, `update recording_segments set status = 'missing' where id = $1`, sg.ID); err != nil {
			return rep, fmt.Errorf("record: check: %w", err)
		}
		rep.Missing++
		s.raise(Alarm{Kind: AlarmMissing, CameraID: sg.CameraID, Path: sg.Path, Detail: "indexed segment file is gone"})
	}
	// A salvage interrupted by another crash: the original is back as
	// .partial unless the re-sealed segment was already renamed.
	for _, p := range salvages {
		orig, err := s.resumeSalvage(p)
		if err != nil {
			return rep, err
		}
		if orig != "" && !slices.Contains(partials, orig) {
			partials = append(partials, orig)
		}
	}
	for _, p := range partials {
		res, err := s.salvage(ctx, p)
		if err != nil {
			return rep, err
		}
		switch res {
		case salvaged:
			rep.Salvaged++
		case discarded:
			rep.Discarded++
		case fenced:
			rep.Fenced++
		default:
			rep.Quarantined++
		}
	}
	return rep, nil
}

// resumeSalvage handles <start>.partial.salvage, the original of a salvage
// that a crash interrupted. When the re-sealed segment was finished (a
// <start>-<end>.gseg exists; the loop over finished files indexes it), the
// original is removed; otherwise the unfinished rewrite is removed and the
// original becomes the .partial again, to be salvaged. It returns that
// .partial path, or "".
func (s *Store) resumeSalvage(p string) (string, error) {
	orig := strings.TrimSuffix(p, ".salvage")
	ms := strings.TrimSuffix(filepath.Base(orig), ".partial")
	done, _ := filepath.Glob(filepath.Join(filepath.Dir(p), ms+"-*.gseg"))
	if len(done) > 0 {
		if fi, err := os.Stat(p); err == nil {
			s.release(fi.Size())
		}
		if err := os.Remove(p); err != nil {
			return "", fmt.Errorf("record: check: %w", err)
		}
		return "", nil
	}
	if fi, err := os.Stat(orig); err == nil {
		s.release(fi.Size())
		if err := os.Remove(orig); err != nil {
			return "", fmt.Errorf("record: check: %w", err)
		}
	}
	if err := os.Rename(p, orig); err != nil {
		return "", fmt.Errorf("record: check: %w", err)
	}
	return orig, nil
}

// parseFinalName reads camera, start and end from <camera>/<day>/<start>-<end>.gseg.
func parseFinalName(rel string) (camera string, start, end time.Time, ok bool) {
	parts := strings.Split(rel, "/")
	if len(parts) != 3 || !validName(parts[0]) {
		return "", time.Time{}, time.Time{}, false
	}
	a, b, found := strings.Cut(strings.TrimSuffix(parts[2], ".gseg"), "-")
	sa, err1 := strconv.ParseInt(a, 10, 64)
	sb, err2 := strconv.ParseInt(b, 10, 64)
	if !found || err1 != nil || err2 != nil || sb < sa {
		return "", time.Time{}, time.Time{}, false
	}
	return parts[0], time.UnixMilli(sa), time.UnixMilli(sb), true
}

// readAllFrames decrypts and parses a whole sealed file (want: expected
// SHA-256 or nil), returning the frames read before any error.
func (s *Store) readAllFrames(ctx context.Context, abs string, start time.Time) (*sealHeader, Track, []Frame, []byte, int64, error) {
	f, err := os.Open(abs)
	if err != nil {
		return nil, Track{}, nil, nil, 0, err
	}
	defer f.Close()
	hdr, open, err := openSealed(f, nil)
	if err != nil {
		return nil, Track{}, nil, nil, 0, err
	}
	dek, err := s.keys.key(ctx, hdr.keyID)
	if err != nil {
		return hdr, Track{}, nil, nil, 0, err
	}
	sr, err := open(dek)
	clear(dek)
	if err != nil {
		return hdr, Track{}, nil, nil, 0, err
	}
	r := &SegmentReader{seg: Segment{Start: start}, f: f, r: newBufReader(sr)}
	if err := r.readInit(); err != nil {
		return hdr, Track{}, nil, nil, 0, err
	}
	var frames []Frame
	for {
		fr, err := r.Next()
		if errors.Is(err, io.EOF) {
			return hdr, r.track, frames, sr.sum.Sum(nil), sr.nbytes, nil
		}
		if err != nil {
			return hdr, r.track, frames, nil, 0, err
		}
		frames = append(frames, fr)
	}
}

// indexOrphan verifies a finished file that has no index row and indexes
// it (salvaged), or quarantines it, or removes it when another node holds
// its time (fenced).
func (s *Store) indexOrphan(ctx context.Context, rel string) (salvageResult, error) {
	cam, start, end, ok := parseFinalName(rel)
	abs := s.abs(rel)
	if !ok {
		return quarantined, s.quarantine(ctx, rel, nil, "unrecognised file name")
	}
	hdr, track, frames, _, _, err := s.readAllFrames(ctx, abs, start)
	if err != nil || len(frames) == 0 || hdr.camera != cam || hdr.start.UnixMilli() != start.UnixMilli() {
		why := "does not verify"
		if err != nil {
			why = err.Error()
		}
		return quarantined, s.quarantine(ctx, rel, nil, why)
	}
	f, err := os.Open(abs)
	if err != nil {
		return quarantined, fmt.Errorf("record: check: %w", err)
	}
	sum, size, err := digest(f)
	f.Close()
	if err != nil {
		return quarantined, fmt.Errorf("record: check: %w", err)
	}
	seg := Segment{CameraID: cam, Start: hdr.start, End: end, Path: rel, Size: size, SHA256: sum, KeyID: hdr.keyID,
		Codec: track.Codec, Frames: len(frames)}
	if err := s.insertSegment(ctx, &seg, nil); err != nil {
		if errors.Is(err, ErrFenced) {
			s.dropFenced(rel, err)
			return fenced, nil
		}
		return quarantined, err
	}
	s.log.Info("record: indexed a finished segment that had no index row", "camera", cam, "path", rel)
	return salvaged, nil
}

type salvageResult int

const (
	quarantined salvageResult = iota
	salvaged
	discarded
	fenced
)

// salvage re-seals the sealed footage of a .partial file into a finished
// segment. The recorder seals a segment in progress every SealInterval
// (each seal ends on a fragment boundary), so every chunk that
// authenticates holds whole fragments; the last chunk may be torn (the
// process died writing it) and is discarded with the footage after the
// last seal. A file with no sealed footage at all (a crash within the
// first seal interval) is removed; one that fails otherwise (a header
// that does not parse, another camera, a chunk that does not
// authenticate before any footage) is quarantined.
func (s *Store) salvage(ctx context.Context, abs string) (salvageResult, error) {
	rel, _ := filepath.Rel(s.dir, abs)
	rel = filepath.ToSlash(rel)
	parts := strings.Split(rel, "/")
	ms, perr := strconv.ParseInt(strings.TrimSuffix(parts[len(parts)-1], ".partial"), 10, 64)
	if len(parts) != 3 || !validName(parts[0]) || perr != nil {
		return quarantined, s.quarantine(ctx, rel, nil, "unrecognised file name")
	}
	cam := parts[0]
	fi, err := os.Stat(abs)
	if err != nil {
		return quarantined, fmt.Errorf("record: salvage: %w", err)
	}
	hdr, track, frames, _, _, err := s.readAllFrames(ctx, abs, time.UnixMilli(ms))
	empty := fi.Size() == 0 ||
		(hdr != nil && hdr.camera == cam && len(frames) == 0 && errors.Is(err, errTruncated))
	if empty {
		s.release(fi.Size())
		if err := os.Remove(abs); err != nil {
			return quarantined, fmt.Errorf("record: salvage: %w", err)
		}
		s.log.Info("record: removed a segment in progress at a crash that held no sealed footage", "camera", cam, "path", rel)
		return discarded, nil
	}
	if hdr == nil || len(frames) == 0 || hdr.camera != cam {
		why := "no complete fragment"
		if err != nil {
			why = err.Error()
		}
		return quarantined, s.quarantine(ctx, rel, nil, why)
	}
	if err != nil && !errors.Is(err, errTruncated) {
		s.log.Warn("record: a segment in progress at a crash has a chunk that does not authenticate; kept the footage before it",
			"camera", cam, "path", rel, "err", err)
	}
	start := hdr.start
	// Write the frames again as a new segment with the same start; the
	// partial goes away only once the new one is indexed.
	if err := os.Rename(abs, abs+".salvage"); err != nil {
		return quarantined, fmt.Errorf("record: salvage: %w", err)
	}
	sf, err := s.openSegment(ctx, cam, start, track, segmentOptions{Part: time.Second})
	if err != nil {
		return quarantined, fmt.Errorf("record: salvage: %w", err)
	}
	for _, fr := range frames {
		if err := sf.add(&sample{dts: fr.DTS, pts: fr.PTS, key: fr.Key, au: fr.AU}); err != nil {
			sf.abort()
			return quarantined, fmt.Errorf("record: salvage: %w", err)
		}
	}
	seg, err := sf.finish(ctx, -1)
	if errors.Is(err, ErrFenced) {
		// finish removed the re-sealed file; the original goes too.
		if fi, err := os.Stat(abs + ".salvage"); err == nil {
			s.release(fi.Size())
		}
		_ = os.Remove(abs + ".salvage")
		return fenced, nil
	}
	if err != nil {
		return quarantined, fmt.Errorf("record: salvage: %w", err)
	}
	if fi, err := os.Stat(abs + ".salvage"); err == nil {
		s.release(fi.Size())
	}
	_ = os.Remove(abs + ".salvage")
	s.log.Info("record: salvaged the segment in progress at a crash", "camera", cam, "path", seg.Path,
		"frames", seg.Frames, "duration", seg.Duration())
	return salvaged, nil
}

// quarantine moves a file under .quarantine (keeping its relative path);
// an indexed segment becomes status quarantined with the new path. The
// sweeper destroys quarantined files by age like any other.
func (s *Store) quarantine(ctx context.Context, rel string, sg *Segment, why string) error {
	qrel := quarantineDir + "/" + rel
	qabs := s.abs(qrel)
	if err := os.MkdirAll(filepath.Dir(qabs), 0o700); err != nil {
		return fmt.Errorf("record: quarantine: %w", err)
	}
	if err := os.Rename(s.abs(rel), qabs); err != nil {
		return fmt.Errorf("record: quarantine: %w", err)
	}
	cam := strings.SplitN(rel, "/", 2)[0]
	if sg != nil {
		if _, err := s.pool.Exec(ctx, `update recording_segments set status = 'quarantined', path = $2 where id = $1`,
			sg.ID, qrel); err != nil {
			return fmt.Errorf("record: quarantine: %w", err)
		}
	}
	s.raise(Alarm{Kind: AlarmQuarantined, CameraID: cam, Path: qrel, Detail: why})
	return nil
}

// Verify reads a segment of this node completely, checking every chunk
// and its SHA-256 against the index. A mismatch raises AlarmTampered.
func (s *Store) Verify(ctx context.Context, seg Segment) error {
	r, err := s.OpenSegment(ctx, seg)
	if err == nil {
		defer r.Close()
		for {
			if _, err = r.Next(); err != nil {
				break
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
	}
	if errors.Is(err, ErrTampered) {
		s.raise(Alarm{Kind: AlarmTampered, CameraID: seg.CameraID, Path: seg.Path, Detail: err.Error()})
	}
	return err
}
