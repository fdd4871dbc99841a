package relay_test

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/smsrelay/smsrelay/intercom"
	"github.com/smsrelay/smsrelay/intercom/intercomtest"
	"github.com/smsrelay/smsrelay/relay"
	"github.com/smsrelay/smsrelay/store"
	"github.com/smsrelay/smsrelay/store/memstore"
	"github.com/smsrelay/smsrelay/twiliosms"
	"github.com/smsrelay/smsrelay/twiliosms/twiliotest"
)

const identityPrompt = "Which email do you use with us?"

// identityHarness is a harness with the identity bridge on; change may
// adjust the bridge.
func identityHarness(t *testing.T, change func(*relay.IdentityBridge), more ...func(*relay.Config)) *harness {
	t.Helper()
	return newHarness(t, nil, func(c *relay.Config, _ *intercomtest.Server) {
		b := &relay.IdentityBridge{Prompt: identityPrompt, WorkspaceID: "ws1"}
		if change != nil {
			change(b)
		}
		c.Identity = b
		for _, f := range more {
			f(c)
		}
	})
}

// prompts counts the prompts Twilio was asked to send to to.
func (h *harness) prompts(to string) int {
	n := 0
	for _, m := range h.sent() {
		if m.To == to && m.Body == identityPrompt {
			n++
		}
	}
	return n
}

// addUser adds a user with an email to the fake.
func (h *harness) addUser(name, email string, updated time.Time) intercomtest.Contact {
	h.t.Helper()
	u, err := h.ic.AddContact(intercomtest.Contact{Role: "user", Name: name, Email: email, CreatedAt: updated})
	if err != nil {
		h.t.Fatal(err)
	}
	return u
}

// notesWith returns the notes of conversation id that contain s.
func (h *harness) notesWith(id, s string) []string {
	h.t.Helper()
	var out []string
	for _, n := range notes(h.conversation(id)) {
		if strings.Contains(n, s) {
			out = append(out, n)
		}
	}
	return out
}

// leadOf returns the one lead the fake holds with the customer's phone
// (merged or not; a user it was merged into takes the phone too).
func (h *harness) leadOf(phone string) intercomtest.Contact {
	h.t.Helper()
	var found []intercomtest.Contact
	for _, c := range h.ic.Contacts() {
		if c.Phone == phone && c.Role == "lead" {
			found = append(found, c)
		}
	}
	if len(found) != 1 {
		h.t.Fatalf("Intercom holds %d leads with the customer's phone, want 1: %+v", len(found), found)
	}
	return found[0]
}

// An unknown number is asked once; its next text, without an address,
// ends the bridge for it: no merge, never asked again.
func TestIdentityPromptOnceThenAnswerWithoutEmail(t *testing.T) {
	h := identityHarness(t, nil)
	h.text(customer, "Hi, is my order ready?")
	h.drain()
	if n := h.prompts(customer); n != 1 {
		t.Fatalf("%d prompts after the first text, want 1", n)
	}
	conv := h.onlyConversation()
	if got := h.notesWith(conv.ID, "we asked the customer by SMS"); len(got) != 1 || !strings.Contains(got[0], identityPrompt) {
		t.Errorf("prompt notes = %q, want one quoting the prompt", got)
	}
	h.text(customer, "No thanks")
	h.drain()
	h.text(customer, "Just tell me about my order")
	h.drain()
	if n := h.prompts(customer); n != 1 {
		t.Errorf("%d prompts after three texts, want 1", n)
	}
	conv = h.onlyConversation()
	if got := h.notesWith(conv.ID, "holds no address"); len(got) != 1 {
		t.Errorf("no-address notes = %q, want one", got)
	}
	if n := len(notes(conv)); n != 2 {
		t.Errorf("%d notes, want 2 (the prompt, the answer without address): %q", n, notes(conv))
	}
	if got := contactParts(conv); len(got) != 3 {
		t.Errorf("customer's texts on the conversation = %q, want all 3 (the answer is never swallowed)", got)
	}
	if lead := h.leadOf(customer); lead.Role != "lead" || lead.MergedInto != "" {
		t.Errorf("contact = %+v, want the lead, unmerged", lead)
	}
}

