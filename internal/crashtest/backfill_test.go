package crashtest

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/smsrelay/smsrelay/intercom/intercomtest"
	"github.com/smsrelay/smsrelay/twiliosms"
	"github.com/smsrelay/smsrelay/twiliosms/twiliotest"
)

// The backfill part of the crash test: a history of texts in Twilio's log,
// imported by the relay process (Relay.Backfill, run again on every start
// until a run ends without an error) while the live workload goes on and
// the process is killed.
const (
	// defaultHistory is how many texts the history holds.
	defaultHistory = 300
	// historyCustomers share the history; the first sharedCustomers of
	// them are also the live workload's first customers, whose live texts
	// and replies mix with their imported history.
	historyCustomers = 10
	sharedCustomers  = 4
)

// historyRE finds the token of a history text in a body.
var historyRE = regexp.MustCompile(`H\d{5}`)

// history is the log the backfill imports: text i is the one whose body
// holds token H<i>, sent i minutes after since.
type history struct {
	since, until time.Time
	texts        []historyText
}

type historyText struct {
	customer string
	inbound  bool
}

// historySize reads SMSRELAY_CRASH_HISTORY: how many texts the history
// holds (0: no backfill).
func historySize(t *testing.T) int {
	v := os.Getenv("SMSRELAY_CRASH_HISTORY")
	if v == "" {
		return defaultHistory
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > 99999 {
		t.Fatalf("SMSRELAY_CRASH_HISTORY %q is not a number from 0 to 99999", v)
	}
	return n
}

// historyCustomer is the address of the history's customer c.
func historyCustomer(c int) string {
	if c < sharedCustomers {
		return liveCustomer(c)
	}
	return fmt.Sprintf("+1415557%04d", c)
}

// newHistory makes a history of n texts over historyCustomers customers, a
// week old: text i is customer c = i%10's j = i/10-th; it is ours when j
// is below 2*(c%3) or (j+c)%3 is 0, else theirs, so that most customers
// start with a few texts of ours (notes on the contact, unless a live text
// gave them a conversation first); every ninth is an MMS and every
// thirteenth of ours was undelivered.
func newHistory(n int) *history {
	since := time.Now().UTC().Add(-7 * 24 * time.Hour).Truncate(time.Minute)
	h := &history{since: since, until: since.Add(time.Duration(n+60) * time.Minute)}
	for i := range n {
		c, j := i%historyCustomers, i/historyCustomers
		ours := j < 2*(c%3) || (j+c)%3 == 0
		h.texts = append(h.texts, historyText{customer: historyCustomer(c), inbound: !ours})
	}
	return h
}

// at is when text i was sent.
func (h *history) at(i int) time.Time { return h.since.Add(time.Duration(i) * time.Minute) }

// log is the history as Twilio's log holds it.
func (h *history) log() []twiliotest.LogMessage {
	out := make([]twiliotest.LogMessage, 0, len(h.texts))
	for i, x := range h.texts {
		m := twiliotest.LogMessage{From: x.customer, To: ourNumber, Direction: twiliosms.DirectionInbound,
			Body: fmt.Sprintf("history H%05d, from the customer", i), DateSent: h.at(i)}
		if !x.inbound {
			m.From, m.To, m.Direction = ourNumber, x.customer, twiliosms.DirectionOutboundAPI
			m.Body = fmt.Sprintf("history H%05d, from us", i)
			if i%13 == 0 {
				// Twilio gives an undelivered message its error code.
				m.Status, m.ErrorCode = twiliosms.StatusUndelivered, 30003
			}
		}
		if i%9 == 0 {
			m.MediaURLs = []string{fmt.Sprintf("https://media.example.com/h%05d.jpg", i)}
		}
		out = append(out, m)
	}
	return out
}

// historyFigures are what the check of the backfill counts.
type historyFigures struct {
	texts, onContacts int // history texts; those of ours noted on the contact
	lost              int
	// dupParts counts copies beyond the first of texts on conversations
	// (customers' texts and notes of ours), dupContactNotes of notes of
	// ours on a contact: none is allowed, since each of those writes is
	// looked for before it is repeated.
	dupParts, dupContactNotes int
	unexplained               []string
}

// placement is where a copy of a history text is in Intercom.
type placement struct {
	kind  string // "text" (the customer's, on a conversation), "note" (ours, on a conversation), "contact note", or what else it is
	where string // the conversation or contact id
	phone string // the phone of the conversation's or note's contact
}

// check compares what Intercom holds with the history: every text once, on
// the customer's conversation (theirs as a message from their contact,
// ours as a note) or, for texts of ours before the customer's first, on
// their contact, in the order they were sent; none lost.
func (h *history) check(ic *intercomtest.Server) historyFigures {
	f := historyFigures{texts: len(h.texts)}
	phoneOf := map[string]string{}
	contacts := ic.Contacts()
	for _, c := range contacts {
		phoneOf[c.ID] = c.Phone
	}
	index := func(tok string) int {
		i, err := strconv.Atoi(tok[1:])
		if err != nil || i >= len(h.texts) {
			return -1
		}
		return i
	}
	at := map[int][]placement{}
	// order records the history texts in the order a conversation or a
	// contact's notes hold them.
	order := map[string][]int{}
	add := func(body string, p placement) {
		for _, tok := range historyRE.FindAllString(body, -1) {
			i := index(tok)
			if i < 0 {
				f.unexplained = append(f.unexplained, fmt.Sprintf("%s %s holds %s, which is not in the history", p.kind, p.where, tok))
				continue
			}
			at[i] = append(at[i], p)
			order[p.where] = append(order[p.where], i)
		}
	}
	for _, c := range ic.Conversations() {
		phone := ""
		if len(c.ContactIDs) > 0 {
			phone = phoneOf[c.ContactIDs[0]]
		}
		kind := func(a intercomtest.Author, partType string) string {
			switch {
			case a.Type == "user" || a.Type == "lead" || a.Type == "contact":
				return "text"
			case partType == "note" && a.Type == "admin" && a.ID == noteAdminID:
				return "note"
			}
			return fmt.Sprintf("%s by %s %s", partType, a.Type, a.ID)
		}
		add(c.Source.Body, placement{kind: kind(c.Source.Author, "source"), where: "conversation " + c.ID, phone: phone})
		for _, p := range c.Parts {
			add(p.Body, placement{kind: kind(p.Author, p.PartType), where: "conversation " + c.ID, phone: phone})
		}
	}
	for _, c := range contacts {
		for _, n := range ic.ContactNotes(c.ID) {
			add(n.Body, placement{kind: "contact note", where: "contact " + c.ID, phone: c.Phone})
		}
	}

	// Each text: present, once where it is looked for, on its customer.
	firstInbound := map[string]int{}
	for i := len(h.texts) - 1; i >= 0; i-- {
		if h.texts[i].inbound {
			firstInbound[h.texts[i].customer] = i
		}
	}
	for i, x := range h.texts {
		tok := fmt.Sprintf("H%05d", i)
		ps := at[i]
		if len(ps) == 0 {
			f.lost++
			f.unexplained = append(f.unexplained, fmt.Sprintf("history text %s (%s) is not in Intercom", tok, who(x)))
			continue
		}
		want := "text"
		if !x.inbound {
			want = "note"
			if ps[0].kind == "contact note" {
				want = "contact note"
				f.onContacts++
				if first, ok := firstInbound[x.customer]; ok && i > first {
					f.unexplained = append(f.unexplained, fmt.Sprintf("history text %s of ours is a note on the contact, though the customer's text %d came before it", tok, first))
				}
			}
		}
		for _, p := range ps {
			if p.kind != want || p.phone != x.customer {
				f.unexplained = append(f.unexplained, fmt.Sprintf("history text %s (%s) is a %s on %s of %s; want a %s of %s", tok, who(x), p.kind, p.where, p.phone, want, x.customer))
			}
		}
		if len(ps) > 1 {
			if want == "contact note" {
				f.dupContactNotes += len(ps) - 1
			} else {
				f.dupParts += len(ps) - 1
			}
			f.unexplained = append(f.unexplained, fmt.Sprintf("history text %s (%s) is in Intercom %d times: %v", tok, who(x), len(ps), ps))
		}
	}

	// Order: oldest first on each conversation and each contact (where a
	// repeated note follows its first copy).
	for where, idx := range order {
		idx = slices.Compact(idx)
		for k := 1; k < len(idx); k++ {
			if idx[k] <= idx[k-1] {
				f.unexplained = append(f.unexplained, fmt.Sprintf("%s holds the history out of order: %v", where, idx))
				break
			}
		}
	}
	slices.Sort(f.unexplained)
	return f
}

func who(x historyText) string {
	if x.inbound {
		return "the customer's"
	}
	return "ours"
}

// summary is the figures on one line.
func (f historyFigures) summary() string {
	return strings.Join([]string{
		fmt.Sprintf("history texts %d (%d of ours noted on the contact)", f.texts, f.onContacts),
		fmt.Sprintf("lost %d", f.lost),
		fmt.Sprintf("on a conversation twice %d", f.dupParts),
		fmt.Sprintf("contact notes twice %d", f.dupContactNotes),
	}, ", ")
}
