package storetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smsrelay/smsrelay/store"
)

// Replicator is an optional capability of the backends that the function
// given to [Run] returns. A backend that implements it lets
// [TestQueueStress] run its workers on several values that share one
// backend, the way several processes of one deployment share a database.
type Replicator interface {
	// Replica returns another Backend on the same data as the receiver: a
	// separate value, with its own connections, on the same schema or key
	// prefix, as another process would open it. Anything it registers
	// with t.Cleanup must leave the shared data alone; the receiver's
	// clean-up removes it.
	Replica(t *testing.T) Backend
}

// stressConfig shapes one run of the stress scenario.
type stressConfig struct {
	keys, jobs, workers int
	abandonPct          int           // % of claims whose holder walks away
	abandonLease        time.Duration // lease of those claims
	keepLease           time.Duration // lease of the other claims; above deadline, so they never lapse
	extendPct           int           // % of kept claims that Extend first
	retryPct, deadPct   int           // % of kept claims that Retry, DeadLetter
	retryDelay          time.Duration // delay of half the retries; the rest use 0
	replays             int           // dead letters to replay
	stall               time.Duration // fail when nothing moves this long
	deadline            time.Duration // fail when not done by then; below keepLease
}

// defaultStress is the configuration of [TestQueueStress]: a few hundred
// jobs on a few keys, so that keys contend, done in a second or two. The
// kept leases and the deadline are far longer than the run needs, so that
// a busy machine slows the run down without failing it.
var defaultStress = stressConfig{
	keys: 6, jobs: 300, workers: 8,
	abandonPct: 3, abandonLease: 100 * time.Millisecond, keepLease: 5 * time.Minute,
	extendPct: 10, retryPct: 20, deadPct: 10, retryDelay: 2 * time.Millisecond,
	replays: 20, stall: 15 * time.Second, deadline: 2 * time.Minute,
}

// TestQueueStress runs enqueuers, claimers and a replayer at once: claimers
// complete, retry (now or after a short delay), extend and dead-letter the
// jobs they claim, and now and then walk away from a claim so that its
// lease lapses; the replayer puts dead letters back. If the backend is a
// [Replicator], the work is spread over three values that share it.
//
// A model of the queue checks every claim as it happens: no job of a key
// while another job of that key holds a lease that has not run out, each
// key's jobs in order (a retried or lapsed job keeps its turn, a replayed
// one goes to the back), Attempt, LastError, ID and CreatedAt as expected
// (also across Replay), lease tokens never reused, and a lapsed holder
// refused with [store.ErrLeaseLost] once the job is claimed again. At the
// end every job must be completed or dead, with nothing ready or leased,
// and the dead letters must be exactly the jobs left dead.
func TestQueueStress(t *testing.T, newStore func(t *testing.T) Backend) {
	t.Run("Mixed", func(t *testing.T) {
		e := open(t, newStore)
		backends := []Backend{e.b}
		if r, ok := e.b.(Replicator); ok {
			for i := range 2 {
				rb := r.Replica(t)
				if rb == nil {
					t.Fatalf("storetest: Replica call %d returned nil", i+1)
				}
				backends = append(backends, rb)
			}
		} else {
			t.Logf("the backend is not a storetest.Replicator; stressing one value")
		}
		if err := runStress(e.ctx, backends, defaultStress, t.Logf); err != nil {
			t.Fatal(err)
		}
	})
}

// sjob is the model of one job. Jobs are told apart by their payload, a
// token known before Enqueue returns.
type sjob struct {
	token    string
	key      string
	id       string    // "" until Enqueue returns or a claim shows it
	created  time.Time // zero until known
	attempts int       // claims since Enqueue or the last Replay
	lastErr  string    // reason of the last Retry
	errKnown bool      // whether lastErr is what the backend must report
	replays  int
	deadWhy  string // reason given to DeadLetter, while dead
}

func (j *sjob) String() string {
	id := j.id
	if id == "" {
		id = "?"
	}
	return fmt.Sprintf("job %s (payload %q, key %q, attempt %d, replays %d)", id, j.token, j.key, j.attempts, j.replays)
}

