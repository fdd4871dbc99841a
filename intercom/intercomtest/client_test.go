package intercomtest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smsrelay/smsrelay/intercom"
	"github.com/smsrelay/smsrelay/intercom/intercomtest"
)

// TestClientStaysWithinBudget drives 300 concurrent, mixed requests through
// intercom.Client with its sliding-window limiter scaled down to 30 per
// 300 ms, against a server enforcing exactly that budget: none may be
// rate-limited, all must succeed.
func TestClientStaysWithinBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping the 300-request budget run in -short mode")
	}
	const (
		total   = 300
		n       = 30
		window  = 300 * time.Millisecond
		workers = 12
	)
	s := intercomtest.NewServer(intercomtest.WithBudget(n, window))
	defer s.Close()
	c, err := intercom.NewClient(s.Token, intercom.WithBaseURL(s.URL),
		intercom.WithLimiter(intercom.NewWindowLimiter(n, window)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// Seed state directly; it costs no budget.
	tag, _ := s.AddTag("sms")
	var contacts []intercomtest.Contact
	var convs []string
	for i := range 4 {
		ct, err := s.AddContact(intercomtest.Contact{Role: "user", Phone: fmt.Sprintf("+1555100%04d", i)})
		if err != nil {
			t.Fatal(err)
		}
		conv, err := s.StartConversation(ct.ID, "hello")
		if err != nil {
			t.Fatal(err)
		}
		contacts = append(contacts, ct)
		convs = append(convs, conv.ID)
	}

	// Each operation is exactly one request when nothing is retried.
	ops := []func(i int) error{
		func(i int) error {
			got, err := c.SearchContactsByPhone(ctx, contacts[i%4].Phone)
			if err == nil && (len(got) != 1 || got[0].ID != contacts[i%4].ID) {
				err = fmt.Errorf("search found %v", got)
			}
			return err
		},
		func(i int) error {
			_, err := c.CreateContact(ctx, intercom.ContactCreate{Phone: fmt.Sprintf("+1555200%04d", i)})
			return err
		},
		func(i int) error { _, err := c.Contact(ctx, contacts[i%4].ID); return err },
		func(i int) error {
			_, err := c.CreateConversation(ctx, intercom.ConversationCreate{FromType: "user", FromID: contacts[i%4].ID, Body: "hi"})
			return err
		},
		func(i int) error {
			_, err := c.ReplyAsContact(ctx, convs[i%4], intercom.ContactReply{IntercomUserID: contacts[i%4].ID, Body: fmt.Sprint("reply ", i)})
			return err
		},
		func(i int) error { _, err := c.AddNote(ctx, convs[i%4], "991", "note"); return err },
		func(i int) error {
			_, err := c.Assign(ctx, convs[i%4], intercom.Assignment{AdminID: "991", AssigneeID: "992", AssigneeType: "admin"})
			return err
		},
		func(i int) error { _, err := c.Open(ctx, convs[i%4], "991"); return err },
		func(i int) error { return c.TagConversation(ctx, convs[i%4], tag.ID, "991") },
		func(i int) error { _, err := c.Conversation(ctx, convs[i%4]); return err },
	}

	// Intercom counts a request when it arrives; the limiter spaces them
	// by a transit margin so that delays on the way cannot bunch them. On
	// a machine so loaded that goroutines wake hundreds of milliseconds
	// late, the delays exceed any margin: watch for that.
	lateness := watchLateness(ctx)

	start := time.Now()
	var next atomic.Int64
	var failed atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, total)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= total {
					return
				}
				if err := ops[i%len(ops)](i); err != nil {
					failed.Add(1)
					errs <- fmt.Errorf("op %d: %w", i, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	elapsed := time.Since(start)
	for err := range errs {
		t.Error(err)
	}
	margin := intercom.TransitMargin(window)
	if got, late := s.RateLimited(), lateness(); got != 0 && late >= margin/2 {
		t.Skipf("the server answered 429 %d times, but goroutines woke up to %v late, too close to the limiter's %v transit margin for the test to tell",
			got, late, margin)
	}
	if got := s.RateLimited(); got != 0 {
		t.Errorf("the server answered 429 %d times; the client must stay within the budget", got)
	}
	reqs := s.Requests()
	if len(reqs) != total {
		t.Errorf("server saw %d requests for %d operations (retries?)", len(reqs), total)
	}
	for _, r := range reqs {
		if r.Status != http.StatusOK {
			t.Errorf("%s %s answered %d", r.Method, r.Path, r.Status)
		}
	}
	// Stay honest about the pacing: 300 requests at 30 per 300 ms need at
	// least 9 full windows.
	if min := time.Duration(total/n-1) * window; elapsed < min {
		t.Errorf("300 requests took %v, less than the %v the budget allows", elapsed, min)
	}
	t.Logf("%d requests in %v, %d failed", total, elapsed, failed.Load())
}

// watchLateness measures, until ctx ends, how late a goroutine sleeping
// 10 ms at a time wakes up; the function it returns reports the worst so far.
func watchLateness(ctx context.Context) func() time.Duration {
	var worst atomic.Int64
	go func() {
		const nap = 10 * time.Millisecond
		for ctx.Err() == nil {
			start := time.Now()
			time.Sleep(nap)
			if late := time.Since(start) - nap; late > time.Duration(worst.Load()) {
				worst.Store(int64(late))
			}
		}
	}()
	return func() time.Duration { return time.Duration(worst.Load()) }
}

// TestSpecConformance runs every client method against the fake, and a set
// of raw requests for the answers the client does not provoke, and checks
// each exchange against Intercom's OpenAPI description: the operation
// exists, headers and path parameters conform, the request body matches the
// requestBody schema, and the fake's answer matches the response schema.
func TestSpecConformance(t *testing.T) {
	sp := loadSpec(t)
	ctx := context.Background()
	s := intercomtest.NewServer()
	defer s.Close()
	c, rec := recordedClient(t, s)
	hc := &http.Client{Transport: rec, Timeout: 10 * time.Second} // raw requests, recorded too
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}

	// Every client method, including the 409 and 410 recoveries.
	tag, _ := s.AddTag("sms")
	found, err := c.SearchContactsByPhone(ctx, "+15551230001")
	must("SearchContactsByPhone", err)
	if len(found) != 0 {
		t.Fatalf("search found %v in an empty workspace", found)
	}
	lead, err := c.CreateContact(ctx, intercom.ContactCreate{Phone: "+15551230001", Name: "Ann"})
	must("CreateContact", err)
	again, err := c.CreateContact(ctx, intercom.ContactCreate{Phone: "+15551230001"})
	must("CreateContact (conflict)", err)
	if again.ID != lead.ID {
		t.Errorf("conflict recovery returned %s, want %s", again.ID, lead.ID)
	}
	user, err := c.CreateContact(ctx, intercom.ContactCreate{Role: "user", Phone: "+15551230002", ExternalID: "cust-9"})
	must("CreateContact (user)", err)
	found, err = c.SearchContactsByPhone(ctx, "+15551230001")
	must("SearchContactsByPhone", err)
	if len(found) != 1 || found[0].ID != lead.ID {
		t.Errorf("search = %+v", found)
	}
	_, err = c.Contact(ctx, lead.ID)
	must("Contact", err)
	must("MergeContact", s.MergeContact(lead.ID, user.ID))
	canon, err := c.Contact(ctx, lead.ID)
	must("Contact (merged)", err)
	if canon.ID != user.ID {
		t.Errorf("merged contact resolved to %s, want %s", canon.ID, user.ID)
	}
	msg, err := c.CreateConversation(ctx, intercom.ConversationCreate{FromType: "user", FromID: user.ID, Body: "hello",
		AttachmentURLs: []string{"https://media.example.com/1.jpg"}})
	must("CreateConversation", err)
	convID := msg.ConversationID
	conv, err := c.ReplyAsContact(ctx, convID, intercom.ContactReply{IntercomUserID: user.ID, Body: "more",
		AttachmentURLs: []string{"https://media.example.com/2.png"}})
	must("ReplyAsContact", err)
	if conv.ID != convID || len(conv.Parts) != 1 || conv.Parts[0].Body != "<p>more</p>" || len(conv.Parts[0].Attachments) != 1 {
		t.Errorf("reply answer = %+v", conv)
	}
	_, err = c.AddNote(ctx, convID, "991", "internal")
	must("AddNote", err)
	conv, err = c.Assign(ctx, convID, intercom.Assignment{AdminID: "991", AssigneeID: "992", AssigneeType: "admin"})
	must("Assign admin", err)
	if conv.AdminAssigneeID != "992" {
		t.Errorf("AdminAssigneeID = %q", conv.AdminAssigneeID)
	}
	conv, err = c.Assign(ctx, convID, intercom.Assignment{AdminID: "991", AssigneeID: "7", AssigneeType: "team"})
	must("Assign team", err)
	if conv.TeamAssigneeID != "7" {
		t.Errorf("TeamAssigneeID = %q", conv.TeamAssigneeID)
	}
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer rc.Close()
	_, _, err = s.CloseConversation(ctx, rc.URL, convID, "991")
	must("CloseConversation", err)
	conv, err = c.Open(ctx, convID, "991")
	must("Open", err)
	if conv.State != "open" {
		t.Errorf("state after Open = %q", conv.State)
	}
	must("TagConversation", c.TagConversation(ctx, convID, tag.ID, "991"))
	conv, err = c.Conversation(ctx, convID)
	must("Conversation", err)
	if len(conv.Parts) != 6 {
		t.Errorf("conversation has %d parts, want 6", len(conv.Parts))
	}
	found2, err := c.SearchConversationsByContact(ctx, user.ID, time.Now().Add(-time.Minute))
	must("SearchConversationsByContact", err)
	if len(found2) != 1 || found2[0].ID != convID || found2[0].Source.Body != "<p>hello</p>" || found2[0].Source.Author.ID != user.ID {
		t.Errorf("conversation search = %+v", found2)
	}
	_, err = c.Conversation(ctx, "424242")
	if !errors.Is(err, intercom.ErrNotFound) {
		t.Errorf("unknown conversation: err = %v, want ErrNotFound", err)
	}
	_, err = c.CreateConversation(ctx, intercom.ConversationCreate{FromID: "0123456789abcdef01234567", Body: "x"})
	if !errors.Is(err, intercom.ErrNotFound) {
		t.Errorf("unknown contact: err = %v, want ErrNotFound", err)
	}

	// Raw requests for answers the client does not provoke.
	raw := func(method, path, body string, authenticated bool, invalid ...bool) {
		t.Helper()
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req, _ := http.NewRequest(method, s.URL+path, rd)
		if authenticated {
			req.Header.Set("Authorization", "Bearer "+s.Token)
		}
		req.Header.Set("Accept", "application/json")
		req.Header.Set("Intercom-Version", "2.16")
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if len(invalid) > 0 && invalid[0] {
			req.Header.Set("X-Test-Deliberately-Invalid", "1")
		}
		resp, err := hc.Do(req)
		must(method+" "+path, err)
		resp.Body.Close()
	}
	until := time.Now().Add(time.Hour).Unix()
	raw("POST", "/conversations/"+convID+"/parts", `{"message_type":"close","type":"admin","admin_id":"991","body":"Goodbye"}`, true)
	raw("POST", "/conversations/"+convID+"/parts", fmt.Sprintf(`{"message_type":"snoozed","admin_id":"991","snoozed_until":%d}`, until), true)
	raw("POST", "/conversations/"+convID+"/reply", `{"message_type":"comment","type":"user","user_id":"cust-9","body":"by external id"}`, true)
	raw("POST", "/conversations/"+convID+"/reply", `{"message_type":"comment","type":"admin","admin_id":"991","body":"<p>hi</p>"}`, true)
	raw("POST", "/conversations/424242/reply", `{"message_type":"note","type":"admin","admin_id":"991","body":"x"}`, true)
	raw("POST", "/conversations/424242/parts", `{"message_type":"open","admin_id":"991"}`, true)
	raw("POST", "/conversations/424242/tags", `{"id":"`+tag.ID+`","admin_id":"991"}`, true)
	raw("GET", "/conversations/"+convID+"?display_as=plaintext", "", true)
	raw("GET", "/conversations/"+convID, "", false)
	raw("GET", "/contacts/"+user.ID, "", false)
	raw("POST", "/contacts/search", `{"query":{"field":"role","operator":"=","value":"lead"},"pagination":{"per_page":1}}`, true)
	raw("POST", "/contacts/search", `{"query":{"field":"phone","operator":"=","value":"+1"},"sort":{"field":"name","order":"desc"}}`, true, true)
	raw("POST", "/contacts", `{"role":"lead","phone":"+15551230003"}`, true)
	raw("POST", "/contacts/search", `{"query":{"field":"phone","operator":"=","value":"+1"}}`, false)
	raw("POST", "/conversations/search", `{"query":{"operator":"OR","value":[{"field":"state","operator":"=","value":"closed"},{"field":"source.author.id","operator":"=","value":"`+user.ID+`"}]},"pagination":{"per_page":1}}`, true)
	raw("POST", "/conversations/search", `{"query":{"field":"created_at","operator":">","value":"yesterday"}}`, true)
	raw("POST", "/conversations/search", `{"query":{"field":"id","operator":"=","value":"`+convID+`"}}`, false)

	xs := rec.exchanges()
	if got := len(s.Requests()); got != len(xs) {
		t.Errorf("the server saw %d requests, the transport %d", got, len(xs))
	}
	ops := map[string]bool{}
	var problems []string
	for _, x := range xs {
		problems = append(problems, sp.checkExchange(x, s.Token)...)
		if o, _ := sp.find(x.method, x.path); o != nil {
			ops[fmt.Sprintf("%s %d", o.op["operationId"], x.status)] = true
		}
	}
	for _, p := range problems {
		t.Error(p)
	}
	// The run must have covered every operation the fake implements, with
	// its error answers.
	for _, want := range []string{
		"SearchContacts 200", "SearchContacts 400", "SearchContacts 401",
		"CreateContact 200", "CreateContact 409",
		"ShowContact 200", "ShowContact 410", "ShowContact 401",
		"createConversation 200", "createConversation 404",
		"replyConversation 200", "replyConversation 404",
		"manageConversation 200", "manageConversation 404",
		"attachTagToConversation 200", "attachTagToConversation 404",
		"retrieveConversation 200", "retrieveConversation 404", "retrieveConversation 401",
		"searchConversations 200", "searchConversations 400", "searchConversations 401",
	} {
		if !ops[want] {
			t.Errorf("the run did not exercise %s", want)
		}
	}

	// Webhook items are Conversations too.
	var mu sync.Mutex
	var items []json.RawMessage
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var env struct {
			Data struct {
				Item json.RawMessage `json:"item"`
			} `json:"data"`
		}
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &env)
		mu.Lock()
		items = append(items, env.Data.Item)
		mu.Unlock()
	}))
	defer hook.Close()
	_, _, err = s.AdminReply(ctx, hook.URL, convID, "991", "hello", "https://files.example.com/a.pdf")
	must("AdminReply", err)
	_, _, err = s.BotReply(ctx, hook.URL, convID, "bot")
	must("BotReply", err)
	convSchema, err := sp.resolve("#/components/schemas/conversation")
	must("conversation schema", err)
	mu.Lock()
	defer mu.Unlock()
	if len(items) != 3 {
		t.Fatalf("got %d webhook items, want 3", len(items))
	}
	for i, it := range items {
		v, err := decodeJSON(it)
		must("webhook item", err)
		for _, p := range sp.validate(convSchema, v, fmt.Sprintf("webhook item %d", i)) {
			t.Error(p)
		}
	}
}

