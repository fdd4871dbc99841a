package relay_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/smsrelay/smsrelay/intercom"
	"github.com/smsrelay/smsrelay/intercom/intercomtest"
	"github.com/smsrelay/smsrelay/internal/lateness"
	"github.com/smsrelay/smsrelay/relay"
	"github.com/smsrelay/smsrelay/store"
	"github.com/smsrelay/smsrelay/store/pgstore"
	"github.com/smsrelay/smsrelay/store/redisstore"
	"github.com/smsrelay/smsrelay/twiliosms"
	"github.com/smsrelay/smsrelay/twiliosms/twiliotest"
)

// The tests in this file run several relays, as separate processes would,
// on one shared store: PostgreSQL (SMSRELAY_TEST_POSTGRES_URL) or Redis
// (SMSRELAY_TEST_REDIS_URL). Each backend is a subtest that skips when its
// variable is unset. They do not call t.Parallel: they measure an enforced
// rate budget, which a loaded machine would blur.

const (
	postgresURLEnv = "SMSRELAY_TEST_POSTGRES_URL"
	redisURLEnv    = "SMSRELAY_TEST_REDIS_URL"
)

// sharedStore is one test's store in a shared backend: a fresh schema or key
// prefix, removed when the test ends.
type sharedStore struct {
	// open returns a new handle on the test's store, with its own connection
	// pool or client, as another process would open it. The handle is closed
	// when the test ends, or earlier by calling close.
	open func(t *testing.T) (st store.Store, close func())
	// limiter returns one replica's Intercom budget, such that replicas
	// replicas together send at most n requests per window.
	limiter func(t *testing.T, n int, window time.Duration, replicas int) relay.Limiter
}

// sharedBackend names a shared backend and sets it up for a test.
type sharedBackend struct {
	name  string
	setup func(t *testing.T) *sharedStore
}

// sharedBackends lists the shared backends; each setup skips t when its
// backend is not configured.
var sharedBackends = []sharedBackend{
	{"postgres", postgresShared},
	{"redis", redisShared},
}

func randomSuffix(t *testing.T) string {
	t.Helper()
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}

func postgresShared(t *testing.T) *sharedStore {
	t.Helper()
	dsn := os.Getenv(postgresURLEnv)
	if dsn == "" {
		t.Skipf("%s is not set; set it to a PostgreSQL URL such as postgres://postgres@127.0.0.1:5432/test?sslmode=disable to run the PostgreSQL replica tests", postgresURLEnv)
	}
	newPool := func(t *testing.T) *pgxpool.Pool {
		t.Helper()
		cfg, err := pgxpool.ParseConfig(dsn)
		if err != nil {
			t.Fatalf("%s: %v", postgresURLEnv, err)
		}
		cfg.MaxConns = 6
		pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
		if err != nil {
			t.Fatalf("connecting to PostgreSQL: %v", err)
		}
		return pool
	}
	admin := newPool(t)
	schema := "smsrelay_replicas_" + randomSuffix(t)
	// Registered first, so it runs last: after every handle is closed.
	t.Cleanup(func() {
		defer admin.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
		}
	})
	if err := pgstore.Migrate(context.Background(), admin, pgstore.WithSchema(schema)); err != nil {
		t.Fatalf("pgstore.Migrate: %v", err)
	}
	return &sharedStore{
		open: func(t *testing.T) (store.Store, func()) {
			t.Helper()
			pool := newPool(t)
			t.Cleanup(pool.Close)
			st, err := pgstore.New(pool, pgstore.WithSchema(schema))
			if err != nil {
				t.Fatalf("pgstore.New: %v", err)
			}
			return st, pool.Close
		},
		// One budget in PostgreSQL, shared by every replica through one
		// row, as examples/server sets it up: no Redis needed.
		limiter: func(t *testing.T, n int, window time.Duration, _ int) relay.Limiter {
			t.Helper()
			pool := newPool(t)
			t.Cleanup(pool.Close)
			l, err := pgstore.NewLimiter(pool, n, window, pgstore.WithLimiterSchema(schema))
			if err != nil {
				t.Fatalf("pgstore.NewLimiter: %v", err)
			}
			return l
		},
	}
}

