package relay_test

import (
	"context"
	"fmt"
	"time"

	"github.com/smsrelay/smsrelay/intercom"
	"github.com/smsrelay/smsrelay/intercom/intercomtest"
	"github.com/smsrelay/smsrelay/relay"
	"github.com/smsrelay/smsrelay/store/memstore"
	"github.com/smsrelay/smsrelay/twiliosms"
	"github.com/smsrelay/smsrelay/twiliosms/twiliotest"
)

// Importing a customer's earlier texts from Twilio's message log: their
// texts become their messages in a conversation, ours internal notes,
// each with its original time. Running it again imports nothing twice.
func ExampleRelay_Backfill() {
	ic := intercomtest.NewServer()
	defer ic.Close()
	tw := twiliotest.NewServer()
	defer tw.Close()
	icClient, _ := intercom.NewClient(ic.Token, intercom.WithBaseURL(ic.URL))
	twClient, _ := twiliosms.NewClient(tw.AccountSID, tw.AuthToken, twiliosms.WithBaseURL(tw.URL))
	day := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	tw.AddHistory(
		twiliotest.LogMessage{From: "+14155550123", To: "+14155550100", Direction: twiliosms.DirectionInbound, DateSent: day, Body: "Is order #1042 on its way?"},
		twiliotest.LogMessage{From: "+14155550100", To: "+14155550123", Direction: twiliosms.DirectionOutboundReply, DateSent: day.Add(3 * time.Minute), Body: "Yes, it ships today."},
	)
	r, err := relay.New(relay.Config{
		Intercom: icClient, Twilio: twClient, Store: memstore.New(),
		PublicURL: "https://relay.example.com", TwilioAuthTokens: []string{tw.AuthToken},
		WebhookSecrets: []string{ic.ClientSecret}, NoteAuthor: "991267999",
		PollInterval: 10 * time.Millisecond,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = r.Run(ctx) }() // the workers import
	defer func() { stop(); <-done }()

	opts := relay.BackfillOptions{Numbers: []string{"+14155550100"}, Since: day.Add(-24 * time.Hour)}
	rep, err := r.Backfill(ctx, opts)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("imported %d texts of %d customer\n", rep.Imported, len(rep.Customers))
	conv := ic.Conversations()[0]
	fmt.Println(relay.SMSText(conv.Source.Body))
	fmt.Println(conv.Parts[0].PartType+":", relay.SMSText(conv.Parts[0].Body))

	again, _ := r.Backfill(ctx, opts)
	fmt.Printf("again: %d imported, %d imported before\n", again.Imported, again.AlreadyImported)
	// Output:
	// imported 2 texts of 1 customer
	// Texted on 2026-11-02 09:00 UTC:
	// Is order #1042 on its way?
	// note: Sent by SMS from +14155550100 on 2026-11-02 09:03 UTC (imported from Twilio):
	//
	// Yes, it ships today.
	// again: 0 imported, 2 imported before
}
