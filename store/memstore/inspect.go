package memstore

import (
	"context"
	"slices"
	"strings"

	"github.com/smsrelay/smsrelay/store"
)

// KindStats implements [store.QueueInspector].
func (s *Store) KindStats(ctx context.Context) ([]store.KindStats, error) {
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	by := map[string]*store.KindStats{}
	get := func(kind string) *store.KindStats {
		k := by[kind]
		if k == nil {
			k = &store.KindStats{Kind: kind}
			by[kind] = k
		}
		return k
	}
	for _, j := range s.q.jobs {
		k := get(j.Kind)
		switch j.State {
		case store.JobLeased:
			k.Leased++
		default:
			k.Ready++
			if k.OldestReady.IsZero() || j.CreatedAt.Before(k.OldestReady) {
				k.OldestReady = j.CreatedAt
			}
		}
	}
	for _, j := range s.q.dead {
		get(j.Kind).Dead++
	}
	out := make([]store.KindStats, 0, len(by))
	for _, k := range by {
		out = append(out, *k)
	}
	slices.SortFunc(out, func(a, b store.KindStats) int { return strings.Compare(a.Kind, b.Kind) })
	return out, nil
}
