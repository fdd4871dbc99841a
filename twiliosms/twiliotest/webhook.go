package twiliotest

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/smsrelay/smsrelay/twiliosms"
)

// Sign returns the X-Twilio-Signature Twilio sends with a request to
// publicURL carrying the POST parameters form: the base64 HMAC-SHA1, keyed
// with authToken, of publicURL followed by each parameter name and value,
// names sorted, and for a repeated name each distinct value in sorted order.
func Sign(authToken, publicURL string, form url.Values) string {
	var b strings.Builder
	b.WriteString(publicURL)
	for _, k := range slices.Sorted(maps.Keys(form)) {
		for _, v := range slices.Compact(slices.Sorted(slices.Values(form[k]))) {
			b.WriteString(k)
			b.WriteString(v)
		}
	}
	mac := hmac.New(sha1.New, []byte(authToken))
	mac.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// NewRequest builds the POST Twilio makes to publicURL with the webhook
// parameters form (see [InboundForm] and [StatusForm]): form-encoded body,
// X-Twilio-Signature made with authToken over publicURL, and Twilio's
// User-Agent and I-Twilio-Idempotency-Token headers. To model a proxy, send
// the request elsewhere by changing its URL afterwards: the signature stays
// the one for publicURL.
func NewRequest(ctx context.Context, authToken, publicURL string, form url.Values) (*http.Request, error) {
	if authToken == "" {
		return nil, errors.New("twiliotest: empty auth token")
	}
	u, err := url.Parse(publicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("twiliotest: %q is not an absolute http(s) URL", publicURL)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, publicURL, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("twiliotest: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", "TwilioProxy/1.1")
	req.Header.Set(twiliosms.IdempotencyTokenHeader, randomHex(16))
	req.Header.Set(twiliosms.SignatureHeader, Sign(authToken, publicURL, form))
	return req, nil
}

// Post sends a webhook the way Twilio does (see [NewRequest]) to publicURL
// with hc (nil: a client with Twilio's 15-second limit) and returns the
// answer's status code and body.
func Post(ctx context.Context, hc *http.Client, authToken, publicURL string, form url.Values) (status int, body []byte, err error) {
	req, err := NewRequest(ctx, authToken, publicURL, form)
	if err != nil {
		return 0, nil, err
	}
	return Do(hc, req)
}

// Do sends req with hc (nil: a client with Twilio's 15-second limit) and
// returns the answer's status code and body (at most 1 MiB).
func Do(hc *http.Client, req *http.Request) (status int, body []byte, err error) {
	if req == nil {
		return 0, nil, errors.New("twiliotest: nil request")
	}
	if hc == nil {
		// A transport of its own, keeping no connection: httptest.Server.Close
		// closes the idle connections of http.DefaultTransport, which would
		// cut a delivery short when another test ends.
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.DisableKeepAlives = true
		hc = &http.Client{Timeout: 15 * time.Second, Transport: tr}
	}
	res, err := hc.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("twiliotest: %w", err)
	}
	defer res.Body.Close()
	body, err = io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return res.StatusCode, body, fmt.Errorf("twiliotest: reading answer: %w", err)
	}
	return res.StatusCode, body, nil
}

// InboundForm returns the parameters of an inbound-message webhook from
// the customer from to the account's number to, as Twilio sends them: a
// fresh MessageSid (and its legacy copies SmsSid and SmsMessageSid),
// AccountSid [DefaultAccountSID] (Set another if needed), NumMedia with
// MediaUrlN and MediaContentTypeN for each media, NumSegments, SmsStatus and
// ApiVersion.
func InboundForm(from, to, body string, media ...twiliosms.Media) url.Values {
	prefix := "SM"
	if len(media) > 0 {
		prefix = "MM"
	}
	sid := prefix + randomHex(16)
	f := url.Values{
		"MessageSid":    {sid},
		"SmsSid":        {sid},
		"SmsMessageSid": {sid},
		"AccountSid":    {DefaultAccountSID},
		"From":          {from},
		"To":            {to},
		"Body":          {body},
		"NumMedia":      {strconv.Itoa(len(media))},
		"NumSegments":   {strconv.Itoa(max(1, twiliosms.CountSegments(body).Segments))},
		"SmsStatus":     {"received"},
		"ApiVersion":    {"2010-04-01"},
	}
	for i, m := range media {
		f.Set("MediaUrl"+strconv.Itoa(i), m.URL)
		f.Set("MediaContentType"+strconv.Itoa(i), m.ContentType)
	}
	return f
}

// StatusForm returns the parameters of a status callback for message sid
// reaching status (such as "delivered" or "undelivered"), with ErrorCode
// when errorCode is not 0, AccountSid [DefaultAccountSID] and the legacy
// SmsSid and SmsStatus. Add From, To and MessagingServiceSid as needed, or
// use [Server.StatusForm] for a message the fake accepted.
func StatusForm(sid, status string, errorCode int) url.Values {
	f := url.Values{
		"MessageSid":    {sid},
		"SmsSid":        {sid},
		"MessageStatus": {status},
		"SmsStatus":     {status},
		"AccountSid":    {DefaultAccountSID},
		"ApiVersion":    {"2010-04-01"},
	}
	if errorCode != 0 {
		f.Set("ErrorCode", strconv.Itoa(errorCode))
	}
	return f
}

// StatusForm returns the status-callback parameters for the accepted
// message sid, with its AccountSid, From, To and MessagingServiceSid.
func (s *Server) StatusForm(sid, status string, errorCode int) (url.Values, error) {
	m, ok := s.Message(sid)
	if !ok {
		return nil, fmt.Errorf("twiliotest: no message %q was sent", sid)
	}
	f := StatusForm(sid, status, errorCode)
	f.Set("AccountSid", m.AccountSID)
	if m.From != "" {
		f.Set("From", m.From)
	}
	f.Set("To", m.To)
	if m.MessagingServiceSID != "" {
		f.Set("MessagingServiceSid", m.MessagingServiceSID)
	}
	return f, nil
}

// SendStatus posts a signed status callback for the accepted message sid to
// the StatusCallback URL it was sent with, as Twilio would, and returns the
// answer's status code.
func (s *Server) SendStatus(ctx context.Context, sid, status string, errorCode int) (int, error) {
	f, err := s.StatusForm(sid, status, errorCode)
	if err != nil {
		return 0, err
	}
	m, _ := s.Message(sid)
	if m.StatusCallback == "" {
		return 0, fmt.Errorf("twiliotest: message %q was sent without a StatusCallback", sid)
	}
	code, _, err := Post(ctx, nil, s.AuthToken, m.StatusCallback, f)
	return code, err
}
