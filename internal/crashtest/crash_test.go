package crashtest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/smsrelay/smsrelay/intercom/intercomtest"
	"github.com/smsrelay/smsrelay/relay"
	"github.com/smsrelay/smsrelay/store"
	"github.com/smsrelay/smsrelay/store/pgstore"
	"github.com/smsrelay/smsrelay/store/redisstore"
	"github.com/smsrelay/smsrelay/twiliosms/twiliotest"
)

const (
	ourNumber  = "+14155550100"
	agentID    = "991267001"
	publicURL  = "http://relay.crash.test"
	defaultKil = 200
	// defaultBackfillKills is the number of kills of the backfill's test.
	defaultBackfillKills = 24
)

// needCrash skips unless the crash test was asked for.
func needCrash(t *testing.T) {
	if os.Getenv("SMSRELAY_CRASH_TEST") != "1" {
		t.Skip("SMSRELAY_CRASH_TEST is not 1; the crash test runs in a CI step of its own (.ci/run), since it keeps both cores busy for a minute or two")
	}
}

func TestCrashPostgres(t *testing.T) {
	needCrash(t)
	t.Parallel()
	u, schema, st := postgresStore(t)
	crash(t, u, schema, st, st, false)
}

func TestCrashRedis(t *testing.T) {
	needCrash(t)
	t.Parallel()
	u, prefix, st := redisStore(t)
	crash(t, u, prefix, st, st, false)
}

// TestCrashBackfillPostgres is the crash test with a backfill of a history
// of texts running in the relay process, and kills paced for it.
func TestCrashBackfillPostgres(t *testing.T) {
	needCrash(t)
	t.Parallel()
	u, schema, st := postgresStore(t)
	crash(t, u, schema, st, st, true)
}

// TestCrashBackfillRedis is TestCrashBackfillPostgres on Redis.
func TestCrashBackfillRedis(t *testing.T) {
	needCrash(t)
	t.Parallel()
	u, prefix, st := redisStore(t)
	crash(t, u, prefix, st, st, true)
}

// postgresStore makes a store in a schema of its own, dropped at the end,
// and returns the URL, the schema and the store; it skips without a URL.
func postgresStore(t *testing.T) (string, string, *pgstore.Store) {
	u := os.Getenv("SMSRELAY_TEST_POSTGRES_URL")
	if u == "" {
		t.Skip("SMSRELAY_TEST_POSTGRES_URL is not set; set it to a PostgreSQL URL such as postgres://postgres@127.0.0.1:5432/test?sslmode=disable to run the crash test on PostgreSQL")
	}
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	schema := "smsrelay_crash_" + randomHex(t, 6)
	t.Cleanup(func() {
		if _, err := pool.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
		}
	})
	if err := pgstore.Migrate(ctx, pool, pgstore.WithSchema(schema)); err != nil {
		t.Fatal(err)
	}
	st, err := pgstore.New(pool, pgstore.WithSchema(schema))
	if err != nil {
		t.Fatal(err)
	}
	return u, schema, st
}

// redisStore makes a store under a key prefix of its own, deleted at the
// end, and returns the URL, the prefix and the store; it skips without a
// URL.
func redisStore(t *testing.T) (string, string, *redisstore.Store) {
	u := os.Getenv("SMSRELAY_TEST_REDIS_URL")
	if u == "" {
		t.Skip("SMSRELAY_TEST_REDIS_URL is not set; set it to a Redis URL such as redis://127.0.0.1:6379/0 to run the crash test on Redis")
	}
	opt, err := redis.ParseURL(u)
	if err != nil {
		t.Fatal(err)
	}
	client := redis.NewClient(opt)
	t.Cleanup(func() { client.Close() })
	prefix := "smsrelay-crash-" + randomHex(t, 6) + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		iter := client.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if len(keys) > 0 {
			client.Del(ctx, keys...)
		}
	})
	st, err := redisstore.New(client, redisstore.WithPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	return u, prefix, st
}

