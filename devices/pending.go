package devices

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/gwanje/gwanje/audit"
)

// HealthActor is who completes a pending registration: the health
// workers, when they see the camera up.
var HealthActor = Actor{Actor: audit.Actor{Username: "system:health"}}

// CameraUp completes the registration of a pending camera that health saw
// up (state online or degraded, so its stream answered): its pending
// reasons are cleared, with the audit entry device.register.complete in the
// same transaction. It reports whether the camera was pending; calling it
// again, or for a camera that is not pending, changes nothing.
func (r *Registry) CameraUp(ctx context.Context, id, state string) (bool, error) {
	if !validID(id) {
		return false, fmt.Errorf("%w: camera %q", ErrNotFound, id)
	}
	done := false
	err := r.inTx(ctx, func(tx pgx.Tx) error {
		var reasons []string
		err := tx.QueryRow(ctx, `update devices_cameras c set pending_reasons='{}', updated_at=now()
			from (select id, pending_reasons from devices_cameras where id=$1 for update) old
			where c.id=old.id and cardinality(old.pending_reasons) > 0
			returning old.pending_reasons`, id).Scan(&reasons)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("devices: complete registration: %w", err)
		}
		done = true
		return r.audit(ctx, tx, HealthActor, "device.register.complete", []string{id},
			map[string]any{"state": state, "was_pending": reasons})
	})
	if err != nil {
		return false, err
	}
	if done {
		r.log.Info("pending camera came up: registration complete", "camera", id, "state", state)
	}
	return done, nil
}
