package onvif

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/icholy/digest"

	"github.com/gwanje/gwanje/internal/redact"
)

// AuthMode selects how requests are authenticated.
type AuthMode int

// Authentication modes.
const (
	// AuthAuto tries WS-Security, then HTTP digest, then both, and keeps
	// the first that the device accepts.
	AuthAuto AuthMode = iota
	// AuthNone sends no credentials.
	AuthNone
	// AuthWSSecurity sends a WS-Security UsernameToken with PasswordDigest.
	AuthWSSecurity
	// AuthDigest answers HTTP digest challenges (github.com/icholy/digest).
	AuthDigest
	// AuthBoth does both.
	AuthBoth
)

func (m AuthMode) String() string {
	switch m {
	case AuthAuto:
		return "auto"
	case AuthNone:
		return "none"
	case AuthWSSecurity:
		return "ws-security"
	case AuthDigest:
		return "digest"
	case AuthBoth:
		return "ws-security+digest"
	}
	return fmt.Sprintf("AuthMode(%d)", int(m))
}

// Defaults.
const (
	DefaultTimeout          = 10 * time.Second
	DefaultMaxResponseBytes = 1 << 20
)

// Config configures a Client.
type Config struct {
	// Endpoint is the device service URL, e.g.
	// http://192.0.2.10/onvif/device_service. Required. User info in the
	// URL is refused: pass credentials in Username and Password.
	Endpoint string
	// Username and Password are the camera credentials. Never logged.
	Username string
	Password string
	// Auth selects the authentication mode; default AuthAuto.
	Auth AuthMode
	// Timeout bounds a call whose context has no deadline; default
	// DefaultTimeout (10s). A context deadline always wins when earlier.
	Timeout time.Duration
	// MaxResponseBytes limits a response body; larger responses fail with
	// ErrTooLarge. Default DefaultMaxResponseBytes (1 MiB).
	MaxResponseBytes int64
	// Transport is the HTTP transport; default a private *http.Transport
	// (closed by Close).
	Transport http.RoundTripper
	// RewriteServiceHosts replaces the host:port of service addresses the
	// device reports (GetServices/GetCapabilities/subscriptions) with the
	// host:port of Endpoint, for cameras behind NAT or port forwarding.
	// Default false.
	RewriteServiceHosts bool
	// DisableClockSync stops the client from calling GetSystemDateAndTime
	// before the first WS-Security request to learn the clock offset.
	// Default false (the offset is learned).
	DisableClockSync bool
	// Logger receives debug logs (never credentials); default slog.Default().
	Logger *slog.Logger
	// Now is the local clock; default time.Now.
	Now func() time.Time
}

// Client is an ONVIF client for one device. It is safe for concurrent use.
type Client struct {
	cfg      Config
	endpoint *url.URL
	log      *slog.Logger
	ownTr    *http.Transport
	plain    *http.Client
	digest   *http.Client

	mu          sync.Mutex
	offset      time.Duration
	offsetKnown bool
	mode        AuthMode // detected mode when cfg.Auth is AuthAuto; AuthAuto until known
	services    *Services
	closed      bool
}

