-- Policy (package privacy/policy): published versions of the CCTV
-- 운영·관리 방침. A version is immutable once stored: the triggers below
-- refuse every update, delete and truncate, so the revision history
-- (개정 연혁) and each version's 전·후 비교 stay as they were announced.

create table policy_versions (
    number        integer primary key check (number > 0),
    published_at  timestamptz not null default now(),
    announced_on  date not null,
    effective_on  date not null check (effective_on >= announced_on),
    urgent_reason text not null default '',
    revision      text not null check (revision <> ''),
    published_by  text not null default '',
    content_hash  bytea not null,
    -- document: the canonical clauses (id, item, title, kind, blocks, lines).
    document      jsonb not null,
    -- changes: the 전·후 비교 against the previous version.
    changes       jsonb not null default '[]',
    html          text not null,
    markdown      text not null,
    -- at least 7 days between announcement and effect, unless urgent.
    check (effective_on >= announced_on + 7 or urgent_reason <> '')
);
create index policy_versions_effective on policy_versions (effective_on, number);

create function policy_versions_immutable() returns trigger language plpgsql as $$
begin
    raise exception 'policy versions are immutable' using errcode = 'integrity_constraint_violation';
end $$;

create trigger policy_versions_no_update before update or delete on policy_versions
    for each row execute function policy_versions_immutable();
create trigger policy_versions_no_truncate before truncate on policy_versions
    for each statement execute function policy_versions_immutable();
