package camsim

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ServeHTTP answers ONVIF SOAP requests and snapshot GETs.
func (c *Camera) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f := c.Faults()
	if f.Latency > 0 {
		t := time.NewTimer(f.Latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		c.serveSnapshot(w, r)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, c.cfg.MaxRequestBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			c.writeFault(w, &soapError{status: http.StatusRequestEntityTooLarge, code: "Sender",
				subcode: "ter:InvalidArgs", reason: "request body too large"}, f)
			return
		}
		return // client went away
	}
	req, err := parseRequest(body)
	if err != nil {
		c.log.Debug("bad SOAP request", "err", err)
		c.writeFault(w, &soapError{status: http.StatusBadRequest, code: "Sender",
			subcode: "ter:WellFormed", reason: "the SOAP request is not well-formed"}, f)
		return
	}
	if req.soap11 {
		c.writeFault(w, &soapError{status: http.StatusInternalServerError, code: "VersionMismatch",
			reason: "SOAP 1.2 required"}, f)
		return
	}
	if !c.d.preAuth[req.action] {
		if serr, challenge := c.authenticate(r, req); serr != nil {
			if challenge {
				w.Header().Set("WWW-Authenticate", c.digestChallenge(time.Now()))
			}
			c.writeFault(w, serr, f)
			return
		}
	}
	out, serr := c.dispatch(r, req)
	if serr != nil {
		c.writeFault(w, serr, f)
		return
	}
	c.writeEnvelope(w, http.StatusOK, out, f)
	if req.rebootAfter {
		if fl, ok := w.(http.Flusher); ok {
			fl.Flush()
		}
		c.Reboot()
	}
}

// authenticate applies the dialect's rules. challenge asks for a Digest challenge header.
func (c *Camera) authenticate(r *http.Request, req *request) (serr *soapError, challenge bool) {
	pw := c.password()
	now := c.now()
	notAuth := func(status int, reason string) *soapError {
		return &soapError{status: status, code: "Sender", subcode: "ter:NotAuthorized", reason: "Sender not Authorized: " + reason}
	}
	if c.d.digest {
		ok, present := c.checkDigest(r, time.Now(), pw)
		if ok {
			return nil, false
		}
		if present && !c.d.wsse {
			return notAuth(http.StatusUnauthorized, "digest credentials rejected"), true
		}
	}
	if c.d.wsse && req.token != nil {
		ok, reason := c.checkWSSE(req.token, now, pw)
		if ok {
			return nil, false
		}
		return notAuth(http.StatusBadRequest, reason), false
	}
	if c.d.digest {
		return notAuth(http.StatusUnauthorized, "credentials required"), true
	}
	return notAuth(http.StatusBadRequest, "WS-Security UsernameToken required"), false
}

func (c *Camera) serveSnapshot(w http.ResponseWriter, r *http.Request) {
	var logical string
	for _, p := range c.d.profiles {
		u := strings.SplitN(strings.Replace(c.d.snapPath, "%s", p.logical, 1), "?", 2)
		if r.URL.Path == u[0] && (len(u) == 1 || r.URL.RawQuery == u[1]) {
			logical = p.logical
		}
	}
	if logical == "" {
		http.NotFound(w, r)
		return
	}
	if ok, _ := c.checkDigest(r, time.Now(), c.password()); !ok {
		w.Header().Set("WWW-Authenticate", c.digestChallenge(time.Now()))
		http.Error(w, "Unauthorized", http.StatusUnauthorized)
		return
	}
	img := c.snaps["snapshot_main.jpg"]
	if logical == ProfileSub {
		img = c.snaps["snapshot_sub.jpg"]
	}
	w.Header().Set("Content-Type", "image/jpeg")
	w.Header().Set("Content-Length", strconv.Itoa(len(img)))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(img)
}

// writeFault sends a SOAP 1.2 fault.
func (c *Camera) writeFault(w http.ResponseWriter, e *soapError, f Faults) {
	env := c.d.env
	var b strings.Builder
	b.WriteString("<" + env + ":Fault><" + env + ":Code><" + env + ":Value>" + env + ":" + e.code + "</" + env + ":Value>")
	if e.subcode != "" {
		b.WriteString("<" + env + ":Subcode><" + env + ":Value>" + e.subcode + "</" + env + ":Value>")
		if e.sub2 != "" {
			b.WriteString("<" + env + ":Subcode><" + env + ":Value>" + e.sub2 + "</" + env + ":Value></" + env + ":Subcode>")
		}
		b.WriteString("</" + env + ":Subcode>")
	}
	b.WriteString("</" + env + ":Code><" + env + ":Reason><" + env + `:Text xml:lang="en">` + xmlEscape(e.reason) +
		"</" + env + ":Text></" + env + ":Reason></" + env + ":Fault>")
	status := e.status
	if status == 0 {
		status = http.StatusInternalServerError
	}
	c.writeEnvelope(w, status, b.String(), f)
}

// writeEnvelope wraps body in the dialect's envelope and applies response faults.
func (c *Camera) writeEnvelope(w http.ResponseWriter, status int, body string, f Faults) {
	env := c.d.env
	var buf bytes.Buffer
	buf.WriteString(c.d.envelopeOpen(body))
	nl := "\n"
	if c.d.compact {
		nl = ""
	}
	buf.WriteString(nl + "<" + env + ":Header/>" + nl + "<" + env + ":Body>")
	if f.OversizedResponse {
		// The padding is streamed; only the frame is buffered.
		head := buf.String()
		tail := body + "</" + env + ":Body></" + env + ":Envelope>" + nl
		pad := c.cfg.OversizedBytes - int64(len(head)+len(tail))
		if pad < 0 {
			pad = 0
		}
		w.Header().Set("Content-Type", "application/soap+xml; charset=utf-8")
		w.Header().Set("Content-Length", strconv.FormatInt(int64(len(head))+pad+int64(len(tail)), 10))
		w.WriteHeader(status)
		_, _ = io.WriteString(w, head)
		chunk := bytes.Repeat([]byte(" "), 32<<10)
		for pad > 0 {
			n := min(pad, int64(len(chunk)))
			if _, err := w.Write(chunk[:n]); err != nil {
				return
			}
			pad -= n
		}
		_, _ = io.WriteString(w, tail)
		return
	}
	buf.WriteString(body)
	buf.WriteString("</" + env + ":Body></" + env + ":Envelope>" + nl)
	out := buf.Bytes()
	if f.MalformedXML {
		// Mismatched closing tags and a raw ampersand, as broken firmware sends.
		out = bytes.Replace(out, []byte("</"+env+":Body>"), []byte("</"+env+":Bdy>&"), 1)
	}
	if f.TruncatedXML {
		out = out[:len(out)/2]
	}
	w.Header().Set("Content-Type", "application/soap+xml; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(out)))
	w.WriteHeader(status)
	_, _ = w.Write(out)
}
