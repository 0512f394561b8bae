-- Alarms raised by other components than the health workers, through the
-- same table, outbox and events: the recorder (per camera: a segment
-- quarantined, missing, not written or failing verification; per node:
-- storage full, footage kept past retention). source names what raised
-- the alarm ('' for camera health, 'recorder/<node>'); an alarm about a
-- node or the system has camera_id ''. Kinds are checked by the code that
-- raises them. Event-like alarms (clear_on_ack) are cleared when
-- acknowledged; another occurrence while one is open counts in
-- occurrences.
alter table health_alarms drop constraint health_alarms_kind_check;
alter table health_alarms add constraint health_alarms_kind_check check (kind ~ '^[a-z][a-z0-9_]{0,39}$');
alter table health_alarms drop constraint health_alarms_camera_id_check;
alter table health_alarms add column source text not null default '';
alter table health_alarms add column occurrences integer not null default 1;
alter table health_alarms add column clear_on_ack boolean not null default false;
alter table health_alarms add constraint health_alarms_subject_check check (camera_id <> '' or source <> '');
drop index health_alarms_open;
create unique index health_alarms_open on health_alarms (camera_id, source, kind) where cleared_at is null;
