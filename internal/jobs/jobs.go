// Package jobs runs the relay's queued jobs: a pool of workers that claim
// jobs from a [store.Queue], hold each job's lease with a heartbeat while it
// runs, dispatch it by kind to a handler from one registry, and record the
// outcome (complete, retry with backoff, defer, dead-letter).
//
// It knows nothing about SMS or Intercom: the relay registers one [Handler]
// per job kind and says, through the errors its handlers return, what
// happened ([Permanent], [Defer]). Everything that keeps one job from
// running twice at once lives here:
//
//   - A job's lease is measured from before the Claim that granted it, and
//     the job is cancelled (its context's cause is [ErrLeaseLost]) at the
//     latest a safety margin before that lease could lapse, unless an
//     extension was confirmed in time. Extensions run with a deadline of
//     their own, shorter than the remaining lease, and the job is cancelled
//     on time even when the store never answers (a black-holed connection),
//     so that two workers never act for one job at once.
//   - Outcomes are recorded on a context detached from the job's and the
//     worker's, so that a job finished during shutdown is not run again
//     just because the process was stopping.
package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/smsrelay/smsrelay/store"
)

// Handler runs one job. It returns nil when the job is done, or an error
// that says what to do next: a [Permanent] error dead-letters the job, a
// [Defer] error puts it back without counting it as a failure, and any other
// error retries it with backoff until Config.MaxAttempts.
//
// ctx ends when the job must stop: its lease could not be kept
// (context.Cause(ctx) is [ErrLeaseLost]) or the runner is shutting down past
// its drain timeout.
type Handler func(ctx context.Context, job store.Job) error

// Outcomes a job can have, as passed to Config.OnOutcome.
const (
	OutcomeCompleted        = "completed"          // done and removed from the queue
	OutcomeRetried          = "retried"            // failed; runs again after a delay
	OutcomeDeferred         = "deferred"           // not ready yet; runs again later, no failure
	OutcomeDeadLettered     = "dead_lettered"      // failed for good; kept for an operator
	OutcomeDeadLetterFailed = "dead_letter_failed" // failed for good, and the queue refused it
	OutcomeLeaseLost        = "lease_lost"         // stopped: another worker may hold it
	OutcomeInterrupted      = "interrupted"        // stopped by shutdown; runs again after its lease
)

// ErrLeaseLost is the cause of a job's context when the runner can no longer
// vouch for the job's lease: another worker may hold it now.
var ErrLeaseLost = errors.New("jobs: lease lost")

// permanentError marks an error that retrying cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as one that retrying cannot fix: the job is
// dead-lettered at once. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}

// IsPermanent reports whether err was marked by [Permanent].
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

// deferError puts a job back for later without calling it a failure.
type deferError struct {
	err   error
	after time.Duration
}

func (e *deferError) Error() string { return e.err.Error() }
func (e *deferError) Unwrap() error { return e.err }

// Defer puts the job back to run again after at least d, without counting
// it as a failure: it raises no alarm and is never dead-lettered by the
// runner (the handler decides when to stop deferring, for instance by the
// job's Attempt). err says why, for the job's LastError. A non-positive d
// means the runner's base retry delay.
func Defer(err error, d time.Duration) error {
	if err == nil {
		err = errors.New("jobs: deferred")
	}
	return &deferError{err: err, after: d}
}

// Config configures a [Runner]. Queue and Handlers are required; zero
// durations and counts are errors (the relay fills in its defaults before).
type Config struct {
	// Queue holds the jobs.
	Queue store.Queue
	// Handlers maps each job kind to its handler: the one registry of what
	// the runner can run. A job of a kind not listed is dead-lettered.
	Handlers map[string]Handler
	// Workers is how many jobs run at once.
	Workers int
	// Lease is how long a claim or an extension holds a job.
	Lease time.Duration
	// MaxAttempts is how many times a failing job runs before it is
	// dead-lettered.
	MaxAttempts int
	// RetryBase and RetryMax bound the backoff: RetryBase doubling per
	// attempt up to RetryMax, less up to 20% jitter.
	RetryBase, RetryMax time.Duration
	// MinDelay, if set, returns the least delay an error asks for (a
	// server's Retry-After, say); the retry waits at least that long.
	MinDelay func(error) time.Duration
	// PollInterval is how long an idle worker waits before looking again.
	PollInterval time.Duration
	// Waker, if set, wakes idle workers as soon as a job is enqueued
	// (usually the Queue itself, when it is a [store.Waker]); the poll
	// stays as a fallback for signals lost.
	Waker store.Waker
	// DrainTimeout bounds how long Run waits for running jobs after its
	// context ends.
	DrainTimeout time.Duration
	// Logger receives the runner's logs.
	Logger *slog.Logger
	// OnDeadLetter, if set, is called after a job was dead-lettered, with
	// the error that killed it, on a context that outlives shutdown by a
	// few seconds.
	OnDeadLetter func(ctx context.Context, job store.Job, cause error)
	// OnOutcome, if set, is called once per job run with its outcome (one
	// of the Outcome constants) and how long the handler took.
	OnOutcome func(ctx context.Context, kind, outcome string, took time.Duration)
}

