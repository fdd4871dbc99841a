package relay_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smsrelay/smsrelay/intercom"
	"github.com/smsrelay/smsrelay/intercom/intercomtest"
	"github.com/smsrelay/smsrelay/relay"
	"github.com/smsrelay/smsrelay/store"
	"github.com/smsrelay/smsrelay/store/memstore"
	"github.com/smsrelay/smsrelay/twiliosms"
	"github.com/smsrelay/smsrelay/twiliosms/twiliotest"
)

const (
	secondNumber = "+14155550111"
	bfAgentPhone = "+14155550177"
	bfCustomers  = 12
)

var bfBase = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

// newBackfillHarness is a harness whose Intercom budget is n requests per
// window, enforced by the fake and kept by the relay's limiter (which the
// client shares), so that a test can run a few hundred imports quickly.
func newBackfillHarness(t *testing.T, n int, window time.Duration, configure func(*relay.Config)) *harness {
	t.Helper()
	return newBackfillHarnessWith(t, n, window, nil, configure)
}

// newBackfillHarnessWith is newBackfillHarness with options for the fake
// Intercom.
func newBackfillHarnessWith(t *testing.T, n int, window time.Duration, opts []intercomtest.Option, configure func(*relay.Config)) *harness {
	t.Helper()
	ic := intercomtest.NewServer(append([]intercomtest.Option{intercomtest.WithBudget(n, window)}, opts...)...)
	t.Cleanup(ic.Close)
	tw := twiliotest.NewServer()
	t.Cleanup(tw.Close)
	lim := intercom.NewWindowLimiter(n, window)
	icClient, err := intercom.NewClient(ic.Token, intercom.WithBaseURL(ic.URL), intercom.WithHTTPClient(ic.Client()),
		intercom.WithLimiter(lim),
		intercom.WithRetry(intercom.RetryPolicy{MaxAttempts: 2, InitialInterval: 5 * time.Millisecond, MaxInterval: 20 * time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	twClient, err := twiliosms.NewClient(tw.AccountSID, tw.AuthToken, twiliosms.WithBaseURL(tw.URL), twiliosms.WithHTTPClient(tw.Client()))
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, ic: ic, tw: tw, st: memstore.New(), token: tw.AuthToken}
	mux := http.NewServeMux()
	h.srv = httptest.NewServer(mux)
	t.Cleanup(h.srv.Close)
	cfg := relay.Config{
		Intercom: icClient, Twilio: twClient, Store: h.st, Limiter: lim,
		PublicURL: h.srv.URL, TwilioAuthTokens: []string{tw.AuthToken}, WebhookSecrets: []string{ic.ClientSecret},
		NoteAuthor: noteAdmin, RetryBase: time.Millisecond, RetryMax: 5 * time.Millisecond, PollInterval: 5 * time.Millisecond,
		Paging: relay.Paging{AgentPhones: map[string]string{adminID: bfAgentPhone}, WorkspaceID: "abc123de"},
	}
	if configure != nil {
		configure(&cfg)
	}
	if h.r, err = relay.New(cfg); err != nil {
		t.Fatal(err)
	}
	mux.Handle("POST /twilio/messages", h.r.TwilioHandler())
	return h
}

// runWorkers runs the relay's workers until the returned stop is called
// (or the test ends).
func runWorkers(t *testing.T, r *relay.Relay) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = r.Run(ctx) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); wg.Wait() }) }
	t.Cleanup(stop)
	return stop
}

func bfCustomer(c int) string { return fmt.Sprintf("+1415555%04d", 300+c) }

// bfNumber is the number of ours customer c texts.
func bfNumber(c int) string {
	if c >= 8 {
		return secondNumber
	}
	return ourNumber
}

