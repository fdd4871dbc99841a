package redisstore

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/smsrelay/smsrelay/store"
)

var _ store.Waker = (*Store)(nil)

// readyChannel is the pub/sub channel on which the store announces jobs
// that may be ready: one per key prefix.
func (s *Store) readyChannel() string { return s.key("jobs-ready") }

// publishReady announces that a job was enqueued or replayed. It is a hint:
// a failure is logged and otherwise ignored, since the job is stored and
// workers poll anyway.
func (s *Store) publishReady(ctx context.Context) {
	if err := s.rdb.Publish(context.WithoutCancel(ctx), s.readyChannel(), "").Err(); err != nil {
		s.log.LogAttrs(ctx, slog.LevelDebug, "redisstore: announcing a ready job", slog.Any("err", err))
	}
}

// Wake implements [store.Waker] with Redis pub/sub: every Enqueue and
// Replay on the same key prefix, from any process, publishes on a channel
// of the prefix, and the returned channel then receives a value (coalesced
// while one is pending). The subscription holds one connection of its own
// and is re-established by go-redis after a connection is lost
// (announcements sent meanwhile are lost, which only delays jobs until the
// workers' next poll). The channel is closed once ctx ends. Each
// announcement costs Enqueue one PUBLISH round trip.
func (s *Store) Wake(ctx context.Context) (<-chan struct{}, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("redisstore: wake: %w", err)
	}
	sub := s.rdb.Subscribe(ctx, s.readyChannel())
	// Wait for the subscription to be confirmed, so that an enqueue after
	// Wake returns is never missed.
	if _, err := sub.Receive(ctx); err != nil {
		_ = sub.Close()
		return nil, fmt.Errorf("redisstore: wake: subscribe: %w", err)
	}
	msgs := sub.Channel()
	c := make(chan struct{}, 1)
	go func() {
		defer close(c)
		defer sub.Close()
		for {
			select {
			case <-ctx.Done():
				return
			case _, ok := <-msgs:
				if !ok {
					return
				}
				select {
				case c <- struct{}{}:
				default:
				}
			}
		}
	}()
	return c, nil
}
