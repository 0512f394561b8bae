package accesscontrol

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// SessionOpen reports whether the login session sessionID of userID has
// not ended: not logged out or revoked, and not past its lifetime. It reads
// the database (not the snapshot), so a session ended by another process
// counts at once. What a session opened (a live view, a playback, a
// download link) ends with it; the idle timeout does not apply, since a
// viewer watching footage sends no requests. A session that does not exist
// (or is not the user's) is not open; an unreachable database is an error.
func (s *Service) SessionOpen(ctx context.Context, userID, sessionID string) (bool, error) {
	if validID("session", sessionID) != nil || validID("user", userID) != nil {
		return false, nil
	}
	var open bool
	err := s.pool.QueryRow(ctx, `select revoked_at is null and expires_at > $3 from access_sessions
		where id = $1 and user_id = $2`, sessionID, userID, s.cfg.Now()).Scan(&open)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("%w: accesscontrol: session: %w", ErrUnavailable, err)
	}
	return open, nil
}