// An answer with a user's address merges the lead into the user; the
// conversation and the next texts are the user's, and the number is never
// asked again.
func TestIdentityAnswerMergesIntoUser(t *testing.T) {
	h := identityHarness(t, func(b *relay.IdentityBridge) { b.SkipDuplicateValidation = true })
	old := time.Now().Add(-24 * time.Hour)
	user := h.addUser("Ann Lee", "ann@example.com", old)
	h.text(customer, "Hello")
	h.drain()
	lead := h.leadOf(customer)
	h.text(customer, "Sure, it's Ann@Example.com.")
	h.drain()

	if c, _ := h.ic.Contact(lead.ID); c.MergedInto != user.ID {
		t.Fatalf("lead %s merged into %q, want the user %s", lead.ID, c.MergedInto, user.ID)
	}
	conv := h.onlyConversation()
	if !slices.Equal(conv.ContactIDs, []string{user.ID}) {
		t.Errorf("conversation belongs to %v, want the user %s", conv.ContactIDs, user.ID)
	}
	merged := h.notesWith(conv.ID, "now belongs to")
	if len(merged) != 1 || !strings.Contains(merged[0], "Ann Lee") || !strings.Contains(merged[0], lead.ID) ||
		!strings.Contains(merged[0], "https://app.intercom.com/a/apps/ws1/users/"+user.ID) {
		t.Errorf("merge notes = %q, want one naming the user, with a link, and the lead", merged)
	}
	if id, err := h.st.Contact(context.Background(), customer); err != nil || id != user.ID {
		t.Errorf("stored contact = %q, %v; want the user", id, err)
	}

	// The next text threads on the same conversation, as the user.
	h.text(customer, "Thanks!")
	h.drain()
	conv = h.onlyConversation()
	last := conv.Parts[len(conv.Parts)-1]
	if last.Author.ID != user.ID || !strings.Contains(last.Body, "Thanks!") {
		t.Errorf("last part = %+v, want the text by the user", last)
	}
	if n := h.prompts(customer); n != 1 {
		t.Errorf("%d prompts, want 1", n)
	}
	if n := len(h.ic.Contacts()); n != 2 {
		t.Errorf("Intercom holds %d contacts, want 2 (the merged lead and the user)", n)
	}
	if n := len(notes(conv)); n != 2 {
		t.Errorf("%d notes, want 2: %q", n, notes(conv))
	}
}

// Intercom refuses to merge contacts that are not duplicates (the
// default): the lead is kept and linked to the user by a note.
func TestIdentityMergeRefusedLinksByNote(t *testing.T) {
	h := identityHarness(t, nil)
	user := h.addUser("Ann Lee", "ann@example.com", time.Now().Add(-time.Hour))
	h.text(customer, "Hello")
	h.drain()
	h.text(customer, "ann@example.com")
	h.drain()
	lead := h.leadOf(customer)
	if lead.MergedInto != "" {
		t.Fatalf("lead merged into %s, want it kept", lead.MergedInto)
	}
	conv := h.onlyConversation()
	linked := h.notesWith(conv.ID, "stays a lead")
	if len(linked) != 1 || !strings.Contains(linked[0], "Ann Lee") || !strings.Contains(linked[0], "/users/"+user.ID) ||
		!strings.Contains(linked[0], "only be merged when they are duplicates") {
		t.Errorf("link notes = %q, want one naming the user with a link and Intercom's reason", linked)
	}
	if id, _ := h.st.Contact(context.Background(), customer); id != lead.ID {
		t.Errorf("stored contact = %q, want the lead %s", id, lead.ID)
	}
	h.text(customer, "hello again")
	h.drain()
	if n := h.prompts(customer); n != 1 {
		t.Errorf("%d prompts, want 1", n)
	}
}

// An address no user has gets a note; nothing is created.
func TestIdentityNoUserForEmail(t *testing.T) {
	h := identityHarness(t, func(b *relay.IdentityBridge) { b.SkipDuplicateValidation = true })
	h.text(customer, "Hello")
	h.drain()
	h.text(customer, "bob@example.org")
	h.drain()
	conv := h.onlyConversation()
	if got := h.notesWith(conv.ID, "no Intercom user has it"); len(got) != 1 || !strings.Contains(got[0], "bob@example.org") {
		t.Errorf("notes = %q, want one saying no user has the address", notes(conv))
	}
	if n := len(h.ic.Contacts()); n != 1 {
		t.Errorf("Intercom holds %d contacts, want the lead only", n)
	}
}

// STOP after the prompt: the number is never asked again, and a later
// address is not taken for an answer.
func TestIdentityStopAfterPrompt(t *testing.T) {
	h := identityHarness(t, func(b *relay.IdentityBridge) { b.SkipDuplicateValidation = true })
	h.addUser("Ann Lee", "ann@example.com", time.Now().Add(-time.Hour))
	h.text(customer, "Hello")
	h.drain()
	h.text(customer, "STOP")
	h.drain()
	h.text(customer, "START")
	h.drain()
	h.text(customer, "ann@example.com")
	h.drain()
	if n := h.prompts(customer); n != 1 {
		t.Errorf("%d prompts, want 1", n)
	}
	if lead := h.leadOf(customer); lead.MergedInto != "" {
		t.Errorf("lead merged into %s after STOP, want it kept", lead.MergedInto)
	}
	conv := h.onlyConversation()
	if n := len(h.notesWith(conv.ID, "now belongs to")) + len(h.notesWith(conv.ID, "stays a lead")); n != 0 {
		t.Errorf("identity notes after STOP: %q", notes(conv))
	}
}