// New validates cfg and returns a Client. It does not contact the device.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(strings.TrimSpace(cfg.Endpoint))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: endpoint must be an http(s) URL", ErrInvalidArgument)
	}
	if u.User != nil {
		return nil, fmt.Errorf("%w: endpoint must not contain credentials", ErrInvalidArgument)
	}
	if cfg.Auth < AuthAuto || cfg.Auth > AuthBoth {
		return nil, fmt.Errorf("%w: unknown auth mode %d", ErrInvalidArgument, cfg.Auth)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxResponseBytes <= 0 {
		cfg.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c := &Client{cfg: cfg, endpoint: u, log: cfg.Logger.With("onvif_endpoint", redact.URL(u.String()))}
	tr := cfg.Transport
	if tr == nil {
		c.ownTr = &http.Transport{
			Proxy:                 nil,
			DialContext:           (&net.Dialer{Timeout: cfg.Timeout, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConnsPerHost:   4,
			IdleConnTimeout:       60 * time.Second,
			ResponseHeaderTimeout: 0, // the context deadline bounds the call
		}
		tr = c.ownTr
	}
	noRedirect := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.plain = &http.Client{Transport: tr, CheckRedirect: noRedirect}
	c.digest = &http.Client{Transport: &digest.Transport{Username: cfg.Username, Password: cfg.Password, Transport: tr}, CheckRedirect: noRedirect}
	if cfg.Username == "" {
		c.mode = AuthNone
	} else if cfg.Auth != AuthAuto {
		c.mode = cfg.Auth
	}
	return c, nil
}

// Close releases idle connections. It is safe to call more than once.
func (c *Client) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.closed = true
	if c.ownTr != nil {
		c.ownTr.CloseIdleConnections()
	}
}

// Endpoint returns the device service URL.
func (c *Client) Endpoint() string { return c.endpoint.String() }

// AuthMode returns the mode in use: the configured one, or the detected one
// (AuthAuto while not yet detected).
func (c *Client) AuthMode() AuthMode {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mode
}

// ClockOffset returns the learned camera clock offset (camera minus local)
// and whether it has been learned.
func (c *Client) ClockOffset() (time.Duration, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.offset, c.offsetKnown
}

// SetClockOffset sets the camera clock offset used for WS-Security, e.g.
// from a value stored by an earlier session.
func (c *Client) SetClockOffset(d time.Duration) {
	c.mu.Lock()
	c.offset, c.offsetKnown = d, true
	c.mu.Unlock()
}

// request is one SOAP call.
type request struct {
	op     string // operation name, e.g. GetProfiles
	ns     string // service namespace (for the SOAP action)
	action string // SOAP action when not ns + "/" + op
	url    string // service address
	body   []byte // body element
	header []byte // extra header elements
	noAuth bool   // send without credentials first (GetSystemDateAndTime)
}

// call performs req and returns the raw response body of a 200 response.
// HTTP-level and SOAP faults become typed errors. Errors are *OpError.
func (c *Client) call(ctx context.Context, req request) ([]byte, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.Timeout)
		defer cancel()
	}
	data, err := c.callAuth(ctx, req)
	if err != nil {
		return nil, &OpError{Op: req.op, Endpoint: redact.URL(req.url), Err: err}
	}
	return data, nil
}

func (c *Client) callAuth(ctx context.Context, req request) ([]byte, error) {
	mode := c.AuthMode()
	if req.noAuth && mode != AuthNone {
		data, err := c.roundTrip(ctx, req, AuthNone)
		if err == nil || !errors.Is(err, ErrUnauthorized) {
			return data, err
		}
	}
	if mode != AuthAuto {
		data, err := c.roundTrip(ctx, req, mode)
		if (mode == AuthWSSecurity || mode == AuthBoth) && errors.Is(err, ErrUnauthorized) && c.resync(ctx, req) {
			return c.roundTrip(ctx, req, mode)
		}
		return data, err
	}
	data, err := c.detect(ctx, req)
	if errors.Is(err, ErrUnauthorized) && c.resync(ctx, req) {
		return c.detect(ctx, req)
	}
	return data, err
}

// detect tries WS-Security, HTTP digest and both, and remembers the first
// mode the device does not reject.
func (c *Client) detect(ctx context.Context, req request) ([]byte, error) {
	var lastErr error
	for _, m := range []AuthMode{AuthWSSecurity, AuthDigest, AuthBoth} {
		data, err := c.roundTrip(ctx, req, m)
		if err == nil || !errors.Is(err, ErrUnauthorized) {
			if err == nil || errors.Is(err, ErrFault) {
				c.mu.Lock()
				if c.mode == AuthAuto {
					c.mode = m
					c.log.Debug("onvif auth mode detected", "mode", m.String())
				}
				c.mu.Unlock()
			}
			return data, err
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	return nil, lastErr
}

// resync re-learns the clock offset after a WS-Security rejection and
// reports whether it changed enough to be worth a retry (the camera clock
// may have jumped since the offset was learned).
func (c *Client) resync(ctx context.Context, req request) bool {
	if c.cfg.DisableClockSync || req.op == "GetSystemDateAndTime" || ctx.Err() != nil {
		return false
	}
	old, known := c.ClockOffset()
	s, err := c.GetSystemDateAndTime(ctx)
	if err != nil || s.UTC.IsZero() {
		return false
	}
	changed := !known || (s.Offset-old).Abs() > 2*time.Second
	if changed {
		c.log.Debug("onvif camera clock offset changed", "old", old, "new", s.Offset)
	}
	return changed
}

func (c *Client) ensureClock(ctx context.Context) {
	if c.cfg.DisableClockSync {
		return
	}
	if _, ok := c.ClockOffset(); ok {
		return
	}
	if _, err := c.GetSystemDateAndTime(ctx); err != nil {
		c.log.Debug("onvif clock sync failed", "err", err)
	}
}

func (c *Client) roundTrip(ctx context.Context, req request, mode AuthMode) ([]byte, error) {
	header := req.header
	if mode == AuthWSSecurity || mode == AuthBoth {
		if req.op != "GetSystemDateAndTime" {
			c.ensureClock(ctx)
		}
		header = append(c.wsseHeader(), header...)
	}
	env := buildEnvelope(header, req.body)
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, req.url, bytes.NewReader(env))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidArgument, err)
	}
	action := req.action
	if action == "" {
		action = req.ns + "/" + req.op
	}
	hreq.Header.Set("Content-Type", `application/soap+xml; charset=utf-8; action="`+action+`"`)
	hc := c.plain
	if mode == AuthDigest || mode == AuthBoth {
		hc = c.digest
	}
	start := time.Now()
	resp, err := hc.Do(hreq)
	if err != nil {
		return nil, classifyTransport(ctx, err)
	}
	defer resp.Body.Close()
	data, err := c.readBody(ctx, resp)
	c.log.Debug("onvif call", "op", req.op, "auth", mode.String(), "status", resp.StatusCode,
		"bytes", len(data), "elapsed", time.Since(start), "err", err)
	if err != nil {
		return nil, err
	}
	switch {
	case resp.StatusCode == http.StatusOK:
		// Some cameras send faults (even NotAuthorized) with 200: surface
		// them here so that auth detection and clock re-sync see them.
		if bytes.Contains(data, []byte("Fault")) {
			var fe *FaultError
			if _, perr := bodyElement(data); errors.As(perr, &fe) {
				fe.HTTPStatus = resp.StatusCode
				return nil, fe
			}
		}
		return data, nil
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return nil, fmt.Errorf("%w: HTTP %d", ErrUnauthorized, resp.StatusCode)
	}
	// A fault may come with 400 or 500 (or anything else).
	if _, perr := bodyElement(data); perr != nil {
		var fe *FaultError
		if errors.As(perr, &fe) {
			fe.HTTPStatus = resp.StatusCode
			return nil, fe
		}
	}
	switch resp.StatusCode {
	case http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusNotImplemented:
		return nil, fmt.Errorf("%w: HTTP %d", ErrNotSupported, resp.StatusCode)
	}
	return nil, fmt.Errorf("%w: unexpected HTTP status %d", ErrMalformed, resp.StatusCode)
}

