-- Health (package devices/health): camera status history for availability
-- reports, and alarms. Camera ids are the registry's ids as text; this
-- schema does not refer to the devices tables.

-- One row per status message (transition, or update of the same state)
-- consumed from JetStream; inserting the same message twice is a no-op.
create table health_status_history (
    camera_id         text not null check (camera_id <> ''),
    observed_at       timestamptz not null,
    state             text not null check (state <> ''),
    previous_state    text not null default '',
    since             timestamptz not null,
    cause             text not null default '',
    latency_ms        double precision,
    clock_offset_ms   double precision,
    clock_drift_since timestamptz,
    site              text not null default '',
    department        text not null default '',
    worker            text not null default '',
    stream_seq        bigint not null,
    recorded_at       timestamptz not null default now(),
    primary key (camera_id, observed_at)
);
create index health_status_history_since on health_status_history (camera_id, since);
create index health_status_history_time on health_status_history (since);

-- Alarms: at most one open (not cleared) alarm per camera and kind.
-- version counts changes; published_version is the last version published
-- to NATS (an outbox: unpublished changes are published again).
create table health_alarms (
    id                   uuid primary key default gen_random_uuid(),
    camera_id            text not null check (camera_id <> ''),
    kind                 text not null check (kind in ('offline', 'clock_drift')),
    cause                text not null default '',
    condition_since      timestamptz not null,
    raised_at            timestamptz not null default now(),
    acknowledged_at      timestamptz,
    acknowledged_by      text not null default '',
    acknowledged_by_name text not null default '',
    acknowledge_note     text not null default '',
    cleared_at           timestamptz,
    site                 text not null default '',
    department           text not null default '',
    version              bigint not null default 1,
    published_version    bigint not null default 0
);
create unique index health_alarms_open on health_alarms (camera_id, kind) where cleared_at is null;
create index health_alarms_unpublished on health_alarms (raised_at) where published_version < version;
create index health_alarms_camera on health_alarms (camera_id, raised_at);
