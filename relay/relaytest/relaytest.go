// Package relaytest runs a [relay.Relay] against fake Intercom and Twilio
// APIs, so that a test of your own wiring (routes, a store of your own, a
// Config you build) is a dozen lines:
//
//	func TestTextsReachIntercom(t *testing.T) {
//		env := relaytest.New(t, relaytest.WithConfig(func(c *relay.Config) {
//			c.DefaultRoute = relay.Route{TeamID: "42"}
//		}))
//		env.Text("+14155550123", "Where is my order?")
//		env.Drain()
//		conv := env.Conversations()[0]
//		env.Reply(conv.ID, "On its way!")
//		env.Drain()
//		if got := env.Sent(); len(got) != 1 || got[0].Body != "On its way!" {
//			t.Errorf("sent %+v", got)
//		}
//	}
//
// [New] starts an [intercomtest.Server] and a [twiliotest.Server], builds
// the relay with clients for them, mounts its handlers on an
// [httptest.Server] whose URL is Config.PublicURL, and closes everything
// when the test ends. Jobs run only when the test calls [Env.Drain] (or
// [relay.Relay.RunOnce]), so a test decides when the relay works.
package relaytest

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/smsrelay/smsrelay/intercom"
	"github.com/smsrelay/smsrelay/intercom/intercomtest"
	"github.com/smsrelay/smsrelay/relay"
	"github.com/smsrelay/smsrelay/store/memstore"
	"github.com/smsrelay/smsrelay/twiliosms"
	"github.com/smsrelay/smsrelay/twiliosms/twiliotest"
)

// Number is the Twilio number customers text in an [Env].
const Number = "+14155550100"

// NoteAuthor is the Intercom admin id that writes the relay's notes in an
// [Env], and AgentID the admin whose replies [Env.Reply] posts.
const (
	NoteAuthor = "991267999"
	AgentID    = "991267001"
)

// AdminToken is Config.AdminToken in an [Env]: the operator API is
// mounted under /admin/ of [Env.URL].
const AdminToken = "relaytest-admin-token"

// Option changes how [New] builds an [Env].
type Option func(*options)

type options struct {
	configure []func(*relay.Config)
	intercom  []intercomtest.Option
	drainFor  time.Duration
}

// WithConfig lets f change the relay's Config before New builds the relay:
// set routes, Reopen, a Store of your own, a MeterProvider. The clients,
// PublicURL, signing secrets and NoteAuthor are already set; change them
// only if you know why.
func WithConfig(f func(*relay.Config)) Option {
	return func(o *options) { o.configure = append(o.configure, f) }
}

// WithIntercomOptions passes options to the fake Intercom server.
func WithIntercomOptions(opts ...intercomtest.Option) Option {
	return func(o *options) { o.intercom = append(o.intercom, opts...) }
}

// WithDrainTimeout sets how long [Env.Drain] waits for the queue to empty
// before failing the test. Default 10 seconds.
func WithDrainTimeout(d time.Duration) Option {
	return func(o *options) { o.drainFor = d }
}

// Env is a relay wired to fake APIs. Its fields are there for tests to
// inspect and to break (intercomtest.Server.Fail, twiliotest.Server.FailNext).
type Env struct {
	// Relay is the relay under test.
	Relay *relay.Relay
	// Intercom and Twilio are the fake APIs.
	Intercom *intercomtest.Server
	Twilio   *twiliotest.Server
	// URL is the relay's PublicURL: its handlers are mounted at
	// /twilio/messages, /twilio/status and /intercom/webhooks, and the
	// operator API at /admin/.
	URL string

	t        testing.TB
	drainFor time.Duration
	client   *http.Client
}

