package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/smsrelay/smsrelay/intercom"
	"github.com/smsrelay/smsrelay/store"
	"github.com/smsrelay/smsrelay/twiliosms"
)

// Relay relays texts between Twilio and Intercom. Build it with [New], mount
// its handlers in your router and call [Relay.Run] to run its workers. A
// Relay is safe for concurrent use.
type Relay struct {
	cfg     Config
	ic      *budgeted // cfg.Intercom behind the budget
	tw      SMSSender
	st      store.Store
	q       store.Queue
	budget  Limiter
	log     *slog.Logger
	twilio  *twiliosms.Validator
	m       *metrics
	running sync.Mutex // held while Run runs

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
		cfg:    c,
		tw:     c.Twilio,
		st:     c.Store,
		q:      c.Queue,
		budget: budget,
		log:    c.Logger,
		twilio: v,
	}
	r.ic = &budgeted{api: c.Intercom, lim: budget}
	if r.m, err = newMetrics(c.MeterProvider, r); err != nil {
		return nil, fmt.Errorf("relay: creating metrics: %w", err)
	}
	return r, nil
}

// Job kinds.
const (
	kindInbound  = "twilio.inbound"
	kindStatus   = "twilio.status"
	kindIntercom = "intercom.notification"
	kindRoute    = "intercom.route"
	// kindUnreadable holds a signed inbound webhook that did not parse; it
	// is dead-lettered on its first run, for an operator to look at.
	kindUnreadable = "twilio.unreadable"
)

// unreadableJob is a signed inbound webhook the relay could not read.
type unreadableJob struct {
	Form   string `json:"form"`
	Reason string `json:"reason"`
}

// Run runs the relay's workers until ctx ends, then stops claiming jobs and
// waits for running ones to finish, for at most Config.DrainTimeout; a job
// still running after that is abandoned to its lease and runs again later,
// here or on another replica. Run returns nil after a drain, or an error if it
// is already running.
func (r *Relay) Run(ctx context.Context) error {
	if !r.running.TryLock() {
		return errors.New("relay: Run is already running")
	}
	defer r.running.Unlock()

	// Jobs run on a context that outlives ctx by the drain timeout.
	jobCtx, cancelJobs := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelJobs()

	var wg sync.WaitGroup
	for i := 0; i < r.cfg.Workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.worker(ctx, jobCtx)
		}()
	}
	<-ctx.Done()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(r.cfg.DrainTimeout):
		r.log.Warn("relay: drain timeout; abandoning running jobs to their leases")
		cancelJobs()
		<-done
	}
	return nil
}

// worker claims and runs jobs until ctx ends.
func (r *Relay) worker(ctx, jobCtx context.Context) {
	for ctx.Err() == nil {
		ran, err := r.RunOnce(jobCtx)
		if err != nil {
			r.log.Error("relay: claiming a job", "err", err)
		}
		if ran {
			continue
		}
		t := time.NewTimer(r.cfg.PollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
	}
}

// RunOnce claims one job, runs it and records the outcome. It reports whether
// it found a job. Run calls it in a loop; tests and hosts with their own
// scheduling may call it directly.
func (r *Relay) RunOnce(ctx context.Context) (bool, error) {
	job, err := r.q.Claim(ctx, r.cfg.Lease)
	if errors.Is(err, store.ErrNoJob) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("relay: claim: %w", err)
	}
	r.runJob(ctx, job)
	return true, nil
}

// errLeaseLost cancels a job whose lease this worker can no longer vouch
// for: another worker may hold it now.
var errLeaseLost = errors.New("relay: lease lost")

func (r *Relay) runJob(ctx context.Context, job store.Job) {
	log := r.log.With("job", job.ID, "kind", job.Kind, "attempt", job.Attempt)
	started := time.Now()
	jctx, cancelJob := context.WithCancelCause(ctx)
	defer cancelJob(nil)
	hbCtx, stopHeartbeat := context.WithCancel(ctx)
	hbDone := make(chan struct{})
	go func() {
		defer close(hbDone)
		r.heartbeat(hbCtx, job, cancelJob, log)
	}()
	err := r.handle(jctx, job)
	stopHeartbeat()
	<-hbDone

	// Record the outcome even if ctx ended meanwhile: a finished job must not
	// run again just because the process is shutting down.
	octx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	var perm *permanentError
	outcome := ""
	switch {
	case err == nil:
		// Finished: complete it, even if the heartbeat lost faith in the
		// lease meanwhile; the queue refuses if another worker holds it.
		outcome = "completed"
		if cerr := r.q.Complete(octx, job); cerr != nil {
			log.Error("relay: completing job", "err", cerr)
		}
	case errors.Is(context.Cause(jctx), errLeaseLost):
		// Another worker may be running the job now; it owns the outcome.
		outcome = "lease_lost"
		log.Warn("relay: lease lost; job stopped and left to its next holder", "err", err)
	case ctx.Err() != nil:
		// Shutting down: leave the job to its lease, whatever attempt it was.
		outcome = "interrupted"
		log.Warn("relay: job interrupted by shutdown; it will run again", "err", err)
	case errors.Is(err, errNotYetOurs):
		outcome = "deferred"
		log.Debug("relay: reply on a conversation not recorded yet; looking again later")
		if rerr := r.q.Retry(octx, job, time.Duration(job.Attempt)*r.cfg.RetryBase, err.Error()); rerr != nil {
			log.Error("relay: scheduling retry", "err", rerr)
		}
	case errors.As(err, &perm) || job.Attempt >= r.cfg.MaxAttempts:
		outcome = "dead_lettered"
		log.Error("relay: dead-lettering job", "err", err)
		if derr := r.q.DeadLetter(octx, job, err.Error()); derr != nil {
			outcome = "dead_letter_failed"
			log.Error("relay: dead-lettering job", "err", derr)
			break
		}
		r.tellAgentsOfDeadLetter(octx, job, err, log)
	default:
		outcome = "retried"
		delay := r.retryDelay(job.Attempt, err)
		log.Warn("relay: job failed; retrying", "err", err, "delay", delay)
		if rerr := r.q.Retry(octx, job, delay, err.Error()); rerr != nil {
			log.Error("relay: scheduling retry", "err", rerr)
		}
	}
	r.m.job(octx, job.Kind, outcome, time.Since(started))
}

