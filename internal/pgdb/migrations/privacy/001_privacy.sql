-- Privacy (packages privacy/requests and privacy/export): subject requests
-- (정보주체 열람·존재확인·삭제 청구), third-party provisions (제3자 제공) with
-- four-eyes approval, the exports made for them and their one-time
-- download links. Every change to these rows is written together with its
-- audit entry (audit.AppendTx) in one transaction.

create table privacy_subject_requests (
    id                   text primary key,
    kind                 text not null check (kind in ('view', 'confirm', 'delete')),
    status               text not null default 'open'
                         check (status in ('open', 'postponed', 'decided', 'closed')),
    requester_name       text not null check (requester_name <> ''),
    requester_contact    text not null check (requester_contact <> ''),
    agent_relation       text not null default '',
    power_of_attorney    text not null default '',
    identity_method      text not null check (identity_method <> ''),
    identity_verified_by text not null check (identity_verified_by <> ''),
    cameras              text[] not null,
    site                 text not null default '',
    place                text not null default '',
    from_at              timestamptz not null,
    to_at                timestamptz not null check (to_at > from_at),
    description          text not null default '',
    received_at          timestamptz not null,
    received_by          text not null,
    deadline_at          timestamptz not null,
    hold_id              text not null default '',
    reminded_at          timestamptz,
    overdue_alarmed_at   timestamptz,
    -- the decision (one of view_notice, postpone, refuse, partial_refuse,
    -- destroyed, confirmed, deleted)
    decision             text not null default '',
    decided_at           timestamptz,
    decided_by           text not null default '',
    reason_code          text not null default '',
    reason_text          text not null default '',
    objection            text not null default '',
    viewing_at           timestamptz,
    viewing_place        text not null default '',
    postponed_until      timestamptz,
    result               jsonb not null default '{}',
    closed_at            timestamptz,
    closed_by            text not null default '',
    updated_at           timestamptz not null default now()
);
create index privacy_subject_requests_open on privacy_subject_requests (deadline_at) where decided_at is null;
create index privacy_subject_requests_received on privacy_subject_requests (received_at);

create table privacy_provisions (
    id                    text primary key,
    status                text not null default 'requested'
                          check (status in ('requested', 'approved', 'rejected', 'closed')),
    recipient_org         text not null check (recipient_org <> ''),
    recipient_unit        text not null default '',
    recipient_rank        text not null default '',
    recipient_name        text not null check (recipient_name <> ''),
    recipient_contact     text not null check (recipient_contact <> ''),
    letter_no             text not null default '',
    letter_received_at    timestamptz,
    reason                text not null check (reason <> ''),
    basis                 text not null,
    cameras               text[] not null,
    from_at               timestamptz not null,
    to_at                 timestamptz not null check (to_at > from_at),
    form                  text not null check (form in ('video', 'still')),
    delivery              text not null check (delivery in ('download', 'media')),
    use_until             timestamptz not null,
    safeguards            text not null default '',
    masks                 jsonb not null default '[]',
    purpose               text not null,
    requested_by          text not null,
    requested_by_name     text not null,
    requested_at          timestamptz not null,
    approved_by           text not null default '',
    approved_by_name      text not null default '',
    approved_at           timestamptz,
    emergency             boolean not null default false,
    rejected_reason       text not null default '',
    hold_id               text not null default '',
    outcome               text not null default '',
    outcome_at            timestamptz,
    recipient_destroyed_at timestamptz,
    recipient_destroyed_note text not null default '',
    closed_at             timestamptz,
    updated_at            timestamptz not null default now()
);
create index privacy_provisions_requested on privacy_provisions (requested_at);
create index privacy_provisions_letter on privacy_provisions (approved_at) where emergency and letter_received_at is null;

create table privacy_exports (
    id            text primary key,
    provision_id  text references privacy_provisions (id),
    request_id    text references privacy_subject_requests (id),
    camera_id     text not null,
    from_at       timestamptz not null,
    to_at         timestamptz not null,
    form          text not null,
    file_name     text not null,
    path          text not null,
    size          bigint not null,
    sha256        bytea not null,
    manifest      bytea not null,
    created_at    timestamptz not null,
    created_by    text not null,
    destroyed_at  timestamptz,
    check ((provision_id is null) <> (request_id is null))
);
create index privacy_exports_provision on privacy_exports (provision_id);
create index privacy_exports_request on privacy_exports (request_id);

-- One-time download links: only the SHA-256 of the token is stored.
create table privacy_download_links (
    token_hash    bytea primary key,
    export_id     text not null references privacy_exports (id),
    created_at    timestamptz not null,
    created_by    text not null,
    expires_at    timestamptz not null,
    used_at       timestamptz,
    used_from     text not null default '',
    -- the audit entry written (committed before the first byte) when the
    -- link is used: export.provide for a provision, request.copy for a
    -- copy given to a subject; its ledger details (file, recipient, basis,
    -- form, period) are fixed when the link is made.
    entry_type    text not null,
    entry         jsonb not null default '{}'
);
create index privacy_download_links_export on privacy_download_links (export_id);
