package intercom

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// Regional base URLs of the Intercom REST API. A workspace lives in one
// region; use the base URL of that region.
const (
	USBaseURL = "https://api.intercom.io"
	EUBaseURL = "https://api.eu.intercom.io"
	AUBaseURL = "https://api.au.intercom.io"
)

// DefaultVersion is the Intercom API version the client pins in the
// Intercom-Version header of every request, unless [WithVersion] says
// otherwise. The request and response shapes in this package follow it.
const DefaultVersion = "2.16"

// DefaultTimeout bounds each attempt of a request made with the client's
// own *http.Client.
const DefaultTimeout = 30 * time.Second

// Headers in which Intercom reports the request budget on every
// authenticated answer: the budget per window, what is left of it, and when
// the window resets (a UNIX time in seconds, on Intercom's clock: the client
// measures it against the answer's Date header, not its own clock).
const (
	RateLimitLimitHeader     = "X-RateLimit-Limit"
	RateLimitRemainingHeader = "X-RateLimit-Remaining"
	RateLimitResetHeader     = "X-RateLimit-Reset"
)

// maxBody bounds how much of an answer the client reads. A conversation
// holds at most 500 parts, far below this.
const maxBody = 16 << 20

// userAgent identifies the library to Intercom.
const userAgent = "smsrelay-intercom-go (+https://github.com/smsrelay/smsrelay)"

// Client calls the Intercom REST API endpoints the relay needs. Create one
// with [NewClient]. A Client is safe for concurrent use; its rate-limit
// state is shared by all its calls, so use one Client (or one shared
// [Limiter]) per workspace in a process.
type Client struct {
	token   string
	base    *url.URL
	http    *http.Client
	version string
	limiter Limiter
	retry   RetryPolicy
	log     *slog.Logger
	gate    gate
	now     func() time.Time
}

// RetryPolicy bounds the retries of transient failures (status 408, 429 and
// 5xx, timeouts, connection errors). Zero fields take the defaults of
// [DefaultRetryPolicy]; negative fields are invalid.
type RetryPolicy struct {
	// MaxAttempts is the total number of attempts per request, the first
	// included. 1 disables retries.
	MaxAttempts int
	// MaxElapsed bounds the time spent on one request, waits included;
	// no attempt starts after it. A wait for the limiter or for Intercom's
	// rate-limit reset that would end after it is not begun: the call
	// returns an error matching [ErrNotSent].
	MaxElapsed time.Duration
	// InitialInterval is the first back-off delay; later delays grow
	// exponentially, with jitter.
	InitialInterval time.Duration
	// MaxInterval caps a single back-off delay. A 429's reset time, and
	// the Retry-After of any answer, may hold the next attempt for longer
	// (never past MaxElapsed or the context's deadline: the call ends
	// instead, with an error matching [ErrNotSent] that wraps the answer's).
	MaxInterval time.Duration
}

// DefaultRetryPolicy returns the policy a client uses unless [WithRetry]
// says otherwise: 5 attempts within one minute, delays from 500 ms up to
// 15 s.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{MaxAttempts: 5, MaxElapsed: time.Minute, InitialInterval: 500 * time.Millisecond, MaxInterval: 15 * time.Second}
}

// withDefaults fills zero fields from DefaultRetryPolicy.
func (p RetryPolicy) withDefaults() RetryPolicy {
	d := DefaultRetryPolicy()
	if p.MaxAttempts == 0 {
		p.MaxAttempts = d.MaxAttempts
	}
	if p.MaxElapsed == 0 {
		p.MaxElapsed = d.MaxElapsed
	}
	if p.InitialInterval == 0 {
		p.InitialInterval = d.InitialInterval
	}
	if p.MaxInterval == 0 {
		p.MaxInterval = d.MaxInterval
	}
	return p
}

// options collects what the Option values set.
type options struct {
	baseURL    string
	httpClient *http.Client
	version    string
	limiter    Limiter
	limiterSet bool
	retry      RetryPolicy
	logger     *slog.Logger
}

// Option configures a [Client]. An option given an invalid value makes
// [NewClient] fail with an error saying which.
type Option func(*options) error

// WithBaseURL sets the API base URL: [USBaseURL] (the default), [EUBaseURL],
// [AUBaseURL], or any http(s) URL, such as a test server's. A path prefix is
// kept; a trailing slash is ignored.
func WithBaseURL(u string) Option {
	return func(o *options) error {
		o.baseURL = u
		return nil
	}
}

