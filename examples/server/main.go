// Command server runs smsrelay as a standalone service, configured only from
// the environment:
//
//	SMSRELAY_ADDR                 listen address (default ":8080")
//	SMSRELAY_PUBLIC_URL           base URL as Twilio and Intercom reach it (required)
//	SMSRELAY_STORE_URL            mem:// (default), postgres://... or redis://...
//	INTERCOM_ACCESS_TOKEN         required
//	INTERCOM_CLIENT_SECRET        required: verifies Intercom webhooks
//	INTERCOM_ADMIN_ID             required: the admin who writes internal notes
//	INTERCOM_BASE_URL             default https://api.intercom.io
//	INTERCOM_RATE_LIMIT           Intercom requests per 10 s (default 83)
//	TWILIO_ACCOUNT_SID            required
//	TWILIO_AUTH_TOKEN             required
//	TWILIO_BASE_URL               default Twilio's own
//	TWILIO_MESSAGING_SERVICE_SID  optional: send through this Messaging Service
//	SMSRELAY_TRANSLITERATE        "true": typographic characters become GSM-7
//	SMSRELAY_MAX_SEGMENTS         optional: cap on the SMS segments of one text
//	SMSRELAY_HOLD_OVER_CAP        "true": hold replies over the cap with a note
//	SMSRELAY_ADMIN_TOKEN          optional: mounts POST /admin/messages behind this bearer token
//	SMSRELAY_DEFAULT_FROM         number texts sent first go out from (or the Messaging Service)
//	SMSRELAY_WHATSAPP_TEMPLATE_SID optional: approved template ("HX...") re-opening WhatsApp's window
//
// Routes: POST /twilio/messages, POST /twilio/status, POST /intercom/webhooks,
// the Inbox app's POST /intercom/canvas/initialize and
// POST /intercom/canvas/submit, POST /admin/messages (with
// SMSRELAY_ADMIN_TOKEN) and GET /healthz. With a redis:// store, the Intercom budget is shared by
// every replica through Redis. The server refuses to start, with one line per
// problem, when a variable is missing or malformed, and shuts down gracefully
// on SIGINT or SIGTERM: it stops accepting requests, finishes running jobs
// (or leaves them to their leases) and exits.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/smsrelay/smsrelay/intercom"
	"github.com/smsrelay/smsrelay/relay"
	"github.com/smsrelay/smsrelay/store"
	"github.com/smsrelay/smsrelay/store/memstore"
	"github.com/smsrelay/smsrelay/store/pgstore"
	"github.com/smsrelay/smsrelay/store/redisstore"
	"github.com/smsrelay/smsrelay/twiliosms"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(ctx, os.Getenv, logger, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// settings is the server's configuration, read from the environment.
type settings struct {
	addr, publicURL, storeURL            string
	icToken, icSecret, icAdmin, icBase   string
	icRate                               int
	twSID, twToken, twBase, twServiceSID string
	cost                                 relay.CostGuard
	adminToken, defaultFrom              string
	waTemplate                           *relay.WhatsAppTemplate
}

// problems lists everything wrong with the environment, one line each.
type problems []string

func (p problems) Error() string { return "smsrelay: cannot start:\n  " + strings.Join(p, "\n  ") }

func readSettings(getenv func(string) string) (settings, error) {
	var p problems
	get := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	need := func(name string) string {
		v := get(name, "")
		if v == "" {
			p = append(p, name+" is required")
		}
		return v
	}
	s := settings{
		addr:         get("SMSRELAY_ADDR", ":8080"),
		publicURL:    need("SMSRELAY_PUBLIC_URL"),
		storeURL:     get("SMSRELAY_STORE_URL", "mem://"),
		icToken:      need("INTERCOM_ACCESS_TOKEN"),
		icSecret:     need("INTERCOM_CLIENT_SECRET"),
		icAdmin:      need("INTERCOM_ADMIN_ID"),
		icBase:       get("INTERCOM_BASE_URL", intercom.USBaseURL),
		twSID:        need("TWILIO_ACCOUNT_SID"),
		twToken:      need("TWILIO_AUTH_TOKEN"),
		twBase:       get("TWILIO_BASE_URL", ""),
		twServiceSID: get("TWILIO_MESSAGING_SERVICE_SID", ""),
	}
	if _, _, err := net.SplitHostPort(s.addr); err != nil {
		p = append(p, fmt.Sprintf("SMSRELAY_ADDR %q is not host:port", s.addr))
	}
	for _, v := range []struct{ name, url string }{
		{"SMSRELAY_PUBLIC_URL", s.publicURL}, {"INTERCOM_BASE_URL", s.icBase}, {"TWILIO_BASE_URL", s.twBase},
	} {
		if v.url == "" {
			continue
		}
		if pu, err := url.Parse(v.url); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
			p = append(p, fmt.Sprintf("%s %q is not an http(s) URL", v.name, v.url))
		}
	}
	// The Twilio credentials' form is checked here, with everything else,
	// rather than by the first request.
	if s.twSID != "" && s.twToken != "" {
		if _, err := twiliosms.NewClient(s.twSID, s.twToken); err != nil {
			p = append(p, "TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN: "+err.Error())
		}
	}
	if s.twServiceSID != "" {
		if err := twiliosms.ValidMessagingServiceSID(s.twServiceSID); err != nil {
			p = append(p, "TWILIO_MESSAGING_SERVICE_SID: "+err.Error())
		}
	}
	switch scheme, _, _ := strings.Cut(s.storeURL, "://"); scheme {
	case "mem", "postgres", "postgresql", "redis", "rediss":
	default:
		p = append(p, fmt.Sprintf("SMSRELAY_STORE_URL %q: scheme must be mem, postgres or redis", s.storeURL))
	}
	s.icRate = 83
	if v := get("INTERCOM_RATE_LIMIT", ""); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			p = append(p, fmt.Sprintf("INTERCOM_RATE_LIMIT %q is not a positive whole number", v))
		} else {
			s.icRate = n
		}
	}
	s.adminToken = get("SMSRELAY_ADMIN_TOKEN", "")
	s.defaultFrom = get("SMSRELAY_DEFAULT_FROM", "")
	var costProblems []string
	s.cost, costProblems = readCostGuard(getenv)
	p = append(p, costProblems...)
	var waProblems []string
	s.waTemplate, waProblems = readWhatsAppTemplate(getenv)
	p = append(p, waProblems...)
	if len(p) > 0 {
		return s, p
	}
	return s, nil
}

