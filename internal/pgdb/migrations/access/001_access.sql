-- Access control (package accesscontrol): organizations, users, sessions,
-- roles, grants, deny rules, contractor contracts and a change counter.
-- Nothing here is ever deleted: disabled users, revoked grants and ended
-- contracts keep their rows so that history stays readable.

-- access_version is bumped in the same transaction as every change; processes
-- that hold an in-memory snapshot poll it (or are told through NATS) and
-- reload when it moved.
create table access_version (
    id      boolean primary key default true check (id),
    version bigint not null default 1
);
insert into access_version default values;

create table access_orgs (
    id         uuid primary key default gen_random_uuid(),
    kind       text not null check (kind in ('department', 'police', 'contractor')),
    name       text not null unique check (name <> ''),
    created_at timestamptz not null default now()
);

create table access_users (
    id                   uuid primary key default gen_random_uuid(),
    username             text not null unique check (username ~ '^[a-z0-9][a-z0-9._-]{1,63}$'),
    display_name         text not null default '',
    email                text not null default '',
    phone                text not null default '',
    org_id               uuid not null references access_orgs (id),
    -- PHC string: $argon2id$v=19$m=...,t=...,p=...$salt$hash
    password_hash        text not null,
    must_change_password boolean not null default false,
    password_changed_at  timestamptz not null default now(),
    -- TOTP secret, sealed with AES-GCM when a key is configured.
    totp_secret          bytea,
    totp_enabled         boolean not null default false,
    totp_last_counter    bigint not null default 0,
    failed_logins        integer not null default 0,
    locked_until         timestamptz,
    last_login_at        timestamptz,
    disabled_at          timestamptz,
    disabled_reason      text not null default '',
    created_at           timestamptz not null default now(),
    updated_at           timestamptz not null default now()
);
create index access_users_org on access_users (org_id);

create table access_sessions (
    id            uuid primary key default gen_random_uuid(),
    user_id       uuid not null references access_users (id),
    -- SHA-256 of the 32-byte random token; the token itself is never stored.
    token_hash    bytea not null unique check (length(token_hash) = 32),
    client_addr   text not null default '',
    created_at    timestamptz not null,
    last_seen_at  timestamptz not null,
    expires_at    timestamptz not null,
    revoked_at    timestamptz,
    revoke_reason text not null default ''
);
create index access_sessions_user on access_sessions (user_id) where revoked_at is null;

create table access_roles (
    name        text primary key check (name ~ '^[a-z][a-z0-9_-]{1,31}$'),
    description text not null default '',
    permissions text[] not null default '{}',
    builtin     boolean not null default false,
    updated_at  timestamptz not null default now()
);

create table access_grants (
    id               uuid primary key default gen_random_uuid(),
    user_id          uuid not null references access_users (id),
    role             text not null references access_roles (name),
    scope_all        boolean not null default false,
    sites            text[] not null default '{}',
    cameras          text[] not null default '{}',
    departments      text[] not null default '{}',
    purposes         text[] not null default '{}',
    not_before       timestamptz,
    expires_at       timestamptz,
    -- allowed hours of day [hours_from, hours_to) in the configured time
    -- zone; both null means any hour; from > to wraps past midnight.
    hours_from       smallint check (hours_from between 0 and 23),
    hours_to         smallint check (hours_to between 1 and 24),
    max_playback_age interval,
    granted_by       uuid references access_users (id),
    reason           text not null check (reason <> ''),
    created_at       timestamptz not null default now(),
    revoked_at       timestamptz,
    revoked_by       uuid references access_users (id),
    revoke_reason    text not null default '',
    check ((hours_from is null) = (hours_to is null)),
    check (expires_at is null or not_before is null or expires_at > not_before)
);
create index access_grants_user on access_grants (user_id) where revoked_at is null;

-- Deny rules win over every grant. A rule matches a camera by id, site or
-- label (any of them), for the listed users and roles (both empty: everyone)
-- and the listed permissions (empty: every camera permission).
create table access_deny_rules (
    id            uuid primary key default gen_random_uuid(),
    cameras       text[] not null default '{}',
    sites         text[] not null default '{}',
    labels        text[] not null default '{}',
    users         uuid[] not null default '{}',
    roles         text[] not null default '{}',
    permissions   text[] not null default '{}',
    reason        text not null check (reason <> ''),
    created_by    uuid references access_users (id),
    created_at    timestamptz not null default now(),
    revoked_at    timestamptz,
    revoked_by    uuid references access_users (id),
    revoke_reason text not null default ''
);

-- A contractor company's outsourcing contract (위탁계약). The five clause
-- columns record what the contract says on each item that a CCTV
-- outsourcing contract must contain.
create table access_contracts (
    id                     uuid primary key default gen_random_uuid(),
    org_id                 uuid not null references access_orgs (id),
    title                  text not null check (title <> ''),
    sites                  text[] not null default '{}',
    starts_at              timestamptz not null,
    ends_at                timestamptz not null check (ends_at > starts_at),
    contact_name           text not null default '',
    contact_phone          text not null default '',
    clause_purpose_scope   text not null default '',
    clause_subcontracting  text not null default '',
    clause_access_safeguards text not null default '',
    clause_inspection      text not null default '',
    clause_liability       text not null default '',
    ended_at               timestamptz,
    end_reason             text not null default '',
    created_by             uuid references access_users (id),
    created_at             timestamptz not null default now(),
    updated_at             timestamptz not null default now()
);
create index access_contracts_org on access_contracts (org_id);

insert into access_roles (name, description, permissions, builtin) values
('operator', '관제요원: watches live video and plays back footage of the cameras in scope, moves PTZ cameras, acknowledges alarms',
 '{live.view,playback.view,ptz.control,snapshot.view,device.read,health.read,alarm.ack}', true),
('manager', '관리책임자: owns a department''s cameras; approves exports, handles subject requests, ends others'' live sessions',
 '{live.view,playback.view,snapshot.view,export.request,export.approve,device.read,health.read,alarm.ack,report.read,request.handle,session.manage}', true),
('police', '상주 경찰관: views for investigations and requests exports with an official letter',
 '{live.view,playback.view,snapshot.view,export.request,device.read}', true),
('technician', '기술자: discovers, registers and configures cameras, checks health; no footage',
 '{device.read,device.discover,device.register,device.configure,health.read,alarm.ack}', true),
('contractor', '위탁업체 정비요원: maintains the cameras of contracted sites; live view only to check a repair; never playback or export',
 '{live.view,device.read,device.configure,health.read}', true),
('auditor', '감사자 / 개인정보 보호책임자: reads and verifies the audit trail, runs reports',
 '{audit.read,audit.verify,report.read}', true),
('admin', '시스템관리자: runs the system and manages accounts, grants and contracts; no footage (separation of duties)',
 '{user.manage,grant.manage,contract.manage,session.manage,device.read,health.read}', true);
