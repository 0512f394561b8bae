-- The recording packages (stream/record, stream/playback) own this directory.
--
-- recording_keys: one data key per camera per day (Config.Location days),
-- wrapped (AES-256-GCM) by the node's key-encryption key, which is not in
-- the database. Destroying a key (crypto-shredding) overwrites wrapped with
-- NULL and stamps destroyed_at/destroyed_cycle; the row stays as the record
-- that the key existed and was destroyed. A partial unique index keeps one
-- live key per camera-day.
create table recording_keys (
    id              text primary key check (id <> ''),
    camera_id       text not null check (camera_id <> ''),
    day             date not null,
    wrapped         bytea,
    kek_id          text not null default '',
    created_at      timestamptz not null default now(),
    destroyed_at    timestamptz,
    destroyed_cycle text not null default '',
    check ((wrapped is null) = (destroyed_at is not null))
);
create unique index recording_keys_live on recording_keys (camera_id, day) where wrapped is not null;

-- recording_segments: the index of encrypted fMP4 segments. path is relative
-- to the storage directory of node. sha256 is the digest of the whole file
-- (ciphertext). chain links the segments of a camera-hour on a node:
-- chain = SHA-256("gwanje.recording.segment.v1\n" || previous chain || fields);
-- a signed manifest (recording_manifests) covers them. status: ok, missing
-- (the file disappeared: found by the start-up check), quarantined (the
-- file failed verification and was moved aside).
create table recording_segments (
    id           bigserial primary key,
    camera_id    text not null check (camera_id <> ''),
    node         text not null check (node <> ''),
    start_at     timestamptz not null,
    end_at       timestamptz not null,
    path         text not null check (path <> ''),
    size         bigint not null check (size >= 0),
    sha256       bytea not null check (length(sha256) = 32),
    key_id       text not null references recording_keys (id),
    codec        text not null default '',
    frames       integer not null default 0,
    hour         timestamptz not null,
    chain        bytea not null check (length(chain) = 32),
    manifest_id  bigint,
    status       text not null default 'ok' check (status in ('ok', 'missing', 'quarantined')),
    created_at   timestamptz not null default now(),
    check (end_at >= start_at),
    unique (node, path)
);
create index recording_segments_camera_time on recording_segments (camera_id, start_at);
create index recording_segments_key on recording_segments (key_id);
create index recording_segments_unsigned on recording_segments (node, camera_id, hour) where manifest_id is null;

-- recording_manifests: Ed25519-signed manifests of a camera-hour on a node
-- (chain of custody). payload is the canonical JSON that was signed; a later
-- manifest of the same camera-hour (after a restart) supersedes earlier ones
-- and covers all their segments.
create table recording_manifests (
    id          bigserial primary key,
    camera_id   text not null,
    node        text not null,
    hour        timestamptz not null,
    segments    integer not null,
    head        bytea not null check (length(head) = 32),
    payload     text not null,
    public_key  bytea not null check (length(public_key) = 32),
    signature   bytea not null check (length(signature) = 64),
    signed_at   timestamptz not null default now()
);
create index recording_manifests_hour on recording_manifests (camera_id, hour);

-- recording_holds: legal holds. Footage of the cameras overlapping
-- [from_at, to_at) is kept past retention while the hold is active
-- (released_at is null and (until_at is null or until_at > now)).
-- An empty cameras array is not allowed: a hold names its cameras.
create table recording_holds (
    id          text primary key check (id <> ''),
    cameras     text[] not null check (cardinality(cameras) > 0),
    from_at     timestamptz not null,
    to_at       timestamptz not null,
    case_ref    text not null check (case_ref <> ''),
    reason      text not null check (reason <> ''),
    created_by  text not null check (created_by <> ''),
    created_at  timestamptz not null default now(),
    until_at    timestamptz,
    released_at timestamptz,
    released_by text not null default '',
    release_reason text not null default '',
    check (to_at > from_at)
);
create index recording_holds_cameras on recording_holds using gin (cameras);

-- recording_nodes: recorder/playback nodes and the RTSP base URL of their
-- playback server, so a ticket points at the node that holds the files.
create table recording_nodes (
    node         text primary key check (node <> ''),
    playback_url text not null default '',
    updated_at   timestamptz not null default now()
);

-- recording_playback_tickets: one-time playback tickets (like
-- stream_tickets, which has no footage range). Only the SHA-256 of the
-- token is stored.
create table recording_playback_tickets (
    hash        bytea primary key check (length(hash) = 32),
    user_id     text not null check (user_id <> ''),
    username    text not null default '',
    session_id  text not null default '',
    camera_id   text not null check (camera_id <> ''),
    from_at     timestamptz not null,
    to_at       timestamptz not null,
    purpose     text not null default '',
    audit_seq   bigint not null check (audit_seq > 0),
    node        text not null default '',
    created_at  timestamptz not null default now(),
    expires_at  timestamptz not null,
    used_at     timestamptz,
    used_by     text not null default '',
    check (to_at > from_at),
    check (expires_at > created_at)
);
create index recording_playback_tickets_expires on recording_playback_tickets (expires_at);
