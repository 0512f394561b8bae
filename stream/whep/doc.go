// Package whep is gwanje's live view for browsers: a WHEP endpoint
// (WebRTC-HTTP Egress Protocol, RFC 9725) on the stream node's HTTPS
// address, behind the same one-time tickets, rights, audit and revocation
// as the RTSP relay.
//
// A viewer gets a WHEP URL from StartLiveView (transport WEBRTC):
// <https base>/whep/live/<camera>/<profile>?ticket=<token>. It POSTs its SDP
// offer there (application/sdp, at most Config.MaxOffer bytes; the ticket
// may instead be a bearer token). The server checks the ticket in the one
// ticket store (stream.Tickets, the RTSP relay's), re-decides its holder
// (internal/revoke), parses the offer, joins the camera profile's shared
// upstream as one more reader of the relay (stream.Relay.TapFromKeyframe:
// one upstream pull per camera whatever the mix of RTSP, WebRTC viewers
// and the recorder), and only then redeems the ticket, once. The answer
// (201, Location /whep/session/<key>) carries every candidate: no trickle.
// DELETE on the Location ends the session; the key is the viewer's secret,
// apart from the view's id (header Gwanje-View-Id, the session_id
// StartLiveView returned), which ListLiveSessions shows and StopLiveView
// and SwitchLiveProfile take. Tickets are bound to their transport: an
// RTSP ticket opens nothing here and a WebRTC ticket nothing at the relay.
//
// Sessions are listed with the relay's own views (Config.Views: the relay
// lists them, puts them in the view directory, ends them on StopLiveView
// and revocation, and switches their profile). A profile switch (a tile
// enlarged from sub to main) joins the other profile's shared upstream at
// its keyframe cache and continues on the same track, the RTP clock kept
// continuous; the end entry names every profile served.
//
// Bounds: offers of at most Config.MaxOffer bytes, Config.MaxSessions
// sessions per node (503 past it) and Config.MaxPerSource per source
// address (429), the source counted as internal/netlimit counts
// connections; the ICE-TCP listener takes the process's connection caps
// (Config.WrapTCP).
//
// Media: H.264 passed through without transcoding, each access unit
// repacketized (RFC 6184) with its own timestamp, parameter sets put before
// keyframes that lack them. The first frame is the keyframe cache; a viewer
// that falls behind drops frames to the next keyframe (counted), never
// blocking the camera or other viewers. The answer offers H.264 only:
// audio m-lines are rejected, so audio never leaves. H.265 profiles are not
// served over WebRTC (409); control's StartLiveView hands a browser the
// camera's H.264 profile instead and says so in its response.
//
// ICE: host candidates on one UDP port shared by every session (pion's UDP
// mux, Config.UDPAddr) and passive ICE-TCP candidates on one TCP port
// (Config.TCPAddr); STUN/TURN servers (Config.ICEServers) and public
// addresses for NAT 1:1 (Config.PublicIPs) for viewers outside the
// center's network.
//
// Every session that redeemed a ticket ends with one live.view.end entry,
// in the relay's form with transport "webrtc" (duration, bytes, drops,
// reason). Revocation ends sessions at once: a notice naming the user's
// login session, or a re-decision that refuses, cancels the session, which
// closes its peer connection.
package whep