// outcomeTimeout bounds the store calls that record a job's outcome.
const outcomeTimeout = 10 * time.Second

// Runner claims and runs jobs. Build it with [New]; it is safe for
// concurrent use, but Run runs once at a time.
type Runner struct {
	cfg     Config
	log     *slog.Logger
	running sync.Mutex
	now     func() time.Time
}

// New checks cfg and returns a Runner.
func New(cfg Config) (*Runner, error) {
	var p []error
	if cfg.Queue == nil {
		p = append(p, errors.New("missing Queue"))
	}
	if len(cfg.Handlers) == 0 {
		p = append(p, errors.New("no Handlers"))
	}
	for kind, h := range cfg.Handlers {
		if kind == "" || h == nil {
			p = append(p, fmt.Errorf("handler of kind %q is nil or has no kind", kind))
		}
	}
	if cfg.Workers <= 0 {
		p = append(p, fmt.Errorf("non-positive Workers %d", cfg.Workers))
	}
	if cfg.Lease <= 0 {
		p = append(p, fmt.Errorf("non-positive Lease %v", cfg.Lease))
	}
	if cfg.MaxAttempts <= 0 {
		p = append(p, fmt.Errorf("non-positive MaxAttempts %d", cfg.MaxAttempts))
	}
	if cfg.RetryBase <= 0 || cfg.RetryMax < cfg.RetryBase {
		p = append(p, fmt.Errorf("need 0 < RetryBase <= RetryMax, got %v and %v", cfg.RetryBase, cfg.RetryMax))
	}
	if cfg.PollInterval <= 0 {
		p = append(p, fmt.Errorf("non-positive PollInterval %v", cfg.PollInterval))
	}
	if cfg.DrainTimeout < 0 {
		p = append(p, fmt.Errorf("negative DrainTimeout %v", cfg.DrainTimeout))
	}
	if err := errors.Join(p...); err != nil {
		return nil, fmt.Errorf("jobs: invalid config: %w", err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Handlers = maps.Clone(cfg.Handlers)
	return &Runner{cfg: cfg, log: cfg.Logger, now: time.Now}, nil
}

// Run runs the workers until ctx ends, then stops claiming and waits for
// running jobs, for at most DrainTimeout; jobs still running then are
// cancelled and left to their leases, to run again here or elsewhere (a
// handler that ignores its context's cancellation holds Run until it
// returns). It returns nil after the drain, or an error if Run is already
// running.
//
// A job cut off by shutdown or a lost lease has used up its attempt, like
// a failure: MaxAttempts should leave room for deploys.
func (r *Runner) Run(ctx context.Context) error {
	if !r.running.TryLock() {
		return errors.New("jobs: Run is already running")
	}
	defer r.running.Unlock()

	// Jobs run on a context that outlives ctx by the drain timeout.
	jobCtx, cancelJobs := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelJobs()

	// kick wakes one idle worker. Signals from the queue's Waker arrive
	// on it; a worker woken by one that claims a job passes the signal on,
	// so that a burst of jobs wakes as many workers as it needs.
	kick := make(chan struct{}, 1)
	var wg sync.WaitGroup
	if r.cfg.Waker != nil {
		signals, err := r.cfg.Waker.Wake(ctx)
		if err != nil {
			r.log.Warn("jobs: cannot be woken on enqueue; polling only", "err", err)
		} else {
			// Ends when the Waker closes signals, after ctx ends; the
			// drain does not wait for it.
			go func() {
				for range signals {
					signal(kick)
				}
			}()
		}
	}
	for range r.cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.worker(ctx, jobCtx, kick)
		}()
	}
	<-ctx.Done()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	t := time.NewTimer(r.cfg.DrainTimeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		r.log.Warn("jobs: drain timeout; abandoning running jobs to their leases")
		cancelJobs()
		<-done
	}
	return nil
}

