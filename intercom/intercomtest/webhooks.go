package intercomtest

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/smsrelay/smsrelay/intercom"
)

// Webhook topics the helpers post: the intercom package's names.
const (
	TopicPing            = intercom.TopicPing
	TopicAdminReplied    = intercom.TopicAdminReplied
	TopicAdminNoted      = intercom.TopicAdminNoted
	TopicAdminClosed     = intercom.TopicAdminClosed
	TopicAdminOpened     = intercom.TopicAdminOpened
	TopicOperatorReplied = intercom.TopicOperatorReplied
)

const (
	// UserAgent is the User-Agent of Intercom's webhook deliveries.
	UserAgent             = "intercom-parrot-service-client/1.0"
	pingMessage           = "something something interzen"
	maxReceiverAnswerRead = 64 << 10
)

// Delivery is one webhook notification the server posted.
type Delivery struct {
	URL            string
	NotificationID string
	Topic          string
	// Attempt is the delivery_attempts value sent: 1, then 2, ... on
	// redelivery.
	Attempt int
	// Body is the exact signed body.
	Body []byte
	// Signature is the X-Hub-Signature header sent ("sha1=<hex>").
	Signature string
	// Status is the receiver's answer; 0 when the request failed.
	Status int
}

// notification is a notification the server has sent at least once.
type notification struct {
	id        string
	topic     string
	item      json.RawMessage
	attempts  int
	createdAt time.Time
	firstSent time.Time
}

type wireNotification struct {
	Type             string   `json:"type"`
	AppID            string   `json:"app_id"`
	Data             wireData `json:"data"`
	Links            struct{} `json:"links"`
	ID               string   `json:"id"`
	Topic            string   `json:"topic"`
	DeliveryStatus   string   `json:"delivery_status"`
	DeliveryAttempts int      `json:"delivery_attempts"`
	DeliveredAt      int64    `json:"delivered_at"`
	FirstSentAt      int64    `json:"first_sent_at"`
	CreatedAt        int64    `json:"created_at"`
	Self             *string  `json:"self"`
}

type wireData struct {
	Type string          `json:"type"`
	Item json.RawMessage `json:"item"`
}

// Sign returns the X-Hub-Signature value Intercom sends with body:
// "sha1=" and the hex HMAC-SHA1 of the raw body keyed by the client secret.
func Sign(body []byte, clientSecret string) string {
	m := hmac.New(sha1.New, []byte(clientSecret))
	m.Write(body)
	return "sha1=" + hex.EncodeToString(m.Sum(nil))
}

// Deliveries returns every webhook notification posted so far, in order.
func (s *Server) Deliveries() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Delivery, len(s.deliveries))
	for i, d := range s.deliveries {
		d.Body = bytes.Clone(d.Body)
		out[i] = d
	}
	return out
}

// AdminReply plays an admin replying in the Intercom inbox: it adds a
// comment part authored by admin adminID to the conversation and posts a
// signed conversation.admin.replied notification to target. body may be
// plain text or HTML; the API shows it as HTML, the webhook as plain text.
// It returns the new part's id and the status the receiver answered.
func (s *Server) AdminReply(ctx context.Context, target, conversationID, adminID, body string, attachmentURLs ...string) (partID string, status int, err error) {
	if strings.TrimSpace(body) == "" && len(attachmentURLs) == 0 {
		return "", 0, fmt.Errorf("intercomtest: AdminReply: body is empty")
	}
	atts, err := attachments(attachmentURLs)
	if err != nil {
		return "", 0, fmt.Errorf("intercomtest: AdminReply: %w", err)
	}
	return s.agentAct(ctx, "AdminReply", target, conversationID, adminID,
		Part{PartType: "comment", Body: toHTML(body), Attachments: atts}, nil, TopicAdminReplied)
}

// AdminNote plays an admin writing an internal note: it adds a note part and
// posts conversation.admin.noted. It returns the part id and the receiver's
// status.
func (s *Server) AdminNote(ctx context.Context, target, conversationID, adminID, body string) (partID string, status int, err error) {
	if strings.TrimSpace(body) == "" {
		return "", 0, fmt.Errorf("intercomtest: AdminNote: body is empty")
	}
	return s.agentAct(ctx, "AdminNote", target, conversationID, adminID,
		Part{PartType: "note", Body: toHTML(body)}, nil, TopicAdminNoted)
}

// BotReply plays Fin or a workflow bot replying: it adds a comment part
// authored by a bot (author.type "bot") and posts it twice, as the real
// service does, on conversation.admin.replied and then on
// conversation.operator.replied, with two notification ids. It stops at the
// first delivery that fails. status is the first non-2xx answer, or else the
// last answer.
func (s *Server) BotReply(ctx context.Context, target, conversationID, body string) (partID string, status int, err error) {
	if strings.TrimSpace(body) == "" {
		return "", 0, fmt.Errorf("intercomtest: BotReply: body is empty")
	}
	return s.agentAct(ctx, "BotReply", target, conversationID, "",
		Part{PartType: "comment", Body: toHTML(body)}, nil, TopicAdminReplied, TopicOperatorReplied)
}