func randomHex(t *testing.T, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// settings of one run, from the environment or defaults.
func runSettings(t *testing.T, backfill bool) (seed uint64, kills int) {
	seed = uint64(time.Now().UnixNano())
	if v := os.Getenv("SMSRELAY_CRASH_SEED"); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("SMSRELAY_CRASH_SEED %q: %v", v, err)
		}
		seed = s
	}
	kills, knob := defaultKil, "SMSRELAY_CRASH_KILLS"
	if backfill {
		kills, knob = defaultBackfillKills, "SMSRELAY_CRASH_BACKFILL_KILLS"
	}
	if v := os.Getenv(knob); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("%s %q is not a positive number", knob, v)
		}
		kills = n
	}
	return seed, kills
}

// supervisor runs the relay process, kills and restarts it.
type supervisor struct {
	t       *testing.T
	env     []string
	logPath string

	mu          sync.Mutex
	cmd         *exec.Cmd
	cmdBackfill bool // cmd runs the backfill
	exited      chan struct{}
	addr        atomic.Pointer[string]

	armed    atomic.Int32 // armNone, or kill right after the next applied side effect (armAny) or backfill write (armBackfill)
	armSkip  atomic.Int64 // writes of the backfill to let through before an armBackfill kill
	targeted atomic.Int64 // kills made so
	random   atomic.Int64 // kills at a random moment
	starts   int
	life     atomic.Int64 // incremented by every start

	// targetedBackfill counts the targeted kills that came right after a
	// write of the backfill; duringBackfill the kills of a process that was
	// running the backfill.
	targetedBackfill, duringBackfill atomic.Int64
	armedBackfill                    atomic.Int64 // kills paced by the backfill's writes
	backfillWrites                   atomic.Int64 // writes of the backfill applied
	// backfill says whether the next process runs the backfill (until one
	// reports a run done); bfMu guards it and backfills, apart from mu,
	// which kill holds while the process's output is being read.
	bfMu      sync.Mutex
	backfill  bool
	backfills []backfillDone
}

// Kinds of kill the supervisor is armed for.
const (
	armNone int32 = iota
	armAny
	armBackfill
)

// backfillDone is a backfill run that ended without an error, as the
// relay process reported it.
type backfillDone struct {
	life int64
	rep  relay.BackfillReport
}

// setBackfill says whether the processes started from now on run the
// backfill.
func (s *supervisor) setBackfill(on bool) {
	s.bfMu.Lock()
	defer s.bfMu.Unlock()
	s.backfill = on
}

// backfilling reports whether the processes started now run the backfill.
func (s *supervisor) backfilling() bool {
	s.bfMu.Lock()
	defer s.bfMu.Unlock()
	return s.backfill
}

// backfillsDone returns the backfill runs reported done so far.
func (s *supervisor) backfillsDone() []backfillDone {
	s.bfMu.Lock()
	defer s.bfMu.Unlock()
	return slices.Clone(s.backfills)
}

// reported records a line of the relay process of life.
func (s *supervisor) reported(life int64, line string) {
	js, ok := strings.CutPrefix(line, backfillLine)
	if !ok {
		return
	}
	var rep relay.BackfillReport
	if err := json.Unmarshal([]byte(js), &rep); err != nil {
		s.t.Errorf("relay process %d reported a backfill as %q: %v", life, line, err)
		return
	}
	s.bfMu.Lock()
	defer s.bfMu.Unlock()
	s.backfills = append(s.backfills, backfillDone{life: life, rep: rep})
	s.backfill = false // done: the next processes need not run it again
}

// start runs a new relay process and waits until it listens.
func (s *supervisor) start() {
	s.t.Helper()
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		s.t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(os.Args[0])
	cmd.Env = s.env
	backfill := s.backfilling()
	if backfill {
		cmd.Env = append(slices.Clone(s.env), envBackfill+"=1")
	}
	cmd.Stderr = logf
	out, err := cmd.StdoutPipe()
	if err != nil {
		s.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	exited := make(chan struct{})
	line := make(chan string, 1)
	lifeOf := make(chan int64, 1) // the process's life, once it listens
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
		if sc.Scan() {
			line <- sc.Text()
		}
		close(line)
		life := <-lifeOf
		for sc.Scan() {
			s.reported(life, sc.Text())
		}
		_ = cmd.Wait()
		close(exited)
	}()
	select {
	case l, ok := <-line:
		addr, found := strings.CutPrefix(l, "LISTEN ")
		if !ok || !found {
			close(lifeOf)
			<-exited
			s.t.Fatalf("relay process did not start (see %s): %q", s.logPath, l)
		}
		s.mu.Lock()
		s.cmd, s.exited = cmd, exited
		s.cmdBackfill = backfill
		s.starts++
		lifeOf <- s.life.Add(1)
		s.mu.Unlock()
		s.addr.Store(&addr)
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		s.t.Fatalf("relay process did not listen within 60s (see %s)", s.logPath)
	}
}

