package twiliotest

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"time"
	"unicode/utf16"

	"github.com/smsrelay/smsrelay/twiliosms"
)

// Credentials the fake accepts unless [WithCredentials] says otherwise.
// They are made up and only valid against the fake.
const (
	DefaultAccountSID = "AC0123456789abcdef0123456789abcdef"
	DefaultAuthToken  = "fa4e0a07c1b6d2e3f4a5b6c7d8e9f0a1"
)

var (
	messagesPath  = regexp.MustCompile(`^/2010-04-01/Accounts/([^/]+)/Messages\.json$`)
	e164          = regexp.MustCompile(`^(whatsapp:)?\+[1-9][0-9]{6,14}$`)
	accountSIDRef = regexp.MustCompile(`^AC[0-9a-fA-F]{32}$`)
	tokenPattern  = regexp.MustCompile(`^[A-Za-z0-9]+$`)
)

// Server is a fake of Twilio's Messages API (POST
// /2010-04-01/Accounts/{AccountSid}/Messages.json) on an httptest server
// bound to 127.0.0.1. It checks HTTP Basic auth and the message the way
// Twilio does, answers with Twilio's JSON shapes, records what it accepted
// and lists it (GET Messages.json, newest first, filtered by To and From),
// and can inject Twilio errors, latency and lost answers ([Fault]). Its
// methods are safe for concurrent use.
type Server struct {
	// URL is the base URL to give twiliosms.WithBaseURL.
	URL string
	// AccountSID and AuthToken are the credentials the fake accepts.
	AccountSID string
	AuthToken  string

	srv       *httptest.Server
	closed    chan struct{} // closed by Close: held requests end
	closeOnce sync.Once

	mu       sync.Mutex
	messages []SentMessage
	attempts int
	lists    int              // GET Messages.json requests
	faults   []Fault          // for the next requests, in order
	faultsTo map[string]Fault // per recipient
	latency  time.Duration
	now      func() time.Time
}

// SentMessage is a message the fake accepted.
type SentMessage struct {
	SID                 string
	AccountSID          string
	To                  string
	From                string
	MessagingServiceSID string
	Body                string
	MediaURLs           []string // every MediaUrl value, in order
	StatusCallback      string
	// ContentSID and ContentVariables (as sent: a JSON object) name a
	// Content Template sent instead of a body.
	ContentSID       string
	ContentVariables string
	Status           string // "queued", or "accepted" with a Messaging Service
	NumSegments      int
	DateCreated      time.Time
	// Direction is "outbound-api" for a message created through the API;
	// a message seeded with [Server.AddHistory] has the direction it was
	// given ("inbound", "outbound-reply", ...).
	Direction string
	// DateSent is when the message was sent (a seeded message's date);
	// zero for one created through the API, which the fake never sends.
	DateSent time.Time
	// ErrorCode is Twilio's error code of a failed or undelivered message
	// (a seeded one: the fake fails none it creates); 0 for none.
	ErrorCode int
	// Form is the whole request body as sent; nil for a seeded message.
	Form url.Values
}

// Fault is what the fake does to one create-message request instead of
// answering it normally. By default it answers with an error and creates
// nothing. With Accept it creates the message first, as it would without a
// fault, and the other fields shape only the answer; with Hang or Drop
// there is no answer at all. Together they model a request whose effect is
// unknown to the client: Fault{Accept: true, Drop: true} is "Twilio
// created the message, the client never learned".
type Fault struct {
	// Code is the Twilio error code, such as 21610 or 20429.
	Code int
	// Status is the HTTP status; 0 means 429 for code 20429, 503 for
	// codes from 20500 to 20599, 400 otherwise.
	Status int
	// Message overrides the error message; "" uses a stock one.
	Message string
	// RawBody, when set, is sent as the body instead of Twilio's JSON
	// error object, with Content-Type text/html, as a proxy or load
	// balancer in front of Twilio would.
	RawBody string
	// Latency delays this answer (or the Drop), after the message was
	// created when Accept is set. It must not be negative.
	Latency time.Duration
	// Accept makes the fake check and create the message as it would
	// without a fault before answering: it is recorded ([Server.Messages])
	// and listed by GET Messages.json. The answer is then the usual one
	// (201, or Twilio's error when the message fails the checks) unless
	// Code or RawBody replace it with that error (a server error after the
	// message was created), Hang withholds it or Drop cuts it off.
	Accept bool
	// Hang never answers: the fake holds the request until the client
	// gives up (its context or timeout) or the server is closed. Code,
	// Status, Message and RawBody are then unused.
	Hang bool
	// Drop closes the connection, after Latency, without an answer: the
	// client reads an unexpected end of file. Code, Status, Message and
	// RawBody are then unused. Hang and Drop exclude each other.
	Drop bool
}

