package pgstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/smsrelay/smsrelay/store"
	"github.com/smsrelay/smsrelay/store/pgstore"
)

// receive waits up to d for a signal on c.
func receive(c <-chan struct{}, d time.Duration) bool {
	select {
	case _, ok := <-c:
		return ok
	case <-time.After(d):
		return false
	}
}

// TestWakeAcrossReplicas listens through one Store and enqueues through
// another on the same schema, as another process would: the listener is
// signalled; enqueues to another schema do not signal it; the channel
// closes when the context ends.
func TestWakeAcrossReplicas(t *testing.T) {
	s, _ := newStore(t)
	other, err := pgstore.New(testPool(t), pgstore.WithSchema(s.Schema()))
	if err != nil {
		t.Fatal(err)
	}
	elsewhere, _ := newStore(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	c, err := s.Wake(ctx)
	if err != nil {
		t.Fatalf("Wake: %v", err)
	}
	if receive(c, 100*time.Millisecond) {
		t.Fatal("signalled before anything was enqueued")
	}
	if _, err := elsewhere.Enqueue(ctx, store.NewJob{Kind: "k", Key: "a"}); err != nil {
		t.Fatal(err)
	}
	if receive(c, 300*time.Millisecond) {
		t.Error("signalled by an enqueue to another schema")
	}
	start := time.Now()
	if _, err := other.Enqueue(ctx, store.NewJob{Kind: "k", Key: "a"}); err != nil {
		t.Fatal(err)
	}
	if !receive(c, 10*time.Second) {
		t.Fatal("no signal within 10s of an enqueue by another replica")
	}
	t.Logf("signal %v after the enqueue began", time.Since(start))
	cancel()
	select {
	case _, ok := <-c:
		if ok {
			// A pending signal; the close follows.
			if _, ok := <-c; ok {
				t.Error("a second value after cancel")
			}
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the channel was not closed 10s after ctx ended")
	}
}

func TestWakeCancelled(t *testing.T) {
	s, _ := newStore(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.Wake(ctx); err == nil {
		t.Fatal("Wake with an ended context succeeded")
	}
}

// BenchmarkEnqueueNotify measures what the jobs_notify trigger adds to an
// Enqueue: the same enqueue with the trigger on and, in a schema of its
// own, disabled.
func BenchmarkEnqueueNotify(b *testing.B) {
	for _, on := range []bool{true, false} {
		name := "TriggerOn"
		if !on {
			name = "TriggerOff"
		}
		b.Run(name, func(b *testing.B) {
			s, pool := newStore(b)
			ctx := context.Background()
			if !on {
				if _, err := pool.Exec(ctx, "ALTER TABLE "+s.Schema()+".jobs DISABLE TRIGGER jobs_notify"); err != nil {
					b.Fatal(err)
				}
			}
			payload := make([]byte, 128)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if _, err := s.Enqueue(ctx, store.NewJob{Kind: "bench", Key: fmt.Sprint("k", i%64), Payload: payload}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