// WithHTTPClient sets the *http.Client that sends requests. The default is
// a client of the package's own with a [DefaultTimeout] per attempt;
// http.DefaultClient is never used or changed.
func WithHTTPClient(c *http.Client) Option {
	return func(o *options) error {
		if c == nil {
			return errors.New("WithHTTPClient: nil *http.Client")
		}
		o.httpClient = c
		return nil
	}
}

// WithVersion sets the Intercom-Version header sent with every request.
// The default is [DefaultVersion]; this package's types follow that version.
func WithVersion(v string) Option {
	return func(o *options) error {
		if strings.TrimSpace(v) == "" || strings.ContainsAny(v, "\r\n") {
			return fmt.Errorf("WithVersion: invalid version %q", v)
		}
		o.version = v
		return nil
	}
}

// WithLimiter sets the limiter every request waits on. The default is
// NewWindowLimiter(DefaultLimit, DefaultWindow), private to the client; give
// several clients of one workspace the same limiter so they share the
// budget. nil disables client-side limiting (Intercom's rate-limit headers
// and 429 answers are still obeyed).
func WithLimiter(l Limiter) Option {
	return func(o *options) error {
		o.limiter = l
		o.limiterSet = true
		return nil
	}
}

// WithRetry sets the retry policy for transient failures.
func WithRetry(p RetryPolicy) Option {
	return func(o *options) error {
		if p.MaxAttempts < 0 || p.MaxElapsed < 0 || p.InitialInterval < 0 || p.MaxInterval < 0 {
			return fmt.Errorf("WithRetry: negative field in %+v", p)
		}
		o.retry = p
		return nil
	}
}

// WithLogger sets the logger for request diagnostics (one debug record per
// attempt, a warning per retry). The default discards everything; nil
// also means discard. Logs never contain the access token or bodies.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		o.logger = l
		return nil
	}
}

