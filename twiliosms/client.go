package twiliosms

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/twilio/twilio-go/client"
	openapi "github.com/twilio/twilio-go/rest/api/v2010"
)

// DefaultTimeout bounds one Send when neither [WithTimeout] nor the
// Timeout of a client given to [WithHTTPClient] says otherwise. It equals
// twilio-go's own default.
const DefaultTimeout = 10 * time.Second

// Limits Twilio applies to a new message.
const (
	// MaxMedia is the largest number of media URLs (MediaUrl) one
	// message may carry; Twilio refuses more with error 21623.
	MaxMedia = 10
	// MaxBodyLength is the longest body Twilio accepts: 1600 characters
	// as Twilio counts them, which is UTF-16 code units (an emoji or any
	// other character beyond U+FFFF counts 2), error 21617
	// ([CodeBodyTooLong]) beyond it. It bounds the text whatever its
	// encoding; [CountSegments] tells how many SMS segments it costs, and
	// [SplitBody] cuts a longer text into bodies that fit.
	MaxBodyLength = 1600
	// maxResponseBody bounds how much of an API answer is read, but for
	// the message log's pages (listAnswerLimit).
	maxResponseBody = 1 << 20
	// maxListedMessageBytes bounds one message of a list answer: a body
	// of MaxBodyLength UTF-16 units, each at most 6 bytes of JSON (a
	// \uXXXX escape), and the message's other fields.
	maxListedMessageBytes = 6*MaxBodyLength + 2<<10
)

// listAnswerLimit bounds the answer to a page of pageSize messages of the
// log: what pageSize messages of the longest bodies take, and not less
// than maxResponseBody.
func listAnswerLimit(pageSize int) int64 {
	return max(int64(pageSize)*maxListedMessageBytes+64<<10, maxResponseBody)
}

var (
	accountSIDPattern = regexp.MustCompile(`^AC[0-9a-fA-F]{32}$`)
	serviceSIDPattern = regexp.MustCompile(`^MG[0-9a-fA-F]{32}$`)
	messageSIDPattern = regexp.MustCompile(`^(SM|MM)[0-9a-fA-F]{32}$`)
	alphanumeric      = regexp.MustCompile(`^[A-Za-z0-9]+$`)
	locationPattern   = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)
)

// Client sends messages through Twilio's Messages API with twilio-go.
// It holds only configuration: each Send builds its own twilio-go client,
// so a Client is safe for concurrent use and never reads the environment.
type Client struct {
	accountSID string
	authToken  string
	baseURL    *url.URL // nil: Twilio's own host
	httpClient *http.Client
	edge       string
	region     string
	timeout    time.Duration
}

// options collects what the Option values set; NewClient turns it into a
// Client.
type options struct {
	baseURL    *url.URL
	httpClient *http.Client
	edge       string
	region     string
	timeout    time.Duration
}

// Option configures a [Client] built by [NewClient]. Each option checks its
// argument; an invalid one makes NewClient fail with an error saying which.
type Option func(*options) error

// WithBaseURL sends every request to base (scheme, host and an optional
// path prefix) instead of https://api.twilio.com. It is meant for tests,
// such as against [github.com/smsrelay/smsrelay/twiliosms/twiliotest].
// twilio-go v1.31 has no setting for this, so the Client rewrites each
// request's scheme and host in its HTTP transport, after twilio-go has built
// the URL (edge and region included).
func WithBaseURL(base string) Option {
	return func(o *options) error {
		u, err := url.Parse(base)
		if err != nil {
			return fmt.Errorf("twiliosms: base URL %q: %w", base, err)
		}
		if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("twiliosms: base URL %q must be an absolute http or https URL", base)
		}
		if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return fmt.Errorf("twiliosms: base URL %q must not carry a query, fragment or user info", base)
		}
		u.Path = strings.TrimSuffix(u.Path, "/")
		u.RawPath = ""
		o.baseURL = u
		return nil
	}
}

