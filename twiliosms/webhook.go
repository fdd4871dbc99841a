package twiliosms

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// ErrInvalidWebhook is wrapped by every error [ParseInbound] and
// [ParseStatus] return: the request is not a well-formed Twilio webhook.
var ErrInvalidWebhook = errors.New("twiliosms: invalid webhook")

// Message statuses Twilio reports (the Message resource's status field and
// the MessageStatus of status callbacks).
const (
	StatusAccepted           = "accepted"
	StatusScheduled          = "scheduled"
	StatusQueued             = "queued"
	StatusSending            = "sending"
	StatusSent               = "sent"
	StatusDelivered          = "delivered"
	StatusUndelivered        = "undelivered"
	StatusFailed             = "failed"
	StatusRead               = "read"
	StatusReceiving          = "receiving"
	StatusReceived           = "received"
	StatusPartiallyDelivered = "partially_delivered"
	StatusCanceled           = "canceled"
)

var (
	anyMessageSID = regexp.MustCompile(`^[A-Z]{2}[0-9a-fA-F]{32}$`)
	statusPattern = regexp.MustCompile(`^[a-z][a-z_-]{0,31}$`)
)

// Media is one attachment of an inbound message.
type Media struct {
	// URL is where Twilio stores the file (MediaUrlN).
	URL string
	// ContentType is its MIME type (MediaContentTypeN), such as
	// "image/jpeg".
	ContentType string
}

// Inbound is a message a customer sent to one of the account's numbers, as
// Twilio posts it to the messaging webhook.
type Inbound struct {
	MessageSID          string // MessageSid, "SM…" or "MM…"
	AccountSID          string // AccountSid, "AC…"
	MessagingServiceSID string // MessagingServiceSid, "" without a service
	From                string // the customer, e.g. "+14155550100" or "whatsapp:+14155550100"
	To                  string // the account's number that received the message
	Body                string // the text, possibly "" for media-only messages
	// OptOutType is "STOP", "START" or "HELP" when Twilio's Advanced
	// Opt-Out recognised a keyword; "" otherwise.
	OptOutType string
	// NumMedia is the number of attachments, 0 to 10.
	NumMedia int
	// NumSegments is the number of SMS segments the text arrived in.
	NumSegments int
	// Media lists the attachments in order: MediaUrl0, MediaUrl1, ...
	Media []Media
}

// Status is a status callback: Twilio telling how an outgoing message fares.
type Status struct {
	MessageSID          string // MessageSid
	AccountSID          string // AccountSid
	MessagingServiceSID string // MessagingServiceSid, when sent through one
	// MessageStatus is one of the Status* constants, such as "delivered"
	// or "undelivered". Callbacks can arrive out of order.
	MessageStatus string
	From          string
	To            string
	// ErrorCode is Twilio's error code for failed and undelivered
	// messages (see [Describe]), 0 otherwise.
	ErrorCode int
	// ErrorMessage is Twilio's text for ErrorCode, when it sends one.
	ErrorMessage string
}

// field returns the single value of key, "" when absent, or an error when
// the key is repeated (the request is then ambiguous).
func field(form url.Values, key string) (string, error) {
	v := form[key]
	switch len(v) {
	case 0:
		return "", nil
	case 1:
		return v[0], nil
	}
	return "", fmt.Errorf("%w: %s given %d times", ErrInvalidWebhook, key, len(v))
}

func required(form url.Values, key string) (string, error) {
	v, err := field(form, key)
	if err == nil && v == "" {
		err = fmt.Errorf("%w: %s is missing", ErrInvalidWebhook, key)
	}
	return v, err
}

