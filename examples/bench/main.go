// Command bench measures the relay against the fakes in intercomtest and
// twiliotest, and prints one table in Markdown:
//
//   - the Twilio webhook path (signed requests through the real handler,
//     workers running) beside a bare net/http handler that answers the same
//     TwiML, in the same run, at 1, 16 and 128 concurrent senders, for each
//     store: throughput and latency percentiles;
//   - the latency the relay adds under budget: from posting a text to its
//     Intercom call (first and follow-up texts), and Intercom calls per text;
//   - a backlog: texts from many numbers arriving within a few seconds
//     under Intercom's budget (time to drain, budget used, 429s, texts lost,
//     calls per text);
//   - memory per queued job in memstore.
//
// Run it from the module root:
//
//	go run ./examples/bench
//
// PostgreSQL and Redis rows appear when SMSRELAY_TEST_POSTGRES_URL and
// SMSRELAY_TEST_REDIS_URL are set (a fresh schema or key prefix, removed
// afterwards). Flags shorten or lengthen the runs; -h lists them. Nothing
// leaves the machine: both APIs are local fakes, with -latency added to each
// Intercom answer to resemble the real API.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/smsrelay/smsrelay/intercom"
	"github.com/smsrelay/smsrelay/intercom/intercomtest"
	"github.com/smsrelay/smsrelay/relay"
	"github.com/smsrelay/smsrelay/store"
	"github.com/smsrelay/smsrelay/store/memstore"
	"github.com/smsrelay/smsrelay/store/pgstore"
	"github.com/smsrelay/smsrelay/store/redisstore"
	"github.com/smsrelay/smsrelay/twiliosms"
	"github.com/smsrelay/smsrelay/twiliosms/twiliotest"
)

const ourNumber = "+14155550000"

// flags of one run.
type options struct {
	duration    time.Duration
	latency     time.Duration
	budget      int
	window      time.Duration
	backlog     int
	numbers     int
	spread      time.Duration
	concurrency []int
}

