package camsim

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

const (
	maxSubscriptions = 8
	maxPullTimeout   = 60 * time.Second
	motionPeriod     = 30 // seconds; motion is on for the first third of each period
)

type subscription struct {
	id      string
	path    string // request URI of the subscription manager
	expires time.Time
	started bool
	motion  bool
	tamper  bool
}

func motionOn(f Faults, t time.Time) bool {
	return f.Motion || t.Unix()%motionPeriod < motionPeriod/3
}

func nextMotionChange(t time.Time) time.Time {
	s := t.Unix()
	base := s - s%motionPeriod
	next := base + motionPeriod/3
	if s >= next {
		next = base + motionPeriod
	}
	return time.Unix(next, 0)
}

func (c *Camera) opGetEventProperties(_ *http.Request, _ *request) (string, *soapError) {
	topic := func(t, src, data string) string {
		parts := strings.Split(strings.TrimPrefix(t, "tns1:"), "/")
		var b strings.Builder
		for _, p := range parts {
			b.WriteString("<tns1:" + p + ` wstop:topic="true">`)
			if p == parts[len(parts)-1] {
				b.WriteString(`<tt:MessageDescription IsProperty="true"><tt:Source>` + src + `</tt:Source><tt:Data>` + data + `</tt:Data></tt:MessageDescription>`)
			}
		}
		for i := len(parts) - 1; i >= 0; i-- {
			b.WriteString("</tns1:" + parts[i] + ">")
		}
		return b.String()
	}
	motionItem, tamperItem := c.eventItems()
	src := `<tt:SimpleItemDescription Name="Source" Type="tt:ReferenceToken"/>`
	return `<tev:GetEventPropertiesResponse><tev:TopicNamespaceLocation>http://www.onvif.org/onvif/ver10/topics/topicns.xml</tev:TopicNamespaceLocation><wsnt:FixedTopicSet>true</wsnt:FixedTopicSet><wstop:TopicSet>` +
		topic(c.d.motionTopic, src, `<tt:SimpleItemDescription Name="`+motionItem+`" Type="xs:boolean"/>`) +
		topic(c.d.tamperTopic, src, `<tt:SimpleItemDescription Name="`+tamperItem+`" Type="xs:boolean"/>`) +
		`</wstop:TopicSet><wsnt:TopicExpressionDialect>http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet</wsnt:TopicExpressionDialect><wsnt:TopicExpressionDialect>http://docs.oasis-open.org/wsn/t-1/TopicExpression/Concrete</wsnt:TopicExpressionDialect><tev:MessageContentFilterDialect>http://www.onvif.org/ver10/tev/messageContentFilter/ItemFilter</tev:MessageContentFilterDialect><tev:MessageContentSchemaLocation>http://www.onvif.org/onvif/ver10/schema/onvif.xsd</tev:MessageContentSchemaLocation></tev:GetEventPropertiesResponse>`, nil
}

func (c *Camera) eventItems() (motion, tamper string) {
	motion, tamper = "State", "State"
	if strings.Contains(c.d.motionTopic, "CellMotion") {
		motion = "IsMotion"
	}
	if c.cfg.Quirks.MotionValueItem {
		motion = "Value"
	}
	if strings.Contains(c.d.tamperTopic, "Tamper") {
		tamper = "IsTamper"
	}
	return
}

// parseTermination reads an absolute xs:dateTime or an xs:duration.
func parseTermination(s string, now time.Time) (time.Time, error) {
	if strings.HasPrefix(s, "P") {
		d, err := parseDuration(s)
		if err != nil {
			return time.Time{}, err
		}
		return now.Add(d), nil
	}
	return parseXSDateTime(s)
}

