package twiliosms_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/smsrelay/smsrelay/twiliosms"
	"github.com/smsrelay/smsrelay/twiliosms/twiliotest"
)

// seedLog seeds n messages, one a minute from base, alternating between
// inbound (customer → ours) and outbound, over three customers; every
// fifth carries media.
func seedLog(srv *twiliotest.Server, base time.Time, n int, ours string) {
	var msgs []twiliotest.LogMessage
	for i := range n {
		cust := fmt.Sprintf("+1415555%04d", 200+i%3)
		m := twiliotest.LogMessage{From: cust, To: ours, Body: fmt.Sprintf("text %d", i), Direction: twiliosms.DirectionInbound, DateSent: base.Add(time.Duration(i) * time.Minute)}
		if i%2 == 1 {
			m.From, m.To, m.Direction = ours, cust, twiliosms.DirectionOutboundReply
		}
		if i%5 == 0 {
			m.MediaURLs = []string{"https://media.example.com/a.jpg", "https://media.example.com/b.jpg"}
		}
		msgs = append(msgs, m)
	}
	srv.AddHistory(msgs...)
}

func TestHistoryAllPagesInRange(t *testing.T) {
	t.Parallel()
	srv, c := newFake(t)
	base := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	seedLog(srv, base, 250, "+14155550100")
	seedLog(srv, base, 10, "+14155550111") // another number of ours

	q := twiliosms.HistoryQuery{Since: base.Add(10 * time.Minute), Until: base.Add(210 * time.Minute), PageSize: 30}
	var got []twiliosms.HistoryMessage
	for m, err := range c.History(context.Background(), q) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, m)
	}
	// Minutes 10..209 of the first number, and none of the second's
	// (minutes 0..9): 200 messages.
	if len(got) != 200 {
		t.Fatalf("History listed %d messages, want 200", len(got))
	}
	if srv.ListRequests() < 200/30 {
		t.Errorf("%d list requests for 200 messages in pages of 30", srv.ListRequests())
	}
	for i, m := range got {
		want := base.Add(time.Duration(209-i) * time.Minute)
		if !m.DateSent.Equal(want) {
			t.Fatalf("message %d sent at %v, want %v (newest first, no gaps)", i, m.DateSent, want)
		}
		min := 209 - i
		wantDir := twiliosms.DirectionInbound
		if min%2 == 1 {
			wantDir = twiliosms.DirectionOutboundReply
		}
		if m.Direction != wantDir || m.Inbound() != (wantDir == twiliosms.DirectionInbound) {
			t.Errorf("message %d direction %q, want %q", i, m.Direction, wantDir)
		}
		if wantMedia := map[bool]int{true: 2, false: 0}[min%5 == 0]; m.NumMedia != wantMedia {
			t.Errorf("message %d num_media %d, want %d", i, m.NumMedia, wantMedia)
		}
		if m.Body != fmt.Sprintf("text %d", min) || m.SID == "" || m.At() != m.DateSent {
			t.Errorf("message %d = %+v", i, m)
		}
	}
}

func TestHistoryFiltersAndResume(t *testing.T) {
	t.Parallel()
	srv, c := newFake(t)
	base := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	seedLog(srv, base, 90, "+14155550100")
	ctx := context.Background()

	// To one customer: the outbound texts to +14155550200 (i%3==0, i odd).
	q := twiliosms.HistoryQuery{To: "+14155550200", PageSize: 4}
	first, err := c.HistoryPage(ctx, q, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Messages) != 4 || first.Next == "" {
		t.Fatalf("first page %d messages, next %q", len(first.Messages), first.Next)
	}
	// Newer messages arrive between pages; a new client resumes from the
	// cursor and still reads each older message once.
	srv.AddHistory(twiliotest.LogMessage{From: "+14155550100", To: "+14155550200", Body: "new", Direction: twiliosms.DirectionOutboundAPI, DateSent: base.Add(24 * time.Hour)})
	c2, _ := twiliosms.NewClient(srv.AccountSID, srv.AuthToken, twiliosms.WithBaseURL(srv.URL))
	seen := map[string]bool{}
	for _, m := range first.Messages {
		seen[m.SID] = true
	}
	for cursor := first.Next; cursor != ""; {
		p, err := c2.HistoryPage(ctx, q, cursor)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range p.Messages {
			if seen[m.SID] || m.To != "+14155550200" || m.Body == "new" {
				t.Fatalf("resumed listing gave %+v again or out of filter", m)
			}
			seen[m.SID] = true
		}
		cursor = p.Next
	}
	want := 0
	for i := range 90 {
		if i%3 == 0 && i%2 == 1 {
			want++
		}
	}
	if len(seen) != want {
		t.Fatalf("listed %d messages to the customer, want %d", len(seen), want)
	}

	if _, err := c.HistoryPage(ctx, q, "garbage%%"); err == nil {
		t.Error("a cursor HistoryPage never made was taken")
	}
}