// seedBackfill seeds n texts, one a minute from bfBase, over bfCustomers
// customers: text i is customer i%12's, inbound unless (i/12 + c) % 3 is 0
// (so customers 0, 3, 6 and 9 start with a text of ours), its body
// "h<i>", every 7th with media. Then texts that must not be imported: to
// an agent's phone, from a short code, and a scheduled one.
func seedBackfill(tw *twiliotest.Server, n int) {
	var msgs []twiliotest.LogMessage
	for i := range n {
		c := i % bfCustomers
		m := twiliotest.LogMessage{From: bfCustomer(c), To: bfNumber(c), Body: fmt.Sprintf("h%03d is here", i),
			Direction: twiliosms.DirectionInbound, DateSent: bfBase.Add(time.Duration(i) * time.Minute)}
		if (i/bfCustomers+c)%3 == 0 {
			m.From, m.To, m.Direction = bfNumber(c), bfCustomer(c), twiliosms.DirectionOutboundAPI
			if i%11 == 0 {
				m.Status, m.ErrorCode = "undelivered", twiliosms.CodeUnknownHandset
			}
		}
		if i%7 == 0 {
			m.MediaURLs = []string{"https://media.example.com/x.jpg"}
		}
		msgs = append(msgs, m)
	}
	msgs = append(msgs,
		twiliotest.LogMessage{From: ourNumber, To: bfAgentPhone, Body: "page for agent", Direction: twiliosms.DirectionOutboundAPI, DateSent: bfBase.Add(time.Minute)},
		twiliotest.LogMessage{From: bfAgentPhone, To: ourNumber, Body: "ok", Direction: twiliosms.DirectionInbound, DateSent: bfBase.Add(2 * time.Minute)},
		twiliotest.LogMessage{From: "72345", To: ourNumber, Body: "Your code is 1234", Direction: twiliosms.DirectionInbound, DateSent: bfBase.Add(3 * time.Minute)},
		twiliotest.LogMessage{From: ourNumber, To: bfCustomer(1), Body: "later", Direction: twiliosms.DirectionOutboundAPI, Status: "scheduled", DateSent: bfBase.Add(4 * time.Minute)},
		// Outside the range.
		twiliotest.LogMessage{From: bfCustomer(1), To: ourNumber, Body: "too old", Direction: twiliosms.DirectionInbound, DateSent: bfBase.Add(-time.Hour)},
	)
	tw.AddHistory(msgs...)
}

var bodyIndex = regexp.MustCompile(`h(\d{3}) is here`)

// imported returns, per customer, the indexes of the seeded texts Intercom
// holds, in the order they appear (notes on the contact first, then the
// conversation), and checks that each carries its original time.
func imported(t *testing.T, h *harness) map[int][]int {
	t.Helper()
	ctx := context.Background()
	out := map[int][]int{}
	add := func(c int, body string) {
		for _, m := range bodyIndex.FindAllStringSubmatch(body, -1) {
			i, _ := strconv.Atoi(m[1])
			if at := bfBase.Add(time.Duration(i) * time.Minute).Format("2006-01-02 15:04 UTC"); !strings.Contains(body, at) {
				t.Errorf("text %d reads %q, without its time %s", i, body, at)
			}
			out[c] = append(out[c], i)
		}
	}
	for c := range bfCustomers {
		contactID, err := h.st.Contact(ctx, bfCustomer(c))
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range h.ic.ContactNotes(contactID) {
			add(c, n.Body)
		}
		th, err := h.st.Thread(ctx, store.ThreadKey{Customer: bfCustomer(c), Sender: bfNumber(c)})
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		conv := h.conversation(th.ConversationID)
		add(c, conv.Source.Body)
		for _, p := range conv.Parts {
			add(c, p.Body)
		}
	}
	return out
}

// wantImported is what seedBackfill(n) should leave in Intercom: each
// customer's texts in the order they were sent.
func wantImported(n int) map[int][]int {
	out := map[int][]int{}
	for i := range n {
		out[i%bfCustomers] = append(out[i%bfCustomers], i)
	}
	return out
}

func checkImported(t *testing.T, h *harness, n int) {
	t.Helper()
	got, want := imported(t, h), wantImported(n)
	for c := range bfCustomers {
		if !slices.Equal(got[c], want[c]) {
			t.Errorf("customer %d: Intercom holds texts %v, want %v (each once, oldest first)", c, got[c], want[c])
		}
	}
}