func (c *Camera) opCreatePullPoint(_ *http.Request, req *request) (string, *soapError) {
	now := c.now()
	exp := now.Add(60 * time.Second)
	if s := req.op.textAt("InitialTerminationTime"); s != "" {
		t, err := parseTermination(s, now)
		if err != nil || !t.After(now) {
			return "", &soapError{status: http.StatusBadRequest, code: "Sender", subcode: "wsnt:UnacceptableInitialTerminationTimeFault", reason: "bad InitialTerminationTime"}
		}
		exp = t
	}
	if f := req.op.child("Filter"); f != nil && len(f.children) > 0 {
		if tx := f.textAt("TopicExpression"); tx != "" && !strings.Contains(tx, "tns1:") {
			return "", &soapError{status: http.StatusBadRequest, code: "Sender", subcode: "wsnt:InvalidTopicExpressionFault", reason: "unknown topic expression"}
		}
	}
	c.mu.Lock()
	c.pruneSubsLocked(now)
	if len(c.subs) >= maxSubscriptions {
		c.mu.Unlock()
		return "", &soapError{status: http.StatusInternalServerError, code: "Receiver", subcode: "ter:Action", sub2: "ter:TooManySubscriptions", reason: "too many pull points"}
	}
	c.subSeq++
	id := strconv.Itoa(c.subSeq)
	var path string
	switch c.d.name {
	case DialectHikvision:
		path = c.d.paths.events + "/PullSubManager_" + id
	case DialectAxis:
		path = "/onvif/services/pullpoint/" + id
	default:
		path = "/onvif/Subscription?Idx=" + id
	}
	if c.subs == nil {
		c.subs = map[string]*subscription{}
	}
	c.subs[id] = &subscription{id: id, path: path, expires: exp}
	c.mu.Unlock()
	addr := c.httpURL(path)
	return fmt.Sprintf(`<tev:CreatePullPointSubscriptionResponse><tev:SubscriptionReference><%[1]s:Address>%[2]s</%[1]s:Address></tev:SubscriptionReference><wsnt:CurrentTime>%[3]s</wsnt:CurrentTime><wsnt:TerminationTime>%[4]s</wsnt:TerminationTime></tev:CreatePullPointSubscriptionResponse>`,
		c.d.wsa, xmlEscape(addr), c.d.formatTime(now), c.d.formatTime(exp)), nil
}

func (c *Camera) pruneSubsLocked(now time.Time) {
	for id, s := range c.subs {
		if now.After(s.expires) {
			delete(c.subs, id)
		}
	}
}

func resourceUnknown() *soapError {
	return &soapError{status: http.StatusBadRequest, code: "Sender", subcode: "wsrf-rw:ResourceUnknownFault", reason: "unknown or expired subscription"}
}

// findSub locates the subscription a request is addressed to (by path, or wsa:To).
func (c *Camera) findSubLocked(r *http.Request, req *request) *subscription {
	uri := r.URL.RequestURI()
	to := req.wsaTo
	if i := strings.Index(to, "://"); i >= 0 {
		if j := strings.IndexByte(to[i+3:], '/'); j >= 0 {
			to = to[i+3+j:]
		}
	}
	for _, s := range c.subs {
		if s.path == uri || (to != "" && s.path == to) {
			return s
		}
	}
	return nil
}

