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
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		form, ok := r.readTwilio(w, req)
		if !ok {
			return
		}
		in, err := twiliosms.ParseInbound(form)
		if err != nil {
			r.log.Warn("relay: unreadable inbound message webhook", "err", err)
			http.Error(w, "malformed message webhook", http.StatusBadRequest)
			return
		}
		job := inboundJob{
			MessageSID: in.MessageSID,
			From:       r.normalize(in.From),
			To:         r.normalize(in.To),
			Body:       in.Body,
			OptOutType: in.OptOutType,
			ReceivedAt: time.Now().UTC(),
		}
		for _, m := range in.Media {
			job.Media = append(job.Media, media{URL: m.URL, ContentType: m.ContentType})
		}
		r.enqueue(w, req.Context(), store.NewJob{
			Kind:      kindInbound,
			Key:       orderKey(job.From),
			DedupeKey: "twilio:message:" + in.MessageSID,
			DedupeTTL: r.cfg.DedupeTTL,
		}, job, true)
	})
}

// StatusHandler returns the handler for Twilio's status callbacks on the texts
// the relay sends (Config.StatusCallbackURL). It checks the request like
// TwilioHandler, enqueues the status, and answers 200.
func (r *Relay) StatusHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		form, ok := r.readTwilio(w, req)
		if !ok {
			return
		}
		st, err := twiliosms.ParseStatus(form)
		if err != nil {
			r.log.Warn("relay: unreadable status callback", "err", err)
			http.Error(w, "malformed status callback", http.StatusBadRequest)
			return
		}
		job := statusJob{
			MessageSID:   st.MessageSID,
			Status:       st.MessageStatus,
			ErrorCode:    st.ErrorCode,
			ErrorMessage: st.ErrorMessage,
		}
		r.enqueue(w, req.Context(), store.NewJob{
			Kind:      kindStatus,
			Key:       "status:" + st.MessageSID,
			DedupeKey: "twilio:status:" + st.MessageSID + ":" + st.MessageStatus,
			DedupeTTL: r.cfg.DedupeTTL,
		}, job, true)
	})
}

// IntercomHandler returns the handler for the Intercom app's webhook
// subscription. It checks the method, content type, size and X-Hub-Signature,
// and answers 200 to every verified notification, ping included, since other
// answers make Intercom retry, throttle (429) or disable (410) the
// subscription. Agent replies, closes and re-opens on conversations the relay
// carries are enqueued durably, de-duplicated by notification id; everything
// else is acknowledged and dropped.
//
// Subscribe the app to conversation.admin.replied, conversation.admin.closed
// and conversation.admin.opened.
func (r *Relay) IntercomHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, ok := r.readBody(w, req, "application/json")
		if !ok {
			return
		}
		if err := intercom.VerifySignature(body, req.Header.Get("X-Hub-Signature"), r.cfg.WebhookSecrets...); err != nil {
			r.rejectSignature(w, err, errors.Is(err, intercom.ErrMissingSignature))
			return
		}
		n, err := intercom.ParseNotification(body)
		if err != nil {
			// Verified but unreadable: nothing to do, and anything but 2xx
			// would only make Intercom send it again.
			r.log.Warn("relay: unreadable Intercom notification", "err", err)
			w.WriteHeader(http.StatusOK)
			return
		}
		job, relevant := r.intercomJobFor(n)
		if !relevant || n.Conversation == nil {
			w.WriteHeader(http.StatusOK)
			return
		}
		key, err := r.st.ThreadByConversation(req.Context(), n.Conversation.ID)
		if errors.Is(err, store.ErrNotFound) {
			// Not a conversation the relay carries (chat, email, ...).
			w.WriteHeader(http.StatusOK)
			return
		}
		if err != nil {
			r.log.Error("relay: looking up conversation", "err", err)
			http.Error(w, http.StatusText(http.StatusServiceUnavailable), http.StatusServiceUnavailable)
			return
		}
		r.enqueue(w, req.Context(), store.NewJob{
			Kind:      kindIntercom,
			Key:       orderKey(key.Customer),
			DedupeKey: "intercom:notification:" + n.ID,
			DedupeTTL: r.cfg.DedupeTTL,
		}, job, false)
	})
}