// kill SIGKILLs the running process, if any, and waits until it is gone. It
// reports whether it killed one.
func (s *supervisor) kill() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return false
	}
	s.addr.Store(nil)
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.exited
	if s.cmdBackfill && s.backfilling() {
		s.duringBackfill.Add(1)
	}
	s.cmd = nil
	return true
}

// stop ends the running process with SIGTERM (a graceful shutdown).
func (s *supervisor) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	s.addr.Store(nil)
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	s.cmd = nil
}

// killIfArmed is called by the API proxies right after Intercom or Twilio
// applied a request and before its answer reaches the relay: the window
// the package doc names. backfill says the request was a write of the
// backfill.
func (s *supervisor) killIfArmed(backfill bool) bool {
	if backfill {
		s.backfillWrites.Add(1)
	}
	m := s.armed.Load()
	if m == armNone || (m == armBackfill && !backfill) {
		return false
	}
	if m == armBackfill && s.armSkip.Add(-1) >= 0 {
		return false // not yet this write
	}
	if !s.armed.CompareAndSwap(m, armNone) {
		return false
	}
	if s.kill() {
		s.targeted.Add(1)
		if backfill {
			s.targetedBackfill.Add(1)
		}
		return true
	}
	return false
}

// killAfter arms the proxies to kill the process right after the next
// side effect (armAny), or the write of the backfill after the next skip
// ones (armBackfill), and waits for it; if none came within wait, it kills
// the process then (a kill at a random moment).
func (s *supervisor) killAfter(arm int32, skip int, wait time.Duration) {
	s.armSkip.Store(int64(skip))
	s.armed.Store(arm)
	deadline := time.Now().Add(wait)
	for s.alive() && time.Now().Before(deadline) {
		time.Sleep(2 * time.Millisecond)
	}
	if s.armed.CompareAndSwap(arm, armNone) && s.kill() {
		s.random.Add(1) // no side effect came in time
	}
}

// backfillKill is one kill while the backfill runs, paced by the
// backfill's writes rather than by the clock, so that every process
// imports a few texts at most, however fast the machine: half right after
// the n-th write of the backfill from now (applied, its answer not yet
// back), half at a random moment up to 100 ms after the n-th, n from 1 to
// 20. Writes stop while the next process waits out the lease of the batch
// the last one held, so a kill takes a few seconds; if no write comes
// within 8 s, the process is killed then.
func (s *supervisor) backfillKill(rng *mrand.Rand) {
	n, moment := 1+rng.IntN(20), rng.IntN(2) == 0
	s.armedBackfill.Add(1)
	if !moment {
		s.killAfter(armBackfill, n-1, backfillWait)
		return
	}
	start := s.backfillWrites.Load()
	deadline := time.Now().Add(backfillWait)
	for s.alive() && s.backfillWrites.Load()-start < int64(n) && time.Now().Before(deadline) {
		time.Sleep(2 * time.Millisecond)
	}
	time.Sleep(time.Duration(rng.IntN(100)) * time.Millisecond)
	if s.kill() {
		s.random.Add(1)
	}
}

// backfillWait bounds how long a kill of backfillKill waits for writes of
// the backfill.
const backfillWait = 8 * time.Second

// alive reports whether a process is running.
func (s *supervisor) alive() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd != nil
}

// tokensHeader carries the workload tokens of a request through the proxy.
const tokensHeader = "X-Crashtest-Tokens"

// effectLog records in which life of the relay process each side effect
// carrying a workload token was applied.
type effectLog struct {
	mu    sync.Mutex
	lives map[string][]int64
}

func (e *effectLog) add(tokens string, life int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, tok := range strings.Fields(tokens) {
		e.lives[tok] = append(e.lives[tok], life)
	}
}