// No prompt to an opted-out number, a short code, an alphanumeric sender,
// a WhatsApp address, a known user or a lead with an email; nor on a STOP.
func TestIdentityNotAsked(t *testing.T) {
	for _, tc := range []struct {
		name, from, body string
		setup            func(h *harness)
	}{
		{"opted out", customer, "hello", func(h *harness) {
			if err := h.st.SetOptedOut(context.Background(), store.ThreadKey{Customer: customer, Sender: ourNumber}, true); err != nil {
				h.t.Fatal(err)
			}
		}},
		{"short code", "12345", "hello", nil},
		{"alphanumeric", "ACMEBANK", "hello", nil},
		{"whatsapp", "whatsapp:" + customer, "hello", nil},
		{"stop first", customer, "STOP", nil},
		{"known user", customer, "hello", func(h *harness) {
			if _, err := h.ic.AddContact(intercomtest.Contact{Role: "user", Phone: customer, Email: "ann@example.com", CreatedAt: time.Now().Add(-time.Hour)}); err != nil {
				h.t.Fatal(err)
			}
		}},
		{"lead with email", customer, "hello", func(h *harness) {
			if _, err := h.ic.AddContact(intercomtest.Contact{Role: "lead", Phone: customer, Email: "lee@example.com", CreatedAt: time.Now().Add(-time.Hour)}); err != nil {
				h.t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := identityHarness(t, nil)
			if tc.setup != nil {
				tc.setup(h)
			}
			form := twiliotest.InboundForm(tc.from, ourNumber, tc.body)
			if strings.HasPrefix(tc.from, "whatsapp:") {
				form = twiliotest.InboundForm(tc.from, "whatsapp:"+ourNumber, tc.body)
			}
			h.textForm(form)
			h.drain()
			for _, m := range h.sent() {
				if m.Body == identityPrompt {
					t.Fatalf("prompt sent to %s", m.To)
				}
			}
			for _, c := range h.ic.Conversations() {
				if got := h.notesWith(c.ID, "we asked"); len(got) != 0 {
					t.Errorf("prompt note on conversation %s: %q", c.ID, got)
				}
			}
		})
	}
}

// A known contact is read once: later texts cost no Intercom read.
func TestIdentityKnownContactReadOnce(t *testing.T) {
	h := identityHarness(t, nil)
	if _, err := h.ic.AddContact(intercomtest.Contact{Role: "user", Phone: customer, Email: "ann@example.com", CreatedAt: time.Now().Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{"one", "two", "three"} {
		h.text(customer, body)
		h.drain()
	}
	reads := 0
	for _, r := range h.ic.Requests() {
		if r.Method == "GET" && strings.HasPrefix(r.Path, "/contacts/") {
			reads++
		}
	}
	if reads != 1 {
		t.Errorf("%d contact reads for three texts, want 1", reads)
	}
}

// Crashes and lost answers between a side effect and its record: the
// prompt, the merge and the notes each happen once.
func TestIdentitySideEffectsOnceAcrossLostAnswers(t *testing.T) {
	h := identityHarness(t, func(b *relay.IdentityBridge) { b.SkipDuplicateValidation = true })
	user := h.addUser("Ann Lee", "ann@example.com", time.Now().Add(-time.Hour))
	// Twilio creates the prompt, the answer is lost.
	h.tw.Fail(twiliotest.Fault{Accept: true, Drop: true})
	h.text(customer, "Hello")
	// The first attempt's send is lost; let later ones through.
	for i := 0; i < 50 && h.prompts(customer) == 0; i++ {
		_, _ = h.r.RunOnce(context.Background())
	}
	h.tw.ClearFaults()
	// Intercom takes the prompt's note but answers 502.
	if err := h.ic.Fail("POST", "/conversations/*/reply", intercomtest.Fault{Status: 502, Commit: true, Times: 1}); err != nil {
		t.Fatal(err)
	}
	h.drain()
	if n := h.prompts(customer); n != 1 {
		t.Fatalf("%d prompts, want 1 despite the lost answer", n)
	}
	conv := h.onlyConversation()
	if got := h.notesWith(conv.ID, "we asked"); len(got) != 1 {
		t.Fatalf("prompt notes = %d, want 1 despite the lost answer", len(got))
	}

	// Intercom merges, the answer is lost; then the note's answer too.
	if err := h.ic.Fail("POST", "/contacts/merge", intercomtest.Fault{Status: 502, Commit: true, Times: 1}); err != nil {
		t.Fatal(err)
	}
	h.text(customer, "ann@example.com")
	h.drain()
	lead := h.leadOf(customer)
	if lead.MergedInto != user.ID {
		t.Fatalf("lead merged into %q, want the user", lead.MergedInto)
	}
	if merges := h.requestsTo("/contacts/merge"); merges != 1 {
		t.Errorf("%d merge requests, want 1 (the retry looks first)", merges)
	}
	if got := h.notesWith(conv.ID, "now belongs to"); len(got) != 1 {
		t.Errorf("merge notes = %d, want 1", len(got))
	}
	if n := h.prompts(customer); n != 1 {
		t.Errorf("%d prompts, want 1", n)
	}
}

// A merge cut off in flight after Intercom made it (the job's lease ran
// out): the job's next run finds the merge done, merges nothing again and
// finishes.
func TestIdentityMergeCutOffInFlight(t *testing.T) {
	h := identityHarness(t, func(b *relay.IdentityBridge) { b.SkipDuplicateValidation = true },
		func(c *relay.Config) { c.Lease = 200 * time.Millisecond })
	user := h.addUser("Ann Lee", "ann@example.com", time.Now().Add(-time.Hour))
	h.text(customer, "Hello")
	h.drain()
	// The merge takes effect and never answers: the job is cut off.
	if err := h.ic.Fail("POST", "/contacts/merge", intercomtest.Fault{Hang: true, Commit: true, Times: 1}); err != nil {
		t.Fatal(err)
	}
	h.text(customer, "ann@example.com")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	for ctx.Err() == nil {
		if _, err := h.r.RunOnce(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			break
		}
	}
	cancel()
	h.drain()
	if c, _ := h.ic.Contact(h.leadOf(customer).ID); c.MergedInto != user.ID {
		t.Fatalf("lead not merged into the user")
	}
	conv := h.onlyConversation()
	if got := h.notesWith(conv.ID, "now belongs to"); len(got) != 1 {
		t.Errorf("merge notes = %q, want 1", got)
	}
	if n := h.requestsTo("/contacts/merge"); n != 1 {
		t.Errorf("%d merge requests, want 1 (the next run looks first)", n)
	}
}

// requestsTo counts the requests Intercom saw to path.
func (h *harness) requestsTo(path string) int {
	n := 0
	for _, r := range h.ic.Requests() {
		if r.Path == path {
			n++
		}
	}
	return n
}

func TestIdentityConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    relay.IdentityBridge
		want string // "" when valid
	}{
		{"defaults", relay.IdentityBridge{}, ""},
		{"custom", relay.IdentityBridge{Prompt: "Email?", Period: 48 * time.Hour, WorkspaceID: "abc123"}, ""},
		{"negative period", relay.IdentityBridge{Period: -time.Hour}, "Identity.Period must not be negative"},
		{"short period", relay.IdentityBridge{Period: time.Minute}, "Identity.Period must be at least"},
		{"long prompt", relay.IdentityBridge{Prompt: strings.Repeat("Please tell us your email. ", 70)}, "Identity.Prompt must go as one text"},
		{"bad workspace", relay.IdentityBridge{WorkspaceID: "a/b"}, "Identity.WorkspaceID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.b
			var err error
			newHarnessErr(t, func(c *relay.Config) { c.Identity = &b }, &err)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			var ce *relay.ConfigError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v, want a ConfigError saying %q", err, tc.want)
			}
		})
	}
	// The prompt over the segment cap with HoldOverCap.
	var err error
	newHarnessErr(t, func(c *relay.Config) {
		c.Cost = relay.CostGuard{MaxSegments: 1, HoldOverCap: true}
		c.Identity = &relay.IdentityBridge{Prompt: strings.Repeat("x", 200)}
	}, &err)
	if err == nil || !strings.Contains(err.Error(), "Identity.Prompt") {
		t.Errorf("a prompt the cost guard holds: New = %v, want a ConfigError", err)
	}
	// An Intercom client without the capabilities.
	newHarnessErr(t, func(c *relay.Config) {
		c.Intercom = bareIntercom{c.Intercom}
		c.Identity = &relay.IdentityBridge{}
	}, &err)
	if err == nil || !strings.Contains(err.Error(), "relay.IdentityAPI") {
		t.Errorf("a client without IdentityAPI: New = %v, want a ConfigError", err)
	}
}