// check panics on a Fault that cannot be carried out.
func (f Fault) check() {
	if f.Hang && f.Drop {
		panic("twiliotest: a Fault cannot both Hang and Drop")
	}
	if f.Latency < 0 {
		panic(fmt.Sprintf("twiliotest: Fault with negative Latency %v", f.Latency))
	}
}

// An Option configures a [Server] made by [NewServer]. Each option checks
// its argument; NewServer panics with the option's error when one is
// unusable, as a test could not go on with it.
type Option func(*config) error

type config struct {
	accountSID string
	authToken  string
	latency    time.Duration
	now        func() time.Time
}

// WithCredentials makes the fake accept accountSID ("AC" and 32 hex
// digits) and authToken (letters and digits) instead of
// [DefaultAccountSID] and [DefaultAuthToken].
func WithCredentials(accountSID, authToken string) Option {
	return func(c *config) error {
		if !accountSIDRef.MatchString(accountSID) {
			return fmt.Errorf("twiliotest: WithCredentials: account SID %q must be \"AC\" and 32 hex digits", accountSID)
		}
		if !tokenPattern.MatchString(authToken) {
			return errors.New("twiliotest: WithCredentials: the auth token must be letters and digits")
		}
		c.accountSID, c.authToken = accountSID, authToken
		return nil
	}
}

// WithLatency delays every answer by d (or until the request is
// cancelled). d must not be negative.
func WithLatency(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return fmt.Errorf("twiliotest: WithLatency: negative duration %v", d)
		}
		c.latency = d
		return nil
	}
}

// WithClock makes the fake read the time (date_created) from now, which
// must not be nil.
func WithClock(now func() time.Time) Option {
	return func(c *config) error {
		if now == nil {
			return errors.New("twiliotest: WithClock: nil clock")
		}
		c.now = now
		return nil
	}
}

// NewServer starts a fake Twilio Messages API. Close it when done. It
// panics when an option is nil or refuses its argument.
func NewServer(opts ...Option) *Server {
	cfg := config{accountSID: DefaultAccountSID, authToken: DefaultAuthToken, now: time.Now}
	for i, o := range opts {
		if o == nil {
			panic(fmt.Sprintf("twiliotest: NewServer: option %d is nil", i))
		}
		if err := o(&cfg); err != nil {
			panic(err.Error())
		}
	}
	s := &Server{
		AccountSID: cfg.accountSID,
		AuthToken:  cfg.authToken,
		faultsTo:   map[string]Fault{},
		latency:    cfg.latency,
		now:        cfg.now,
		closed:     make(chan struct{}),
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	return s
}

// Close shuts the server down.
// Requests the fake is holding (latency, a hanging [Fault]) end at once,
// without an answer.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.closed) })
	s.srv.Close()
}

// Client returns an HTTP client suited to the server.
func (s *Server) Client() *http.Client { return s.srv.Client() }

// Messages returns the messages accepted so far, oldest first.
func (s *Server) Messages() []SentMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]SentMessage, len(s.messages))
	for i, m := range s.messages {
		out[i] = m.clone()
	}
	return out
}

// Message returns the accepted message with the given SID.
func (s *Server) Message(sid string) (SentMessage, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.messages {
		if m.SID == sid {
			return m.clone(), true
		}
	}
	return SentMessage{}, false
}

// Attempts returns how many create-message requests reached the fake,
// failed ones included.
func (s *Server) Attempts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts
}

func (m SentMessage) clone() SentMessage {
	m.MediaURLs = slices.Clone(m.MediaURLs)
	if m.Form == nil {
		return m
	}
	f := url.Values{}
	for k, v := range m.Form {
		f[k] = slices.Clone(v)
	}
	m.Form = f
	return m
}

// FailNext makes the next authenticated create-message request fail with
// Twilio error code and HTTP status (0: see [Fault]). Calls queue up: call
// it n times to fail the next n requests.
func (s *Server) FailNext(code, status int) {
	s.Fail(Fault{Code: code, Status: status})
}

// Fail queues f for the next authenticated create-message request; faults
// are used in the order they were queued, one per request. It panics on a
// Fault that sets both Hang and Drop, or a negative Latency.
func (s *Server) Fail(f Fault) {
	f.check()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, f)
}

// FailTo makes every message to the recipient to fail with f until
// [Server.ClearFaults], for example FailTo("+14155550100",
// Fault{Code: 21610}) for a recipient who replied STOP. A recipient fault
// takes precedence over queued ones. It panics on a Fault that cannot be
// carried out, as [Server.Fail] does.
func (s *Server) FailTo(to string, f Fault) {
	f.check()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faultsTo[to] = f
}