// sameLife reports whether token's side effect was applied twice within one
// life of the process: a duplicate no kill explains.
func (e *effectLog) sameLife(token string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	seen := map[int64]bool{}
	for _, l := range e.lives[token] {
		if seen[l] {
			return true
		}
		seen[l] = true
	}
	return false
}

var errKilled = errors.New("crashtest: relay killed before the answer")

// apiProxy stands between the relay process and a fake API. It counts the
// side effects the fake applied and lets the supervisor kill the relay
// before their answer reaches it.
func apiProxy(t *testing.T, target string, sup *supervisor, applied *atomic.Int64, effects *effectLog) string {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ModifyResponse = func(resp *http.Response) error {
		req := resp.Request
		if req.Method == http.MethodGet || strings.HasSuffix(req.URL.Path, "/search") || resp.StatusCode/100 != 2 {
			return nil
		}
		applied.Add(1)
		tokens := req.Header.Get(tokensHeader)
		effects.add(tokens, sup.life.Load())
		if sup.killIfArmed(historyRE.MatchString(tokens)) {
			return errKilled
		}
		return nil
	}
	rp.ErrorLog = log.New(io.Discard, "", 0) // a killed relay's broken connections are the point
	rp.ErrorHandler = func(w http.ResponseWriter, _ *http.Request, err error) {
		if errors.Is(err, errKilled) {
			// Nobody is listening any more.
			panic(http.ErrAbortHandler)
		}
		w.WriteHeader(http.StatusBadGateway)
	}
	// The workload's tokens in the request body travel to ModifyResponse in
	// a header.
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.Header.Set(tokensHeader, strings.Join(effectRE.FindAllString(string(body), -1), " "))
		rp.ServeHTTP(w, r)
	})
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

// queue is what the test reads of the store the relay process uses.
type queue interface {
	Stats(ctx context.Context) (store.Stats, error)
	DeadLetters(ctx context.Context, limit int) ([]store.Job, error)
}

