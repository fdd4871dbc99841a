package twiliotest

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/smsrelay/smsrelay/twiliosms"
)

// LogMessage is a message to seed into the fake's message log with
// [Server.AddHistory]: a text a customer sent to one of our numbers
// (Direction "inbound") or one we sent them ("outbound-api",
// "outbound-reply", "outbound-call"), at a chosen time.
type LogMessage struct {
	// SID is the message's SID; "" makes one ("SM…", or "MM…" with media).
	SID       string
	From, To  string
	Body      string
	Direction string
	// DateSent is when the message was sent; required. Its date_created is
	// the same second.
	DateSent time.Time
	// Status defaults to "received" for an inbound message and "delivered"
	// for an outbound one.
	Status string
	// MediaURLs are the message's media (its num_media).
	MediaURLs           []string
	MessagingServiceSID string
	// ErrorCode is Twilio's error code of a message whose Status is
	// "failed" or "undelivered", which Twilio always gives one (its
	// error_code); required for those, 0 for others.
	ErrorCode int
}

// AddHistory seeds msgs into the fake's message log, as if Twilio had
// received or sent them at their DateSent, and returns their SIDs. GET
// Messages.json lists them with the messages created through the API. It
// panics on a message without From, To or DateSent, with a direction
// Twilio does not have, failed or undelivered without an ErrorCode (or
// with one and another status), or with a SID already in the log, as a
// test could not go on with it.
func (s *Server) AddHistory(msgs ...LogMessage) []string {
	sids := make([]string, 0, len(msgs))
	added := make([]SentMessage, 0, len(msgs))
	for i, m := range msgs {
		switch {
		case m.From == "" || m.To == "":
			panic(fmt.Sprintf("twiliotest: AddHistory: message %d has no From or To", i))
		case m.DateSent.IsZero():
			panic(fmt.Sprintf("twiliotest: AddHistory: message %d has no DateSent", i))
		}
		switch m.Direction {
		case twiliosms.DirectionInbound, twiliosms.DirectionOutboundAPI, twiliosms.DirectionOutboundCall, twiliosms.DirectionOutboundReply:
		default:
			panic(fmt.Sprintf("twiliotest: AddHistory: message %d has direction %q, not one of Twilio's", i, m.Direction))
		}
		if failed := m.Status == twiliosms.StatusFailed || m.Status == twiliosms.StatusUndelivered; failed != (m.ErrorCode != 0) {
			panic(fmt.Sprintf("twiliotest: AddHistory: message %d has status %q and error code %d: Twilio gives a code to failed and undelivered messages, and only to them", i, m.Status, m.ErrorCode))
		}
		sm := SentMessage{
			SID: m.SID, AccountSID: s.AccountSID, From: m.From, To: m.To, Body: m.Body,
			MediaURLs: slices.Clone(m.MediaURLs), MessagingServiceSID: m.MessagingServiceSID,
			Status: m.Status, Direction: m.Direction, ErrorCode: m.ErrorCode,
			DateSent:    m.DateSent.UTC().Truncate(time.Second),
			DateCreated: m.DateSent.UTC().Truncate(time.Second),
			NumSegments: max(1, twiliosms.CountSegments(m.Body).Segments),
		}
		if sm.SID == "" {
			sm.SID = "SM" + randomHex(16)
			if len(m.MediaURLs) > 0 {
				sm.SID = "MM" + randomHex(16)
			}
		}
		if sm.Status == "" {
			sm.Status = "delivered"
			if m.Direction == twiliosms.DirectionInbound {
				sm.Status = "received"
			}
		}
		added = append(added, sm)
		sids = append(sids, sm.SID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sm := range added {
		if slices.ContainsFunc(s.messages, func(o SentMessage) bool { return o.SID == sm.SID }) {
			panic(fmt.Sprintf("twiliotest: AddHistory: SID %s is already in the log", sm.SID))
		}
		s.messages = append(s.messages, sm)
	}
	return sids
}

// ListRequests returns how many GET Messages.json requests the fake
// answered, failed ones included.
func (s *Server) ListRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lists
}

// at is when m counts as sent, for ordering and the DateSent filters.
func (m SentMessage) at() time.Time {
	if !m.DateSent.IsZero() {
		return m.DateSent
	}
	return m.DateCreated
}

// dateFilter is one of the DateSent filters of the list.
type dateFilter struct {
	param string // "DateSent", "DateSent<" or "DateSent>"
	t     time.Time
	day   bool // given as a date: the filter is on whole days (UTC)
}

// match reports whether a message sent at t passes the filter. As Twilio
// documents them, DateSent> is "on or after" and DateSent< "on or
// before"; a date means its whole day.
func (f dateFilter) match(t time.Time) bool {
	t = t.UTC()
	if f.day {
		day := t.Truncate(24 * time.Hour)
		switch f.param {
		case "DateSent>":
			return !day.Before(f.t)
		case "DateSent<":
			return !day.After(f.t)
		}
		return day.Equal(f.t)
	}
	switch f.param {
	case "DateSent>":
		return !t.Before(f.t)
	case "DateSent<":
		return !t.After(f.t)
	}
	return t.Equal(f.t)
}

// dateLayouts are the formats the fake reads in the DateSent filters:
// the ones twilio-go sends (RFC 3339) and the ones Twilio's description
// of the parameter shows.
var dateLayouts = []string{time.RFC3339, "2006-01-02 15:04:05.000", time.RFC1123Z, "Mon, 02 Jan 2006 15:04:05 -0700", "01/02/2006 15:04:05 MST"}

// parseDateFilter reads the value of DateSent, DateSent< or DateSent>.
func parseDateFilter(param, v string) (dateFilter, error) {
	if t, err := time.Parse("2006-01-02", v); err == nil {
		return dateFilter{param: param, t: t, day: true}, nil
	}
	for _, l := range dateLayouts {
		if t, err := time.Parse(l, v); err == nil {
			return dateFilter{param: param, t: t.UTC()}, nil
		}
	}
	return dateFilter{}, fmt.Errorf("invalid %s %q", param, v)
}

// list answers GET Messages.json: the log (messages seeded with
// AddHistory and those created through the API), newest first (by
// date_sent, else date_created; in one second, the one added last
// first), filtered by To, From and the
// DateSent filters, in pages of PageSize (default 50, at most 1000).
// Paging is by token, as Twilio's: next_page_uri carries Page and a
// PageToken ("PA" and the SID of the page's last message), and a page
// asked for with a PageToken starts after that message, so that messages
// added meanwhile (newer ones) do not shift later pages.
func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.lists++
	s.mu.Unlock()
	q := r.URL.Query()
	size := 50
	if v := q.Get("PageSize"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			writeError(w, http.StatusBadRequest, 20001, "Invalid PageSize")
			return
		}
		size = n
	}
	page := 0
	if v := q.Get("Page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, 20001, "Invalid Page")
			return
		}
		page = n
	}
	token := q.Get("PageToken")
	if token != "" && !strings.HasPrefix(token, "PA") {
		writeError(w, http.StatusBadRequest, 20001, "Invalid PageToken")
		return
	}
	if page > 0 && token == "" {
		// Twilio refuses deep pages without their token.
		writeError(w, http.StatusBadRequest, 20001, "Page beyond 0 needs a PageToken")
		return
	}
	var filters []dateFilter
	for _, p := range []string{"DateSent", "DateSent<", "DateSent>"} {
		if v := q.Get(p); v != "" {
			f, err := parseDateFilter(p, v)
			if err != nil {
				writeError(w, http.StatusBadRequest, 20001, err.Error())
				return
			}
			filters = append(filters, f)
		}
	}
	to, from := q.Get("To"), q.Get("From")

	s.mu.Lock()
	all := slices.Clone(s.messages)
	s.mu.Unlock()
	// Newest first; of two in the same second, the one added later.
	slices.Reverse(all)
	slices.SortStableFunc(all, func(a, b SentMessage) int { return b.at().Compare(a.at()) })
	var matched []SentMessage
	for _, m := range all {
		if (to != "" && m.To != to) || (from != "" && m.From != from) {
			continue
		}
		ok := true
		for _, f := range filters {
			ok = ok && f.match(m.at())
		}
		if ok {
			matched = append(matched, m)
		}
	}
	start := 0
	if token != "" {
		after := strings.TrimPrefix(token, "PA")
		i := slices.IndexFunc(matched, func(m SentMessage) bool { return m.SID == after })
		if i < 0 {
			writeError(w, http.StatusBadRequest, 20001, "Invalid PageToken")
			return
		}
		start = i + 1
	}
	end := min(start+size, len(matched))
	out := make([]messageJSON, 0, end-start)
	for _, m := range matched[start:end] {
		out = append(out, s.wire(m))
	}

	uriOf := func(page int, token string) string {
		v := url.Values{}
		for _, k := range []string{"To", "From", "DateSent", "DateSent<", "DateSent>"} {
			if q.Has(k) {
				v.Set(k, q.Get(k))
			}
		}
		v.Set("PageSize", strconv.Itoa(size))
		v.Set("Page", strconv.Itoa(page))
		if token != "" {
			v.Set("PageToken", token)
		}
		return r.URL.Path + "?" + v.Encode()
	}
	var next *string
	if end < len(matched) {
		u := uriOf(page+1, "PA"+matched[end-1].SID)
		next = &u
	}
	var prev *string
	if page > 0 {
		u := uriOf(page-1, "")
		if page > 1 && start > size {
			u = uriOf(page-1, "PA"+matched[start-size-1].SID)
		}
		prev = &u
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"messages": out, "page": page, "page_size": size,
		"start": page * size, "end": page*size + max(len(out)-1, 0),
		"uri": r.URL.RequestURI(), "first_page_uri": uriOf(0, ""),
		"next_page_uri": next, "previous_page_uri": prev,
	})
}