// CloseConversation plays an admin closing the conversation in the inbox:
// the state becomes closed, a close part is added, and
// conversation.admin.closed is posted. It returns the part id and the
// receiver's status.
func (s *Server) CloseConversation(ctx context.Context, target, conversationID, adminID string) (partID string, status int, err error) {
	return s.agentAct(ctx, "CloseConversation", target, conversationID, adminID,
		Part{PartType: "close"}, func(c *Conversation) {
			c.State, c.SnoozedUntil = StateClosed, time.Time{}
		}, TopicAdminClosed)
}

// OpenConversation plays an admin reopening the conversation in the inbox
// (or ending its snooze): the state becomes open, an open part is added, and
// conversation.admin.opened is posted. It returns the part id and the
// receiver's status.
func (s *Server) OpenConversation(ctx context.Context, target, conversationID, adminID string) (partID string, status int, err error) {
	return s.agentAct(ctx, "OpenConversation", target, conversationID, adminID,
		Part{PartType: "open"}, func(c *Conversation) {
			c.State, c.SnoozedUntil = StateOpen, time.Time{}
		}, TopicAdminOpened)
}

// agentAct adds part to the conversation (author: admin adminID, or the bot
// when adminID is ""), applies change, and posts one notification per topic
// whose item is the conversation with only the new part, bodies in plain
// text. The change's time is the part's created_at, the conversation's
// updated_at and the notification's created_at.
func (s *Server) agentAct(ctx context.Context, op, target, conversationID, adminID string, p Part, change func(*Conversation), topics ...string) (string, int, error) {
	if err := checkTarget(target); err != nil {
		return "", 0, fmt.Errorf("intercomtest: %s: %w", op, err)
	}
	if adminID != "" && !isDigits(adminID) {
		return "", 0, fmt.Errorf("intercomtest: %s: admin id %q is not an admin id (digits)", op, adminID)
	}
	if op != "BotReply" && adminID == "" {
		return "", 0, fmt.Errorf("intercomtest: %s: admin id is empty", op)
	}
	s.mu.Lock()
	conv := s.conversations[conversationID]
	if conv == nil {
		s.mu.Unlock()
		return "", 0, fmt.Errorf("intercomtest: %s: no conversation %q", op, conversationID)
	}
	if adminID == "" {
		p.Author = s.botAuthor()
	} else {
		p.Author = adminAuthor(adminID)
	}
	if change != nil {
		change(conv)
	}
	p = s.addPartLocked(conv, p)
	item, err := json.Marshal(s.wireConversation(conv, []Part{p}, toText))
	s.mu.Unlock()
	if err != nil {
		return "", 0, fmt.Errorf("intercomtest: %s: %w", op, err)
	}
	status := 0
	for _, topic := range topics {
		st, err := s.deliver(ctx, target, s.newNotification(topic, item, p.CreatedAt))
		if err != nil {
			return p.ID, st, fmt.Errorf("intercomtest: %s: %w", op, err)
		}
		if status == 0 || status/100 == 2 {
			status = st
		}
	}
	return p.ID, status, nil
}

// Ping posts a signed ping notification, which Intercom sends when a
// webhook URL is saved, and returns the receiver's status.
func (s *Server) Ping(ctx context.Context, target string) (status int, err error) {
	_, status, err = s.SendNotification(ctx, target, TopicPing,
		map[string]string{"type": "ping", "message": pingMessage})
	return status, err
}

// SendNotification posts a signed notification with any topic and item:
// a Conversation (rendered as webhooks carry it, bodies in plain text, all
// of its Parts), a json.RawMessage or []byte holding JSON, or any value
// json.Marshal accepts. It returns the notification id (for [Server.Redeliver])
// and the receiver's status.
func (s *Server) SendNotification(ctx context.Context, target, topic string, item any) (id string, status int, err error) {
	if err := checkTarget(target); err != nil {
		return "", 0, fmt.Errorf("intercomtest: SendNotification: %w", err)
	}
	if strings.TrimSpace(topic) == "" {
		return "", 0, fmt.Errorf("intercomtest: SendNotification: topic is empty")
	}
	var raw []byte
	switch v := item.(type) {
	case nil:
		return "", 0, fmt.Errorf("intercomtest: SendNotification: item is nil")
	case Conversation:
		raw, err = s.conversationItem(&v)
	case *Conversation:
		if v == nil {
			return "", 0, fmt.Errorf("intercomtest: SendNotification: item is nil")
		}
		raw, err = s.conversationItem(v)
	case json.RawMessage:
		raw = v
	case []byte:
		raw = v
	default:
		raw, err = json.Marshal(v)
	}
	if err != nil {
		return "", 0, fmt.Errorf("intercomtest: SendNotification: %w", err)
	}
	if !json.Valid(raw) {
		return "", 0, fmt.Errorf("intercomtest: SendNotification: item is not valid JSON")
	}
	n := s.newNotification(topic, bytes.Clone(raw), time.Now())
	status, err = s.deliver(ctx, target, n)
	if err != nil {
		return n.id, status, fmt.Errorf("intercomtest: SendNotification: %w", err)
	}
	return n.id, status, nil
}

