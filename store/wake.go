package store

import "context"

// Waker is an optional capability of a [Queue]: it tells idle workers that
// a job may have become ready, so that they claim it at once rather than at
// their next poll. memstore signals its own enqueues; pgstore signals every
// enqueue to its schema, from any process, through PostgreSQL's
// LISTEN/NOTIFY; redisstore through Redis pub/sub.
//
// Signals are hints: best effort and coalesced. A worker that receives one
// claims until the queue has nothing for it; a signal lost (a dropped
// connection, a full channel) only delays a job until the next poll, which
// the worker keeps doing.
type Waker interface {
	// Wake returns a channel that receives a value soon after a job was
	// enqueued or replayed, until ctx ends; the channel is closed after
	// ctx ends or the queue can no longer signal. It returns an error when
	// it cannot start (the caller then polls only).
	Wake(ctx context.Context) (<-chan struct{}, error)
}
