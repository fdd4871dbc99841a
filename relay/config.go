package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/smsrelay/smsrelay/intercom"
	"github.com/smsrelay/smsrelay/store"
	"github.com/smsrelay/smsrelay/twiliosms"
)

// IntercomAPI is the part of Intercom's REST API the relay uses.
// *intercom.Client satisfies it; wrap it (tracing, caching) or replace it with
// a fake as you like. The relay puts every call through its own budget (see
// [Config.RateLimit]), so a wrapper need not limit anything.
type IntercomAPI interface {
	SearchContactsByPhone(ctx context.Context, phone string) ([]intercom.Contact, error)
	CreateContact(ctx context.Context, c intercom.ContactCreate) (*intercom.Contact, error)
	CreateConversation(ctx context.Context, c intercom.ConversationCreate) (*intercom.ConversationMessage, error)
	ReplyAsContact(ctx context.Context, conversationID string, r intercom.ContactReply) (*intercom.Conversation, error)
	AddNote(ctx context.Context, conversationID, adminID, body string) (*intercom.Conversation, error)
	Assign(ctx context.Context, conversationID string, a intercom.Assignment) (*intercom.Conversation, error)
	Open(ctx context.Context, conversationID, adminID string) (*intercom.Conversation, error)
	TagConversation(ctx context.Context, conversationID, tagID, adminID string) error
	Conversation(ctx context.Context, id string) (*intercom.Conversation, error)
}

// ConversationFinder is an optional capability of an [IntercomAPI]: finding a
// contact's recent conversations. *intercom.Client has it. With it, a job
// whose request to start a conversation had an unknown outcome (a timeout,
// a 502) looks for the conversation before starting another.
type ConversationFinder interface {
	SearchConversationsByContact(ctx context.Context, contactID string, since time.Time) ([]intercom.Conversation, error)
}

// SMSSender sends a text through Twilio. *twiliosms.Client satisfies it.
type SMSSender interface {
	Send(ctx context.Context, m twiliosms.Message) (*twiliosms.Sent, error)
}

// Limiter admits one request at a time to a budget. Wait blocks until the
// request may go, or returns ctx's error. *intercom.WindowLimiter (one
// process) and *redisstore.Limiter (several replicas) satisfy it.
type Limiter interface {
	Wait(ctx context.Context) error
}

// Route says what happens to a new conversation started by a text to one of
// our numbers.
type Route struct {
	// TeamID, when set, assigns new conversations to this Intercom team.
	TeamID string
	// AdminID, when set, assigns new conversations to this Intercom admin.
	AdminID string
	// TagIDs are Intercom tag ids added to new conversations.
	TagIDs []string
}

func (r Route) empty() bool { return r.TeamID == "" && r.AdminID == "" && len(r.TagIDs) == 0 }

