-- recording_fences: the recorder pool's fencing (stream/record, pool.go).
-- A recorder that takes a camera's lease (events/lease, bucket
-- GWANJE_RECORDER_LEASES) writes one row before it records: the lease's
-- (epoch, token), its node, and since, the moment from which it records.
-- A segment is indexed only if no later lease of the camera, held by
-- another node, began before the segment ends (checked in the transaction
-- of the index row, under an advisory lock per camera), so a recorder that
-- was cut off and comes back never indexes time another node holds.
create table recording_fences (
    camera_id  text not null check (camera_id <> ''),
    epoch      bigint not null,
    token      bigint not null check (token > 0),
    node       text not null check (node <> ''),
    since      timestamptz not null,
    created_at timestamptz not null default now(),
    primary key (camera_id, epoch, token)
);
create index recording_fences_since on recording_fences (camera_id, since);
