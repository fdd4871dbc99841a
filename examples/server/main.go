// Command server runs smsrelay as a standalone service, configured only from
// the environment:
//
//	SMSRELAY_ADDR                 listen address (default ":8080")
//	SMSRELAY_PUBLIC_URL           base URL as Twilio and Intercom reach it (required)
//	SMSRELAY_STORE_URL            mem:// (default), postgres://... or redis://...
//	INTERCOM_ACCESS_TOKEN         required
//	INTERCOM_CLIENT_SECRET        required: verifies Intercom webhooks; during a rotation "new,old"
//	INTERCOM_ADMIN_ID             required: the admin who writes internal notes
//	INTERCOM_BASE_URL             default https://api.intercom.io
//	INTERCOM_RATE_LIMIT           Intercom requests per 10 s (default 83)
//	TWILIO_ACCOUNT_SID            required
//	TWILIO_AUTH_TOKEN             required; during a rotation "new,old" (the first calls the API)
//	TWILIO_BASE_URL               default Twilio's own
//	TWILIO_MESSAGING_SERVICE_SID  optional: send through this Messaging Service
//	SMSRELAY_ADMIN_TOKEN          optional, at least 16 characters: serves the
//	                              operator API and page under /admin/, and POST /admin/messages
//	SMSRELAY_ROUTES               JSON: {"+14155550100": {"team_id": "1", "admin_id": "2", "tag_ids": ["3"]}}
//	SMSRELAY_DEFAULT_ROUTE        JSON: {"team_id": "1"} for numbers not in SMSRELAY_ROUTES
//	SMSRELAY_REOPEN               true: a text reopens the thread's closed conversation
//	SMSRELAY_IDLE_TIMEOUT         e.g. 72h: a text after this long starts a new conversation
//	SMSRELAY_DEFAULT_REGION       e.g. US: reads numbers without a country code
//	SMSRELAY_WORKERS              jobs run at once (default 4)
//	SMSRELAY_MAX_ATTEMPTS         runs before a job is dead-lettered (default 25)
//	SMSRELAY_LEASE                a worker's hold on a job (default 1m)
//	SMSRELAY_RETRY_BASE, SMSRELAY_RETRY_MAX  delays between runs (default 2s doubling to 10m)
//	SMSRELAY_DRAIN_TIMEOUT        wait for running jobs at shutdown (default 30s)
//	SMSRELAY_PG_SCHEMA            PostgreSQL schema (default pgstore's)
//	SMSRELAY_REDIS_PREFIX         Redis key prefix (default redisstore's)
//	SMSRELAY_LOG_LEVEL            debug, info (default), warn or error
//	SMSRELAY_LOG_FORMAT           text (default) or json
//	SMSRELAY_TRANSLITERATE        "true": typographic characters become GSM-7
//	SMSRELAY_MAX_SEGMENTS         optional: cap on the SMS segments of one text
//	SMSRELAY_HOLD_OVER_CAP        "true": hold replies over the cap with a note
//	SMSRELAY_DEFAULT_FROM         number texts sent first go out from (or the Messaging Service)
//	SMSRELAY_WHATSAPP_TEMPLATE_SID optional: approved template ("HX...") re-opening WhatsApp's window
//	SMSRELAY_AGENT_PHONES         "<admin id>=+1…,…": pages these admins by SMS (see paging.go)
//	SMSRELAY_ONCALL_PHONE         paged about conversations assigned to nobody with a phone
//	SMSRELAY_PAGE_TAG             the tag that pages (default urgent)
//	SMSRELAY_PAGE_AFTER           a Go duration: page when a text waits this long (unset: off)
//	SMSRELAY_PAGE_ACK_WINDOW      a Go duration: a text back acknowledges the page (default 30m)
//	INTERCOM_WORKSPACE_ID         the workspace id, for inbox links in pages (required with paging) and profile links in identity notes
//	SMSRELAY_OPTOUT_ATTRIBUTE     boolean contact attribute set on opt-out/opt-in (see contactsync.go)
//	SMSRELAY_OPTOUT_TAG           contact tag applied on opt-out, removed on opt-in
//	SMSRELAY_LAST_SENT_ATTRIBUTE  date contact attribute set to the last text's time
//	SMSRELAY_LAST_SENT_EVERY      at most one last-sent update per customer per period (default 1m)
//	SMSRELAY_IDENTITY             "true": ask unknown numbers for their email (see identity.go)
//	SMSRELAY_IDENTITY_PROMPT, SMSRELAY_IDENTITY_PERIOD, SMSRELAY_IDENTITY_SKIP_DUPLICATE_VALIDATION
//
// Routes: POST /twilio/messages, POST /twilio/status, POST /intercom/webhooks,
// the Inbox app's POST /intercom/canvas/initialize and
// POST /intercom/canvas/submit, GET /metrics (Prometheus), GET /livez (the
// process serves), GET /readyz (the store answers and the workers run),
// GET /healthz (the store answers) and, with SMSRELAY_ADMIN_TOKEN,
// POST /admin/messages (texts sent first) and /admin/ (the operator API and
// page, see relay.AdminHandler). With a postgres:// or redis:// store, the
// Intercom budget is shared by every replica through that store. The server
// refuses to start, with one line per
// problem, when a variable is missing or malformed, and shuts down gracefully
// on SIGINT or SIGTERM: it stops accepting requests, finishes running jobs
// (or leaves them to their leases) and exits; a second signal exits at
// once. With the memory store, a shutdown that leaves jobs behind (they
// are lost) exits non-zero and says how many.
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
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

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
	go func() {
		<-ctx.Done()
		// From now on a second SIGINT or SIGTERM ends the process at once.
		stop()
	}()
	logger := loggerFromEnv(os.Getenv)
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
	adminToken                           string
	twTokens, icSecrets                  []string // every token and secret, for rotations
	opts                                 options
	cost                                 relay.CostGuard
	defaultFrom                          string
	waTemplate                           *relay.WhatsAppTemplate
	paging                               relay.Paging
	contactSync                          relay.ContactSync
	identity                             *relay.IdentityBridge
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
		adminToken:   get("SMSRELAY_ADMIN_TOKEN", ""),
	}
	s.opts = readOptions(get, &p)
	// During a rotation, list both, the one to use first.
	s.twTokens, s.icSecrets = list(s.twToken), list(s.icSecret)
	if len(s.twTokens) > 0 {
		s.twToken = s.twTokens[0]
	}
	if s.adminToken != "" && len(s.adminToken) < 16 {
		p = append(p, "SMSRELAY_ADMIN_TOKEN must be at least 16 characters")
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
	if err := checkStoreURL(s.storeURL); err != nil {
		p = append(p, "SMSRELAY_STORE_URL: "+err.Error())
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
	var pagingProblems []string
	s.paging, pagingProblems = readPaging(getenv)
	p = append(p, pagingProblems...)
	var syncProblems []string
	s.contactSync, syncProblems = readContactSync(getenv)
	p = append(p, syncProblems...)
	var identityProblems []string
	s.identity, identityProblems = readIdentity(getenv)
	p = append(p, identityProblems...)
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
	// volatile says the store forgets its jobs when the process ends.
	volatile bool
}

func openStore(ctx context.Context, s settings, logger *slog.Logger) (backend, error) {
	budget := intercom.NewWindowLimiter(s.icRate, 10*time.Second)
	switch scheme, _, _ := strings.Cut(s.storeURL, "://"); scheme {
	case "postgres", "postgresql":
		pool, err := pgxpool.New(ctx, s.storeURL)
		if err != nil {
			return backend{}, fmt.Errorf("SMSRELAY_STORE_URL: %w", err)
		}
		pgOpts := []pgstore.Option{pgstore.WithLogger(logger)}
		if s.opts.pgSchema != "" {
			pgOpts = append(pgOpts, pgstore.WithSchema(s.opts.pgSchema))
		}
		// Reach the database first, so that a refused connection is not
		// reported as a failed migration.
		if err := pool.Ping(ctx); err != nil {
			pool.Close()
			return backend{}, fmt.Errorf("reaching PostgreSQL at %s: %w", redactURL(s.storeURL), err)
		}
		if err := pgstore.Migrate(ctx, pool, pgOpts...); err != nil {
			pool.Close()
			return backend{}, fmt.Errorf("migrating Postgres: %w", err)
		}
		st, err := pgstore.New(pool, pgOpts...)
		if err != nil {
			pool.Close()
			return backend{}, err
		}
		// One budget for every replica on this database.
		shared, err := pgstore.NewLimiter(pool, s.icRate, 10*time.Second, pgstore.WithLimiterLogger(logger))
		if err != nil {
			pool.Close()
			return backend{}, err
		}
		return backend{st: st, budget: shared, close: pool.Close}, nil
	case "redis", "rediss":
		opt, err := redis.ParseURL(s.storeURL)
		if err != nil {
			return backend{}, fmt.Errorf("SMSRELAY_STORE_URL: %w", err)
		}
		client := redis.NewClient(opt)
		pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err = client.Ping(pingCtx).Err()
		cancel()
		if err != nil {
			client.Close()
			if opt.TLSConfig != nil && isTimeoutOrEOF(err) {
				return backend{}, fmt.Errorf("reaching Redis at %s over TLS (rediss://): no TLS answer; if the server is not set up for TLS, use redis://: %w", redactURL(s.storeURL), err)
			}
			return backend{}, fmt.Errorf("reaching Redis at %s: %w", redactURL(s.storeURL), err)
		}
		redisOpts := []redisstore.Option{redisstore.WithLogger(logger)}
		if s.opts.redisPrefix != "" {
			redisOpts = append(redisOpts, redisstore.WithPrefix(s.opts.redisPrefix))
		}
		st, err := redisstore.New(client, redisOpts...)
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
	return backend{st: memstore.New(), budget: budget, close: func() {}, volatile: true}, nil
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
	reg := prometheus.NewRegistry()
	exporter, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		return fmt.Errorf("smsrelay: cannot start: metrics: %w", err)
	}
	meters := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter))
	defer meters.Shutdown(context.Background())

	cfg := relay.Config{
		Intercom:            ic,
		Twilio:              tw,
		Store:               be.st,
		PublicURL:           s.publicURL,
		TwilioAuthTokens:    s.twTokens,
		WebhookSecrets:      s.icSecrets,
		NoteAuthor:          s.icAdmin,
		MessagingServiceSID: s.twServiceSID,
		Limiter:             be.budget,
		Logger:              logger,
		MeterProvider:       meters,
		AdminToken:          s.adminToken,
		Cost:                s.cost,
		DefaultFrom:         s.defaultFrom,
		WhatsAppTemplate:    s.waTemplate,
		Paging:              s.paging,
		ContactSync:         s.contactSync,
		Identity:            s.identity,
	}
	s.opts.apply(&cfg)
	r, err := relay.New(cfg)
	var ce *relay.ConfigError
	if errors.As(err, &ce) {
		return problems(ce.Problems)
	}
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
	var workersRunning atomic.Bool
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, req *http.Request) {
		ctx, cancel := context.WithTimeout(req.Context(), 2*time.Second)
		defer cancel()
		if _, err := r.Stats(ctx); err != nil {
			http.Error(w, "store unavailable", http.StatusServiceUnavailable)
			return
		}
		if !workersRunning.Load() {
			http.Error(w, "workers not running", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok\n")
	})
	if s.adminToken != "" {
		mux.Handle("/admin/", http.StripPrefix("/admin", r.AdminHandler()))
	}

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
	workersRunning.Store(true)
	go func() {
		err := r.Run(ctx)
		workersRunning.Store(false)
		workersDone <- err
	}()
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
	logger.Info("smsrelay: shutting down; a second signal exits at once")
	cancel()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		logger.Error("smsrelay: shutting down HTTP server", "err", err)
	}
	if err := <-workersDone; err != nil {
		return err
	}
	if be.volatile {
		// What is still queued dies with the process.
		st, err := r.Stats(context.Background())
		if err != nil {
			return fmt.Errorf("smsrelay: shut down without learning what the memory store still held: %w", err)
		}
		if n := st.Ready + st.Leased; n > 0 {
			return fmt.Errorf("smsrelay: shut down abandoning %d jobs (%d waiting, %d running) that the memory store cannot keep; use a postgres:// or redis:// store to keep them across restarts", n, st.Ready, st.Leased)
		}
	}
	return nil
}