// WithHTTPClient makes the Client send through hc: its Transport, Jar,
// CheckRedirect and Timeout are used; hc itself is never modified.
// The default is a client that, like twilio-go's, does not follow
// redirects.
func WithHTTPClient(hc *http.Client) Option {
	return func(o *options) error {
		if hc == nil {
			return errors.New("twiliosms: WithHTTPClient: nil *http.Client")
		}
		o.httpClient = hc
		return nil
	}
}

// WithEdge routes requests through a Twilio edge location such as
// "dublin" or "sydney" (https://api.dublin.us1.twilio.com). The
// TWILIO_EDGE environment variable is never consulted.
func WithEdge(edge string) Option {
	return func(o *options) error {
		if !locationPattern.MatchString(edge) {
			return fmt.Errorf("twiliosms: edge %q must be a lower-case name such as \"dublin\"", edge)
		}
		o.edge = edge
		return nil
	}
}

// WithRegion routes requests to a Twilio processing region such as "ie1"
// or "au1". The TWILIO_REGION environment variable is never consulted.
func WithRegion(region string) Option {
	return func(o *options) error {
		if !locationPattern.MatchString(region) {
			return fmt.Errorf("twiliosms: region %q must be a lower-case name such as \"ie1\"", region)
		}
		o.region = region
		return nil
	}
}

// WithTimeout bounds each Send, connection, request and reading of the
// answer included. The default is the Timeout of the client given to
// [WithHTTPClient] or, when that is zero, [DefaultTimeout].
func WithTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("twiliosms: timeout %v must be positive", d)
		}
		o.timeout = d
		return nil
	}
}

