package crashtest

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/smsrelay/smsrelay/intercom"
	"github.com/smsrelay/smsrelay/relay"
	"github.com/smsrelay/smsrelay/store"
	"github.com/smsrelay/smsrelay/store/pgstore"
	"github.com/smsrelay/smsrelay/store/redisstore"
	"github.com/smsrelay/smsrelay/twiliosms"
)

// The test binary re-executes itself as the relay process when childEnv is
// "1"; the other variables configure that process.
const (
	childEnv       = "SMSRELAY_CRASH_CHILD"
	envStoreURL    = "SMSRELAY_CRASH_STORE_URL"
	envNamespace   = "SMSRELAY_CRASH_NAMESPACE" // Postgres schema or Redis key prefix
	envIntercomURL = "SMSRELAY_CRASH_INTERCOM_URL"
	envIntercomTok = "SMSRELAY_CRASH_INTERCOM_TOKEN"
	envIntercomSec = "SMSRELAY_CRASH_INTERCOM_SECRET"
	envTwilioURL   = "SMSRELAY_CRASH_TWILIO_URL"
	envTwilioSID   = "SMSRELAY_CRASH_TWILIO_SID"
	envTwilioTok   = "SMSRELAY_CRASH_TWILIO_TOKEN"
	envPublicURL   = "SMSRELAY_CRASH_PUBLIC_URL"
	// envBackfill is "1" when the process runs a backfill of the history
	// between envBackfillSince and envBackfillUntil (RFC 3339) until a run
	// of it ends without an error.
	envBackfill      = "SMSRELAY_CRASH_BACKFILL"
	envBackfillSince = "SMSRELAY_CRASH_BACKFILL_SINCE"
	envBackfillUntil = "SMSRELAY_CRASH_BACKFILL_UNTIL"
	// envRate is the Intercom budget, requests per 10 s.
	envRate = "SMSRELAY_CRASH_RATE"
)

// backfillLine starts the line on which the relay process reports a
// backfill run that ended without an error, followed by its report as
// JSON.
const backfillLine = "BACKFILL "

// Settings of the relay process, shared with the test's bound.
const (
	childWorkers = 4
	childLease   = 2 * time.Second
	childRate    = 1000 // Intercom requests per 10 s, on both sides
	// backfillRate is the budget of the backfill's test: the backfill
	// takes at most relay.BackfillShare of the budget, live calls
	// included, and the live workload alone would leave it little of
	// childRate.
	backfillRate = 3000
	noteAdminID  = "991267999"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		if err := runChild(); err != nil {
			fmt.Fprintln(os.Stderr, "crash child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runChild is the relay process: real store, real handlers, real workers,
// configured from the environment. It prints "LISTEN addr" once it accepts
// connections and serves until it is killed (or gets SIGTERM at the end).
func runChild() error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	storeURL, ns := os.Getenv(envStoreURL), os.Getenv(envNamespace)
	rate, err := strconv.Atoi(os.Getenv(envRate))
	if err != nil || rate < 1 {
		return fmt.Errorf("%s %q: want a positive number", envRate, os.Getenv(envRate))
	}

	var st store.Store
	var budget relay.Limiter
	switch {
	case strings.HasPrefix(storeURL, "postgres"):
		pool, err := pgxpool.New(ctx, storeURL)
		if err != nil {
			return err
		}
		defer pool.Close()
		s, err := pgstore.New(pool, pgstore.WithSchema(ns), pgstore.WithLogger(logger))
		if err != nil {
			return err
		}
		st = s
		budget = intercom.NewWindowLimiter(rate, 10*time.Second)
	case strings.HasPrefix(storeURL, "redis"):
		opt, err := redis.ParseURL(storeURL)
		if err != nil {
			return err
		}
		client := redis.NewClient(opt)
		defer client.Close()
		s, err := redisstore.New(client, redisstore.WithPrefix(ns), redisstore.WithLogger(logger))
		if err != nil {
			return err
		}
		st = s
		l, err := redisstore.NewLimiter(client, rate, 10*time.Second, redisstore.WithLimiterKey(ns+"budget"))
		if err != nil {
			return err
		}
		budget = l
	default:
		return fmt.Errorf("%s %q: want a postgres:// or redis:// URL", envStoreURL, storeURL)
	}

	ic, err := intercom.NewClient(os.Getenv(envIntercomTok),
		intercom.WithBaseURL(os.Getenv(envIntercomURL)),
		intercom.WithLimiter(budget),
		intercom.WithHTTPClient(&http.Client{Timeout: 5 * time.Second}),
		intercom.WithRetry(intercom.RetryPolicy{MaxAttempts: 2, InitialInterval: 10 * time.Millisecond, MaxInterval: 50 * time.Millisecond}))
	if err != nil {
		return err
	}
	tw, err := twiliosms.NewClient(os.Getenv(envTwilioSID), os.Getenv(envTwilioTok),
		twiliosms.WithBaseURL(os.Getenv(envTwilioURL)), twiliosms.WithTimeout(5*time.Second))
	if err != nil {
		return err
	}
	r, err := relay.New(relay.Config{
		Intercom:         ic,
		Twilio:           tw,
		Store:            st,
		PublicURL:        os.Getenv(envPublicURL),
		TwilioAuthTokens: []string{os.Getenv(envTwilioTok)},
		WebhookSecrets:   []string{os.Getenv(envIntercomSec)},
		NoteAuthor:       noteAdminID,
		Limiter:          budget,
		Logger:           logger,
		Workers:          childWorkers,
		Lease:            childLease,
		RetryBase:        20 * time.Millisecond,
		RetryMax:         400 * time.Millisecond,
		PollInterval:     20 * time.Millisecond,
		DrainTimeout:     5 * time.Second,
	})
	if err != nil {
		return err
	}
	defer r.Close()

	mux := http.NewServeMux()
	mux.Handle("POST /twilio/messages", r.TwilioHandler())
	mux.Handle("POST /twilio/status", r.StatusHandler())
	mux.Handle("POST /intercom/webhooks", r.IntercomHandler())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	workers := make(chan error, 1)
	go func() { workers <- r.Run(ctx) }()
	fmt.Printf("LISTEN %s\n", ln.Addr())
	if os.Getenv(envBackfill) == "1" {
		since, err := time.Parse(time.RFC3339, os.Getenv(envBackfillSince))
		if err != nil {
			return fmt.Errorf("%s: %w", envBackfillSince, err)
		}
		until, err := time.Parse(time.RFC3339, os.Getenv(envBackfillUntil))
		if err != nil {
			return fmt.Errorf("%s: %w", envBackfillUntil, err)
		}
		go backfillUntilDone(ctx, r, logger, relay.BackfillOptions{Since: since, Until: until})
	}
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	return <-workers
}

// backfillUntilDone runs the backfill until a run of it ends without an
// error, as an operator runs it again after a crash, and prints that run's
// report on a backfillLine.
func backfillUntilDone(ctx context.Context, r *relay.Relay, logger *slog.Logger, o relay.BackfillOptions) {
	for ctx.Err() == nil {
		rep, err := r.Backfill(ctx, o)
		if err == nil {
			b, err := json.Marshal(rep)
			if err != nil {
				logger.Error("crash child: encoding the backfill report", "err", err)
				return
			}
			fmt.Printf("%s%s\n", backfillLine, b)
			return
		}
		if ctx.Err() == nil {
			logger.Warn("crash child: backfill ended; running it again", "err", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}