func (s *Server) conversationItem(c *Conversation) ([]byte, error) {
	s.mu.Lock()
	w := s.wireConversation(c, c.Parts, toText)
	s.mu.Unlock()
	return json.Marshal(w)
}

// Redeliver posts an earlier notification again, as Intercom retries a
// delivery: same id, same first_sent_at, delivery_attempts one higher. It
// returns the receiver's status.
func (s *Server) Redeliver(ctx context.Context, target, notificationID string) (status int, err error) {
	if err := checkTarget(target); err != nil {
		return 0, fmt.Errorf("intercomtest: Redeliver: %w", err)
	}
	s.mu.Lock()
	n := s.notifications[notificationID]
	s.mu.Unlock()
	if n == nil {
		return 0, fmt.Errorf("intercomtest: Redeliver: no notification %q was sent", notificationID)
	}
	status, err = s.deliver(ctx, target, n)
	if err != nil {
		return status, fmt.Errorf("intercomtest: Redeliver: %w", err)
	}
	return status, nil
}

// Replay posts an earlier notification to target again exactly as it was
// first delivered: the same bytes under the same signature, so the same
// notification id, delivery_attempts, created_at and conversation, only
// later. A proxy, a queue or a network retry can repeat a request so; a
// replay also lets a receiver's test bring an old state change after a newer
// one, such as an earlier conversation.admin.closed after the
// conversation.admin.opened that followed it. [Server.Redeliver], by
// contrast, sends a new attempt as Intercom retries, with delivery_attempts
// one higher. Replay returns the receiver's status, and fails if the server
// never delivered the notification.
func (s *Server) Replay(ctx context.Context, target, notificationID string) (status int, err error) {
	if err := checkTarget(target); err != nil {
		return 0, fmt.Errorf("intercomtest: Replay: %w", err)
	}
	s.mu.Lock()
	var first *Delivery
	for i := range s.deliveries {
		if s.deliveries[i].NotificationID == notificationID {
			d := s.deliveries[i]
			first = &d
			break
		}
	}
	s.mu.Unlock()
	if first == nil {
		return 0, fmt.Errorf("intercomtest: Replay: notification %q was never delivered", notificationID)
	}
	d := *first
	d.URL, d.Body = target, bytes.Clone(first.Body)
	d.Status, err = s.post(ctx, target, d.Body, d.Signature)
	s.mu.Lock()
	s.deliveries = append(s.deliveries, d)
	s.mu.Unlock()
	if err != nil {
		return d.Status, fmt.Errorf("intercomtest: Replay: %w", err)
	}
	return d.Status, nil
}

// newNotification registers a notification about an event that happened at
// at (its created_at).
func (s *Server) newNotification(topic string, item json.RawMessage, at time.Time) *notification {
	n := &notification{id: "notif_" + newUUID(), topic: topic, item: item, createdAt: at}
	s.mu.Lock()
	s.notifications[n.id] = n
	s.mu.Unlock()
	return n
}

// deliver posts one attempt of n to target, signed with the client secret.
func (s *Server) deliver(ctx context.Context, target string, n *notification) (int, error) {
	now := time.Now()
	s.mu.Lock()
	n.attempts++
	if n.firstSent.IsZero() {
		// Never before the event, even when its stamp ran ahead of the
		// clock (see stampLocked).
		n.firstSent = now
		if now.Before(n.createdAt) {
			n.firstSent = n.createdAt
		}
	}
	env := wireNotification{
		Type:             "notification_event",
		AppID:            s.AppID,
		Data:             wireData{Type: "notification_event_data", Item: n.item},
		ID:               n.id,
		Topic:            n.topic,
		DeliveryStatus:   "pending",
		DeliveryAttempts: n.attempts,
		FirstSentAt:      n.firstSent.Unix(),
		CreatedAt:        n.createdAt.Unix(),
	}
	s.mu.Unlock()
	body, err := json.Marshal(env)
	if err != nil {
		return 0, err
	}
	sig := Sign(body, s.ClientSecret)
	d := Delivery{URL: target, NotificationID: n.id, Topic: n.topic, Attempt: env.DeliveryAttempts, Body: body, Signature: sig}
	status, err := s.post(ctx, target, body, sig)
	d.Status = status
	s.mu.Lock()
	s.deliveries = append(s.deliveries, d)
	s.mu.Unlock()
	return status, err
}

func (s *Server) post(ctx context.Context, target string, body []byte, sig string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", UserAgent)
	req.Header.Set(intercom.SignatureHeader, sig)
	resp, err := s.hook.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxReceiverAnswerRead))
	return resp.StatusCode, nil
}

func checkTarget(target string) error {
	u, err := url.Parse(target)
	if err != nil {
		return fmt.Errorf("webhook URL %q: %w", target, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("webhook URL %q is not an absolute http(s) URL", target)
	}
	return nil
}