// ClearFaults removes every queued and per-recipient fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
	clear(s.faultsTo)
}

// SetLatency changes the delay of every answer.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// apiError is Twilio's JSON error object.
type apiError struct {
	Code     int    `json:"code"`
	Message  string `json:"message"`
	MoreInfo string `json:"more_info"`
	Status   int    `json:"status"`
}

func writeError(w http.ResponseWriter, status, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(apiError{
		Code: code, Message: msg, Status: status,
		MoreInfo: "https://www.twilio.com/docs/errors/" + strconv.Itoa(code),
	})
}

// wait sleeps d and reports true, or reports false as soon as the request
// ends (the client gave up) or the server closes. Without a delay it
// reports true: a request that arrived is handled.
func (s *Server) wait(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-s.closed:
		return false
	}
}

// withhold carries out f's Hang or Drop and reports whether it did: a
// hanging request is held until the client gives up or the server closes,
// a dropped one has its connection closed without an answer.
func (s *Server) withhold(w http.ResponseWriter, r *http.Request, f Fault) bool {
	switch {
	case f.Hang:
		select {
		case <-r.Context().Done():
		case <-s.closed:
		}
		drop(w)
		return true
	case f.Drop:
		drop(w)
		return true
	}
	return false
}

// drop closes the request's connection without an answer. (A handler that
// merely returned would answer 200 with an empty body.)
func drop(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	// Not HTTP/1: abort the response, which resets the stream.
	panic(http.ErrAbortHandler)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if mm := mediaPath.FindStringSubmatch(r.URL.Path); mm != nil {
		s.media(w, r, mm[1], mm[2])
		return
	}
	m := messagesPath.FindStringSubmatch(r.URL.Path)
	if m == nil {
		writeError(w, http.StatusNotFound, 20404, "The requested resource "+r.URL.Path+" was not found")
		return
	}
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET, POST")
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
	if m[1] != s.AccountSID {
		writeError(w, http.StatusNotFound, 20404, "The requested resource "+r.URL.Path+" was not found")
		return
	}
	if r.Method == http.MethodGet {
		s.mu.Lock()
		latency := s.latency
		s.mu.Unlock()
		if !s.wait(r.Context(), latency) {
			drop(w)
			return
		}
		s.list(w, r)
		return
	}
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/x-www-form-urlencoded" {
		writeError(w, http.StatusBadRequest, 20001, "Content-Type must be application/x-www-form-urlencoded")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	if err := r.ParseForm(); err != nil {
		writeError(w, http.StatusBadRequest, 20001, "Invalid form body: "+err.Error())
		return
	}
	form := r.PostForm
	to := form.Get("To")

	s.mu.Lock()
	s.attempts++
	latency := s.latency
	fault, faulty := s.faultsTo[to]
	if !faulty && len(s.faults) > 0 {
		fault, faulty = s.faults[0], true
		s.faults = s.faults[1:]
	}
	s.mu.Unlock()

	if faulty && !fault.Accept {
		// Refused before anything was created.
		if !s.wait(r.Context(), latency+fault.Latency) {
			drop(w)
			return
		}
		if s.withhold(w, r, fault) {
			return
		}
		writeFault(w, fault)
		return
	}
	if !s.wait(r.Context(), latency) {
		drop(w)
		return
	}
	status, code, msg := check(form)
	var created SentMessage
	if code == 0 {
		created = s.create(form)
	}
	if faulty {
		// Accepted (or refused by the checks); only the answer is faulty.
		if !s.wait(r.Context(), fault.Latency) {
			drop(w)
			return
		}
		if s.withhold(w, r, fault) {
			return
		}
		if fault.Code != 0 || fault.RawBody != "" {
			writeFault(w, fault)
			return
		}
	}
	if code != 0 {
		writeError(w, status, code, msg)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(s.wire(created))
}

func writeFault(w http.ResponseWriter, f Fault) {
	status := f.Status
	if status == 0 {
		switch {
		case f.Code == 20429:
			status = http.StatusTooManyRequests
		case f.Code >= 20500 && f.Code < 20600:
			status = http.StatusServiceUnavailable
		default:
			status = http.StatusBadRequest
		}
	}
	if f.RawBody != "" {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(f.RawBody))
		return
	}
	msg := f.Message
	if msg == "" {
		msg = twiliosms.Describe(f.Code)
		if msg == "" {
			msg = "Injected error " + strconv.Itoa(f.Code)
		}
	}
	writeError(w, status, f.Code, msg)
}

