-- Devices (package devices): the camera registry. Sites (개소) hold cameras
-- (대수). Organizations and departments are plain strings (ids or names of
-- the accesscontrol package's organizations); this schema does not refer to
-- its tables. Nothing here is ever deleted: a decommissioned camera keeps its
-- row, because footage and audit records refer to it.

create table devices_sites (
    id               uuid primary key,
    seq              bigint generated always as identity unique,
    name             text not null check (name <> ''),
    -- 관리번호 of the open-data standard; unique when set.
    management_no    text,
    org              text not null default '',   -- 관리기관 (id or name)
    org_phone        text not null default '',   -- 관리기관전화번호
    department       text not null default '',
    road_address     text not null default '',
    lot_address      text not null default '',
    latitude         double precision check (latitude between -90 and 90),
    longitude        double precision check (longitude between -180 and 180),
    contractor_id      text not null default '',
    contractor_name    text not null default '',
    contractor_contact text not null default '',
    contractor_phone   text not null default '',
    open_data        jsonb not null default '{}', -- extra open-data columns kept on import
    created_at       timestamptz not null default now(),
    updated_at       timestamptz not null default now()
);
create unique index devices_sites_management_no on devices_sites (management_no) where management_no is not null;

create table devices_cameras (
    id                  uuid primary key,
    seq                 bigint generated always as identity unique,
    site_id             uuid not null references devices_sites (id),
    name                text not null check (name <> ''),
    management_no       text,
    purpose             text not null check (purpose <> ''),    -- local category, e.g. 방범
    national_purpose    text not null check (national_purpose <> ''), -- 설치목적구분
    legal_basis         smallint not null check (legal_basis between 1 and 5),
    road_address        text not null default '',
    lot_address         text not null default '',
    latitude            double precision check (latitude between -90 and 90),
    longitude           double precision check (longitude between -180 and 180),
    coverage            text not null default '',
    resolution          integer not null default 0 check (resolution >= 0), -- 카메라화소수 (200 = 2 MP)
    direction           text not null default '',
    install_ym          text not null default '' check (install_ym = '' or install_ym ~ '^[0-9]{6}$'),
    schedule            text not null default '24시간',
    -- null = not stored (미보유)
    retention_days      integer check (retention_days between 1 and 3650),
    retention_reason    text not null default '',
    storage_place       text not null default '',
    monitoring_method   text not null default '',
    monitoring_place    text not null default '',
    org                 text not null default '',
    department          text not null default '',
    manager             text not null default '',
    manager_phone       text not null default '',
    access_persons      text[] not null default '{}',
    signage             text not null default 'sign' check (signage in ('sign', 'homepage', 'exempt')),
    labels              text[] not null default '{}',
    lifecycle           text not null default 'active'
                        check (lifecycle in ('planned', 'active', 'maintenance', 'decommissioned')),
    decommissioned_at   timestamptz,
    decommission_reason text not null default '',
    -- ONVIF facts
    device_url          text,
    endpoint_ref        text,
    manufacturer        text not null default '',
    model               text not null default '',
    firmware            text not null default '',
    serial              text not null default '',
    hardware_id         text not null default '',
    profiles            jsonb not null default '[]',
    profile_token       text not null default '',
    stream_uri          text not null default '',
    snapshot_uri        text not null default '',
    ptz                 boolean not null default false,
    clock_offset_ms     bigint,
    registered_at       timestamptz,
    -- Credentials sealed with AES-256-GCM (nonce || ciphertext, the camera id
    -- as additional data) under the key named by cred_key_id.
    cred_key_id         text,
    cred_sealed         bytea,
    created_at          timestamptz not null default now(),
    updated_at          timestamptz not null default now(),
    check ((cred_key_id is null) = (cred_sealed is null)),
    check ((latitude is null) = (longitude is null))
);
create index devices_cameras_site on devices_cameras (site_id);
create index devices_cameras_purpose on devices_cameras (purpose);
create index devices_cameras_department on devices_cameras (department);
create index devices_cameras_lifecycle on devices_cameras (lifecycle);
create index devices_cameras_labels on devices_cameras using gin (labels);
-- A device URL or endpoint reference names one live camera at a time.
create unique index devices_cameras_device_url on devices_cameras (device_url)
    where device_url is not null and lifecycle <> 'decommissioned';
create unique index devices_cameras_endpoint_ref on devices_cameras (endpoint_ref)
    where endpoint_ref is not null and lifecycle <> 'decommissioned';
