package redisstore

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/smsrelay/smsrelay/store"
)

// KindStats implements [store.QueueInspector]. It reads every job's kind,
// state and creation time, in pipelined batches rather than one script,
// so that a long queue does not hold Redis up: the figures are a sum of
// moments close together, not one snapshot, and the call takes time in
// proportion to the queue.
func (s *Store) KindStats(ctx context.Context) ([]store.KindStats, error) {
	if err := check(ctx, "kind stats"); err != nil {
		return nil, err
	}
	live, err := s.rdb.SMembers(ctx, s.key("pending")).Result()
	if err != nil {
		return nil, wrap("kind stats", err)
	}
	dead, err := s.rdb.ZRange(ctx, s.key("dead"), 0, -1).Result()
	if err != nil {
		return nil, wrap("kind stats", err)
	}
	by := map[string]*store.KindStats{}
	const batch = 500
	ids := append(live, dead...)
	for start := 0; start < len(ids); start += batch {
		chunk := ids[start:min(start+batch, len(ids))]
		cmds := make([]*redis.SliceCmd, len(chunk))
		_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, id := range chunk {
				cmds[i] = p.HMGet(ctx, s.key("job", id), "kind", "state", "created")
			}
			return nil
		})
		if err != nil {
			return nil, wrap("kind stats", err)
		}
		for _, c := range cmds {
			v := c.Val()
			kind, _ := v[0].(string)
			state, _ := v[1].(string)
			if kind == "" {
				continue // finished between the listing and the read
			}
			k := by[kind]
			if k == nil {
				k = &store.KindStats{Kind: kind}
				by[kind] = k
			}
			switch state {
			case "leased":
				k.Leased++
			case "dead":
				k.Dead++
			default:
				k.Ready++
				created, _ := v[2].(string)
				if us, err := strconv.ParseInt(created, 10, 64); err == nil {
					t := time.UnixMicro(us)
					if k.OldestReady.IsZero() || t.Before(k.OldestReady) {
						k.OldestReady = t
					}
				}
			}
		}
	}
	out := make([]store.KindStats, 0, len(by))
	for _, k := range by {
		out = append(out, *k)
	}
	slices.SortFunc(out, func(a, b store.KindStats) int { return strings.Compare(a.Kind, b.Kind) })
	return out, nil
}
