package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smsrelay/smsrelay/store"
	"github.com/smsrelay/smsrelay/store/pgstore"
)

// twoReplicas returns two Stores on one freshly migrated schema, each with
// a pool of its own, as two relay processes would have.
func twoReplicas(t *testing.T) []store.Queue {
	t.Helper()
	pool := testPool(t)
	schema := testSchema(t, pool)
	if err := pgstore.Migrate(t.Context(), pool, pgstore.WithSchema(schema)); err != nil {
		t.Fatal(err)
	}
	a, err := pgstore.New(pool, pgstore.WithSchema(schema))
	if err != nil {
		t.Fatal(err)
	}
	b, err := pgstore.New(testPool(t), pgstore.WithSchema(schema))
	if err != nil {
		t.Fatal(err)
	}
	return []store.Queue{a, b}
}

// TestQueueStress runs enqueuers, claimers (which complete, retry,
// dead-letter or abandon what they claim) and a replayer at once on two
// Stores sharing one schema. Any deadlock between the statements fails a
// call, and so the test; the rules of package store (one holder per key,
// per-key order, no lost job) are checked against a model.
func TestQueueStress(t *testing.T) {
	if testing.Short() {
		t.Skip("stress test skipped in -short mode")
	}
	t.Parallel()
	tests := []struct {
		name string
		cfg  stressConfig
	}{
		{"LongLeases", stressConfig{
			Keys: 5, Jobs: 1000, Workers: 16,
			RetryPct: 20, DeadPct: 10, RetryDelay: 2 * time.Millisecond, Replays: 80,
		}},
		{"LapsingLeases", stressConfig{
			Keys: 5, Jobs: 500, Workers: 16, AbandonLease: 100 * time.Millisecond, AbandonPct: 5,
			RetryPct: 20, DeadPct: 10, RetryDelay: 2 * time.Millisecond, Replays: 50,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Deadline = 90 * time.Second
			// Kept claims outlast the deadline, so that only the
			// abandoned ones ever lapse, however slow the machine.
			tt.cfg.Lease = 5 * time.Minute
			runStress(t, twoReplicas(t), tt.cfg)
		})
	}
}

type stressConfig struct {
	Keys, Jobs, Workers int
	Lease               time.Duration // lease of the claims that are kept
	AbandonPct          int           // % of claims left to lapse
	AbandonLease        time.Duration // lease of those claims
	RetryPct, DeadPct   int           // % of claims retried, dead-lettered
	RetryDelay          time.Duration // delay of half of the retries
	Replays             int           // dead letters to replay
	Deadline            time.Duration
}

// stressModel is what the queue should hold. Workers update it under mu
// before they tell the queue, so that it never lags behind what another
// worker can observe.
type stressModel struct {
	mu      sync.Mutex
	order   map[string][]string  // key → ids of its live jobs, in order
	holder  map[string]string    // key → id of the job under a valid lease
	aband   map[string]string    // key → id whose lease was left to lapse
	until   map[string]time.Time // key → the abandoned lease runs at least until then
	keyOf   map[string]string    // id → key
	live    int
	dead    map[string]bool
	replays int
}