// tellAgentsOfDeadLetter adds an internal note when an agent's reply is
// dead-lettered, so that nobody believes it reached the customer. It is best
// effort: Intercom may be what keeps failing.
func (r *Relay) tellAgentsOfDeadLetter(ctx context.Context, job store.Job, cause error, log *slog.Logger) {
	if job.Kind != kindIntercom {
		return
	}
	var p intercomJob
	if json.Unmarshal(job.Payload, &p) != nil || len(p.Parts) == 0 {
		return
	}
	note := fmt.Sprintf("<p>A reply on this conversation could not be sent by SMS after %d attempts and was set aside (job %s) for an operator to replay. Last error: %s</p>",
		job.Attempt, html.EscapeString(job.ID), html.EscapeString(cause.Error()))
	if _, err := r.ic.AddNote(ctx, p.ConversationID, r.cfg.NoteAuthor, note); err != nil {
		log.Warn("relay: could not add a note about the dead letter", "err", err)
	}
}

// heartbeat extends job's lease until ctx ends. When the queue says the
// lease is gone, or extensions keep failing until the lease is about to run
// out, it cancels the job with errLeaseLost: past that point another worker
// may claim it, and two must never run it at once.
func (r *Relay) heartbeat(ctx context.Context, job store.Job, cancelJob context.CancelCauseFunc, log *slog.Logger) {
	every := r.cfg.Lease / 3
	deadline := time.Now().Add(r.cfg.Lease) // the claim's lease, give or take
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := r.q.Extend(ctx, job, r.cfg.Lease)
		switch {
		case err == nil:
			deadline = time.Now().Add(r.cfg.Lease)
		case ctx.Err() != nil:
			return
		case errors.Is(err, store.ErrLeaseLost):
			cancelJob(errLeaseLost)
			return
		default:
			log.Warn("relay: extending lease", "err", err)
			if time.Until(deadline) < every {
				cancelJob(errLeaseLost)
				return
			}
		}
	}
}

// retryDelay is RetryBase doubling per attempt up to RetryMax, with up to 20%
// jitter, and never shorter than a delay the error asks for.
func (r *Relay) retryDelay(attempt int, err error) time.Duration {
	d := r.cfg.RetryBase
	for i := 1; i < attempt && d < r.cfg.RetryMax; i++ {
		d *= 2
	}
	d = min(d, r.cfg.RetryMax)
	d -= time.Duration(rand.Int64N(int64(d)/5 + 1))
	var ie *intercom.Error
	if errors.As(err, &ie) && errors.Is(err, intercom.ErrRateLimited) && ie.RetryAfter > d {
		d = ie.RetryAfter
	}
	return d
}

// handle runs one job.
func (r *Relay) handle(ctx context.Context, job store.Job) error {
	switch job.Kind {
	case kindInbound:
		var p inboundJob
		if err := json.Unmarshal(job.Payload, &p); err != nil {
			return permanent(fmt.Errorf("relay: reading inbound job: %w", err))
		}
		return r.handleInbound(ctx, p, job.Attempt)
	case kindStatus:
		var p statusJob
		if err := json.Unmarshal(job.Payload, &p); err != nil {
			return permanent(fmt.Errorf("relay: reading status job: %w", err))
		}
		return r.handleStatus(ctx, p, job.Attempt)
	case kindIntercom:
		var p intercomJob
		if err := json.Unmarshal(job.Payload, &p); err != nil {
			return permanent(fmt.Errorf("relay: reading intercom job: %w", err))
		}
		return r.handleIntercom(ctx, p, job.Attempt)
	case kindUnreadable:
		var p unreadableJob
		_ = json.Unmarshal(job.Payload, &p)
		return permanent(fmt.Errorf("relay: unreadable inbound message webhook: %s", p.Reason))
	case kindRoute:
		var p routeJob
		if err := json.Unmarshal(job.Payload, &p); err != nil {
			return permanent(fmt.Errorf("relay: reading route job: %w", err))
		}
		return r.handleRoute(ctx, p)
	}
	return permanent(fmt.Errorf("relay: unknown job kind %q", job.Kind))
}

// permanentError marks an error that retrying cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

func permanent(err error) error { return &permanentError{err} }

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
// error wrapping store.ErrNotFound when there is no such dead letter.
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
