// Command backfill imports the recent SMS history of a Twilio account from
// Twilio's message log into Intercom, for a team switching over from
// texting in Twilio's console: each customer's texts as replies from
// their contact, ours as internal notes, each with its original time, in
// the conversation a live text of theirs would go to (see relay.Backfill).
//
//	go run ./examples/backfill -since 2026-10-01 [-until 2026-11-01] [-numbers +14155550100,...]
//	    [-customer +16285550123] [-dry-run] [-workers]
//
// Running it twice imports nothing twice; a run cut short (ctrl-C, a
// kill) is resumed by running it again. It shares the relay's budget with
// live traffic and leaves live texts first. The progress bar on stderr
// shows texts done / total, the rate and the time left; -dry-run prints
// what would be imported, per customer, and writes nothing.
//
// It is configured from the environment, like examples/server, with the
// same variables for what matters to an import:
//
//	SMSRELAY_STORE_URL            postgres://... or redis://...: the relay's own store (required:
//	                              it knows what the relay carried and records what is imported)
//	INTERCOM_ACCESS_TOKEN         required
//	INTERCOM_ADMIN_ID             required: the admin who writes the notes
//	INTERCOM_BASE_URL             default https://api.intercom.io
//	INTERCOM_RATE_LIMIT           Intercom requests per 10 s (default 83), shared with the servers
//	TWILIO_ACCOUNT_SID            required
//	TWILIO_AUTH_TOKEN             required (the first of "new,old")
//	TWILIO_BASE_URL               default Twilio's own
//	TWILIO_MESSAGING_SERVICE_SID  optional: threads texts of the pool as the relay does
//	SMSRELAY_ROUTES, SMSRELAY_DEFAULT_ROUTE, SMSRELAY_REOPEN  as for the server
//	SMSRELAY_AGENT_PHONES, INTERCOM_WORKSPACE_ID  agents' phones: their texts are never imported
//	SMSRELAY_PG_SCHEMA, SMSRELAY_REDIS_PREFIX  as for the server
//
// The import is done by the relay's workers: those of the running servers
// (which must run this release), or, with -workers, this process's too
// (before the switch-over, when no server runs yet).
//
// With -demo N it needs nothing: it seeds a fake Twilio account with N
// texts over two weeks (and a few it must leave out), runs against a fake
// Intercom at the default budget and a memory store, imports them, checks
// that Intercom holds each exactly once and in order, runs again to show
// that nothing is imported twice, and exits non-zero if anything is
// wrong.
//
//	go run ./examples/backfill -demo 300 -dry-run
//	go run ./examples/backfill -demo 300
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/smsrelay/smsrelay/relay"
	"github.com/smsrelay/smsrelay/twiliosms"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr, isTerminal(os.Stderr))
	if errors.Is(err, flag.ErrHelp) {
		return // -h: the usage was printed
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "backfill:", err)
		os.Exit(1)
	}
}

// flags are the command line.
type flags struct {
	numbers, customers []string
	since, until       time.Time
	dryRun, workers    bool
	concurrency        int
	stall              time.Duration
	demo, budget       int
}