// NewClient returns a Client for the account accountSID ("AC" followed by 32
// hex digits) authenticated with authToken (letters and digits). Only the
// arguments count: unlike twilio-go, NewClient never falls back to the
// TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_EDGE or TWILIO_REGION
// environment variables.
func NewClient(accountSID, authToken string, opts ...Option) (*Client, error) {
	if err := checkAccountSID(accountSID); err != nil {
		return nil, err
	}
	if authToken == "" {
		return nil, errors.New("twiliosms: auth token is empty")
	}
	if !alphanumeric.MatchString(authToken) {
		return nil, errors.New("twiliosms: auth token must contain only letters and digits")
	}
	var o options
	for i, opt := range opts {
		if opt == nil {
			return nil, fmt.Errorf("twiliosms: nil Option (option %d)", i)
		}
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	c := &Client{
		accountSID: accountSID,
		authToken:  authToken,
		baseURL:    o.baseURL,
		httpClient: o.httpClient,
		edge:       o.edge,
		region:     o.region,
		timeout:    o.timeout,
	}
	if c.httpClient == nil {
		c.httpClient = &http.Client{
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if c.timeout == 0 {
		c.timeout = c.httpClient.Timeout
		if c.timeout == 0 {
			c.timeout = DefaultTimeout
		}
	}
	return c, nil
}

func checkAccountSID(sid string) error {
	switch {
	case sid == "":
		return errors.New("twiliosms: account SID is empty")
	case !strings.HasPrefix(sid, "AC"):
		return fmt.Errorf("twiliosms: account SID %q must start with \"AC\"", sid)
	case !accountSIDPattern.MatchString(sid):
		return fmt.Errorf("twiliosms: account SID %q must be \"AC\" followed by 32 hex digits", sid)
	}
	return nil
}

// ValidMessagingServiceSID returns nil when sid is a Messaging Service SID,
// "MG" followed by 32 hex digits (either case), and otherwise an error
// saying what is wrong. The error does not quote sid, in case a secret such
// as an auth token was pasted in its place.
func ValidMessagingServiceSID(sid string) error {
	if p := serviceSIDProblem(sid); p != "" {
		return errors.New("twiliosms: Messaging Service SID " + p)
	}
	return nil
}

// serviceSIDProblem says what is wrong with sid as a Messaging Service
// SID, or "".
func serviceSIDProblem(sid string) string {
	switch {
	case serviceSIDPattern.MatchString(sid):
		return ""
	case sid == "":
		return "is empty"
	case !strings.HasPrefix(sid, "MG"):
		return "must start with \"MG\""
	case len(sid) != 34:
		return fmt.Sprintf("is %d characters long, want 34 (\"MG\" and 32 hex digits)", len(sid))
	}
	return "must be \"MG\" followed by 32 hex digits"
}

// AccountSID returns the account the Client sends for.
func (c *Client) AccountSID() string { return c.accountSID }

// Message is one outgoing SMS, MMS or WhatsApp message.
type Message struct {
	// To is the recipient in E.164 form ("+14155550100"), or
	// "whatsapp:+14155550100". See [NormalizeAddress].
	To string
	// From is the sender: a Twilio number, short code, alphanumeric
	// sender id or "whatsapp:" number. It may be empty when
	// MessagingServiceSID is set; Twilio then picks a sender from the
	// service's pool.
	From string
	// MessagingServiceSID is "MG" followed by 32 hex digits.
	MessagingServiceSID string
	// Body is the text, at most MaxBodyLength UTF-16 code units. It may be
	// empty when MediaURLs is not.
	Body string
	// MediaURLs are up to MaxMedia public http(s) URLs Twilio fetches and
	// sends as MMS (or WhatsApp media).
	MediaURLs []string
	// StatusCallback, when set, is the http(s) URL Twilio posts status
	// callbacks of this message to (see [ParseStatus]).
	StatusCallback string
	// ContentSID, when set, sends the Content Template with this SID
	// ("HX..."), such as an approved WhatsApp template, instead of Body.
	ContentSID string
	// ContentVariables are the template's variables ({"1": "Ada"}). They
	// need ContentSID.
	ContentVariables map[string]string
}

// Sent is Twilio's answer to an accepted message.
type Sent struct {
	// SID identifies the message: "SM…" or "MM…".
	SID string
	// Status is the initial status: "queued", or "accepted" (or
	// "scheduled") for messages sent through a Messaging Service.
	Status string
	// NumSegments is Twilio's segment count. It is 0 for Messaging
	// Service sends, whose sender is not chosen yet.
	NumSegments int
}

// Validate reports what is wrong with m, if anything, as an error wrapping
// [ErrInvalidMessage]. [Client.Send] calls it before any request. The error
// never holds the body or a URL of m, and shows addresses masked
// ([MaskAddress]).
func (m Message) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidMessage, fmt.Sprintf(format, args...))
	}
	switch {
	case m.To == "":
		return bad("To is required")
	case !isE164Recipient(m.To):
		return bad("To %q must be an E.164 number such as +14155550100, optionally prefixed with \"whatsapp:\" (see NormalizeAddress)", MaskAddress(m.To))
	}
	if m.From == "" && m.MessagingServiceSID == "" {
		return bad("From or MessagingServiceSID is required")
	}
	if m.From != "" && !validSender(m.From) {
		return bad("From %q is not an E.164 number, whatsapp: address, short code or alphanumeric sender id", MaskAddress(m.From))
	}
	if m.MessagingServiceSID != "" {
		if p := serviceSIDProblem(m.MessagingServiceSID); p != "" {
			return bad("MessagingServiceSID %s", p)
		}
	}
	if m.ContentSID != "" {
		if !contentSIDPattern.MatchString(m.ContentSID) {
			return bad("ContentSID must be \"HX\" followed by 32 hex digits")
		}
	} else if len(m.ContentVariables) > 0 {
		return bad("ContentVariables need ContentSID")
	}
	if m.Body == "" && len(m.MediaURLs) == 0 && m.ContentSID == "" {
		return bad("Body or MediaURLs (or ContentSID) is required")
	}
	if n := len(utf16.Encode([]rune(m.Body))); n > MaxBodyLength {
		return bad("Body is %d UTF-16 code units long, more than Twilio's limit of %d", n, MaxBodyLength)
	}
	if len(m.MediaURLs) > MaxMedia {
		return bad("%d media URLs, more than Twilio's limit of %d", len(m.MediaURLs), MaxMedia)
	}
	for i, u := range m.MediaURLs {
		if err := checkHTTPURL(u); err != nil {
			return bad("MediaURLs[%d] %v", i, err)
		}
	}
	if m.StatusCallback != "" {
		if err := checkHTTPURL(m.StatusCallback); err != nil {
			return bad("StatusCallback %v", err)
		}
	}
	return nil
}