// bareIntercom hides every optional capability of an IntercomAPI.
type bareIntercom struct{ relay.IntercomAPI }

// newHarnessErr builds a Relay config like the harness's and reports
// New's error in *err.
func newHarnessErr(t *testing.T, configure func(*relay.Config), err *error) {
	t.Helper()
	ic := intercomtest.NewServer()
	t.Cleanup(ic.Close)
	icClient, cerr := intercom.NewClient(ic.Token, intercom.WithBaseURL(ic.URL), intercom.WithHTTPClient(ic.Client()))
	if cerr != nil {
		t.Fatal(cerr)
	}
	tw := twiliotest.NewServer()
	t.Cleanup(tw.Close)
	twClient, cerr := twiliosms.NewClient(tw.AccountSID, tw.AuthToken, twiliosms.WithBaseURL(tw.URL), twiliosms.WithHTTPClient(tw.Client()))
	if cerr != nil {
		t.Fatal(cerr)
	}
	cfg := relay.Config{
		Intercom:         icClient,
		Twilio:           twClient,
		Store:            memstore.New(),
		PublicURL:        "https://relay.example.com",
		TwilioAuthTokens: []string{tw.AuthToken},
		WebhookSecrets:   []string{ic.ClientSecret},
		NoteAuthor:       noteAdmin,
	}
	configure(&cfg)
	r, e := relay.New(cfg)
	if e == nil {
		_ = r.Close()
	}
	*err = e
}