func main() {
	var o options
	var conc string
	flag.DurationVar(&o.duration, "duration", 3*time.Second, "how long each webhook measurement lasts")
	flag.DurationVar(&o.latency, "latency", 60*time.Millisecond, "latency added to each Intercom answer")
	flag.IntVar(&o.budget, "budget", intercom.DefaultLimit, "Intercom's enforced budget per window")
	flag.DurationVar(&o.window, "window", intercom.DefaultWindow, "Intercom's budget window")
	flag.IntVar(&o.backlog, "backlog", 1000, "texts in the backlog run (0 skips it)")
	flag.IntVar(&o.numbers, "numbers", 100, "numbers the backlog's texts come from")
	flag.DurationVar(&o.spread, "spread", 5*time.Second, "time over which the backlog's texts arrive")
	flag.StringVar(&conc, "concurrency", "1,16,128", "concurrent senders of the webhook runs")
	flag.Parse()
	for _, f := range strings.Split(conc, ",") {
		var n int
		if _, err := fmt.Sscan(f, &n); err != nil || n <= 0 {
			log.Fatalf("-concurrency: %q is not a positive number", f)
		}
		o.concurrency = append(o.concurrency, n)
	}
	if err := run(context.Background(), o, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// backend is one store to measure.
type backend struct {
	name string
	// open returns a fresh store (and its queue) with a shared Intercom
	// limiter of the given budget when the store has one, and a cleanup.
	open func(ctx context.Context, n int, window time.Duration) (store.Store, relay.Limiter, func(), error)
}

func backends() []backend {
	bs := []backend{{"memstore", func(context.Context, int, time.Duration) (store.Store, relay.Limiter, func(), error) {
		return memstore.New(), nil, func() {}, nil
	}}}
	if u := os.Getenv("SMSRELAY_TEST_POSTGRES_URL"); u != "" {
		bs = append(bs, backend{"pgstore", func(ctx context.Context, n int, window time.Duration) (store.Store, relay.Limiter, func(), error) {
			pool, err := pgxpool.New(ctx, u)
			if err != nil {
				return nil, nil, nil, err
			}
			schema := "smsrelay_bench_" + token()
			drop := func() {
				_, _ = pool.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
				pool.Close()
			}
			if err := pgstore.Migrate(ctx, pool, pgstore.WithSchema(schema)); err != nil {
				drop()
				return nil, nil, nil, err
			}
			st, err := pgstore.New(pool, pgstore.WithSchema(schema))
			if err != nil {
				drop()
				return nil, nil, nil, err
			}
			l, err := pgstore.NewLimiter(pool, n, window, pgstore.WithLimiterSchema(schema))
			if err != nil {
				drop()
				return nil, nil, nil, err
			}
			return st, l, drop, nil
		}})
	}
	if u := os.Getenv("SMSRELAY_TEST_REDIS_URL"); u != "" {
		bs = append(bs, backend{"redisstore", func(ctx context.Context, n int, window time.Duration) (store.Store, relay.Limiter, func(), error) {
			opt, err := redis.ParseURL(u)
			if err != nil {
				return nil, nil, nil, err
			}
			c := redis.NewClient(opt)
			prefix := "smsrelay-bench-" + token()
			budgetKey := prefix + ":intercom-budget"
			drop := func() {
				ctx := context.Background()
				keys := []string{budgetKey}
				iter := c.Scan(ctx, 0, "{"+prefix+"}:*", 500).Iterator()
				for iter.Next(ctx) {
					keys = append(keys, iter.Val())
				}
				_ = c.Del(ctx, keys...).Err()
				_ = c.Close()
			}
			st, err := redisstore.New(c, redisstore.WithPrefix(prefix))
			if err != nil {
				drop()
				return nil, nil, nil, err
			}
			l, err := redisstore.NewLimiter(c, n, window, redisstore.WithLimiterKey(budgetKey))
			if err != nil {
				drop()
				return nil, nil, nil, err
			}
			return st, l, drop, nil
		}})
	}
	return bs
}

func token() string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b[:])
}

// rig is one relay with its fakes and HTTP server.
type rig struct {
	ic   *intercomtest.Server
	tw   *twiliotest.Server
	r    *relay.Relay
	srv  *httptest.Server
	stop func()
}

// newRig starts fakes, a relay on st and its workers. lim, when not nil, is
// the store's shared limiter.
func newRig(o options, st store.Store, lim relay.Limiter) (*rig, error) {
	ic := intercomtest.NewServer(intercomtest.WithBudget(o.budget, o.window))
	for _, p := range []string{"/contacts", "/contacts/search", "/contacts/*", "/conversations", "/conversations/search",
		"/conversations/*", "/conversations/*/reply", "/conversations/*/parts", "/conversations/*/tags"} {
		if err := ic.Fail("*", p, intercomtest.Fault{Latency: o.latency}); err != nil {
			ic.Close()
			return nil, err
		}
	}
	tw := twiliotest.NewServer()
	icClient, err := intercom.NewClient(ic.Token, intercom.WithBaseURL(ic.URL), intercom.WithHTTPClient(ic.Client()))
	if err != nil {
		return nil, err
	}
	twClient, err := twiliosms.NewClient(tw.AccountSID, tw.AuthToken, twiliosms.WithBaseURL(tw.URL), twiliosms.WithHTTPClient(tw.Client()))
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	if lim == nil {
		lim = intercom.NewWindowLimiter(o.budget, o.window)
	}
	r, err := relay.New(relay.Config{
		Intercom:         icClient,
		Twilio:           twClient,
		Store:            st,
		PublicURL:        srv.URL,
		TwilioAuthTokens: []string{tw.AuthToken},
		WebhookSecrets:   []string{ic.ClientSecret},
		NoteAuthor:       "1",
		Limiter:          lim,
		Workers:          16,
	})
	if err != nil {
		return nil, err
	}
	mux.Handle("POST /twilio/messages", r.TwilioHandler())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	return &rig{ic: ic, tw: tw, r: r, srv: srv, stop: func() {
		cancel()
		<-done
		r.Close()
		srv.Close()
		tw.Close()
		ic.Close()
	}}, nil
}

