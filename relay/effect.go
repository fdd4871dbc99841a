package relay

import (
	"context"
	"fmt"
	"time"
)

// This file is the relay's one "look before repeating" step. Neither
// Intercom nor Twilio takes an idempotency key, so a request whose outcome
// was unknown (a timeout, a 502, a request cut off in flight by shutdown or
// a lost lease) may have created a conversation, a reply or a text. Every
// side effect that can be ambiguous goes through [once]:
//
//   - before acting, if the effect's unsure marker exists (whatever the
//     attempt number: a replayed dead letter starts again at attempt 1), it
//     looks for what the earlier attempt may have created, and takes it
//     instead of acting again;
//   - after an ambiguous failure, it records the unsure marker on a context
//     that survives the cancellation that caused the failure;
//   - when it cannot look (the client lacks the capability, or the lookup
//     is refused for good), it acts again: a duplicate is better than a
//     loss.
//
// What happened is recorded by the caller right after the effect, on
// [detached], for the same reason.

// recordTimeout bounds a record written on a detached context.
const recordTimeout = 10 * time.Second

// detached returns a context that keeps ctx's values but not its
// cancellation, bounded by recordTimeout: for the records that must follow
// a side effect even when the job was cancelled in the middle of it.
func detached(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
}

// sideEffect is one request that creates something in Intercom or Twilio.
type sideEffect[T any] struct {
	// what names it in logs and errors: "starting a conversation".
	what string
	// unsure is recorded when an attempt's outcome is unknown.
	unsure marker
	// extra are further markers recorded along with unsure, for other jobs
	// to learn of the doubt.
	extra []marker
	// look finds what an earlier unsure attempt created, if anything. nil
	// when the relay cannot look (the client lacks the capability).
	look func(ctx context.Context) (T, bool, error)
	// do performs the side effect.
	do func(ctx context.Context) (T, error)
	// ambiguous reports whether a failed do may have taken effect.
	ambiguous func(error) bool
}

// once runs e, looking first when an earlier attempt was unsure. It returns
// the result and whether it was found rather than made now.
func once[T any](ctx context.Context, r *Relay, e sideEffect[T]) (T, bool, error) {
	var zero T
	maybe, err := r.st.Marked(ctx, string(e.unsure))
	if err != nil {
		return zero, false, fmt.Errorf("relay: %s: reading the unsure marker: %w", e.what, err)
	}
	if maybe {
		if e.look == nil {
			r.log.Warn("relay: an earlier attempt may have taken effect and cannot be looked for; acting again, perhaps twice", "effect", e.what)
		} else {
			v, found, err := e.look(ctx)
			if err != nil {
				return zero, false, fmt.Errorf("relay: %s: looking for an earlier attempt: %w", e.what, err)
			}
			if found {
				r.log.Info("relay: an earlier attempt took effect after all", "effect", e.what)
				return v, true, nil
			}
		}
	}
	v, err := e.do(ctx)
	if err != nil && e.ambiguous(err) {
		mctx, cancel := detached(ctx)
		defer cancel()
		for _, m := range append([]marker{e.unsure}, e.extra...) {
			if merr := r.st.Mark(mctx, string(m)); merr != nil {
				// The next attempt will act without looking: perhaps twice.
				r.log.Error("relay: recording an unsure outcome failed", "effect", e.what, "err", merr)
			}
		}
	}
	return v, false, err
}
