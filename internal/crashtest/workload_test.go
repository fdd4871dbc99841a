package crashtest

import (
	"context"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smsrelay/smsrelay/intercom/intercomtest"
	"github.com/smsrelay/smsrelay/store"
	"github.com/smsrelay/smsrelay/twiliosms/twiliotest"
)

// Workload size: enough customers that several jobs run at once.
const (
	maxCustomers = 40
	actionPause  = 15 * time.Millisecond
	// backfillActionPause is the pause of the backfill's test: a lighter
	// live workload, whose backlog (a customer's live texts queue under
	// the same key as their history) does not hold the backfill up for
	// the whole test.
	backfillActionPause = 100 * time.Millisecond
	// statusAfter is how old a sent message must be before its status
	// callback comes, so that it does not overtake the record of the send
	// in a live process.
	statusAfter = 2 * time.Second
	// acceptWithin bounds the retries of one webhook.
	acceptWithin = 2 * time.Minute
)

// workload plays customers texting, agents replying and Twilio calling
// back, and remembers every webhook the relay answered 2xx.
type workload struct {
	ic    *intercomtest.Server
	tw    *twiliotest.Server
	hooks *http.Client
	seed  uint64
	pause time.Duration // between two actions of a generator
	st    interface {
		ThreadByConversation(ctx context.Context, conversationID string) (store.ThreadKey, error)
	}

	mu          sync.Mutex
	customers   []string
	texts       map[string]string // token → customer, accepted
	replies     map[string]string // token → conversation id, accepted
	statusSent  map[string]bool   // message SID → a callback was accepted
	undelivered int
	seq         int
}

func newWorkload(ic *intercomtest.Server, tw *twiliotest.Server, hooks *http.Client, seed uint64) *workload {
	return &workload{
		ic: ic, tw: tw, hooks: hooks, seed: seed, pause: actionPause,
		texts:      make(map[string]string),
		replies:    make(map[string]string),
		statusSent: make(map[string]bool),
	}
}

func (w *workload) next(prefix string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seq++
	return fmt.Sprintf("%s%06d", prefix, w.seq)
}

// run performs random actions until ctx ends; the action under way is
// finished (its webhook retried until accepted) even after that.
func (w *workload) run(ctx context.Context, worker uint64) {
	rng := mrand.New(mrand.NewPCG(w.seed, worker))
	for ctx.Err() == nil {
		time.Sleep(w.pause)
		p := rng.Float64()
		w.mu.Lock()
		n := len(w.customers)
		w.mu.Unlock()
		switch {
		case p < 0.10 && n < maxCustomers, n == 0:
			w.mu.Lock()
			phone := liveCustomer(len(w.customers))
			w.customers = append(w.customers, phone)
			w.mu.Unlock()
			w.text(phone)
		case p < 0.50:
			w.mu.Lock()
			phone := w.customers[rng.IntN(len(w.customers))]
			w.mu.Unlock()
			w.text(phone)
		case p < 0.85:
			w.reply(rng)
		default:
			w.status(rng)
		}
	}
}

// liveCustomer is the address of the workload's customer i.
func liveCustomer(i int) string { return fmt.Sprintf("+1415556%04d", i) }

