package crashtest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
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
	crash(t, u, schema, st, st)
}

func TestCrashRedis(t *testing.T) {
	needCrash(t)
	t.Parallel()
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
	crash(t, u, prefix, st, st)
}

func randomHex(t *testing.T, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// settings of one run, from the environment or defaults.
func runSettings(t *testing.T) (seed uint64, kills int) {
	seed = uint64(time.Now().UnixNano())
	if v := os.Getenv("SMSRELAY_CRASH_SEED"); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("SMSRELAY_CRASH_SEED %q: %v", v, err)
		}
		seed = s
	}
	kills = defaultKil
	if v := os.Getenv("SMSRELAY_CRASH_KILLS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("SMSRELAY_CRASH_KILLS %q is not a positive number", v)
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

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	addr   atomic.Pointer[string]

	armed    atomic.Bool  // kill right after the next applied side effect
	targeted atomic.Int64 // kills made so
	random   atomic.Int64 // kills at a random moment
	starts   int
	life     atomic.Int64 // incremented by every start
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
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			line <- sc.Text()
		}
		close(line)
		for sc.Scan() {
		}
		_ = cmd.Wait()
		close(exited)
	}()
	select {
	case l, ok := <-line:
		addr, found := strings.CutPrefix(l, "LISTEN ")
		if !ok || !found {
			<-exited
			s.t.Fatalf("relay process did not start (see %s): %q", s.logPath, l)
		}
		s.mu.Lock()
		s.cmd, s.exited = cmd, exited
		s.starts++
		s.life.Add(1)
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
// the package doc names.
func (s *supervisor) killIfArmed() bool {
	if !s.armed.CompareAndSwap(true, false) {
		return false
	}
	if s.kill() {
		s.targeted.Add(1)
		return true
	}
	return false
}

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
		effects.add(req.Header.Get(tokensHeader), sup.life.Load())
		if sup.killIfArmed() {
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
		r.Header.Set(tokensHeader, strings.Join(tokenRE.FindAllString(string(body), -1), " "))
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
func crash(t *testing.T, storeURL, namespace string, st store.Store, q queue) {
	seed, kills := runSettings(t)
	t.Logf("seed %d (replay with SMSRELAY_CRASH_SEED=%d), %d kills", seed, seed, kills)
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
	ic := intercomtest.NewServer(intercomtest.WithBudget(childRate, 10*time.Second), intercomtest.WithWebhookClient(hooks))
	t.Cleanup(ic.Close)
	tw := twiliotest.NewServer()
	t.Cleanup(tw.Close)
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
	)

	w := newWorkload(ic, tw, hooks, seed)
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
	// the next side effect the fakes apply.
	rng := mrand.New(mrand.NewPCG(seed, 0x6b696c6c))
	for k := 0; k < kills; k++ {
		if !sup.alive() {
			sup.start()
		}
		if rng.IntN(2) == 0 {
			time.Sleep(time.Duration(30+rng.IntN(270)) * time.Millisecond)
			if sup.kill() {
				sup.random.Add(1)
			}
			continue
		}
		time.Sleep(time.Duration(rng.IntN(100)) * time.Millisecond)
		sup.armed.Store(true)
		deadline := time.Now().Add(3 * time.Second)
		for sup.alive() && time.Now().Before(deadline) {
			time.Sleep(2 * time.Millisecond)
		}
		if sup.armed.CompareAndSwap(true, false) && sup.kill() {
			sup.random.Add(1) // no side effect came in time
		}
	}
	killPhase := time.Since(start)

	// Drain: one process, no more new work; webhooks not yet answered 2xx
	// are retried until they are, as Twilio and Intercom retry.
	sup.start()
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
	totalKills := int(sup.targeted.Load() + sup.random.Load())
	t.Logf("%d kills (%d right after a side effect, %d at random moments), %d starts; kill phase %s, all webhooks accepted at %s, drained at %s",
		totalKills, sup.targeted.Load(), sup.random.Load(), sup.starts, killPhase.Round(time.Second), accepted.Round(time.Second), elapsed.Round(time.Second))
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
	dups := f.dupContacts + f.dupConversations + f.dupTexts + f.dupSMS + f.dupNotes
	if bound := 2 * childWorkers * totalKills; dups > bound {
		t.Errorf("%d duplicates for %d kills, above the bound %d", dups, totalKills, bound)
	}
	if f.notesMissing > f.dupSMS {
		t.Errorf("%d failure notes missing, more than the %d SMS whose record a kill prevented", f.notesMissing, f.dupSMS)
	}
	for _, e := range f.unexplained {
		t.Error(e)
	}
}
