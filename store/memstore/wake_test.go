package memstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/smsrelay/smsrelay/store"
	"github.com/smsrelay/smsrelay/store/memstore"
)

func TestWake(t *testing.T) {
	s := memstore.New()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	c1, err := s.Wake(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := s.Wake(ctx)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-c1:
		t.Fatal("signalled before anything was enqueued")
	default:
	}
	for range 3 { // coalesced into one pending signal
		if _, err := s.Enqueue(ctx, store.NewJob{Kind: "k", Key: "a"}); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range []<-chan struct{}{c1, c2} {
		select {
		case <-c:
		default:
			t.Fatalf("subscriber %d was not signalled", i)
		}
		select {
		case <-c:
			t.Fatalf("subscriber %d got more than one pending signal", i)
		default:
		}
	}
	// Replaying a dead letter signals too.
	j, err := s.Claim(ctx, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DeadLetter(ctx, j, "test"); err != nil {
		t.Fatal(err)
	}
	if err := s.Replay(ctx, j.ID); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c1:
	default:
		t.Fatal("Replay did not signal")
	}
	cancel()
	deadline := time.After(5 * time.Second)
	for _, c := range []<-chan struct{}{c1, c2} {
		for open := true; open; {
			select {
			case _, open = <-c:
			case <-deadline:
				t.Fatal("a channel was not closed after ctx ended")
			}
		}
	}
	if _, err := s.Wake(ctx); err == nil {
		t.Error("Wake with an ended context succeeded")
	}
}
