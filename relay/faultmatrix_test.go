package relay_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
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

// The fault matrix of RELIABILITY.md: one subtest per row that the relay
// package can show on its own. Each injects the fault into the fakes or the
// store and checks the outcome the row states: the customer's text in
// Intercom exactly once, the agent's reply on the phone exactly once, or a
// note telling the agent why not.

const matrixTimeout = 300 * time.Millisecond

// shortTimeouts gives the relay clients that give up after matrixTimeout,
// so that "slower than the client's timeout" is quick to test.
func shortTimeouts(t testing.TB) func(*relay.Config, *intercomtest.Server) {
	return func(c *relay.Config, ic *intercomtest.Server) {
		icClient, err := intercom.NewClient(ic.Token,
			intercom.WithBaseURL(ic.URL),
			intercom.WithHTTPClient(&http.Client{Timeout: matrixTimeout}),
			intercom.WithRetry(intercom.RetryPolicy{MaxAttempts: 2, InitialInterval: 5 * time.Millisecond, MaxInterval: 20 * time.Millisecond}))
		if err != nil {
			t.Fatal(err)
		}
		c.Intercom = icClient
	}
}

// shortTwilioTimeout does the same for the Twilio client.
func shortTwilioTimeout(t testing.TB, tw *twiliotest.Server) func(*relay.Config, *intercomtest.Server) {
	return func(c *relay.Config, _ *intercomtest.Server) {
		twClient, err := twiliosms.NewClient(tw.AccountSID, tw.AuthToken,
			twiliosms.WithBaseURL(tw.URL), twiliosms.WithTimeout(matrixTimeout))
		if err != nil {
			t.Fatal(err)
		}
		c.Twilio = twClient
	}
}

