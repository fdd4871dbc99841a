package store

import (
	"context"
	"time"
)

// KindStats counts the jobs of one kind by state.
type KindStats struct {
	Kind   string
	Ready  int // waiting, whether or not their run time has come
	Leased int // claimed and not finished
	Dead   int // dead-lettered
	// OldestReady is when the oldest of the kind's ready jobs was
	// enqueued (its CreatedAt); the zero time when none is ready.
	OldestReady time.Time
}

// QueueInspector is an optional capability of a [Queue]: counting its
// jobs per kind, for operators and metrics. memstore, pgstore and
// redisstore have it; the conformance suite checks it when a store does.
type QueueInspector interface {
	// KindStats counts the jobs of every kind that has any, sorted by
	// kind. Like Stats, it counts a job whose lease ran out as leased
	// until it is claimed again.
	KindStats(ctx context.Context) ([]KindStats, error)
}