// NewClient returns a client that authenticates with the given access
// token (a workspace access token or an OAuth token; it is sent as
// "Authorization: Bearer <token>" and never logged or put in errors).
// It fails if the token is empty or any option is invalid.
func NewClient(token string, opts ...Option) (*Client, error) {
	if strings.TrimSpace(token) == "" {
		return nil, errors.New("intercom: NewClient: empty access token")
	}
	if strings.ContainsAny(token, " \t\r\n") {
		return nil, errors.New("intercom: NewClient: access token contains whitespace")
	}
	o := options{baseURL: USBaseURL, version: DefaultVersion}
	for i, opt := range opts {
		if opt == nil {
			return nil, fmt.Errorf("intercom: NewClient: option %d is nil", i)
		}
		if err := opt(&o); err != nil {
			return nil, fmt.Errorf("intercom: NewClient: %w", err)
		}
	}
	base, err := parseBaseURL(o.baseURL)
	if err != nil {
		return nil, fmt.Errorf("intercom: NewClient: %w", err)
	}
	c := &Client{
		token:   token,
		base:    base,
		http:    o.httpClient,
		version: o.version,
		limiter: o.limiter,
		retry:   o.retry.withDefaults(),
		log:     o.logger,
		now:     time.Now,
	}
	if c.http == nil {
		c.http = &http.Client{Timeout: DefaultTimeout}
	}
	if !o.limiterSet {
		c.limiter = NewWindowLimiter(DefaultLimit, DefaultWindow)
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

func parseBaseURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("WithBaseURL: %w", err)
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return nil, fmt.Errorf("WithBaseURL: %q: scheme must be http or https", s)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("WithBaseURL: %q: no host", s)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("WithBaseURL: %q: must not carry user info, query or fragment", s)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

// Limiter returns the limiter the client waits on, nil if none. Calls whose
// context carries [ContextWithAdmission] wait on that limiter instead.
func (c *Client) Limiter() Limiter { return c.limiter }

// call describes one API request.
type call struct {
	method string
	path   string // escaped path below the base URL, e.g. /contacts/abc
	query  url.Values
	in     any // request body, JSON-encoded; nil for none
	out    any // decoded from a 2xx answer; nil to discard
	// creates marks a request that adds something each time Intercom acts
	// on it (a conversation, a reply, a note). It is retried only after
	// failures that show Intercom did not act on it; see ambiguous.
	creates bool
}

// do performs a request with pacing, rate-limit back-off and retries. It
// returns the headers of the last answer (nil if none arrived). Errors are
// wrapped as "intercom: METHOD PATH: ...".
func (c *Client) do(ctx context.Context, k call) (http.Header, error) {
	if ctx == nil {
		return nil, &notSentError{method: k.method, path: k.path, reason: "nil context"}
	}
	var body []byte
	if k.in != nil {
		// Bodies and operators hold <, > and &: send them as they are
		// rather than as \u003c escapes.
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(k.in); err != nil {
			return nil, &notSentError{method: k.method, path: k.path, reason: "encoding request", cause: err}
		}
		body = bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	}
	u := *c.base
	u.Path += k.path
	if k.query != nil {
		u.RawQuery = k.query.Encode()
	}
	target := u.String()

	start := c.now()
	deadline := start.Add(c.retry.MaxElapsed)
	limiter, skipWait := c.budgetFor(ctx)
	attempt := 0 // attempts begun
	sent := 0    // attempts handed to the HTTP client
	var hdr http.Header
	var lastErr error
	var notBefore time.Time // from a Retry-After on the last answer

	op := func() error {
		attempt++
		if err := c.waitRetryAfter(ctx, k, notBefore, deadline); err != nil {
			return backoff.Permanent(err)
		}
		slot, err := c.admit(ctx, k, attempt, limiter, skipWait, deadline)
		if err != nil {
			return backoff.Permanent(err)
		}
		if slot.IsZero() && attempt == 1 && skipWait {
			slot = admittedAt(ctx)
		}
		sent++
		_, inStep := limiter.(Observer)
		h, err := c.attempt(ctx, k, target, body, attempt, inStep && !slot.IsZero())
		if h != nil {
			hdr = h
		}
		report(limiter, slot, h, err)
		if err == nil {
			return nil
		}
		var ns *notSentError
		if errors.As(err, &ns) {
			return backoff.Permanent(err)
		}
		lastErr = err
		if !IsRetryable(err) || k.creates && ambiguous(err) {
			return backoff.Permanent(err)
		}
		// A 429 holds the whole client (see attempt); another failure's
		// Retry-After holds this call's next attempt, if there is one.
		var apiErr *Error
		if errors.As(err, &apiErr) && apiErr.StatusCode != http.StatusTooManyRequests && apiErr.RetryAfter > 0 &&
			attempt < c.retry.MaxAttempts {
			notBefore = c.now().Add(apiErr.RetryAfter)
			if limit, byCtx := c.waitLimit(ctx, deadline); notBefore.After(limit) {
				return backoff.Permanent(tooLate("the time Retry-After asks to wait until", byCtx))
			}
		}
		return err
	}

	eb := backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(c.retry.InitialInterval),
		backoff.WithMaxInterval(c.retry.MaxInterval),
		backoff.WithMaxElapsedTime(c.retry.MaxElapsed),
	)
	b := backoff.WithContext(backoff.WithMaxRetries(eb, uint64(c.retry.MaxAttempts-1)), ctx)
	notify := func(err error, next time.Duration) {
		c.log.WarnContext(ctx, "intercom: retrying request",
			"method", k.method, "path", k.path, "attempt", attempt, "next_in", next, "err", err)
	}
	err := backoff.RetryNotify(op, b, notify)
	var ns *notSentError
	switch {
	case err == nil:
		return hdr, nil
	case errors.As(err, &ns):
		ns.method, ns.path, ns.attempts, ns.last = k.method, k.path, sent, lastErr
		return hdr, ns
	case ctx.Err() != nil && err == ctx.Err():
		// The context ended between attempts (the back-off returns its
		// error rather than the last attempt's).
		return hdr, &notSentError{method: k.method, path: k.path, attempts: sent,
			reason: "the context ended before the next attempt", cause: err, last: lastErr}
	case sent > 1 && IsRetryable(err):
		return hdr, fmt.Errorf("intercom: %s %s: giving up after %d attempts: %w", k.method, k.path, sent, err)
	default:
		return hdr, fmt.Errorf("intercom: %s %s: %w", k.method, k.path, err)
	}
}

// admit waits until an attempt may be sent: while the client's rate-limit
// hold lasts, then for a slot of the limiter (unless the caller already took
// the first attempt's slot). It returns a *notSentError when the attempt
// cannot be sent: the context ended, or a wait would end after the call's
// deadline or the context's, or the limiter failed.
//
// It returns when the slot it took was granted (on the local clock), or the
// zero time when it took none.
func (c *Client) admit(ctx context.Context, k call, attempt int, limiter Limiter, skipWait bool, deadline time.Time) (time.Time, error) {
	// The slot is taken after the hold so that the limiter sees the real
	// send time; an admission made before a hold is stale, so a held first
	// attempt waits anyway.
	needSlot := attempt > 1 || !skipWait
	var slot time.Time
	for {
		held, err := c.holdIfSpent(ctx, k, deadline)
		if err != nil {
			return time.Time{}, err
		}
		if held {
			needSlot = true
		}
		if !needSlot || limiter == nil {
			return slot, nil
		}
		if err := c.waitSlot(ctx, limiter, deadline); err != nil {
			return time.Time{}, err
		}
		slot = time.Now()
		needSlot = false
		if !c.gate.heldUntil().After(c.now()) {
			return slot, nil // not held again while we waited for the slot
		}
	}
}

// report hands the limiter, when it is an [Observer], what one attempt
// admitted at slot taught: its latency and, from its answer's headers h
// (nil without an answer), Intercom's count of the budget left. An attempt
// that never left (err is a *notSentError) teaches nothing.
func report(limiter Limiter, slot time.Time, h http.Header, err error) {
	o, ok := limiter.(Observer)
	if !ok || slot.IsZero() {
		return
	}
	var ns *notSentError
	if errors.As(err, &ns) {
		return
	}
	remaining := -1
	if h != nil {
		if v := strings.TrimSpace(h.Get(RateLimitRemainingHeader)); v != "" {
			if n, perr := strconv.Atoi(v); perr == nil && n >= 0 {
				remaining = n
			}
		}
	}
	o.Observe(Observation{Admitted: slot, Answered: time.Now(), Remaining: remaining})
}

// waitLimit returns the time by which a wait must end for the call to go
// on: the call's deadline or, when it comes first, the context's. byCtx
// reports the latter.
func (c *Client) waitLimit(ctx context.Context, deadline time.Time) (limit time.Time, byCtx bool) {
	if dl, ok := ctx.Deadline(); ok {
		// In the terms of c.now, which tests may shift.
		if d := c.now().Add(time.Until(dl)); !d.After(deadline) {
			return d, true
		}
	}
	return deadline, false
}

// tooLate reports that what the attempt must wait for ends after the
// call's deadline, or after the context's when byCtx is set: the request
// is not sent.
func tooLate(what string, byCtx bool) *notSentError {
	if byCtx {
		return &notSentError{reason: what + " comes after the context's deadline", cause: context.DeadlineExceeded}
	}
	return &notSentError{reason: what + " comes after the call's deadline (RetryPolicy.MaxElapsed)"}
}

// waitRetryAfter sleeps until notBefore, the time the previous answer's
// Retry-After asked to wait until (zero for none), unless that lies past
// the call's or the context's deadline.
func (c *Client) waitRetryAfter(ctx context.Context, k call, notBefore, deadline time.Time) error {
	now := c.now()
	if !notBefore.After(now) {
		return nil
	}
	if limit, byCtx := c.waitLimit(ctx, deadline); notBefore.After(limit) {
		return tooLate("the time Retry-After asks to wait until", byCtx)
	}
	c.log.DebugContext(ctx, "intercom: waiting as Retry-After asks",
		"method", k.method, "path", k.path, "until", notBefore)
	if err := sleepUntil(ctx, now, notBefore); err != nil {
		return &notSentError{reason: "the context ended while waiting as Retry-After asks", cause: err}
	}
	return nil
}

// holdIfSpent sleeps while the client's rate-limit gate is closed and
// reports whether it slept. It does not wait for a hold that ends after the
// call's or the context's deadline.
func (c *Client) holdIfSpent(ctx context.Context, k call, deadline time.Time) (bool, error) {
	now := c.now()
	until := c.gate.heldUntil()
	if !until.After(now) {
		return false, nil
	}
	if limit, byCtx := c.waitLimit(ctx, deadline); until.After(limit) {
		return false, tooLate("the end of the rate-limit hold", byCtx)
	}
	c.log.DebugContext(ctx, "intercom: holding request until rate-limit reset",
		"method", k.method, "path", k.path, "until", until)
	if err := sleepUntil(ctx, now, until); err != nil {
		return false, &notSentError{reason: "the context ended during the rate-limit hold", cause: err}
	}
	return true, nil
}

// waitSlot waits for a slot of the limiter, no longer than the call's
// deadline.
func (c *Client) waitSlot(ctx context.Context, limiter Limiter, deadline time.Time) error {
	limit, byCtx := c.waitLimit(ctx, deadline)
	wctx := ctx
	if !byCtx {
		var cancel context.CancelFunc
		wctx, cancel = context.WithDeadline(ctx, time.Now().Add(limit.Sub(c.now())))
		defer cancel()
	}
	err := limiter.Wait(wctx)
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return &notSentError{reason: "the context ended while waiting for the limiter", cause: ctx.Err()}
	case wctx.Err() != nil || errors.Is(err, context.DeadlineExceeded):
		// The limiter's next slot lies past the deadline; a limiter may
		// say so at once, as WindowLimiter does.
		return tooLate("the limiter's next slot", byCtx)
	default:
		return &notSentError{reason: "waiting for the limiter", cause: err}
	}
}