func count(form url.Values, key string, max int) (int, error) {
	v, err := field(form, key)
	if err != nil || v == "" {
		return 0, err
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > max {
		return 0, fmt.Errorf("%w: %s is %q, want a whole number from 0 to %d", ErrInvalidWebhook, key, v, max)
	}
	return n, nil
}

type fieldRule struct {
	key      string
	dst      *string
	required bool
	check    func(string) bool
	want     string
}

func parseFields(form url.Values, rules []fieldRule) error {
	for _, r := range rules {
		var v string
		var err error
		if r.required {
			v, err = required(form, r.key)
		} else {
			v, err = field(form, r.key)
		}
		if err != nil {
			return err
		}
		if v != "" && r.check != nil && !r.check(v) {
			return fmt.Errorf("%w: %s is %.64q, want %s", ErrInvalidWebhook, r.key, v, r.want)
		}
		*r.dst = v
	}
	return nil
}

// ParseInbound reads an inbound-message webhook from its form parameters
// (r.PostForm, after checking the signature). MessageSid, AccountSid, From
// and To are required; NumMedia must be 0 to 10 and each MediaUrlN below it
// present and an http(s) URL; repeated keys are refused. Unknown
// parameters are ignored: Twilio adds new ones without notice. Errors wrap
// [ErrInvalidWebhook].
func ParseInbound(form url.Values) (*Inbound, error) {
	if form == nil {
		return nil, fmt.Errorf("%w: no form parameters", ErrInvalidWebhook)
	}
	in := &Inbound{}
	err := parseFields(form, []fieldRule{
		{"MessageSid", &in.MessageSID, true, anyMessageSID.MatchString, "two letters and 32 hex digits"},
		{"AccountSid", &in.AccountSID, true, accountSIDPattern.MatchString, "\"AC\" and 32 hex digits"},
		{"MessagingServiceSid", &in.MessagingServiceSID, false, serviceSIDPattern.MatchString, "\"MG\" and 32 hex digits"},
		{"From", &in.From, true, nil, ""},
		{"To", &in.To, true, nil, ""},
		{"Body", &in.Body, false, nil, ""},
		{"OptOutType", &in.OptOutType, false, nil, ""},
	})
	if err != nil {
		return nil, err
	}
	if in.NumMedia, err = count(form, "NumMedia", MaxMedia); err != nil {
		return nil, err
	}
	if in.NumSegments, err = count(form, "NumSegments", 1000); err != nil {
		return nil, err
	}
	for i := 0; i < in.NumMedia; i++ {
		var m Media
		key := "MediaUrl" + strconv.Itoa(i)
		if m.URL, err = required(form, key); err != nil {
			return nil, fmt.Errorf("%w (NumMedia is %d)", err, in.NumMedia)
		}
		if err := checkHTTPURL(m.URL); err != nil {
			return nil, fmt.Errorf("%w: %s %v", ErrInvalidWebhook, key, err)
		}
		if m.ContentType, err = field(form, "MediaContentType"+strconv.Itoa(i)); err != nil {
			return nil, err
		}
		in.Media = append(in.Media, m)
	}
	for key := range form {
		if n, ok := strings.CutPrefix(key, "MediaUrl"); ok {
			if i, err := strconv.Atoi(n); err == nil && i >= in.NumMedia {
				return nil, fmt.Errorf("%w: %s present but NumMedia is %d", ErrInvalidWebhook, key, in.NumMedia)
			}
		}
	}
	return in, nil
}

// ParseStatus reads a status callback from its form parameters
// (r.PostForm, after checking the signature). MessageSid, MessageStatus and
// AccountSid are required; ErrorCode, when present, must be a number.
// Unknown statuses are kept as they are (Twilio adds new ones), but must
// look like one (lower-case letters and '_'). Errors wrap
// [ErrInvalidWebhook].
func ParseStatus(form url.Values) (*Status, error) {
	if form == nil {
		return nil, fmt.Errorf("%w: no form parameters", ErrInvalidWebhook)
	}
	st := &Status{}
	var code string
	err := parseFields(form, []fieldRule{
		{"MessageSid", &st.MessageSID, true, anyMessageSID.MatchString, "two letters and 32 hex digits"},
		{"MessageStatus", &st.MessageStatus, true, statusPattern.MatchString, "a status such as \"delivered\""},
		{"AccountSid", &st.AccountSID, true, accountSIDPattern.MatchString, "\"AC\" and 32 hex digits"},
		{"MessagingServiceSid", &st.MessagingServiceSID, false, serviceSIDPattern.MatchString, "\"MG\" and 32 hex digits"},
		{"From", &st.From, false, nil, ""},
		{"To", &st.To, false, nil, ""},
		{"ErrorCode", &code, false, nil, ""},
		{"ErrorMessage", &st.ErrorMessage, false, nil, ""},
	})
	if err != nil {
		return nil, err
	}
	if code != "" {
		n, err := strconv.Atoi(code)
		if err != nil || n < 0 || n > 999999 {
			return nil, fmt.Errorf("%w: ErrorCode is %.32q, want a number", ErrInvalidWebhook, code)
		}
		st.ErrorCode = n
	}
	return st, nil
}