func parseFlags(args []string, stderr io.Writer) (flags, error) {
	var f flags
	fs := flag.NewFlagSet("backfill", flag.ContinueOnError)
	fs.SetOutput(stderr)
	numbers := fs.String("numbers", "", "our numbers to import, comma-separated (default: every number of the account)")
	customers := fs.String("customer", "", "import only this customer's texts (comma-separated for several)")
	since := fs.String("since", "", "import texts sent at or after this date (2006-01-02, UTC) or time (RFC 3339); required")
	until := fs.String("until", "", "and before this one (default: now)")
	fs.BoolVar(&f.dryRun, "dry-run", false, "print what would be imported and write nothing")
	fs.BoolVar(&f.workers, "workers", false, "run the relay's workers in this process too (always on with -demo)")
	fs.IntVar(&f.concurrency, "concurrency", relay.DefaultBackfillConcurrency, "batches of 10 texts queued at once")
	fs.DurationVar(&f.stall, "stall", 2*time.Minute, "give up when no text was imported for this long")
	fs.IntVar(&f.demo, "demo", 0, "run against a fake account of this many texts")
	fs.IntVar(&f.budget, "budget", 83, "with -demo: the fake Intercom's budget, requests per 10 s")
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	if fs.NArg() > 0 {
		return f, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	f.numbers, f.customers = split(*numbers), split(*customers)
	var err error
	if f.demo > 0 {
		f.since, f.until = demoSince, demoUntil
	}
	if *since != "" {
		if f.since, err = parseTime("-since", *since); err != nil {
			return f, err
		}
	} else if f.demo == 0 {
		return f, errors.New("-since is required (a date such as 2026-10-01)")
	}
	if *until != "" {
		if f.until, err = parseTime("-until", *until); err != nil {
			return f, err
		}
	}
	if f.budget <= 0 || f.demo < 0 {
		return f, errors.New("-budget must be positive and -demo not negative")
	}
	for _, c := range f.customers {
		if _, err := twiliosms.NormalizeAddress(c, ""); err != nil {
			return f, fmt.Errorf("-customer: %w", err)
		}
	}
	return f, nil
}

func split(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// parseTime reads a date (midnight UTC) or an RFC 3339 time.
func parseTime(name, v string) (time.Time, error) {
	if t, err := time.Parse("2006-01-02", v); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s %q is neither a date (2006-01-02) nor an RFC 3339 time", name, v)
	}
	return t.UTC(), nil
}

// run is the command; main gives it the process's arguments, environment
// and streams.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, tty bool) error {
	f, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	var (
		cfg     relay.Config
		closeFn func()
		d       *account
		budget  int
	)
	if f.demo > 0 {
		if d, err = newDemo(f.demo, f.budget); err != nil {
			return err
		}
		cfg, closeFn, budget = d.cfg, d.Close, f.budget
		f.workers = true
		fmt.Fprintf(stdout, "Demo: a fake Twilio account with %d texts of %d customers on two numbers (and 4 to leave out), a fake Intercom at %d requests / 10 s.\n\n",
			d.total(), len(d.want), f.budget)
	} else {
		if cfg, closeFn, budget, err = fromEnv(ctx, getenv); err != nil {
			return err
		}
	}
	defer closeFn()
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	r, err := relay.New(cfg)
	if err != nil {
		return err
	}
	defer r.Close()

	opts := relay.BackfillOptions{
		Numbers: f.numbers, Customers: f.customers, Since: f.since, Until: f.until,
		DryRun: f.dryRun, Concurrency: f.concurrency, StallTimeout: f.stall,
	}
	if f.dryRun {
		rep, err := r.Backfill(ctx, opts)
		if err != nil {
			return err
		}
		printDryRun(stdout, rep, f)
		return nil
	}
	if f.workers {
		wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		done := make(chan struct{})
		go func() { defer close(done); _ = r.Run(wctx) }()
		defer func() { cancel(); <-done }()
	}
	if _, err := importOnce(ctx, r, opts, stdout, stderr, tty, budget); err != nil {
		return err
	}
	if d == nil {
		return nil
	}
	found, err := d.check(ctx, d.st)
	if err != nil {
		return err
	}
	again, err := r.Backfill(ctx, relay.BackfillOptions{Since: f.since, Until: f.until})
	if err != nil {
		return err
	}
	if again.ToImport != 0 || again.Imported != 0 {
		return fmt.Errorf("a second run imported %d texts, want 0", again.Imported)
	}
	fmt.Fprintf(stdout, "\nCheck: Intercom holds each of the %d texts exactly once, in order, with its time; 0 answers 429.\n", found)
	fmt.Fprintf(stdout, "Second run: %d texts in range, %d imported before, %d to import.\n", again.Found, again.AlreadyImported, again.ToImport)
	return nil
}