// attempt sends one request and interprets the answer.
//
// inStep says that the limiter that admitted the attempt will be told what
// the answer says of the budget (see [Observer]).
func (c *Client) attempt(ctx context.Context, k call, target string, body []byte, n int, inStep bool) (http.Header, error) {
	if err := ctx.Err(); err != nil {
		return nil, &notSentError{reason: "the context ended before the request was sent", cause: err}
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	// Whether the request may have reached Intercom: from the moment the
	// transport holds a connection for it, bytes may be on their way.
	var conn connTrace
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, conn.trace()), k.method, target, rd)
	if err != nil {
		return nil, &notSentError{reason: "building request", cause: err}
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Intercom-Version", c.version)
	req.Header.Set("User-Agent", userAgent)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}

	began := c.now()
	resp, err := c.http.Do(req)
	if err != nil {
		mayBeSent := conn.mayBeSent()
		if ctx.Err() != nil {
			if !mayBeSent {
				return nil, &notSentError{reason: "the context ended before a connection was made", cause: ctx.Err()}
			}
			return nil, &inFlightError{err: ctx.Err()}
		}
		c.log.DebugContext(ctx, "intercom: request failed",
			"method", k.method, "path", k.path, "attempt", n, "err", err)
		if transient(err) {
			return nil, &transportError{err: err, notSent: !mayBeSent}
		}
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if !inStep {
		c.observe(resp)
	}
	if err != nil {
		if ctx.Err() != nil {
			return resp.Header, &inFlightError{err: ctx.Err()}
		}
		return resp.Header, &transportError{err: fmt.Errorf("reading answer: %w", err)}
	}
	if len(raw) > maxBody {
		return resp.Header, fmt.Errorf("answer larger than %d bytes", maxBody)
	}
	c.log.DebugContext(ctx, "intercom: request",
		"method", k.method, "path", k.path, "attempt", n, "status", resp.StatusCode,
		"duration", c.now().Sub(began), "request_id", resp.Header.Get("X-Request-Id"))

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		apiErr := newError(resp.StatusCode, raw)
		apiErr.CanonicalContactID, _ = canonicalContact(resp.Header)
		switch {
		case resp.StatusCode == http.StatusTooManyRequests:
			// The budget is spent: hold every request of this client.
			apiErr.RetryAfter = c.retryAfter(resp.Header, true)
			if apiErr.RetryAfter > 0 {
				c.gate.hold(c.now(), c.now().Add(apiErr.RetryAfter))
			}
		case retryableStatus(resp.StatusCode):
			// A failure of this request only: X-RateLimit-Reset says
			// nothing about when to try it again, Retry-After may.
			apiErr.RetryAfter = c.retryAfter(resp.Header, false)
		}
		return resp.Header, apiErr
	}
	if k.out != nil && len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, k.out); err != nil {
			return resp.Header, fmt.Errorf("decoding answer: %w", &redactedError{err: err})
		}
	}
	return resp.Header, nil
}

