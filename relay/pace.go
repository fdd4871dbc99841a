package relay

import (
	"context"
	"sync"
	"time"

	"github.com/smsrelay/smsrelay/twiliosms"
)

// This file paces the texts the relay sends first (Relay.Send) per sender,
// at the rate Twilio sends from it, so that a bulk send waits in the
// caller rather than piling up in Twilio's queue, where it would delay the
// agents' replies from the same number. Replies are never paced.

// pacers holds one pacer per sender, for the life of the Relay.
type pacers struct {
	rate func(sender string) float64
	mu   sync.Mutex
	by   map[string]*pacer
}

func newPacers(rate func(string) float64) *pacers {
	return &pacers{rate: rate, by: make(map[string]*pacer)}
}

// pacer hands out send slots spaced by every.
type pacer struct {
	every time.Duration
	mu    sync.Mutex
	next  time.Time
}

// pacer returns sender's pacer.
func (r *Relay) pacer(sender string) *pacer {
	ps := r.pacers
	ps.mu.Lock()
	defer ps.mu.Unlock()
	p, ok := ps.by[sender]
	if !ok {
		rate := ps.rate(sender)
		if rate <= 0 {
			rate = twiliosms.DefaultRate(twiliosms.KindOf(sender))
		}
		p = &pacer{every: time.Duration(float64(time.Second) / rate)}
		ps.by[sender] = p
	}
	return p
}

// Wait blocks until the next slot, or returns ctx's error. A slot taken by
// a Wait whose ctx ends is not given back: pacing errs on the slow side.
func (p *pacer) Wait(ctx context.Context) error {
	return sleepCtx(ctx, time.Until(p.take(time.Now())))
}

// take reserves p's next free slot and returns its time.
func (p *pacer) take(now time.Time) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	slot := p.next
	if slot.Before(now) {
		slot = now
	}
	p.next = slot.Add(p.every)
	return slot
}

// sleepCtx waits d, or returns ctx's error.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
