package relay

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/smsrelay/smsrelay/intercom"
	"github.com/smsrelay/smsrelay/store"
	"github.com/smsrelay/smsrelay/twiliosms"
)

// emptyTwiML is the answer Twilio wants from a messaging webhook that sends
// nothing back itself; an empty 200 raises error 11200 alerts.
const emptyTwiML = `<?xml version="1.0" encoding="UTF-8"?><Response/>`

// TwilioHandler returns the handler for Twilio's incoming-message webhook
// (the number's or Messaging Service's "A message comes in" URL). It checks
// the method, content type, size and X-Twilio-Signature, enqueues the text
// durably, de-duplicated by MessageSid, and answers 200 with an empty TwiML
// <Response/>. Mount it at the URL Twilio calls, which must equal
// Config.PublicURL plus the request's path and query.
func (r *Relay) TwilioHandler() http.Handler {
	return r.instrumented("twilio.messages", func(w http.ResponseWriter, req *http.Request) string {
		form, ok := r.readTwilio(w, req, "twilio.messages", "")
		if !ok {
			return resultRejected
		}
		in, err := twiliosms.ParseInbound(form)
		if err != nil {
			// Twilio signed it, so it is a customer's message we cannot
			// read: Twilio would not send it again after an error, so keep
			// it, as a dead letter an operator can inspect.
			r.log.Warn("relay: unreadable inbound message webhook; keeping it as a dead letter", "err", err)
			nj := store.NewJob{Kind: kindUnreadable, Key: unreadableKey(form.Get("From"))}
			if sid := form.Get("MessageSid"); sid != "" {
				nj.DedupeKey, nj.DedupeTTL = dedupeTwilioMessage(sid), r.cfg.DedupeTTL
			}
			return r.enqueue(req.Context(), w, nj, unreadableJob{Form: form.Encode(), Reason: err.Error()}, true)
		}
		job := inboundJob{
			MessageSID: in.MessageSID,
			From:       r.normalize(in.From),
			To:         r.normalize(in.To),
			Body:       in.Body,
			OptOutType: in.OptOutType,
			ReceivedAt: time.Now().UTC(),

			MessagingServiceSID: in.MessagingServiceSID,
		}
		for _, m := range in.Media {
			job.Media = append(job.Media, media{URL: m.URL, ContentType: m.ContentType})
		}
		return r.enqueue(req.Context(), w, store.NewJob{
			Kind:      kindInbound,
			Key:       orderKey(job.From),
			DedupeKey: dedupeTwilioMessage(in.MessageSID),
			DedupeTTL: r.cfg.DedupeTTL,
		}, job, true)
	})
}

// StatusHandler returns the handler for Twilio's status callbacks on the texts
// the relay sends (Config.StatusCallbackURL). It checks the request like
// TwilioHandler, enqueues the status, and answers 200.
func (r *Relay) StatusHandler() http.Handler {
	return r.instrumented("twilio.status", func(w http.ResponseWriter, req *http.Request) string {
		form, ok := r.readTwilio(w, req, "twilio.status", r.cfg.StatusCallbackURL)
		if !ok {
			return resultRejected
		}
		st, err := twiliosms.ParseStatus(form)
		if err != nil {
			// Signed by Twilio but unreadable: nothing to act on, and an
			// error would only make Twilio raise alerts.
			r.log.Warn("relay: unreadable status callback; ignored", "err", err)
			w.Header().Set("Content-Type", "text/xml; charset=utf-8")
			io.WriteString(w, emptyTwiML)
			return resultIgnored
		}
		job := statusJob{
			MessageSID:   st.MessageSID,
			Status:       st.MessageStatus,
			ErrorCode:    st.ErrorCode,
			ErrorMessage: st.ErrorMessage,
		}
		return r.enqueue(req.Context(), w, store.NewJob{
			Kind:      kindStatus,
			Key:       statusKey(st.MessageSID),
			DedupeKey: dedupeTwilioStatus(st.MessageSID, st.MessageStatus),
			DedupeTTL: r.cfg.DedupeTTL,
		}, job, true)
	})
}