func redisShared(t *testing.T) *sharedStore {
	t.Helper()
	u := os.Getenv(redisURLEnv)
	if u == "" {
		t.Skipf("%s is not set; set it to a Redis URL such as redis://127.0.0.1:6379/0 to run the Redis replica tests", redisURLEnv)
	}
	opt, err := redis.ParseURL(u)
	if err != nil {
		t.Fatalf("%s: %v", redisURLEnv, err)
	}
	newClient := func(t *testing.T) *redis.Client {
		t.Helper()
		c := redis.NewClient(opt)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := c.Ping(ctx).Err(); err != nil {
			_ = c.Close()
			t.Fatalf("Redis at %s: %v", u, err)
		}
		return c
	}
	admin := newClient(t)
	prefix := "smsrelay-replicas-" + randomSuffix(t)
	budgetKey := prefix + ":intercom-budget"
	t.Cleanup(func() {
		defer admin.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		keys := []string{budgetKey}
		iter := admin.Scan(ctx, 0, "{"+prefix+"}:*", 500).Iterator()
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if err := iter.Err(); err != nil {
			t.Errorf("listing the test's Redis keys: %v", err)
		}
		if err := admin.Del(ctx, keys...).Err(); err != nil {
			t.Errorf("deleting the test's Redis keys: %v", err)
		}
	})
	return &sharedStore{
		open: func(t *testing.T) (store.Store, func()) {
			t.Helper()
			c := newClient(t)
			closeClient := sync.OnceFunc(func() { _ = c.Close() })
			t.Cleanup(closeClient)
			st, err := redisstore.New(c, redisstore.WithPrefix(prefix))
			if err != nil {
				t.Fatalf("redisstore.New: %v", err)
			}
			return st, closeClient
		},
		// One budget in Redis, shared by every replica through one key.
		limiter: func(t *testing.T, n int, window time.Duration, _ int) relay.Limiter {
			t.Helper()
			c := newClient(t)
			t.Cleanup(func() { _ = c.Close() })
			l, err := redisstore.NewLimiter(c, n, window, redisstore.WithLimiterKey(budgetKey))
			if err != nil {
				t.Fatalf("redisstore.NewLimiter: %v", err)
			}
			return l
		},
	}
}

// replica is one relay process: its own API clients, store handle and HTTP
// server, sharing the fakes and the backend with the other replicas.
type replica struct {
	r          *relay.Relay
	srv        *httptest.Server
	closeStore func()
	token      string
}

