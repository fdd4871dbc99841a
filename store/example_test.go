package store_test

import (
	"fmt"

	"github.com/smsrelay/smsrelay/store"
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
