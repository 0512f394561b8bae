package onvif

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/IOTechSystems/onvif/event"

	"github.com/gwanje/gwanje/internal/redact"
)

const (
	actionPull        = "http://www.onvif.org/ver10/events/wsdl/PullPointSubscription/PullMessagesRequest"
	actionRenew       = "http://docs.oasis-open.org/wsn/bw-2/SubscriptionManager/RenewRequest"
	actionUnsubscribe = "http://docs.oasis-open.org/wsn/bw-2/SubscriptionManager/UnsubscribeRequest"
	actionCreatePull  = "http://www.onvif.org/ver10/events/wsdl/EventPortType/CreatePullPointSubscriptionRequest"
)

func (c *Client) eventsAddr(ctx context.Context, op string) (string, error) {
	s, err := c.ResolveServices(ctx)
	if err != nil {
		return "", err
	}
	if s.Events == "" {
		return "", &OpError{Op: op, Endpoint: redact.URL(c.endpoint.String()), Err: fmt.Errorf("%w: no events service", ErrNotSupported)}
	}
	return s.Events, nil
}

// GetEventProperties reads the topic set of the device.
func (c *Client) GetEventProperties(ctx context.Context) (EventProperties, error) {
	addr, err := c.eventsAddr(ctx, "GetEventProperties")
	if err != nil {
		return EventProperties{}, err
	}
	req := request{op: "GetEventProperties", ns: nsEvents, url: addr, body: marshalBody(event.GetEventProperties{}),
		action: "http://www.onvif.org/ver10/events/wsdl/EventPortType/GetEventPropertiesRequest"}
	return run(ctx, c, req, parseEventProperties)
}

// CreatePullPointSubscription subscribes to events. topicFilter is an
// optional ConcreteSet topic expression (e.g.
// "tns1:RuleEngine//.|tns1:VideoSource//."); termination > 0 sets the
// initial termination time relative to now.
func (c *Client) CreatePullPointSubscription(ctx context.Context, topicFilter string, termination time.Duration) (Subscription, error) {
	addr, err := c.eventsAddr(ctx, "CreatePullPointSubscription")
	if err != nil {
		return Subscription{}, err
	}
	var b strings.Builder
	b.WriteString("<tev:CreatePullPointSubscription>")
	if topicFilter != "" {
		b.WriteString(`<tev:Filter><wsnt:TopicExpression Dialect="http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet" ` +
			`xmlns:tns1="http://www.onvif.org/ver10/topics">` + xmlEscape(topicFilter) + `</wsnt:TopicExpression></tev:Filter>`)
	}
	if termination > 0 {
		b.WriteString("<tev:InitialTerminationTime>" + formatXSDDuration(termination) + "</tev:InitialTerminationTime>")
	}
	b.WriteString("</tev:CreatePullPointSubscription>")
	req := request{op: "CreatePullPointSubscription", ns: nsEvents, url: addr, body: []byte(b.String()), action: actionCreatePull}
	s, err := run(ctx, c, req, func(data []byte) (Subscription, error) {
		s, err := parseCreatePullPoint(data)
		if err == nil && s.zoneless {
			if loc := c.cameraZone(ctx, s.CurrentTime); loc != nil {
				return parseCreatePullPointIn(data, loc)
			}
		}
		return s, err
	})
	s.Address = c.rewrite(s.Address)
	return s, err
}

func (c *Client) subscriptionReq(op, action string, sub Subscription, body string) (request, error) {
	if sub.Address == "" {
		return request{}, &OpError{Op: op, Err: fmt.Errorf("%w: subscription without address", ErrInvalidArgument)}
	}
	var h strings.Builder
	h.WriteString("<wsa:Action>" + action + "</wsa:Action><wsa:To>" + xmlEscape(sub.Address) + "</wsa:To>")
	for i, p := range sub.ReferenceParameters {
		if p.Local == "" {
			continue
		}
		pfx := "rp" + strconv.Itoa(i)
		h.WriteString("<" + pfx + ":" + p.Local + ` xmlns:` + pfx + `="` + xmlEscape(p.Space) + `">` + xmlEscape(p.Value) + "</" + pfx + ":" + p.Local + ">")
	}
	return request{op: op, ns: nsEvents, action: action, url: sub.Address, header: []byte(h.String()), body: []byte(body)}, nil
}