// checkHTTPURL says what is wrong with s as an absolute http(s) URL. The
// error does not quote s, whose query could carry anything.
func checkHTTPURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return errors.New("is not a URL")
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("must be an absolute http or https URL")
	}
	return nil
}

// Send asks Twilio to send m and returns the new message's SID, status and
// segment count. m is checked first ([Message.Validate]).
//
// twilio-go's calls take no context, so Send bounds them itself:
//
//   - it returns ctx.Err() without any request when ctx is already done;
//   - every request carries ctx (plus the Client's timeout) in its
//     transport, so when ctx is cancelled or the timeout passes while the
//     request is in flight, the connection is abandoned at once and Send
//     returns promptly with an error wrapping ctx's error
//     ([context.Canceled] or [context.DeadlineExceeded]). Such a request
//     may or may not have reached Twilio: the message may have been
//     created and sent anyway. Twilio's Messages API has no idempotency key,
//     so a caller that retries after a timeout accepts the risk of a
//     duplicate text (IsRetryable says a timeout is retryable; a cancelled
//     context is neither retryable nor permanent).
//
// Errors Twilio returns wrap *client.TwilioRestError (use [ErrorCode] or
// errors.As); an error answer whose body is not Twilio's JSON is an
// *[HTTPError]. [IsPermanent] and [IsRetryable] classify all of them, and
// [MaybeSent] tells whether the message may exist all the same.
//
// Errors are safe to log: their text never holds the body, shows phone
// numbers masked ([MaskAddress]), including those Twilio's messages quote
// ("The 'To' number +155*****67 is not a valid phone number."), and names
// a failed request by the URL it went to (the [WithBaseURL] host), without
// its query. The raw text stays in the TwilioRestError's Message and the
// HTTPError's Body for callers that need it.
func (c *Client) Send(ctx context.Context, m Message) (*Sent, error) {
	if ctx == nil {
		return nil, &notSentError{errors.New("twiliosms: Send: nil context")}
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, &notSentError{fmt.Errorf("twiliosms: send not started: %w", err)}
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	api, tr := c.api(ctx)

	params := &openapi.CreateMessageParams{}
	params.SetTo(m.To)
	if m.From != "" {
		params.SetFrom(m.From)
	}
	if m.MessagingServiceSID != "" {
		params.SetMessagingServiceSid(m.MessagingServiceSID)
	}
	if m.Body != "" {
		params.SetBody(m.Body)
	}
	if len(m.MediaURLs) > 0 {
		params.SetMediaUrl(append([]string(nil), m.MediaURLs...))
	}
	if m.StatusCallback != "" {
		params.SetStatusCallback(m.StatusCallback)
	}
	if m.ContentSID != "" {
		params.SetContentSid(m.ContentSID)
		if len(m.ContentVariables) > 0 {
			vars, err := contentVariables(m.ContentVariables)
			if err != nil {
				return nil, fmt.Errorf("twiliosms: send: encoding ContentVariables: %w", err)
			}
			params.SetContentVariables(vars)
		}
	}

	res, err := api.CreateMessage(params)
	if err != nil {
		return nil, c.callError(ctx, tr, "send", err)
	}
	return sentFrom(res)
}

// api returns a twilio-go API service whose requests carry ctx, and the
// transport that records their answers.
func (c *Client) api(ctx context.Context) (*openapi.ApiService, *callTransport) {
	tr := &callTransport{ctx: ctx, base: c.httpClient.Transport, baseURL: c.baseURL}
	hc := *c.httpClient // shallow copy: the caller's client is never modified
	hc.Transport = tr
	hc.Timeout = 0 // the context carries the deadline
	cl := &client.Client{Credentials: client.NewCredentials(c.accountSID, c.authToken), HTTPClient: &hc}
	cl.SetAccountSid(c.accountSID)
	// Built directly (not with client.NewRequestHandler) so that
	// TWILIO_EDGE and TWILIO_REGION are never read.
	return openapi.NewApiService(&client.RequestHandler{Client: cl, Edge: c.edge, Region: c.region}), tr
}

func (c *Client) callError(ctx context.Context, tr *callTransport, op string, err error) error {
	var te *client.TwilioRestError
	if errors.As(err, &te) {
		if te.Status == 0 && tr.status != 0 {
			// Any JSON object decodes as a TwilioRestError, even one a
			// proxy sent; the status then comes from the answer itself.
			te.Status = tr.status
		}
		return fmt.Errorf("twiliosms: %s: %w", op, &restError{te})
	}
	if tr.status >= 400 {
		return fmt.Errorf("twiliosms: %s: %w", op, &HTTPError{StatusCode: tr.status, Body: tr.snippet})
	}
	err = tr.clean(err)
	if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
		return fmt.Errorf("twiliosms: %s: %w (%v)", op, ctxErr, err)
	}
	if tr.status != 0 {
		// An answer arrived but was not a Message (for example invalid JSON).
		return fmt.Errorf("twiliosms: %s: reading Twilio's %d answer: %w", op, tr.status, err)
	}
	return fmt.Errorf("twiliosms: %s: %w", op, err)
}