// skey is the model of one ordering key.
type skey struct {
	// order serialises Enqueue and Replay of the key, so that the model
	// appends jobs in the order the backend does. Taken before stress.mu.
	order sync.Mutex

	jobs      []*sjob   // waiting or held, in the order they must run
	held      *sjob     // job holding the last lease granted, if any
	heldJob   store.Job // that claim, as the holder saw it
	heldUntil time.Time // the lease cannot have run out before this
	abandoned bool      // the holder walked away
}

// stress is the shared state of one run.
type stress struct {
	cfg      stressConfig
	backends []Backend
	ctx      context.Context
	cancel   context.CancelFunc

	mu           sync.Mutex
	keys         map[string]*skey
	byToken      map[string]*sjob
	byID         map[string]*sjob
	leases       map[string]string // lease token → the claim that got it
	live         int               // jobs in some key's jobs
	dead         []*sjob           // dead, in the order DeadLetter returned
	dying        int               // DeadLetter calls under way
	replays      int
	claims       int
	lapses       int
	enqueued     int
	enqDone      bool
	replayerDone bool

	// gate keeps a claim whose lease is meant to lapse apart from every
	// other claim: such a claim and its record in the model happen while
	// no other Claim runs. Otherwise its lease could run out, and the job
	// be claimed again and recorded, between the first Claim's return and
	// its record, and the model would see two claims in the wrong order.
	// Claims with kept leases share the gate and run concurrently.
	gate sync.RWMutex

	progress atomic.Int64 // UnixNano of the last call that moved a job
	failOnce sync.Once
	failure  error
}

// fail records the first failure and stops the run.
func (s *stress) fail(format string, args ...any) {
	s.failOnce.Do(func() { s.failure = fmt.Errorf("storetest: stress: "+format, args...) })
	s.cancel()
}

func (s *stress) moved() { s.progress.Store(time.Now().UnixNano()) }

// runStress runs the scenario on backends, which share one backend, and
// returns the first rule it saw broken.
func runStress(ctx context.Context, backends []Backend, cfg stressConfig, logf func(string, ...any)) error {
	ctx, cancel := context.WithTimeout(ctx, cfg.deadline)
	defer cancel()
	s := &stress{
		cfg: cfg, backends: backends, ctx: ctx, cancel: cancel,
		keys: map[string]*skey{}, byToken: map[string]*sjob{}, byID: map[string]*sjob{},
		leases: map[string]string{},
	}
	for i := range cfg.keys {
		s.keys[fmt.Sprintf("key-%d", i)] = &skey{}
	}
	s.moved()
	start := time.Now()

	var enq sync.WaitGroup
	const enqueuers = 2
	for e := range enqueuers {
		enq.Add(1)
		go func() {
			defer enq.Done()
			s.enqueuer(e, enqueuers)
		}()
	}
	var all sync.WaitGroup
	all.Add(1)
	go func() {
		defer all.Done()
		enq.Wait()
		s.mu.Lock()
		s.enqDone = true
		s.mu.Unlock()
	}()
	for w := range cfg.workers {
		all.Add(1)
		go func() {
			defer all.Done()
			s.worker(w)
		}()
	}
	all.Add(1)
	go func() {
		defer all.Done()
		s.replayer()
	}()
	stop := make(chan struct{})
	var mon sync.WaitGroup
	mon.Add(1)
	go func() {
		defer mon.Done()
		s.monitor(stop)
	}()
	all.Wait()
	close(stop)
	mon.Wait()

	if s.failure != nil {
		return s.failure
	}
	if err := ctx.Err(); err != nil {
		if parent := context.Cause(ctx); parent != nil && !errors.Is(parent, context.DeadlineExceeded) {
			return fmt.Errorf("storetest: stress: stopped: %w", parent)
		}
		return fmt.Errorf("storetest: stress: not done within %v: %s", cfg.deadline, s.summary())
	}
	logf("stress: %d values, %d jobs, %d claims, %d lapsed leases, %d replays, %d dead at the end, in %v",
		len(backends), s.enqueued, s.claims, s.lapses, s.replays, len(s.dead), time.Since(start).Round(time.Millisecond))
	return s.checkEnd()
}