func (c *Camera) opPullMessages(r *http.Request, req *request) (string, *soapError) {
	timeout := 10 * time.Second
	if t := req.op.textAt("Timeout"); t != "" {
		d, err := parseDuration(t)
		if err != nil {
			return "", invalidArg("ter:InvalidArgVal", "bad Timeout")
		}
		timeout = min(d, maxPullTimeout)
	}
	limit := 10
	if l := req.op.textAt("MessageLimit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 {
			return "", invalidArg("ter:InvalidArgVal", "bad MessageLimit")
		}
		limit = min(n, 100)
	}
	deadline := time.Now().Add(timeout)
	for {
		c.mu.Lock()
		now := c.nowLocked()
		c.pruneSubsLocked(now)
		s := c.findSubLocked(r, req)
		if s == nil {
			c.mu.Unlock()
			return "", resourceUnknown()
		}
		f := c.faults
		motion, tamper := motionOn(f, now), f.Tamper
		var msgs []string
		op := "Changed"
		if !s.started {
			op = "Initialized"
		}
		if !s.started || motion != s.motion {
			msgs = append(msgs, c.eventMsg(c.d.motionTopic, op, now, motion, true))
		}
		if !s.started || tamper != s.tamper {
			msgs = append(msgs, c.eventMsg(c.d.tamperTopic, op, now, tamper, false))
		}
		if len(msgs) > limit {
			msgs = msgs[:limit]
		} else {
			s.started, s.motion, s.tamper = true, motion, tamper
		}
		wake := c.faultsCh
		exp := s.expires
		c.mu.Unlock()
		if len(msgs) > 0 || !time.Now().Before(deadline) {
			return fmt.Sprintf(`<tev:PullMessagesResponse><tev:CurrentTime>%s</tev:CurrentTime><tev:TerminationTime>%s</tev:TerminationTime>%s</tev:PullMessagesResponse>`,
				c.d.formatTime(now), c.d.formatTime(exp), strings.Join(msgs, "")), nil
		}
		wait := time.Until(deadline)
		if w := time.Until(nextMotionChange(now)) + 10*time.Millisecond; !f.Motion && w < wait {
			wait = w
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-wake:
			t.Stop()
		case <-r.Context().Done():
			t.Stop()
			return "", &soapError{status: http.StatusServiceUnavailable, code: "Receiver", subcode: "ter:Action", reason: "request cancelled"}
		}
	}
}

func (c *Camera) eventMsg(topic, op string, now time.Time, state, motion bool) string {
	mi, ti := c.eventItems()
	item := ti
	if motion {
		item = mi
	}
	var src string
	if strings.HasPrefix(topic, "tns1:RuleEngine") {
		rule := "MyMotionDetectorRule"
		if !motion {
			rule = "MyTamperDetectorRule"
		}
		src = `<tt:SimpleItem Name="VideoSourceConfigurationToken" Value="VideoSourceToken"/><tt:SimpleItem Name="VideoAnalyticsConfigurationToken" Value="VideoAnalyticsToken"/><tt:SimpleItem Name="Rule" Value="` + rule + `"/>`
	} else {
		src = `<tt:SimpleItem Name="Source" Value="VideoSource_1"/>`
	}
	value := strconv.FormatBool(state)
	if motion && c.cfg.Quirks.MotionValueItem {
		value = map[bool]string{true: "True", false: "False"}[state] // as such cameras send it
	}
	return fmt.Sprintf(`<wsnt:NotificationMessage><wsnt:Topic Dialect="http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet">%s</wsnt:Topic><wsnt:Message><tt:Message UtcTime="%s" PropertyOperation="%s"><tt:Source>%s</tt:Source><tt:Data><tt:SimpleItem Name="%s" Value="%s"/></tt:Data></tt:Message></wsnt:Message></wsnt:NotificationMessage>`,
		topic, c.d.formatTime(now), op, src, item, value)
}

func (c *Camera) opRenew(r *http.Request, req *request) (string, *soapError) {
	now := c.now()
	t, err := parseTermination(req.op.textAt("TerminationTime"), now)
	if err != nil || !t.After(now) {
		return "", &soapError{status: http.StatusBadRequest, code: "Sender", subcode: "wsnt:UnacceptableTerminationTimeFault", reason: "bad TerminationTime"}
	}
	c.mu.Lock()
	c.pruneSubsLocked(now)
	s := c.findSubLocked(r, req)
	if s != nil {
		s.expires = t
	}
	c.mu.Unlock()
	if s == nil {
		return "", resourceUnknown()
	}
	return fmt.Sprintf(`<wsnt:RenewResponse><wsnt:TerminationTime>%s</wsnt:TerminationTime><wsnt:CurrentTime>%s</wsnt:CurrentTime></wsnt:RenewResponse>`,
		c.d.formatTime(t), c.d.formatTime(now)), nil
}

func (c *Camera) opUnsubscribe(r *http.Request, req *request) (string, *soapError) {
	c.mu.Lock()
	s := c.findSubLocked(r, req)
	if s != nil {
		delete(c.subs, s.id)
	}
	c.mu.Unlock()
	if s == nil {
		return "", resourceUnknown()
	}
	return `<wsnt:UnsubscribeResponse/>`, nil
}
