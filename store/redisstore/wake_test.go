package redisstore

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/smsrelay/smsrelay/store"
)

func receive(c <-chan struct{}, d time.Duration) bool {
	select {
	case _, ok := <-c:
		return ok
	case <-time.After(d):
		return false
	}
}

// TestWakeAcrossReplicas listens through one Store and enqueues and
// replays through another on the same prefix, each with its own client as
// separate processes would have; a Store of another prefix does not wake
// it; the channel closes when ctx ends.
func TestWakeAcrossReplicas(t *testing.T) {
	s, c := newTestStore(t)
	c2 := redis.NewClient(c.Options())
	t.Cleanup(func() { _ = c2.Close() })
	other, err := New(c2, WithPrefix(strings.TrimSuffix(strings.TrimPrefix(s.Prefix(), "{"), "}:")))
	if err != nil {
		t.Fatal(err)
	}
	elsewhere, _ := newTestStore(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	w, err := s.Wake(ctx)
	if err != nil {
		t.Fatalf("Wake: %v", err)
	}
	if _, err := elsewhere.Enqueue(ctx, store.NewJob{Kind: "k", Key: "a"}); err != nil {
		t.Fatal(err)
	}
	if receive(w, 200*time.Millisecond) {
		t.Error("woken by an enqueue under another prefix")
	}
	if _, err := other.Enqueue(ctx, store.NewJob{Kind: "k", Key: "a"}); err != nil {
		t.Fatal(err)
	}
	if !receive(w, 10*time.Second) {
		t.Fatal("no signal within 10s of another replica's enqueue")
	}
	j, err := other.Claim(ctx, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := other.DeadLetter(ctx, j, "test"); err != nil {
		t.Fatal(err)
	}
	if err := other.Replay(ctx, j.ID); err != nil {
		t.Fatal(err)
	}
	if !receive(w, 10*time.Second) {
		t.Fatal("no signal within 10s of another replica's replay")
	}
	cancel()
	deadline := time.After(10 * time.Second)
	for open := true; open; {
		select {
		case _, open = <-w:
		case <-deadline:
			t.Fatal("the channel was not closed 10s after ctx ended")
		}
	}
}