// New builds an Env, failing t if the relay cannot be built. Everything is
// closed when t ends.
func New(t testing.TB, opts ...Option) *Env {
	t.Helper()
	o := options{drainFor: 10 * time.Second}
	for i, opt := range opts {
		if opt == nil {
			t.Fatalf("relaytest.New: option %d is nil", i)
		}
		opt(&o)
	}
	if o.drainFor <= 0 {
		t.Fatalf("relaytest.New: drain timeout must be positive, got %v", o.drainFor)
	}
	ic := intercomtest.NewServer(o.intercom...)
	t.Cleanup(ic.Close)
	tw := twiliotest.NewServer()
	t.Cleanup(tw.Close)
	icClient, err := intercom.NewClient(ic.Token, intercom.WithBaseURL(ic.URL), intercom.WithHTTPClient(ic.Client()),
		intercom.WithRetry(intercom.RetryPolicy{MaxAttempts: 2, InitialInterval: 5 * time.Millisecond, MaxInterval: 20 * time.Millisecond}))
	if err != nil {
		t.Fatalf("relaytest.New: Intercom client: %v", err)
	}
	twClient, err := twiliosms.NewClient(tw.AccountSID, tw.AuthToken, twiliosms.WithBaseURL(tw.URL), twiliosms.WithHTTPClient(tw.Client()))
	if err != nil {
		t.Fatalf("relaytest.New: Twilio client: %v", err)
	}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	cfg := relay.Config{
		Intercom:         icClient,
		Twilio:           twClient,
		Store:            memstore.New(),
		PublicURL:        srv.URL,
		TwilioAuthTokens: []string{tw.AuthToken},
		WebhookSecrets:   []string{ic.ClientSecret},
		NoteAuthor:       NoteAuthor,
		AdminToken:       AdminToken,
		// Failed jobs come back at once, so that Drain sees them through.
		RetryBase:    time.Millisecond,
		RetryMax:     5 * time.Millisecond,
		PollInterval: 5 * time.Millisecond,
	}
	for _, f := range o.configure {
		f(&cfg)
	}
	r, err := relay.New(cfg)
	if err != nil {
		t.Fatalf("relaytest.New: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	mux.Handle("POST /twilio/messages", r.TwilioHandler())
	mux.Handle("POST /twilio/status", r.StatusHandler())
	mux.Handle("POST /intercom/webhooks", r.IntercomHandler())
	mux.Handle("/admin/", http.StripPrefix("/admin", r.AdminHandler()))
	return &Env{Relay: r, Intercom: ic, Twilio: tw, URL: srv.URL, t: t, drainFor: o.drainFor, client: srv.Client()}
}

// Text posts a customer's text from from to [Number], signed as Twilio
// signs it, and fails the test unless the relay accepted it. It returns
// the message's SID.
func (e *Env) Text(from, body string) string {
	e.t.Helper()
	form := twiliotest.InboundForm(from, Number, body)
	status, answer, err := twiliotest.Post(context.Background(), e.client, e.Twilio.AuthToken, e.URL+"/twilio/messages", form)
	if err != nil {
		e.t.Fatalf("relaytest: texting: %v", err)
	}
	if status != http.StatusOK || !strings.Contains(string(answer), "<Response/>") {
		e.t.Fatalf("relaytest: the relay answered a text with %d %q, want 200 and an empty TwiML response", status, answer)
	}
	return form.Get("MessageSid")
}

// Reply posts an agent's reply on conversationID as Intercom's webhook
// does, and fails the test unless the relay accepted it. It returns the
// reply's conversation part id.
func (e *Env) Reply(conversationID, body string) string {
	e.t.Helper()
	part, status, err := e.Intercom.AdminReply(context.Background(), e.URL+"/intercom/webhooks", conversationID, AgentID, body)
	if err != nil {
		e.t.Fatalf("relaytest: replying: %v", err)
	}
	if status != http.StatusOK {
		e.t.Fatalf("relaytest: the relay answered a reply with %d, want 200", status)
	}
	return part
}

// Drain runs jobs until none is waiting or running, and fails the test if
// that takes longer than the drain timeout. Jobs that fail are retried
// within milliseconds until they succeed or are dead-lettered.
func (e *Env) Drain() {
	e.t.Helper()
	if err := e.drain(context.Background()); err != nil {
		e.t.Fatal(err)
	}
}

func (e *Env) drain(ctx context.Context) error {
	deadline := time.Now().Add(e.drainFor)
	for time.Now().Before(deadline) {
		ran, err := e.Relay.RunOnce(ctx)
		if err != nil {
			return fmt.Errorf("relaytest: running a job: %w", err)
		}
		if ran {
			continue
		}
		s, err := e.Relay.Stats(ctx)
		if err != nil {
			return fmt.Errorf("relaytest: reading the queue: %w", err)
		}
		if s.Ready == 0 && s.Leased == 0 {
			return nil
		}
		time.Sleep(2 * time.Millisecond)
	}
	return fmt.Errorf("relaytest: the queue did not drain in %v", e.drainFor)
}

// Conversations returns the fake Intercom's conversations, oldest first.
func (e *Env) Conversations() []intercomtest.Conversation { return e.Intercom.Conversations() }

// Sent returns the texts Twilio accepted, oldest first.
func (e *Env) Sent() []twiliotest.SentMessage { return e.Twilio.Messages() }