// Prompts keep to the sender's pace (1 text a second on a long code by
// default) without holding the workers: while prompts wait, an agent's
// reply on another conversation goes out at once.
func TestIdentityPromptsPaced(t *testing.T) {
	h := identityHarness(t, nil, func(c *relay.Config) { c.Workers = 2 })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.r.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	// A known customer with a conversation, for the agent's reply.
	if _, err := h.ic.AddContact(intercomtest.Contact{Role: "user", Phone: customer, Email: "ann@example.com", CreatedAt: time.Now().Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	h.text(customer, "Hello")
	waitFor(t, 5*time.Second, func() bool { return len(h.ic.Conversations()) == 1 })
	known := h.ic.Conversations()[0].ID

	const n = 5
	start := time.Now()
	for i := 0; i < n; i++ {
		h.text(phoneOf(i), "hi")
	}
	var replied, replySent time.Time
	sentReply := func() bool {
		for _, m := range h.sent() {
			if m.To == customer && strings.Contains(m.Body, "parcel") {
				return true
			}
		}
		return false
	}
	waitFor(t, 15*time.Second, func() bool {
		c := 0
		for i := 0; i < n; i++ {
			c += h.prompts(phoneOf(i))
		}
		if c >= 1 && replied.IsZero() {
			// While the other prompts wait for the pace, a reply goes out.
			h.reply(known, "Your parcel ships today")
			replied = time.Now()
		}
		if !replied.IsZero() && replySent.IsZero() && sentReply() {
			replySent = time.Now()
		}
		return c == n && !replySent.IsZero()
	})
	took := time.Since(start)
	if took < (n-1)*time.Second-100*time.Millisecond {
		t.Errorf("%d prompts went out in %v, faster than one a second", n, took)
	}
	if d := replySent.Sub(replied); d > time.Second {
		t.Errorf("the agent's reply took %v while prompts waited for the pace, want well under a second", d)
	}
	for i := 0; i < n; i++ {
		if got := h.prompts(phoneOf(i)); got != 1 {
			t.Errorf("number %d asked %d times, want 1", i, got)
		}
	}
	t.Logf("%d prompts paced over %v; the agent's reply went out %v after it was written", n, took.Round(time.Millisecond), replySent.Sub(replied).Round(time.Millisecond))
}

// forgetful is a store that has lost the identity bridge's markers (as a
// store that expires records would): only the period's claim is left.
type forgetful struct{ *memstore.Store }

func (f forgetful) Marked(ctx context.Context, m string) (bool, error) {
	if strings.HasPrefix(m, "identity-done:") || strings.HasPrefix(m, "identity-asked:") {
		return false, nil
	}
	return f.Store.Marked(ctx, m)
}

// Period bounds the prompts even when the relay has forgotten that it
// asked: one per number per period.
func TestIdentityPeriodBoundsPrompts(t *testing.T) {
	ms := memstore.New()
	h := identityHarness(t, nil, func(c *relay.Config) { c.Store, c.Queue = forgetful{ms}, ms })
	for _, body := range []string{"one", "two", "three"} {
		h.text(customer, body)
		h.drain()
	}
	if n := h.prompts(customer); n != 1 {
		t.Errorf("%d prompts, want 1 within the period", n)
	}
}

// smsrelay.identity counts the bridge's outcomes.
func TestIdentityMetrics(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	h := identityHarness(t, func(b *relay.IdentityBridge) { b.SkipDuplicateValidation = true },
		func(c *relay.Config) { c.MeterProvider = mp })
	h.addUser("Ann Lee", "ann@example.com", time.Now().Add(-time.Hour))
	const other, third = "+14155550124", "+14155550125"
	for _, tx := range []struct{ from, body string }{
		{customer, "hi"}, {customer, "ann@example.com"}, {customer, "thanks"},
		{other, "hi"}, {other, "no"},
		{third, "it's bob@example.org"}, {third, "hello?"}, // given unasked: not asked
	} {
		h.text(tx.from, tx.body)
		h.drain()
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if d, ok := m.Data.(metricdata.Sum[int64]); ok && m.Name == "smsrelay.identity" {
				for _, p := range d.DataPoints {
					v, _ := p.Attributes.Value("outcome")
					got[v.AsString()] += p.Value
				}
			}
		}
	}
	want := map[string]int64{"asked": 2, "merged": 1, "no_email": 1, "no_user": 1}
	if !maps.Equal(got, want) {
		t.Errorf("smsrelay.identity = %v, want %v", got, want)
	}
}

// A prompt Twilio reports undelivered gets a note that says so in plain
// words, not one about an agent's reply.
func TestIdentityPromptUndeliveredNote(t *testing.T) {
	h := identityHarness(t, nil)
	h.text(customer, "hi")
	h.drain()
	sent := h.sent()
	if len(sent) != 1 {
		t.Fatalf("%d texts, want the prompt", len(sent))
	}
	if _, err := h.tw.SendStatus(context.Background(), sent[0].SID, "undelivered", 30003); err != nil {
		t.Fatal(err)
	}
	h.drain()
	conv := h.onlyConversation()
	got := h.notesWith(conv.ID, "asking this customer for their email address was not delivered")
	if len(got) != 1 || !strings.Contains(got[0], "30003") {
		t.Errorf("notes = %q, want one about the undelivered prompt with Twilio's code", notes(conv))
	}
}

// The answer may come on another channel of the same phone: a WhatsApp
// text after an SMS prompt is the answer.
func TestIdentityAnswerOnWhatsApp(t *testing.T) {
	h := identityHarness(t, func(b *relay.IdentityBridge) { b.SkipDuplicateValidation = true })
	user := h.addUser("Ann Lee", "ann@example.com", time.Now().Add(-time.Hour))
	h.text(customer, "hi")
	h.drain()
	lead := h.leadOf(customer)
	h.textForm(twiliotest.InboundForm("whatsapp:"+customer, "whatsapp:"+ourNumber, "ann@example.com"))
	h.drain()
	if c, _ := h.ic.Contact(lead.ID); c.MergedInto != user.ID {
		t.Errorf("lead merged into %q, want the user", c.MergedInto)
	}
	if n := h.prompts(customer); n != 1 {
		t.Errorf("%d prompts, want 1", n)
	}
}

// The merge note's answer is lost after the merge was made and recorded:
// the retry finds the note it already added, and adds no second one (with
// other words: "already belongs" instead of "now belongs").
func TestIdentityMergeNoteOnceAfterLostAnswer(t *testing.T) {
	h := identityHarness(t, func(b *relay.IdentityBridge) { b.SkipDuplicateValidation = true })
	user := h.addUser("Ann Lee", "ann@example.com", time.Now().Add(-time.Hour))
	h.text(customer, "Hello")
	h.drain()
	conv := h.onlyConversation()
	// Intercom takes the answer's reply and then the merge note, but
	// answers 502 to both.
	if err := h.ic.Fail("POST", "/conversations/*/reply", intercomtest.Fault{Status: 502, Commit: true, Times: 2}); err != nil {
		t.Fatal(err)
	}
	h.text(customer, "ann@example.com")
	h.drain()
	if c, _ := h.ic.Contact(h.leadOf(customer).ID); c.MergedInto != user.ID {
		t.Fatalf("lead not merged into the user")
	}
	if n := textCount(h.conversation(conv.ID), "ann@example.com"); n != 1 {
		t.Errorf("the answer was posted %d times, want 1", n)
	}
	var identity []string
	for _, n := range notes(h.conversation(conv.ID)) {
		if strings.Contains(n, "belongs to") {
			identity = append(identity, n)
		}
	}
	if len(identity) != 1 || !strings.Contains(identity[0], "now belongs to") {
		t.Errorf("merge notes = %q, want one saying the lead was merged", identity)
	}
}

// A number that opts out while its prompt waits in the queue for the
// sender's pace (here Twilio's failed-delivery callback of another text,
// which records the opt-out apart from the customer's jobs) is not asked.
func TestIdentityNoPromptAfterOptOutWhileWaiting(t *testing.T) {
	h := identityHarness(t, nil)
	ctx := context.Background()
	first, second := phoneOf(0), phoneOf(1)
	h.text(first, "hi")
	h.text(second, "hi")
	// Run until the first number was asked and the second's prompt waits
	// for its slot of the pace.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		ran, err := h.r.RunOnce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !ran && h.prompts(first) == 1 && len(h.ic.Conversations()) == 2 {
			break
		}
	}
	if h.prompts(first) != 1 || h.prompts(second) != 0 || len(h.ic.Conversations()) != 2 {
		t.Fatalf("prompts %d and %d, %d conversations; want the second prompt waiting", h.prompts(first), h.prompts(second), len(h.ic.Conversations()))
	}
	if err := h.st.SetOptedOut(ctx, store.ThreadKey{Customer: second, Sender: ourNumber}, true); err != nil {
		t.Fatal(err)
	}
	h.drain()
	if n := h.prompts(second); n != 0 {
		t.Errorf("the number that opted out was asked %d times", n)
	}
}

