package main

import (
	"context"
	"errors"
	"fmt"
	"html"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/smsrelay/smsrelay/examples/internal/demo"
	"github.com/smsrelay/smsrelay/intercom"
	"github.com/smsrelay/smsrelay/intercom/intercomtest"
	"github.com/smsrelay/smsrelay/relay"
	"github.com/smsrelay/smsrelay/store"
	"github.com/smsrelay/smsrelay/twiliosms"
	"github.com/smsrelay/smsrelay/twiliosms/twiliotest"
)

// The demo account: two numbers of ours, customers texting them over two
// weeks from demoStart, an agent's phone, a short code.
const (
	demoNumberA  = "+14155550100"
	demoNumberB  = "+14155550111"
	demoAgent    = "991267001"
	demoAgentPh  = "+14155550177"
	demoNoteBy   = "991267999"
	demoWorkspce = "abc123de"
)

var (
	demoStart = time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)
	demoSince = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	demoUntil = time.Date(2026, 11, 17, 0, 0, 0, 0, time.UTC)
)

// Texts of the demo: every one names an order number, so that each is
// unique and the check can find it. No characters HTML escapes.
var (
	customerTexts = []string{
		"Hi, is order #%d on its way?",
		"Can I change the delivery address for #%d?",
		"Order #%d arrived damaged, what now?",
		"Thanks! Got #%d today.",
		"Is there a discount code for my next order (after #%d)?",
		"Where is my refund for #%d?",
	}
	ourTexts = []string{
		"Hello from Acme support: order #%d ships tomorrow.",
		"Your order #%d left the warehouse this morning.",
		"We have sent a replacement for #%d. Sorry about that!",
		"Your refund for #%d is on its way, 3 to 5 days.",
		"Reminder: your delivery #%d comes between 9 and 12.",
	}
)

// demoMessage is a text the demo seeds and expects in Intercom.
type demoMessage struct {
	customer string
	body     string
	at       time.Time
}

// account is the demo's self-contained account: fake Twilio and
// Intercom, a memory store, and the texts seeded.
type account struct {
	*demo.Fakes
	st     store.Store
	cfg    relay.Config
	budget int
	want   map[string][]demoMessage // per customer, oldest first
}

// newDemo starts the fakes and seeds n texts (and a few that the backfill
// must leave out) into the fake Twilio account's message log.
func newDemo(n, budget int) (*account, error) {
	if n < 1 {
		return nil, errors.New("-demo wants a positive number of texts")
	}
	fakes, err := demo.Start(demo.Options{
		Intercom: []intercomtest.Option{intercomtest.WithBudget(budget, 10*time.Second), intercomtest.WithAppID(demoWorkspce)},
		Limiter:  intercom.NewWindowLimiter(budget, 10*time.Second),
	})
	if err != nil {
		return nil, err
	}
	d := &account{Fakes: fakes, cfg: fakes.Config(), budget: budget, want: map[string][]demoMessage{}}
	d.st = d.cfg.Store
	d.cfg.PublicURL = "https://relay.example.com"
	d.cfg.NoteAuthor = demoNoteBy
	d.cfg.Paging = relay.Paging{AgentPhones: map[string]string{demoAgent: demoAgentPh}, WorkspaceID: demoWorkspce}
	d.cfg.PollInterval = 20 * time.Millisecond
	d.seed(n)
	return d, nil
}