// signal sends on c without blocking; a signal already pending stands for
// both.
func signal(c chan<- struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// worker claims and runs jobs until ctx ends, sleeping PollInterval when
// there is none, or until kicked.
func (r *Runner) worker(ctx, jobCtx context.Context, kick chan struct{}) {
	woken := false
	for ctx.Err() == nil {
		claimed := r.now()
		job, ok, err := r.claim(jobCtx)
		if err != nil {
			r.log.Error("jobs: claiming a job", "err", err)
		}
		if ok {
			if woken {
				signal(kick) // there may be more: wake another worker
			}
			r.run(jobCtx, job, claimed.Add(r.cfg.Lease))
			continue
		}
		woken = false
		t := time.NewTimer(r.cfg.PollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		case <-kick:
			t.Stop()
			woken = true
		}
	}
}

// claim claims one job, reporting whether there was one.
func (r *Runner) claim(ctx context.Context) (store.Job, bool, error) {
	job, err := r.cfg.Queue.Claim(ctx, r.cfg.Lease)
	if errors.Is(err, store.ErrNoJob) {
		return store.Job{}, false, nil
	}
	if err != nil {
		return store.Job{}, false, fmt.Errorf("jobs: claim: %w", err)
	}
	return job, true, nil
}

// RunOnce claims one job, runs it and records its outcome. It reports
// whether there was a job.
func (r *Runner) RunOnce(ctx context.Context) (bool, error) {
	// The lease runs from before the claim: the store may have granted it
	// at any moment of the call.
	claimed := r.now()
	job, err := r.cfg.Queue.Claim(ctx, r.cfg.Lease)
	if errors.Is(err, store.ErrNoJob) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("jobs: claim: %w", err)
	}
	r.run(ctx, job, claimed.Add(r.cfg.Lease))
	return true, nil
}

// run runs one claimed job whose lease ends at leaseEnd.
func (r *Runner) run(ctx context.Context, job store.Job, leaseEnd time.Time) {
	log := r.log.With("job", job.ID, "kind", job.Kind, "attempt", job.Attempt)
	started := r.now()
	jctx, cancelJob := context.WithCancelCause(ctx)
	defer cancelJob(nil)
	hbCtx, stopHeartbeat := context.WithCancel(ctx)
	hbDone := make(chan struct{})
	go func() {
		defer close(hbDone)
		r.heartbeat(hbCtx, job, leaseEnd, cancelJob, log)
	}()
	err := r.dispatch(jctx, job)
	stopHeartbeat()
	<-hbDone
	took := r.now().Sub(started)

	// Record the outcome even if ctx ended meanwhile: a finished job must
	// not run again just because the process is shutting down.
	octx, cancel := context.WithTimeout(context.WithoutCancel(ctx), outcomeTimeout)
	defer cancel()
	outcome := r.settle(octx, ctx, jctx, job, err, log)
	if r.cfg.OnOutcome != nil {
		r.cfg.OnOutcome(octx, job.Kind, outcome, took)
	}
}

// dispatch runs job's handler, turning a panic into a permanent error.
func (r *Runner) dispatch(ctx context.Context, job store.Job) (err error) {
	h, ok := r.cfg.Handlers[job.Kind]
	if !ok {
		return Permanent(fmt.Errorf("jobs: no handler for job kind %q", job.Kind))
	}
	defer func() {
		if p := recover(); p != nil {
			err = Permanent(fmt.Errorf("jobs: handler of kind %q panicked: %v", job.Kind, p))
		}
	}()
	return h(ctx, job)
}

