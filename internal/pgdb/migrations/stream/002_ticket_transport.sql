-- A ticket is bound to the transport it was issued for (rtsp: the relay's
-- RTSP server; webrtc: the node's WHEP endpoint) and names the live view it
-- opens, so that StartLiveView can return the view's id before it opens
-- (StopLiveView, SwitchLiveProfile).
alter table stream_tickets
    add column transport text not null default 'rtsp' check (transport in ('rtsp', 'webrtc')),
    add column view_id   text not null default '';