// intercomJobFor keeps what the relay needs of a notification, and reports
// whether there is anything to do.
func (r *Relay) intercomJobFor(n *intercom.Notification) (intercomJob, bool) {
	if n.Conversation == nil {
		return intercomJob{}, false
	}
	job := intercomJob{NotificationID: n.ID, Topic: n.Topic, ConversationID: n.Conversation.ID}
	switch n.Topic {
	case intercom.TopicAdminClosed, intercom.TopicAdminOpened:
		return job, true
	case intercom.TopicAdminReplied:
	default:
		return job, false
	}
	for _, p := range n.Conversation.Parts {
		if !relayable(p.PartType, p.Author.Type) {
			continue
		}
		pj := part{ID: p.ID, Type: p.PartType, AuthorType: p.Author.Type, Body: p.Body, CreatedAt: p.CreatedAt}
		for _, a := range p.Attachments {
			pj.Attachments = append(pj.Attachments, attachment{URL: a.URL, Name: a.Name, ContentType: a.ContentType})
		}
		job.Parts = append(job.Parts, pj)
	}
	sort.SliceStable(job.Parts, func(i, j int) bool { return job.Parts[i].CreatedAt.Before(job.Parts[j].CreatedAt) })
	return job, len(job.Parts) > 0
}

// relayable is the rule for what may reach a customer's phone: comments
// written by a teammate. Never notes, never bot, Fin or operator parts, never
// the customer's own parts.
func relayable(partType, authorType string) bool {
	return partType == "comment" && authorType == "admin"
}

// readTwilio reads and verifies a Twilio webhook and returns its form.
func (r *Relay) readTwilio(w http.ResponseWriter, req *http.Request) (url.Values, bool) {
	body, ok := r.readBody(w, req, "application/x-www-form-urlencoded")
	if !ok {
		return nil, false
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		http.Error(w, "malformed form body", http.StatusBadRequest)
		return nil, false
	}
	full := r.cfg.PublicURL + req.URL.RequestURI()
	if err := r.twilio.Validate(full, form, req.Header.Get("X-Twilio-Signature")); err != nil {
		r.rejectSignature(w, err, errors.Is(err, twiliosms.ErrMissingSignature))
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

func (r *Relay) rejectSignature(w http.ResponseWriter, err error, missing bool) {
	r.log.Warn("relay: rejected webhook", "err", err)
	if missing {
		http.Error(w, "missing signature", http.StatusUnauthorized)
		return
	}
	http.Error(w, "invalid signature", http.StatusForbidden)
}

// enqueue stores the job and answers: 200 (with empty TwiML for Twilio) once
// the job is durable or known already, 503 when the queue failed, so that the
// sender tries again.
func (r *Relay) enqueue(w http.ResponseWriter, ctx context.Context, nj store.NewJob, payload any, twiml bool) {
	b, err := json.Marshal(payload)
	if err != nil {
		r.log.Error("relay: encoding job", "err", err)
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		return
	}
	nj.Payload = b
	if _, err := r.q.Enqueue(ctx, nj); err != nil && !errors.Is(err, store.ErrDuplicate) {
		r.log.Error("relay: enqueueing job", "kind", nj.Kind, "err", err)
		http.Error(w, http.StatusText(http.StatusServiceUnavailable), http.StatusServiceUnavailable)
		return
	} else if err != nil {
		r.log.Debug("relay: duplicate delivery acknowledged", "kind", nj.Kind)
	}
	if twiml {
		w.Header().Set("Content-Type", "text/xml; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, emptyTwiML)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// normalize reads an address Twilio sent; one it cannot read is kept as sent,
// since dropping the message would be worse.
func (r *Relay) normalize(addr string) string {
	n, err := twiliosms.NormalizeAddress(addr, r.cfg.DefaultRegion)
	if err != nil {
		r.log.Warn("relay: keeping an address that does not normalise", "addr", maskAddr(addr), "err", err)
		return strings.TrimSpace(addr)
	}
	return n
}

// orderKey is the queue key of everything about one customer: their
// contact, their threads and their conversations change one job at a time.
// A WhatsApp address and the SMS address of the same phone share it.
func orderKey(customer string) string {
	return "customer:" + bareNumber(customer)
}

// bareNumber strips the channel prefix from an address.
func bareNumber(addr string) string {
	return strings.TrimPrefix(addr, "whatsapp:")
}