// TestFindConversationAfterAmbiguousCreate plays the case the conversation
// search exists for: Intercom creates the conversation but the answer is
// lost (502). The client does not retry; the caller searches and finds the
// conversation instead of creating a second one. The fake answers oldest
// first; the client puts the newest first.
func TestFindConversationAfterAmbiguousCreate(t *testing.T) {
	s := intercomtest.NewServer()
	defer s.Close()
	c, err := intercom.NewClient(s.Token, intercom.WithBaseURL(s.URL),
		intercom.WithRetry(intercom.RetryPolicy{InitialInterval: time.Millisecond, MaxInterval: 5 * time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ct, _ := s.AddContact(intercomtest.Contact{Phone: "+15551230001"})
	older, _ := s.StartConversation(ct.ID, "an old thread")
	other, _ := s.AddContact(intercomtest.Contact{Phone: "+15551230002"})
	if _, err := s.StartConversation(other.ID, "someone else"); err != nil {
		t.Fatal(err)
	}

	since := time.Now().Add(-time.Minute)
	if err := s.Fail("POST", "/conversations", intercomtest.Fault{Status: 502, Commit: true, Times: 1}); err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateConversation(ctx, intercom.ConversationCreate{FromID: ct.ID, Body: "Is my order shipped?"})
	if !intercom.IsAmbiguous(err) {
		t.Fatalf("CreateConversation: err = %v, want an ambiguous failure", err)
	}
	found, err := c.SearchConversationsByContact(ctx, ct.ID, since)
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 2 || found[1].ID != older.ID || found[0].Source.Body != "<p>Is my order shipped?</p>" ||
		found[0].Source.Author.ID != ct.ID || len(found[0].Contacts) != 1 || found[0].Contacts[0].ID != ct.ID {
		t.Fatalf("found %+v, want the new conversation, then the old one", found)
	}
	if n := len(s.Conversations()); n != 3 {
		t.Errorf("the server holds %d conversations, want 3", n)
	}
	// A since after the old thread leaves it out (whole seconds: wait for
	// the next one).
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
	later, err := c.SearchConversationsByContact(ctx, ct.ID, time.Now())
	if err != nil || len(later) != 0 {
		t.Errorf("search from now = %+v, %v; want none", later, err)
	}
	var searches int
	for _, r := range s.Requests() {
		if r.Path == "/conversations/search" {
			searches++
		}
	}
	if searches != 2 {
		t.Errorf("%d search requests, want 2", searches)
	}
}

// A CreateConversation whose context ends after Intercom received it, while
// the answer is still on its way, may have created the conversation: the
// error says so (IsAmbiguous) and still reads as the context's end.
func TestCreateConversationCancelledInFlightIsAmbiguous(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault intercomtest.Fault
		ctx   func() (context.Context, context.CancelFunc)
		want  error
	}{
		{"cancelled during a slow answer", intercomtest.Fault{Commit: true, Latency: 20 * time.Second, Times: 1},
			func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) }, context.Canceled},
		{"deadline during an answer that never comes", intercomtest.Fault{Commit: true, Hang: true, Times: 1},
			func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 3*time.Second)
			}, context.DeadlineExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := intercomtest.NewServer()
			defer s.Close()
			c, err := intercom.NewClient(s.Token, intercom.WithBaseURL(s.URL))
			if err != nil {
				t.Fatal(err)
			}
			ct, _ := s.AddContact(intercomtest.Contact{Phone: "+15551230003"})
			if err := s.Fail("POST", "/conversations", tc.fault); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := tc.ctx()
			defer cancel()
			errc := make(chan error, 1)
			go func() {
				_, err := c.CreateConversation(ctx, intercom.ConversationCreate{FromID: ct.ID, Body: "Is my order shipped?"})
				errc <- err
			}()
			// End the context once the server has applied the request and
			// holds its answer back.
			for len(s.Conversations()) == 0 {
				select {
				case err := <-errc:
					t.Fatalf("CreateConversation returned before the server applied it: %v", err)
				case <-time.After(5 * time.Millisecond):
				}
			}
			if tc.want == context.Canceled {
				cancel()
			}
			select {
			case err = <-errc:
			case <-time.After(10 * time.Second):
				t.Fatal("CreateConversation did not return after its context ended")
			}
			if !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want it to match %v", err, tc.want)
			}
			if !intercom.IsAmbiguous(err) {
				t.Errorf("IsAmbiguous(%v) = false; the conversation exists", err)
			}
			if intercom.IsRetryable(err) {
				t.Errorf("IsRetryable(%v) = true after the caller's context ended", err)
			}
			if n := len(s.Conversations()); n != 1 {
				t.Errorf("the server holds %d conversations, want 1", n)
			}
		})
	}
}

