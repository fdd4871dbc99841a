package intercom

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Webhook topics the relay cares about. Intercom sends many more; a
// [Notification] carries any topic as a string.
const (
	TopicPing                = "ping"
	TopicAdminReplied        = "conversation.admin.replied"
	TopicAdminNoted          = "conversation.admin.noted"
	TopicAdminClosed         = "conversation.admin.closed"
	TopicAdminOpened         = "conversation.admin.opened"
	TopicAdminSingleCreated  = "conversation.admin.single.created"
	TopicAdminAssigned       = "conversation.admin.assigned"
	TopicOperatorReplied     = "conversation.operator.replied"
	TopicUserCreated         = "conversation.user.created"
	TopicUserReplied         = "conversation.user.replied"
	TopicConversationDeleted = "conversation.deleted"
	// TopicPartTagCreated fires when a tag is applied to a conversation
	// (its item is the conversation, with its tags).
	TopicPartTagCreated = "conversation_part.tag.created"
)

// SignatureHeader is the request header that carries a webhook signature.
const SignatureHeader = "X-Hub-Signature"

// Errors of [VerifySignature]. None of them carries the expected or the
// received signature.
var (
	// ErrMissingSignature: the request carried no signature.
	ErrMissingSignature = errors.New("intercom: webhook signature missing")
	// ErrMalformedSignature: the signature is not "sha1=" and 40 hex digits.
	ErrMalformedSignature = errors.New("intercom: webhook signature malformed")
	// ErrInvalidSignature: the signature matches none of the secrets; the
	// body was altered or signed with another secret.
	ErrInvalidSignature = errors.New("intercom: webhook signature invalid")
	// ErrNoSecret: VerifySignature was called without a usable secret.
	ErrNoSecret = errors.New("intercom: no webhook secret configured")
)

const sigPrefix = "sha1="

// Sign returns the X-Hub-Signature value Intercom would send for body:
// "sha1=" and the hex HMAC-SHA1 of the raw body keyed by the app's client
// secret. It is meant for tests and fakes. VerifySignature refuses an empty
// secret, so a body signed with one never verifies.
func Sign(body []byte, secret string) string {
	return sigPrefix + hex.EncodeToString(mac(body, secret))
}

func mac(body []byte, secret string) []byte {
	m := hmac.New(sha1.New, []byte(secret))
	m.Write(body)
	return m.Sum(nil)
}

// VerifySignature checks header, the value of the X-Hub-Signature request
// header, against the raw request body. It passes if any of secrets (the
// app's client secret; give two while rotating it) produced the signature.
// The comparison takes constant time for a given number of secrets.
//
// It returns [ErrMissingSignature], [ErrMalformedSignature] or
// [ErrInvalidSignature], or an error matching [ErrNoSecret] if no
// non-empty secret was given. Verify before parsing: the body must be the
// exact bytes received.
func VerifySignature(body []byte, header string, secrets ...string) error {
	if len(secrets) == 0 {
		return ErrNoSecret
	}
	for i, s := range secrets {
		if s == "" {
			return fmt.Errorf("%w: secret %d is empty", ErrNoSecret, i)
		}
	}
	header = strings.TrimSpace(header)
	if header == "" {
		return ErrMissingSignature
	}
	if len(header) != len(sigPrefix)+2*sha1.Size || !strings.EqualFold(header[:len(sigPrefix)], sigPrefix) {
		return ErrMalformedSignature
	}
	got := make([]byte, sha1.Size)
	if _, err := hex.Decode(got, []byte(header[len(sigPrefix):])); err != nil {
		return ErrMalformedSignature
	}
	ok := 0
	for _, s := range secrets {
		if hmac.Equal(got, mac(body, s)) {
			ok = 1
		}
	}
	if ok == 0 {
		return ErrInvalidSignature
	}
	return nil
}

// Notification is a webhook delivery: Intercom's notification_event
// envelope.
type Notification struct {
	// ID is Intercom's notification id ("notif_..."), the same on every
	// delivery attempt of one notification: de-duplicate on it. It can be
	// empty if Intercom omits it.
	ID string
	// Topic is what happened, such as [TopicAdminReplied].
	Topic string
	// AppID is the workspace the event comes from.
	AppID string
	// CreatedAt is when the notification was created, which is when its
	// event happened, in whole seconds (UTC); zero if absent. Every delivery
	// attempt of a notification carries the same CreatedAt.
	CreatedAt time.Time
	// FirstSentAt is when delivery was first attempted (zero on the first
	// attempt of some deliveries).
	FirstSentAt time.Time
	// DeliveryAttempts counts the attempts so far, this one included.
	DeliveryAttempts int
	// ItemType is data.item.type: "conversation", "contact", "ping", ...
	ItemType string
	// Conversation is data.item decoded, when ItemType is "conversation".
	Conversation *Conversation
	// Item is data.item as received (nil if absent).
	Item json.RawMessage
}

type wireNotification struct {
	Type             string     `json:"type"`
	ID               flexString `json:"id"`
	Topic            string     `json:"topic"`
	AppID            flexString `json:"app_id"`
	CreatedAt        unixTime   `json:"created_at"`
	FirstSentAt      unixTime   `json:"first_sent_at"`
	DeliveryAttempts *int       `json:"delivery_attempts"`
	Data             *struct {
		Item json.RawMessage `json:"item"`
	} `json:"data"`
}

// ParseNotification decodes a webhook body. It fails if the body is not a
// JSON object, if its type is present and not "notification_event", if it
// has no topic, or if a conversation item does not decode. Items of other
// types are left raw in Item.
//
// Call [VerifySignature] first: ParseNotification trusts nothing but does
// not authenticate.
func ParseNotification(body []byte) (*Notification, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, errors.New("intercom: ParseNotification: empty body")
	}
	if body[0] != '{' {
		return nil, errors.New("intercom: ParseNotification: body is not a JSON object")
	}
	var w wireNotification
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, fmt.Errorf("intercom: ParseNotification: %w", &redactedError{err: err})
	}
	if w.Type != "" && w.Type != "notification_event" {
		return nil, fmt.Errorf("intercom: ParseNotification: type is %q, want \"notification_event\"", w.Type)
	}
	if strings.TrimSpace(w.Topic) == "" {
		return nil, errors.New("intercom: ParseNotification: no topic")
	}
	n := &Notification{
		ID:          string(w.ID),
		Topic:       w.Topic,
		AppID:       string(w.AppID),
		CreatedAt:   w.CreatedAt.time(),
		FirstSentAt: w.FirstSentAt.time(),
	}
	if w.DeliveryAttempts != nil {
		if *w.DeliveryAttempts < 0 {
			return nil, fmt.Errorf("intercom: ParseNotification: negative delivery_attempts %d", *w.DeliveryAttempts)
		}
		n.DeliveryAttempts = *w.DeliveryAttempts
	}
	if w.Data == nil || len(w.Data.Item) == 0 || string(w.Data.Item) == "null" {
		return n, nil
	}
	n.Item = w.Data.Item
	var head struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(w.Data.Item, &head); err != nil {
		return nil, fmt.Errorf("intercom: ParseNotification: data.item: %w", &redactedError{err: err})
	}
	n.ItemType = head.Type
	if head.Type == "conversation" {
		var wc wireConversation
		if err := json.Unmarshal(w.Data.Item, &wc); err != nil {
			return nil, fmt.Errorf("intercom: ParseNotification: conversation: %w", &redactedError{err: err})
		}
		n.Conversation = wc.conversation()
		if n.Conversation.ID == "" {
			return nil, errors.New("intercom: ParseNotification: conversation without id")
		}
	}
	return n, nil
}