// IntercomHandler returns the handler for the Intercom app's webhook
// subscription. It checks the method, content type, size and X-Hub-Signature,
// and answers 200 to every verified notification it could keep, ping
// included, since other answers make Intercom retry, throttle (429) or
// disable (410) the subscription. Agent replies, and closes, re-opens and
// assignments (with any message the agent attached), on conversations the
// relay carries are enqueued durably, de-duplicated by notification id;
// everything else is acknowledged and dropped.
//
// Subscribe the app to conversation.admin.replied, conversation.admin.closed,
// conversation.admin.opened and conversation.admin.assigned.
func (r *Relay) IntercomHandler() http.Handler {
	return r.instrumented("intercom", func(w http.ResponseWriter, req *http.Request) string {
		body, ok := r.readBody(w, req, "application/json")
		if !ok {
			return resultRejected
		}
		if err := intercom.VerifySignature(body, req.Header.Get("X-Hub-Signature"), r.cfg.WebhookSecrets...); err != nil {
			r.rejectSignature(w, req, "intercom", "", err, errors.Is(err, intercom.ErrMissingSignature))
			return resultRejected
		}
		n, err := intercom.ParseNotification(body)
		if err != nil {
			// Verified but unreadable: nothing to do, and anything but 2xx
			// would only make Intercom send it again.
			r.log.Warn("relay: unreadable Intercom notification", "err", err)
			w.WriteHeader(http.StatusOK)
			return resultIgnored
		}
		job, relevant := r.intercomJobFor(n)
		if !relevant || n.Conversation == nil {
			w.WriteHeader(http.StatusOK)
			return resultIgnored
		}
		nj := store.NewJob{Kind: kindIntercom}
		key, err := r.st.ThreadByConversation(req.Context(), n.Conversation.ID)
		if errors.Is(err, store.ErrNotFound) && len(job.Parts) > 0 {
			// Perhaps a conversation the relay has just started and not
			// yet recorded, or one an unsure attempt of the relay may
			// have started, at any age: the worker decides.
			mine := young(n.Conversation, time.Now())
			if !mine {
				if mine, err = r.startPending(req.Context(), job); err == nil && !mine {
					err = store.ErrNotFound
				}
			}
			if mine {
				nj.Key, err = conversationKey(n.Conversation.ID), nil
			}
		}
		switch {
		case nj.Key != "":
		case err == nil:
			nj.Key = orderKey(key.Customer)
		case errors.Is(err, store.ErrNotFound):
			// Not a conversation the relay carries (chat, email, ...).
			r.log.Debug("relay: notification on a conversation the relay does not carry", "conversation", n.Conversation.ID)
			if len(job.Parts) > 0 {
				r.m.withheld(req.Context(), "not_relay_conversation")
			}
			w.WriteHeader(http.StatusOK)
			return resultIgnored
		default:
			r.log.Error("relay: looking up conversation", "err", err)
			http.Error(w, http.StatusText(http.StatusServiceUnavailable), http.StatusServiceUnavailable)
			return resultError
		}
		if n.ID != "" {
			// Without an id, the part ids de-duplicate what matters.
			nj.DedupeKey, nj.DedupeTTL = dedupeIntercomNotification(n.ID), r.cfg.DedupeTTL
		}
		return r.enqueue(req.Context(), w, nj, job, false)
	})
}