var mediaPath = regexp.MustCompile(`^/2010-04-01/Accounts/([^/]+)/Messages/([^/]+)/Media\.json$`)

// mediaJSON is a Media resource as Twilio's API returns it.
type mediaJSON struct {
	AccountSID  string `json:"account_sid"`
	ContentType string `json:"content_type"`
	DateCreated string `json:"date_created"`
	DateUpdated string `json:"date_updated"`
	ParentSID   string `json:"parent_sid"`
	SID         string `json:"sid"`
	URI         string `json:"uri"`
}

// contentType guesses a media file's type from its URL, as the fake has
// no file to look at.
func contentType(u string) string {
	switch ext := strings.ToLower(path.Ext(strings.SplitN(u, "?", 2)[0])); ext {
	case ".jpg", ".jpeg":
		return "image/jpeg"
	case ".png":
		return "image/png"
	case ".gif":
		return "image/gif"
	case ".pdf":
		return "application/pdf"
	}
	return "application/octet-stream"
}

// media answers GET .../Messages/{MessageSid}/Media.json: the media of a
// message in the log, each with a SID derived from the message's, in one
// page (a message holds at most 10).
func (s *Server) media(w http.ResponseWriter, r *http.Request, account, messageSID string) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		writeError(w, http.StatusMethodNotAllowed, 20004, "Method not allowed")
		return
	}
	user, pass, ok := r.BasicAuth()
	if !ok || subtle.ConstantTimeCompare([]byte(user), []byte(s.AccountSID)) != 1 ||
		subtle.ConstantTimeCompare([]byte(pass), []byte(s.AuthToken)) != 1 {
		w.Header().Set("WWW-Authenticate", `Basic realm="Twilio API"`)
		writeError(w, http.StatusUnauthorized, 20003, "Authenticate")
		return
	}
	msg, found := s.Message(messageSID)
	if account != s.AccountSID || !found {
		writeError(w, http.StatusNotFound, 20404, "The requested resource "+r.URL.Path+" was not found")
		return
	}
	list := make([]mediaJSON, 0, len(msg.MediaURLs))
	date := msg.at().Format(time.RFC1123Z)
	for i, u := range msg.MediaURLs {
		sum := sha256.Sum256([]byte(messageSID + ":" + strconv.Itoa(i)))
		sid := "ME" + hex.EncodeToString(sum[:16])
		list = append(list, mediaJSON{
			AccountSID: s.AccountSID, ContentType: contentType(u), DateCreated: date, DateUpdated: date,
			ParentSID: messageSID, SID: sid,
			URI: "/2010-04-01/Accounts/" + s.AccountSID + "/Messages/" + messageSID + "/Media/" + sid + ".json",
		})
	}
	size := 50
	if v := r.URL.Query().Get("PageSize"); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n >= 1 && n <= 1000 {
			size = n
		}
	}
	uri := r.URL.Path + "?PageSize=" + strconv.Itoa(size) + "&Page=0"
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"media_list": list, "page": 0, "page_size": size, "start": 0, "end": max(len(list)-1, 0),
		"uri": uri, "first_page_uri": uri, "next_page_uri": nil, "previous_page_uri": nil,
	})
}
