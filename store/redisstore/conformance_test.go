package redisstore

import (
	"strings"
	"testing"
	"time"

	"github.com/smsrelay/smsrelay/store/storetest"
)

// replicated is a Store that can open replicas of itself: more Stores, each
// on its own client, on the same prefix, as separate processes would.
type replicated struct{ *Store }

// Replica implements storetest.Replicator.
func (r replicated) Replica(t *testing.T) storetest.Backend {
	s, err := New(testClient(t), WithPrefix(strings.Trim(r.Prefix(), "{}:")))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	testClient(t) // skip before the suite starts its subtests
	storetest.Run(t, func(t *testing.T) storetest.Backend {
		s, _ := newTestStore(t)
		return replicated{s}
	})
}

// TestConformanceRecordTTL runs the suite again with a record TTL, which must
// not change any behaviour the suite can see.
func TestConformanceRecordTTL(t *testing.T) {
	testClient(t)
	storetest.Run(t, func(t *testing.T) storetest.Backend {
		s0, c := newTestStore(t)
		s, err := New(c, WithPrefix(s0.Prefix()[1:len(s0.Prefix())-2]), WithRecordTTL(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		return replicated{s}
	})
}

func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, func(b *testing.B) storetest.Backend {
		s, _ := newTestStore(b)
		return s
	})
}