// PullMessages long-polls the subscription for up to timeout for at most
// limit messages. When ctx has a deadline the poll timeout is shortened to
// end a second before it; without one the call is bounded by timeout plus
// Config.Timeout.
func (c *Client) PullMessages(ctx context.Context, sub Subscription, timeout time.Duration, limit int) (PullResult, error) {
	if limit <= 0 {
		limit = 100
	}
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	if dl, ok := ctx.Deadline(); ok {
		if rem := time.Until(dl) - time.Second; rem < timeout {
			timeout = max(rem, 0)
		}
	} else {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout+c.cfg.Timeout)
		defer cancel()
	}
	body := "<tev:PullMessages><tev:Timeout>" + formatXSDDuration(timeout.Truncate(time.Millisecond)) +
		"</tev:Timeout><tev:MessageLimit>" + strconv.Itoa(limit) + "</tev:MessageLimit></tev:PullMessages>"
	req, err := c.subscriptionReq("PullMessages", actionPull, sub, body)
	if err != nil {
		return PullResult{}, err
	}
	return run(ctx, c, req, func(data []byte) (PullResult, error) {
		r, err := parsePullMessages(data)
		if err == nil && r.zoneless {
			if loc := c.cameraZone(ctx, r.CurrentTime); loc != nil {
				return parsePullMessagesIn(data, loc)
			}
		}
		return r, err
	})
}

// cameraZone guesses the zone of a camera that sends times without a zone
// designator (Dahua sends its local wall clock): current is the camera's
// CurrentTime read as UTC; the difference from the camera clock (local clock
// plus learned offset), rounded to 15 minutes, is its UTC offset. It returns
// nil when the times are UTC after all or the offset is unknown.
func (c *Client) cameraZone(ctx context.Context, current time.Time) *time.Location {
	if current.IsZero() {
		return nil
	}
	c.ensureClock(ctx)
	off, ok := c.ClockOffset()
	if !ok {
		return nil
	}
	d := current.Sub(c.cfg.Now().Add(off)).Round(15 * time.Minute)
	if d == 0 || d.Abs() > 14*time.Hour {
		return nil
	}
	return time.FixedZone("camera", int(d/time.Second))
}

// Renew extends the subscription by d and returns the new termination time.
func (c *Client) Renew(ctx context.Context, sub Subscription, d time.Duration) (time.Time, error) {
	if d <= 0 {
		d = time.Minute
	}
	req, err := c.subscriptionReq("Renew", actionRenew, sub,
		"<wsnt:Renew><wsnt:TerminationTime>"+formatXSDDuration(d)+"</wsnt:TerminationTime></wsnt:Renew>")
	if err != nil {
		return time.Time{}, err
	}
	type renewed struct{ cur, term time.Time }
	r, err := run(ctx, c, req, func(data []byte) (renewed, error) {
		cur, term, err := parseRenew(data)
		if err == nil && !cur.IsZero() {
			if loc := c.cameraZone(ctx, cur); loc != nil {
				cur, term, err = parseRenewIn(data, loc)
			}
		}
		return renewed{cur, term}, err
	})
	return r.term, err
}

// Unsubscribe ends the subscription.
func (c *Client) Unsubscribe(ctx context.Context, sub Subscription) error {
	req, err := c.subscriptionReq("Unsubscribe", actionUnsubscribe, sub, "<wsnt:Unsubscribe/>")
	if err != nil {
		return err
	}
	_, err = run(ctx, c, req, emptyParser("UnsubscribeResponse"))
	return err
}
