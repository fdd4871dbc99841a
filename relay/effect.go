package relay

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/smsrelay/smsrelay/intercom"
)

// This file is the relay's one "look before repeating" step. Neither
// Intercom nor Twilio takes an idempotency key, so a request whose outcome
// the relay did not record (the answer was lost to a timeout or a 502, the
// request was cut off in flight by shutdown or a lost lease, the process
// died, or the store failed to take the record) may have created a
// conversation, a reply or a text. The side effects that create what a
// customer or an agent would see twice go through [once]: starting a
// conversation, posting a customer's text, sending a text, and the notes of
// the identity bridge, of a backfill's texts of ours and of texts sent
// first (a note on a contact is looked for among the contact's notes made
// since the text was sent: merge.go).
//
//   - Before acting, it records the effect's unsure marker (write-ahead),
//     so that whatever happens next, a later attempt knows this one may
//     have acted.
//   - If the marker was already there (a retry, a job run again after a
//     crash, a replayed dead letter: whatever the attempt number), it first
//     looks for what the earlier attempt may have created, and takes it
//     instead of acting again.
//   - When it cannot look (the client lacks the capability, or Intercom
//     refuses the lookup for good), it acts again: a duplicate is better
//     than a loss.
//   - After an ambiguous failure it records the effect's extra markers, on
//     a context that survives the cancellation that caused the failure.
//
// What happened is recorded by the caller right after the effect, on
// [detached], for the same reason. A look is one more API call, made
// only when the marker shows an earlier attempt. Other notes,
// assignments and tags do not go through once: a repeated one is
// harmless, and looking would cost budget.

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
	// unsure is recorded before every attempt: once it exists, an attempt
	// may have acted.
	unsure marker
	// extra are further markers recorded after an ambiguous failure, for
	// other jobs to learn of the doubt.
	extra []marker
	// look finds what an earlier attempt created, if anything. nil when the
	// relay cannot look (the client lacks the capability).
	look func(ctx context.Context) (T, bool, error)
	// do performs the side effect.
	do func(ctx context.Context) (T, error)
	// ambiguous reports whether a failed do may have taken effect.
	ambiguous func(error) bool
}

// once runs e, looking first when an earlier attempt may have acted. It
// returns the result and whether it was found rather than made now.
func once[T any](ctx context.Context, r *Relay, e sideEffect[T]) (T, bool, error) {
	var zero T
	maybe, err := r.st.Marked(ctx, string(e.unsure))
	if err != nil {
		return zero, false, fmt.Errorf("%s: reading the unsure marker: %w", e.what, err)
	}
	if maybe {
		v, found, err := lookFor(ctx, r, e)
		if err != nil || found {
			return v, found, err
		}
	} else if err := r.st.Mark(ctx, string(e.unsure)); err != nil {
		return zero, false, fmt.Errorf("%s: recording the attempt: %w", e.what, err)
	}
	v, err := e.do(ctx)
	if err != nil && e.ambiguous(err) && len(e.extra) > 0 {
		mctx, cancel := detached(ctx)
		defer cancel()
		for _, m := range e.extra {
			if merr := r.st.Mark(mctx, string(m)); merr != nil {
				r.log.Error("relay: recording an unsure outcome failed", "effect", e.what, "err", merr)
			}
		}
	}
	return v, false, err
}

// lookFor looks for what an earlier attempt at e created. A lookup the
// relay cannot make, that Intercom refuses for good, or that has more to
// read than its bound ([intercom.ErrTooManyResults]) lets e act again.
func lookFor[T any](ctx context.Context, r *Relay, e sideEffect[T]) (T, bool, error) {
	var zero T
	if e.look == nil {
		r.log.Warn("relay: an earlier attempt may have taken effect and cannot be looked for; acting again, perhaps twice", "effect", e.what)
		return zero, false, nil
	}
	v, found, err := e.look(ctx)
	switch {
	case err == nil && found:
		r.log.Info("relay: an earlier attempt took effect after all", "effect", e.what)
		return v, true, nil
	case err == nil:
		return zero, false, nil
	case refused(err):
		r.log.Warn("relay: looking for an earlier attempt was refused; acting again, perhaps twice", "effect", e.what, "err", err)
		return zero, false, nil
	case errors.Is(err, intercom.ErrTooManyResults):
		r.log.Warn("relay: too much to look through for an earlier attempt; acting again, perhaps twice", "effect", e.what, "err", err)
		return zero, false, nil
	}
	return zero, false, fmt.Errorf("%s: looking for an earlier attempt: %w", e.what, err)
}

// refused reports whether Intercom refused a request for good: a 4xx other
// than 408, 409 and 429 (a plan without search, a token without the scope).
func refused(err error) bool {
	var ie *intercom.Error
	if !errors.As(err, &ie) {
		return false
	}
	switch ie.StatusCode {
	case http.StatusRequestTimeout, http.StatusConflict, http.StatusTooManyRequests:
		return false
	}
	return ie.StatusCode >= 400 && ie.StatusCode < 500
}
