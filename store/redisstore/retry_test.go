package redisstore

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/smsrelay/smsrelay/store"
)

// lossyProxy forwards TCP connections to target. When armed, it swallows the
// next reply from Redis and closes the client's connection, as a network
// failure after Redis ran the command would; the client then sends the
// command again on a new connection.
func lossyProxy(t *testing.T, target string) (addr string, armed *atomic.Bool) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	armed = new(atomic.Bool)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r, err := net.Dial("tcp", target)
			if err != nil {
				_ = c.Close()
				continue
			}
			go func() {
				_, _ = io.Copy(r, c)
				_ = r.Close()
			}()
			go func() {
				defer c.Close()
				defer r.Close()
				buf := make([]byte, 64<<10)
				for {
					n, err := r.Read(buf)
					if err != nil || armed.CompareAndSwap(true, false) {
						return
					}
					if _, err := c.Write(buf[:n]); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String(), armed
}

// lossyStore returns a store reached through a lossyProxy and a direct
// store over the same keys, to set up and inspect state.
func lossyStore(t *testing.T) (lossy, direct *Store, armed *atomic.Bool) {
	t.Helper()
	direct, _ = newTestStore(t)
	opt, err := redis.ParseURL(os.Getenv(redisURLEnv))
	if err != nil {
		t.Fatal(err)
	}
	opt.Addr, armed = lossyProxy(t, opt.Addr)
	opt.PoolSize = 1
	opt.MaxRetries = 3 // the go-redis default, spelled out: the test relies on it
	c := redis.NewClient(opt)
	t.Cleanup(func() { _ = c.Close() })
	lossy, err = New(c, WithPrefix(strings.Trim(direct.Prefix(), "{}:")))
	if err != nil {
		t.Fatal(err)
	}
	return lossy, direct, armed
}

// TestLostReplyRunsOnce loses the reply to each operation once, so that
// go-redis sends the command again although Redis ran it, and checks the
// operation took effect once and reported success.
func TestLostReplyRunsOnce(t *testing.T) {
	testClient(t)
	type fixture struct {
		lossy, direct *Store
		armed         *atomic.Bool
		ctx           context.Context
	}
	enqueue := func(t *testing.T, f fixture, key string) store.Job {
		t.Helper()
		j, err := f.direct.Enqueue(f.ctx, store.NewJob{Kind: "sms", Key: key})
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	claim := func(t *testing.T, f fixture) store.Job {
		t.Helper()
		j, err := f.direct.Claim(f.ctx, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	stats := func(t *testing.T, f fixture, want store.Stats) {
		t.Helper()
		got, err := f.direct.Stats(f.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("Stats = %+v, want %+v", got, want)
		}
	}
	tests := []struct {
		name string
		// run sets up with f.direct, arms the proxy, calls the operation on
		// f.lossy and checks the outcome.
		run func(t *testing.T, f fixture)
	}{
		{"Enqueue", func(t *testing.T, f fixture) {
			f.armed.Store(true)
			j, err := f.lossy.Enqueue(f.ctx, store.NewJob{Kind: "sms", Key: "k", Payload: []byte("send once")})
			if err != nil {
				t.Fatalf("Enqueue: %v", err)
			}
			stats(t, f, store.Stats{Ready: 1})
			got := claim(t, f)
			if got.ID != j.ID || !got.CreatedAt.Equal(j.CreatedAt) {
				t.Errorf("claimed %s created %v, want the enqueued %s created %v", got.ID, got.CreatedAt, j.ID, j.CreatedAt)
			}
		}},
		{"EnqueueDedupe", func(t *testing.T, f fixture) {
			nj := store.NewJob{Kind: "sms", Key: "k", DedupeKey: "SM1", DedupeTTL: time.Hour}
			f.armed.Store(true)
			if _, err := f.lossy.Enqueue(f.ctx, nj); err != nil {
				t.Fatalf("Enqueue: %v, want the job inserted", err)
			}
			stats(t, f, store.Stats{Ready: 1})
			if _, err := f.direct.Enqueue(f.ctx, nj); !errors.Is(err, store.ErrDuplicate) {
				t.Errorf("second Enqueue of the key: %v, want ErrDuplicate", err)
			}
		}},
		{"Claim", func(t *testing.T, f fixture) {
			a := enqueue(t, f, "a")
			b := enqueue(t, f, "b")
			f.armed.Store(true)
			j, err := f.lossy.Claim(f.ctx, time.Minute)
			if err != nil {
				t.Fatalf("Claim: %v", err)
			}
			if j.ID != a.ID || j.Attempt != 1 {
				t.Errorf("Claim = job %s attempt %d, want %s attempt 1", j.ID, j.Attempt, a.ID)
			}
			stats(t, f, store.Stats{Ready: 1, Leased: 1})
			if got := claim(t, f); got.ID != b.ID {
				t.Errorf("next Claim = %s, want %s: the lost reply leased a job to nobody", got.ID, b.ID)
			}
			if err := f.direct.Complete(f.ctx, j); err != nil {
				t.Errorf("Complete of the job the repeated Claim returned: %v", err)
			}
		}},
		{"Complete", func(t *testing.T, f fixture) {
			enqueue(t, f, "k")
			j := claim(t, f)
			f.armed.Store(true)
			if err := f.lossy.Complete(f.ctx, j); err != nil {
				t.Fatalf("Complete: %v", err)
			}
			stats(t, f, store.Stats{})
			if err := f.direct.Complete(f.ctx, j); !errors.Is(err, store.ErrLeaseLost) {
				t.Errorf("a second Complete call: %v, want ErrLeaseLost", err)
			}
		}},
		{"Retry", func(t *testing.T, f fixture) {
			enqueue(t, f, "k")
			j := claim(t, f)
			f.armed.Store(true)
			if err := f.lossy.Retry(f.ctx, j, 0, "busy"); err != nil {
				t.Fatalf("Retry: %v", err)
			}
			if got := claim(t, f); got.ID != j.ID || got.Attempt != 2 || got.LastError != "busy" {
				t.Errorf("Claim after Retry = %s attempt %d %q, want %s attempt 2 \"busy\"", got.ID, got.Attempt, got.LastError, j.ID)
			}
		}},
		{"DeadLetter", func(t *testing.T, f fixture) {
			enqueue(t, f, "k")
			j := claim(t, f)
			f.armed.Store(true)
			if err := f.lossy.DeadLetter(f.ctx, j, "bad number"); err != nil {
				t.Fatalf("DeadLetter: %v", err)
			}
			stats(t, f, store.Stats{Dead: 1})
		}},
		{"Extend", func(t *testing.T, f fixture) {
			enqueue(t, f, "k")
			j := claim(t, f)
			f.armed.Store(true)
			if err := f.lossy.Extend(f.ctx, j, time.Hour); err != nil {
				t.Fatalf("Extend: %v", err)
			}
			if err := f.direct.Complete(f.ctx, j); err != nil {
				t.Errorf("Complete after Extend: %v", err)
			}
		}},
		{"Replay", func(t *testing.T, f fixture) {
			enqueue(t, f, "k")
			j := claim(t, f)
			if err := f.direct.DeadLetter(f.ctx, j, "x"); err != nil {
				t.Fatal(err)
			}
			f.armed.Store(true)
			if err := f.lossy.Replay(f.ctx, j.ID); err != nil {
				t.Fatalf("Replay: %v", err)
			}
			stats(t, f, store.Stats{Ready: 1})
		}},
		{"DiscardDeadLetter", func(t *testing.T, f fixture) {
			enqueue(t, f, "k")
			j := claim(t, f)
			if err := f.direct.DeadLetter(f.ctx, j, "x"); err != nil {
				t.Fatal(err)
			}
			f.armed.Store(true)
			if err := f.lossy.DiscardDeadLetter(f.ctx, j.ID); err != nil {
				t.Fatalf("DiscardDeadLetter: %v", err)
			}
			stats(t, f, store.Stats{})
		}},
		{"MarkSeen", func(t *testing.T, f fixture) {
			f.armed.Store(true)
			if ok, err := f.lossy.MarkSeen(f.ctx, "SM1", time.Hour); err != nil || !ok {
				t.Fatalf("MarkSeen of a new key = %v, %v; want true", ok, err)
			}
			if ok, err := f.direct.MarkSeen(f.ctx, "SM1", time.Hour); err != nil || ok {
				t.Errorf("second MarkSeen = %v, %v; want false", ok, err)
			}
		}},
		{"AdvanceMessageStatus", func(t *testing.T, f fixture) {
			if err := f.direct.PutMessage(f.ctx, store.Message{SID: "SM1", ConversationID: "c", Status: "queued"}); err != nil {
				t.Fatal(err)
			}
			f.armed.Store(true)
			m, changed, err := f.lossy.AdvanceMessageStatus(f.ctx, "SM1", "delivered", 0)
			if err != nil || !changed || m.Status != "delivered" {
				t.Fatalf("AdvanceMessageStatus = %q, %v, %v; want delivered, changed", m.Status, changed, err)
			}
			if _, changed, err := f.direct.AdvanceMessageStatus(f.ctx, "SM1", "delivered", 0); err != nil || changed {
				t.Errorf("second AdvanceMessageStatus: changed %v, %v; want unchanged", changed, err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			lossy, direct, armed := lossyStore(t)
			f := fixture{lossy: lossy, direct: direct, armed: armed, ctx: t.Context()}
			// Load the scripts and open the connection before arming, so
			// that the lost reply is the operation's own.
			if _, err := lossy.Enqueue(f.ctx, store.NewJob{Kind: "warm", Key: "warm"}); err != nil {
				t.Fatal(err)
			}
			w, err := direct.Claim(f.ctx, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if err := direct.Complete(f.ctx, w); err != nil {
				t.Fatal(err)
			}
			if _, err := lossy.Stats(f.ctx); err != nil {
				t.Fatal(err)
			}
			tt.run(t, f)
			if armed.Load() {
				t.Fatal("the proxy lost no reply: the test did not exercise a repeated command")
			}
		})
	}
}

// TestRepeatedEnqueueAfterMarkerExpired runs the enqueue script twice with
// one job id, the second time after the request marker is gone: the dedupe
// key, which holds the job id, still makes the repeat a success.
func TestRepeatedEnqueueAfterMarkerExpired(t *testing.T) {
	t.Parallel()
	s, c := newTestStore(t)
	ctx := t.Context()
	id := newToken()
	run := func() []any {
		t.Helper()
		res, err := s.eval(ctx, s.enqueue, id, "sms", "k", "p", "SM1", int64(60000)).Slice()
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	first := run()
	if err := c.Del(ctx, s.key("req", id)).Err(); err != nil {
		t.Fatal(err)
	}
	second := run()
	if reply(second).int(0) != 1 || reply(second).str(1) != id || reply(second).int(2) != reply(first).int(2) {
		t.Fatalf("repeat = %v, want %v", second, first)
	}
	if st, err := s.Stats(ctx); err != nil || st != (store.Stats{Ready: 1}) {
		t.Fatalf("Stats = %+v, %v; want one ready job", st, err)
	}
}