// newReplica starts a replica's HTTP server and builds its Relay; configure
// may adjust the config before relay.New.
func newReplica(t *testing.T, shared *sharedStore, ic *intercomtest.Server, tw *twiliotest.Server, configure func(*relay.Config)) *replica {
	t.Helper()
	icClient, err := intercom.NewClient(ic.Token,
		intercom.WithBaseURL(ic.URL),
		intercom.WithHTTPClient(ic.Client()),
		intercom.WithRetry(intercom.RetryPolicy{MaxAttempts: 3, InitialInterval: 5 * time.Millisecond, MaxInterval: 20 * time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	twClient, err := twiliosms.NewClient(tw.AccountSID, tw.AuthToken,
		twiliosms.WithBaseURL(tw.URL), twiliosms.WithHTTPClient(tw.Client()))
	if err != nil {
		t.Fatal(err)
	}
	st, closeStore := shared.open(t)
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	cfg := relay.Config{
		Intercom:         icClient,
		Twilio:           twClient,
		Store:            st,
		PublicURL:        srv.URL,
		TwilioAuthTokens: []string{tw.AuthToken},
		WebhookSecrets:   []string{ic.ClientSecret},
		NoteAuthor:       noteAdmin,
		Workers:          4,
		Lease:            5 * time.Second,
		RetryBase:        5 * time.Millisecond,
		RetryMax:         50 * time.Millisecond,
		PollInterval:     5 * time.Millisecond,
	}
	if configure != nil {
		configure(&cfg)
	}
	r, err := relay.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("POST /twilio/messages", r.TwilioHandler())
	mux.Handle("POST /twilio/status", r.StatusHandler())
	mux.Handle("POST /intercom/webhooks", r.IntercomHandler())
	return &replica{r: r, srv: srv, closeStore: closeStore, token: tw.AuthToken}
}

// text posts a signed inbound text to the replica and checks the answer.
func (rp *replica) text(ctx context.Context, from, body string) error {
	form := twiliotest.InboundForm(from, ourNumber, body)
	status, answer, err := twiliotest.Post(ctx, rp.srv.Client(), rp.token, rp.srv.URL+"/twilio/messages", form)
	if err != nil {
		return fmt.Errorf("posting %q from %s: %w", body, from, err)
	}
	if status != http.StatusOK || !strings.Contains(string(answer), "<Response/>") {
		return fmt.Errorf("posting %q from %s: answer %d %q, want 200 with an empty TwiML response", body, from, status, answer)
	}
	return nil
}

// run runs the replica's workers until the returned stop is called; stop
// waits for Run to return and fails t on its error.
func (rp *replica) run(t *testing.T) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rp.r.Run(ctx) }()
	return sync.OnceFunc(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Errorf("Run did not return 20s after its context ended")
		}
	})
}

var tags = regexp.MustCompile(`<[^>]*>`)

// plain turns a part body (HTML from the REST API) into its text.
func plain(body string) string {
	return strings.TrimSpace(html.UnescapeString(tags.ReplaceAllString(body, "")))
}

// customerTexts returns the customer's texts in a conversation, in order:
// the source, then the contact's replies.
func customerTexts(c intercomtest.Conversation) []string {
	var out []string
	for _, b := range contactParts(c) {
		out = append(out, plain(b))
	}
	return out
}

func phoneOf(i int) string { return fmt.Sprintf("+1415556%04d", i) }

// textBody is the body of the j-th text of the i-th number.
func textBody(i, j int) string { return fmt.Sprintf("n%d m%d", i, j) }

// checkThreads checks that the fake holds exactly one contact and one
// conversation per number, carrying that number's texts once each, in order.
func checkThreads(t *testing.T, ic *intercomtest.Server, numbers, perNumber int) {
	t.Helper()
	contacts := ic.Contacts()
	if len(contacts) != numbers {
		t.Errorf("Intercom holds %d contacts, want %d", len(contacts), numbers)
	}
	phoneByContact := map[string]string{}
	for _, c := range contacts {
		if prev, ok := phoneByContact[c.ID]; ok {
			t.Errorf("contact %s listed twice (%s, %s)", c.ID, prev, c.Phone)
		}
		phoneByContact[c.ID] = c.Phone
	}
	convs := ic.Conversations()
	if len(convs) != numbers {
		t.Errorf("Intercom holds %d conversations, want %d", len(convs), numbers)
	}
	seen := map[int]string{} // number → conversation id
	for _, c := range convs {
		got := customerTexts(c)
		var i int
		if _, err := fmt.Sscanf(got[0], "n%d ", &i); err != nil {
			t.Errorf("conversation %s starts with %q, not one of the test's texts", c.ID, got[0])
			continue
		}
		if prev, ok := seen[i]; ok {
			t.Errorf("number %d has two conversations: %s and %s", i, prev, c.ID)
		}
		seen[i] = c.ID
		want := make([]string, perNumber)
		for j := range want {
			want[j] = textBody(i, j)
		}
		if !slices.Equal(got, want) {
			t.Errorf("conversation %s of number %d holds %q, want %q (each text once, in order)", c.ID, i, got, want)
		}
		if len(c.ContactIDs) != 1 || phoneByContact[c.ContactIDs[0]] != phoneOf(i) {
			t.Errorf("conversation %s of number %d belongs to contacts %v, want the one contact of %s", c.ID, i, c.ContactIDs, phoneOf(i))
		}
	}
	for i := 0; i < numbers; i++ {
		if _, ok := seen[i]; !ok {
			t.Errorf("number %d (%s) has no conversation", i, phoneOf(i))
		}
	}
}