// Intercom's refusals may echo the address searched for; the relay's logs
// never carry a customer's email address whole.
func TestIdentityLogsNoEmail(t *testing.T) {
	logs := &syncBuffer{}
	h := identityHarness(t, nil, func(c *relay.Config) { c.Logger = slog.New(slog.NewTextHandler(logs, nil)) })
	h.text(customer, "Hello")
	h.drain()
	body := `{"type":"error.list","errors":[{"code":"parameter_invalid","message":"Cannot search for Ann.Lee+shop@example.com"}]}`
	if err := h.ic.Fail("POST", "/contacts/search", intercomtest.Fault{Status: 400, Body: body}); err != nil {
		t.Fatal(err)
	}
	h.text(customer, "It's Ann.Lee+shop@example.com")
	h.drain()
	h.checkRefusedSearchLoggedMasked(logs)
}

// The merge's answer is lost (it did not take), and before the retry an
// agent merges the lead into another user: the retry does not take that
// for its own merge, and the number is not mapped to the user whose
// address the customer typed.
func TestIdentityRetryAfterAgentMergedElsewhere(t *testing.T) {
	h := identityHarness(t, func(b *relay.IdentityBridge) { b.SkipDuplicateValidation = true })
	ctx := context.Background()
	typed := h.addUser("Ann Lee", "ann@example.com", time.Now().Add(-time.Hour))
	other := h.addUser("Bob Roe", "bob@example.com", time.Now().Add(-time.Hour))
	h.text(customer, "Hello")
	h.drain()
	lead := h.leadOf(customer)
	if err := h.ic.Fail("POST", "/contacts/merge", intercomtest.Fault{Status: 502, Times: 1}); err != nil {
		t.Fatal(err)
	}
	h.text(customer, "ann@example.com")
	for i := 0; i < 100 && h.requestsTo("/contacts/merge") == 0; i++ {
		if _, err := h.r.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if h.requestsTo("/contacts/merge") != 1 {
		t.Fatal("no merge attempted")
	}
	if err := h.ic.MergeContact(lead.ID, other.ID); err != nil {
		t.Fatal(err)
	}
	h.drain()
	if id, err := h.st.Contact(ctx, customer); err == nil && id == typed.ID {
		t.Errorf("the number is mapped to %s, the user whose address was typed, though the lead was merged into %s", id, other.ID)
	}
	conv := h.onlyConversation()
	if got := h.notesWith(conv.ID, "now belongs to"); len(got) != 0 {
		t.Errorf("notes say the relay merged: %q", got)
	}
}

// An agent merged the lead into a user between the prompt and the answer:
// the answer naming another user's address merges nothing (Intercom
// merges only leads), and the note says the number already belongs to a
// user, not that it "stays a lead".
func TestIdentityAnswerAfterAgentMerged(t *testing.T) {
	h := identityHarness(t, func(b *relay.IdentityBridge) { b.SkipDuplicateValidation = true })
	h.addUser("Ann Lee", "ann@example.com", time.Now().Add(-time.Hour))
	bob := h.addUser("Bob Roe", "bob@example.com", time.Now().Add(-time.Hour))
	h.text(customer, "Hello")
	h.drain()
	if err := h.ic.MergeContact(h.leadOf(customer).ID, bob.ID); err != nil {
		t.Fatal(err)
	}
	h.text(customer, "ann@example.com")
	h.drain()
	if n := h.requestsTo("/contacts/merge"); n != 0 {
		t.Errorf("%d merge requests, want none: the number's contact is a user", n)
	}
	conv := h.onlyConversation()
	if got := h.notesWith(conv.ID, "stays a lead"); len(got) != 0 {
		t.Errorf("notes say the number stays a lead: %q", got)
	}
	got := h.notesWith(conv.ID, "ann@example.com")
	if len(got) != 1 || !strings.Contains(got[0], "Bob Roe") || !strings.Contains(got[0], "/users/"+bob.ID) {
		t.Errorf("notes = %q, want one naming the user the number belongs to", notes(conv))
	}
	if id, _ := h.st.Contact(context.Background(), customer); id != bob.ID {
		t.Errorf("stored contact = %q, want %s", id, bob.ID)
	}
}

// The answer comes to another of our numbers (a thread of its own): the
// lead is merged, and both threads carry on as the user, on their own
// conversations, without a new lead.
func TestIdentityAnswerOnAnotherNumber(t *testing.T) {
	const otherNumber = "+14155550101"
	h := identityHarness(t, func(b *relay.IdentityBridge) { b.SkipDuplicateValidation = true })
	user := h.addUser("Ann Lee", "ann@example.com", time.Now().Add(-time.Hour))
	h.text(customer, "hi")
	h.drain()
	lead := h.leadOf(customer)
	first := h.onlyConversation().ID
	h.textForm(twiliotest.InboundForm(customer, otherNumber, "ann@example.com"))
	h.drain()
	if c, _ := h.ic.Contact(lead.ID); c.MergedInto != user.ID {
		t.Fatalf("lead merged into %q, want the user", c.MergedInto)
	}
	h.text(customer, "back on the first number")
	h.textForm(twiliotest.InboundForm(customer, otherNumber, "and on the second"))
	h.drain()
	convs := h.ic.Conversations()
	if len(convs) != 2 {
		t.Fatalf("%d conversations, want 2 (one per number)", len(convs))
	}
	for _, c := range convs {
		last := c.Parts[len(c.Parts)-1]
		for i := len(c.Parts) - 1; i >= 0 && c.Parts[i].PartType == "note"; i-- {
			last = c.Parts[i-1]
		}
		if last.Author.ID != user.ID {
			t.Errorf("conversation %s (first: %v): last text by %s, want the user", c.ID, c.ID == first, last.Author.ID)
		}
	}
	if n := len(h.ic.Contacts()); n != 2 {
		t.Errorf("%d contacts, want the merged lead and the user", n)
	}
	if n := h.prompts(customer); n != 1 {
		t.Errorf("%d prompts, want 1", n)
	}
}

// With a Messaging Service pool: the prompt goes through the service,
// once despite a lost answer, and the answer to another number of the pool
// is read on the same thread.
func TestIdentityOnAPoolThread(t *testing.T) {
	h := identityHarness(t, func(b *relay.IdentityBridge) { b.SkipDuplicateValidation = true },
		func(c *relay.Config) { c.MessagingServiceSID = poolService })
	user := h.addUser("Ann Lee", "ann@example.com", time.Now().Add(-time.Hour))
	h.tw.Fail(twiliotest.Fault{Accept: true, Drop: true})
	h.pooledText(ourNumber, "hi")
	h.drain()
	sent := h.sent()
	if len(sent) != 1 || sent[0].MessagingServiceSID != poolService || sent[0].Body != identityPrompt {
		t.Fatalf("sent %+v, want one prompt through the service", sent)
	}
	h.pooledText(poolNumberB, "ann@example.com")
	h.drain()
	if c, _ := h.ic.Contact(h.leadOf(customer).ID); c.MergedInto != user.ID {
		t.Fatalf("lead merged into %q, want the user", c.MergedInto)
	}
	conv := h.onlyConversation()
	if got := h.notesWith(conv.ID, "now belongs to"); len(got) != 1 {
		t.Errorf("merge notes = %q, want 1", got)
	}
	if got := h.notesWith(conv.ID, "we asked the customer by SMS"); len(got) != 1 {
		t.Errorf("prompt notes = %q, want 1", got)
	}
}

// Two texts in a row from an unknown number, the second sent before the
// prompt went out: the second is not the answer (it crossed the prompt);
// the next text after the prompt is.
func TestIdentityTextBeforePromptIsNotTheAnswer(t *testing.T) {
	h := identityHarness(t, func(b *relay.IdentityBridge) { b.SkipDuplicateValidation = true })
	user := h.addUser("Ann Lee", "ann@example.com", time.Now().Add(-time.Hour))
	h.text(customer, "Hello")
	h.text(customer, "I need help with my order")
	h.drain()
	conv := h.onlyConversation()
	if got := h.notesWith(conv.ID, "holds no address"); len(got) != 0 {
		t.Fatalf("the text sent before the prompt was read as the answer: %q", got)
	}
	h.text(customer, "ann@example.com")
	h.drain()
	if c, _ := h.ic.Contact(h.leadOf(customer).ID); c.MergedInto != user.ID {
		t.Errorf("lead merged into %q, want the user", c.MergedInto)
	}
	if n := h.prompts(customer); n != 1 {
		t.Errorf("%d prompts, want 1", n)
	}
}

// A prompt whose job is tried again after Twilio took it (here its note
// was refused once) keeps the time it was first sent: the customer's answer,
// received after the prompt went out and before the retry, is the answer,
// not a text that crossed the prompt.
func TestIdentityAnswerBeforeThePromptsRetry(t *testing.T) {
	h := identityHarness(t, nil)
	// The first text starts a conversation; the reply that fails is the
	// prompt's note, after the prompt was sent.
	if err := h.ic.Fail("POST", "/conversations/*/reply", intercomtest.Fault{Status: 500, Times: 1}); err != nil {
		t.Fatal(err)
	}
	h.text(customer, "Hi, is my order ready?")
	ran, err := h.r.RunOnce(context.Background())
	if err != nil || !ran {
		t.Fatalf("RunOnce = %v, %v; want the first text's job run", ran, err)
	}
	if n := h.prompts(customer); n != 1 {
		t.Fatalf("%d prompts after the first attempt, want 1", n)
	}
	if got := h.notesWith(h.onlyConversation().ID, "we asked the customer by SMS"); len(got) != 0 {
		t.Fatalf("prompt notes after the refused one = %q, want none yet", got)
	}
	time.Sleep(5 * time.Millisecond) // the answer comes later than the prompt, on any clock
	h.text(customer, "No thanks")
	h.drain()
	conv := h.onlyConversation()
	if n := h.prompts(customer); n != 1 {
		t.Errorf("%d prompts, want 1", n)
	}
	if got := h.notesWith(conv.ID, "we asked the customer by SMS"); len(got) != 1 {
		t.Errorf("prompt notes = %q, want one", got)
	}
	if got := h.notesWith(conv.ID, "holds no address"); len(got) != 1 {
		t.Errorf("no-address notes = %q, want one: the text after the prompt is its answer", got)
	}
}

// checkRefusedSearchLoggedMasked checks that Intercom's refusal of the
// search by Ann.Lee+shop@example.com was noted once and logged without the
// address.
func (h *harness) checkRefusedSearchLoggedMasked(logs *syncBuffer) {
	h.t.Helper()
	if got := h.notesWith(h.onlyConversation().ID, "refused to search"); len(got) != 1 {
		h.t.Fatalf("notes of the refused search = %q, want 1", got)
	}
	if !strings.Contains(logs.String(), "refuses the search by email") {
		h.t.Fatalf("no log of the refusal:\n%s", logs.String())
	}
	if s := strings.ToLower(logs.String()); strings.Contains(s, "ann.lee+shop@example.com") || strings.Contains(s, "lee+shop@") {
		h.t.Errorf("an email address in the logs:\n%s", logs.String())
	}
}
