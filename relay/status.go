package relay

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/smsrelay/smsrelay/store"
	"github.com/smsrelay/smsrelay/twiliosms"
)

// statusJob is a Twilio status callback.
type statusJob struct {
	MessageSID   string `json:"message_sid"`
	Status       string `json:"status"`
	ErrorCode    int    `json:"error_code,omitempty"`
	ErrorMessage string `json:"error_message,omitempty"`
}

// unknownStatusAttempts is how often, at least, a status for a message the
// relay has not recorded is tried: the callback can overtake the record of
// the send.
const unknownStatusAttempts = 3

// unknownStatusHorizon is how long a status for a message the relay has not
// recorded keeps being looked at: the record of a send can wait for a
// process that died right after sending, until its lease lapses and the
// job runs again, looks among Twilio's texts and records what it finds.
// Status jobs are keyed by message, so the wait holds up nothing else.
func (r *Relay) unknownStatusHorizon() time.Duration {
	return 2*r.cfg.Lease + 10*r.cfg.RetryBase
}

func (r *Relay) handleStatus(ctx context.Context, s statusJob, job store.Job) error {
	m, err := r.st.Message(ctx, s.MessageSID)
	if errors.Is(err, store.ErrNotFound) {
		if job.Attempt < unknownStatusAttempts || time.Since(job.CreatedAt) < r.unknownStatusHorizon() {
			return deferFor(fmt.Errorf("relay: status %q for message %s that is not recorded yet", s.Status, s.MessageSID),
				r.backoff(job.Attempt))
		}
		r.log.Info("relay: ignoring status of a message the relay did not send", "sid", s.MessageSID)
		return nil
	}
	if err != nil {
		return fmt.Errorf("relay: reading message: %w", err)
	}
	if store.StatusRank(s.Status) <= store.StatusRank(m.Status) {
		return nil // older news, or already final
	}
	if s.Status == "failed" || s.Status == "undelivered" {
		// Note first: if the note fails, the status stays unadvanced and the
		// retry notes again.
		what := failedUndelivered
		if s.Status == "failed" {
			what = failedCouldNotSend
		}
		if s.ErrorCode == twiliosms.CodeOptedOut {
			if err := r.st.SetOptedOut(ctx, m.Thread, true); err != nil {
				return fmt.Errorf("relay: recording opt-out: %w", err)
			}
			// Mirrored on the contact like every opt-out (contactsync.go).
			if err := r.enqueueOptOutSync(ctx, m.Thread, optSourceStatus(s.MessageSID)); err != nil {
				return err
			}
		}
		if strings.HasPrefix(m.PartID, identityPartPrefix) {
			what = failedIdentityUndelivered
		}
		if strings.HasPrefix(m.PartID, proactivePartPrefix) {
			what = failedFirstUndelivered
			if s.Status == "failed" {
				what = failedFirstCouldNotSend
			}
			if err := r.proactiveFailed(ctx, m, noteFailure(what, s.ErrorCode, s.ErrorMessage)); err != nil {
				return err
			}
		} else if _, err := r.ic.AddNote(ctx, m.ConversationID, r.cfg.NoteAuthor, noteFailure(what, s.ErrorCode, s.ErrorMessage)); err != nil {
			return fmt.Errorf("relay: adding delivery failure note: %w", err)
		} else if err := r.reopenWindow(ctx, m.Thread, m.ConversationID, s.ErrorCode); err != nil {
			return err
		}
	}
	_, changed, err := r.st.AdvanceMessageStatus(ctx, s.MessageSID, s.Status, s.ErrorCode)
	if err != nil {
		return fmt.Errorf("relay: recording status: %w", err)
	}
	if changed && (s.Status == "failed" || s.Status == "undelivered") {
		r.m.sendFailure(ctx, s.ErrorCode, "status")
		r.w.failed(s.ErrorCode, "status")
	}
	return nil
}
