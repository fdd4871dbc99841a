package memstore

import (
	"context"
	"sync"

	"github.com/smsrelay/smsrelay/store"
)

var _ store.Waker = (*Store)(nil)

// wakers are the channels of Wake's callers.
type wakers struct {
	mu   sync.Mutex
	subs map[chan struct{}]struct{}
}

// signal tells every subscriber, without blocking, that a job may be ready.
func (w *wakers) signal() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for c := range w.subs {
		select {
		case c <- struct{}{}:
		default: // one is pending already
		}
	}
}

// Wake implements [store.Waker]: the channel receives a value after each
// Enqueue and Replay on this Store (coalesced while one is pending), until
// ctx ends; then it is closed.
func (s *Store) Wake(ctx context.Context) (<-chan struct{}, error) {
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	c := make(chan struct{}, 1)
	w := &s.wake
	w.mu.Lock()
	if w.subs == nil {
		w.subs = make(map[chan struct{}]struct{})
	}
	w.subs[c] = struct{}{}
	w.mu.Unlock()
	context.AfterFunc(ctx, func() {
		w.mu.Lock()
		delete(w.subs, c)
		w.mu.Unlock()
		close(c)
	})
	return c, nil
}
