package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/smsrelay/smsrelay/intercom"
	"github.com/smsrelay/smsrelay/internal/jobs"
	"github.com/smsrelay/smsrelay/store"
	"github.com/smsrelay/smsrelay/twiliosms"
)

// Relay relays texts between Twilio and Intercom. Build it with [New], mount
// its handlers in your router and call [Relay.Run] to run its workers. A
// Relay is safe for concurrent use.
type Relay struct {
	cfg     Config         // without the raw clients: see apis.go
	ic      *intercomRoute // the one route to Intercom
	tw      *twilioRoute   // the one route to Twilio
	st      store.Store
	q       store.Queue
	log     *slog.Logger
	twilio  *twiliosms.Validator
	m       *metrics
	runner  *jobs.Runner
	w       *watch // what the operator API shows of recent API dealings
	lim     Limiter
	insp    store.QueueInspector // nil: the queue cannot count per kind
	tracer  trace.Tracer
	tracing bool           // Config.TracerProvider was set
	pacers  *pacers        // paces texts sent first, per sender
	optTag  optOutTagCache // ContactSync.OptOutTag's id (contactsync.go)
	slots   *slotBook      // pace slots reserved by identity prompts (identity.go)
	bf      *backfillGate  // a backfill's share of the Intercom budget (backfill_budget.go)

	closeOnce sync.Once
	closeErr  error
}

// New validates cfg and returns a Relay. It starts nothing: handlers work at
// once (they only enqueue), and jobs run when [Relay.Run] is called. The error
// is a *[ConfigError] listing every problem.
func New(cfg Config) (*Relay, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	v, err := twiliosms.NewValidator(c.TwilioAuthTokens...)
	if err != nil {
		return nil, &ConfigError{Problems: []string{"TwilioAuthTokens: " + err.Error()}}
	}
	budget := c.Limiter
	if budget == nil && cfg.RateLimit == 0 {
		// One budget per process: the client's own, when it has one.
		if lp, ok := c.Intercom.(interface{ Limiter() intercom.Limiter }); ok && lp.Limiter() != nil {
			budget = lp.Limiter()
		}
	}
	if budget == nil {
		budget = intercom.NewWindowLimiter(c.RateLimit, rateWindow)
	}
	r := &Relay{
		st:     store.Checked(c.Store), // stores implement behaviour; the layer checks arguments
		q:      store.CheckedQueue(c.Queue),
		log:    c.Logger,
		twilio: v,
	}
	r.insp, _ = c.Queue.(store.QueueInspector)
	r.tracer, r.tracing = newTracer(c.TracerProvider)
	if r.m, err = newMetrics(c.MeterProvider, r); err != nil {
		return nil, fmt.Errorf("relay: creating metrics: %w", err)
	}
	r.pacers = newPacers(c.SendRate)
	r.slots = newSlotBook()
	r.ic = newIntercomRoute(c.Intercom, budget)
	r.tw = newTwilioRoute(c.Twilio, r.m)
	r.w, r.lim = newWatch(rateWindow), budget
	r.bf = newBackfillGate(budget, c.RateLimit)
	r.ic.bf = r.bf
	r.ic.m, r.ic.w, r.tw.w = r.m, r.w, r.w
	if r.tracing {
		r.ic.tr, r.tw.tr = r.tracer, r.tracer
	}
	// From here on, the routes are the only way to the APIs.
	c.Intercom, c.Twilio, c.Limiter = nil, nil, nil
	r.cfg = c

	r.runner, err = jobs.New(jobs.Config{
		Queue:        r.q,
		Waker:        wakerOf(c.Queue),
		Handlers:     r.tracedHandlers(r.handlers()),
		Workers:      c.Workers,
		Lease:        c.Lease,
		MaxAttempts:  c.MaxAttempts,
		RetryBase:    c.RetryBase,
		RetryMax:     c.RetryMax,
		MinDelay:     minDelay,
		PollInterval: c.PollInterval,
		DrainTimeout: c.DrainTimeout,
		Logger:       c.Logger,
		OnDeadLetter: r.onDeadLetter,
		OnOutcome:    r.m.job,
	})
	if err != nil {
		return nil, fmt.Errorf("relay: %w", err)
	}
	return r, nil
}

