-- The audit package owns this directory. See audit/FORMAT.md for the design:
-- a hash-chained, append-only log partitioned by month, a single-row chain
-- head, signed checkpoints, a sequence-cursor outbox and a retention record.

-- Refuses any change to an append-only table. Bypassed only by a superuser
-- (session_replication_role = replica, or disabling the trigger), which
-- Verify then detects.
create function audit_refuse_change() returns trigger language plpgsql as $$
begin
    raise exception 'audit: % on % refused: the audit log is append-only', tg_op, tg_table_name
        using errcode = 'insufficient_privilege';
end
$$;

-- The chain head: the sequence number, hash and log time of the last entry.
-- Every append locks this one row, so appends from any number of writers and
-- processes are serialized into one chain.
create table audit_head (
    id        boolean primary key default true check (id),
    seq       bigint not null,
    hash      bytea not null,
    logged_at timestamptz not null
);
insert into audit_head (seq, hash, logged_at)
values (0, '\x0000000000000000000000000000000000000000000000000000000000000000', 'epoch');

create table audit_entry (
    seq          bigint not null,
    logged_at    timestamptz not null, -- store time, never decreasing with seq; partition key
    time         timestamptz not null, -- time of the action
    type         text not null,
    outcome      text not null,
    user_id      text not null,
    username     text not null,
    role         text not null,
    org          text not null,
    client_addr  text not null,
    session_id   text not null,
    cameras      text[] not null,
    footage_from timestamptz,
    footage_to   timestamptz,
    live         boolean not null,
    purpose      text not null,
    purpose_text text not null,
    reason       text not null,
    request_id   text not null,
    details      text not null,        -- canonical JSON object, hashed byte for byte
    prev_hash    bytea not null,
    hash         bytea not null,
    primary key (seq, logged_at)
) partition by range (logged_at);
create index audit_entry_time on audit_entry (time);
create index audit_entry_user on audit_entry (user_id, time);
create index audit_entry_cameras on audit_entry using gin (cameras);

create trigger audit_entry_append_only before update or delete on audit_entry
    for each row execute function audit_refuse_change();
create trigger audit_entry_no_truncate before truncate on audit_entry
    for each statement execute function audit_refuse_change();

-- audit_ensure_partition creates the partition holding the UTC month of m
-- (with its own truncate guard: statement triggers are not inherited) and
-- returns its name. Safe to call concurrently.
create function audit_ensure_partition(m timestamptz) returns text language plpgsql as $$
declare
    lo   timestamptz := date_trunc('month', m at time zone 'UTC') at time zone 'UTC';
    hi   timestamptz := (date_trunc('month', m at time zone 'UTC') + interval '1 month') at time zone 'UTC';
    name text := 'audit_entry_' || to_char(m at time zone 'UTC', 'YYYY_MM');
begin
    if to_regclass(name) is not null then
        return name;
    end if;
    begin
        execute format('create table %I partition of audit_entry for values from (%L) to (%L)', name, lo, hi);
        execute format('create trigger audit_no_truncate before truncate on %I for each statement execute function audit_refuse_change()', name);
    exception when duplicate_table or duplicate_object then
        null; -- another process made it
    end;
    return name;
end
$$;

-- Signed checkpoints: (seq, hash, logged_at) of the chain at some point,
-- signed with Ed25519. See FORMAT.md for the signed message.
create table audit_checkpoint (
    seq        bigint primary key,
    hash       bytea not null,
    logged_at  timestamptz not null,
    public_key bytea not null,
    signature  bytea not null,
    created_at timestamptz not null default now()
);
create trigger audit_checkpoint_append_only before update or delete on audit_checkpoint
    for each row execute function audit_refuse_change();
create trigger audit_checkpoint_no_truncate before truncate on audit_checkpoint
    for each statement execute function audit_refuse_change();

-- Months dropped by retention: the last dropped entry anchors the chain of
-- what remains.
create table audit_retention (
    month      timestamptz primary key,
    first_seq  bigint not null,
    last_seq   bigint not null,
    last_hash  bytea not null,
    entries    bigint not null,
    dropped_at timestamptz not null default now(),
    dropped_by text not null
);
create trigger audit_retention_append_only before update or delete on audit_retention
    for each row execute function audit_refuse_change();
create trigger audit_retention_no_truncate before truncate on audit_retention
    for each statement execute function audit_refuse_change();

-- The outbox cursor: every entry with seq <= this one has been published.
create table audit_outbox (
    id  boolean primary key default true check (id),
    seq bigint not null
);
insert into audit_outbox (seq) values (0);

-- Privileges: an application role (created by the operator, see FORMAT.md)
-- may read and insert, never change or remove.
do $$
begin
    if exists (select 1 from pg_roles where rolname = 'gwanje_app') then
        revoke all on audit_entry, audit_checkpoint, audit_retention from gwanje_app;
        grant select, insert on audit_entry, audit_checkpoint, audit_retention to gwanje_app;
        grant select, update on audit_head, audit_outbox to gwanje_app;
    end if;
end
$$;
