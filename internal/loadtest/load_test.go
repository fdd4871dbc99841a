package loadtest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
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

const (
	ourNumber = "+14155550100"
	agentID   = "991267001"
	noteAdmin = "991267999"
)

// size is one run's workload and the budget both sides enforce.
type size struct {
	numbers, textsEach, replies int
	budget                      int // Intercom requests per 10 s
}

func sizeOf() size {
	if os.Getenv("SMSRELAY_LOAD_FULL") == "1" {
		return size{numbers: 1000, textsEach: 10, replies: 2000, budget: 3000}
	}
	return size{numbers: 100, textsEach: 10, replies: 200, budget: 1000}
}

func randomHex(t *testing.T) string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func TestSustainedLoadPostgres(t *testing.T) {
	u := os.Getenv("SMSRELAY_TEST_POSTGRES_URL")
	if u == "" {
		t.Skip("SMSRELAY_TEST_POSTGRES_URL is not set; set it to a PostgreSQL URL such as postgres://postgres@127.0.0.1:5432/test?sslmode=disable to run the load test on PostgreSQL")
	}
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	schema := "smsrelay_load_" + randomHex(t)
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
	sz := sizeOf()
	load(t, st, intercom.NewWindowLimiter(sz.budget, 10*time.Second), sz)
}

func TestSustainedLoadRedis(t *testing.T) {
	u := os.Getenv("SMSRELAY_TEST_REDIS_URL")
	if u == "" {
		t.Skip("SMSRELAY_TEST_REDIS_URL is not set; set it to a Redis URL such as redis://127.0.0.1:6379/0 to run the load test on Redis")
	}
	opt, err := redis.ParseURL(u)
	if err != nil {
		t.Fatal(err)
	}
	client := redis.NewClient(opt)
	t.Cleanup(func() { client.Close() })
	prefix := "smsrelay-load-" + randomHex(t) + ":"
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
	sz := sizeOf()
	budget, err := redisstore.NewLimiter(client, sz.budget, 10*time.Second, redisstore.WithLimiterKey(prefix+"budget"))
	if err != nil {
		t.Fatal(err)
	}
	load(t, st, budget, sz)
}

// queue is the part of the store the test watches.
type queue interface {
	Stats(ctx context.Context) (store.Stats, error)
}