// enqueuer enqueues its share of the jobs, on its own value, each on a
// random key.
func (s *stress) enqueuer(e, of int) {
	b := s.backends[e%len(s.backends)]
	r := rand.New(rand.NewPCG(uint64(e), 1))
	for i := e; i < s.cfg.jobs; i += of {
		if s.ctx.Err() != nil {
			return
		}
		name := fmt.Sprintf("key-%d", r.IntN(s.cfg.keys))
		k := s.keys[name]
		sj := &sjob{token: fmt.Sprintf("stress-%d", i), key: name}

		k.order.Lock()
		s.mu.Lock()
		s.byToken[sj.token] = sj
		k.jobs = append(k.jobs, sj)
		s.live++
		s.mu.Unlock()
		got, err := b.Enqueue(s.ctx, store.NewJob{Kind: "stress", Key: name, Payload: []byte(sj.token)})
		if err != nil {
			k.order.Unlock()
			if s.ctx.Err() == nil {
				s.fail("value %d: Enqueue of payload %q on key %q: %v", e%len(s.backends), sj.token, name, err)
			}
			return
		}
		s.mu.Lock()
		s.enqueued++
		switch {
		case got.Kind != "stress" || got.Key != name || string(got.Payload) != sj.token || got.State != store.JobReady || got.Attempt != 0:
			s.fail("Enqueue of payload %q on key %q returned kind %q, key %q, payload %q, state %q, attempt %d",
				sj.token, name, got.Kind, got.Key, got.Payload, got.State, got.Attempt)
		default:
			s.learn(sj, got, "Enqueue")
		}
		s.mu.Unlock()
		k.order.Unlock()
		s.moved()
	}
}

// learn records or checks the ID and CreatedAt of sj as a call returned
// it, and reports whether they were as expected; s.mu is held.
func (s *stress) learn(sj *sjob, got store.Job, call string) bool {
	switch {
	case got.ID == "":
		s.fail("%s returned %v with an empty ID", call, sj)
		return false
	case sj.id == "":
		if other := s.byID[got.ID]; other != nil {
			s.fail("%s returned ID %s for payload %q, the ID of %v", call, got.ID, sj.token, other)
			return false
		}
		sj.id = got.ID
		s.byID[got.ID] = sj
	case got.ID != sj.id:
		s.fail("%s returned %v with ID %s%s", call, sj, got.ID, afterReplay(sj, "ID"))
		return false
	}
	switch {
	case sj.created.IsZero():
		sj.created = got.CreatedAt
	case got.CreatedAt.Sub(sj.created).Abs() > time.Millisecond:
		s.fail("%s returned %v with CreatedAt %v, want %v%s", call, sj, got.CreatedAt, sj.created, afterReplay(sj, "CreatedAt"))
		return false
	}
	return true
}

// afterReplay explains a changed field of a replayed job.
func afterReplay(sj *sjob, field string) string {
	if sj.replays == 0 {
		return ""
	}
	return "; Replay must keep the job's " + field
}

// worker claims jobs on its value until every job is finished.
func (s *stress) worker(w int) {
	vi := w % len(s.backends)
	b := s.backends[vi]
	r := rand.New(rand.NewPCG(uint64(w), 2))
	for s.ctx.Err() == nil {
		s.mu.Lock()
		done := s.enqDone && s.replayerDone && s.live == 0
		s.mu.Unlock()
		if done {
			return
		}
		abandon := r.IntN(100) < s.cfg.abandonPct
		j, sj, stale, res := s.claim(vi, b, abandon)
		switch res {
		case claimNone:
			time.Sleep(time.Duration(r.IntN(2000)) * time.Microsecond)
			continue
		case claimFailed:
			return
		}
		if stale != nil && !s.refusesStale(vi, b, r, *stale, sj) {
			return
		}
		if abandon {
			continue // the lease lapses
		}
		if !s.finish(vi, b, r, j, sj) {
			return
		}
	}
}

// Outcomes of stress.claim.
const (
	claimGot    = iota // a job, checked and recorded
	claimNone          // ErrNoJob
	claimFailed        // the run failed
)

