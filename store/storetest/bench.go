package storetest

import (
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/smsrelay/smsrelay/store"
)

// Bench runs the suite's benchmarks against the backends that newStore
// makes, one fresh backend per sub-benchmark run:
//
//   - Enqueue: enqueue a 128-byte job, over 64 keys;
//   - EnqueueClaimComplete: enqueue a job, claim it and complete it;
//   - ClaimCompleteDeep: claim and complete with 10,000 jobs of 100 keys
//     waiting, which shows whether Claim gets slower as the queue grows;
//   - MarkSeen: record a new key with a TTL.
func Bench(b *testing.B, newStore func(b *testing.B) Backend) {
	if newStore == nil {
		b.Fatal("storetest: Bench needs a function that makes backends, got nil")
	}
	payload := make([]byte, 128)
	for i := range payload {
		payload[i] = byte(i)
	}
	keys := make([]string, 100)
	for i := range keys {
		keys[i] = "key-" + strconv.Itoa(i)
	}
	mustBackend := func(b *testing.B) Backend {
		s := newStore(b)
		if s == nil {
			b.Fatal("storetest: the function that makes backends returned nil")
		}
		return s
	}

	b.Run("Enqueue", func(b *testing.B) {
		s, ctx := mustBackend(b), b.Context()
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := s.Enqueue(ctx, store.NewJob{Kind: "bench", Key: keys[i%64], Payload: payload}); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("EnqueueClaimComplete", func(b *testing.B) {
		s, ctx := mustBackend(b), b.Context()
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Enqueue(ctx, store.NewJob{Kind: "bench", Key: "k", Payload: payload}); err != nil {
				b.Fatal(err)
			}
			j, err := s.Claim(ctx, time.Minute)
			if err != nil {
				b.Fatal(err)
			}
			if err := s.Complete(ctx, j); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ClaimCompleteDeep", func(b *testing.B) {
		s, ctx := mustBackend(b), b.Context()
		const depth = 10_000
		for i := range depth {
			if _, err := s.Enqueue(ctx, store.NewJob{Kind: "bench", Key: keys[i%len(keys)], Payload: payload}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			j, err := s.Claim(ctx, time.Minute)
			if errors.Is(err, store.ErrNoJob) {
				b.Fatal("queue drained; the benchmark keeps it full by enqueueing one job per claim")
			}
			if err != nil {
				b.Fatal(err)
			}
			if err := s.Complete(ctx, j); err != nil {
				b.Fatal(err)
			}
			if _, err := s.Enqueue(ctx, store.NewJob{Kind: "bench", Key: keys[i%len(keys)], Payload: payload}); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("MarkSeen", func(b *testing.B) {
		s, ctx := mustBackend(b), b.Context()
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := s.MarkSeen(ctx, "seen-"+strconv.Itoa(i), time.Minute); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}