// handler turns a function of a job's decoded payload into a jobs.Handler.
// A payload that does not decode can never run: it is dead-lettered.
func handler[P any](h func(context.Context, P, store.Job) error) jobs.Handler {
	return func(ctx context.Context, job store.Job) error {
		var p P
		if err := json.Unmarshal(job.Payload, &p); err != nil {
			return permanent(fmt.Errorf("relay: reading %s job: %w", job.Kind, err))
		}
		return h(ctx, p, job)
	}
}

// minDelay is the least delay an error asks for before a retry: Intercom's
// Retry-After (on a 429, a 503, ...).
func minDelay(err error) time.Duration {
	var ie *intercom.Error
	if errors.As(err, &ie) {
		return ie.RetryAfter
	}
	return 0
}

// permanent marks an error that retrying cannot fix: the job is
// dead-lettered at once.
func permanent(err error) error { return jobs.Permanent(err) }

// deferFor puts a job back for d without counting it as a failure.
func deferFor(err error, d time.Duration) error { return jobs.Defer(err, d) }

// backoff is the delay before a job's next look after attempt, as for a
// failure: RetryBase doubling up to RetryMax.
func (r *Relay) backoff(attempt int) time.Duration {
	d := r.cfg.RetryBase
	for i := 1; i < attempt && d < r.cfg.RetryMax; i++ {
		d *= 2
	}
	return min(d, r.cfg.RetryMax)
}

// unreadableJob is a signed inbound webhook the relay could not read.
type unreadableJob struct {
	Form   string `json:"form"`
	Reason string `json:"reason"`
}

func (r *Relay) handleUnreadable(_ context.Context, p unreadableJob, _ store.Job) error {
	return permanent(fmt.Errorf("relay: unreadable inbound message webhook: %s", p.Reason))
}

// Run runs the relay's workers until ctx ends, then stops claiming jobs and
// waits for running ones to finish, for at most Config.DrainTimeout; a job
// still running after that is abandoned to its lease and runs again later,
// here or on another replica. Run returns nil after a drain, or an error if it
// is already running.
func (r *Relay) Run(ctx context.Context) error {
	if err := r.runner.Run(ctx); err != nil {
		return fmt.Errorf("relay: %w", err)
	}
	return nil
}

// RunOnce claims one job, runs it and records the outcome. It reports whether
// it found a job. Run calls it in a loop; tests and hosts with their own
// scheduling may call it directly.
func (r *Relay) RunOnce(ctx context.Context) (bool, error) {
	ran, err := r.runner.RunOnce(ctx)
	if err != nil {
		return ran, fmt.Errorf("relay: %w", err)
	}
	return ran, nil
}

// onDeadLetter is what follows a job's dead-lettering: a note for the
// agents on a reply's conversation, the failure of a backfill batch's
// texts recorded for the Backfill waiting on them.
func (r *Relay) onDeadLetter(ctx context.Context, job store.Job, cause error) {
	switch job.Kind {
	case kindIntercom:
		r.tellAgentsOfDeadLetter(ctx, job, cause)
	case kindBackfill:
		r.backfillDeadLettered(ctx, job)
	}
}

// tellAgentsOfDeadLetter adds an internal note when an agent's reply is
// dead-lettered, so that nobody believes it reached the customer. It is best
// effort: Intercom may be what keeps failing.
func (r *Relay) tellAgentsOfDeadLetter(ctx context.Context, job store.Job, cause error) {
	if job.Kind != kindIntercom {
		return
	}
	var p intercomJob
	if json.Unmarshal(job.Payload, &p) != nil || len(p.Parts) == 0 {
		return
	}
	if _, err := r.ic.AddNote(ctx, p.ConversationID, r.cfg.NoteAuthor, noteDeadLetter(job.Attempt, job.ID, cause)); err != nil {
		r.log.Warn("relay: could not add a note about the dead letter", "job", job.ID, "err", err)
	}
}