// claim claims a job on b, for the short lease when abandon is set, and
// checks and records the claim under the gate (see stress.gate).
func (s *stress) claim(vi int, b Backend, abandon bool) (j store.Job, sj *sjob, stale *store.Job, res int) {
	lease := s.cfg.keepLease
	if abandon {
		lease = s.cfg.abandonLease
		s.gate.Lock()
		defer s.gate.Unlock()
	} else {
		s.gate.RLock()
		defer s.gate.RUnlock()
	}
	called := time.Now()
	j, err := b.Claim(s.ctx, lease)
	returned := time.Now()
	if errors.Is(err, store.ErrNoJob) {
		return store.Job{}, nil, nil, claimNone
	}
	if err != nil {
		if s.ctx.Err() == nil {
			s.fail("value %d: Claim: %v", vi, err)
		}
		return store.Job{}, nil, nil, claimFailed
	}
	s.moved()
	sj, stale, ok := s.claimed(vi, j, called, returned, lease, abandon)
	if !ok {
		return store.Job{}, nil, nil, claimFailed
	}
	return j, sj, stale, claimGot
}

// claimed checks claim j against the model and records it. stale is the
// claim before it, when that one's lease lapsed.
func (s *stress) claimed(vi int, j store.Job, called, returned time.Time, lease time.Duration, abandon bool) (sj *sjob, stale *store.Job, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sj = s.byToken[string(j.Payload)]
	if sj == nil {
		s.fail("value %d: Claim returned job %s (key %q) with payload %q, which no Enqueue sent", vi, j.ID, j.Key, j.Payload)
		return nil, nil, false
	}
	if j.Key != sj.key || j.Kind != "stress" {
		s.fail("value %d: Claim returned %v with key %q and kind %q", vi, sj, j.Key, j.Kind)
		return nil, nil, false
	}
	if !s.learn(sj, j, fmt.Sprintf("value %d: Claim", vi)) {
		return nil, nil, false
	}
	k := s.keys[sj.key]
	if h := k.held; h != nil {
		if returned.Before(k.heldUntil.Add(-slack)) {
			how := "holds a lease"
			if k.abandoned {
				how = "was abandoned but its lease"
			}
			s.fail("SINGLE HOLDER: value %d: Claim returned %v while %v %s that runs at least %v more",
				vi, sj, h, how, k.heldUntil.Sub(returned).Round(time.Millisecond))
			return nil, nil, false
		}
		s.lapses++
		st := k.heldJob
		stale = &st
	}
	if len(k.jobs) == 0 || k.jobs[0] != sj {
		first := "none"
		if len(k.jobs) > 0 {
			first = k.jobs[0].String()
		}
		in := slices.Index(k.jobs, sj)
		state := "finished"
		switch {
		case in > 0:
			state = fmt.Sprintf("number %d in line", in+1)
		case sj.deadWhy != "":
			state = "dead"
		}
		s.fail("ORDER: value %d: Claim returned %v, which is %s; first in line for key %q is %s", vi, sj, state, sj.key, first)
		return nil, nil, false
	}
	if j.State != store.JobLeased || j.Lease == "" {
		s.fail("value %d: Claim returned %v in state %q with lease token %q, want leased with a token", vi, sj, j.State, j.Lease)
		return nil, nil, false
	}
	if j.Attempt != sj.attempts+1 {
		s.fail("value %d: Claim returned %v with Attempt %d, want %d", vi, sj, j.Attempt, sj.attempts+1)
		return nil, nil, false
	}
	if sj.errKnown && j.LastError != sj.lastErr {
		s.fail("value %d: Claim returned %v with LastError %q, want %q (the last Retry's reason)", vi, sj, j.LastError, sj.lastErr)
		return nil, nil, false
	}
	desc := fmt.Sprintf("%v, claim %d on value %d", sj, j.Attempt, vi)
	if prev, dup := s.leases[j.Lease]; dup {
		s.fail("lease token %q handed out twice: to %s and to %s", j.Lease, prev, desc)
		return nil, nil, false
	}
	s.leases[j.Lease] = desc
	sj.attempts++
	s.claims++
	k.held, k.heldJob, k.heldUntil, k.abandoned = sj, j, called.Add(lease), abandon
	return sj, stale, true
}