// checkQueueEmpty checks that r's queue holds no job, dead letters included.
func checkQueueEmpty(t *testing.T, r *relay.Relay) {
	t.Helper()
	ctx := context.Background()
	s, err := r.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s != (store.Stats{}) {
		t.Errorf("queue stats = %+v, want all zero", s)
	}
	dead, err := r.DeadLetters(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dead {
		t.Errorf("dead letter %s (%s, key %s): %s", d.ID, d.Kind, d.Key, d.LastError)
	}
}

// waitQuiet waits until the fake holds want customer texts and r's queue has
// nothing ready or leased.
func waitQuiet(t *testing.T, d time.Duration, ic *intercomtest.Server, r *relay.Relay, want int) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		n := 0
		for _, c := range ic.Conversations() {
			n += len(contactParts(c))
		}
		s, err := r.Stats(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n >= want && s.Ready == 0 && s.Leased == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: Intercom holds %d of %d texts; queue %+v", d, n, want, s)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Figures of the shared-store replica tests: three relays, 60 numbers
// texting 5 times each, 80 Intercom requests per second enforced.
const (
	sharedReplicas  = 3
	sharedNumbers   = 60
	sharedPerNumber = 5
	sharedBudget    = 80
	sharedWindow    = time.Second
)

// runSharedReplicas starts sharedReplicas relays on one store of b against
// one Intercom workspace enforcing sharedBudget per sharedWindow, each
// configured by configure (which may be nil), and has sharedNumbers
// numbers text sharedPerNumber times each: the texts of a number go out in
// order but round-robin over the replicas, and all numbers text at once.
// after, when not nil, runs after each text of a number (text j of number
// i) before its next. It returns once Intercom holds every text and the
// queue is quiet, after
// stopping the relays, with the fakes and the replicas.
func runSharedReplicas(t *testing.T, b sharedBackend, quiet time.Duration, configure func(*relay.Config), after func(tw *twiliotest.Server, number, text int) error) (*intercomtest.Server, *twiliotest.Server, []*replica) {
	t.Helper()
	probe := lateness.Start()
	t.Cleanup(func() { probe.Stop() })
	shared := b.setup(t)
	ic := intercomtest.NewServer(intercomtest.WithBudget(sharedBudget, sharedWindow))
	t.Cleanup(ic.Close)
	tw := twiliotest.NewServer()
	t.Cleanup(tw.Close)
	var rs []*replica
	for k := 0; k < sharedReplicas; k++ {
		rs = append(rs, newReplica(t, shared, ic, tw, func(c *relay.Config) {
			c.Limiter = shared.limiter(t, sharedBudget, sharedWindow, sharedReplicas)
			if configure != nil {
				configure(c)
			}
		}))
	}
	start := time.Now()
	var stops []func()
	for _, rp := range rs {
		stop := rp.run(t)
		t.Cleanup(stop) // idempotent; covers a failure below
		stops = append(stops, stop)
	}

	ctx := context.Background()
	var wg sync.WaitGroup
	ready := make(chan struct{})
	errs := make(chan error, sharedNumbers)
	for i := 0; i < sharedNumbers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-ready // first texts of all numbers race
			for j := 0; j < sharedPerNumber; j++ {
				rp := rs[(i*sharedPerNumber+j)%sharedReplicas]
				if err := rp.text(ctx, phoneOf(i), textBody(i, j)); err != nil {
					errs <- err
					return
				}
				if after != nil {
					if err := after(tw, i, j); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	close(ready)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	posted := time.Since(start)

	waitQuiet(t, quiet, ic, rs[0].r, sharedNumbers*sharedPerNumber)
	t.Logf("%d texts posted in %v, all relayed in %v; Intercom saw %d requests, Twilio sent %d texts",
		sharedNumbers*sharedPerNumber, posted.Round(time.Millisecond), time.Since(start).Round(time.Millisecond),
		len(ic.Requests()), len(tw.Messages()))
	for _, stop := range stops {
		stop()
	}
	checkNoRateLimited(t, ic, probe.Stop())
	return ic, tw, rs
}

// checkNoRateLimited fails t if Intercom answered 429, unless the
// scheduler ran later than the limiter's smallest transit margin
// (intercom.MinTransitMargin) during the run: Intercom counts a request
// when it arrives, and a request delayed by more than the margin after its
// admission can land in the window of a later one. That is the machine
// (several race-detector suites on two cores), not the budget; the 429 is
// logged then, and the client's retry still relays the text.
func checkNoRateLimited(t *testing.T, ic *intercomtest.Server, late time.Duration) {
	t.Helper()
	n := ic.RateLimited()
	switch {
	case n == 0:
		t.Logf("no 429 (the scheduler ran up to %v late)", late.Round(time.Millisecond))
	case late > intercom.MinTransitMargin:
		t.Logf("Intercom answered 429 %d times while the scheduler ran up to %v late, more than the %v transit margin: the machine was too loaded to tell",
			n, late.Round(time.Millisecond), intercom.MinTransitMargin)
	default:
		t.Errorf("Intercom answered 429 %d times; the scheduler ran at most %v late", n, late.Round(time.Millisecond))
	}
}

// TestReplicasShareOneStore runs three relays on one shared store against
// one Intercom workspace with an enforced budget (runSharedReplicas). Every
// number must end with one contact and one conversation holding its texts
// once each, in order, with no 429 from Intercom (checkNoRateLimited) and
// no dead letter.
func TestReplicasShareOneStore(t *testing.T) {
	for _, b := range sharedBackends {
		t.Run(b.name, func(t *testing.T) {
			ic, _, rs := runSharedReplicas(t, b, 25*time.Second, nil, nil)
			checkThreads(t, ic, sharedNumbers, sharedPerNumber)
			checkQueueEmpty(t, rs[0].r)
		})
	}
}

// TestCrashedWorkersJobRunsAgainAfterItsLease simulates a replica that
// claimed a job and died: the job is claimed straight from the shared queue
// with a short lease and never finished. Another relay on the same store
// must leave it alone while the lease holds, then run it once the lease
// lapses; the dead holder's late Complete must find its lease lost.
func TestCrashedWorkersJobRunsAgainAfterItsLease(t *testing.T) {
	for _, b := range sharedBackends {
		t.Run(b.name, func(t *testing.T) {
			shared := b.setup(t)
			ic := intercomtest.NewServer()
			t.Cleanup(ic.Close)
			tw := twiliotest.NewServer()
			t.Cleanup(tw.Close)
			rp := newReplica(t, shared, ic, tw, nil)
			crashedStore, _ := shared.open(t)
			crashed, ok := crashedStore.(store.Queue)
			if !ok {
				t.Fatalf("%T is not a store.Queue", crashedStore)
			}
			ctx := context.Background()
			const body = "Did this survive the crash?"
			if err := rp.text(ctx, customer, body); err != nil {
				t.Fatal(err)
			}

			const lease = 300 * time.Millisecond
			job, err := crashed.Claim(ctx, lease)
			if err != nil {
				t.Fatalf("claiming the text's job: %v", err)
			}
			claimed := time.Now()
			if job.Attempt != 1 || !strings.Contains(string(job.Payload), body) {
				t.Fatalf("claimed job %+v, want the first attempt of the text's job", job)
			}

			stop := rp.run(t)
			defer stop()
			// While the dead holder's lease lasts, nobody else runs the job.
			for time.Since(claimed) < lease-100*time.Millisecond {
				if n := len(ic.Conversations()); n != 0 {
					t.Fatalf("%v after the claim, with its %v lease still held, the job already ran (%d conversations)",
						time.Since(claimed).Round(time.Millisecond), lease, n)
				}
				time.Sleep(10 * time.Millisecond)
			}
			waitQuiet(t, 10*time.Second, ic, rp.r, 1)
			t.Logf("job ran again %v after the crashed claim", time.Since(claimed).Round(time.Millisecond))
			stop()

			convs := ic.Conversations()
			if len(convs) != 1 {
				t.Fatalf("Intercom holds %d conversations, want 1", len(convs))
			}
			if got := customerTexts(convs[0]); !slices.Equal(got, []string{body}) {
				t.Errorf("conversation holds %q, want the text once", got)
			}
			if n := len(ic.Contacts()); n != 1 {
				t.Errorf("Intercom holds %d contacts, want 1", n)
			}
			checkQueueEmpty(t, rp.r)
			if err := crashed.Complete(ctx, job); !errors.Is(err, store.ErrLeaseLost) {
				t.Errorf("the crashed holder's late Complete = %v, want store.ErrLeaseLost", err)
			}
			if err := crashed.Extend(ctx, job, lease); !errors.Is(err, store.ErrLeaseLost) {
				t.Errorf("the crashed holder's late Extend = %v, want store.ErrLeaseLost", err)
			}
		})
	}
}

// TestRestartedRelayPicksUpQueuedJobs stops a relay with jobs still queued,
// one of them abandoned mid-run to its lease, and closes its store handle,
// as a process that exits would. A new Relay built on the same store must
// run every queued job: each text once, in order.
func TestRestartedRelayPicksUpQueuedJobs(t *testing.T) {
	for _, b := range sharedBackends {
		t.Run(b.name, func(t *testing.T) {
			shared := b.setup(t)
			ic := intercomtest.NewServer()
			t.Cleanup(ic.Close)
			tw := twiliotest.NewServer()
			t.Cleanup(tw.Close)
			const numbers, perNumber = 3, 3
			ctx := context.Background()

			// The first relay accepts every text, then works slowly: one
			// worker on a budget of 3 calls a second, just enough for the
			// first conversation (search, create contact, create
			// conversation), so its next job waits on the budget when it is
			// stopped, and is abandoned to its lease.
			first := newReplica(t, shared, ic, tw, func(c *relay.Config) {
				c.Workers = 1
				c.Limiter = intercom.NewWindowLimiter(3, time.Second)
				c.Lease = 500 * time.Millisecond
				c.DrainTimeout = 50 * time.Millisecond
			})
			for i := 0; i < numbers; i++ {
				for j := 0; j < perNumber; j++ {
					if err := first.text(ctx, phoneOf(i), textBody(i, j)); err != nil {
						t.Fatal(err)
					}
				}
			}
			stop := first.run(t)
			waitFor(t, 10*time.Second, func() bool { return len(ic.Conversations()) >= 1 })
			stop()
			left, err := first.r.Stats(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if left.Ready+left.Leased == 0 {
				t.Fatalf("the first relay finished every job before it stopped (%+v); the restart has nothing to pick up", left)
			}
			first.srv.Close()
			first.closeStore()
			t.Logf("first relay stopped with %d jobs ready and %d leased", left.Ready, left.Leased)

			second := newReplica(t, shared, ic, tw, nil)
			restarted := time.Now()
			stop = second.run(t)
			defer stop()
			waitQuiet(t, 15*time.Second, ic, second.r, numbers*perNumber)
			t.Logf("restarted relay finished in %v", time.Since(restarted).Round(time.Millisecond))
			stop()

			checkThreads(t, ic, numbers, perNumber)
			checkQueueEmpty(t, second.r)
		})
	}
}