func sentFrom(res *openapi.ApiV2010Message) (*Sent, error) {
	if res == nil || res.Sid == nil || !messageSIDPattern.MatchString(*res.Sid) {
		return nil, errors.New("twiliosms: send: Twilio's answer carries no valid message SID")
	}
	s := &Sent{SID: *res.Sid}
	if res.Status != nil {
		s.Status = *res.Status
	}
	if res.NumSegments != nil && *res.NumSegments != "" {
		n, err := strconv.Atoi(*res.NumSegments)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("twiliosms: send: Twilio's answer has num_segments %q, not a count", *res.NumSegments)
		}
		s.NumSegments = n
	}
	return s, nil
}

// callTransport is the per-Send transport: it attaches the call's context
// to the request twilio-go built with context.Background, rewrites the host
// for WithBaseURL, and reads the whole (bounded) answer so that twilio-go's
// error path, which never closes the body, cannot leak a connection.
type callTransport struct {
	ctx     context.Context
	base    http.RoundTripper
	baseURL *url.URL
	// limit bounds the answer read; 0 means maxResponseBody.
	limit int64
	// Set by RoundTrip; read by Send after twilio-go returned, never
	// concurrently.
	target  string // scheme, host and path of the last request, no query
	status  int
	snippet string
}

// clean replaces err's *url.Error, whose text is the URL twilio-go built
// (Twilio's host even under WithBaseURL, and for a listing a query holding
// the recipient's number), with a transportError naming the method and the
// URL the request went to, without its query.
func (t *callTransport) clean(err error) error {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err
	}
	target := t.target
	if target == "" {
		target = "Twilio's API"
	}
	return &transportError{method: ue.Op, target: target, err: ue.Err}
}

func (t *callTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(t.ctx)
	if t.baseURL != nil {
		req.URL.Scheme = t.baseURL.Scheme
		req.URL.Host = t.baseURL.Host
		req.URL.Path = t.baseURL.Path + req.URL.Path
		req.URL.RawPath = ""
		req.Host = t.baseURL.Host
	}
	t.target = (&url.URL{Scheme: req.URL.Scheme, Host: req.URL.Host, Path: req.URL.Path}).String()
	base := t.base
	if base == nil {
		base = http.DefaultTransport
	}
	res, err := base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	limit := t.limit
	if limit <= 0 {
		limit = maxResponseBody
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, limit))
	if err != nil {
		return nil, fmt.Errorf("reading answer: %w", err)
	}
	t.status = res.StatusCode
	if res.StatusCode >= 400 {
		t.snippet = string(body[:min(len(body), 512)])
	}
	res.Body = io.NopCloser(bytes.NewReader(body))
	res.ContentLength = int64(len(body))
	return res, nil
}