// refusesStale checks that the holder of stale, whose lease lapsed before
// sj was claimed again, can no longer act on it.
func (s *stress) refusesStale(vi int, b Backend, r *rand.Rand, stale store.Job, sj *sjob) bool {
	var (
		name string
		err  error
	)
	switch r.IntN(4) {
	case 0:
		name, err = "Complete", b.Complete(s.ctx, stale)
	case 1:
		name, err = "Retry", b.Retry(s.ctx, stale, 0, "stale")
	case 2:
		name, err = "DeadLetter", b.DeadLetter(s.ctx, stale, "stale")
	default:
		name, err = "Extend", b.Extend(s.ctx, stale, s.cfg.keepLease)
	}
	if errors.Is(err, store.ErrLeaseLost) {
		return true
	}
	if s.ctx.Err() == nil {
		s.fail("value %d: %s with the lapsed lease of claim %d of %v, after it was claimed again: %v, want ErrLeaseLost",
			vi, name, stale.Attempt, sj, err)
	}
	return false
}

// finish completes, retries or dead-letters j, the claim of sj, perhaps
// extending its lease first.
func (s *stress) finish(vi int, b Backend, r *rand.Rand, j store.Job, sj *sjob) bool {
	time.Sleep(time.Duration(r.IntN(300)) * time.Microsecond) // work
	if r.IntN(100) < s.cfg.extendPct {
		if err := b.Extend(s.ctx, j, s.cfg.keepLease); err != nil {
			if s.ctx.Err() == nil {
				s.fail("value %d: Extend of %v by its holder: %v", vi, sj, err)
			}
			return false
		}
	}
	k := s.keys[sj.key]
	p := r.IntN(100)
	var (
		name string
		err  error
	)
	s.mu.Lock()
	k.held = nil // released in the model before the backend, never after
	switch {
	case p < s.cfg.retryPct:
		delay := time.Duration(0)
		if r.IntN(2) == 0 {
			delay = s.cfg.retryDelay
		}
		reason := fmt.Sprintf("retry %d after %v", j.Attempt, delay)
		sj.lastErr, sj.errKnown = reason, true
		s.mu.Unlock()
		name, err = "Retry", b.Retry(s.ctx, j, delay, reason)
	case p < s.cfg.retryPct+s.cfg.deadPct:
		reason := fmt.Sprintf("dead at attempt %d", j.Attempt)
		k.jobs = k.jobs[1:]
		s.live--
		s.dying++
		s.mu.Unlock()
		name, err = "DeadLetter", b.DeadLetter(s.ctx, j, reason)
		if err == nil {
			s.mu.Lock()
			sj.deadWhy = reason
			s.dead = append(s.dead, sj)
			s.dying--
			s.mu.Unlock()
		}
	default:
		k.jobs = k.jobs[1:]
		s.live--
		s.mu.Unlock()
		name, err = "Complete", b.Complete(s.ctx, j)
	}
	if err != nil {
		if s.ctx.Err() == nil {
			s.fail("value %d: %s of %v by its holder: %v", vi, name, sj, err)
		}
		return false
	}
	s.moved()
	return true
}

// replayer replays dead letters, oldest first, on the last value, until it
// replayed cfg.replays of them or no job can die any more.
func (s *stress) replayer() {
	vi := len(s.backends) - 1
	b := s.backends[vi]
	for s.ctx.Err() == nil {
		s.mu.Lock()
		if s.replays >= s.cfg.replays || (s.enqDone && s.live == 0 && s.dying == 0 && len(s.dead) == 0) {
			s.replayerDone = true
			s.mu.Unlock()
			return
		}
		if len(s.dead) == 0 {
			s.mu.Unlock()
			time.Sleep(time.Millisecond)
			continue
		}
		sj := s.dead[0]
		s.dead = s.dead[1:]
		k := s.keys[sj.key]
		s.mu.Unlock()

		k.order.Lock()
		s.mu.Lock()
		k.jobs = append(k.jobs, sj)
		s.live++
		s.replays++
		sj.replays++
		sj.attempts = 0
		sj.errKnown = false // whether Replay keeps LastError is the backend's choice
		sj.deadWhy = ""
		s.mu.Unlock()
		err := b.Replay(s.ctx, sj.id)
		k.order.Unlock()
		if err != nil {
			if s.ctx.Err() == nil {
				s.fail("value %d: Replay of dead %v: %v", vi, sj, err)
			}
			return
		}
		s.moved()
	}
}