func (c *Client) readBody(ctx context.Context, resp *http.Response) ([]byte, error) {
	limit := c.cfg.MaxResponseBytes
	if resp.ContentLength > limit {
		return nil, &tooLargeError{limit}
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if int64(len(data)) > limit {
		return nil, &tooLargeError{limit}
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, classifyTransport(ctx, ctx.Err())
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: truncated response: %v", ErrMalformed, err)
		}
		return nil, classifyTransport(ctx, err)
	}
	return data, nil
}

// wsseHeader builds a WS-Security UsernameToken with PasswordDigest whose
// Created time is the local clock corrected by the learned camera offset.
func (c *Client) wsseHeader() []byte {
	off, _ := c.ClockOffset()
	created := c.cfg.Now().Add(off).UTC().Format("2006-01-02T15:04:05.000Z")
	nonce := make([]byte, 16)
	_, _ = rand.Read(nonce)
	return wsseToken(c.cfg.Username, c.cfg.Password, nonce, created)
}

func wsseToken(user, pass string, nonce []byte, created string) []byte {
	h := sha1.New()
	h.Write(nonce)
	h.Write([]byte(created))
	h.Write([]byte(pass))
	digest := base64.StdEncoding.EncodeToString(h.Sum(nil))
	var b bytes.Buffer
	b.WriteString(`<wsse:Security s:mustUnderstand="1" xmlns:wsse="` + nsWSSE + `" xmlns:wsu="` + nsWSU + `">`)
	b.WriteString(`<wsse:UsernameToken><wsse:Username>` + xmlEscape(user) + `</wsse:Username>`)
	b.WriteString(`<wsse:Password Type="` + pwDigestType + `">` + digest + `</wsse:Password>`)
	b.WriteString(`<wsse:Nonce EncodingType="` + nonceEncType + `">` + base64.StdEncoding.EncodeToString(nonce) + `</wsse:Nonce>`)
	b.WriteString(`<wsu:Created>` + created + `</wsu:Created></wsse:UsernameToken></wsse:Security>`)
	return b.Bytes()
}

// marshalBody serializes a request body value (e.g. a request type from
// github.com/IOTechSystems/onvif).
func marshalBody(v any) []byte {
	b, err := xml.Marshal(v)
	if err != nil {
		// Request types are static; a failure is a programming error.
		panic(fmt.Sprintf("onvif: marshal %T: %v", v, err))
	}
	return b
}

// rewrite applies RewriteServiceHosts to a device-reported address.
func (c *Client) rewrite(addr string) string {
	if !c.cfg.RewriteServiceHosts || addr == "" {
		return addr
	}
	u, err := url.Parse(addr)
	if err != nil {
		return addr
	}
	u.Host = c.endpoint.Host
	u.Scheme = c.endpoint.Scheme
	return u.String()
}