// intercomJobFor keeps what the relay needs of a notification, and reports
// whether there is anything to do.
func (r *Relay) intercomJobFor(n *intercom.Notification) (intercomJob, bool) {
	if n.Conversation == nil {
		return intercomJob{}, false
	}
	c := n.Conversation
	job := intercomJob{
		NotificationID:        n.ID,
		Topic:                 n.Topic,
		ConversationID:        c.ID,
		ConversationCreatedAt: c.CreatedAt,
		State:                 c.State,
		StateAt:               c.UpdatedAt,
	}
	if len(c.Contacts) > 0 {
		job.ContactID = c.Contacts[0].ID
	} else if a := c.Source.Author; a.Type == "user" || a.Type == "lead" || a.Type == "contact" {
		job.ContactID = a.ID
	}
	if job.StateAt.IsZero() {
		job.StateAt = n.CreatedAt
	}
	if n.Topic == intercom.TopicPartTagCreated {
		return r.pageTagJob(n, job)
	}
	switch n.Topic {
	case intercom.TopicAdminReplied, intercom.TopicAdminClosed, intercom.TopicAdminOpened,
		intercom.TopicAdminAssigned, topicAdminOpenAssigned:
	default:
		// Notes, bot and operator replies, the customer's own messages:
		// nothing of them may reach the customer's phone.
		return job, false
	}
	for _, p := range n.Conversation.Parts {
		if !relayable(p.PartType, p.Author.Type, p.Body, len(p.Attachments) > 0) {
			continue
		}
		pj := part{ID: p.ID, Type: p.PartType, AuthorType: p.Author.Type, Body: p.Body, CreatedAt: p.CreatedAt}
		for _, a := range p.Attachments {
			pj.Attachments = append(pj.Attachments, attachment{URL: a.URL, Name: a.Name, ContentType: a.ContentType})
		}
		job.Parts = append(job.Parts, pj)
	}
	sort.SliceStable(job.Parts, func(i, j int) bool { return job.Parts[i].CreatedAt.Before(job.Parts[j].CreatedAt) })
	changesState := n.Topic == intercom.TopicAdminClosed || n.Topic == intercom.TopicAdminOpened
	return job, changesState || len(job.Parts) > 0
}

// youngConversation is how old a conversation may be for a reply on it to
// be kept although the relay has no record of it (yet).
const youngConversation = 2 * time.Minute

// young reports whether c was created lately enough that the relay may
// still be recording it as its own.
func young(c *intercom.Conversation, now time.Time) bool {
	return !c.CreatedAt.IsZero() && now.Sub(c.CreatedAt) < youngConversation
}

// topicAdminOpenAssigned fires when an admin assigns an open conversation.
const topicAdminOpenAssigned = "conversation.admin.open.assigned"

// readTwilio reads and verifies a Twilio webhook and returns its form. The
// signature is checked against PublicURL plus the request's path and query,
// and against alsoSignedAs (plus the query) when that is set. handler names
// the handler in logs.
func (r *Relay) readTwilio(w http.ResponseWriter, req *http.Request, handler, alsoSignedAs string) (url.Values, bool) {
	body, ok := r.readBody(w, req, "application/x-www-form-urlencoded")
	if !ok {
		return nil, false
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		http.Error(w, "malformed form body", http.StatusBadRequest)
		return nil, false
	}
	sig := req.Header.Get(twiliosms.SignatureHeader)
	signed := r.cfg.PublicURL + req.URL.RequestURI()
	err = r.twilio.Validate(signed, form, sig)
	if errors.Is(err, twiliosms.ErrInvalidSignature) && alsoSignedAs != "" {
		other := alsoSignedAs
		if req.URL.RawQuery != "" {
			other += "?" + req.URL.RawQuery
		}
		signed += " or " + other
		err = r.twilio.Validate(other, form, sig)
	}
	if err != nil {
		r.rejectSignature(w, req, handler, signed, err, errors.Is(err, twiliosms.ErrMissingSignature))
		return nil, false
	}
	return form, true
}

// readBody checks method and content type and reads a bounded body.
func (r *Relay) readBody(w http.ResponseWriter, req *http.Request, contentType string) ([]byte, bool) {
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
		return nil, false
	}
	mt, _, err := mime.ParseMediaType(req.Header.Get("Content-Type"))
	if err != nil || mt != contentType {
		http.Error(w, "content type must be "+contentType, http.StatusUnsupportedMediaType)
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, r.cfg.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, http.StatusText(http.StatusRequestEntityTooLarge), http.StatusRequestEntityTooLarge)
			return nil, false
		}
		http.Error(w, "could not read body", http.StatusBadRequest)
		return nil, false
	}
	return body, true
}

