package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/smsrelay/smsrelay/store"
	"github.com/smsrelay/smsrelay/store/redisstore"
)

// The examples need a Redis server, so they are compiled but not run.

// A worker loop over the Redis queue: claim, do the work, complete or retry.
func Example() {
	ctx := context.Background()
	rdb := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{"127.0.0.1:6379"}})
	defer rdb.Close()

	st, err := redisstore.New(rdb, redisstore.WithPrefix("smsrelay"))
	if err != nil {
		log.Fatal(err)
	}
	_, err = st.Enqueue(ctx, store.NewJob{
		Kind:      "inbound-sms",
		Key:       "+15551234567|+15557654321", // one thread's jobs run in order
		Payload:   []byte(`{"sid":"SM123"}`),
		DedupeKey: "twilio:SM123",
		DedupeTTL: 24 * time.Hour,
	})
	if err != nil && !errors.Is(err, store.ErrDuplicate) {
		log.Fatal(err)
	}

	job, err := st.Claim(ctx, time.Minute)
	switch {
	case errors.Is(err, store.ErrNoJob):
		return // nothing to do now
	case err != nil:
		log.Fatal(err)
	}
	if workErr := handle(ctx, job); workErr != nil {
		err = st.Retry(ctx, job, 10*time.Second, workErr.Error())
	} else {
		err = st.Complete(ctx, job)
	}
	if errors.Is(err, store.ErrLeaseLost) {
		log.Printf("job %s: lease lost; another worker has it now", job.ID)
	}
}

func handle(context.Context, store.Job) error { return nil }

// Several relay replicas share one Intercom budget through a Limiter with
// the same key.
func ExampleNewLimiter() {
	ctx := context.Background()
	rdb := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{"127.0.0.1:6379"}})
	defer rdb.Close()

	lim, err := redisstore.NewLimiter(rdb, 83, 10*time.Second,
		redisstore.WithLimiterKey("smsrelay:intercom-budget:workspace-abc"))
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := lim.Wait(ctx); err != nil {
		log.Fatal(err) // ctx ran out before the budget allowed a call
	}
	// ... call the Intercom API ...
}

// An operator lists the dead letters and replays them.
func ExampleStore_DeadLetters() {
	ctx := context.Background()
	rdb := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{"127.0.0.1:6379"}})
	defer rdb.Close()

	st, err := redisstore.New(rdb)
	if err != nil {
		log.Fatal(err)
	}
	dead, err := st.DeadLetters(ctx, 100)
	if err != nil {
		log.Fatal(err)
	}
	for _, j := range dead {
		fmt.Printf("%s %s key=%s attempts=%d: %s\n", j.ID, j.Kind, j.Key, j.Attempt, j.LastError)
		if err := st.Replay(ctx, j.ID); err != nil {
			log.Print(err)
		}
	}
}