// observe applies the rate-limit headers of an answer: with
// X-RateLimit-Remaining at 0, requests are held until X-RateLimit-Reset.
// It is skipped for answers to requests whose limiter keeps in step with
// the headers itself (an [Observer]): that limiter knows whether the spent
// budget is its own, in which case it admits the next request as soon as
// the window allows rather than at the reset, which Intercom rounds up to
// a whole second. A 429 still holds every request.
func (c *Client) observe(resp *http.Response) {
	rem := resp.Header.Get(RateLimitRemainingHeader)
	if rem == "" {
		return
	}
	n, err := strconv.Atoi(strings.TrimSpace(rem))
	if err != nil || n > 0 {
		return
	}
	now := c.now()
	if d, ok := untilReset(resp.Header, now); ok && d > 0 {
		c.gate.hold(now, now.Add(d))
	}
}

// retryAfter reads how long to wait before the next attempt: until
// X-RateLimit-Reset when useReset is set (for 429 answers), else
// Retry-After (seconds or an HTTP date). Zero if the answer does not say.
// Times are measured on Intercom's clock (see serverNow), and no wait
// exceeds maxHold.
func (c *Client) retryAfter(h http.Header, useReset bool) time.Duration {
	now := c.now()
	if useReset {
		if d, ok := untilReset(h, now); ok && d > 0 {
			return d
		}
	}
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if s, err := strconv.Atoi(v); err == nil && s > 0 {
			return min(time.Duration(s)*time.Second, maxHold)
		}
		if t, err := http.ParseTime(v); err == nil {
			if d := t.Sub(serverNow(h, now)); d > 0 {
				return min(d, maxHold)
			}
		}
	}
	return 0
}