// rejectSignature answers a webhook whose signature is missing (401) or
// wrong (403), and logs which handler rejected it, the URL the signature
// was checked against (never the signature or a secret), and a hint when
// the mounting looks wrong.
func (r *Relay) rejectSignature(w http.ResponseWriter, req *http.Request, handler, checkedURL string, err error, missing bool) {
	attrs := []any{"handler", handler, "path", req.URL.Path, "err", err}
	if checkedURL != "" {
		attrs = append(attrs, "checked_url", checkedURL)
		if hint := mountHint(r.cfg.PublicURL, req); hint != "" {
			attrs = append(attrs, "hint", hint)
		}
	}
	r.log.Warn("relay: rejected webhook signature", attrs...)
	if missing {
		http.Error(w, "missing signature", http.StatusUnauthorized)
		return
	}
	http.Error(w, "invalid signature", http.StatusForbidden)
}

// mountHint guesses why a Twilio signature checked against publicURL plus
// the request's path may not match: the path prefix counted twice, or
// stripped by the router and missing from publicURL.
func mountHint(publicURL string, req *http.Request) string {
	prefix := ""
	if u, err := url.Parse(publicURL); err == nil {
		prefix = strings.TrimSuffix(u.Path, "/")
	}
	if prefix != "" && strings.HasPrefix(req.URL.Path, prefix+"/") {
		return "the request path already starts with PublicURL's path " + prefix +
			", so it is counted twice: the router keeps the prefix (as chi's Mount does); set PublicURL to the origin alone"
	}
	orig, _, _ := strings.Cut(req.RequestURI, "?")
	if stripped, ok := strings.CutSuffix(orig, req.URL.Path); ok && stripped != "" && stripped != prefix {
		return "the router stripped " + stripped + " from the path (as http.StripPrefix does): PublicURL must end with it"
	}
	return ""
}

// enqueue stores the job and answers: 200 (with empty TwiML for Twilio) once
// the job is durable or known already, 503 when the queue failed, so that the
// sender tries again. It returns the result for the metrics.
func (r *Relay) enqueue(ctx context.Context, w http.ResponseWriter, nj store.NewJob, payload any, twiml bool) string {
	b, err := json.Marshal(payload)
	if err != nil {
		r.log.Error("relay: encoding job", "err", err)
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		return resultError
	}
	nj.Payload = r.withTrace(ctx, b)
	result := resultAccepted
	if _, err := r.q.Enqueue(ctx, nj); errors.Is(err, store.ErrDuplicate) {
		r.log.Debug("relay: duplicate delivery acknowledged", "kind", nj.Kind)
		result = resultDuplicate
	} else if err != nil {
		r.log.Error("relay: enqueueing job", "kind", nj.Kind, "err", err)
		http.Error(w, http.StatusText(http.StatusServiceUnavailable), http.StatusServiceUnavailable)
		return resultError
	}
	if twiml {
		w.Header().Set("Content-Type", "text/xml; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, emptyTwiML)
		return result
	}
	w.WriteHeader(http.StatusOK)
	return result
}

// instrumented turns a handler that reports its result into an http.Handler
// that counts it.
func (r *Relay) instrumented(name string, h func(http.ResponseWriter, *http.Request) string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if !r.tracing {
			r.m.webhook(req.Context(), name, h(w, req))
			return
		}
		ctx, span := r.tracer.Start(req.Context(), "smsrelay.webhook "+name, trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attribute.String("smsrelay.handler", name)))
		defer span.End()
		result := h(w, req.WithContext(ctx))
		span.SetAttributes(attribute.String("smsrelay.result", result))
		r.m.webhook(ctx, name, result)
	})
}

// normalize reads an address Twilio sent; one it cannot read is kept as sent,
// since dropping the message would be worse.
func (r *Relay) normalize(addr string) string {
	n, err := twiliosms.NormalizeAddress(addr, r.cfg.DefaultRegion)
	if err != nil {
		r.log.Warn("relay: keeping an address that does not normalise", "addr", twiliosms.MaskAddress(addr), "err", err)
		return strings.TrimSpace(addr)
	}
	return n
}
