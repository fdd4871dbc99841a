package relay_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
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
	optOutAttr = "sms_opted_out"
	optOutTag  = "SMS opted out"
	lastSent   = "last_sms_sent"
)

// syncAttributes declares the workspace's data attributes the tests use.
var syncAttributes = []intercomtest.Option{intercomtest.WithDataAttributes(
	intercomtest.DataAttribute{Name: optOutAttr, Type: intercomtest.AttributeBoolean},
	intercomtest.DataAttribute{Name: lastSent, Type: intercomtest.AttributeDate},
)}

// contactOf returns the id of the one contact with phone.
func (h *harness) contactOf(phone string) string {
	h.t.Helper()
	id := ""
	for _, c := range h.ic.Contacts() {
		if c.Phone == phone && c.MergedInto == "" {
			if id != "" {
				h.t.Fatalf("two contacts for %s", phone)
			}
			id = c.ID
		}
	}
	if id == "" {
		h.t.Fatalf("no contact for %s", phone)
	}
	return id
}

// tagged reports whether the contact has the tag named name.
func (h *harness) tagged(contactID, name string) bool {
	for _, t := range h.ic.ContactTags(contactID) {
		if strings.EqualFold(t.Name, name) {
			return true
		}
	}
	return false
}

// contactWrites counts the requests that update contacts or tags.
func contactWrites(reqs []intercomtest.RecordedRequest) (n int) {
	for _, r := range reqs {
		switch {
		case r.Method == http.MethodPut && strings.HasPrefix(r.Path, "/contacts/"),
			strings.HasPrefix(r.Path, "/contacts/") && strings.Contains(r.Path, "/tags"),
			r.Path == "/tags":
			n++
		}
	}
	return n
}

func optSync(c *relay.Config, _ *intercomtest.Server) {
	c.ContactSync = relay.ContactSync{OptOutAttribute: optOutAttr, OptOutTag: optOutTag}
}

func TestContactSyncMirrorsOptOutAndOptIn(t *testing.T) {
	t.Parallel()
	h := newHarness(t, syncAttributes, optSync)
	h.text(customer, "Hello")
	h.drain()
	id := h.contactOf(customer)
	if a := h.ic.ContactAttributes(id); len(a) != 0 || h.tagged(id, optOutTag) {
		t.Fatalf("before any opt-out: attributes %v, tags %+v", a, h.ic.ContactTags(id))
	}

	h.text(customer, "STOP")
	h.drain()
	if a := h.ic.ContactAttributes(id); a[optOutAttr] != true {
		t.Errorf("after STOP: attributes %v, want %s true", a, optOutAttr)
	}
	if !h.tagged(id, optOutTag) {
		t.Errorf("after STOP: tags %+v, want %q", h.ic.ContactTags(id), optOutTag)
	}
	// The text still reached the conversation, with the agents' note.
	if c := h.onlyConversation(); len(contactParts(c)) != 2 || len(notes(c)) != 1 {
		t.Errorf("conversation parts %q, notes %q", contactParts(c), notes(c))
	}

	h.text(customer, "START")
	h.drain()
	if a := h.ic.ContactAttributes(id); a[optOutAttr] != false {
		t.Errorf("after START: attributes %v, want %s false", a, optOutAttr)
	}
	if h.tagged(id, optOutTag) {
		t.Errorf("after START: tags %+v, want none", h.ic.ContactTags(id))
	}
	// A keyword that changes nothing updates nothing.
	before := contactWrites(h.ic.Requests())
	h.text(customer, "START")
	h.drain()
	if after := contactWrites(h.ic.Requests()); after != before {
		t.Errorf("a START that changed nothing made %d contact writes", after-before)
	}
}

func TestContactSyncFindsADeletedTagAgain(t *testing.T) {
	t.Parallel()
	h := newHarness(t, syncAttributes, optSync)
	h.text(customer, "STOP")
	h.drain()
	h.text(customer, "START")
	h.drain()
	id := h.contactOf(customer)
	tagLookups := func() (n int) {
		for _, r := range h.ic.Requests() {
			if r.Method == http.MethodPost && r.Path == "/tags" {
				n++
			}
		}
		return n
	}
	if n := tagLookups(); n != 1 {
		t.Fatalf("%d tag lookups for two updates, want 1 (the id is kept)", n)
	}
	// The tag id the relay learned is no longer Intercom's (the tag was
	// deleted): the relay asks for the tag again and tags the contact.
	if err := h.ic.Fail(http.MethodPost, "/contacts/*/tags", intercomtest.Fault{Status: http.StatusNotFound, Times: 1}); err != nil {
		t.Fatal(err)
	}
	h.text(customer, "STOP")
	h.drain()
	if n := tagLookups(); n != 2 {
		t.Errorf("%d tag lookups, want 2", n)
	}
	if !h.tagged(id, optOutTag) {
		t.Errorf("tags %+v, want %q", h.ic.ContactTags(id), optOutTag)
	}
}