// backend is an opened store with its queue, its Intercom budget and a way to
// close what was opened.
type backend struct {
	st     store.Store
	budget relay.Limiter
	close  func()
}

func openStore(ctx context.Context, s settings, logger *slog.Logger) (backend, error) {
	budget := intercom.NewWindowLimiter(s.icRate, 10*time.Second)
	switch scheme, _, _ := strings.Cut(s.storeURL, "://"); scheme {
	case "postgres", "postgresql":
		pool, err := pgxpool.New(ctx, s.storeURL)
		if err != nil {
			return backend{}, fmt.Errorf("SMSRELAY_STORE_URL: %w", err)
		}
		if err := pgstore.Migrate(ctx, pool); err != nil {
			pool.Close()
			return backend{}, fmt.Errorf("migrating Postgres: %w", err)
		}
		st, err := pgstore.New(pool, pgstore.WithLogger(logger))
		if err != nil {
			pool.Close()
			return backend{}, err
		}
		return backend{st: st, budget: budget, close: pool.Close}, nil
	case "redis", "rediss":
		opt, err := redis.ParseURL(s.storeURL)
		if err != nil {
			return backend{}, fmt.Errorf("SMSRELAY_STORE_URL: %w", err)
		}
		client := redis.NewClient(opt)
		if err := client.Ping(ctx).Err(); err != nil {
			client.Close()
			return backend{}, fmt.Errorf("reaching Redis: %w", err)
		}
		st, err := redisstore.New(client, redisstore.WithLogger(logger))
		if err != nil {
			client.Close()
			return backend{}, err
		}
		shared, err := redisstore.NewLimiter(client, s.icRate, 10*time.Second)
		if err != nil {
			client.Close()
			return backend{}, err
		}
		return backend{st: st, budget: shared, close: func() { client.Close() }}, nil
	}
	return backend{st: memstore.New(), budget: budget, close: func() {}}, nil
}

