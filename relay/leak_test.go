package relay_test

import (
	"context"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smsrelay/smsrelay/intercom/intercomtest"
)

// The randomized never-leak test. Each case is a seeded workspace: a few
// customers who texted (conversations the relay carries) and a chat and an
// email conversation it does not carry, then a random stream of Intercom
// notifications with every part type and author Intercom sends, on every
// topic, in random order, some redelivered or replayed, with HTML and plain
// text bodies. The property, checked by an oracle written from the promise
// rather than from the code: exactly the parts an agent wrote for the
// customer (an admin's comment, or the message an admin attached to a close,
// re-open or assignment, delivered on a topic the relay subscribes to, on a
// conversation it carries) reach Twilio, each exactly once, to that
// conversation's customer; nothing else does.
//
// SMSRELAY_LEAK_CASES sets the number of cases (default 200, 50 with
// -short);
// SMSRELAY_LEAK_SEED runs the one case a failure printed.

var leakTokenRE = regexp.MustCompile(`zq\d+x\d+`)

// Part types Intercom sends in conversation_parts.
var leakPartTypes = []string{
	"comment", "comment", "comment", "note", "note", "quick_reply", "close", "open", "assignment",
	"away_mode_assignment", "snoozed", "unsnoozed", "timer_unsnooze", "conversation_attribute_updated_by_admin",
	"conversation_attribute_updated_by_workflow", "participant_added", "title_changed", "fin_answer",
}

// Authors: an admin, the bot (operator), Fin, the customer, a team.
var leakAuthors = []struct {
	typ string
	fin bool
}{
	{"admin", false}, {"admin", false}, {"admin", false}, {"bot", false}, {"bot", true},
	{"user", false}, {"lead", false}, {"contact", false}, {"team", false},
}

// Every topic the fake or Intercom posts about conversations.
var leakTopics = []string{
	"conversation.admin.replied", "conversation.admin.noted", "conversation.admin.closed",
	"conversation.admin.opened", "conversation.admin.assigned", "conversation.admin.open.assigned",
	"conversation.admin.snoozed", "conversation.admin.unsnoozed", "conversation.admin.single.created",
	"conversation.operator.replied", "conversation.user.created", "conversation.user.replied",
	"conversation.rating.added", "conversation_part.tag.created", "conversation_part.redacted",
}

// relayTopics are the topics on which the promise says an agent's part may
// be sent.
var relayTopics = map[string]bool{
	"conversation.admin.replied": true, "conversation.admin.closed": true, "conversation.admin.opened": true,
	"conversation.admin.assigned": true, "conversation.admin.open.assigned": true,
}

// naturalTopics are the topics Intercom uses for a part of each type by
// each kind of author.
func naturalTopics(partType, author string) []string {
	switch {
	case author == "user" || author == "lead" || author == "contact":
		return []string{"conversation.user.replied", "conversation.user.created"}
	case author == "bot":
		return []string{"conversation.admin.replied", "conversation.operator.replied"}
	}
	switch partType {
	case "comment":
		return []string{"conversation.admin.replied"}
	case "note":
		return []string{"conversation.admin.noted"}
	case "close":
		return []string{"conversation.admin.closed"}
	case "open", "unsnoozed", "timer_unsnooze":
		return []string{"conversation.admin.opened", "conversation.admin.unsnoozed"}
	case "assignment", "away_mode_assignment":
		return []string{"conversation.admin.assigned", "conversation.admin.open.assigned"}
	case "snoozed":
		return []string{"conversation.admin.snoozed"}
	}
	return []string{"conversation.admin.replied", "conversation_part.tag.created"}
}

type leakPart struct {
	ID, Type, Author, Body string
	BodyNull, Fin          bool
	Attachment             string // URL, or ""
	Token                  string // in the body or the attachment; "" when it has neither
	CreatedAt              time.Time
}

type leakConv struct {
	ID, ContactID, Customer string // Customer "" when the relay does not carry it
	CreatedAt               time.Time
}

// leakBody returns a body carrying token, in one of the shapes Intercom
// uses, or one with nothing to read.
func leakBody(rng *mrand.Rand, token string) (body string, null, readable bool) {
	switch rng.IntN(9) {
	case 0:
		return "", true, false
	case 1:
		return []string{"", "   ", "<p></p>", "<p><br></p>", "<p> </p>"}[rng.IntN(5)], false, false
	case 2, 3:
		return "Thanks, your code is " + token + ".", false, true
	case 4:
		return "<p>Hello <b>" + token + "</b></p><p>Line two &amp; more</p>", false, true
	case 5:
		return `<p>See <a href="https://help.example.com/a">this article</a> ` + token + `</p>`, false, true
	case 6:
		return "<ul><li>" + token + "</li><li>two</li></ul>", false, true
	case 7:
		return "<p>" + token + `</p><img src="https://files.example.com/inline.png">`, false, true
	}
	return "Line one " + token + "\nline two", false, true
}

