package memstore

import (
	"bytes"
	"container/heap"
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/smsrelay/smsrelay/store"
)

// queue is the job queue's state; Store.mu guards it.
//
// Only the first job of each key (its head) can ever be claimed. Every head
// sits in exactly one of two heaps: pending, ordered by due time (a ready
// job's run time, or a leased job's lease expiry), or runnable, ordered by
// enqueue sequence, for heads that are due now and not leased. Claim first
// moves every head that has come due from pending to runnable, then takes
// the oldest runnable one.
type queue struct {
	lastID    uint64
	lastLease uint64
	lastSeq   uint64

	jobs     map[string]*job   // ready and leased jobs by ID
	keys     map[string][]*job // ordering key → its jobs, oldest first
	pending  jobHeap           // heads waiting for their due time
	runnable jobHeap           // heads due now, oldest first
	dead     map[string]*job   // dead letters by ID
	deadList []*job            // dead letters, oldest first
	stats    store.Stats
}

// job is a job in the queue.
type job struct {
	store.Job
	seq  uint64    // enqueue order
	due  time.Time // run time when ready, lease expiry when leased
	in   *jobHeap  // heap holding the job, nil if none
	slot int       // index in that heap
}

func (q *queue) init() {
	q.jobs = make(map[string]*job)
	q.keys = make(map[string][]*job)
	q.dead = make(map[string]*job)
	q.pending.less = func(a, b *job) bool {
		if !a.due.Equal(b.due) {
			return a.due.Before(b.due)
		}
		return a.seq < b.seq
	}
	q.runnable.less = func(a, b *job) bool { return a.seq < b.seq }
}

// out returns a copy of j safe to hand to a caller.
func (j *job) out() store.Job {
	c := j.Job
	c.Payload = bytes.Clone(j.Payload)
	return c
}

// schedule puts head, the new first job of its key, in the pending heap.
func (q *queue) schedule(head *job) {
	heap.Push(&q.pending, head)
}

// unschedule takes j out of whichever heap holds it.
func (q *queue) unschedule(j *job) {
	if j.in != nil {
		heap.Remove(j.in, j.slot)
	}
}

// reschedule moves j to the pending heap with a new due time.
func (q *queue) reschedule(j *job, due time.Time) {
	q.unschedule(j)
	j.due = due
	heap.Push(&q.pending, j)
}

// append adds j at the end of its key's jobs, scheduling it if it is the
// head.
func (q *queue) append(j *job) {
	q.lastSeq++
	j.seq = q.lastSeq
	q.jobs[j.ID] = j
	q.keys[j.Key] = append(q.keys[j.Key], j)
	if len(q.keys[j.Key]) == 1 {
		q.schedule(j)
	}
	q.stats.Ready++
}

// remove takes j, the leased head of its key, out of the queue and
// schedules the key's next job.
func (q *queue) remove(j *job) {
	q.unschedule(j)
	delete(q.jobs, j.ID)
	rest := q.keys[j.Key]
	if len(rest) == 0 || rest[0] != j {
		// Only heads are ever leased; anything else is a bug in this file.
		panic("memstore: internal error: finished job " + j.ID + " is not the head of its key")
	}
	rest[0] = nil
	rest = rest[1:]
	if len(rest) == 0 {
		delete(q.keys, j.Key)
	} else {
		q.keys[j.Key] = rest
		q.schedule(rest[0])
	}
	q.stats.Leased--
}

// held returns the job that j names if j's lease is its current one, or
// ErrLeaseLost.
func (q *queue) held(j store.Job) (*job, error) {
	cur, ok := q.jobs[j.ID]
	if !ok || cur.State != store.JobLeased || cur.Lease != j.Lease {
		return nil, fmt.Errorf("memstore: job %s: %w", j.ID, store.ErrLeaseLost)
	}
	return cur, nil
}

