package storetest

import (
	"testing"
	"time"

	"github.com/smsrelay/smsrelay/store"
)

// TestKindStats checks [store.QueueInspector] on backends that have it,
// and skips, saying so, on those that do not.
func TestKindStats(t *testing.T, newStore func(*testing.T) Backend) {
	t.Run("CountsByKindAndState", func(t *testing.T) {
		e := open(t, newStore)
		in, ok := e.b.(store.QueueInspector)
		if !ok {
			t.Skip("the backend does not implement store.QueueInspector")
		}
		if ks, err := in.KindStats(e.ctx); err != nil || len(ks) != 0 {
			t.Fatalf("KindStats of an empty queue = %+v, %v, want none", ks, err)
		}
		enq := func(kind, key string) store.Job {
			t.Helper()
			j, err := e.b.Enqueue(e.ctx, store.NewJob{Kind: kind, Key: key})
			if err != nil {
				t.Fatal(err)
			}
			return j
		}
		enq("a", "k1")
		enq("b", "k2")
		time.Sleep(2 * time.Millisecond) // a later CreatedAt, at any clock resolution
		a2 := enq("a", "k3")
		leased := e.claim(longLease) // a on k1, the oldest
		if leased.Kind != "a" {
			t.Fatalf("claimed a job of kind %q first, want the oldest (a)", leased.Kind)
		}
		b := e.claim(longLease)
		if b.Kind != "b" {
			t.Fatalf("claimed a job of kind %q second, want b", b.Kind)
		}
		if err := e.b.DeadLetter(e.ctx, b, "gave up"); err != nil {
			t.Fatal(err)
		}
		ks, err := in.KindStats(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(ks) != 2 || ks[0].Kind != "a" || ks[1].Kind != "b" {
			t.Fatalf("KindStats = %+v, want kinds a and b, sorted", ks)
		}
		if a := ks[0]; a.Ready != 1 || a.Leased != 1 || a.Dead != 0 {
			t.Errorf("kind a = %+v, want 1 ready and 1 leased", a)
		}
		if d := ks[0].OldestReady.Sub(a2.CreatedAt); d < -time.Millisecond || d > time.Millisecond {
			t.Errorf("kind a's oldest ready job was enqueued at %v, want %v (the ready one's CreatedAt)", ks[0].OldestReady, a2.CreatedAt)
		}
		if b := ks[1]; b.Ready != 0 || b.Leased != 0 || b.Dead != 1 || !b.OldestReady.IsZero() {
			t.Errorf("kind b = %+v, want 1 dead and no oldest ready time", b)
		}
		if err := e.b.Complete(e.ctx, leased); err != nil {
			t.Fatal(err)
		}
		ks, err = in.KindStats(e.ctx)
		if err != nil || len(ks) != 2 || ks[0].Leased != 0 || ks[0].Ready != 1 {
			t.Errorf("after completing the leased job: %+v, %v", ks, err)
		}
	})
}