func TestContactSyncLastStateWins(t *testing.T) {
	t.Parallel()
	h := newHarness(t, syncAttributes, optSync)
	h.text(customer, "Hello")
	h.drain()
	id := h.contactOf(customer)
	// The first update fails a few times: the opt-out's job is retried,
	// the opt-in's waits behind it, and the opt-in wins.
	if err := h.ic.Fail(http.MethodPut, "/contacts/*", intercomtest.Fault{Status: 500, Times: 5}); err != nil {
		t.Fatal(err)
	}
	h.text(customer, "STOP")
	h.text(customer, "START")
	h.drain()
	if a := h.ic.ContactAttributes(id); a[optOutAttr] != false {
		t.Errorf("attributes %v, want %s false", a, optOutAttr)
	}
	if h.tagged(id, optOutTag) {
		t.Errorf("tags %+v, want none", h.ic.ContactTags(id))
	}
	// The opt-in's update ran after the opt-out's: the last PUT sets false.
	var last []byte
	for _, r := range h.ic.Requests() {
		if r.Method == http.MethodPut && r.Status == http.StatusOK {
			last = r.Body
		}
	}
	if string(last) != `{"custom_attributes":{"sms_opted_out":false}}` {
		t.Errorf("last update %s, want the opt-in", last)
	}
	if dl, _ := h.r.DeadLetters(context.Background(), 10); len(dl) != 0 {
		t.Errorf("dead letters %+v", dl)
	}
}

func TestContactSyncIsOffByDefault(t *testing.T) {
	t.Parallel()
	h := newHarness(t, syncAttributes, func(c *relay.Config, _ *intercomtest.Server) { c.DefaultFrom = ourNumber })
	h.text(customer, "Hello")
	h.drain()
	h.reply(h.onlyConversation().ID, "Hi, how can we help?")
	h.drain()
	if _, err := h.r.Send(context.Background(), relay.Text{To: "+14155550199", Body: "Your order shipped."}); err != nil {
		t.Fatal(err)
	}
	h.text(customer, "STOP")
	h.drain()
	h.text(customer, "START")
	h.drain()
	if n := contactWrites(h.ic.Requests()); n != 0 {
		t.Errorf("%d contact or tag writes with ContactSync off, want none", n)
	}
	for _, c := range h.ic.Contacts() {
		if a := h.ic.ContactAttributes(c.ID); len(a) != 0 {
			t.Errorf("contact %s has attributes %v", c.ID, a)
		}
	}
}

// waitPastBoundary sleeps past the next multiple of every when it is less
// than margin away, so that what a test does next falls in one period.
func waitPastBoundary(every, margin time.Duration) {
	now := time.Now()
	if next := now.Truncate(every).Add(every); next.Sub(now) < margin {
		time.Sleep(next.Sub(now) + 10*time.Millisecond)
	}
}

