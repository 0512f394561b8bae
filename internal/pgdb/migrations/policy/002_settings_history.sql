-- Institution settings editable through the API, recorded with each
-- version; and the revisions a city published before it used gwanje.

-- policy_settings holds the current institution settings (one row). Until a
-- manager changes them, the server's flags and YAML are the settings.
create table policy_settings (
    id         boolean primary key default true check (id),
    settings   jsonb not null,
    updated_at timestamptz not null default now(),
    updated_by text not null default ''
);

-- institution: the settings a version was published with (null for
-- versions published before settings were recorded).
alter table policy_versions add column institution jsonb;

-- policy_prior_versions are the city's earlier revisions (번호, 공고일자,
-- 시행일자, 제·개정 내용 and the earlier document's text where it has it),
-- imported before its first gwanje version, which numbers on from them.
create table policy_prior_versions (
    number       integer primary key check (number > 0),
    announced_on date not null,
    effective_on date not null check (effective_on >= announced_on),
    revision     text not null check (revision <> ''),
    document     text not null default '',
    imported_at  timestamptz not null default now(),
    imported_by  text not null default ''
);