// seed puts n texts of max(3, n/25) customers into the log, spread over
// two weeks: each customer's thread starts with their text or ours, and
// goes back and forth.
func (d *account) seed(n int) {
	rng := rand.New(rand.NewPCG(12, 2026))
	customers := max(3, n/25)
	step := 14 * 24 * time.Hour / time.Duration(n)
	var log []twiliotest.LogMessage
	for i := range n {
		c := rng.IntN(customers)
		cust := fmt.Sprintf("+1628555%04d", 100+c)
		ours := demoNumberA
		if c%3 == 2 {
			ours = demoNumberB
		}
		at := demoStart.Add(time.Duration(i)*step + time.Duration(rng.IntN(int(step/time.Second)))*time.Second/2).Truncate(time.Second)
		ref := 4100 + i
		m := twiliotest.LogMessage{From: cust, To: ours, Direction: twiliosms.DirectionInbound, DateSent: at,
			Body: fmt.Sprintf(customerTexts[rng.IntN(len(customerTexts))], ref)}
		if rng.IntN(5) < 2 {
			m = twiliotest.LogMessage{From: ours, To: cust, Direction: twiliosms.DirectionOutboundAPI, DateSent: at,
				Body: fmt.Sprintf(ourTexts[rng.IntN(len(ourTexts))], ref)}
			if rng.IntN(25) == 0 {
				m.Status, m.ErrorCode = "undelivered", twiliosms.CodeUnknownHandset
			}
		}
		if rng.IntN(12) == 0 {
			m.MediaURLs = []string{"https://media.example.com/photo.jpg"}
		}
		log = append(log, m)
		d.want[cust] = append(d.want[cust], demoMessage{customer: cust, body: m.Body, at: at})
	}
	// Left out: an agent's page and their answer, a short code's system
	// message, a text scheduled for later.
	log = append(log,
		twiliotest.LogMessage{From: demoNumberA, To: demoAgentPh, Direction: twiliosms.DirectionOutboundAPI, DateSent: demoStart.Add(time.Hour), Body: "Page: a customer waits"},
		twiliotest.LogMessage{From: demoAgentPh, To: demoNumberA, Direction: twiliosms.DirectionInbound, DateSent: demoStart.Add(time.Hour + time.Minute), Body: "on it"},
		twiliotest.LogMessage{From: "72345", To: demoNumberA, Direction: twiliosms.DirectionInbound, DateSent: demoStart.Add(2 * time.Hour), Body: "Your verification code is 123456"},
		twiliotest.LogMessage{From: demoNumberB, To: "+16285550100", Direction: twiliosms.DirectionOutboundAPI, Status: "scheduled", DateSent: demoStart.Add(3 * time.Hour), Body: "Sale starts Friday"},
	)
	d.TW.AddHistory(log...)
}

// check verifies that Intercom holds every seeded text exactly once, per
// customer in the order they were sent (finding contacts and threads in
// st, the relay's store), and that the fake never answered 429. It
// returns how many texts it found.
func (d *account) check(ctx context.Context, st store.Store) (int, error) {
	var problems []string
	found := 0
	for cust, want := range d.want {
		contactID, err := st.Contact(ctx, cust)
		if err != nil {
			problems = append(problems, fmt.Sprintf("customer %s has no contact: %v", twiliosms.MaskAddress(cust), err))
			continue
		}
		var bodies []string
		for _, n := range d.IC.ContactNotes(contactID) {
			bodies = append(bodies, n.Body)
		}
		threads := 0
		for _, num := range []string{demoNumberA, demoNumberB} {
			th, err := st.Thread(ctx, store.ThreadKey{Customer: cust, Sender: num})
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return 0, err
			}
			threads++
			conv, ok := d.IC.Conversation(th.ConversationID)
			if !ok {
				problems = append(problems, fmt.Sprintf("conversation %s is missing", th.ConversationID))
				continue
			}
			bodies = append(bodies, conv.Source.Body)
			for _, p := range conv.Parts {
				bodies = append(bodies, p.Body)
			}
		}
		// Each seeded text once, in order, with its original time.
		pos := -1
		for _, m := range want {
			var at []int
			for i, b := range bodies {
				if strings.Contains(b, html.EscapeString(m.body)) {
					at = append(at, i)
				}
			}
			switch {
			case len(at) != 1:
				problems = append(problems, fmt.Sprintf("%q is in Intercom %d times", m.body, len(at)))
			case at[0] < pos:
				problems = append(problems, fmt.Sprintf("%q comes before an earlier text", m.body))
			case !strings.Contains(bodies[at[0]], m.at.Format("2006-01-02 15:04 UTC")):
				problems = append(problems, fmt.Sprintf("%q does not carry its time", m.body))
			default:
				pos = at[0]
				found++
			}
		}
	}
	if n := d.IC.RateLimited(); n > 0 {
		problems = append(problems, fmt.Sprintf("the fake Intercom answered 429 %d times", n))
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		return found, fmt.Errorf("the demo account is not right in Intercom:\n  %s", strings.Join(problems, "\n  "))
	}
	return found, nil
}

// total is how many texts were seeded to be imported.
func (d *account) total() int {
	n := 0
	for _, w := range d.want {
		n += len(w)
	}
	return n
}