func TestContactSyncLastSent(t *testing.T) {
	t.Parallel()
	h := newHarness(t, syncAttributes, func(c *relay.Config, _ *intercomtest.Server) {
		c.ContactSync = relay.ContactSync{LastSentAttribute: lastSent, LastSentEvery: time.Hour}
		c.DefaultFrom = ourNumber
	})
	h.text(customer, "Hello")
	h.drain()
	id := h.contactOf(customer)
	if a := h.ic.ContactAttributes(id); len(a) != 0 {
		t.Fatalf("a customer's text set %v", a)
	}
	waitPastBoundary(time.Hour, 10*time.Second)
	conv := h.onlyConversation().ID
	before := time.Now()
	h.reply(conv, "Hi, how can we help?")
	h.drain()
	at := attrTime(t, h.ic.ContactAttributes(id)[lastSent])
	if at.Before(before.Truncate(time.Second)) || at.After(time.Now()) {
		t.Errorf("%s = %v, want the reply's send time (between %v and now)", lastSent, at, before)
	}
	// A second reply within the period is coalesced: no more updates.
	writes := contactWrites(h.ic.Requests())
	h.reply(conv, "Anything else?")
	h.drain()
	if n := contactWrites(h.ic.Requests()) - writes; n != 0 {
		t.Errorf("a second reply in the period made %d updates, want 0", n)
	}
	if len(h.sent()) != 2 {
		t.Errorf("sent %d texts, want 2", len(h.sent()))
	}

	// A text sent first to a new number sets it on the lead the relay
	// makes for it.
	const other = "+14155550177"
	if _, err := h.r.Send(context.Background(), relay.Text{To: other, Body: "Your order shipped."}); err != nil {
		t.Fatal(err)
	}
	h.drain()
	lead := h.contactOf(other)
	if at := attrTime(t, h.ic.ContactAttributes(lead)[lastSent]); time.Since(at) > time.Minute {
		t.Errorf("after Send: %s = %v", lastSent, at)
	}
}