// signed is a prepared webhook request.
type signed struct{ body, sig string }

func (g *rig) prepare(n int, from func(i int) string) []signed {
	u := g.srv.URL + "/twilio/messages"
	out := make([]signed, n)
	for i := range out {
		f := twiliotest.InboundForm(from(i), ourNumber, fmt.Sprintf("text %d", i))
		out[i] = signed{body: f.Encode(), sig: twiliotest.Sign(g.tw.AuthToken, u, f)}
	}
	return out
}

// load posts reqs to target from conc senders until d passed or reqs ran
// out, and returns the count, the throughput and the latencies.
type loadResult struct {
	n        int
	perSec   float64
	p50, p99 time.Duration
	errs     int
}

func load(hc *http.Client, target string, reqs []signed, conc int, d time.Duration) loadResult {
	var next atomic.Int64
	var errs atomic.Int64
	lat := make([][]time.Duration, conc)
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for w := range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				i := int(next.Add(1)) - 1
				if i >= len(reqs) {
					return
				}
				req, _ := http.NewRequest(http.MethodPost, target, strings.NewReader(reqs[i].body))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set(twiliosms.SignatureHeader, reqs[i].sig)
				t := time.Now()
				resp, err := hc.Do(req)
				if err != nil {
					errs.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					errs.Add(1)
				}
				lat[w] = append(lat[w], time.Since(t))
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	res := loadResult{n: len(all), perSec: float64(len(all)) / el.Seconds(), errs: int(errs.Load())}
	if len(all) > 0 {
		res.p50 = all[len(all)/2]
		res.p99 = all[len(all)*99/100]
	}
	return res
}

func run(ctx context.Context, o options, out io.Writer) error {
	fmt.Fprintf(out, "# smsrelay bench\n\n%s, GOMAXPROCS=%d, Intercom budget %d per %v, +%v per Intercom answer\n\n",
		runtime.Version(), runtime.GOMAXPROCS(0), o.budget, o.window, o.latency)
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 0}}

	fmt.Fprintf(out, "## Twilio webhook path vs a bare handler (same run, %v each)\n\n", o.duration)
	fmt.Fprintln(out, "| store | senders | relay req/s | bare req/s | ratio | relay p50 | relay p99 | bare p50 | bare p99 | errors |")
	fmt.Fprintln(out, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, b := range backends() {
		st, lim, closeStore, err := b.open(ctx, o.budget, o.window)
		if err != nil {
			return fmt.Errorf("%s: %w", b.name, err)
		}
		g, err := newRig(o, st, lim)
		if err != nil {
			closeStore()
			return err
		}
		// The bare handler reads the form and answers what the relay
		// answers.
		var twiml []byte
		{
			one := g.prepare(1, func(int) string { return "+14155550999" })
			req, _ := http.NewRequest(http.MethodPost, g.srv.URL+"/twilio/messages", strings.NewReader(one[0].body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set(twiliosms.SignatureHeader, one[0].sig)
			resp, err := hc.Do(req)
			if err != nil {
				return err
			}
			twiml, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		bare := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := r.ParseForm(); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			w.Header().Set("Content-Type", "text/xml")
			_, _ = w.Write(twiml)
		}))
		for _, conc := range o.concurrency {
			reqs := g.prepare(max(2000, int(o.duration.Seconds()*8000)), func(i int) string { return fmt.Sprintf("+1415%07d", 2000000+i%5000000) })
			rr := load(hc, g.srv.URL+"/twilio/messages", reqs, conc, o.duration)
			br := load(hc, bare.URL, reqs, conc, o.duration)
			fmt.Fprintf(out, "| %s | %d | %.0f | %.0f | %.2f | %s | %s | %s | %s | %d |\n", b.name, conc, rr.perSec, br.perSec,
				rr.perSec/br.perSec, ms(rr.p50), ms(rr.p99), ms(br.p50), ms(br.p99), rr.errs+br.errs)
		}
		bare.Close()
		g.stop()
		closeStore()
	}

	fmt.Fprintf(out, "\n## Latency added by the relay under budget (memstore, +%v per Intercom answer)\n\n", o.latency)
	if err := added(ctx, o, hc, out); err != nil {
		return err
	}
	if o.backlog > 0 {
		fmt.Fprintf(out, "\n## Backlog: %d texts from %d numbers arriving over %v\n\n", o.backlog, o.numbers, o.spread)
		fmt.Fprintln(out, "| store | drained in | texts lost | 429s | Intercom calls | calls per text | budget used while waiting |")
		fmt.Fprintln(out, "| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
		for _, b := range backends() {
			if err := backlog(ctx, o, hc, b, out); err != nil {
				return fmt.Errorf("%s backlog: %w", b.name, err)
			}
		}
	}
	fmt.Fprintf(out, "\n## Memory per queued job (memstore)\n\n")
	return memory(ctx, out)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/1e6) }