// Config configures a [Relay]. Fields marked required must be set; every other
// zero value means the documented default.
type Config struct {
	// Intercom is the Intercom API client. Required.
	Intercom IntercomAPI
	// Twilio sends texts. Required.
	Twilio SMSSender
	// Store keeps the relay's records. Required.
	Store store.Store
	// Queue holds the relay's jobs. Default: Store, when it also implements
	// store.Queue (memstore, pgstore and redisstore all do).
	Queue store.Queue

	// PublicURL is the origin (scheme, host and any path prefix a proxy
	// strips) at which Twilio and Intercom reach this process, such as
	// "https://support.example.com". Required. Twilio signatures are checked
	// against PublicURL + the request's path and query, never against the
	// Host header, so a TLS-terminating proxy in front does no harm.
	PublicURL string
	// StatusCallbackURL is where Twilio posts delivery statuses of the texts
	// the relay sends: the URL at which StatusHandler is mounted. Default:
	// PublicURL + "/twilio/status".
	StatusCallbackURL string
	// TwilioAuthTokens verify X-Twilio-Signature. Required: the account's auth
	// token; during a rotation, list the new and the old one.
	TwilioAuthTokens []string
	// WebhookSecrets verify Intercom's X-Hub-Signature. Required: the Intercom
	// app's client secret; during a rotation, list both.
	WebhookSecrets []string
	// NoteAuthor is the Intercom admin id that authors the relay's internal
	// notes (opt-outs, failed deliveries). Required.
	NoteAuthor string
	// MessagingServiceSID, when set, sends agent replies through this Twilio
	// Messaging Service instead of from the thread's own number (WhatsApp
	// threads keep their own sender), and texts to any number of its pool
	// thread by (customer, service), so that a customer who answers
	// another number of the pool stays on their conversation. A customer's
	// existing thread on a number carries over with their first text after
	// the service is set.
	MessagingServiceSID string
	// DefaultRegion is the ISO 3166 region used to read phone numbers that
	// lack a country code, such as "US". Default: none; such numbers are
	// rejected.
	DefaultRegion string

	// Routes maps our numbers (Twilio's To, in E.164 or "whatsapp:+..." form)
	// to what happens to new conversations started by texts to them. Numbers
	// not listed use DefaultRoute.
	Routes map[string]Route
	// DefaultRoute applies to new conversations on numbers not in Routes.
	DefaultRoute Route

	// Reopen makes a text on a thread whose conversation was closed reopen
	// that conversation instead of starting a new one.
	Reopen bool
	// IdleTimeout, when positive, starts a new conversation when the
	// customer's previous text on the thread is older than this, even if the
	// old conversation is still open.
	IdleTimeout time.Duration

	// DefaultFrom is the number texts the relay sends first ([Relay.Send])
	// go out from when they name none, in E.164 form (or a short code or
	// alphanumeric sender ID). With MessagingServiceSID such texts go
	// through the service instead.
	DefaultFrom string
	// AnswerWindow is how long after a text sent first the customer's
	// answer is taken for one: their conversation gets a note quoting
	// what was sent, and AnswerTagID. Default 48 hours; negative turns
	// this off.
	AnswerWindow time.Duration
	// AnswerTagID is the Intercom tag id (of a tag such as "sms-reply",
	// created in Intercom's settings) added to a conversation an answer to
	// a text sent first starts or continues. Default: no tag.
	AnswerTagID string
	// SendRate, when set, returns the texts per second [Relay.Send] sends
	// from a sender (a number, short code, alphanumeric ID or the
	// Messaging Service SID); 0 means Twilio's default for its kind
	// (twiliosms.DefaultRate: 1 on a long code, 10 alphanumeric, 100 on a
	// short code). A Messaging Service's rate is that of its pool.
	SendRate func(sender string) float64

	// WhatsAppTemplate, when set, is sent to a WhatsApp customer when an
	// agent's reply fails because they last wrote more than 24 hours ago
	// (Twilio error 63016), at most once a day per thread, to invite them to
	// write back. Default: the agent gets a note only.
	WhatsAppTemplate *WhatsAppTemplate

	// Cost guards the cost of every text the relay sends: transliteration
	// of characters that force UCS-2, and a cap on the segments of one
	// text. Default: texts go as written, split only at Twilio's limit.
	Cost CostGuard

	// Paging pages agents by SMS about conversations tagged Paging.Tag or
	// waiting Paging.After for a reply (page.go). Default: off.
	Paging Paging

	// ContactSync mirrors opt-outs and the time of the last text sent onto
	// the customer's Intercom contact, as custom attributes and a tag
	// (contactsync.go). Default: off.
	ContactSync ContactSync
	// Identity, when set, asks a customer who texts from a number Intercom
	// knows only as a lead without an email for their email address, once,
	// and attaches the number to the Intercom user with that address
	// (identity.go). It needs an Intercom client that is an [IdentityAPI]
	// and a [ContactReader], as *intercom.Client is. Default: off.
	Identity *IdentityBridge

	// RateLimit is the Intercom budget: requests per 10 seconds, over a
	// sliding window, for every Intercom call this Relay makes. When neither
	// RateLimit nor Limiter is set, the relay uses the Intercom client's own
	// limiter if it has one (*intercom.Client does: 83 per 10 s by default),
	// so that the process has one budget; otherwise 83. Set at most one of
	// RateLimit and Limiter. With N replicas and no shared limiter, give
	// each 83/N.
	RateLimit int
	// Limiter replaces the budget, for instance with a limiter shared by
	// several replicas (redisstore.NewLimiter). Give the same limiter to the
	// Intercom client (intercom.WithLimiter) if the host calls the client
	// directly too.
	Limiter Limiter

	// Workers is how many jobs run at once. Default 4.
	Workers int
	// Lease is how long a worker holds a job before another may take it; the
	// worker extends it while the job runs. Default 1 minute.
	Lease time.Duration
	// MaxAttempts is how many times a job runs before it is dead-lettered.
	// Default 25, which with the default delays keeps retrying through about
	// three hours of outage.
	MaxAttempts int
	// RetryBase and RetryMax bound the delay before a failed job runs again:
	// RetryBase doubling per attempt, up to RetryMax, with jitter. Defaults 2s
	// and 10 minutes.
	RetryBase, RetryMax time.Duration
	// PollInterval is how long an idle worker waits before looking for work
	// again. Default 250ms.
	PollInterval time.Duration
	// DrainTimeout bounds how long Run waits for running jobs after its
	// context ends; jobs still running then are abandoned to their lease and
	// run again elsewhere. Default 30s.
	DrainTimeout time.Duration
	// DedupeTTL is how long webhook deliveries are remembered for
	// de-duplication. Default 72 hours.
	DedupeTTL time.Duration
	// MaxBodyBytes bounds what a handler reads of a request body; larger
	// requests get 413. Default 1 MiB.
	MaxBodyBytes int64

	// Logger receives the relay's logs, with phone numbers and email
	// addresses masked. Default: discard.
	Logger *slog.Logger
	// MeterProvider receives the relay's OpenTelemetry metrics: webhook
	// requests by result, jobs by outcome and duration, texts sent and
	// withheld, and the queue's depth by state (see the package doc).
	// Default: none recorded.
	MeterProvider metric.MeterProvider
	// TracerProvider, when set, receives spans: each webhook request, each
	// run of a job (a child of the request that enqueued it: the trace
	// context travels in the job), and each Intercom and Twilio call.
	// Spans carry no phone number or message body. Default: no tracing.
	TracerProvider trace.TracerProvider

	// AdminToken is the bearer token [Relay.AdminHandler] requires, at
	// least 16 characters. Default: none, and AdminHandler answers every
	// request with 404.
	AdminToken string
}

