package control

import (
	"context"
	"strings"
	"time"

	ac "github.com/gwanje/gwanje/accesscontrol"
	"github.com/gwanje/gwanje/devices"
	"github.com/gwanje/gwanje/internal/revoke"
)

// AccessDecider re-decides what a holder holds (a live view, a playback
// ticket or session, an export download link) on the current rights: the
// login session it was issued to is still open, and one of its permissions
// is still granted on the camera for the purpose. The relay, the playback
// server and the download links ask it when a ticket or link is redeemed,
// when an access.revoked notice names the holder, and periodically
// (package revoke). It fails closed: a database it cannot read denies.
func AccessDecider(access *ac.Service, reg *devices.Registry, now func() time.Time) revoke.Decider {
	return revoke.DeciderFunc(func(ctx context.Context, h revoke.Holder) bool {
		if err := access.Reload(ctx); err != nil {
			return false // cannot confirm the right: fail closed
		}
		if h.SessionID != "" {
			if open, err := access.SessionOpen(ctx, h.UserID, h.SessionID); err != nil || !open {
				return false
			}
		}
		res := ac.Resource{CameraID: h.CameraID}
		if h.CameraID != "" {
			cam, err := reg.Get(ctx, h.CameraID)
			if err != nil {
				return false
			}
			res = cameraResource(cam)
		}
		res.Purpose = ac.Purpose(strings.TrimSpace(h.Purpose))
		res.FootageFrom = h.FootageFrom
		p := ac.Principal{UserID: h.UserID, Username: h.Username, SessionID: h.SessionID}
		t := now()
		for _, perm := range h.Permissions {
			if access.Decide(p, ac.Permission(perm), res, t).Allowed {
				return true
			}
		}
		return false
	})
}