// check validates a create-message form as Twilio does and returns the
// error to answer with, or code 0.
func check(form url.Values) (status, code int, msg string) {
	to := form.Get("To")
	body := form.Get("Body")
	media := form["MediaUrl"]
	switch {
	case to == "":
		return 400, 21604, "A 'To' phone number is required."
	case !e164.MatchString(to):
		return 400, 21211, fmt.Sprintf("The 'To' number %s is not a valid phone number.", to)
	case form.Get("From") == "" && form.Get("MessagingServiceSid") == "":
		return 400, 21603, "A 'From' phone number is required."
	case body == "" && len(media) == 0 && form.Get("ContentSid") == "":
		return 400, 21602, "Message body is required."
	case len(utf16.Encode([]rune(body))) > twiliosms.MaxBodyLength:
		return 400, 21617, "The concatenated message body exceeds the 1600 character limit."
	case len(media) > twiliosms.MaxMedia:
		return 400, 21623, "Number of media files exceeds allowed limit."
	}
	for _, u := range media {
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return 400, 21620, fmt.Sprintf("The media URL %s is invalid.", u)
		}
	}
	return 0, 0, ""
}

// messageJSON is the Message resource as Twilio's API returns it.
type messageJSON struct {
	AccountSID          string            `json:"account_sid"`
	APIVersion          string            `json:"api_version"`
	Body                string            `json:"body"`
	DateCreated         string            `json:"date_created"`
	DateSent            *string           `json:"date_sent"`
	DateUpdated         string            `json:"date_updated"`
	Direction           string            `json:"direction"`
	ErrorCode           *int              `json:"error_code"`
	ErrorMessage        *string           `json:"error_message"`
	From                *string           `json:"from"`
	MessagingServiceSID *string           `json:"messaging_service_sid"`
	NumMedia            string            `json:"num_media"`
	NumSegments         string            `json:"num_segments"`
	Price               *string           `json:"price"`
	PriceUnit           string            `json:"price_unit"`
	SID                 string            `json:"sid"`
	Status              string            `json:"status"`
	SubresourceURIs     map[string]string `json:"subresource_uris"`
	To                  string            `json:"to"`
	URI                 string            `json:"uri"`
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// create records the message form asks for and returns it.
func (s *Server) create(form url.Values) SentMessage {
	media := form["MediaUrl"]
	prefix := "SM"
	if len(media) > 0 {
		prefix = "MM"
	}
	msg := SentMessage{
		SID:                 prefix + randomHex(16),
		AccountSID:          s.AccountSID,
		To:                  form.Get("To"),
		From:                form.Get("From"),
		MessagingServiceSID: form.Get("MessagingServiceSid"),
		Body:                form.Get("Body"),
		MediaURLs:           slices.Clone(media),
		StatusCallback:      form.Get("StatusCallback"),
		ContentSID:          form.Get("ContentSid"),
		ContentVariables:    form.Get("ContentVariables"),
		Status:              twiliosms.StatusQueued,
		DateCreated:         s.now().UTC().Truncate(time.Second),
		Direction:           twiliosms.DirectionOutboundAPI,
		Form:                form,
	}
	if msg.MessagingServiceSID != "" {
		// Twilio picks the sender later, so the segment count is unknown.
		msg.Status = twiliosms.StatusAccepted
	} else {
		msg.NumSegments = max(1, twiliosms.CountSegments(msg.Body).Segments)
	}
	s.mu.Lock()
	s.messages = append(s.messages, msg)
	s.mu.Unlock()
	return msg
}

// wire is msg as Twilio's JSON shows it.
func (s *Server) wire(msg SentMessage) messageJSON {
	base := "/2010-04-01/Accounts/" + s.AccountSID + "/Messages/" + msg.SID
	date := msg.DateCreated.Format(time.RFC1123Z)
	var sent *string
	if !msg.DateSent.IsZero() {
		sent = optional(msg.DateSent.Format(time.RFC1123Z))
	}
	w := messageJSON{
		AccountSID:          msg.AccountSID,
		APIVersion:          "2010-04-01",
		Body:                msg.Body,
		DateCreated:         date,
		DateSent:            sent,
		DateUpdated:         date,
		Direction:           msg.Direction,
		From:                optional(msg.From),
		MessagingServiceSID: optional(msg.MessagingServiceSID),
		NumMedia:            strconv.Itoa(len(msg.MediaURLs)),
		NumSegments:         strconv.Itoa(msg.NumSegments),
		PriceUnit:           "USD",
		SID:                 msg.SID,
		Status:              msg.Status,
		SubresourceURIs:     map[string]string{"media": base + "/Media.json"},
		To:                  msg.To,
		URI:                 base + ".json",
	}
	if msg.ErrorCode != 0 {
		code := msg.ErrorCode
		w.ErrorCode = &code
		if d := twiliosms.Describe(msg.ErrorCode); d != "" {
			w.ErrorMessage = optional(d)
		}
	}
	return w
}

// randomHex returns 2n random lower-case hex digits.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}
