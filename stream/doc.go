// Package stream is gwanje's live video path: an RTSP relay that serves
// operators only through audited, one-time tickets, and the registry of the
// stream nodes that run it.
//
// Flow (DESIGN.md, "Flows: Live view"): control authorizes live.view,
// commits the live.view.start audit entry and calls Tickets.IssueTicket with
// its sequence number. The ticket is 32 random bytes; only its SHA-256 is
// stored (table stream_tickets), bound to user, login session, camera,
// profile, audit entry and node, with a short TTL (30s). The viewer's player
// opens rtsp://node:8554/live/<camera>/<profile>?ticket=<token>.
//
// The Relay (gortsplib server, TCP and UDP) checks the ticket at DESCRIBE
// (or SETUP for players that skip DESCRIBE), opens or joins the single
// upstream pull of that camera profile, and only then redeems the ticket
// with one atomic UPDATE, so a ticket opens at most one view. Refused
// requests (no ticket, malformed, unknown, replayed, expired, other camera
// or profile, a path that is not /live/<camera>/<profile>) get 403/404,
// are logged with a hash prefix of the ticket (never the ticket) and counted
// by reason; nothing else is disturbed.
//
// Upstreams: one gortsplib client per camera profile, over TCP, with the
// camera's credentials (Cameras), which never leave the relay. Only the
// video media is set up: audio is never pulled, forwarded or stored. The
// pull starts with the first viewer, stops Config.Linger after the last, and
// reconnects with backoff while viewers stay connected; timestamps and
// sequence numbers stay continuous across reconnects.
//
// Fan-out: packets are gathered into access units; each viewer has a
// bounded queue (Config.ViewerQueue packets). A viewer whose queue is full
// drops that frame and the following ones until the next keyframe (counted),
// so it never blocks the camera or other viewers; one whose queue stays full
// for Config.StallTimeout, or whose socket accepts nothing for
// Config.WriteTimeout, is dropped. A new viewer first receives the group of
// pictures since the last keyframe (the keyframe cache), so the picture
// appears at once.
//
// Every view that redeemed a ticket ends with one live.view.end audit entry
// (duration, bytes, drops, reason). Revocation goes through internal/revoke,
// which playback and export downloads share: a ticket is redeemed only when
// the Authorizer still allows its holder (login session open, live.view
// granted); an events.AccessRevoked notice closes the views of the login
// session that ended and re-decides the user's other views, within a
// second. Stop, CloseUserSessions and List serve StopLiveView and
// ListLiveSessions.
//
// Stream nodes register in the NATS KV bucket events.BucketStreamNodes with
// a TTL heartbeat (Nodes); Nodes.PickNode chooses by rendezvous hashing so a
// camera lands on the same node while the node set is stable.
//
// Use:
//
//	nodes, _ := stream.NewNodes(ctx, bus.JS, stream.NodesConfig{})
//	tickets := stream.NewTickets(pool, nodes)          // control: IssueTicket
//	relay, _ := stream.New(stream.Config{Tickets: tickets, Cameras: cams,
//	    Auditor: auditStore, Authorizer: authz, Notices: bus.Notices(), Nodes: nodes})
//	reg.MustRegister(relay.Metrics().Collectors()...)
//	go relay.Run(ctx)
package stream
