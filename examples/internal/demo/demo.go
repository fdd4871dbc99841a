// Package demo wires the example programs to the fake Intercom and Twilio
// APIs that ship with the library (intercomtest, twiliotest), so that each
// program runs in one process with no credentials and no network and
// tells only its own story.
//
// [Start] starts the two fakes with clients pointed at them;
// [Fakes.Config] is the relay's configuration that reaches them, for the
// program to complete; [Fakes.Serve] plays the host application: an HTTP
// server on a local port with the relay mounted, its workers running.
// [Fakes.Env] is the environment that points examples/server and
// examples/backfill at the fakes.
package demo

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/smsrelay/smsrelay/intercom"
	"github.com/smsrelay/smsrelay/intercom/intercomtest"
	"github.com/smsrelay/smsrelay/relay"
	"github.com/smsrelay/smsrelay/store"
	"github.com/smsrelay/smsrelay/store/memstore"
	"github.com/smsrelay/smsrelay/twiliosms"
	"github.com/smsrelay/smsrelay/twiliosms/twiliotest"
)

// Fakes is a fake Intercom and a fake Twilio, each with a client pointed
// at it.
type Fakes struct {
	// IC is the fake Intercom: the inbox a program looks into, and the
	// sender of Intercom's webhooks.
	IC *intercomtest.Server
	// TW is the fake Twilio: the texts sent, and the account's log.
	TW *twiliotest.Server
	// Intercom and Twilio are the clients the relay uses.
	Intercom *intercom.Client
	Twilio   *twiliosms.Client

	limiter *intercom.WindowLimiter
}

// Options tunes [Start]. The zero value starts both fakes with their
// defaults.
type Options struct {
	// Intercom are options of the fake Intercom, such as
	// intercomtest.WithAppID or intercomtest.WithBudget.
	Intercom []intercomtest.Option
	// Limiter, when set, paces the Intercom client, and Config makes it the
	// relay's Limiter too.
	Limiter *intercom.WindowLimiter
}

// Start starts the two fakes and their clients. Close them with
// [Fakes.Close].
func Start(o Options) (*Fakes, error) {
	f := &Fakes{
		IC:      intercomtest.NewServer(o.Intercom...),
		TW:      twiliotest.NewServer(),
		limiter: o.Limiter,
	}
	icOpts := []intercom.Option{intercom.WithBaseURL(f.IC.URL), intercom.WithHTTPClient(f.IC.Client())}
	if o.Limiter != nil {
		icOpts = append(icOpts, intercom.WithLimiter(o.Limiter))
	}
	var err error
	if f.Intercom, err = intercom.NewClient(f.IC.Token, icOpts...); err != nil {
		f.Close()
		return nil, fmt.Errorf("demo: intercom client: %w", err)
	}
	if f.Twilio, err = twiliosms.NewClient(f.TW.AccountSID, f.TW.AuthToken, twiliosms.WithBaseURL(f.TW.URL), twiliosms.WithHTTPClient(f.TW.Client())); err != nil {
		f.Close()
		return nil, fmt.Errorf("demo: twilio client: %w", err)
	}
	return f, nil
}

// Close stops both fakes.
func (f *Fakes) Close() {
	f.TW.Close()
	f.IC.Close()
}

// Config returns the relay's configuration that reaches the fakes: their
// clients, the Twilio auth token and the Intercom client secret that sign
// their webhooks, the limiter of [Options], a memory store, and a short
// poll interval. The program adds the rest (NoteAuthor, routes, paging);
// [Fakes.Serve] sets PublicURL.
func (f *Fakes) Config() relay.Config {
	cfg := relay.Config{
		Intercom:         f.Intercom,
		Twilio:           f.Twilio,
		Store:            memstore.New(),
		TwilioAuthTokens: []string{f.TW.AuthToken},
		WebhookSecrets:   []string{f.IC.ClientSecret},
		PollInterval:     10 * time.Millisecond,
	}
	if f.limiter != nil {
		cfg.Limiter = f.limiter
	}
	return cfg
}