// Enqueue inserts a ready job behind the waiting jobs of its key and returns
// it. With a DedupeKey it returns [store.ErrDuplicate], and inserts nothing,
// when the key was seen within its TTL; the key shares its namespace with
// MarkSeen.
func (s *Store) Enqueue(ctx context.Context, nj store.NewJob) (store.Job, error) {
	if err := ctxErr(ctx); err != nil {
		return store.Job{}, err
	}
	if err := invalid("Enqueue", nj.Validate()); err != nil {
		return store.Job{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if nj.DedupeKey != "" && !s.markSeen(now, nj.DedupeKey, nj.DedupeTTL) {
		return store.Job{}, store.ErrDuplicate
	}
	s.q.lastID++
	j := &job{
		Job: store.Job{
			ID:        strconv.FormatUint(s.q.lastID, 10),
			Kind:      nj.Kind,
			Key:       nj.Key,
			Payload:   bytes.Clone(nj.Payload),
			State:     store.JobReady,
			CreatedAt: now,
		},
		due: now,
	}
	s.q.append(j)
	s.wake.signal()
	return j.out(), nil
}

// Claim leases the oldest job that is due and first in line for its key, or
// returns [store.ErrNoJob]. A job whose lease ran out is claimed again with
// a new lease token and its Attempt counted up.
func (s *Store) Claim(ctx context.Context, lease time.Duration) (store.Job, error) {
	if err := ctxErr(ctx); err != nil {
		return store.Job{}, err
	}
	if err := invalid("Claim", store.ValidateLease(lease)); err != nil {
		return store.Job{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	q := &s.q
	for q.pending.Len() > 0 && !q.pending.items[0].due.After(now) {
		heap.Push(&q.runnable, heap.Pop(&q.pending))
	}
	if q.runnable.Len() == 0 {
		return store.Job{}, store.ErrNoJob
	}
	j := heap.Pop(&q.runnable).(*job)
	if j.State == store.JobReady {
		q.stats.Ready--
		q.stats.Leased++
	}
	q.lastLease++
	j.State = store.JobLeased
	j.Attempt++
	j.Lease = j.ID + "." + strconv.FormatUint(q.lastLease, 10)
	j.due = now.Add(lease)
	heap.Push(&q.pending, j)
	return j.out(), nil
}

// Extend pushes the lease of j out to lease from now, or returns
// [store.ErrLeaseLost].
func (s *Store) Extend(ctx context.Context, j store.Job, lease time.Duration) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	if err := invalid("Extend", store.ValidateHeld(j), store.ValidateLease(lease)); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, err := s.q.held(j)
	if err != nil {
		return err
	}
	s.q.reschedule(cur, s.now().Add(lease))
	return nil
}

// Complete removes j from the queue, or returns [store.ErrLeaseLost].
func (s *Store) Complete(ctx context.Context, j store.Job) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	if err := invalid("Complete", store.ValidateHeld(j)); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, err := s.q.held(j)
	if err != nil {
		return err
	}
	s.q.remove(cur)
	return nil
}

// Retry puts j back, ready to run after delay, recording reason; later jobs
// of its key stay behind it. It returns [store.ErrLeaseLost] if j's lease is
// no longer current.
func (s *Store) Retry(ctx context.Context, j store.Job, delay time.Duration, reason string) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	if err := invalid("Retry", store.ValidateHeld(j), store.ValidateDelay(delay)); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, err := s.q.held(j)
	if err != nil {
		return err
	}
	cur.State = store.JobReady
	cur.Lease = ""
	cur.LastError = reason
	s.q.reschedule(cur, s.now().Add(delay))
	s.q.stats.Leased--
	s.q.stats.Ready++
	return nil
}

// DeadLetter moves j to the dead letters with reason, letting later jobs of
// its key run. It returns [store.ErrLeaseLost] if j's lease is no longer
// current.
func (s *Store) DeadLetter(ctx context.Context, j store.Job, reason string) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	if err := invalid("DeadLetter", store.ValidateHeld(j)); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, err := s.q.held(j)
	if err != nil {
		return err
	}
	s.q.remove(cur)
	cur.State = store.JobDead
	cur.Lease = ""
	cur.LastError = reason
	s.q.dead[cur.ID] = cur
	s.q.deadList = append(s.q.deadList, cur)
	s.q.stats.Dead++
	return nil
}

// DeadLetters lists up to limit dead letters, in the order they died.
func (s *Store) DeadLetters(ctx context.Context, limit int) ([]store.Job, error) {
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	if err := invalid("DeadLetters", store.ValidateLimit(limit)); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := min(limit, len(s.q.deadList))
	out := make([]store.Job, n)
	for i, j := range s.q.deadList[:n] {
		out[i] = j.out()
	}
	return out, nil
}

// takeDead removes dead letter id from the dead letters and returns it, or
// returns ErrNotFound.
func (q *queue) takeDead(id string) (*job, error) {
	j, ok := q.dead[id]
	if !ok {
		return nil, fmt.Errorf("memstore: dead letter %s: %w", id, store.ErrNotFound)
	}
	delete(q.dead, id)
	q.deadList = slices.DeleteFunc(q.deadList, func(d *job) bool { return d == j })
	q.stats.Dead--
	return j, nil
}

// Replay puts dead letter id back in the queue behind its key's waiting
// jobs, ready now, with Attempt reset to 0 and its ID, CreatedAt and
// LastError kept. It returns [store.ErrNotFound] if there is no such dead
// letter.
func (s *Store) Replay(ctx context.Context, id string) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	if err := invalid("Replay", store.ValidateNonEmpty("job id", id)); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	j, err := s.q.takeDead(id)
	if err != nil {
		return err
	}
	j.State = store.JobReady
	j.Attempt = 0
	j.due = s.now()
	s.q.append(j)
	s.wake.signal()
	return nil
}

// DiscardDeadLetter deletes dead letter id for good, or returns
// [store.ErrNotFound].
func (s *Store) DiscardDeadLetter(ctx context.Context, id string) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	if err := invalid("DiscardDeadLetter", store.ValidateNonEmpty("job id", id)); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := s.q.takeDead(id)
	return err
}

// Stats counts the jobs in the queue. A job whose lease ran out counts as
// leased until it is claimed again.
func (s *Store) Stats(ctx context.Context) (store.Stats, error) {
	if err := ctxErr(ctx); err != nil {
		return store.Stats{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.q.stats, nil
}

// jobHeap is a heap of jobs that tracks each job's index; it implements
// [heap.Interface].
type jobHeap struct {
	items []*job
	less  func(a, b *job) bool
}

func (h *jobHeap) Len() int           { return len(h.items) }
func (h *jobHeap) Less(i, k int) bool { return h.less(h.items[i], h.items[k]) }
func (h *jobHeap) Swap(i, k int) {
	h.items[i], h.items[k] = h.items[k], h.items[i]
	h.items[i].slot = i
	h.items[k].slot = k
}
func (h *jobHeap) Push(x any) {
	j := x.(*job)
	j.in, j.slot = h, len(h.items)
	h.items = append(h.items, j)
}
func (h *jobHeap) Pop() any {
	n := len(h.items) - 1
	j := h.items[n]
	h.items[n] = nil
	h.items = h.items[:n]
	j.in, j.slot = nil, -1
	return j
}
