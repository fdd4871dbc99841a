package store_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/smsrelay/smsrelay/store"
	"github.com/smsrelay/smsrelay/store/memstore"
)

// Status callbacks arrive out of order; a store keeps the highest rank.
func ExampleStatusRank() {
	current := "delivered"
	for _, late := range []string{"sent", "queued", "read"} {
		if store.StatusRank(late) > store.StatusRank(current) {
			current = late
		}
	}
	fmt.Println(current, store.IsFinalStatus("undelivered"), store.IsFinalStatus("sending"))
	// Output: read true false
}

func ExampleThreadKey() {
	k := store.ThreadKey{Customer: "whatsapp:+14155550123", Sender: "whatsapp:+14155550100"}
	fmt.Println(k, k.Validate())
	fmt.Println(store.ThreadKey{Customer: "+14155550123"}.Validate())
	// Output:
	// whatsapp:+14155550123|whatsapp:+14155550100 <nil>
	// store: thread key has no sender address
}

func ExampleNewJob_Validate() {
	fmt.Println(store.NewJob{Kind: "twilio.inbound", Key: "customer:+14155550123"}.Validate())
	fmt.Println(store.NewJob{Kind: "twilio.inbound", Key: "k", DedupeKey: "twilio:message:SM1"}.Validate())
	// Output:
	// <nil>
	// store: job has a dedupe key but no positive dedupe TTL
}

// A store behind the checking layer refuses a bad argument, or a call with
// an ended context, before the store sees it. A value that is both a Store
// and a Queue stays both.
func ExampleChecked() {
	st := store.Checked(memstore.New())
	fmt.Println(st.SetContact(context.Background(), "", "contact-1"))

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := st.SetContact(ctx, "+14155550123", "contact-1")
	fmt.Println(errors.Is(err, context.Canceled))

	q, ok := st.(store.Queue)
	fmt.Println(ok)
	_, err = q.Claim(context.Background(), 0)
	fmt.Println(err)
	// Output:
	// store: SetContact: empty phone
	// true
	// true
	// store: Claim: lease 0s is not positive
}
