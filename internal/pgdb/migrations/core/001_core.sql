-- Core: facts about this installation.
create table installation (
    id          boolean primary key default true check (id),
    created_at  timestamptz not null default now(),
    instance_id uuid not null default gen_random_uuid()
);
insert into installation default values;