func TestContactSyncLastSentNeverMovesBack(t *testing.T) {
	t.Parallel()
	h := newHarness(t, syncAttributes, func(c *relay.Config, _ *intercomtest.Server) {
		c.ContactSync = relay.ContactSync{LastSentAttribute: lastSent, LastSentEvery: time.Second}
		c.DefaultFrom = ourNumber
		c.MaxAttempts = 2
	})
	ctx := context.Background()
	h.text(customer, "Hello")
	h.drain()
	id := h.contactOf(customer)
	// The update for a first text fails until it is dead-lettered.
	if err := h.ic.Fail(http.MethodPut, "/contacts/*", intercomtest.Fault{Status: 500}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.r.Send(ctx, relay.Text{To: customer, Body: "First"}); err != nil {
		t.Fatal(err)
	}
	h.drain()
	dl, err := h.r.DeadLetters(ctx, 10)
	if err != nil || len(dl) != 1 || dl[0].Kind != relay.KindContactSync {
		t.Fatalf("dead letters %+v, %v: want the first text's update", dl, err)
	}
	// A second text, later, sets its time.
	h.ic.ClearFaults()
	time.Sleep(1100 * time.Millisecond)
	if _, err := h.r.Send(ctx, relay.Text{To: customer, Body: "Second"}); err != nil {
		t.Fatal(err)
	}
	h.drain()
	second := attrTime(t, h.ic.ContactAttributes(id)[lastSent])
	// The first text's update, replayed now, does not move it back, and
	// costs no call.
	puts := func() (n int) {
		for _, r := range h.ic.Requests() {
			if r.Method == http.MethodPut {
				n++
			}
		}
		return n
	}
	before := puts()
	if err := h.r.Replay(ctx, dl[0].ID); err != nil {
		t.Fatal(err)
	}
	h.drain()
	if got := attrTime(t, h.ic.ContactAttributes(id)[lastSent]); !got.Equal(second) {
		t.Errorf("%s = %v after the replay, want %v still", lastSent, got, second)
	}
	if n := puts() - before; n != 0 {
		t.Errorf("the replayed update made %d calls", n)
	}
}

// attrTime reads a date attribute the fake holds (Unix seconds).
func attrTime(t *testing.T, v any) time.Time {
	t.Helper()
	n, ok := v.(json.Number)
	if !ok {
		t.Fatalf("date attribute = %#v, want Unix seconds", v)
	}
	secs, err := strconv.ParseInt(string(n), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return time.Unix(secs, 0)
}

func TestContactSyncFailureNeverDelaysTexts(t *testing.T) {
	t.Parallel()
	h := newHarness(t, syncAttributes, func(c *relay.Config, ic *intercomtest.Server) {
		optSync(c, ic)
		c.MaxAttempts = 10000
	})
	h.text(customer, "Hello")
	h.drain()
	id := h.contactOf(customer)
	conv := h.onlyConversation().ID
	if err := h.ic.Fail(http.MethodPut, "/contacts/*", intercomtest.Fault{Status: 500}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	// runUntil runs jobs one at a time until done holds, or fails with
	// what, by the deadline.
	runUntil := func(done func() bool, what func() string) {
		t.Helper()
		for !done() {
			if time.Now().After(deadline) {
				t.Fatal(what())
			}
			if _, err := h.r.RunOnce(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
	}
	texts := func() []string { return contactParts(h.conversation(conv)) }
	h.text(customer, "STOP")
	runUntil(func() bool { return len(texts()) >= 2 }, func() string {
		return fmt.Sprintf("STOP did not reach the conversation: %q", texts())
	})
	// The customer's next text reaches the conversation while the update
	// keeps failing.
	h.text(customer, "Sorry, I meant to ask: where is my order?")
	runUntil(func() bool { return len(texts()) >= 3 }, func() string {
		return fmt.Sprintf("the texts did not reach the conversation while the contact update failed: %q", texts())
	})
	// And so does an agent's reply (withheld with a note: they opted out).
	h.reply(conv, "It ships today.")
	runUntil(func() bool { return len(notes(h.conversation(conv))) >= 2 }, func() string {
		return fmt.Sprintf("the reply was not handled while the contact update failed: notes %q", notes(h.conversation(conv)))
	})
	failed := 0
	for _, r := range h.ic.Requests() {
		if r.Method == http.MethodPut && r.Status == http.StatusInternalServerError {
			failed++
		}
	}
	if failed < 2 || h.ic.ContactAttributes(id)[optOutAttr] != nil {
		t.Fatalf("%d failed updates, attributes %v: want failures and nothing set yet", failed, h.ic.ContactAttributes(id))
	}
	// Intercom recovers: the update is retried and lands.
	h.ic.ClearFaults()
	h.drain()
	if a := h.ic.ContactAttributes(id); a[optOutAttr] != true || !h.tagged(id, optOutTag) {
		t.Errorf("after recovery: attributes %v, tags %+v", a, h.ic.ContactTags(id))
	}
}

func TestContactSyncUnknownAttributeIsDeadLettered(t *testing.T) {
	t.Parallel()
	logs := &syncBuffer{}
	h := newHarness(t, nil, func(c *relay.Config, ic *intercomtest.Server) {
		c.ContactSync = relay.ContactSync{OptOutAttribute: optOutAttr}
		c.Logger = slog.New(slog.NewTextHandler(logs, nil))
	})
	h.text(customer, "STOP")
	h.drain()
	dl, err := h.r.DeadLetters(context.Background(), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(dl) != 1 || dl[0].Kind != relay.KindContactSync || dl[0].Attempt != 1 ||
		!strings.Contains(dl[0].LastError, `custom attribute "sms_opted_out"`) {
		t.Fatalf("dead letters %+v, want the contact update, dead at once, naming the attribute", dl)
	}
	if out := logs.String(); !strings.Contains(out, "create it as a contact data attribute") || !strings.Contains(out, "attribute=sms_opted_out") {
		t.Errorf("logs do not say to create the attribute:\n%s", out)
	}
	// The text reached the conversation all the same.
	if c := h.onlyConversation(); len(contactParts(c)) != 1 {
		t.Errorf("customer parts %q", contactParts(c))
	}
	// Once the attribute exists, replaying the dead letter sets it.
	if err := h.ic.AddDataAttribute(intercomtest.DataAttribute{Name: optOutAttr, Type: intercomtest.AttributeBoolean}); err != nil {
		t.Fatal(err)
	}
	if err := h.r.Replay(context.Background(), dl[0].ID); err != nil {
		t.Fatal(err)
	}
	h.drain()
	if a := h.ic.ContactAttributes(h.contactOf(customer)); a[optOutAttr] != true {
		t.Errorf("after replay: attributes %v", a)
	}
}

func TestContactSyncFollowsAMergedContact(t *testing.T) {
	t.Parallel()
	h := newHarness(t, syncAttributes, optSync)
	h.text(customer, "Hello")
	h.drain()
	lead := h.contactOf(customer)
	user, err := h.ic.AddContact(intercomtest.Contact{Role: "user", Email: "ann@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.ic.MergeContact(lead, user.ID); err != nil {
		t.Fatal(err)
	}
	h.text(customer, "STOP")
	h.drain()
	if a := h.ic.ContactAttributes(user.ID); a[optOutAttr] != true || !h.tagged(user.ID, optOutTag) {
		t.Errorf("the user the lead was merged into: attributes %v, tags %+v", a, h.ic.ContactTags(user.ID))
	}
	for _, c := range h.ic.Contacts() {
		if c.ID != lead && c.ID != user.ID {
			t.Errorf("a new contact %+v was made", c)
		}
	}
}

func TestContactSyncDropsAContactIntercomNoLongerHas(t *testing.T) {
	t.Parallel()
	logs := &syncBuffer{}
	h := newHarness(t, syncAttributes, func(c *relay.Config, ic *intercomtest.Server) {
		optSync(c, ic)
		c.Logger = slog.New(slog.NewTextHandler(logs, nil))
	})
	h.text(customer, "Hello")
	h.drain()
	// Intercom answers 404 to the contact's updates (deleted meanwhile).
	if err := h.ic.Fail(http.MethodPut, "/contacts/*", intercomtest.Fault{Status: http.StatusNotFound}); err != nil {
		t.Fatal(err)
	}
	h.text(customer, "STOP")
	h.drain()
	if dl, _ := h.r.DeadLetters(context.Background(), 10); len(dl) != 0 {
		t.Errorf("dead letters %+v, want the update dropped", dl)
	}
	if !strings.Contains(logs.String(), "Intercom no longer has the contact; dropped") {
		t.Errorf("no log of the drop:\n%s", logs.String())
	}
	if n := len(h.ic.Contacts()); n != 1 {
		t.Errorf("%d contacts, want no lead made for the update", n)
	}
}

func TestContactSyncConfig(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cs   relay.ContactSync
		want string // "" for valid
	}{
		{"off", relay.ContactSync{}, ""},
		{"all", relay.ContactSync{OptOutAttribute: "sms_opted_out", OptOutTag: "SMS opted out", LastSentAttribute: "last_sms_sent", LastSentEvery: time.Hour}, ""},
		{"spaces inside", relay.ContactSync{OptOutAttribute: "SMS opted out"}, ""},
		{"attribute padded", relay.ContactSync{OptOutAttribute: " sms_opted_out"}, "ContactSync.OptOutAttribute"},
		{"attribute dotted", relay.ContactSync{LastSentAttribute: "custom_attributes.last_sms_sent"}, "ContactSync.LastSentAttribute"},
		{"attribute control", relay.ContactSync{OptOutAttribute: "a\nb"}, "control character"},
		{"same attribute twice", relay.ContactSync{OptOutAttribute: "sms", LastSentAttribute: "sms"}, "both \"sms\""},
		{"tag blank", relay.ContactSync{OptOutTag: "  "}, "ContactSync.OptOutTag"},
		{"tag padded", relay.ContactSync{OptOutTag: "x "}, "ContactSync.OptOutTag"},
		{"tag long", relay.ContactSync{OptOutTag: strings.Repeat("t", 191)}, "more than 190"},
		{"every negative", relay.ContactSync{LastSentAttribute: "l", LastSentEvery: -time.Second}, "must not be negative"},
		{"every short", relay.ContactSync{LastSentAttribute: "l", LastSentEvery: time.Millisecond}, "at least a second"},
		{"every alone", relay.ContactSync{LastSentEvery: time.Minute}, "needs ContactSync.LastSentAttribute"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := validConfig(t)
			cfg.ContactSync = tc.cs
			_, err := relay.New(cfg)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("New: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("New: %v, want an error saying %q", err, tc.want)
			}
		})
	}
	// An Intercom client without the capability cannot sync.
	cfg := validConfig(t)
	cfg.Intercom = onlyIntercomAPI{cfg.Intercom}
	cfg.ContactSync = relay.ContactSync{OptOutTag: "SMS opted out"}
	if _, err := relay.New(cfg); err == nil || !strings.Contains(err.Error(), "relay.ContactUpdater") {
		t.Errorf("New without a ContactUpdater: %v", err)
	}
	cfg.ContactSync = relay.ContactSync{}
	if _, err := relay.New(cfg); err != nil {
		t.Errorf("New without a ContactUpdater, sync off: %v", err)
	}
}

// onlyIntercomAPI hides every optional capability of the client.
type onlyIntercomAPI struct{ relay.IntercomAPI }

// validConfig is a Config New accepts, with clients that are never called.
func validConfig(t *testing.T) relay.Config {
	t.Helper()
	ic, err := intercom.NewClient("token", intercom.WithBaseURL("http://127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	tw, err := twiliosms.NewClient("AC"+strings.Repeat("0", 32), "authtoken0123", twiliosms.WithBaseURL("http://127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	return relay.Config{
		Intercom: ic, Twilio: tw, Store: memstore.New(), PublicURL: "https://relay.example.com",
		TwilioAuthTokens: []string{"authtoken0123"}, WebhookSecrets: []string{"secret"}, NoteAuthor: noteAdmin,
	}
}

// A contact update that holds a lead's id merged meanwhile into a user
// (Intercom answering 404 for it, not a 410 to follow) lands on the user,
// not dropped: here the last-sent time of a text sent first by the lead's
// id, merged before the update ran.
func TestContactSyncFollowsALeadMergedBefore404(t *testing.T) {
	t.Parallel()
	opts := append([]intercomtest.Option{intercomtest.WithMergedContactStatus(http.StatusNotFound)}, syncAttributes...)
	h := newHarness(t, opts, func(c *relay.Config, _ *intercomtest.Server) {
		c.ContactSync = relay.ContactSync{LastSentAttribute: lastSent, OptOutAttribute: optOutAttr, OptOutTag: optOutTag}
		c.DefaultFrom = ourNumber
	})
	ctx := context.Background()
	h.text(customer, "Hello")
	h.drain()
	lead := h.contactOf(customer)
	user, err := h.ic.AddContact(intercomtest.Contact{Role: "user", Email: "ann@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.r.Send(ctx, relay.Text{ContactID: lead, Body: "Your order shipped."}); err != nil {
		t.Fatal(err)
	}
	// The agent merges before the relay's jobs run.
	if err := h.ic.MergeContact(lead, user.ID); err != nil {
		t.Fatal(err)
	}
	h.drain()
	if at := attrTime(t, h.ic.ContactAttributes(user.ID)[lastSent]); time.Since(at) > time.Minute {
		t.Errorf("user's %s = %v, want the text's time", lastSent, at)
	}
	if id := h.storedContact(); id != user.ID {
		t.Errorf("store maps the number to %s, want the user %s", id, user.ID)
	}
	if n := len(h.ic.Contacts()); n != 2 {
		t.Errorf("%d contacts, want 2 (no lead made)", n)
	}
	if dl, _ := h.r.DeadLetters(ctx, 10); len(dl) != 0 {
		t.Errorf("dead letters %+v", dl)
	}
}

// Every way the relay learns of an opt-out reaches the contact: Twilio
// refusing the identity bridge's prompt (21610), and a delivery that
// failed with 21610, reported by the status callback.
func TestContactSyncOptOutLearnedFromTwilio(t *testing.T) {
	t.Parallel()
	t.Run("prompt refused", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, syncAttributes, func(c *relay.Config, ic *intercomtest.Server) {
			optSync(c, ic)
			c.Identity = &relay.IdentityBridge{Prompt: "Which email do you use with us?"}
		})
		h.tw.FailTo(customer, twiliotest.Fault{Code: twiliosms.CodeOptedOut, Status: http.StatusBadRequest})
		h.text(customer, "hi")
		h.drain()
		if out, _ := h.st.OptedOut(context.Background(), store.ThreadKey{Customer: customer, Sender: ourNumber}); !out {
			t.Fatal("the relay did not record the opt-out")
		}
		id := h.contactOf(customer)
		if a := h.ic.ContactAttributes(id); a[optOutAttr] != true || !h.tagged(id, optOutTag) {
			t.Errorf("attributes %v, tags %+v; want the opt-out on the contact", a, h.ic.ContactTags(id))
		}
	})
	t.Run("status callback", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, syncAttributes, optSync)
		h.text(customer, "Hello")
		h.drain()
		h.reply(h.onlyConversation().ID, "Hi!")
		h.drain()
		sent := h.sent()
		if len(sent) != 1 {
			t.Fatalf("%d texts sent, want the reply", len(sent))
		}
		if _, err := h.tw.SendStatus(context.Background(), sent[0].SID, "failed", twiliosms.CodeOptedOut); err != nil {
			t.Fatal(err)
		}
		h.drain()
		if out, _ := h.st.OptedOut(context.Background(), store.ThreadKey{Customer: customer, Sender: ourNumber}); !out {
			t.Fatal("the relay did not record the opt-out")
		}
		id := h.contactOf(customer)
		if a := h.ic.ContactAttributes(id); a[optOutAttr] != true || !h.tagged(id, optOutTag) {
			t.Errorf("attributes %v, tags %+v; want the opt-out on the contact", a, h.ic.ContactTags(id))
		}
	})
}