// textOnce checks that body reached Intercom exactly once, in one
// conversation.
func textOnce(t *testing.T, h *harness, body string) {
	t.Helper()
	c := h.onlyConversation()
	n := 0
	for _, b := range contactParts(c) {
		if strings.Contains(b, body) {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("text %q is in Intercom %d times, want 1 (parts %q)", body, n, contactParts(c))
	}
}

// sentOnce checks that exactly one text with body reached Twilio.
func sentOnce(t *testing.T, h *harness, body string) {
	t.Helper()
	n := 0
	for _, m := range h.sent() {
		if strings.Contains(m.Body, body) {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("reply %q sent %d times, want 1", body, n)
	}
}

// noted checks that the conversation holds exactly one note containing
// each of want.
func noted(t *testing.T, h *harness, convID string, want ...string) {
	t.Helper()
	n := 0
	for _, b := range notes(h.conversation(convID)) {
		all := true
		for _, w := range want {
			all = all && strings.Contains(b, w)
		}
		if all {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d notes containing %q, want 1: %q", n, want, notes(h.conversation(convID)))
	}
}

func mustFail(t *testing.T, ic *intercomtest.Server, method, pattern string, f intercomtest.Fault) {
	t.Helper()
	if err := ic.Fail(method, pattern, f); err != nil {
		t.Fatal(err)
	}
}

// budget1s makes the fake's budget window one second, so that a 429's
// X-RateLimit-Reset (the end of the window) is at most a second or two
// away, as Intercom's is at most ten.
var budget1s = []intercomtest.Option{intercomtest.WithBudget(1000, time.Second), ownHooks()}

// ownHooks gives a fake Intercom its own connections for webhooks. Parallel
// tests must not share http.DefaultTransport: an httptest server's Close
// closes its idle connections, breaking another test's request in flight.
func ownHooks() intercomtest.Option {
	return intercomtest.WithWebhookClient(&http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{}})
}

// sendStatus posts a signed status callback for sid, as Twilio does, on the
// harness's own connections.
func sendStatus(t *testing.T, h *harness, sid, status string, code int) {
	t.Helper()
	form, err := h.tw.StatusForm(sid, status, code)
	if err != nil {
		t.Fatal(err)
	}
	st, _, err := twiliotest.Post(context.Background(), h.srv.Client(), h.token, h.srv.URL+"/twilio/status", form)
	if err != nil || st != http.StatusOK {
		t.Fatalf("status callback answered %d, %v", st, err)
	}
}

func TestFaultMatrixIntercom(t *testing.T) {
	// Faults on starting a conversation (the customer's first text).
	for _, tc := range []struct {
		name  string
		fault intercomtest.Fault
		short bool
	}{
		{"500", intercomtest.Fault{Status: 500, Times: 2}, false},
		{"502", intercomtest.Fault{Status: 502, Times: 2}, false},
		{"503", intercomtest.Fault{Status: 503, Times: 2}, false},
		{"429 storm", intercomtest.Fault{Status: 429, Times: 4}, false},
		{"dropped connection", intercomtest.Fault{Drop: true, Times: 2}, false},
		{"slower than the client timeout", intercomtest.Fault{Latency: 3 * matrixTimeout, Times: 1}, true},
		{"502 after applying", intercomtest.Fault{Commit: true, Status: 502, Times: 1}, false},
		{"dropped after applying", intercomtest.Fault{Commit: true, Drop: true, Times: 1}, false},
		{"answer lost past the timeout after applying", intercomtest.Fault{Commit: true, Latency: 3 * matrixTimeout, Times: 1}, true},
	} {
		t.Run("start/"+tc.name, func(t *testing.T) {
			t.Parallel()
			var cfg func(*relay.Config, *intercomtest.Server)
			if tc.short {
				cfg = shortTimeouts(t)
			}
			h := newHarness(t, budget1s, cfg)
			mustFail(t, h.ic, "POST", "/conversations", tc.fault)
			h.text(customer, "first words")
			h.drain()
			textOnce(t, h, "first words")
		})
		// The same faults on a follow-up text (a reply from the contact).
		t.Run("follow-up/"+tc.name, func(t *testing.T) {
			t.Parallel()
			var cfg func(*relay.Config, *intercomtest.Server)
			if tc.short {
				cfg = shortTimeouts(t)
			}
			h := newHarness(t, budget1s, cfg)
			h.text(customer, "first words")
			h.drain()
			mustFail(t, h.ic, "POST", "/conversations/*/reply", tc.fault)
			h.text(customer, "second words")
			h.drain()
			textOnce(t, h, "second words")
		})
		// And on the note that tells agents a reply was not delivered.
		t.Run("note/"+tc.name, func(t *testing.T) {
			t.Parallel()
			var cfg func(*relay.Config, *intercomtest.Server)
			if tc.short {
				cfg = shortTimeouts(t)
			}
			h := newHarness(t, budget1s, cfg)
			h.text(customer, "first words")
			h.drain()
			c := h.onlyConversation()
			h.reply(c.ID, "on its way")
			h.drain()
			mustFail(t, h.ic, "POST", "/conversations/*/reply", tc.fault)
			sendStatus(t, h, h.sent()[0].SID, "undelivered", 30003)
			h.drain()
			// A lost answer to adding a note may leave two: the relay does
			// not look for notes before repeating one (it prefers a
			// duplicate note to a missing one).
			if tc.fault.Commit {
				if n := len(notes(h.conversation(c.ID))); n < 1 || n > 2 {
					t.Fatalf("%d notes, want 1 or 2", n)
				}
				return
			}
			noted(t, h, c.ID, "30003")
		})
	}
}

func TestFaultMatrixTwilio(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault twiliotest.Fault
		times int
		short bool
	}{
		{"500", twiliotest.Fault{Code: 20500, Status: 500}, 2, false},
		{"503", twiliotest.Fault{Code: 20503, Status: 503}, 2, false},
		{"429", twiliotest.Fault{Status: 429, Code: 20429}, 4, false},
		{"dropped connection", twiliotest.Fault{Drop: true}, 2, false},
		{"503 after accepting", twiliotest.Fault{Accept: true, Code: 20500, Status: 503}, 1, false},
		{"answer lost after accepting", twiliotest.Fault{Accept: true, Drop: true}, 1, false},
		{"answer past the timeout after accepting", twiliotest.Fault{Accept: true, Latency: 3 * matrixTimeout}, 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tw := twiliotest.NewServer()
			t.Cleanup(tw.Close)
			var cfg func(*relay.Config, *intercomtest.Server)
			if tc.short {
				cfg = shortTwilioTimeout(t, tw)
			}
			h := newHarness(t, []intercomtest.Option{ownHooks()}, cfg)
			if tc.short {
				h.tw = tw // the relay sends through this one
			}
			h.text(customer, "hello")
			h.drain()
			for range tc.times {
				h.tw.Fail(tc.fault)
			}
			h.reply(h.onlyConversation().ID, "your parcel ships today")
			h.drain()
			sentOnce(t, h, "your parcel ships today")
		})
	}

	// Refusals for good: no retry, a note with the code, and for 21610 the
	// customer is taken as opted out.
	for _, code := range []int{21610, 21614, 21211} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			h := newHarness(t, nil, nil)
			h.text(customer, "hello")
			h.drain()
			c := h.onlyConversation()
			h.tw.FailTo(customer, twiliotest.Fault{Code: code})
			h.reply(c.ID, "first reply")
			h.drain()
			if n := len(h.sent()); n != 0 {
				t.Fatalf("%d texts sent, want 0", n)
			}
			if a := h.tw.Attempts(); a != 1 {
				t.Fatalf("%d attempts, want 1 (a refusal for good is not retried)", a)
			}
			noted(t, h, c.ID, fmt.Sprint(code))
		})
	}

	t.Run("30007 undelivered", func(t *testing.T) {
		h := newHarness(t, nil, nil)
		h.text(customer, "hello")
		h.drain()
		c := h.onlyConversation()
		h.reply(c.ID, "a reply carriers filter")
		h.drain()
		sid := h.sent()[0].SID
		for range 2 { // Twilio may call back twice
			sendStatus(t, h, sid, "undelivered", 30007)
		}
		h.drain()
		noted(t, h, c.ID, "30007")
	})
}

