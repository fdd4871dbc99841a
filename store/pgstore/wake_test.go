package pgstore_test

import (
	"context"
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