func runStress(t *testing.T, qs []store.Queue, cfg stressConfig) {
	ctx, cancel := context.WithTimeout(t.Context(), cfg.Deadline)
	defer cancel()
	m := &stressModel{order: map[string][]string{}, holder: map[string]string{}, aband: map[string]string{},
		until: map[string]time.Time{}, keyOf: map[string]string{}, dead: map[string]bool{}}
	// gate keeps a claim whose lease is left to lapse apart from every
	// other claim: it is claimed and recorded in the model while no other
	// Claim runs. Otherwise its lease could run out, and the job be
	// claimed again and recorded, between its Claim's return and its
	// record, and the model would see the claims in the wrong order.
	// Claims that are kept share the gate and run concurrently.
	var gate sync.RWMutex
	var failed atomic.Bool
	fail := func(format string, args ...any) {
		if failed.CompareAndSwap(false, true) {
			t.Errorf(format, args...)
		}
		cancel()
	}

	// Two enqueuers, one on each Store.
	var enqDone atomic.Bool
	var ewg sync.WaitGroup
	for e := range 2 {
		ewg.Add(1)
		go func() {
			defer ewg.Done()
			q := qs[e%len(qs)]
			for i := e; i < cfg.Jobs; i += 2 {
				if ctx.Err() != nil {
					return
				}
				key := fmt.Sprintf("k%d", rand.IntN(cfg.Keys))
				m.mu.Lock()
				j, err := q.Enqueue(ctx, store.NewJob{Kind: "stress", Key: key, Payload: []byte(fmt.Sprint(i))})
				if err != nil {
					m.mu.Unlock()
					fail("Enqueue: %v", err)
					return
				}
				m.order[key] = append(m.order[key], j.ID)
				m.keyOf[j.ID] = key
				m.live++
				m.mu.Unlock()
			}
		}()
	}
	go func() { ewg.Wait(); enqDone.Store(true) }()

	var wg sync.WaitGroup
	for w := range cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			q := qs[w%len(qs)]
			r := rand.New(rand.NewPCG(uint64(w), 7))
			for ctx.Err() == nil {
				m.mu.Lock()
				finished := enqDone.Load() && m.live == 0 && m.replays >= cfg.Replays
				m.mu.Unlock()
				if finished {
					return
				}
				abandon := r.IntN(100) < cfg.AbandonPct
				lease, lock, unlock := cfg.Lease, gate.RLock, gate.RUnlock
				if abandon {
					lease, lock, unlock = cfg.AbandonLease, gate.Lock, gate.Unlock
				}
				lock()
				called := time.Now()
				j, err := q.Claim(ctx, lease)
				returned := time.Now()
				if errors.Is(err, store.ErrNoJob) {
					unlock()
					time.Sleep(time.Duration(r.IntN(2000)) * time.Microsecond)
					continue
				}
				if err != nil {
					unlock()
					if ctx.Err() == nil {
						fail("Claim: %v", err)
					}
					return
				}
				m.mu.Lock()
				key := m.keyOf[j.ID]
				switch {
				case key != j.Key:
					fail("claimed job %s with key %q, want %q", j.ID, j.Key, key)
				case m.holder[key] != "":
					fail("job %s of key %q claimed while job %s of that key holds an unexpired lease", j.ID, key, m.holder[key])
				case m.aband[key] != "" && m.aband[key] != j.ID:
					fail("job %s of key %q claimed while the earlier job %s (lease lapsed) is unfinished", j.ID, key, m.aband[key])
				case m.aband[key] != "" && returned.Before(m.until[key].Add(-50*time.Millisecond)):
					fail("job %s of key %q claimed again %v before its abandoned lease ran out", j.ID, key, m.until[key].Sub(returned))
				case len(m.order[key]) == 0 || m.order[key][0] != j.ID:
					fail("job %s of key %q claimed, want the head of %v", j.ID, key, m.order[key])
				}
				if failed.Load() {
					m.mu.Unlock()
					unlock()
					return
				}
				delete(m.aband, key)
				m.holder[key] = j.ID
				if abandon {
					delete(m.holder, key)
					m.aband[key] = j.ID
					m.until[key] = called.Add(lease)
				}
				m.mu.Unlock()
				unlock()
				if abandon {
					continue
				}
				time.Sleep(time.Duration(r.IntN(300)) * time.Microsecond)
				p := r.IntN(100)
				m.mu.Lock()
				delete(m.holder, key)
				if p >= cfg.RetryPct {
					m.order[key] = m.order[key][1:]
					m.live--
				}
				m.mu.Unlock()
				var op string
				switch {
				case p < cfg.RetryPct:
					op = "Retry"
					d := time.Duration(0)
					if r.IntN(2) == 0 {
						d = cfg.RetryDelay
					}
					err = q.Retry(ctx, j, d, "again")
				case p < cfg.RetryPct+cfg.DeadPct:
					op = "DeadLetter"
					if err = q.DeadLetter(ctx, j, "dead"); err == nil {
						m.mu.Lock()
						m.dead[j.ID] = true
						m.mu.Unlock()
					}
				default:
					op = "Complete"
					err = q.Complete(ctx, j)
				}
				if err != nil {
					if ctx.Err() == nil {
						fail("%s %s: %v", op, j.ID, err)
					}
					return
				}
			}
		}()
	}

	// One replayer.
	wg.Add(1)
	go func() {
		defer wg.Done()
		q := qs[len(qs)-1]
		for ctx.Err() == nil {
			m.mu.Lock()
			if m.replays >= cfg.Replays {
				m.mu.Unlock()
				return
			}
			var id string
			for d := range m.dead {
				id = d
				break
			}
			if id == "" {
				m.mu.Unlock()
				time.Sleep(time.Millisecond)
				continue
			}
			if err := q.Replay(ctx, id); err != nil {
				m.mu.Unlock()
				if ctx.Err() == nil {
					fail("Replay %s: %v", id, err)
				}
				return
			}
			delete(m.dead, id)
			key := m.keyOf[id]
			m.order[key] = append(m.order[key], id)
			m.live++
			m.replays++
			m.mu.Unlock()
		}
	}()
	wg.Wait()
	if failed.Load() {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if ctx.Err() != nil {
		var stuck []string
		for k, q := range m.order {
			if len(q) > 0 {
				stuck = append(stuck, fmt.Sprintf("%s:%v", k, q))
			}
		}
		t.Fatalf("deadline reached with %d live jobs (%d replays); unfinished: %v", m.live, m.replays, stuck)
	}
	st, err := qs[0].Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Ready != 0 || st.Leased != 0 || st.Dead != len(m.dead) {
		t.Fatalf("final Stats = %+v, want only %d dead", st, len(m.dead))
	}
}