// Env returns the environment variables that point examples/server and
// examples/backfill at the fakes: the Intercom token, client secret and
// base URL, and the Twilio account, auth token and base URL.
func (f *Fakes) Env() map[string]string {
	return map[string]string{
		"INTERCOM_ACCESS_TOKEN":  f.IC.Token,
		"INTERCOM_CLIENT_SECRET": f.IC.ClientSecret,
		"INTERCOM_BASE_URL":      f.IC.URL,
		"TWILIO_ACCOUNT_SID":     f.TW.AccountSID,
		"TWILIO_AUTH_TOKEN":      f.TW.AuthToken,
		"TWILIO_BASE_URL":        f.TW.URL,
	}
}

// Host is the host application: an HTTP server on a local port with the
// relay's webhook handlers mounted, and the relay's workers running.
type Host struct {
	// URL is the server's address, which is the relay's PublicURL.
	URL string
	// Relay is the relay the server mounts.
	Relay *relay.Relay

	tw      *twiliotest.Server
	srv     *http.Server
	stop    context.CancelFunc
	runDone chan error
}

// Serve listens on a local port, creates the relay from cfg with that
// address as its PublicURL, mounts its handlers where examples/server
// mounts them (POST /twilio/messages, /twilio/status, /intercom/webhooks)
// and whatever mount, if not nil, adds, serves, and runs the relay's
// workers until [Host.Stop] or ctx ends. Close the host with [Host.Close].
func (f *Fakes) Serve(ctx context.Context, cfg relay.Config, mount func(*http.ServeMux, *relay.Relay)) (*Host, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("demo: listen: %w", err)
	}
	cfg.PublicURL = "http://" + ln.Addr().String()
	r, err := relay.New(cfg)
	if err != nil {
		ln.Close()
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("POST /twilio/messages", r.TwilioHandler())
	mux.Handle("POST /twilio/status", r.StatusHandler())
	mux.Handle("POST /intercom/webhooks", r.IntercomHandler())
	if mount != nil {
		mount(mux, r)
	}
	h := &Host{
		URL:     cfg.PublicURL,
		Relay:   r,
		tw:      f.TW,
		srv:     &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second},
		runDone: make(chan error, 1),
	}
	go h.srv.Serve(ln)
	runCtx, stop := context.WithCancel(ctx)
	h.stop = stop
	go func() { h.runDone <- r.Run(runCtx) }()
	return h, nil
}

// IntercomWebhook is where Intercom posts its notifications to the relay.
func (h *Host) IntercomWebhook() string { return h.URL + "/intercom/webhooks" }

// Text plays Twilio delivering a text from one number to another to the
// relay, signed as Twilio signs it, and wants the relay to accept it.
func (h *Host) Text(ctx context.Context, from, to, body string) error {
	status, _, err := twiliotest.Post(ctx, nil, h.tw.AuthToken, h.URL+"/twilio/messages", twiliotest.InboundForm(from, to, body))
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("the relay answered Twilio with status %d", status)
	}
	return nil
}

// Stop stops the relay's workers and returns what Run returned, then the
// jobs that failed (the dead letters, at most ten).
func (h *Host) Stop(ctx context.Context) ([]store.Job, error) {
	h.stop()
	if err := <-h.runDone; err != nil {
		return nil, err
	}
	return h.Relay.DeadLetters(ctx, 10)
}

// Close stops the workers if [Host.Stop] has not, then the server and the
// relay.
func (h *Host) Close() {
	h.stop()
	h.srv.Close()
	h.Relay.Close()
}

// Failed is the error a demo ends with when jobs failed: nil when dead is
// empty.
func Failed(dead []store.Job) error {
	if len(dead) == 0 {
		return nil
	}
	return errors.New("some jobs failed: " + dead[0].LastError)
}

// WaitFor polls cond for up to five seconds, until it reports true, and
// returns the value it gave last.
func WaitFor[T any](cond func() (T, bool)) (T, error) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		v, ok := cond()
		if ok {
			return v, nil
		}
		if time.Now().After(deadline) {
			return v, errors.New("timed out after 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// FirstOr returns the first element of s, or the zero value when s is
// empty.
func FirstOr[T any](s []T) T {
	var zero T
	if len(s) == 0 {
		return zero
	}
	return s[0]
}
