package redisstore

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/smsrelay/smsrelay/store"
)

const redisURLEnv = "SMSRELAY_TEST_REDIS_URL"

// testClient returns a client for the Redis named by SMSRELAY_TEST_REDIS_URL,
// or skips tb when it is unset.
func testClient(tb testing.TB) *redis.Client {
	tb.Helper()
	u := os.Getenv(redisURLEnv)
	if u == "" {
		tb.Skipf("%s is not set; set it to a Redis URL such as redis://127.0.0.1:6379/0 to run the Redis tests", redisURLEnv)
	}
	opt, err := redis.ParseURL(u)
	if err != nil {
		tb.Fatalf("%s: %v", redisURLEnv, err)
	}
	c := redis.NewClient(opt)
	tb.Cleanup(func() { _ = c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		tb.Fatalf("redis at %s: %v", u, err)
	}
	return c
}

// deleteKeys deletes every key matching pattern.
func deleteKeys(tb testing.TB, c *redis.Client, pattern string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	iter := c.Scan(ctx, 0, pattern, 500).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		tb.Errorf("scan %s: %v", pattern, err)
		return
	}
	if len(keys) > 0 {
		if err := c.Del(ctx, keys...).Err(); err != nil {
			tb.Errorf("delete %d keys: %v", len(keys), err)
		}
	}
}

// newTestStore returns a Store under a fresh random prefix whose keys are
// deleted when tb ends.
func newTestStore(tb testing.TB) (*Store, *redis.Client) {
	tb.Helper()
	c := testClient(tb)
	prefix := "smsrelaytest-" + newToken()[:16]
	s, err := New(c, WithPrefix(prefix))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { deleteKeys(tb, c, s.Prefix()+"*") })
	return s, c
}

func TestNewValidation(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}) // never dialled
	t.Cleanup(func() { _ = c.Close() })
	tests := []struct {
		name   string
		client redis.UniversalClient
		opts   []Option
		want   string // substring of the error; "" for success
	}{
		{"defaults", c, nil, ""},
		{"prefix", c, []Option{WithPrefix("relay-eu")}, ""},
		{"nil logger", c, []Option{WithLogger(nil)}, ""},
		{"nil client", nil, nil, "nil redis client"},
		{"empty prefix", c, []Option{WithPrefix("")}, "empty key prefix"},
		{"brace in prefix", c, []Option{WithPrefix("a{b")}, "must not contain"},
		{"closing brace", c, []Option{WithPrefix("a}")}, "must not contain"},
		{"nil option", c, []Option{nil}, "option 0 is nil"},
		{"record ttl", c, []Option{WithRecordTTL(30 * 24 * time.Hour)}, ""},
		{"negative record ttl", c, []Option{WithRecordTTL(-time.Second)}, "negative record TTL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(tt.client, tt.opts...)
			if tt.want == "" {
				if err != nil || s == nil {
					t.Fatalf("New: %v, %v; want a store", s, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New: error %v, want one containing %q", err, tt.want)
			}
		})
	}
	s, err := New(c, WithPrefix("x"), WithPrefix("relay"))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Prefix(); got != "{relay}:" {
		t.Fatalf("Prefix() = %q, want %q (the last WithPrefix wins)", got, "{relay}:")
	}
}

// TestKeysShareOneSlot checks that everything the store writes lives under
// its hash-tagged prefix, so that a Redis Cluster puts it in one slot.
func TestKeysShareOneSlot(t *testing.T) {
	t.Parallel()
	s, c := newTestStore(t)
	ctx := t.Context()
	key := store.ThreadKey{Customer: "+15550000001", Sender: "+15559990000"}
	steps := []error{
		s.SetContact(ctx, key.Customer, "c1"),
		s.PutThread(ctx, store.Thread{Key: key, ConversationID: "conv1", State: store.StateOpen}),
		s.PutMessage(ctx, store.Message{SID: "SM1", ConversationID: "conv1", Status: "queued"}),
		s.Mark(ctx, "part1"),
		s.SetOptedOut(ctx, key, true),
	}
	_, err := s.MarkSeen(ctx, "seen1", time.Minute)
	steps = append(steps, err)
	_, err = s.Enqueue(ctx, store.NewJob{Kind: "k", Key: "a", DedupeKey: "d1", DedupeTTL: time.Minute})
	steps = append(steps, err)
	_, err = s.Enqueue(ctx, store.NewJob{Kind: "k", Key: "b"})
	steps = append(steps, err)
	j, err := s.Claim(ctx, time.Minute)
	steps = append(steps, err, s.DeadLetter(ctx, j, "boom"))
	_, err = s.Claim(ctx, time.Minute)
	steps = append(steps, err)
	if err := errors.Join(steps...); err != nil {
		t.Fatal(err)
	}

	tag := strings.TrimSuffix(s.Prefix(), ":") // "{smsrelaytest-…}"
	keys, err := c.Keys(ctx, "*"+tag[1:len(tag)-1]+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) < 10 {
		t.Fatalf("found only %d keys for the store: %q", len(keys), keys)
	}
	for _, k := range keys {
		if !strings.HasPrefix(k, s.Prefix()) {
			t.Errorf("key %q is outside the prefix %q", k, s.Prefix())
		}
	}
}

