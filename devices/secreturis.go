package devices

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"

	"github.com/jackc/pgx/v5"

	"github.com/gwanje/gwanje/internal/redact"
)

// Some cameras put their credentials in the path or query of a stream or
// snapshot URI (rtsp://h:554/user=admin_password=secret_channel=1_stream=0.sdp).
// Such URIs are camera secrets: the registry keeps them sealed (uri_sealed,
// see secretURIs) and shows, stores in clear and logs only their redacted
// forms (package redact). The server-side readers (Upstream, ProbeTargets,
// Snapshot) get the real ones.

// stripUserinfo drops the user info of a URI: the registry's credentials
// are used instead.
func stripUserinfo(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	u.User = nil
	return u.String()
}

func streamKey(token string) string { return "stream:" + token }

const snapshotKey = "snapshot"

// splitSecretURIs returns d with every URI that carries credentials
// replaced by its redacted form, and the real ones by key (nil when none).
func splitSecretURIs(d DeviceFacts) (DeviceFacts, secretURIs) {
	sec := secretURIs{}
	d.Profiles = append([]Profile(nil), d.Profiles...)
	for i := range d.Profiles {
		p := &d.Profiles[i]
		if redact.Contains(p.StreamURI) {
			sec[streamKey(p.Token)] = p.StreamURI
			p.StreamURI = redact.URL(p.StreamURI)
		}
	}
	if redact.Contains(d.StreamURI) {
		sec[streamKey(d.ProfileToken)] = d.StreamURI
		d.StreamURI = redact.URL(d.StreamURI)
	}
	if redact.Contains(d.SnapshotURI) {
		sec[snapshotKey] = d.SnapshotURI
		d.SnapshotURI = redact.URL(d.SnapshotURI)
	}
	if len(sec) == 0 {
		return d, nil
	}
	return d, sec
}

// secretURIs returns the sealed URIs of a camera (nil when it has none).
func (r *Registry) secretURIs(ctx context.Context, id string) (secretURIs, error) {
	var keyID *string
	var sealed []byte
	err := r.db.QueryRow(ctx, `select uri_key_id, uri_sealed from devices_cameras where id=$1`, id).Scan(&keyID, &sealed)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%w: camera %s", ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("devices: stream URIs: %w", err)
	}
	if keyID == nil {
		return nil, nil
	}
	u, err := r.sealer.openURIs(id, *keyID, sealed)
	if err != nil {
		return nil, fmt.Errorf("devices: %w", err)
	}
	return u, nil
}

// realURI returns the sealed URI for key when the stored one is redacted.
func realURI(stored string, sec secretURIs, key string) string {
	if v, ok := sec[key]; ok && redact.URL(v) == stored {
		return v
	}
	return stored
}

// mayCarryCredentials is a PostgreSQL regular expression that matches every
// URI redact.URL changes (and some more): the rows SealURIs looks at.
const mayCarryCredentials = `(user|usr|uid|login|pass|pwd|psw|auth|token|secret|key|sig)[a-z]*=|://[^/?#]*@`

// SealURIs moves the credentials found in the clear stream and snapshot
// URIs of cameras registered before they were sealed into the sealed
// column (uri_sealed), leaving the redacted forms, in one transaction with
// its audit entry (device.uris.seal). It is idempotent and safe to run from
// several processes at once; it returns how many cameras it changed.
func (r *Registry) SealURIs(ctx context.Context, a Actor) (int, error) {
	n := 0
	err := r.inTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `select id::text, profiles, profile_token, stream_uri, snapshot_uri
			from devices_cameras
			where uri_sealed is null and (stream_uri ~* $1 or snapshot_uri ~* $1 or profiles::text ~* $1)
			for update`, mayCarryCredentials)
		if err != nil {
			return fmt.Errorf("devices: seal URIs: %w", err)
		}
		type item struct {
			id string
			d  DeviceFacts
		}
		var items []item
		for rows.Next() {
			var it item
			var profiles []byte
			if err := rows.Scan(&it.id, &profiles, &it.d.ProfileToken, &it.d.StreamURI, &it.d.SnapshotURI); err != nil {
				rows.Close()
				return fmt.Errorf("devices: seal URIs: %w", err)
			}
			if err := json.Unmarshal(profiles, &it.d.Profiles); err != nil {
				rows.Close()
				return fmt.Errorf("devices: seal URIs: profiles of camera %s: %w", it.id, err)
			}
			items = append(items, it)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("devices: seal URIs: %w", err)
		}
		var ids []string
		for _, it := range items {
			d, sec := splitSecretURIs(it.d)
			if sec == nil {
				continue
			}
			sealed, err := r.sealer.sealURIs(it.id, sec)
			if err != nil {
				return fmt.Errorf("devices: seal URIs: %w", err)
			}
			profiles, err := json.Marshal(d.Profiles)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `update devices_cameras set profiles=$2, stream_uri=$3, snapshot_uri=$4,
					uri_key_id=$5, uri_sealed=$6 where id=$1`,
				it.id, profiles, d.StreamURI, d.SnapshotURI, r.sealer.keyID, sealed); err != nil {
				return fmt.Errorf("devices: seal URIs: %w", err)
			}
			ids = append(ids, it.id)
		}
		n = len(ids)
		if n == 0 {
			return nil
		}
		return r.audit(ctx, tx, a, "device.uris.seal", ids, map[string]any{"key_id": r.sealer.keyID, "count": n})
	})
	if err != nil {
		return 0, err
	}
	if n > 0 {
		r.log.Info("camera URIs carrying credentials sealed", "cameras", n)
	}
	return n, nil
}

// resealURIs re-encrypts under the current key the sealed URIs sealed
// under a previous key, in tx; it returns the cameras changed.
func (r *Registry) resealURIs(ctx context.Context, tx pgx.Tx) ([]string, error) {
	rows, err := tx.Query(ctx, `select id::text, uri_key_id, uri_sealed from devices_cameras
		where uri_key_id is not null and uri_key_id <> $1 for update`, r.sealer.keyID)
	if err != nil {
		return nil, fmt.Errorf("devices: reseal URIs: %w", err)
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
			return nil, fmt.Errorf("devices: reseal URIs: %w", err)
		}
		items = append(items, it)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("devices: reseal URIs: %w", err)
	}
	var ids []string
	for _, it := range items {
		u, err := r.sealer.openURIs(it.id, it.keyID, it.sealed)
		if err != nil {
			return nil, fmt.Errorf("devices: reseal URIs: %w", err)
		}
		sealed, err := r.sealer.sealURIs(it.id, u)
		if err != nil {
			return nil, fmt.Errorf("devices: reseal URIs: %w", err)
		}
		if _, err := tx.Exec(ctx, `update devices_cameras set uri_key_id=$2, uri_sealed=$3 where id=$1`,
			it.id, r.sealer.keyID, sealed); err != nil {
			return nil, fmt.Errorf("devices: reseal URIs: %w", err)
		}
		ids = append(ids, it.id)
	}
	return ids, nil
}

func unionIDs(a, b []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range append(a, b...) {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