// post sends one signed text to g.
func post(hc *http.Client, g *rig, from, body string) error {
	f := twiliotest.InboundForm(from, ourNumber, body)
	status, _, err := twiliotest.Post(context.Background(), hc, g.tw.AuthToken, g.srv.URL+"/twilio/messages", f)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("webhook answered %d", status)
	}
	return nil
}

// added measures, one text at a time with the budget free, the time from
// posting a text to the arrival of its first Intercom call, and the calls
// each kind of text costs.
func added(ctx context.Context, o options, hc *http.Client, out io.Writer) error {
	g, err := newRig(o, memstore.New(), nil)
	if err != nil {
		return err
	}
	defer g.stop()
	const samples = 10
	measure := func(from string, i int) (time.Duration, int, error) {
		before := len(g.ic.Requests())
		t := time.Now()
		if err := post(hc, g, from, fmt.Sprintf("sample %d", i)); err != nil {
			return 0, 0, err
		}
		var first time.Duration
		for deadline := time.Now().Add(30 * time.Second); ; {
			reqs := g.ic.Requests()
			if first == 0 && len(reqs) > before {
				first = reqs[before].Time.Sub(t)
			}
			s, err := g.r.Stats(ctx)
			if err != nil {
				return 0, 0, err
			}
			if first != 0 && s.Ready == 0 && s.Leased == 0 {
				return first, len(g.ic.Requests()) - before, nil
			}
			if time.Now().After(deadline) {
				return 0, 0, errors.New("a text was not relayed within 30s")
			}
			time.Sleep(time.Millisecond)
		}
	}
	fmt.Fprintln(out, "| text | webhook → first Intercom call (median of 10) | Intercom calls per text |")
	fmt.Fprintln(out, "| --- | ---: | ---: |")
	rows := []struct {
		name string
		from func(i int) string
		prep func(i int) error
	}{
		{"first text, contact unknown", func(i int) string { return fmt.Sprintf("+1415666%04d", i) }, nil},
		{"first text, contact known to Intercom", func(i int) string { return fmt.Sprintf("+1415777%04d", i) }, func(i int) error {
			_, err := g.ic.AddContact(intercomtest.Contact{Role: "user", Phone: fmt.Sprintf("+1415777%04d", i)})
			return err
		}},
		{"follow-up text", func(int) string { return "+14158880000" }, nil},
	}
	if err := post(hc, g, "+14158880000", "opening text"); err != nil {
		return err
	}
	time.Sleep(2 * time.Second) // the follow-up row's conversation exists
	for _, row := range rows {
		var lats []time.Duration
		calls := 0
		for i := range samples {
			if row.prep != nil {
				if err := row.prep(i); err != nil {
					return err
				}
			}
			d, c, err := measure(row.from(i), i)
			if err != nil {
				return err
			}
			lats = append(lats, d)
			calls += c
		}
		slices.Sort(lats)
		fmt.Fprintf(out, "| %s | %s | %.1f |\n", row.name, ms(lats[len(lats)/2]), float64(calls)/samples)
	}
	return nil
}