// untilReset returns how long until the X-RateLimit-Reset of an answer,
// measured on Intercom's clock, at most maxHold; ok is false when the
// answer has no valid reset. The result is 0 or negative when the reset
// has passed.
//
// The reset is a UNIX time on Intercom's clock. Compared with the local
// clock, a client clock ahead of Intercom's would see every reset as past
// and retry too soon, and one behind would hold for the longest hold after
// every exhausted budget. Compared with the answer's Date, the wait comes
// out right whatever the skew, and errs long by less than the second Date
// rounds off plus the answer's transit, never short.
func untilReset(h http.Header, now time.Time) (d time.Duration, ok bool) {
	reset, ok := parseReset(h)
	if !ok {
		return 0, false
	}
	return min(reset.Sub(serverNow(h, now)), maxHold), true
}

// serverNow returns when an answer was made, on Intercom's clock: its Date
// header, or now (the local clock) when it has no valid one.
func serverNow(h http.Header, now time.Time) time.Time {
	if v := h.Get("Date"); v != "" {
		if t, err := http.ParseTime(v); err == nil {
			return t
		}
	}
	return now
}

// parseReset reads X-RateLimit-Reset, a UNIX time in seconds.
func parseReset(h http.Header) (time.Time, bool) {
	v := strings.TrimSpace(h.Get(RateLimitResetHeader))
	if v == "" {
		return time.Time{}, false
	}
	s, err := strconv.ParseInt(v, 10, 64)
	if err != nil || s <= 0 {
		return time.Time{}, false
	}
	return time.Unix(s, 0), true
}

// pathID validates an id argument and escapes it for a URL path.
func pathID(what, id string) (string, error) {
	if strings.TrimSpace(id) == "" {
		return "", fmt.Errorf("empty %s", what)
	}
	if strings.ContainsAny(id, "/?#\r\n") || id == "." || id == ".." {
		return "", fmt.Errorf("invalid %s %q", what, id)
	}
	return url.PathEscape(id), nil
}

func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// connTrace follows how far the transport got with a request, to tell a
// request that cannot have reached Intercom from one that may have.
type connTrace struct {
	getConn, gotConn atomic.Bool
}

func (t *connTrace) trace() *httptrace.ClientTrace {
	return &httptrace.ClientTrace{
		GetConn: func(string) { t.getConn.Store(true) },
		GotConn: func(httptrace.GotConnInfo) { t.gotConn.Store(true) },
	}
}

// mayBeSent reports whether bytes of the request may have left: the
// transport got a connection for it, or it reported nothing at all (a
// transport that does not trace, or a failure too early to tell), in which
// case the safe answer is yes. Only a transport that was still getting a
// connection when it failed shows that the request never left.
func (t *connTrace) mayBeSent() bool {
	return t.gotConn.Load() || !t.getConn.Load()
}
