package pgstore

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/smsrelay/smsrelay/store"
)

var _ store.Waker = (*Store)(nil)

// notifyChannel is the channel the jobs_notify trigger (migration 0006)
// notifies, with the schema name as payload.
const notifyChannel = "smsrelay_jobs"

// relistenDelay is how long Wake waits before reconnecting after losing
// its connection; polling covers the gap.
const relistenDelay = time.Second

// Wake implements [store.Waker] with PostgreSQL's LISTEN/NOTIFY: a trigger
// on the jobs table notifies when a transaction that enqueued or replayed
// a job commits, in this process or any other on the same database, and
// the channel then receives a value (coalesced while one is pending).
//
// Wake opens a connection of its own, outside the pool (with the pool's
// connection settings), and holds it until ctx ends; it returns an error
// when it cannot connect or listen at first. A connection lost later is
// re-opened after a second; notifications sent meanwhile are lost, which
// only delays jobs until the workers' next poll. The channel is closed once
// ctx ends.
func (s *Store) Wake(ctx context.Context) (<-chan struct{}, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("pgstore: wake: %w", err)
	}
	conn, err := s.listen(ctx)
	if err != nil {
		return nil, err
	}
	c := make(chan struct{}, 1)
	go func() {
		defer close(c)
		for {
			err := s.forward(ctx, conn, c)
			closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			_ = conn.Close(closeCtx)
			cancel()
			if ctx.Err() != nil {
				return
			}
			s.log.WarnContext(ctx, "pgstore: lost the connection that listens for new jobs; reconnecting", "err", err)
			for conn = nil; conn == nil; {
				t := time.NewTimer(relistenDelay)
				select {
				case <-ctx.Done():
					t.Stop()
					return
				case <-t.C:
				}
				if conn, err = s.listen(ctx); err != nil {
					s.log.WarnContext(ctx, "pgstore: cannot listen for new jobs", "err", err)
				}
			}
			// Jobs enqueued while we were away are found by this signal.
			select {
			case c <- struct{}{}:
			default:
			}
		}
	}()
	return c, nil
}

// listen opens a connection and listens on notifyChannel.
func (s *Store) listen(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return nil, fmt.Errorf("pgstore: wake: connect: %w", err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
		_ = conn.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("pgstore: wake: listen: %w", err)
	}
	return conn, nil
}

// forward signals c for each notification of this store's schema, until
// ctx ends or the connection fails.
func (s *Store) forward(ctx context.Context, conn *pgx.Conn, c chan<- struct{}) error {
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		if n.Payload != s.schema {
			continue
		}
		select {
		case c <- struct{}{}:
		default:
		}
	}
}
