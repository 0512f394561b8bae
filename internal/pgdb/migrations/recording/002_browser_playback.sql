-- Browser playback (fMP4 over HTTPS for Media Source Extensions): the
-- HTTPS base URL of each node's playback, and the transport a ticket opens
-- (an RTSP ticket opens no browser session and the other way round).
alter table recording_nodes add column browser_url text not null default '';
alter table recording_playback_tickets add column transport text not null default 'rtsp'
    check (transport in ('rtsp', 'mse'));