// DeadLetters lists up to limit jobs that failed for good, oldest first, with
// the reason in LastError.
func (r *Relay) DeadLetters(ctx context.Context, limit int) ([]store.Job, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("relay: DeadLetters: limit must be positive, got %d", limit)
	}
	jobs, err := r.q.DeadLetters(ctx, limit)
	if err != nil {
		return nil, fmt.Errorf("relay: listing dead letters: %w", err)
	}
	return jobs, nil
}

// Replay puts dead letter id back in the queue to run again. It returns an
// error wrapping store.ErrNotFound when there is no such dead letter. A
// replayed job looks before repeating any side effect an earlier attempt may
// have had, like any retry.
func (r *Relay) Replay(ctx context.Context, id string) error {
	if id == "" {
		return errors.New("relay: Replay: empty job id")
	}
	if err := r.q.Replay(ctx, id); err != nil {
		return fmt.Errorf("relay: replaying %s: %w", id, err)
	}
	return nil
}

// DiscardDeadLetter deletes dead letter id for good. It returns an error
// wrapping store.ErrNotFound when there is no such dead letter.
func (r *Relay) DiscardDeadLetter(ctx context.Context, id string) error {
	if id == "" {
		return errors.New("relay: DiscardDeadLetter: empty job id")
	}
	if err := r.q.DiscardDeadLetter(ctx, id); err != nil {
		return fmt.Errorf("relay: discarding %s: %w", id, err)
	}
	return nil
}

// Close releases what New registered with Config.MeterProvider (the queue
// gauge's callback), so that a discarded Relay is no longer polled. It does
// not stop Run; cancel Run's context for that. Close is safe to call more
// than once.
func (r *Relay) Close() error {
	r.closeOnce.Do(func() {
		if r.m.gauge != nil {
			r.closeErr = r.m.gauge.Unregister()
		}
		if r.m.ageReg != nil {
			r.closeErr = errors.Join(r.closeErr, r.m.ageReg.Unregister())
		}
	})
	return r.closeErr
}

// Stats counts the relay's queued, running and dead jobs.
func (r *Relay) Stats(ctx context.Context) (store.Stats, error) {
	s, err := r.q.Stats(ctx)
	if err != nil {
		return s, fmt.Errorf("relay: stats: %w", err)
	}
	return s, nil
}

// KindStats counts the relay's jobs per kind, with the age of each kind's
// oldest ready job. It returns an error wrapping errors.ErrUnsupported when
// the queue cannot count per kind (it does not implement
// store.QueueInspector; the shipped stores all do).
func (r *Relay) KindStats(ctx context.Context) ([]store.KindStats, error) {
	if ctx == nil {
		return nil, errors.New("relay: KindStats: nil context")
	}
	if r.insp == nil {
		return nil, fmt.Errorf("relay: KindStats: the queue does not implement store.QueueInspector: %w", errors.ErrUnsupported)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("relay: KindStats: %w", err)
	}
	ks, err := r.insp.KindStats(ctx)
	if err != nil {
		return nil, fmt.Errorf("relay: counting jobs per kind: %w", err)
	}
	return ks, nil
}

// handlers is the registry of job kinds: each kind the relay enqueues and
// its handler. Kinds lists the same kinds (TestKindsAreTheRegistry).
func (r *Relay) handlers() map[string]jobs.Handler {
	return map[string]jobs.Handler{
		kindInbound:     handler(r.handleInbound),
		kindStatus:      handler(r.handleStatus),
		kindIntercom:    handler(r.handleIntercom),
		kindRoute:       handler(r.handleRoute),
		kindUnreadable:  handler(r.handleUnreadable),
		kindProactive:   handler(r.handleProactive),
		kindReopen:      handler(r.handleReopen),
		kindCanvasSend:  handler(r.handleCanvasSend),
		kindPageWait:    handler(r.handlePageWait),
		kindContactSync: handler(r.handleContactSync),
		kindBackfill:    handler(r.handleBackfill),
	}
}