// countText counts the customer's parts holding body in every conversation.
func countText(h *harness, body string) int {
	n := 0
	for _, c := range h.ic.Conversations() {
		for _, b := range contactParts(c) {
			if strings.Contains(b, body) {
				n++
			}
		}
	}
	return n
}

// faultyStore fails or holds the first calls of chosen methods.
type faultyStore struct {
	*memstore.Store
	mu   sync.Mutex
	left map[string]int // method → failures left
	hang bool           // hold the call until its context ends instead of failing
}

var errStoreDown = errors.New("store unavailable")

func (f *faultyStore) fault(ctx context.Context, method string) error {
	f.mu.Lock()
	n := f.left[method]
	if n > 0 {
		f.left[method] = n - 1
	}
	f.mu.Unlock()
	if n == 0 {
		return nil
	}
	if f.hang {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Second):
			return errStoreDown // a hang that outlives a context-free caller still ends
		}
	}
	return errStoreDown
}

func (f *faultyStore) SetContact(ctx context.Context, phone, id string) error {
	if err := f.fault(ctx, "SetContact"); err != nil {
		return err
	}
	return f.Store.SetContact(ctx, phone, id)
}

func (f *faultyStore) PutThread(ctx context.Context, t store.Thread) error {
	if err := f.fault(ctx, "PutThread"); err != nil {
		return err
	}
	return f.Store.PutThread(ctx, t)
}

func (f *faultyStore) PutMessage(ctx context.Context, m store.Message) error {
	if err := f.fault(ctx, "PutMessage"); err != nil {
		return err
	}
	return f.Store.PutMessage(ctx, m)
}

func (f *faultyStore) AdvanceMessageStatus(ctx context.Context, sid, status string, code int) (store.Message, bool, error) {
	if err := f.fault(ctx, "AdvanceMessageStatus"); err != nil {
		return store.Message{}, false, err
	}
	return f.Store.AdvanceMessageStatus(ctx, sid, status, code)
}

func (f *faultyStore) Mark(ctx context.Context, marker string) error {
	if err := f.fault(ctx, "Mark"); err != nil {
		return err
	}
	return f.Store.Mark(ctx, marker)
}

func (f *faultyStore) Enqueue(ctx context.Context, j store.NewJob) (store.Job, error) {
	if err := f.fault(ctx, "Enqueue"); err != nil {
		return store.Job{}, err
	}
	return f.Store.Enqueue(ctx, j)
}

func (f *faultyStore) Complete(ctx context.Context, j store.Job) error {
	if err := f.fault(ctx, "Complete"); err != nil {
		return err
	}
	return f.Store.Complete(ctx, j)
}