// importOnce runs the import with a progress bar and prints its summary.
func importOnce(ctx context.Context, r *relay.Relay, opts relay.BackfillOptions, stdout, stderr io.Writer, tty bool, budget int) (relay.BackfillReport, error) {
	b := newBar(stderr, tty)
	announced := false
	opts.Progress = func(p relay.BackfillProgress) {
		if !announced && p.Total > 0 {
			announced = true
			fmt.Fprintf(stdout, "Importing %d texts into Intercom (budget %d requests / 10 s, of which a backfill takes at most %.0f%%).\n",
				p.Total, budget, relay.BackfillShare*100)
		}
		b.update(p)
	}
	rep, err := r.Backfill(ctx, opts)
	b.finish()
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return rep, fmt.Errorf("interrupted after %d of %d texts; run the same command again to go on: %w", rep.Imported, rep.ToImport, err)
		}
		return rep, err
	}
	rate := 0.0
	if s := rep.Took.Seconds(); s > 0 {
		rate = float64(rep.Imported) / s
	}
	fmt.Fprintf(stdout, "Imported %d texts of %s in %v (%.1f texts/s); %d failed; skipped %s; already in Intercom %d.\n",
		rep.Imported, customers(len(rep.Customers)), rep.Took.Round(100*time.Millisecond), rate, len(rep.Failed), skipped(rep), rep.AlreadyImported+rep.CarriedLive)
	for _, fl := range rep.Failed {
		fmt.Fprintf(stdout, "  failed: %s (%s): %s\n", fl.SID, twiliosms.MaskAddress(fl.Customer), fl.Reason)
	}
	if len(rep.Failed) > 0 {
		return rep, fmt.Errorf("%d texts were not imported", len(rep.Failed))
	}
	return rep, nil
}

// customers renders "1 customer" or "n customers".
func customers(n int) string {
	if n == 1 {
		return "1 customer"
	}
	return fmt.Sprintf("%d customers", n)
}

// skipped renders rep.Skipped as "2 agent_phone, 1 not_a_phone".
func skipped(rep relay.BackfillReport) string {
	var parts []string
	for k, n := range rep.Skipped {
		parts = append(parts, fmt.Sprintf("%d %s", n, k))
	}
	slices.Sort(parts)
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// printDryRun prints what a run would import, per customer (numbers
// masked).
func printDryRun(w io.Writer, rep relay.BackfillReport, f flags) {
	fmt.Fprintf(w, "Dry run: %d texts in Twilio's log from %s to %s.\n", rep.Found,
		f.since.UTC().Format("2006-01-02 15:04"), untilText(f.until))
	fmt.Fprintf(w, "Would import %d texts of %s; skip %s; leave %d already in Intercom (%d imported before, %d carried live).\n\n",
		rep.ToImport, customers(len(rep.Customers)), skipped(rep), rep.AlreadyImported+rep.CarriedLive, rep.AlreadyImported, rep.CarriedLive)
	fmt.Fprintf(w, "%-14s %-14s %5s %4s %4s  %-16s  %-16s  %s\n", "CUSTOMER", "OUR NUMBER", "TEXTS", "IN", "OUT", "FIRST", "LAST", "FIRST TEXT")
	for _, c := range rep.Customers {
		fmt.Fprintf(w, "%-14s %-14s %5d %4d %4d  %-16s  %-16s  %s\n", twiliosms.MaskAddress(c.Customer), twiliosms.MaskAddress(c.Number),
			c.Messages, c.Inbound, c.Outbound, c.First.Format("2006-01-02 15:04"), c.Last.Format("2006-01-02 15:04"), c.Sample)
	}
}

func untilText(t time.Time) string {
	if t.IsZero() {
		return "now"
	}
	return t.UTC().Format("2006-01-02 15:04") + " UTC"
}