func TestNeverLeakRandomized(t *testing.T) {
	cases := 200 // .ci/run runs 5,000 more in a step of its own, without -race
	if testing.Short() {
		cases = 50
	}
	if v := os.Getenv("SMSRELAY_LEAK_CASES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("SMSRELAY_LEAK_CASES %q is not a positive number", v)
		}
		cases = n
	}
	base := uint64(time.Now().UnixNano())
	if v := os.Getenv("SMSRELAY_LEAK_SEED"); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("SMSRELAY_LEAK_SEED %q: %v", v, err)
		}
		base, cases = s, 1
	}
	t.Logf("%d cases from seed %d", cases, base)
	// Cases spend most of their time waiting on the fakes and on retry
	// delays, so a few groups run side by side.
	const groups = 8
	var parts, sent atomic.Int64
	t.Run("cases", func(t *testing.T) {
		for g := range groups {
			t.Run(strconv.Itoa(g), func(t *testing.T) {
				t.Parallel()
				for i := g; i < cases; i += groups {
					seed := base + uint64(i)
					t.Run(strconv.FormatUint(seed, 10), func(t *testing.T) {
						p, s, failed := leakCase(t, seed)
						parts.Add(int64(p))
						sent.Add(int64(s))
						if failed {
							t.Fatalf("replay with SMSRELAY_LEAK_SEED=%d go test -run TestNeverLeakRandomized ./relay", seed)
						}
					})
				}
			})
		}
	})
	t.Logf("%d parts in %d cases, %d of them sent", parts.Load(), cases, sent.Load())
}

// leakCase runs one case and reports how many parts it posted, how many
// the oracle expected to be sent, and whether it failed.
func leakCase(t *testing.T, seed uint64) (int, int, bool) {
	rng := mrand.New(mrand.NewPCG(seed, 0x6c65616b))
	h := newHarness(t, []intercomtest.Option{ownHooks()}, nil)
	ctx := context.Background()
	failed := false
	fail := func(format string, args ...any) {
		t.Helper()
		failed = true
		t.Errorf("seed %d: "+format, append([]any{seed}, args...)...)
	}

	// Conversations the relay carries: a few customers text.
	var convs []leakConv
	customers := 1 + rng.IntN(3)
	for c := range customers {
		phone := fmt.Sprintf("+1415555%04d", 2000+c)
		h.text(phone, "hello from a customer")
	}
	h.drain()
	phoneOf := map[string]string{}
	for _, c := range h.ic.Contacts() {
		phoneOf[c.ID] = c.Phone
	}
	for _, c := range h.ic.Conversations() {
		convs = append(convs, leakConv{ID: c.ID, ContactID: c.ContactIDs[0], Customer: phoneOf[c.ContactIDs[0]], CreatedAt: c.CreatedAt})
	}
	if len(convs) != customers {
		fail("%d conversations for %d customers", len(convs), customers)
		return 0, 0, true
	}
	// And a chat and an email the relay does not carry, one young, one old.
	for i, email := range []string{"chat@example.com", "mail@example.com"} {
		ct, err := h.ic.AddContact(intercomtest.Contact{Role: "user", Email: email})
		if err != nil {
			t.Fatal(err)
		}
		c, err := h.ic.StartConversation(ct.ID, "a question by chat")
		if err != nil {
			t.Fatal(err)
		}
		created := c.CreatedAt
		if i == 1 {
			created = created.Add(-time.Hour)
		}
		convs = append(convs, leakConv{ID: c.ID, ContactID: ct.ID, CreatedAt: created})
	}

	// The stream of notifications.
	type note struct {
		topic string
		conv  leakConv
		parts []leakPart
	}
	var stream []note
	expected := map[string]string{} // token → customer it must reach
	nParts := 0
	partsOf := map[string][]leakPart{}
	events := 4 + rng.IntN(12)
	for e := range events {
		conv := convs[rng.IntN(len(convs))]
		var parts []leakPart
		for k := range 1 + rng.IntN(3) {
			a := leakAuthors[rng.IntN(len(leakAuthors))]
			typ := leakPartTypes[rng.IntN(len(leakPartTypes))]
			if rng.IntN(3) == 0 {
				a.typ, a.fin, typ = "admin", false, "comment" // what agents mostly do
			}
			p := leakPart{
				ID:        strconv.FormatUint(seed%1000000*1000+uint64(e*10+k)+1, 10),
				Type:      typ,
				Author:    a.typ,
				Fin:       a.fin,
				CreatedAt: time.Now().Add(time.Duration(e*10+k) * time.Millisecond),
			}
			token := fmt.Sprintf("zq%dx%d", seed%1000000, e*10+k)
			var readable bool
			p.Body, p.BodyNull, readable = leakBody(rng, token)
			if rng.IntN(6) == 0 {
				p.Attachment = "https://files.example.com/" + token + ".png"
			}
			if readable || p.Attachment != "" {
				p.Token = token
			}
			parts = append(parts, p)
			nParts++
		}
		// Earlier parts of the conversation come along now and then, as
		// Intercom sends more than the newest part.
		if prev := partsOf[conv.ID]; len(prev) > 0 && rng.IntN(4) == 0 {
			parts = append([]leakPart{prev[rng.IntN(len(prev))]}, parts...)
		}
		partsOf[conv.ID] = append(partsOf[conv.ID], parts...)
		last := parts[len(parts)-1]
		topics := naturalTopics(last.Type, last.Author)
		if rng.IntN(8) == 0 {
			topics = []string{leakTopics[rng.IntN(len(leakTopics))]} // Intercom surprises
		}
		for _, topic := range topics {
			if rng.IntN(4) == 0 && len(topics) > 1 {
				continue // not every subscription is on
			}
			stream = append(stream, note{topic: topic, conv: conv, parts: parts})
		}
	}
	// The oracle, from the promise.
	for _, n := range stream {
		for _, p := range n.parts {
			agentMeant := p.Author == "admin" &&
				(p.Type == "comment" || p.Type == "close" || p.Type == "open" || p.Type == "assignment")
			if agentMeant && relayTopics[n.topic] && n.conv.Customer != "" && p.Token != "" {
				expected[p.Token] = n.conv.Customer
			}
		}
	}

	// Deliver in random order, drain at random moments, redeliver and
	// replay some.
	rng.Shuffle(len(stream), func(i, j int) { stream[i], stream[j] = stream[j], stream[i] })
	var ids []string
	for _, n := range stream {
		id, status, err := h.ic.SendNotification(ctx, h.webhookURL(), n.topic, leakItem(n.conv, n.parts, rng))
		if err != nil || status != http.StatusOK {
			fail("notification %s answered %d, %v", n.topic, status, err)
			return nParts, len(expected), true
		}
		ids = append(ids, id)
		if rng.IntN(3) == 0 {
			h.drain()
		}
	}
	for _, id := range ids {
		switch rng.IntN(6) {
		case 0:
			if st, err := h.ic.Redeliver(ctx, h.webhookURL(), id); err != nil || st != http.StatusOK {
				fail("redelivery answered %d, %v", st, err)
			}
		case 1:
			if st, err := h.ic.Replay(ctx, h.webhookURL(), id); err != nil || st != http.StatusOK {
				fail("replay answered %d, %v", st, err)
			}
		}
	}
	h.drain()

	// The property.
	count := map[string]int{}
	for _, m := range h.sent() {
		toks := map[string]bool{}
		for _, tok := range leakTokenRE.FindAllString(m.Body+" "+strings.Join(m.MediaURLs, " "), -1) {
			toks[tok] = true
		}
		for tok := range toks {
			count[tok]++
			want, ok := expected[tok]
			switch {
			case !ok:
				fail("leak: part %s reached Twilio (to %s, body %q) but no agent meant the customer to read it", tok, m.To, m.Body)
			case m.To != want:
				fail("part %s went to %s, want %s", tok, m.To, want)
			}
		}
	}
	for tok := range expected {
		if count[tok] != 1 {
			fail("agent's part %s reached Twilio %d times, want exactly once", tok, count[tok])
		}
	}
	return nParts, len(expected), failed
}