// accept retries send until it answers 2xx, as the senders retry.
func accept(send func() (int, error)) bool {
	deadline := time.Now().Add(acceptWithin)
	for time.Now().Before(deadline) {
		status, err := send()
		if err == nil && status/100 == 2 {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

func (w *workload) text(phone string) {
	token := w.next("T")
	form := twiliotest.InboundForm(phone, ourNumber, "text "+token+" from a customer")
	if accept(func() (int, error) {
		st, _, err := twiliotest.Post(context.Background(), w.hooks, w.tw.AuthToken, publicURL+"/twilio/messages", form)
		return st, err
	}) {
		w.mu.Lock()
		w.texts[token] = phone
		w.mu.Unlock()
	}
}

// reply plays an agent answering on a conversation the relay carries.
func (w *workload) reply(rng *mrand.Rand) {
	convs := w.ic.Conversations()
	if len(convs) == 0 {
		return
	}
	c := convs[rng.IntN(len(convs))]
	if _, err := w.st.ThreadByConversation(context.Background(), c.ID); err != nil {
		return // not (yet) the relay's: an agent could not tell, but it is not what this test is about
	}
	token := w.next("R")
	target := publicURL + "/intercom/webhooks"
	partID, status, err := w.ic.AdminReply(context.Background(), target, c.ID, agentID, "reply "+token+" from an agent")
	if partID == "" {
		return
	}
	ok := err == nil && status/100 == 2
	if !ok {
		id := w.notification(token)
		if id == "" {
			return
		}
		ok = accept(func() (int, error) { return w.ic.Redeliver(context.Background(), target, id) })
	}
	if ok {
		w.mu.Lock()
		w.replies[token] = c.ID
		w.mu.Unlock()
	}
}

// notification finds the id of the notification that carried token.
func (w *workload) notification(token string) string {
	for _, d := range w.ic.Deliveries() {
		if strings.Contains(string(d.Body), token) {
			return d.NotificationID
		}
	}
	return ""
}

// status posts a status callback for a message sent a while ago.
func (w *workload) status(rng *mrand.Rand) {
	var candidates []twiliotest.SentMessage
	w.mu.Lock()
	for _, m := range w.tw.Messages() {
		// Texts of the backfill's history have no callback: they were sent
		// long ago.
		if m.StatusCallback != "" && !w.statusSent[m.SID] && time.Since(m.DateCreated) > statusAfter {
			candidates = append(candidates, m)
		}
	}
	w.mu.Unlock()
	if len(candidates) == 0 {
		return
	}
	m := candidates[rng.IntN(len(candidates))]
	status, code := "delivered", 0
	if rng.IntN(5) == 0 {
		status, code = "undelivered", 30007
	}
	form, err := w.tw.StatusForm(m.SID, status, code)
	if err != nil {
		return
	}
	w.mu.Lock()
	w.statusSent[m.SID] = true // one callback per message, whoever picks it
	w.mu.Unlock()
	if accept(func() (int, error) {
		st, _, err := twiliotest.Post(context.Background(), w.hooks, w.tw.AuthToken, m.StatusCallback, form)
		return st, err
	}) && status == "undelivered" {
		w.mu.Lock()
		w.undelivered++
		w.mu.Unlock()
	}
}

// figures are what the crash test counts.
type figures struct {
	customers, texts, replies, statuses, undelivered int

	textsLost, repliesLost                          int
	dupContacts, dupConversations, dupTexts, dupSMS int
	notesMissing, dupNotes                          int
	unexplained                                     []string
}

var tokenRE = regexp.MustCompile(`[TR]\d{6}`)

// effectRE finds the tokens of a request that the effect log keeps: the
// workload's and the history's.
var effectRE = regexp.MustCompile(`[TR]\d{6}|H\d{5}`)

// check compares what the fakes hold with what the relay accepted.
func (w *workload) check(t *testing.T, dead []store.Job, effects *effectLog) figures {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	f := figures{customers: len(w.customers), texts: len(w.texts), replies: len(w.replies), undelivered: w.undelivered}
	for range w.statusSent {
		f.statuses++
	}
	inDead := func(token string) bool {
		for _, d := range dead {
			if strings.Contains(string(d.Payload), token) {
				return true
			}
		}
		return false
	}

	// Contacts: one per phone.
	perPhone := map[string]int{}
	for _, c := range w.ic.Contacts() {
		perPhone[c.Phone]++
	}
	contactOf := map[string]string{}
	for _, c := range w.ic.Contacts() {
		contactOf[c.ID] = c.Phone
	}
	for _, n := range perPhone {
		f.dupContacts += n - 1
	}

	// Conversations: one per customer (none is ever closed); texts: each
	// once, in the customer's own parts.
	perCustomer := map[string]int{}
	seen := map[string]int{}
	notes := 0
	for _, c := range w.ic.Conversations() {
		for _, id := range c.ContactIDs {
			perCustomer[contactOf[id]]++
		}
		for _, tok := range tokenRE.FindAllString(c.Source.Body, -1) {
			seen[tok]++
		}
		for _, p := range c.Parts {
			switch {
			case p.Author.Type == "user" || p.Author.Type == "lead" || p.Author.Type == "contact":
				for _, tok := range tokenRE.FindAllString(p.Body, -1) {
					seen[tok]++
				}
			case p.PartType == "note" && strings.Contains(p.Body, "not delivered by SMS"):
				notes++
			}
		}
	}
	for _, n := range perCustomer {
		f.dupConversations += n - 1
	}
	for tok := range w.texts {
		switch n := seen[tok]; {
		case n == 0 && !inDead(tok):
			f.textsLost++
			f.unexplained = append(f.unexplained, fmt.Sprintf("text %s was accepted and never reached Intercom", tok))
		case n > 1:
			f.dupTexts += n - 1
			if effects.sameLife(tok) {
				f.unexplained = append(f.unexplained, fmt.Sprintf("text %s was posted %d times, twice within one life of the process: a duplicate no kill explains", tok, n))
			}
		}
	}

	// Replies: each sent once; a second copy only when the first one's
	// record was never written (the process was killed in the window).
	sids := map[string][]string{}
	for _, m := range w.tw.Messages() {
		for _, tok := range tokenRE.FindAllString(m.Body, -1) {
			sids[tok] = append(sids[tok], m.SID)
		}
	}
	for tok := range w.replies {
		copies := sids[tok]
		switch {
		case len(copies) == 0 && !inDead(tok):
			f.repliesLost++
			f.unexplained = append(f.unexplained, fmt.Sprintf("reply %s was accepted and never sent", tok))
		case len(copies) > 1:
			f.dupSMS += len(copies) - 1
			if effects.sameLife(tok) {
				f.unexplained = append(f.unexplained, fmt.Sprintf("reply %s was sent %d times, twice within one life of the process: a duplicate no kill explains", tok, len(copies)))
			}
		}
	}
	if notes > f.undelivered {
		f.dupNotes = notes - f.undelivered
	} else {
		f.notesMissing = f.undelivered - notes
	}
	return f
}