const (
	defaultRateLimit    = intercom.DefaultLimit
	rateWindow          = intercom.DefaultWindow
	defaultWorkers      = 4
	defaultLease        = time.Minute
	defaultMaxAttempts  = 25
	defaultRetryBase    = 2 * time.Second
	defaultRetryMax     = 10 * time.Minute
	defaultPoll         = 250 * time.Millisecond
	defaultDrain        = 30 * time.Second
	defaultDedupeTTL    = 72 * time.Hour
	defaultMaxBodyBytes = 1 << 20
	defaultAnswerWindow = 48 * time.Hour
)

// ConfigError lists everything wrong with a Config.
type ConfigError struct {
	Problems []string
}

// Error lists the problems, separated by semicolons.
func (e *ConfigError) Error() string {
	return "relay: invalid config: " + strings.Join(e.Problems, "; ")
}

// withDefaults validates c and returns it with defaults filled in.
func (c Config) withDefaults() (Config, error) {
	var p []string
	add := func(format string, a ...any) { p = append(p, fmt.Sprintf(format, a...)) }
	if c.Intercom == nil {
		add("Intercom is required")
	}
	if c.Twilio == nil {
		add("Twilio is required")
	}
	if c.Store == nil {
		add("Store is required")
	}
	if c.Queue == nil {
		if q, ok := c.Store.(store.Queue); ok {
			c.Queue = q
		} else if c.Store != nil {
			add("Queue is required: Store does not implement store.Queue")
		}
	}
	c.PublicURL = strings.TrimSuffix(c.PublicURL, "/")
	if c.PublicURL == "" {
		add("PublicURL is required")
	} else if err := checkURL(c.PublicURL); err != nil {
		add("PublicURL: %v", err)
	}
	if c.StatusCallbackURL == "" && c.PublicURL != "" {
		c.StatusCallbackURL = c.PublicURL + "/twilio/status"
	} else if c.StatusCallbackURL != "" {
		if err := checkURL(c.StatusCallbackURL); err != nil {
			add("StatusCallbackURL: %v", err)
		}
	}
	if len(nonEmpty(c.TwilioAuthTokens)) == 0 {
		add("TwilioAuthTokens needs the Twilio auth token")
	}
	if len(nonEmpty(c.WebhookSecrets)) == 0 {
		add("WebhookSecrets needs the Intercom app's client secret")
	}
	if c.NoteAuthor == "" {
		add("NoteAuthor (the Intercom admin id that writes internal notes) is required")
	}
	if c.MessagingServiceSID != "" {
		if err := twiliosms.ValidMessagingServiceSID(c.MessagingServiceSID); err != nil {
			add("MessagingServiceSID: %v", err)
		}
	}
	routes := make(map[string]Route, len(c.Routes))
	for _, num := range slices.Sorted(maps.Keys(c.Routes)) {
		n, err := twiliosms.NormalizeAddress(num, c.DefaultRegion)
		if err != nil {
			add("Routes: number %q: %v", num, err)
			continue
		}
		if _, dup := routes[n]; dup {
			add("Routes: %q and another key are the same number %s", num, n)
		}
		routes[n] = c.Routes[num]
	}
	c.Routes = routes
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"IdleTimeout", c.IdleTimeout}, {"Lease", c.Lease}, {"RetryBase", c.RetryBase}, {"RetryMax", c.RetryMax},
		{"PollInterval", c.PollInterval}, {"DrainTimeout", c.DrainTimeout}, {"DedupeTTL", c.DedupeTTL},
	} {
		if d.v < 0 {
			add("%s must not be negative", d.name)
		}
	}
	if c.Lease > 0 && c.Lease < 100*time.Millisecond {
		add("Lease must be at least 100ms")
	}
	if c.RateLimit < 0 {
		add("RateLimit must not be negative")
	}
	if c.RateLimit != 0 && c.Limiter != nil {
		add("set RateLimit or Limiter, not both")
	}
	if c.RetryBase > 0 && c.RetryMax > 0 && c.RetryBase > c.RetryMax {
		add("RetryBase (%v) is longer than RetryMax (%v)", c.RetryBase, c.RetryMax)
	}
	if c.Workers < 0 {
		add("Workers must not be negative")
	}
	if c.MaxAttempts < 0 {
		add("MaxAttempts must not be negative")
	}
	if c.MaxBodyBytes < 0 {
		add("MaxBodyBytes must not be negative")
	}
	if c.AdminToken != "" && (len(c.AdminToken) < minAdminToken || strings.ContainsAny(c.AdminToken, " \t\r\n")) {
		add("AdminToken must be at least %d characters, without spaces", minAdminToken)
	}
	if c.DefaultFrom != "" {
		if n, err := twiliosms.NormalizeAddress(c.DefaultFrom, c.DefaultRegion); err == nil {
			c.DefaultFrom = n
		} else if !isSenderID(c.DefaultFrom) {
			add("DefaultFrom: %v", err)
		}
	}
	if c.WhatsAppTemplate != nil {
		if err := twiliosms.ValidContentSID(c.WhatsAppTemplate.ContentSID); err != nil {
			add("WhatsAppTemplate.ContentSID: %v", err)
		}
	}
	c.Paging = c.Paging.withDefaults(c.DefaultRegion, add)
	c.ContactSync = c.ContactSync.withDefaults(c.Intercom, add)
	c.Identity = c.Identity.withDefaults(c.Cost, c.Intercom, add)
	if c.Cost.MaxSegments < 0 {
		add("Cost.MaxSegments must not be negative")
	}
	if c.Cost.HoldOverCap && c.Cost.MaxSegments == 0 {
		add("Cost.HoldOverCap needs Cost.MaxSegments")
	}
	if len(p) > 0 {
		return c, &ConfigError{Problems: p}
	}
	c.TwilioAuthTokens = nonEmpty(c.TwilioAuthTokens)
	c.WebhookSecrets = nonEmpty(c.WebhookSecrets)
	c.RateLimit = or(c.RateLimit, defaultRateLimit)
	c.Workers = or(c.Workers, defaultWorkers)
	c.Lease = or(c.Lease, defaultLease)
	c.MaxAttempts = or(c.MaxAttempts, defaultMaxAttempts)
	c.RetryBase = or(c.RetryBase, defaultRetryBase)
	c.RetryMax = or(c.RetryMax, defaultRetryMax)
	c.PollInterval = or(c.PollInterval, defaultPoll)
	c.DrainTimeout = or(c.DrainTimeout, defaultDrain)
	c.DedupeTTL = or(c.DedupeTTL, defaultDedupeTTL)
	c.MaxBodyBytes = or(c.MaxBodyBytes, defaultMaxBodyBytes)
	c.AnswerWindow = or(c.AnswerWindow, defaultAnswerWindow)
	if c.SendRate == nil {
		c.SendRate = func(string) float64 { return 0 }
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	c.Logger = newRedactingLogger(c.Logger)
	return c, nil
}

func or[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

func nonEmpty(ss []string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return errors.New("not a URL")
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return fmt.Errorf("scheme must be https or http, not %q", u.Scheme)
	}
	if u.Host == "" {
		return errors.New("has no host")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return errors.New("must not have a query or fragment")
	}
	return nil
}