// backlog posts o.backlog texts from o.numbers numbers over o.spread and
// waits for all of them to reach Intercom.
func backlog(ctx context.Context, o options, hc *http.Client, b backend, out io.Writer) error {
	st, lim, closeStore, err := b.open(ctx, o.budget, o.window)
	if err != nil {
		return err
	}
	defer closeStore()
	g, err := newRig(o, st, lim)
	if err != nil {
		return err
	}
	defer g.stop()
	start := time.Now()
	gap := o.spread / time.Duration(o.backlog)
	var wg sync.WaitGroup
	var postErrs atomic.Int64
	for i := range o.backlog {
		time.Sleep(time.Until(start.Add(time.Duration(i) * gap)))
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := post(hc, g, fmt.Sprintf("+1415999%04d", i%o.numbers), fmt.Sprintf("backlog text %d", i)); err != nil {
				postErrs.Add(1)
			}
		}()
	}
	wg.Wait()
	delivered := 0
	deadline := start.Add(time.Duration(o.backlog*4/o.budget+10) * o.window)
	for {
		delivered = 0
		for _, c := range g.ic.Conversations() {
			delivered += customerParts(c)
		}
		s, err := g.r.Stats(ctx)
		if err != nil {
			return err
		}
		if delivered >= o.backlog && s.Ready == 0 && s.Leased == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	drained := time.Since(start)
	reqs := g.ic.Requests()
	var admitted []time.Time
	for _, r := range reqs {
		if r.Status != http.StatusTooManyRequests && r.Status != http.StatusUnauthorized {
			admitted = append(admitted, r.Time)
		}
	}
	// Budget used while work waited: admitted calls over what the budget
	// allows between the first and the last call.
	used := 0.0
	if len(admitted) > 1 {
		span := admitted[len(admitted)-1].Sub(admitted[0])
		used = float64(len(admitted)) / (float64(o.budget) * (span.Seconds()/o.window.Seconds() + 1))
	}
	fmt.Fprintf(out, "| %s | %.1f s | %d | %d | %d | %.2f | %.1f %% |\n", b.name, drained.Seconds(), o.backlog-delivered+int(postErrs.Load()),
		g.ic.RateLimited(), len(admitted), float64(len(admitted))/float64(o.backlog), 100*used)
	return nil
}

// customerParts counts the customer's texts in a conversation: its source
// and the contact's replies.
func customerParts(c intercomtest.Conversation) int {
	n := 1
	for _, p := range c.Parts {
		if p.Author.Type == "user" || p.Author.Type == "lead" || p.Author.Type == "contact" {
			n++
		}
	}
	return n
}

// memory measures the heap held per job queued in memstore.
func memory(ctx context.Context, out io.Writer) error {
	const n = 100_000
	payload := bytes.Repeat([]byte("x"), 200)
	st := memstore.New()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range n {
		if _, err := st.Enqueue(ctx, store.NewJob{Kind: "inbound", Key: fmt.Sprintf("+1415555%04d|%s", i%10000, ourNumber), Payload: payload,
			DedupeKey: "twilio:SM" + url.QueryEscape(fmt.Sprint(i)), DedupeTTL: time.Hour}); err != nil {
			return err
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	fmt.Fprintf(out, "%d jobs of a 200-byte payload with a de-duplication key: %.0f bytes per job\n", n, float64(after.HeapAlloc-before.HeapAlloc)/n)
	runtime.KeepAlive(st)
	return nil
}