// run serves until ctx ends. ready, when not nil, receives the listening
// address once the server accepts connections.
func run(ctx context.Context, getenv func(string) string, logger *slog.Logger, ready chan<- string) error {
	s, err := readSettings(getenv)
	if err != nil {
		return err
	}
	be, err := openStore(ctx, s, logger)
	if err != nil {
		return fmt.Errorf("smsrelay: cannot start: %w", err)
	}
	defer be.close()

	ic, err := intercom.NewClient(s.icToken,
		intercom.WithBaseURL(s.icBase),
		intercom.WithLimiter(be.budget),
		intercom.WithLogger(logger))
	if err != nil {
		return fmt.Errorf("smsrelay: cannot start: %w", err)
	}
	var twOpts []twiliosms.Option
	if s.twBase != "" {
		twOpts = append(twOpts, twiliosms.WithBaseURL(s.twBase))
	}
	tw, err := twiliosms.NewClient(s.twSID, s.twToken, twOpts...)
	if err != nil {
		return fmt.Errorf("smsrelay: cannot start: %w", err)
	}
	r, err := relay.New(relay.Config{
		Intercom:            ic,
		Twilio:              tw,
		Store:               be.st,
		PublicURL:           s.publicURL,
		TwilioAuthTokens:    []string{s.twToken},
		WebhookSecrets:      []string{s.icSecret},
		NoteAuthor:          s.icAdmin,
		MessagingServiceSID: s.twServiceSID,
		Limiter:             be.budget,
		Logger:              logger,
		Cost:                s.cost,
		DefaultFrom:         s.defaultFrom,
		WhatsAppTemplate:    s.waTemplate,
	})
	if err != nil {
		return fmt.Errorf("smsrelay: cannot start: %w", err)
	}
	defer r.Close()

	mux := http.NewServeMux()
	mux.Handle("POST /twilio/messages", r.TwilioHandler())
	mux.Handle("POST /twilio/status", r.StatusHandler())
	mux.Handle("POST /intercom/webhooks", r.IntercomHandler())
	mux.Handle("POST /intercom/canvas/initialize", r.CanvasInitializeHandler())
	mux.Handle("POST /intercom/canvas/submit", r.CanvasSubmitHandler())
	if s.adminToken != "" {
		mux.Handle("POST /admin/messages", requireBearer(s.adminToken, sendMessages(r, logger)))
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, req *http.Request) {
		if _, err := r.Stats(req.Context()); err != nil {
			http.Error(w, "store unavailable", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok\n")
	})

	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("smsrelay: cannot start: %w", err)
	}
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	logger.Info("smsrelay: listening", "addr", ln.Addr().String(), "store", strings.SplitN(s.storeURL, "://", 2)[0])

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	workersDone := make(chan error, 1)
	go func() { workersDone <- r.Run(ctx) }()
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	if ready != nil {
		ready <- ln.Addr().String()
	}

	select {
	case <-ctx.Done():
	case err := <-serveErr:
		if !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("smsrelay: serving: %w", err)
		}
	}
	logger.Info("smsrelay: shutting down")
	cancel()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		logger.Error("smsrelay: shutting down HTTP server", "err", err)
	}
	return <-workersDone
}