func (f *faultyStore) Retry(ctx context.Context, j store.Job, d time.Duration, reason string) error {
	if err := f.fault(ctx, "Retry"); err != nil {
		return err
	}
	return f.Store.Retry(ctx, j, d, reason)
}

// postUntilAccepted posts a Twilio webhook until it is answered 200, as
// Twilio's retries would, and returns how many answers were not.
func postUntilAccepted(t *testing.T, h *harness, form map[string][]string, path string) int {
	t.Helper()
	refused := 0
	for range 20 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*matrixTimeout)
		st, _, err := twiliotest.Post(ctx, h.srv.Client(), h.token, h.srv.URL+path, form)
		cancel()
		if err == nil && st == http.StatusOK {
			return refused
		}
		if err == nil && st != http.StatusServiceUnavailable {
			t.Fatalf("webhook answered %d, want 200 or 503", st)
		}
		refused++
	}
	t.Fatal("webhook never accepted")
	return refused
}

func TestFaultMatrixStore(t *testing.T) {
	for _, hang := range []bool{false, true} {
		for _, method := range []string{"Enqueue", "SetContact", "PutThread", "PutMessage", "AdvanceMessageStatus", "Mark", "Complete", "Retry"} {
			name := method + " fails"
			if hang {
				name = method + " hangs"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				fs := &faultyStore{Store: memstore.New(), left: map[string]int{}, hang: hang}
				h := newHarness(t, []intercomtest.Option{ownHooks()}, func(c *relay.Config, _ *intercomtest.Server) {
					c.Store, c.Queue = fs, fs
					c.Lease = time.Second
				})
				fs.mu.Lock()
				fs.left[method] = 1
				fs.mu.Unlock()
				refused := postUntilAccepted(t, h, twiliotest.InboundForm(customer, ourNumber, "first words"), "/twilio/messages")
				if method == "Enqueue" && refused == 0 {
					t.Fatal("a failed enqueue was answered 200")
				}
				h.drain()
				// A record that fails right after the side effect it records
				// leaves the unsure marker written before the attempt: the
				// retry looks before repeating, and finds it.
				if n := len(h.ic.Conversations()); n != 1 {
					t.Fatalf("%d conversations, want 1", n)
				}
				if n := countText(h, "first words"); n != 1 {
					t.Fatalf("text in Intercom %d times, want 1", n)
				}
				c := h.ic.Conversations()[len(h.ic.Conversations())-1]

				fs.mu.Lock()
				fs.left[method] = 1
				fs.mu.Unlock()
				for {
					_, st, err := h.ic.AdminReply(context.Background(), h.webhookURL(), c.ID, adminID, "a reply")
					if err == nil && st == http.StatusOK {
						break
					}
					if st != http.StatusServiceUnavailable {
						t.Fatal(st, err)
					}
					// Intercom retries a delivery that was not answered 2xx.
					ds := h.ic.Deliveries()
					if st, err := h.ic.Redeliver(context.Background(), h.webhookURL(), ds[len(ds)-1].NotificationID); err == nil && st == http.StatusOK {
						break
					}
				}
				h.drain()
				// A record that fails right after the send leaves the send
				// unrecorded but marked unsure: the retry finds it in
				// Twilio's list.
				n := 0
				for _, m := range h.sent() {
					if m.Body == "a reply" {
						n++
					}
				}
				if n != 1 {
					t.Fatalf("reply sent %d times, want 1", n)
				}

				fs.mu.Lock()
				fs.left[method] = 1
				fs.mu.Unlock()
				sid := h.sent()[len(h.sent())-1].SID // the one the relay recorded
				form, err := h.tw.StatusForm(sid, "undelivered", 30003)
				if err != nil {
					t.Fatal(err)
				}
				postUntilAccepted(t, h, form, "/twilio/status")
				h.drain()
				if got := len(notes(h.conversation(c.ID))); got < 1 {
					t.Fatalf("no note about the undelivered reply")
				}
				if s, err := h.r.Stats(context.Background()); err != nil || s.Dead != 0 {
					t.Fatalf("stats %+v, %v: want no dead letters", s, err)
				}
			})
		}
	}
}
