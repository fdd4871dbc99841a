package twiliosms

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"net/url"
	"strconv"
	"strings"
	"time"

	openapi "github.com/twilio/twilio-go/rest/api/v2010"
)

// Directions of a message in Twilio's message log.
const (
	DirectionInbound       = "inbound"        // a text Twilio received for one of our numbers
	DirectionOutboundAPI   = "outbound-api"   // created through the REST API
	DirectionOutboundCall  = "outbound-call"  // created during a call
	DirectionOutboundReply = "outbound-reply" // created by a TwiML answer to an incoming message
)

// MaxHistoryPageSize is the largest page Twilio's message list returns.
const MaxHistoryPageSize = 1000

// defaultHistoryPageSize is the page size of a HistoryQuery that names none.
const defaultHistoryPageSize = 200

// HistoryQuery selects messages of the account's message log (GET
// /2010-04-01/Accounts/{AccountSid}/Messages.json). Every field is
// optional; the zero query lists the whole log.
type HistoryQuery struct {
	// To and From filter by recipient and sender, as Twilio shows them
	// ("+14155550100", "whatsapp:+14155550100", a short code).
	To, From string
	// Since and Until bound when a message was sent (its date_sent, or its
	// date_created when it was never sent): Since <= t < Until. A zero
	// bound is open. Twilio is asked with DateSent> and DateSent< (which
	// it applies inclusively, to the second); the exact bounds are applied
	// to what it answers.
	Since, Until time.Time
	// PageSize is how many messages one page holds, 1 to
	// MaxHistoryPageSize; 0 means 200.
	PageSize int
}

// Validate reports what is wrong with q, if anything.
func (q HistoryQuery) Validate() error {
	switch {
	case q.PageSize < 0 || q.PageSize > MaxHistoryPageSize:
		return fmt.Errorf("twiliosms: HistoryQuery: PageSize %d is not between 0 and %d", q.PageSize, MaxHistoryPageSize)
	case !q.Since.IsZero() && !q.Until.IsZero() && !q.Since.Before(q.Until):
		return fmt.Errorf("twiliosms: HistoryQuery: Since %s is not before Until %s", q.Since.UTC().Format(time.RFC3339), q.Until.UTC().Format(time.RFC3339))
	case strings.ContainsAny(q.To+q.From, "\r\n"):
		return errors.New("twiliosms: HistoryQuery: To and From must be single-line addresses")
	}
	return nil
}

// HistoryMessage is one message of the account's message log.
type HistoryMessage struct {
	SID       string
	From      string
	To        string
	Body      string
	Status    string // "received", "delivered", "failed", ...
	Direction string // one of the Direction constants
	// DateSent is when Twilio sent the message (for an inbound one: when it
	// posted it to the webhook); zero when it never was.
	DateSent    time.Time
	DateCreated time.Time
	// NumMedia is how many media files the message carries (MMS).
	NumMedia            int
	NumSegments         int
	ErrorCode           int // 0 when none
	MessagingServiceSID string
}

// Inbound reports whether the message came from a customer to one of our
// addresses.
func (m HistoryMessage) Inbound() bool { return m.Direction == DirectionInbound }

// At is when the message was sent, or created when it never was.
func (m HistoryMessage) At() time.Time {
	if !m.DateSent.IsZero() {
		return m.DateSent
	}
	return m.DateCreated
}

// HistoryPage is one page of the message log, newest first.
type HistoryPage struct {
	Messages []HistoryMessage
	// Next is the cursor of the next page, "" after the last one. Pass it
	// to [Client.HistoryPage] with the same query, in this process or in a
	// later one, to go on where this page ended.
	Next string
}

