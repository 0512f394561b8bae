package onvif

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gwanje/gwanje/camsim"
)

// TestCamsimMotionValueItem pulls events from cameras that report motion in
// a SimpleItem named Value (Value="True"): the motion is active.
func TestCamsimMotionValueItem(t *testing.T) {
	for _, d := range camsim.Dialects {
		t.Run(string(d), func(t *testing.T) {
			cam := startCam(t, camsim.Config{Dialect: d, Faults: camsim.Faults{Motion: true},
				Quirks: camsim.Quirks{MotionValueItem: true}})
			c := camClient(t, cam, "")
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			sub, err := c.CreatePullPointSubscription(ctx, "", time.Minute)
			if err != nil {
				t.Fatalf("CreatePullPointSubscription: %v", err)
			}
			var motion *EventMessage
			eventually(t, 10*time.Second, "a motion event", func() bool {
				res, err := c.PullMessages(ctx, sub, time.Second, 10)
				if err != nil {
					t.Fatalf("PullMessages: %v", err)
				}
				for i := range res.Messages {
					if res.Messages[i].Kind == EventMotion {
						motion = &res.Messages[i]
					}
				}
				return motion != nil
			})
			if v, _ := motion.Item("Value"); v != "True" || !motion.HasState || !motion.Active {
				t.Errorf("motion %+v (Value %q)", motion, v)
			}
		})
	}
}

// TestCamsimClockFault: a camera that faults GetSystemDateAndTime gives a
// typed fault, not a transport error.
func TestCamsimClockFault(t *testing.T) {
	cam := startCam(t, camsim.Config{Faults: camsim.Faults{ClockFault: true}})
	c := camClient(t, cam, "")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.GetSystemDateAndTime(ctx); !errors.Is(err, ErrFault) || !errors.Is(err, ErrNotSupported) {
		t.Fatalf("GetSystemDateAndTime: %v, want a fault", err)
	}
}