// leakItem renders a conversation with parts as a webhook item, the bodies
// as given (HTML or plain text, or null).
func leakItem(c leakConv, parts []leakPart, rng *mrand.Rand) json.RawMessage {
	wire := make([]map[string]any, 0, len(parts))
	for _, p := range parts {
		author := map[string]any{"type": p.Author, "id": "991267001", "name": "Someone"}
		if p.Author == "bot" {
			author["id"], author["name"] = "278", "Fin"
			author["from_ai_agent"] = p.Fin
		}
		if p.Author == "user" || p.Author == "lead" || p.Author == "contact" {
			author["id"] = c.ContactID
		}
		wp := map[string]any{
			"type": "conversation_part", "id": p.ID, "part_type": p.Type, "body": p.Body,
			"created_at": p.CreatedAt.Unix(), "updated_at": p.CreatedAt.Unix(), "notified_at": p.CreatedAt.Unix(),
			"author": author, "attachments": []any{},
		}
		if p.BodyNull {
			wp["body"] = nil
		}
		if p.Attachment != "" {
			wp["attachments"] = []any{map[string]any{"type": "upload", "name": "photo.png", "url": p.Attachment, "content_type": "image/png"}}
		}
		wire = append(wire, wp)
	}
	state := []string{"open", "open", "closed", "snoozed"}[rng.IntN(4)]
	item := map[string]any{
		"type": "conversation", "id": c.ID, "state": state, "open": state != "closed",
		"created_at": c.CreatedAt.Unix(), "updated_at": time.Now().Unix(),
		"source": map[string]any{
			"type": "conversation", "id": "1", "delivered_as": "customer_initiated", "body": "hello",
			"author": map[string]any{"type": "user", "id": c.ContactID},
		},
		"contacts": map[string]any{"type": "contact.list", "contacts": []any{map[string]any{"type": "contact", "id": c.ContactID}}},
		"conversation_parts": map[string]any{
			"type": "conversation_part.list", "conversation_parts": wire, "total_count": len(wire),
		},
	}
	b, err := json.Marshal(item)
	if err != nil {
		panic(err)
	}
	return b
}