func TestBackfillImportsHistoryOnceInOrder(t *testing.T) {
	h := newBackfillHarness(t, 400, time.Second, nil)
	seedBackfill(h.tw, 300)
	runWorkers(t, h.r)
	ctx := context.Background()
	var last relay.BackfillProgress
	rep, err := h.r.Backfill(ctx, relay.BackfillOptions{Since: bfBase, Until: bfBase.Add(24 * time.Hour), Progress: func(p relay.BackfillProgress) { last = p }})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Found != 304 || rep.ToImport != 300 || rep.Imported != 300 || len(rep.Failed) != 0 || len(rep.Customers) != bfCustomers {
		t.Fatalf("report %+v", rep)
	}
	if rep.Skipped[relay.SkipAgentPhone] != 2 || rep.Skipped[relay.SkipNotAPhone] != 1 || rep.Skipped[relay.SkipNeverSent] != 1 {
		t.Errorf("skipped %v", rep.Skipped)
	}
	if last.Total != 300 || last.Done != 300 {
		t.Errorf("last progress %+v", last)
	}
	checkImported(t, h, 300)
	if n := h.ic.RateLimited(); n != 0 {
		t.Errorf("the fake answered 429 %d times", n)
	}
	// Customers whose history starts with a text of ours: those texts are
	// notes on the contact; the conversation starts with their first text.
	contactID, _ := h.st.Contact(ctx, bfCustomer(0))
	if notes := h.ic.ContactNotes(contactID); len(notes) != 1 || !strings.Contains(notes[0].Body, "h000 is here") ||
		!strings.Contains(notes[0].Body, "With attachments by MMS: <a href=\""+h.tw.URL+"/2010-04-01/Accounts/") || !strings.Contains(notes[0].Body, fmt.Sprintf("undelivered (error %d", twiliosms.CodeUnknownHandset)) {
		t.Errorf("customer 0's contact notes: %+v", notes)
	}
	// A customer's MMS keeps its media as attachments (text 7 starts
	// customer 7's conversation).
	th7, _ := h.st.Thread(ctx, store.ThreadKey{Customer: bfCustomer(7), Sender: ourNumber})
	if c7 := h.conversation(th7.ConversationID); len(c7.Source.Attachments) != 1 || !strings.Contains(c7.Source.Attachments[0].URL, "/Media/ME") {
		t.Errorf("customer 7's first text (an MMS) has attachments %+v", c7.Source.Attachments)
	}
	th, _ := h.st.Thread(ctx, store.ThreadKey{Customer: bfCustomer(0), Sender: ourNumber})
	conv := h.conversation(th.ConversationID)
	if !strings.Contains(conv.Source.Body, "Texted on 2026-11-02 09:12 UTC:") || !strings.Contains(conv.Source.Body, "h012 is here") || strings.Index(conv.Source.Body, "Texted") > 3 {
		t.Errorf("customer 0's conversation starts with %q", conv.Source.Body)
	}
	for _, p := range conv.Parts {
		if strings.Contains(p.Body, "Sent by SMS") && p.PartType != "note" {
			t.Errorf("a text of ours is a %s, not a note: %q", p.PartType, p.Body)
		}
		if strings.Contains(p.Body, "Texted on") && p.Author.Type == "admin" {
			t.Errorf("a customer's text is authored by an admin: %q", p.Body)
		}
	}
	// An undelivered text of ours says so.
	found := false
	for _, c := range h.ic.Conversations() {
		for _, p := range c.Parts {
			found = found || (strings.Contains(p.Body, "h275 is here") && strings.Contains(p.Body, "undelivered"))
		}
	}
	if !found {
		t.Error("the undelivered text h275 is not noted as undelivered")
	}

	// A second run adds nothing and writes nothing to Intercom.
	writes := intercomWrites(h.ic)
	rep2, err := h.r.Backfill(ctx, relay.BackfillOptions{Since: bfBase, Until: bfBase.Add(24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if rep2.ToImport != 0 || rep2.Imported != 0 || rep2.AlreadyImported != 300 {
		t.Errorf("second run %+v", rep2)
	}
	if w := intercomWrites(h.ic); w != writes {
		t.Errorf("second run made %d writes to Intercom", w-writes)
	}
	checkImported(t, h, 300)
}

// intercomWrites counts the requests that change something in Intercom:
// everything but GETs and searches.
func intercomWrites(ic *intercomtest.Server) int {
	n := 0
	for _, r := range ic.Requests() {
		if r.Method != http.MethodGet && !strings.HasSuffix(r.Path, "/search") {
			n++
		}
	}
	return n
}

func TestBackfillDryRunWritesNothing(t *testing.T) {
	h := newBackfillHarness(t, 400, time.Second, nil)
	seedBackfill(h.tw, 120)
	rep, err := h.r.Backfill(context.Background(), relay.BackfillOptions{Since: bfBase, DryRun: true, Numbers: []string{ourNumber}})
	if err != nil {
		t.Fatal(err)
	}
	// Customers 0..7 text ourNumber: 10 texts each.
	if !rep.DryRun || rep.ToImport != 80 || rep.Imported != 0 || len(rep.Customers) != 8 {
		t.Fatalf("dry run report %+v", rep)
	}
	c0 := rep.Customers[0]
	if c0.Customer != bfCustomer(0) || c0.Messages != 10 || c0.Inbound+c0.Outbound != 10 || !c0.First.Equal(bfBase) ||
		!c0.Last.Equal(bfBase.Add(108*time.Minute)) || !strings.Contains(c0.Sample, "h000 is here") {
		t.Errorf("customer 0 in the dry run: %+v", c0)
	}
	if n := len(h.ic.Requests()); n != 0 {
		t.Errorf("a dry run made %d requests to Intercom", n)
	}
	if s, _ := h.r.Stats(context.Background()); s.Ready != 0 {
		t.Errorf("a dry run queued %d jobs", s.Ready)
	}
}

func TestBackfillInterruptedThenResumed(t *testing.T) {
	h := newBackfillHarness(t, 400, time.Second, nil)
	seedBackfill(h.tw, 240)
	stop := runWorkers(t, h.r)
	ctx, cancel := context.WithCancel(context.Background())
	rep, err := h.r.Backfill(ctx, relay.BackfillOptions{Since: bfBase, Progress: func(p relay.BackfillProgress) {
		if p.Done >= 90 {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) || rep.Imported < 90 || rep.Imported >= 240 {
		t.Fatalf("interrupted run: %+v, %v", rep, err)
	}
	stop() // the process dies too: the workers stop mid-batch
	runWorkers(t, h.r)
	rep2, err := h.r.Backfill(context.Background(), relay.BackfillOptions{Since: bfBase})
	if err != nil {
		t.Fatal(err)
	}
	if rep2.AlreadyImported+rep2.ToImport != 240 || rep2.Imported != rep2.ToImport {
		t.Errorf("resumed run: %+v", rep2)
	}
	// Batches the first run queued may still be running: wait for them.
	h.waitIdle()
	checkImported(t, h, 240)
}

// waitIdle waits until the queue holds no job.
func (h *harness) waitIdle() {
	h.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if s, err := h.r.Stats(context.Background()); err == nil && s.Ready == 0 && s.Leased == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	h.t.Fatal("queue not idle in 20s")
}

func TestBackfillBesideLiveTexts(t *testing.T) {
	h := newBackfillHarness(t, 400, time.Second, func(c *relay.Config) { c.DefaultRoute = relay.Route{TeamID: "5551"} })
	runWorkers(t, h.r)
	// A customer texts live; the same text is in the log.
	form := h.text(bfCustomer(1), "live hello")
	h.waitIdle()
	h.tw.AddHistory(twiliotest.LogMessage{SID: form.Get("MessageSid"), From: bfCustomer(1), To: ourNumber, Body: "live hello", Direction: twiliosms.DirectionInbound, DateSent: time.Now().Add(-time.Minute)},
		twiliotest.LogMessage{From: bfCustomer(1), To: ourNumber, Body: "h900 is here, earlier", Direction: twiliosms.DirectionInbound, DateSent: time.Now().Add(-time.Hour)})
	rep, err := h.r.Backfill(context.Background(), relay.BackfillOptions{Since: time.Now().Add(-2 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if rep.CarriedLive != 1 || rep.Imported != 1 {
		t.Fatalf("report %+v", rep)
	}
	conv := h.onlyConversation()
	if got := contactParts(conv); len(got) != 2 || !strings.Contains(got[0], "live hello") || !strings.Contains(got[1], "h900 is here") {
		t.Errorf("the conversation holds %q: the live text once, then the imported one", got)
	}

	// Another customer's history starts a conversation, routed like a
	// live one, which their next live text joins.
	h.tw.AddHistory(twiliotest.LogMessage{From: bfCustomer(2), To: ourNumber, Body: "h901 is here", Direction: twiliosms.DirectionInbound, DateSent: time.Now().Add(-time.Hour)})
	if rep, err := h.r.Backfill(context.Background(), relay.BackfillOptions{Since: time.Now().Add(-2 * time.Hour), Customers: []string{bfCustomer(2)}}); err != nil || rep.Imported != 1 {
		t.Fatalf("%+v, %v", rep, err)
	}
	h.text(bfCustomer(2), "live again")
	h.waitIdle()
	th, err := h.st.Thread(context.Background(), store.ThreadKey{Customer: bfCustomer(2), Sender: ourNumber})
	if err != nil {
		t.Fatal(err)
	}
	c2 := h.conversation(th.ConversationID)
	if got := contactParts(c2); len(got) != 2 || !strings.Contains(got[0], "h901 is here") || !strings.Contains(got[1], "live again") || c2.TeamAssigneeID != "5551" {
		t.Errorf("customer 2's conversation holds %q, team %q: want the history, then the live text, routed", got, c2.TeamAssigneeID)
	}
}

func TestBackfillValidates(t *testing.T) {
	h := newBackfillHarness(t, 400, time.Second, nil)
	for _, o := range []relay.BackfillOptions{
		{},
		{Since: bfBase, Until: bfBase},
		{Since: bfBase, Numbers: []string{""}},
		{Since: bfBase, Customers: []string{"+1|2"}},
		{Since: bfBase, Concurrency: -1},
	} {
		if _, err := h.r.Backfill(context.Background(), o); err == nil {
			t.Errorf("Backfill(%+v) took bad options", o)
		}
	}
}

// TestBackfillLiveTextsFirst measures how long a live text takes to reach
// Intercom, alone and while a backfill of a few hundred texts runs
// against a budget the fake enforces, and asserts that the backfill does
// not delay live texts by more than a bound.
func TestBackfillLiveTextsFirst(t *testing.T) {
	if testing.Short() {
		t.Skip("measures latency for seconds")
	}
	const budget, window = 30, time.Second
	h := newBackfillHarness(t, budget, window, nil)
	runWorkers(t, h.r)

	live := func(n int, tag string) []time.Duration {
		var out []time.Duration
		for i := range n {
			from := fmt.Sprintf("+1628555%04d", i)
			body := fmt.Sprintf("live %s %d", tag, i)
			start := time.Now()
			sid := h.text(from, body).Get("MessageSid")
			// The text is in Intercom once its record says on which
			// conversation (written right after the side effect).
			for !h.delivered(sid) {
				if time.Since(start) > 20*time.Second {
					t.Fatalf("live text %q not in Intercom after 20s", body)
				}
				time.Sleep(2 * time.Millisecond)
			}
			out = append(out, time.Since(start))
			time.Sleep(150 * time.Millisecond)
		}
		return out
	}
	alone := live(6, "alone")

	seedBackfill(h.tw, 300)
	done := make(chan error, 1)
	var prog relay.BackfillProgress
	var mu sync.Mutex
	go func() {
		_, err := h.r.Backfill(context.Background(), relay.BackfillOptions{Since: bfBase, Progress: func(p relay.BackfillProgress) {
			mu.Lock()
			prog = p
			mu.Unlock()
		}})
		done <- err
	}()
	time.Sleep(500 * time.Millisecond) // the backfill is at full speed
	during := live(10, "during")
	mu.Lock()
	p := prog
	mu.Unlock()
	if p.Done == 0 || p.Done == p.Total {
		t.Fatalf("the backfill was not running while live texts were measured: %+v", p)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	worst := func(d []time.Duration) time.Duration { return slices.Max(d) }
	t.Logf("live text latency alone: worst %v; during a backfill: worst %v (%v)", worst(alone), worst(during), during)
	// A live text needs 3 Intercom calls (search, create contact, create
	// conversation). Without the gate it would queue behind the backfill's
	// calls for up to a window of budget; with it, it waits for at most
	// one call in flight and the live share.
	if bound := worst(alone) + 150*time.Millisecond; worst(during) > bound {
		t.Errorf("live texts took up to %v during a backfill, more than %v", worst(during), bound)
	}
	if n := h.ic.RateLimited(); n != 0 {
		t.Errorf("the fake answered 429 %d times", n)
	}
	checkImported(t, h, 300)
}

// delivered reports whether the customer's text sid is on a conversation.
func (h *harness) delivered(sid string) bool {
	m, err := h.st.Message(context.Background(), sid)
	return err == nil && m.ConversationID != ""
}

// TestBackfillAnswersLostEachTextOnce: Intercom takes some writes and the
// answers are lost (502 after the write, a dropped connection); the
// retried batches look before repeating, and each text is in Intercom
// once.
func TestBackfillAnswersLostEachTextOnce(t *testing.T) {
	h := newBackfillHarness(t, 400, time.Second, nil)
	seedBackfill(h.tw, 120)
	for _, f := range []struct {
		method, path string
		fault        intercomtest.Fault
	}{
		{"POST", "/conversations/*/reply", intercomtest.Fault{Commit: true, Status: 502, Times: 3}},
		{"POST", "/conversations", intercomtest.Fault{Commit: true, Status: 502, Times: 2}},
		{"POST", "/conversations/*/reply", intercomtest.Fault{Commit: true, Drop: true, Times: 2}},
	} {
		if err := h.ic.Fail(f.method, f.path, f.fault); err != nil {
			t.Fatal(err)
		}
	}
	runWorkers(t, h.r)
	rep, err := h.r.Backfill(context.Background(), relay.BackfillOptions{Since: bfBase})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Imported != 120 || len(rep.Failed) != 0 {
		t.Fatalf("report %+v", rep)
	}
	lost := 0
	for _, r := range h.ic.Requests() {
		if r.Status == http.StatusBadGateway || r.Status == 0 {
			lost++
		}
	}
	if lost != 7 {
		t.Fatalf("%d answers lost, want the 7 injected", lost)
	}
	checkImported(t, h, 120)
}

// TestBackfillBatchesNeverInterleaveWithTheCustomersLiveText: a live text
// of a customer whose history is being imported lands between two
// batches, never inside one, and the history stays in order.
func TestBackfillBatchesNeverInterleaveWithTheCustomersLiveText(t *testing.T) {
	h := newBackfillHarness(t, 400, time.Second, nil)
	// One customer, 30 texts (three batches), each write 15 ms slow.
	var log []twiliotest.LogMessage
	for i := range 30 {
		log = append(log, twiliotest.LogMessage{From: bfCustomer(0), To: ourNumber, Body: fmt.Sprintf("h%03d is here", i*bfCustomers),
			Direction: twiliosms.DirectionInbound, DateSent: bfBase.Add(time.Duration(i*bfCustomers) * time.Minute)})
	}
	h.tw.AddHistory(log...)
	if err := h.ic.Fail("POST", "/conversations/*/reply", intercomtest.Fault{Latency: 15 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	runWorkers(t, h.r)
	var once sync.Once
	rep, err := h.r.Backfill(context.Background(), relay.BackfillOptions{Since: bfBase, Progress: func(p relay.BackfillProgress) {
		if p.Done >= 3 {
			once.Do(func() { h.text(bfCustomer(0), "live in the middle") })
		}
	}})
	if err != nil || rep.Imported != 30 {
		t.Fatalf("%+v, %v", rep, err)
	}
	h.waitIdle()
	th, _ := h.st.Thread(context.Background(), store.ThreadKey{Customer: bfCustomer(0), Sender: ourNumber})
	parts := contactParts(h.conversation(th.ConversationID))
	live := slices.IndexFunc(parts, func(b string) bool { return strings.Contains(b, "live in the middle") })
	if live < 0 || live%10 != 0 || live == 0 || live == 30 || len(parts) != 31 {
		t.Fatalf("the live text is part %d of %d: want it between two batches of 10", live, len(parts))
	}
	history := slices.Delete(slices.Clone(parts), live, live+1)
	for i, b := range history {
		if !strings.Contains(b, fmt.Sprintf("h%03d is here", i*bfCustomers)) {
			t.Fatalf("history part %d is %q: out of order", i, b)
		}
	}
}

// TestBackfillFinishesATextCutOffAfterItsRecord: a batch posted a
// customer's first text (starting their conversation) and recorded it,
// then failed before pointing the thread at the conversation and marking
// the text imported (as a process killed there leaves it), and the batch
// was dead-lettered. The next run finishes that text instead of counting
// it as carried live, so the history stays on one conversation.
func TestBackfillFinishesATextCutOffAfterItsRecord(t *testing.T) {
	fs := &faultyStore{Store: memstore.New(), left: map[string]int{"PutThread": 1}}
	h := newBackfillHarness(t, 400, time.Second, func(c *relay.Config) { c.Store = fs; c.MaxAttempts = 1 })
	h.st = fs.Store
	var log []twiliotest.LogMessage
	for i := range 3 {
		log = append(log, twiliotest.LogMessage{From: bfCustomer(0), To: ourNumber, Body: fmt.Sprintf("h%03d is here", i*bfCustomers),
			Direction: twiliosms.DirectionInbound, DateSent: bfBase.Add(time.Duration(i*bfCustomers) * time.Minute)})
	}
	h.tw.AddHistory(log...)
	runWorkers(t, h.r)
	ctx := context.Background()
	rep, err := h.r.Backfill(ctx, relay.BackfillOptions{Since: bfBase})
	if err != nil || rep.Imported != 0 || len(rep.Failed) != 3 {
		t.Fatalf("first run: %+v, %v; want its one batch failed", rep, err)
	}
	if n := len(h.ic.Conversations()); n != 1 {
		t.Fatalf("the first text is on %d conversations after the first run, want 1", n)
	}
	rep, err = h.r.Backfill(ctx, relay.BackfillOptions{Since: bfBase})
	if err != nil || rep.CarriedLive != 0 || rep.ToImport != 3 || rep.Imported != 3 {
		t.Errorf("second run: %+v, %v; want the three texts imported, none counted as carried live", rep, err)
	}
	h.waitIdle()
	convs := h.ic.Conversations()
	if len(convs) != 1 {
		t.Fatalf("the history is on %d conversations, want 1", len(convs))
	}
	if got := contactParts(convs[0]); len(got) != 3 {
		t.Errorf("the conversation holds %q, want the three texts", got)
	}
	rep, err = h.r.Backfill(ctx, relay.BackfillOptions{Since: bfBase})
	if err != nil || rep.AlreadyImported != 3 || rep.ToImport != 0 {
		t.Errorf("third run: %+v, %v; want all three already imported", rep, err)
	}
}
