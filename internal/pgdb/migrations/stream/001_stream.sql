-- The stream package owns this directory.
--
-- stream_tickets holds the one-time tickets that let a viewer open a live
-- view on a stream node. Only the SHA-256 of the random token is stored, so a
-- leaked table does not give anyone a stream. Any node can check a ticket;
-- redeeming it is one atomic UPDATE ... WHERE used_at IS NULL AND
-- expires_at > now(), so a ticket opens at most one view. The row names the
-- audit entry (live.view.start) committed before the ticket was issued.
create table stream_tickets (
    hash         bytea primary key check (length(hash) = 32),
    user_id      text not null check (user_id <> ''),
    username     text not null default '',
    session_id   text not null default '',
    camera_id    text not null check (camera_id <> ''),
    profile      text not null check (profile <> ''),
    purpose      text not null default '',
    audit_seq    bigint not null,
    node         text not null default '',
    created_at   timestamptz not null default now(),
    expires_at   timestamptz not null,
    used_at      timestamptz,
    used_by      text not null default '',
    check (expires_at > created_at)
);

-- The sweeper deletes tickets long expired.
create index stream_tickets_expires_at on stream_tickets (expires_at);
