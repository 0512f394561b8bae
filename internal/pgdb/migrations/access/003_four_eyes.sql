-- Four eyes on footage rights (ROLES.md, "Invariants"). A grant whose role
-- gives footage rights (or grant.approve) is made 'pending' and confers
-- nothing until a second person with grant.approve approves it ('active')
-- or rejects it ('rejected'). Grants made before this migration stay active.
alter table access_grants
    add column status        text not null default 'active' check (status in ('pending', 'active', 'rejected')),
    add column decided_by    uuid references access_users (id),
    add column decided_at    timestamptz,
    add column decide_reason text not null default '';
create index access_grants_pending on access_grants (created_at) where status = 'pending' and revoked_at is null;

-- A role change that adds footage permissions (or grant.approve) waits here
-- for a second person; the rest of the change applies at once.
create table access_role_changes (
    id              uuid primary key default gen_random_uuid(),
    role            text not null references access_roles (name),
    add_permissions text[] not null check (cardinality(add_permissions) > 0),
    requested_by    uuid references access_users (id),
    reason          text not null check (reason <> ''),
    created_at      timestamptz not null default now(),
    status          text not null default 'pending' check (status in ('pending', 'approved', 'rejected')),
    decided_by      uuid references access_users (id),
    decided_at      timestamptz,
    decide_reason   text not null default ''
);
create index access_role_changes_pending on access_role_changes (created_at) where status = 'pending';

-- grant.approve: the responsible manager (관리책임자) is the second pair of
-- eyes on footage rights.
update access_roles set permissions = array_append(permissions, 'grant.approve'), updated_at = now()
where name = 'manager' and builtin and not ('grant.approve' = any (permissions));

-- The separation-of-duties invariants hold for rows edited before them.
update access_roles set permissions = array(select p from unnest(permissions) p
        where p not in ('live.view', 'playback.view', 'snapshot.view', 'ptz.control', 'export.request', 'export.approve', 'grant.approve')),
    updated_at = now()
where name in ('admin', 'auditor')
  and permissions && '{live.view,playback.view,snapshot.view,ptz.control,export.request,export.approve,grant.approve}';
update access_roles set permissions = array(select p from unnest(permissions) p
        where p not in ('playback.view', 'export.request', 'export.approve', 'grant.approve')),
    updated_at = now()
where name = 'contractor' and permissions && '{playback.view,export.request,export.approve,grant.approve}';
update access_version set version = version + 1;