// HistoryPage reads one page of the account's message log, newest first,
// from cursor ("" for the first page, or the Next of an earlier page of
// the same query). Twilio's paging is by token: a page read again later
// starts after the same message, so a cursor can be kept across an
// interruption. Errors are classified and masked as those of
// [Client.Send].
func (c *Client) HistoryPage(ctx context.Context, q HistoryQuery, cursor string) (HistoryPage, error) {
	if ctx == nil {
		return HistoryPage{}, errors.New("twiliosms: HistoryPage: nil context")
	}
	if err := q.Validate(); err != nil {
		return HistoryPage{}, err
	}
	token, page, err := parseCursor(cursor)
	if err != nil {
		return HistoryPage{}, err
	}
	if err := ctx.Err(); err != nil {
		return HistoryPage{}, fmt.Errorf("twiliosms: HistoryPage not started: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	api, tr := c.api(ctx)
	size := q.PageSize
	if size == 0 {
		size = defaultHistoryPageSize
	}
	// A page of long texts can run to megabytes.
	tr.limit = listAnswerLimit(size)
	params := (&openapi.ListMessageParams{}).SetPageSize(size)
	if q.To != "" {
		params.SetTo(q.To)
	}
	if q.From != "" {
		params.SetFrom(q.From)
	}
	if !q.Since.IsZero() {
		params.SetDateSentAfter(q.Since.UTC().Truncate(time.Second))
	}
	if !q.Until.IsZero() {
		params.SetDateSentBefore(q.Until.UTC())
	}
	resp, err := api.PageMessage(params, token, page)
	if err != nil {
		return HistoryPage{}, c.callError(ctx, tr, "listing messages", err)
	}
	var out HistoryPage
	for _, m := range resp.Messages {
		hm, err := historyMessage(m)
		if err != nil {
			return HistoryPage{}, err
		}
		at := hm.At()
		if (!q.Since.IsZero() && at.Before(q.Since)) || (!q.Until.IsZero() && !at.Before(q.Until)) {
			continue
		}
		out.Messages = append(out.Messages, hm)
	}
	if resp.NextPageUri != nil && *resp.NextPageUri != "" {
		if out.Next, err = cursorOf(*resp.NextPageUri); err != nil {
			return HistoryPage{}, err
		}
	}
	return out, nil
}

// History lists every message of the log q selects, newest first, page
// after page. The sequence stops at the first error, which it yields with
// a zero HistoryMessage. For a listing that can resume after an
// interruption, read page by page with [Client.HistoryPage] and keep the
// cursor.
func (c *Client) History(ctx context.Context, q HistoryQuery) iter.Seq2[HistoryMessage, error] {
	return func(yield func(HistoryMessage, error) bool) {
		cursor := ""
		for {
			p, err := c.HistoryPage(ctx, q, cursor)
			if err != nil {
				yield(HistoryMessage{}, err)
				return
			}
			for _, m := range p.Messages {
				if !yield(m, nil) {
					return
				}
			}
			if p.Next == "" {
				return
			}
			cursor = p.Next
		}
	}
}

// historyMessage reads one message of a list answer.
func historyMessage(m openapi.ApiV2010Message) (HistoryMessage, error) {
	hm := HistoryMessage{
		SID: deref(m.Sid), From: deref(m.From), To: deref(m.To), Body: deref(m.Body),
		Status: deref(m.Status), Direction: deref(m.Direction), MessagingServiceSID: deref(m.MessagingServiceSid),
	}
	if m.ErrorCode != nil {
		hm.ErrorCode = *m.ErrorCode
	}
	var err error
	if hm.DateSent, err = rfc2822(m.DateSent); err != nil {
		return HistoryMessage{}, fmt.Errorf("twiliosms: message %s has date_sent %q: %w", hm.SID, deref(m.DateSent), err)
	}
	if hm.DateCreated, err = rfc2822(m.DateCreated); err != nil {
		return HistoryMessage{}, fmt.Errorf("twiliosms: message %s has date_created %q: %w", hm.SID, deref(m.DateCreated), err)
	}
	if hm.NumMedia, err = countOf(m.NumMedia); err != nil {
		return HistoryMessage{}, fmt.Errorf("twiliosms: message %s has num_media %q: %w", hm.SID, deref(m.NumMedia), err)
	}
	if hm.NumSegments, err = countOf(m.NumSegments); err != nil {
		return HistoryMessage{}, fmt.Errorf("twiliosms: message %s has num_segments %q: %w", hm.SID, deref(m.NumSegments), err)
	}
	return hm, nil
}

// rfc2822 reads one of Twilio's dates; nil or "" is the zero time.
func rfc2822(s *string) (time.Time, error) {
	if s == nil || *s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC1123Z, *s)
	if err != nil {
		return time.Time{}, err
	}
	return t.UTC(), nil
}

// countOf reads one of Twilio's counts, which it sends as strings.
func countOf(s *string) (int, error) {
	if s == nil || *s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(*s)
	if err == nil && n < 0 {
		err = errors.New("negative")
	}
	return n, err
}

// A cursor is the part of Twilio's next_page_uri that says where the next
// page starts: "Page=1&PageToken=PA…". The filters are the query's own.

// cursorOf extracts the cursor from a next_page_uri.
func cursorOf(nextPageURI string) (string, error) {
	u, err := url.Parse(nextPageURI)
	if err != nil {
		return "", fmt.Errorf("twiliosms: Twilio's next_page_uri does not parse: %w", err)
	}
	q := u.Query()
	if q.Get("PageToken") == "" {
		return "", errors.New("twiliosms: Twilio's next_page_uri has no PageToken")
	}
	return url.Values{"Page": {q.Get("Page")}, "PageToken": {q.Get("PageToken")}}.Encode(), nil
}

// parseCursor reads a cursor made by cursorOf; "" is the first page.
func parseCursor(cursor string) (token, page string, err error) {
	if cursor == "" {
		return "", "", nil
	}
	v, err := url.ParseQuery(cursor)
	if err != nil || v.Get("PageToken") == "" {
		return "", "", errors.New("twiliosms: HistoryPage: the cursor is not one HistoryPage returned")
	}
	if p := v.Get("Page"); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 0 {
			return "", "", errors.New("twiliosms: HistoryPage: the cursor's page is not a number")
		}
	}
	return v.Get("PageToken"), v.Get("Page"), nil
}

// MessageMedia lists the media files of message messageSID (GET
// /2010-04-01/Accounts/{AccountSid}/Messages/{MessageSid}/Media.json):
// the URLs Twilio serves them at, as an inbound webhook's MediaUrlN
// gives them, with their content types. A message holds at most MaxMedia.
// Errors are classified and masked as those of [Client.Send].
func (c *Client) MessageMedia(ctx context.Context, messageSID string) ([]Media, error) {
	if ctx == nil {
		return nil, errors.New("twiliosms: MessageMedia: nil context")
	}
	if !messageSIDPattern.MatchString(messageSID) {
		return nil, errors.New("twiliosms: MessageMedia: the message SID is not \"SM\" or \"MM\" and 32 hex digits")
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("twiliosms: MessageMedia not started: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	api, tr := c.api(ctx)
	resp, err := api.PageMedia(messageSID, (&openapi.ListMediaParams{}).SetPageSize(MaxMedia), "", "")
	if err != nil {
		return nil, c.callError(ctx, tr, "listing media", err)
	}
	base := "https://api.twilio.com"
	if c.baseURL != nil {
		base = c.baseURL.String()
	}
	var out []Media
	for _, m := range resp.MediaList {
		uri := deref(m.Uri)
		if uri == "" {
			continue
		}
		out = append(out, Media{URL: base + strings.TrimSuffix(uri, ".json"), ContentType: deref(m.ContentType)})
	}
	return out, nil
}