// crash runs the crash test on one store: workload, kills, drain, checks.
//
// With backfill, the relay process also backfills a history of texts, and
// the kills are paced for it until it is done.
func crash(t *testing.T, storeURL, namespace string, st store.Store, q queue, backfill bool) {
	seed, kills := runSettings(t, backfill)
	hist := newHistory(0)
	if backfill {
		hist = newHistory(historySize(t))
	}
	t.Logf("seed %d (replay with SMSRELAY_CRASH_SEED=%d), %d kills, a history of %d texts to backfill", seed, seed, kills, len(hist.texts))
	start := time.Now()

	sup := &supervisor{t: t, logPath: filepath.Join(t.TempDir(), "relay.log")}
	t.Cleanup(func() { sup.kill() }) // never leave a relay process behind
	// Webhooks reach whichever relay process is running.
	hooks := &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				addr := sup.addr.Load()
				if addr == nil {
					return nil, errors.New("no relay process running")
				}
				var d net.Dialer
				return d.DialContext(ctx, network, *addr)
			},
			DisableKeepAlives: true,
		},
	}
	rate := childRate
	if backfill {
		rate = backfillRate
	}
	ic := intercomtest.NewServer(intercomtest.WithBudget(rate, 10*time.Second), intercomtest.WithWebhookClient(hooks))
	t.Cleanup(ic.Close)
	tw := twiliotest.NewServer()
	t.Cleanup(tw.Close)
	if len(hist.texts) > 0 {
		tw.AddHistory(hist.log()...)
		sup.setBackfill(true)
	}
	var icApplied, twApplied atomic.Int64
	effects := &effectLog{lives: make(map[string][]int64)}
	icURL := apiProxy(t, ic.URL, sup, &icApplied, effects)
	twURL := apiProxy(t, tw.URL, sup, &twApplied, effects)

	sup.env = append(os.Environ(),
		childEnv+"=1",
		envStoreURL+"="+storeURL,
		envNamespace+"="+namespace,
		envIntercomURL+"="+icURL,
		envIntercomTok+"="+ic.Token,
		envIntercomSec+"="+ic.ClientSecret,
		envTwilioURL+"="+twURL,
		envTwilioSID+"="+tw.AccountSID,
		envTwilioTok+"="+tw.AuthToken,
		envPublicURL+"="+publicURL,
		envRate+"="+strconv.Itoa(rate),
		envBackfillSince+"="+hist.since.Format(time.RFC3339),
		envBackfillUntil+"="+hist.until.Format(time.RFC3339),
	)

	w := newWorkload(ic, tw, hooks, seed)
	if backfill {
		w.pause = backfillActionPause
	}
	w.st = st
	sup.start()
	genCtx, stopGen := context.WithCancel(context.Background())
	var gen sync.WaitGroup
	for i := range 4 {
		gen.Add(1)
		go func() {
			defer gen.Done()
			w.run(genCtx, uint64(i))
		}()
	}

	// The kill schedule: seeded, half at a random moment, half right after
	// the next side effect the fakes apply. While the backfill runs, the
	// kills are paced for it (backfillKill).
	rng := mrand.New(mrand.NewPCG(seed, 0x6b696c6c))
	var backfilled time.Duration // when a process first reported the backfill done
	for k := 0; k < kills; k++ {
		if backfilled == 0 && len(sup.backfillsDone()) > 0 {
			backfilled = time.Since(start)
		}
		if !sup.alive() {
			sup.start()
		}
		if sup.backfilling() {
			sup.backfillKill(rng)
			continue
		}
		if rng.IntN(2) == 0 {
			time.Sleep(time.Duration(30+rng.IntN(270)) * time.Millisecond)
			if sup.kill() {
				sup.random.Add(1)
			}
			continue
		}
		time.Sleep(time.Duration(rng.IntN(100)) * time.Millisecond)
		sup.killAfter(armAny, 0, 3*time.Second)
	}
	killPhase := time.Since(start)
	// The last process runs the backfill once more, done or not: a run
	// after a run that was done must find every text imported.
	doneBefore := len(sup.backfillsDone()) > 0
	sup.setBackfill(len(hist.texts) > 0)

	// Drain: one process, no more new work; webhooks not yet answered 2xx
	// are retried until they are, as Twilio and Intercom retry.
	sup.start()
	lastLife := sup.life.Load()
	stopGen()
	waitDone := make(chan struct{})
	go func() { gen.Wait(); close(waitDone) }()
	select {
	case <-waitDone:
	case <-time.After(60 * time.Second):
		t.Fatal("webhooks not accepted within 60s of the last restart")
	}
	accepted := time.Since(start)
	ctx := context.Background()
	// The backfill's last run ends before the queue is looked at: it
	// queues batches until then.
	var last *backfillDone
	for deadline := time.Now().Add(90 * time.Second); len(hist.texts) > 0 && last == nil; {
		for _, b := range sup.backfillsDone() {
			if b.life == lastLife {
				last = &b
			}
		}
		if last != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the backfill's last run did not end within 90s of the last restart (relay log %s)", sup.logPath)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if backfilled == 0 && len(hist.texts) > 0 {
		backfilled = time.Since(start)
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		s, err := q.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if s.Ready == 0 && s.Leased == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue did not drain within 90s: %+v (relay log %s)", s, sup.logPath)
		}
		time.Sleep(50 * time.Millisecond)
	}
	sup.stop()
	elapsed := time.Since(start)

	dead, err := q.DeadLetters(ctx, 10000)
	if err != nil {
		t.Fatal(err)
	}
	f := w.check(t, dead, effects)
	hf := hist.check(ic)
	totalKills := int(sup.targeted.Load() + sup.random.Load())
	t.Logf("%d kills (%d right after a side effect, %d at random moments), %d starts; kill phase %s, all webhooks accepted at %s, drained at %s",
		totalKills, sup.targeted.Load(), sup.random.Load(), sup.starts, killPhase.Round(time.Second), accepted.Round(time.Second), elapsed.Round(time.Second))
	if len(hist.texts) > 0 {
		t.Logf("backfill: %d kills of a process running it (%d paced by its writes, %d of them right after one), done at %s (%d runs reported done; the last one found %d of %d imported and took %s); %s",
			sup.duringBackfill.Load(), sup.armedBackfill.Load(), sup.targetedBackfill.Load(), backfilled.Round(time.Second), len(sup.backfillsDone()),
			last.rep.AlreadyImported, len(hist.texts), last.rep.Took.Round(time.Millisecond), hf.summary())
		checkBackfillRuns(t, hist, sup.backfillsDone(), *last, doneBefore)
		if kills >= 20 && sup.targetedBackfill.Load() == 0 {
			t.Errorf("no kill came right after a write of the backfill: the backfill was done before the kills reached it (a larger SMSRELAY_CRASH_HISTORY?)")
		}
	}
	t.Logf("workload: %d texts from %d numbers, %d agent replies, %d status callbacks (%d undelivered) answered 2xx; %d Intercom and %d Twilio side effects applied; %d dead letters",
		f.texts, f.customers, f.replies, f.statuses, f.undelivered, icApplied.Load(), twApplied.Load(), len(dead))
	t.Logf("texts lost %d, replies lost %d, contacts duplicated %d, conversations duplicated %d, texts posted twice %d, SMS sent twice %d, failure notes missing %d, failure notes twice %d",
		f.textsLost, f.repliesLost, f.dupContacts, f.dupConversations, f.dupTexts, f.dupSMS, f.notesMissing, f.dupNotes)

	if totalKills < kills {
		t.Errorf("%d kills, want at least %d", totalKills, kills)
	}
	if f.textsLost != 0 || f.repliesLost != 0 {
		t.Errorf("lost %d texts and %d replies, want 0", f.textsLost, f.repliesLost)
	}
	for _, d := range dead {
		t.Errorf("dead letter %s (%s, attempt %d): %s", d.ID, d.Kind, d.Attempt, d.LastError)
	}
	// The bound: a duplicate needs a kill between a side effect and its
	// record. Each kill interrupts at most childWorkers jobs, and a job has
	// at most one unrecorded side effect at a time, so each kill may cause
	// at most childWorkers duplicates of all kinds together (a conversation
	// started twice counts as a duplicate conversation and a text posted
	// twice). Only a kill that found a side effect applied and unanswered
	// can do it at all, which is what the targeted kills are.
	dups := f.dupContacts + f.dupConversations + f.dupTexts + f.dupSMS + f.dupNotes + hf.dupParts + hf.dupContactNotes
	if bound := 2 * childWorkers * totalKills; dups > bound {
		t.Errorf("%d duplicates for %d kills, above the bound %d", dups, totalKills, bound)
	}
	// A note on a contact is looked for before it is repeated, like a
	// text on a conversation: none may repeat.
	if hf.dupParts != 0 || hf.dupContactNotes != 0 {
		t.Errorf("%d history texts on a conversation and %d notes on a contact repeated, want 0", hf.dupParts, hf.dupContactNotes)
	}
	if f.notesMissing > f.dupSMS {
		t.Errorf("%d failure notes missing, more than the %d SMS whose record a kill prevented", f.notesMissing, f.dupSMS)
	}
	for _, e := range f.unexplained {
		t.Error(e)
	}
	for _, e := range hf.unexplained {
		t.Error(e)
	}
}

// checkBackfillRuns checks the backfill runs reported done: each found the
// whole history and imported all it set out to, none failed, and the last
// run, after one that was done, found every text imported.
func checkBackfillRuns(t *testing.T, hist *history, runs []backfillDone, last backfillDone, doneBefore bool) {
	t.Helper()
	n := len(hist.texts)
	for _, b := range runs {
		r := b.rep
		if r.Found != n || r.CarriedLive != 0 || len(r.Skipped) != 0 || r.AlreadyImported+r.ToImport != n || r.Imported != r.ToImport || len(r.Failed) != 0 {
			t.Errorf("the backfill run of process %d reported found %d, skipped %v, already imported %d, carried live %d, to import %d, imported %d, failed %v; want all %d found, each imported once",
				b.life, r.Found, r.Skipped, r.AlreadyImported, r.CarriedLive, r.ToImport, r.Imported, r.Failed, n)
		}
	}
	if doneBefore && (last.rep.ToImport != 0 || last.rep.AlreadyImported != n) {
		t.Errorf("the backfill run after one that was done set out to import %d texts and found %d already imported; want 0 and %d", last.rep.ToImport, last.rep.AlreadyImported, n)
	}
}