// monitor fails the run when no job moved for cfg.stall while some are
// left, which means the backend lost them or no longer hands them out.
func (s *stress) monitor(stop <-chan struct{}) {
	tick := time.NewTicker(s.cfg.stall / 20)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		since := time.Since(time.Unix(0, s.progress.Load()))
		if since < s.cfg.stall {
			continue
		}
		s.mu.Lock()
		sum := s.summary()
		s.mu.Unlock()
		st, err := s.backends[0].Stats(context.WithoutCancel(s.ctx))
		s.fail("LOST JOBS: nothing moved for %v; Stats = %+v (error %v); %s", since.Round(time.Millisecond), st, err, sum)
		return
	}
}

// summary describes what is left; s.mu is held.
func (s *stress) summary() string {
	var left []string
	for name, k := range s.keys {
		if len(k.jobs) == 0 {
			continue
		}
		line := fmt.Sprintf("%s: %d jobs, first %v", name, len(k.jobs), k.jobs[0])
		switch {
		case k.held == nil:
			line += ", not held"
		case k.abandoned:
			line += fmt.Sprintf(", abandoned at claim %d, lease ran out %v ago",
				k.heldJob.Attempt, time.Since(k.heldUntil).Round(time.Millisecond))
		default:
			line += fmt.Sprintf(", held by claim %d", k.heldJob.Attempt)
		}
		left = append(left, line)
	}
	sort.Strings(left)
	return fmt.Sprintf("%d of %d jobs enqueued, %d left to finish, %d dead, %d being dead-lettered, %d replays; left: [%s]",
		s.enqueued, s.cfg.jobs, s.live, len(s.dead), s.dying, s.replays, strings.Join(left, "; "))
}

// checkEnd checks that nothing is left but the dead letters the model
// expects.
func (s *stress) checkEnd() error {
	ctx := context.WithoutCancel(s.ctx)
	b := s.backends[0]
	st, err := b.Stats(ctx)
	if err != nil {
		return fmt.Errorf("storetest: stress: Stats at the end: %w", err)
	}
	if want := (store.Stats{Dead: len(s.dead)}); st != want {
		return fmt.Errorf("storetest: stress: Stats at the end = %+v, want %+v: every job completed or dead", st, want)
	}
	for vi, b := range s.backends {
		if j, err := b.Claim(ctx, longLease); !errors.Is(err, store.ErrNoJob) {
			return fmt.Errorf("storetest: stress: value %d: Claim at the end returned job %s (payload %q), error %v; want ErrNoJob",
				vi, j.ID, j.Payload, err)
		}
	}
	got, err := b.DeadLetters(ctx, len(s.dead)+10)
	if err != nil {
		return fmt.Errorf("storetest: stress: DeadLetters at the end: %w", err)
	}
	want := map[string]*sjob{}
	for _, sj := range s.dead {
		want[sj.id] = sj
	}
	for _, dl := range got {
		sj := want[dl.ID]
		if sj == nil {
			return fmt.Errorf("storetest: stress: DeadLetters lists job %s (payload %q), which is not dead", dl.ID, dl.Payload)
		}
		delete(want, dl.ID)
		switch {
		case string(dl.Payload) != sj.token || dl.Key != sj.key || dl.Kind != "stress":
			return fmt.Errorf("storetest: stress: dead letter %s has payload %q, key %q, kind %q; want those of %v", dl.ID, dl.Payload, dl.Key, dl.Kind, sj)
		case dl.State != store.JobDead || dl.Lease != "":
			return fmt.Errorf("storetest: stress: dead letter %v has state %q and lease %q, want dead and none", sj, dl.State, dl.Lease)
		case dl.Attempt != sj.attempts:
			return fmt.Errorf("storetest: stress: dead letter %v has Attempt %d, want %d", sj, dl.Attempt, sj.attempts)
		case dl.LastError != sj.deadWhy:
			return fmt.Errorf("storetest: stress: dead letter %v has LastError %q, want %q", sj, dl.LastError, sj.deadWhy)
		case dl.CreatedAt.Sub(sj.created).Abs() > time.Millisecond:
			return fmt.Errorf("storetest: stress: dead letter %v has CreatedAt %v, want %v%s", sj, dl.CreatedAt, sj.created, afterReplay(sj, "CreatedAt"))
		}
	}
	for _, sj := range want {
		return fmt.Errorf("storetest: stress: %v is dead but DeadLetters does not list it (it listed %d of %d)", sj, len(got), len(s.dead))
	}
	return nil
}