// A request whose context ends before it was sent is not ambiguous:
// Intercom never saw it.
func TestCancelledBeforeSendingIsNotAmbiguous(t *testing.T) {
	for _, tc := range []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		want error
	}{
		{"cancelled while waiting for the limiter", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(100*time.Millisecond, cancel)
			return ctx, cancel
		}, context.Canceled},
		{"deadline before the limiter's next slot", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 20*time.Second)
		}, context.DeadlineExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := intercomtest.NewServer()
			defer s.Close()
			// One request per 30 s: the second call waits on the limiter.
			c, err := intercom.NewClient(s.Token, intercom.WithBaseURL(s.URL),
				intercom.WithLimiter(intercom.NewWindowLimiter(1, 30*time.Second)))
			if err != nil {
				t.Fatal(err)
			}
			ct, _ := s.AddContact(intercomtest.Contact{Phone: "+15551230004"})
			if _, err := c.CreateConversation(context.Background(), intercom.ConversationCreate{FromID: ct.ID, Body: "first"}); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := tc.ctx()
			defer cancel()
			_, err = c.CreateConversation(ctx, intercom.ConversationCreate{FromID: ct.ID, Body: "second"})
			if !errors.Is(err, tc.want) || intercom.IsAmbiguous(err) {
				t.Errorf("err = %v (ambiguous %v), want %v, not ambiguous", err, intercom.IsAmbiguous(err), tc.want)
			}
			if n := len(s.Conversations()); n != 1 || len(s.Requests()) != 1 {
				t.Errorf("the server holds %d conversations after %d requests, want 1 and 1", n, len(s.Requests()))
			}
		})
	}
}
