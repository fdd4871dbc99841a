package memstore_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/smsrelay/smsrelay/store"
	"github.com/smsrelay/smsrelay/store/memstore"
)

// A worker's life with the queue: jobs of one key run one at a time, in
// order; a failed job is retried, and one that keeps failing is
// dead-lettered for an operator to replay.
func Example() {
	ctx := context.Background()
	s := memstore.New()

	for _, body := range []string{"first", "second"} {
		if _, err := s.Enqueue(ctx, store.NewJob{Kind: "sms.inbound", Key: "+15550001111", Payload: []byte(body)}); err != nil {
			fmt.Println(err)
			return
		}
	}

	j, _ := s.Claim(ctx, time.Minute)
	fmt.Printf("claimed %q, attempt %d\n", j.Payload, j.Attempt)

	// "second" waits until "first" is finished.
	_, err := s.Claim(ctx, time.Minute)
	fmt.Println(errors.Is(err, store.ErrNoJob))

	_ = s.Retry(ctx, j, 0, "intercom: 503")
	j, _ = s.Claim(ctx, time.Minute)
	fmt.Printf("claimed %q, attempt %d, last error %q\n", j.Payload, j.Attempt, j.LastError)

	_ = s.DeadLetter(ctx, j, "intercom: 503, giving up")
	j, _ = s.Claim(ctx, time.Minute)
	fmt.Printf("claimed %q\n", j.Payload)
	_ = s.Complete(ctx, j)

	dead, _ := s.DeadLetters(ctx, 10)
	fmt.Printf("%d dead letter: %q (%s)\n", len(dead), dead[0].Payload, dead[0].LastError)
	_ = s.Replay(ctx, dead[0].ID)
	st, _ := s.Stats(ctx)
	fmt.Printf("%+v\n", st)

	// Output:
	// claimed "first", attempt 1
	// true
	// claimed "first", attempt 2, last error "intercom: 503"
	// claimed "second"
	// 1 dead letter: "first" (intercom: 503, giving up)
	// {Ready:1 Leased:0 Dead:0}
}

// De-duplicating webhook deliveries: the first delivery is enqueued, a retry
// of it within the TTL is not.
func ExampleStore_Enqueue_dedupe() {
	ctx := context.Background()
	s := memstore.New()
	job := store.NewJob{
		Kind:      "sms.inbound",
		Key:       "+15550001111",
		Payload:   []byte(`{"MessageSid":"SM123"}`),
		DedupeKey: "twilio:SM123",
		DedupeTTL: 24 * time.Hour,
	}
	_, err := s.Enqueue(ctx, job)
	fmt.Println(err)
	_, err = s.Enqueue(ctx, job)
	fmt.Println(errors.Is(err, store.ErrDuplicate))
	// Output:
	// <nil>
	// true
}