func TestRecordTTL(t *testing.T) {
	t.Parallel()
	s0, c := newTestStore(t)
	s, err := New(c, WithPrefix(strings.Trim(s0.Prefix(), "{}:")), WithRecordTTL(300*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if err := s.PutMessage(ctx, store.Message{SID: "SM1", ConversationID: "c", Status: "queued"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Mark(ctx, "p1"); err != nil {
		t.Fatal(err)
	}
	if _, changed, err := s.AdvanceMessageStatus(ctx, "SM1", "sent", 0); err != nil || !changed {
		t.Fatalf("AdvanceMessageStatus: changed %v, %v", changed, err)
	}
	for _, k := range []string{s.key("msg", "SM1"), s.key("part", "p1")} {
		ttl, err := c.PTTL(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		if ttl <= 0 || ttl > 300*time.Millisecond {
			t.Errorf("PTTL(%s) = %v, want in (0, 300ms]", k, ttl)
		}
	}
	// The store without a TTL on the same keys keeps records forever.
	if err := s0.Mark(ctx, "p2"); err != nil {
		t.Fatal(err)
	}
	if ttl, err := c.PTTL(ctx, s0.key("part", "p2")).Result(); err != nil || ttl != -1 {
		t.Errorf("PTTL of a part marked without a record TTL = %v, %v; want -1 (no expiry)", ttl, err)
	}
	time.Sleep(400 * time.Millisecond)
	if _, err := s.Message(ctx, "SM1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Message after its TTL: %v, want ErrNotFound", err)
	}
	if ok, err := s.Marked(ctx, "p1"); err != nil || ok {
		t.Errorf("Marked after its TTL = %v, %v; want false", ok, err)
	}
}

// TestReplicasShareQueue runs several Store values over one prefix, as
// several relay replicas would, and checks that each job is handed out once
// and that jobs of one key never overlap.
func TestReplicasShareQueue(t *testing.T) {
	t.Parallel()
	first, c := newTestStore(t)
	replicas := []*Store{first}
	for range 2 {
		s, err := New(c, WithPrefix(strings.Trim(first.Prefix(), "{}:")))
		if err != nil {
			t.Fatal(err)
		}
		replicas = append(replicas, s)
	}
	ctx := t.Context()
	const keys, perKey = 5, 8
	for i := range perKey {
		for k := range keys {
			_, err := replicas[(i+k)%len(replicas)].Enqueue(ctx, store.NewJob{
				Kind: "k", Key: string(rune('a' + k)), Payload: []byte{byte(i)},
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	}

	var (
		mu      sync.Mutex
		running = map[string]bool{}
		next    = map[string]byte{}
		seen    = map[string]bool{}
		wg      sync.WaitGroup
	)
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := replicas[w%len(replicas)]
			idle := 0
			for idle < 20 {
				j, err := s.Claim(ctx, 10*time.Second)
				if errors.Is(err, store.ErrNoJob) {
					idle++
					time.Sleep(5 * time.Millisecond)
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				idle = 0
				mu.Lock()
				switch {
				case seen[j.ID]:
					t.Errorf("job %s handed out twice", j.ID)
				case running[j.Key]:
					t.Errorf("job %s of key %s handed out while another job of the key runs", j.ID, j.Key)
				case j.Payload[0] != next[j.Key]:
					t.Errorf("key %s: got job %d, want job %d", j.Key, j.Payload[0], next[j.Key])
				}
				seen[j.ID], running[j.Key] = true, true
				next[j.Key]++
				mu.Unlock()
				time.Sleep(time.Millisecond)
				mu.Lock()
				running[j.Key] = false
				mu.Unlock()
				if err := s.Complete(ctx, j); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if len(seen) != keys*perKey {
		t.Fatalf("%d jobs ran, want %d", len(seen), keys*perKey)
	}
}

// TestAdvanceMessageStatusConcurrent races status callbacks of every rank
// and checks the highest rank wins, whatever the arrival order.
func TestAdvanceMessageStatusConcurrent(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	ctx := t.Context()
	if err := s.PutMessage(ctx, store.Message{SID: "SM1", ConversationID: "c", Status: "queued"}); err != nil {
		t.Fatal(err)
	}
	statuses := []string{"sending", "sent", "delivered", "read", "queued", "sent", "sending"}
	var wg sync.WaitGroup
	for range 5 {
		for _, st := range statuses {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, _, err := s.AdvanceMessageStatus(ctx, "SM1", st, 0); err != nil {
					t.Error(err)
				}
			}()
		}
	}
	wg.Wait()
	m, err := s.Message(ctx, "SM1")
	if err != nil {
		t.Fatal(err)
	}
	if m.Status != "read" {
		t.Fatalf("status = %q after racing callbacks, want %q", m.Status, "read")
	}
}

func BenchmarkEnqueue(b *testing.B) {
	s, _ := newTestStore(b)
	ctx := b.Context()
	payload := []byte(`{"sid":"SM0123456789abcdef0123456789abcdef"}`)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := s.Enqueue(ctx, store.NewJob{Kind: "inbound", Key: "k" + string(rune('a'+i%16)), Payload: payload}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkClaimComplete(b *testing.B) {
	s, _ := newTestStore(b)
	ctx := b.Context()
	payload := []byte(`{"sid":"SM0123456789abcdef0123456789abcdef"}`)
	for i := range b.N {
		if _, err := s.Enqueue(ctx, store.NewJob{Kind: "inbound", Key: "k" + string(rune('a'+i%16)), Payload: payload}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		j, err := s.Claim(ctx, time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Complete(ctx, j); err != nil {
			b.Fatal(err)
		}
	}
}

// TestRecordsOfEarlierReleases reads a message hash and a thread as a
// release before store.Message.Started and store.Thread.StateAt wrote them:
// a customer's text that started its conversation carries the status
// "received:started-conversation" and no started field, and the thread has
// no state_at. The message reads as status "received" with Started set,
// also once its status moved on; the thread has a zero StateAt.
func TestRecordsOfEarlierReleases(t *testing.T) {
	t.Parallel()
	s, c := newTestStore(t)
	ctx := t.Context()
	old := func(sid, status string) {
		t.Helper()
		err := c.HSet(ctx, s.key("msg", sid), fConversation, "conv-1", fPart, "", fCustomer, "+15550000001",
			fSender, "+15559990000", fStatus, status, fErrorCode, 0, fRank, store.StatusRank(status)).Err()
		if err != nil {
			t.Fatal(err)
		}
	}
	old("SM-started", "received:started-conversation")
	old("SM-added", "received")
	want := func(sid, status string, started bool) {
		t.Helper()
		m, err := s.Message(ctx, sid)
		if err != nil {
			t.Fatal(err)
		}
		if m.Status != status || m.Started != started {
			t.Errorf("Message(%s) = status %q, Started %v; want %q, %v", sid, m.Status, m.Started, status, started)
		}
	}
	want("SM-started", "received", true)
	want("SM-added", "received", false)
	m, changed, err := s.AdvanceMessageStatus(ctx, "SM-started", "delivered", 0)
	if err != nil || !changed || m.Status != "delivered" || !m.Started {
		t.Fatalf("AdvanceMessageStatus of an old record = %+v, %v, %v; want delivered and Started", m, changed, err)
	}
	want("SM-started", "delivered", true)

	key := store.ThreadKey{Customer: "+15550000001", Sender: "+15559990000"}
	err = c.HSet(ctx, s.key("threads"), key.String(),
		`{"contact_id":"c1","conversation_id":"conv-1","state":"open","last_inbound":"2024-05-06T07:08:09Z"}`).Err()
	if err != nil {
		t.Fatal(err)
	}
	th, err := s.Thread(ctx, key)
	if err != nil || !th.StateAt.IsZero() || th.State != store.StateOpen || th.LastInbound.IsZero() {
		t.Fatalf("Thread of an old record = %+v, %v; want it open, with LastInbound and a zero StateAt", th, err)
	}
}
