package relay_test

import (
	"context"
	"testing"
	"time"

	"github.com/smsrelay/smsrelay/intercom/intercomtest"
	"github.com/smsrelay/smsrelay/relay"
	"github.com/smsrelay/smsrelay/store"
	"github.com/smsrelay/smsrelay/store/memstore"
)

// hungExtend is a store whose connection went silent for lease extensions:
// Extend never answers, whatever its context says, until release is closed.
type hungExtend struct {
	*memstore.Store
	release chan struct{}
}

func (h hungExtend) Extend(context.Context, store.Job, time.Duration) error {
	<-h.release
	return context.DeadlineExceeded
}

// A lease extension that hangs must not keep a job running past its lease:
// another worker claims the job when the lease lapses, and the two must
// not both send the reply.
func TestHungLeaseExtensionStopsTheJob(t *testing.T) {
	he := hungExtend{Store: memstore.New(), release: make(chan struct{})}
	h := newHarness(t, nil, func(c *relay.Config, _ *intercomtest.Server) {
		c.Store, c.Queue = he, he
		c.Lease = 150 * time.Millisecond
		c.Workers = 2
	})
	h.text(customer, "Hello")
	h.drain()
	h.tw.SetLatency(500 * time.Millisecond)
	h.reply(h.onlyConversation().ID, "Your parcel ships today")
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	// Unblock the hung calls a while after the run, so that a relay that
	// waits for them still returns.
	go func() { time.Sleep(2500 * time.Millisecond); close(he.release) }()
	_ = h.r.Run(ctx)
	if n := len(h.sent()); n > 1 {
		t.Fatalf("customer received %d texts: a worker stuck extending its lease kept sending", n)
	}
}