// settle records what happened to job and returns the outcome.
func (r *Runner) settle(octx, ctx, jctx context.Context, job store.Job, err error, log *slog.Logger) string {
	q := r.cfg.Queue
	var def *deferError
	switch {
	case err == nil:
		// Finished: complete it, even if the heartbeat lost faith in the
		// lease meanwhile; the queue refuses if another worker holds it.
		if cerr := q.Complete(octx, job); cerr != nil {
			log.Error("jobs: completing job", "err", cerr)
		}
		return OutcomeCompleted
	case errors.Is(context.Cause(jctx), ErrLeaseLost):
		// Another worker may be running the job now; it owns the outcome.
		log.Warn("jobs: lease lost; job stopped and left to its next holder", "err", err)
		return OutcomeLeaseLost
	case ctx.Err() != nil:
		// Shutting down: leave the job to its lease, whatever attempt it was.
		log.Warn("jobs: job interrupted by shutdown; it will run again", "err", err)
		return OutcomeInterrupted
	case errors.As(err, &def):
		d := def.after
		if d <= 0 {
			d = r.cfg.RetryBase
		}
		log.Info("jobs: job deferred", "reason", err, "delay", d)
		if rerr := q.Retry(octx, job, d, err.Error()); rerr != nil {
			log.Error("jobs: deferring job", "err", rerr)
		}
		return OutcomeDeferred
	case IsPermanent(err) || job.Attempt >= r.cfg.MaxAttempts:
		log.Error("jobs: dead-lettering job", "err", err)
		if derr := q.DeadLetter(octx, job, err.Error()); derr != nil {
			log.Error("jobs: dead-lettering job", "err", derr)
			return OutcomeDeadLetterFailed
		}
		if r.cfg.OnDeadLetter != nil {
			r.cfg.OnDeadLetter(octx, job, err)
		}
		return OutcomeDeadLettered
	default:
		delay := r.retryDelay(job.Attempt, err)
		log.Warn("jobs: job failed; retrying", "err", err, "delay", delay)
		if rerr := q.Retry(octx, job, delay, err.Error()); rerr != nil {
			log.Error("jobs: scheduling retry", "err", rerr)
		}
		return OutcomeRetried
	}
}

// leaseMargin is how long before a lease could lapse the runner gives up on
// it: enough for a cancelled call to notice, small against any lease.
func leaseMargin(lease time.Duration) time.Duration {
	return min(lease/10, 2*time.Second)
}

// heartbeat extends job's lease, which ends at leaseEnd, until ctx ends.
// It cancels the job with ErrLeaseLost when the queue says the lease is
// gone, or when leaseEnd, less a margin, comes before an extension was
// confirmed: whether the store answered with an error, or not at all.
func (r *Runner) heartbeat(ctx context.Context, job store.Job, leaseEnd time.Time, cancelJob context.CancelCauseFunc, log *slog.Logger) {
	lease := r.cfg.Lease
	margin := leaseMargin(lease)
	every := lease / 3
	giveUp := leaseEnd.Add(-margin)
	next := r.now().Add(every)
	for {
		// Sleep until the next extension is due, or until the lease must
		// be given up, whichever comes first.
		wake := next
		if giveUp.Before(wake) {
			wake = giveUp
		}
		if !r.sleepUntil(ctx, wake) {
			return
		}
		if !r.now().Before(giveUp) {
			log.Warn("jobs: lease could not be extended in time; stopping the job")
			cancelJob(ErrLeaseLost)
			return
		}
		// One extension, bounded by what is left of the lease. It runs
		// apart, so that a store that never answers cannot hold the
		// heartbeat past the lease.
		sent := r.now()
		callCtx, cancelCall := context.WithDeadline(ctx, giveUp)
		res := make(chan error, 1)
		go func() { res <- r.cfg.Queue.Extend(callCtx, job, lease) }()
		var err error
		select {
		case err = <-res:
		case <-callCtx.Done():
			err = callCtx.Err()
		}
		cancelCall()
		switch {
		case err == nil:
			giveUp = sent.Add(lease - margin)
			next = r.now().Add(every)
		case ctx.Err() != nil:
			return
		case errors.Is(err, store.ErrLeaseLost):
			cancelJob(ErrLeaseLost)
			return
		default:
			log.Warn("jobs: extending lease", "err", err)
			next = r.now().Add(min(every, time.Second))
		}
	}
}

// sleepUntil waits until t or ctx's end, and reports whether t came.
func (r *Runner) sleepUntil(ctx context.Context, t time.Time) bool {
	d := t.Sub(r.now())
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

// retryDelay is RetryBase doubling per attempt up to RetryMax, less up to
// 20% jitter, and never shorter than what the error asks for.
func (r *Runner) retryDelay(attempt int, err error) time.Duration {
	d := r.cfg.RetryBase
	for i := 1; i < attempt && d < r.cfg.RetryMax; i++ {
		d *= 2
	}
	d = min(d, r.cfg.RetryMax)
	d -= time.Duration(rand.Int64N(int64(d)/5 + 1))
	if r.cfg.MinDelay != nil {
		d = max(d, r.cfg.MinDelay(err))
	}
	return d
}
