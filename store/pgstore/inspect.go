package pgstore

import (
	"context"
	"time"

	"github.com/smsrelay/smsrelay/store"
)

// KindStats implements [store.QueueInspector]: one aggregate over the jobs
// table.
func (s *Store) KindStats(ctx context.Context) ([]store.KindStats, error) {
	if err := check(ctx, "kind stats"); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, s.q.kindStats)
	if err != nil {
		return nil, wrap("kind stats", err)
	}
	defer rows.Close()
	var out []store.KindStats
	for rows.Next() {
		var (
			k      store.KindStats
			oldest *time.Time
		)
		if err := rows.Scan(&k.Kind, &k.Ready, &k.Leased, &k.Dead, &oldest); err != nil {
			return nil, wrap("kind stats", err)
		}
		if oldest != nil {
			k.OldestReady = *oldest
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("kind stats", err)
	}
	return out, nil
}
