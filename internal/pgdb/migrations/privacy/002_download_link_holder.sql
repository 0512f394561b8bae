-- A download link lives only while the one who made it may still export
-- (package internal/revoke): it records their account, the login session
-- it was made in and the permissions that allowed it. The download is
-- refused once that session ended, the account was disabled or none of the
-- permissions is granted any more on the link's cameras. Links made before
-- this migration have no holder and are refused (make the export again).
alter table privacy_download_links
    add column user_id     text not null default '',
    add column session_id  text not null default '',
    add column permissions text[] not null default '{}';