func TestHistoryValidationAndErrors(t *testing.T) {
	t.Parallel()
	srv, c := newFake(t)
	now := time.Now()
	for _, q := range []twiliosms.HistoryQuery{
		{PageSize: -1},
		{PageSize: twiliosms.MaxHistoryPageSize + 1},
		{Since: now, Until: now},
		{To: "+1415\n5550100"},
	} {
		if _, err := c.HistoryPage(context.Background(), q, ""); err == nil {
			t.Errorf("HistoryPage(%+v) took a bad query", q)
		}
	}
	//lint:ignore SA1012 a nil context is what is tested
	if _, err := c.HistoryPage(nil, twiliosms.HistoryQuery{}, ""); err == nil {
		t.Error("nil context taken")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.HistoryPage(ctx, twiliosms.HistoryQuery{}, ""); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
	bad, _ := twiliosms.NewClient(srv.AccountSID, "wrongtoken1", twiliosms.WithBaseURL(srv.URL))
	_, err := bad.HistoryPage(context.Background(), twiliosms.HistoryQuery{To: "+14155550123"}, "")
	if err == nil || strings.Contains(err.Error(), "+14155550123") {
		t.Errorf("listing with a wrong token: %v (want an error not showing the number)", err)
	}
	if code, ok := twiliosms.ErrorCode(err); !ok || code != 20003 {
		t.Errorf("error code %d, %v; want 20003", code, ok)
	}
}

// A full page of the largest size holds a thousand texts of up to 1600
// characters each, several megabytes of JSON: it is read whole, as a
// backfill of an account whose texts run long needs.
func TestHistoryReadsAFullPageOfLongTexts(t *testing.T) {
	t.Parallel()
	srv, c := newFake(t)
	base := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	bodies := []string{strings.Repeat("Ж", twiliosms.MaxBodyLength), strings.Repeat("<&>", twiliosms.MaxBodyLength/3), strings.Repeat("a", 300)}
	var msgs []twiliotest.LogMessage
	for i := range twiliosms.MaxHistoryPageSize {
		msgs = append(msgs, twiliotest.LogMessage{From: "+14155550200", To: "+14155550100", Body: bodies[i%len(bodies)],
			Direction: twiliosms.DirectionInbound, DateSent: base.Add(time.Duration(i) * time.Second)})
	}
	srv.AddHistory(msgs...)
	p, err := c.HistoryPage(context.Background(), twiliosms.HistoryQuery{To: "+14155550100", PageSize: twiliosms.MaxHistoryPageSize}, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Messages) != twiliosms.MaxHistoryPageSize || p.Next != "" {
		t.Fatalf("one page of %d holds %d messages (next %q), want all", twiliosms.MaxHistoryPageSize, len(p.Messages), p.Next)
	}
	for i, m := range p.Messages {
		if want := bodies[(len(msgs)-1-i)%len(bodies)]; m.Body != want {
			t.Fatalf("message %d has a body of %d bytes, want %d", i, len(m.Body), len(want))
		}
	}
}

// Reading a day of the message log page by page, keeping the cursor so
// that a run cut short can go on where it ended.
func ExampleClient_HistoryPage() {
	srv := twiliotest.NewServer()
	defer srv.Close()
	day := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	for i := range 5 {
		srv.AddHistory(twiliotest.LogMessage{From: "+14155550123", To: "+14155550100", Direction: twiliosms.DirectionInbound,
			DateSent: day.Add(time.Duration(i) * time.Hour), Body: fmt.Sprintf("text %d", i)})
	}
	c, _ := twiliosms.NewClient(srv.AccountSID, srv.AuthToken, twiliosms.WithBaseURL(srv.URL))
	q := twiliosms.HistoryQuery{To: "+14155550100", Since: day, Until: day.Add(24 * time.Hour), PageSize: 2}
	cursor := "" // or the one saved before an interruption
	for {
		page, err := c.HistoryPage(context.Background(), q, cursor)
		if err != nil {
			fmt.Println(err)
			return
		}
		for _, m := range page.Messages {
			fmt.Println(m.DateSent.Format("15:04"), m.Direction, m.Body)
		}
		if page.Next == "" {
			break
		}
		cursor = page.Next
	}
	// Output:
	// 04:00 inbound text 4
	// 03:00 inbound text 3
	// 02:00 inbound text 2
	// 01:00 inbound text 1
	// 00:00 inbound text 0
}
