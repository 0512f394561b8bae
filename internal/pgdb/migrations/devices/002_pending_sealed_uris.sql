-- Registration in a pending state: the reasons why the camera could not be
-- fully checked at registration (its stream was not reachable yet). Empty
-- once health sees the camera up.
alter table devices_cameras add column pending_reasons text[] not null default '{}';

-- URIs that carry credentials in their path or query, sealed like the
-- credentials (AES-256-GCM under the key named by uri_key_id, the camera id
-- and "/uris" as additional data): a JSON object of "stream:<profile token>"
-- and "snapshot" to the URI. stream_uri, snapshot_uri and profiles hold them
-- redacted. Rows registered before this migration are sealed by
-- Registry.SealURIs at start.
alter table devices_cameras add column uri_key_id text;
alter table devices_cameras add column uri_sealed bytea;
alter table devices_cameras add constraint devices_cameras_uri_sealed check ((uri_key_id is null) = (uri_sealed is null));
