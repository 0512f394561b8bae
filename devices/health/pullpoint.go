package health

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/gwanje/gwanje/devices/onvif"
	"github.com/gwanje/gwanje/events"
)

// reconcileEventsLocked starts the event subscription of every camera that
// wants one and whose shard this worker holds, and stops the others.
// Called with w.mu held.
func (w *Worker) reconcileEventsLocked() {
	if w.ctx.Err() != nil {
		return
	}
	for _, c := range w.cams {
		c.mu.Lock()
		want := w.owned[c.shard] && c.t.Events && !c.t.Maintenance && c.client != nil
		switch {
		case want && c.evCancel == nil:
			ctx, cancel := context.WithCancel(w.ctx)
			c.evCancel = cancel
			client, t := c.client, c.t
			w.wg.Add(1)
			go func() {
				defer w.wg.Done()
				w.pullEvents(ctx, client, t)
			}()
		case !want && c.evCancel != nil:
			c.evCancel()
			c.evCancel = nil
		}
		c.mu.Unlock()
	}
}

// pullEvents keeps a PullPoint subscription on the camera: created, pulled,
// renewed at half its termination time, and created again when the camera
// forgets it (reboot) or stops answering.
func (w *Worker) pullEvents(ctx context.Context, client *onvif.Client, t Target) {
	log := w.log.With("camera", t.CameraID)
	backoff := time.Second
	wait := func() bool {
		tm := time.NewTimer(backoff)
		defer tm.Stop()
		backoff = min(backoff*2, time.Minute)
		select {
		case <-ctx.Done():
			return false
		case <-tm.C:
			return true
		}
	}
	for ctx.Err() == nil {
		cctx, cancel := context.WithTimeout(ctx, w.cfg.ProbeTimeout)
		sub, err := client.CreatePullPointSubscription(cctx, "", w.cfg.SubscriptionTTL)
		cancel()
		if err != nil {
			if errors.Is(err, onvif.ErrNotSupported) {
				log.Info("health: camera has no events service")
				return
			}
			log.Debug("health: event subscription failed", "err", err)
			if !wait() {
				return
			}
			continue
		}
		w.stats.subscriptions.Add(1)
		renewAt := w.cfg.Now().Add(w.cfg.SubscriptionTTL / 2)
		for ctx.Err() == nil {
			pctx, cancel := context.WithTimeout(ctx, w.cfg.PullTimeout+w.cfg.ProbeTimeout)
			res, err := client.PullMessages(pctx, sub, w.cfg.PullTimeout, 100)
			cancel()
			if err != nil {
				log.Debug("health: pulling events failed; subscribing again", "err", err)
				break
			}
			backoff = time.Second
			now := w.cfg.Now()
			for _, m := range res.Messages {
				w.publishEvent(t, m, now)
			}
			if !now.Before(renewAt) {
				rctx, cancel := context.WithTimeout(ctx, w.cfg.ProbeTimeout)
				_, err := client.Renew(rctx, sub, w.cfg.SubscriptionTTL)
				cancel()
				if err != nil {
					log.Debug("health: renewing the event subscription failed; subscribing again", "err", err)
					break
				}
				renewAt = now.Add(w.cfg.SubscriptionTTL / 2)
			}
		}
		if ctx.Err() != nil {
			uctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = client.Unsubscribe(uctx, sub)
			cancel()
			return
		}
		if !wait() {
			return
		}
	}
}

func eventKind(m onvif.EventMessage) EventKind {
	switch m.Kind {
	case onvif.EventMotion:
		return EventMotion
	case onvif.EventTamper:
		return EventTamper
	}
	topic := strings.ToLower(m.Topic)
	if strings.Contains(topic, "signalloss") || strings.Contains(topic, "videoloss") || strings.Contains(topic, "lostsignal") {
		return EventVideoLoss
	}
	return EventOther
}

func (w *Worker) publishEvent(t Target, m onvif.EventMessage, now time.Time) {
	// The initial state of a fresh subscription is news only when on.
	if m.PropertyOperation == "Initialized" && !(m.HasState && m.Active) {
		return
	}
	e := Event{
		CameraID: t.CameraID, Kind: eventKind(m), Time: m.Time, ReceivedAt: now, Active: m.Active,
		Topic: m.Topic, Operation: m.PropertyOperation, Site: t.Site, Department: t.Department,
	}
	items := func(l []onvif.SimpleItem) map[string]string {
		if len(l) == 0 {
			return nil
		}
		out := make(map[string]string, len(l))
		for _, it := range l {
			out[it.Name] = it.Value
		}
		return out
	}
	e.Source, e.Data = items(m.Source), items(m.Data)
	w.stats.events.Add(1)
	w.pub.enqueue(outMsg{
		subject: events.CameraEvent(t.CameraID, string(e.Kind)),
		data:    marshal(EventToProto(e)),
		msgID:   t.CameraID + "/ev/" + string(e.Kind) + "/" + strconv.FormatInt(m.Time.UnixNano(), 10) + "/" + strconv.FormatBool(m.Active),
		event:   true,
	})
}