// load runs the workload through the real handlers and checks it.
func load(t *testing.T, st store.Store, budget relay.Limiter, sz size) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ic := intercomtest.NewServer(intercomtest.WithBudget(sz.budget, 10*time.Second))
	t.Cleanup(ic.Close)
	tw := twiliotest.NewServer()
	t.Cleanup(tw.Close)
	icClient, err := intercom.NewClient(ic.Token, intercom.WithBaseURL(ic.URL), intercom.WithLimiter(budget))
	if err != nil {
		t.Fatal(err)
	}
	twClient, err := twiliosms.NewClient(tw.AccountSID, tw.AuthToken, twiliosms.WithBaseURL(tw.URL))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	r, err := relay.New(relay.Config{
		Intercom:         icClient,
		Twilio:           twClient,
		Store:            st,
		PublicURL:        srv.URL,
		TwilioAuthTokens: []string{tw.AuthToken},
		WebhookSecrets:   []string{ic.ClientSecret},
		NoteAuthor:       noteAdmin,
		Limiter:          budget,
		Workers:          16,
		RetryBase:        50 * time.Millisecond,
		RetryMax:         time.Second,
		PollInterval:     10 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	mux.Handle("POST /twilio/messages", r.TwilioHandler())
	mux.Handle("POST /twilio/status", r.StatusHandler())
	mux.Handle("POST /intercom/webhooks", r.IntercomHandler())
	runDone := make(chan error, 1)
	go func() { runDone <- r.Run(ctx) }()
	q := st.(queue)
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	probe := lateness.Start()
	defer probe.Stop()
	start := time.Now()

	phones := make([]string, sz.numbers)
	for i := range phones {
		phones[i] = fmt.Sprintf("+1415557%04d", i)
	}
	text := func(i, n int) {
		form := twiliotest.InboundForm(phones[i], ourNumber, fmt.Sprintf("c%04d-t%02d", i, n))
		for attempt := 0; ; attempt++ {
			status, _, err := twiliotest.Post(ctx, hc, tw.AuthToken, srv.URL+"/twilio/messages", form)
			if err == nil && status == http.StatusOK {
				return
			}
			if attempt == 20 {
				t.Errorf("text %d of %d: %d, %v", n, i, status, err)
				return
			}
			time.Sleep(50 * time.Millisecond) // as Twilio retries
		}
	}
	// An agent's reply: a delivery that fails (the relay did not answer 200
	// within the fake's 5 s, as on a starved machine) is delivered again
	// with the same notification id, as Intercom retries it.
	hook := srv.URL + "/intercom/webhooks"
	reply := func(body, conversationID string) {
		partID, status, err := ic.AdminReply(ctx, hook, conversationID, agentID, body)
		if partID == "" {
			t.Errorf("reply %s: %d, %v", body, status, err)
			return
		}
		for attempt := 1; err != nil || status != http.StatusOK; attempt++ {
			if attempt == 5 {
				t.Errorf("reply %s: %d, %v after %d deliveries", body, status, err, attempt)
				return
			}
			t.Logf("reply %s: %d, %v; delivering it again", body, status, err)
			notification := ""
			for _, d := range ic.Deliveries() {
				if d.Topic == intercomtest.TopicAdminReplied && bytes.Contains(d.Body, []byte(partID)) {
					notification = d.NotificationID
				}
			}
			if notification == "" {
				t.Errorf("reply %s: no notification was delivered for part %s", body, partID)
				return
			}
			status, err = ic.Redeliver(ctx, hook, notification)
		}
	}
	parallel := func(n int, f func(g int)) {
		var wg sync.WaitGroup
		for g := range n {
			wg.Add(1)
			go func() { defer wg.Done(); f(g) }()
		}
		wg.Wait()
	}
	drain := func(what string) {
		deadline := time.Now().Add(10 * time.Minute)
		for {
			s, err := q.Stats(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if s.Ready == 0 && s.Leased == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: queue not drained: %+v", what, s)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	// First texts: every customer gets a conversation.
	const senders = 32
	parallel(senders, func(g int) {
		for i := g; i < sz.numbers; i += senders {
			text(i, 0)
		}
	})
	drain("first texts")
	convOf := map[string]string{} // phone → conversation
	phoneOf := map[string]string{}
	for _, c := range ic.Contacts() {
		phoneOf[c.ID] = c.Phone
	}
	for _, c := range ic.Conversations() {
		convOf[phoneOf[c.ContactIDs[0]]] = c.ID
	}
	if len(convOf) != sz.numbers {
		t.Fatalf("%d conversations for %d numbers", len(convOf), sz.numbers)
	}

	// Then the rest of the texts and the agents' replies at once: each
	// customer's texts in order, each conversation's replies in order.
	repliesEach := sz.replies / sz.numbers
	if repliesEach == 0 {
		repliesEach = 1
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		parallel(senders, func(g int) {
			for n := 1; n < sz.textsEach; n++ {
				for i := g; i < sz.numbers; i += senders {
					text(i, n)
				}
			}
		})
	}()
	go func() {
		defer wg.Done()
		parallel(senders/2, func(g int) {
			for n := range repliesEach {
				for i := g; i < sz.numbers; i += senders / 2 {
					body := fmt.Sprintf("c%04d-r%02d", i, n)
					reply(body, convOf[phones[i]])
				}
			}
		})
	}()
	wg.Wait()
	drain("all texts and replies")
	elapsed := time.Since(start)
	late := probe.Stop()
	cancel()
	if err := <-runDone; err != nil {
		t.Errorf("Run: %v", err)
	}

	// Nothing lost, nothing twice, order kept.
	textRE := regexp.MustCompile(`c(\d{4})-t(\d{2})`)
	lost, twice, outOfOrder := 0, 0, 0
	for _, c := range ic.Conversations() {
		var got []int
		parts := []string{c.Source.Body}
		for _, p := range c.Parts {
			if p.Author.Type == "user" || p.Author.Type == "lead" {
				parts = append(parts, p.Body)
			}
		}
		for _, b := range parts {
			if m := textRE.FindStringSubmatch(b); m != nil {
				n, _ := strconv.Atoi(m[2])
				got = append(got, n)
			}
		}
		seen := map[int]bool{}
		for k, n := range got {
			if seen[n] {
				twice++
			}
			seen[n] = true
			if k > 0 && n < got[k-1] {
				outOfOrder++
			}
		}
		lost += sz.textsEach - len(seen)
	}
	replyRE := regexp.MustCompile(`c(\d{4})-r(\d{2})`)
	lastReply := map[string]int{}
	sentReplies := map[string]bool{}
	for _, m := range tw.Messages() { // in the order Twilio accepted them
		mm := replyRE.FindStringSubmatch(m.Body)
		if mm == nil {
			continue
		}
		if sentReplies[mm[0]] {
			twice++
		}
		sentReplies[mm[0]] = true
		n, _ := strconv.Atoi(mm[2])
		if prev, ok := lastReply[m.To]; ok && n < prev {
			outOfOrder++
		}
		lastReply[m.To] = n
	}
	repliesLost := sz.numbers*repliesEach - len(sentReplies)
	rss := peakRSS(t)
	texts := sz.numbers * sz.textsEach
	t.Logf("%d texts from %d numbers and %d agent replies in %s (%.0f texts/s), budget %d Intercom requests per 10 s on both sides: %d Intercom requests, %d answered 429",
		texts, sz.numbers, sz.numbers*repliesEach, elapsed.Round(time.Second), float64(texts)/elapsed.Seconds(), sz.budget, len(ic.Requests()), ic.RateLimited())
	t.Logf("texts lost %d, replies lost %d, delivered twice %d, out of order %d; peak RSS of the test process %d MiB", lost, repliesLost, twice, outOfOrder, rss>>20)
	if lost != 0 || repliesLost != 0 || twice != 0 || outOfOrder != 0 {
		t.Errorf("lost %d texts and %d replies, %d twice, %d out of order: want 0 of each", lost, repliesLost, twice, outOfOrder)
	}
	// Intercom counts a request when it arrives: one delayed after its
	// admission by more than the limiter's smallest transit margin can
	// land in a later window. A 429 then is the machine's, not the budget's.
	switch n := ic.RateLimited(); {
	case n == 0:
		t.Logf("no 429 (the scheduler ran up to %v late)", late.Round(time.Millisecond))
	case late > intercom.MinTransitMargin:
		t.Logf("Intercom answered 429 %d times while the scheduler ran up to %v late, more than the %v transit margin: the machine was too loaded to tell",
			n, late.Round(time.Millisecond), intercom.MinTransitMargin)
	default:
		t.Errorf("Intercom answered 429 %d times, want 0; the scheduler ran at most %v late", n, late.Round(time.Millisecond))
	}
}

// peakRSS reads the process's peak resident set size (VmHWM), in bytes.
func peakRSS(t *testing.T) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Logf("peak RSS unknown: %v", err)
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err == nil {
				return kb << 10
			}
		}
	}
	return 0
}
