package intercomtest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/smsrelay/smsrelay/intercom"
)

// Defaults of a new [Server].
const (
	// DefaultToken is the bearer token a server accepts unless [WithToken]
	// says otherwise.
	DefaultToken = "intercomtest-token"
	// DefaultClientSecret is the client secret that signs webhook
	// notifications unless [WithClientSecret] says otherwise.
	DefaultClientSecret = "intercomtest-client-secret"
	// DefaultAppID is the workspace id reported in contacts and webhook
	// notifications unless [WithAppID] says otherwise.
	DefaultAppID = "intercomtest"
	// DefaultBudget and DefaultBudgetWindow are the enforced request budget:
	// Intercom's default as the client assumes it, [intercom.DefaultLimit]
	// (83) requests in any sliding [intercom.DefaultWindow] (10 s).
	DefaultBudget       = intercom.DefaultLimit
	DefaultBudgetWindow = intercom.DefaultWindow
)

// maxRequestBody bounds the request bodies the server reads.
const maxRequestBody = 4 << 20

// appPackageCode marks conversation parts created through the REST API, like
// the real API marks them with the calling app's package code.
const appPackageCode = "intercomtest"

// knownVersion reports whether v is a value of Intercom-Version that the
// 2.16 API description accepts (components.schemas.intercom_version: 1.0 to
// 1.4 and 2.0 to 2.16).
func knownVersion(v string) bool {
	major, minor, ok := strings.Cut(v, ".")
	if !ok || !isDigits(minor) || (len(minor) > 1 && minor[0] == '0') {
		return false
	}
	n, _ := strconv.Atoi(minor)
	switch major {
	case "1":
		return n <= 4
	case "2":
		return n <= 16
	}
	return false
}

// An Option configures a [Server] made by [NewServer].
type Option func(*config) error

type config struct {
	// Contact updates (contact_update.go).
	dataAttributes []DataAttribute

	token        string
	secret       string
	appID        string
	budget       int
	window       time.Duration
	searchLag    time.Duration
	webhooks     *http.Client
	strictAccept bool
	mergedStatus int // what GET /contacts/{id} answers for a merged contact: 410 (0) or 404
}

// WithToken sets the access token the server accepts as
// "Authorization: Bearer <token>". It must not be empty.
func WithToken(token string) Option {
	return func(c *config) error {
		if strings.TrimSpace(token) == "" {
			return fmt.Errorf("intercomtest: WithToken: token is empty")
		}
		c.token = token
		return nil
	}
}

// WithClientSecret sets the app client secret that signs webhook
// notifications (X-Hub-Signature). It must not be empty.
func WithClientSecret(secret string) Option {
	return func(c *config) error {
		if secret == "" {
			return fmt.Errorf("intercomtest: WithClientSecret: secret is empty")
		}
		c.secret = secret
		return nil
	}
}

// WithAppID sets the workspace id reported as workspace_id on contacts and
// as app_id on webhook notifications. It must not be empty.
func WithAppID(id string) Option {
	return func(c *config) error {
		if strings.TrimSpace(id) == "" {
			return fmt.Errorf("intercomtest: WithAppID: id is empty")
		}
		c.appID = id
		return nil
	}
}

// WithBudget sets the enforced request budget: at most n authenticated
// requests in any sliding window of the given length; more are answered with
// 429 rate_limit_exceeded. n == 0 disables the budget (and the X-RateLimit-*
// headers). The default is [DefaultBudget] per [DefaultBudgetWindow].
func WithBudget(n int, window time.Duration) Option {
	return func(c *config) error {
		if n < 0 {
			return fmt.Errorf("intercomtest: WithBudget: n is negative (%d)", n)
		}
		if n > 0 && window <= 0 {
			return fmt.Errorf("intercomtest: WithBudget: window must be positive, got %v", window)
		}
		c.budget, c.window = n, window
		return nil
	}
}

// WithSearchLag makes contacts and conversations invisible to POST
// /contacts/search and POST /conversations/search for the given time after
// their creation, like the real search index that lags behind by minutes.
// Creating such a contact again still answers 409, and GET
// /conversations/{id} finds such a conversation. The default is 0 (no lag).
func WithSearchLag(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return fmt.Errorf("intercomtest: WithSearchLag: negative duration %v", d)
		}
		c.searchLag = d
		return nil
	}
}

// WithWebhookClient sets the HTTP client the agent helpers use to deliver
// webhook notifications. The default has Intercom's 5 s timeout.
func WithWebhookClient(hc *http.Client) Option {
	return func(c *config) error {
		if hc == nil {
			return fmt.Errorf("intercomtest: WithWebhookClient: client is nil")
		}
		c.webhooks = hc
		return nil
	}
}

// WithMergedContactStatus sets what GET /contacts/{id} answers for a
// contact merged into another ([Server.MergeContact]): 410 (the default),
// Gone with code contact_merged and Link: </contacts/{canonical}>;
// rel="canonical", as the 2.16 description of ShowContact says, or 404
// not_found without a link, as the admonition of MergeContact says
// ("Requesting the source contact by its original ID will return a 404").
// Any other status is an error.
func WithMergedContactStatus(status int) Option {
	return func(c *config) error {
		if status != http.StatusGone && status != http.StatusNotFound {
			return fmt.Errorf("intercomtest: WithMergedContactStatus: status must be 410 or 404, got %d", status)
		}
		c.mergedStatus = status
		return nil
	}
}

// WithStrictAccept makes the server answer 406 to requests without an Accept
// header. Requests whose Accept header excludes application/json always get
// 406.
func WithStrictAccept() Option {
	return func(c *config) error {
		c.strictAccept = true
		return nil
	}
}

// Server is a fake Intercom REST API on an httptest server, with in-memory
// contacts and conversations, an enforced request budget, fault injection, a
// record of every request, and helpers that play the agent by posting signed
// webhook notifications. All methods are safe for concurrent use.
type Server struct {
	// URL is the base URL of the API, e.g. http://127.0.0.1:12345; use it as
	// the client's base URL.
	URL string
	// Token is the bearer token the server accepts.
	Token string
	// ClientSecret signs the webhook notifications the helpers post.
	ClientSecret string
	// AppID is the workspace id.
	AppID string

	cfg       config
	ts        *httptest.Server
	hook      *http.Client
	closing   chan struct{} // closed by Close, to end held requests
	closeOnce sync.Once

	mu            sync.Mutex
	contacts      map[string]*Contact
	contactOrder  []string
	conversations map[string]*Conversation
	convOrder     []string
	indexed       map[string]time.Time // when each conversation was stored, for the search lag
	deleted       map[string]bool
	tags          map[string]*Tag
	admissions    []time.Time
	rateLimited   int
	faults        []*faultRule
	requests      []RecordedRequest
	notifications map[string]*notification
	deliveries    []Delivery
	seq           struct{ contact, conv, part, msg, tag int64 }

	notesMu      sync.Mutex // guards contactNotes and noteSeq
	contactNotes map[string][]ContactNote
	noteSeq      int64

	// Contact updates (contact_update.go), made on first use, under mu.
	attrDefs     map[string]DataAttribute
	contactAttrs map[string]map[string]any // contact id → custom attributes
	contactTags  map[string][]Tag          // contact id → tags applied
}

// NewServer starts a fake Intercom API on 127.0.0.1. Close it when done. It
// panics when an option is invalid, like httptest.NewServer panics when it
// cannot listen: both are mistakes in the test, not conditions to handle.
func NewServer(opts ...Option) *Server {
	cfg := config{
		token:  DefaultToken,
		secret: DefaultClientSecret,
		appID:  DefaultAppID,
		budget: DefaultBudget,
		window: DefaultBudgetWindow,
	}
	for i, o := range opts {
		if o == nil {
			panic(fmt.Sprintf("intercomtest: NewServer: option %d is nil", i))
		}
		if err := o(&cfg); err != nil {
			panic(err.Error())
		}
	}
	hook := cfg.webhooks
	if hook == nil {
		// A transport of its own: httptest.Server.Close closes the idle
		// connections of http.DefaultTransport, which would cut a
		// delivery of this server short when another test ends.
		hook = &http.Client{Timeout: 5 * time.Second, Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	s := &Server{
		Token:         cfg.token,
		ClientSecret:  cfg.secret,
		AppID:         cfg.appID,
		cfg:           cfg,
		hook:          hook,
		contacts:      make(map[string]*Contact),
		conversations: make(map[string]*Conversation),
		indexed:       make(map[string]time.Time),
		deleted:       make(map[string]bool),
		tags:          make(map[string]*Tag),
		notifications: make(map[string]*notification),
		closing:       make(chan struct{}),
	}
	// Ids start at a random point, so that they do not repeat across
	// servers, in one test run or across runs: a persistent store
	// remembers ids of earlier runs (a conversation part it relayed).
	s.seq.contact = mrand.Int64N(1 << 40)
	s.seq.conv = mrand.Int64N(1 << 40)
	s.seq.part = mrand.Int64N(1 << 40)
	s.seq.msg = mrand.Int64N(1 << 40)
	s.ts = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.ts.URL
	return s
}

// Close shuts the server down and blocks until all outstanding requests on
// it have completed. Requests held back by a [Fault]'s Latency or Hang end
// at once, without an answer.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.closing) })
	s.ts.Close()
	if s.cfg.webhooks == nil {
		s.hook.CloseIdleConnections() // the server's own client
	}
}

// Client returns an HTTP client configured for requests to the server.
func (s *Server) Client() *http.Client { return s.ts.Client() }

// RecordedRequest is one request the server received, as it arrived.
type RecordedRequest struct {
	Method string
	Path   string
	Query  url.Values
	Header http.Header
	Body   []byte
	// Status is the status the server answered; 0 when the connection was
	// dropped or the answer is still being written.
	Status int
	Time   time.Time
}

// Requests returns a copy of every request the server received, in arrival
// order, including rejected ones.
func (s *Server) Requests() []RecordedRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]RecordedRequest, len(s.requests))
	for i, r := range s.requests {
		r.Query = cloneValues(r.Query)
		r.Header = r.Header.Clone()
		r.Body = bytes.Clone(r.Body)
		out[i] = r
	}
	return out
}

// ResetRequests forgets the recorded requests.
func (s *Server) ResetRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = nil
}

// RateLimited reports how many requests the budget answered with 429.
// Injected 429 faults are not counted.
func (s *Server) RateLimited() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rateLimited
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}

// statusWriter remembers the status written through it.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// serve is the outermost handler: record, authenticate, negotiate, budget,
// faults, route.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody+1))
	idx := s.record(r, body)
	sw := &statusWriter{ResponseWriter: w}
	defer func() { s.setStatus(idx, sw.status) }()
	reqID := newUUID()
	w.Header().Set("X-Request-Id", reqID)

	if !s.authorized(r) {
		writeError(sw, http.StatusUnauthorized, reqID, "unauthorized", "Access Token Invalid")
		return
	}
	if !s.admit(sw.Header()) {
		writeError(sw, http.StatusTooManyRequests, reqID, "rate_limit_exceeded",
			fmt.Sprintf("Exceeded rate limit of %d in %s", s.cfg.budget, windowName(s.cfg.window)))
		return
	}
	if !s.acceptable(r.Header.Values("Accept")) {
		writeError(sw, http.StatusNotAcceptable, reqID, "not_acceptable",
			"Accept must include application/json")
		return
	}
	if v := r.Header.Get("Intercom-Version"); v != "" && !knownVersion(v) {
		writeError(sw, http.StatusBadRequest, reqID, "intercom_version_invalid",
			fmt.Sprintf("Intercom-Version %q is not a valid version", v))
		return
	}
	if err != nil || len(body) > maxRequestBody {
		writeError(sw, http.StatusRequestEntityTooLarge, reqID, "parameter_invalid", "request body too large or unreadable")
		return
	}

	f := s.matchFault(r.Method, r.URL.Path)
	if f == nil {
		s.route(sw, r, body, reqID)
		return
	}
	var committed *httptest.ResponseRecorder
	if f.Commit {
		// The request takes effect now; only the answer is shaped below.
		committed = httptest.NewRecorder()
		s.route(committed, r, body, reqID)
	}
	if !s.delay(r, f) {
		// The client left, or the server is closing: no answer at all
		// (returning would send an empty 200).
		dropConnection(w)
		return
	}
	switch {
	case f.Status == 0 && !f.Drop && committed != nil:
		// A late real answer.
		for k, vs := range committed.Header() {
			sw.Header()[k] = vs
		}
		sw.WriteHeader(committed.Code)
		_, _ = sw.Write(committed.Body.Bytes())
		return
	case f.Status == 0 && !f.Drop:
		s.route(sw, r, body, reqID)
		return
	case f.Drop:
		dropConnection(w)
		return
	}
	for k, vs := range f.Header {
		for _, v := range vs {
			sw.Header().Add(k, v)
		}
	}
	if f.Body != "" {
		sw.Header().Set("Content-Type", "application/json")
		sw.WriteHeader(f.Status)
		_, _ = io.WriteString(sw, f.Body)
		return
	}
	code, msg := defaultError(f.Status, s.cfg)
	writeError(sw, f.Status, reqID, code, msg)
}

// delay waits as f says before the answer: Latency, or for ever with Hang.
// It reports false when the wait ended because the client went away or the
// server is closing.
func (s *Server) delay(r *http.Request, f *Fault) bool {
	var timeout <-chan time.Time
	switch {
	case f.Hang:
	case f.Latency > 0:
		t := time.NewTimer(f.Latency)
		defer t.Stop()
		timeout = t.C
	default:
		return true
	}
	select {
	case <-timeout:
		return true
	case <-r.Context().Done():
		return false
	case <-s.closing:
		return false
	}
}

// dropConnection closes the client's connection without an answer.
func dropConnection(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		// Not hijackable (HTTP/2): abort the handler, which resets the stream.
		panic(http.ErrAbortHandler)
	}
	_ = conn.Close()
}

func (s *Server) record(r *http.Request, body []byte) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, RecordedRequest{
		Method: r.Method,
		Path:   r.URL.Path,
		Query:  cloneValues(r.URL.Query()),
		Header: r.Header.Clone(),
		Body:   bytes.Clone(body),
		Time:   time.Now(),
	})
	return len(s.requests) - 1
}

func (s *Server) setStatus(idx, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// ResetRequests may have dropped the record meanwhile.
	if idx < len(s.requests) {
		s.requests[idx].Status = status
	}
}

func (s *Server) authorized(r *http.Request) bool {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	return ok && strings.EqualFold(scheme, "Bearer") && tok == s.cfg.token
}

// acceptable reports whether the Accept header values admit JSON.
func (s *Server) acceptable(values []string) bool {
	if len(values) == 0 {
		return !s.cfg.strictAccept
	}
	for _, v := range values {
		for _, mt := range strings.Split(v, ",") {
			mt, _, _ = strings.Cut(mt, ";")
			switch strings.ToLower(strings.TrimSpace(mt)) {
			case "application/json", "application/*", "*/*":
				return true
			}
		}
	}
	return false
}

// admit applies the sliding-window budget to one authenticated request and
// sets the X-RateLimit-* headers. It reports whether the request may go on.
func (s *Server) admit(h http.Header) bool {
	if s.cfg.budget == 0 {
		return true
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	cut := 0
	for cut < len(s.admissions) && !s.admissions[cut].After(now.Add(-s.cfg.window)) {
		cut++
	}
	s.admissions = s.admissions[cut:]
	ok := len(s.admissions) < s.cfg.budget
	if ok {
		s.admissions = append(s.admissions, now)
	} else {
		s.rateLimited++
	}
	reset := s.admissions[0].Add(s.cfg.window)
	h.Set(intercom.RateLimitLimitHeader, strconv.Itoa(s.cfg.budget))
	h.Set(intercom.RateLimitRemainingHeader, strconv.Itoa(s.cfg.budget-len(s.admissions)))
	// Date, on the same clock as the reset, lets a client measure the
	// reset against the server's clock rather than its own (net/http would
	// set it a moment later).
	h.Set("Date", now.UTC().Format(http.TimeFormat))
	// A UNIX timestamp in whole seconds, rounded up so that a client waiting
	// until Reset never comes back early.
	h.Set(intercom.RateLimitResetHeader, strconv.FormatInt(int64(math.Ceil(float64(reset.UnixNano())/1e9)), 10))
	return ok
}

// windowName renders a window like Intercom's "10_seconds".
func windowName(d time.Duration) string {
	if d%time.Second == 0 {
		return fmt.Sprintf("%d_seconds", d/time.Second)
	}
	return fmt.Sprintf("%d_milliseconds", d/time.Millisecond)
}

// route dispatches an admitted request to the endpoint handlers.
func (s *Server) route(w http.ResponseWriter, r *http.Request, body []byte, reqID string) {
	c := &call{s: s, w: w, r: r, body: body, reqID: reqID}
	p := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case r.Method == http.MethodPost && len(p) == 2 && p[0] == "contacts" && p[1] == "search":
		s.searchContacts(c)
	case r.Method == http.MethodPost && len(p) == 2 && p[0] == "contacts" && p[1] == "merge":
		s.mergeContacts(c)
	case r.Method == http.MethodPost && len(p) == 1 && p[0] == "contacts":
		s.createContact(c)
	case r.Method == http.MethodGet && len(p) == 2 && p[0] == "contacts":
		s.showContact(c, p[1])
	case r.Method == http.MethodPost && len(p) == 3 && p[0] == "contacts" && p[2] == "notes":
		s.createContactNote(c, p[1])
	case r.Method == http.MethodGet && len(p) == 3 && p[0] == "contacts" && p[2] == "notes":
		s.listContactNotes(c, p[1])
	// Contact updates (contact_update.go).
	case r.Method == http.MethodPut && len(p) == 2 && p[0] == "contacts":
		s.updateContact(c, p[1])
	case r.Method == http.MethodPost && len(p) == 3 && p[0] == "contacts" && p[2] == "tags":
		s.tagContact(c, p[1])
	case r.Method == http.MethodDelete && len(p) == 4 && p[0] == "contacts" && p[2] == "tags":
		s.untagContact(c, p[1], p[3])
	case r.Method == http.MethodPost && len(p) == 1 && p[0] == "tags":
		s.createTag(c)
	case r.Method == http.MethodPost && len(p) == 1 && p[0] == "conversations":
		s.createConversation(c)
	case r.Method == http.MethodPost && len(p) == 2 && p[0] == "conversations" && p[1] == "search":
		s.searchConversations(c)
	case r.Method == http.MethodGet && len(p) == 2 && p[0] == "conversations":
		s.retrieveConversation(c, p[1])
	case r.Method == http.MethodPost && len(p) == 3 && p[0] == "conversations" && p[2] == "reply":
		s.replyConversation(c, p[1])
	case r.Method == http.MethodPost && len(p) == 3 && p[0] == "conversations" && p[2] == "parts":
		s.manageConversation(c, p[1])
	case r.Method == http.MethodPost && len(p) == 3 && p[0] == "conversations" && p[2] == "tags":
		s.tagConversation(c, p[1])
	default:
		c.fail(http.StatusNotFound, "not_found",
			fmt.Sprintf("intercomtest does not implement %s %s", r.Method, r.URL.Path))
	}
	// Answers are written here, after the handlers released the lock.
	if c.status == 0 {
		c.fail(http.StatusInternalServerError, "server_error", "intercomtest: the handler gave no answer")
	}
	writeJSON(w, c.status, c.v)
}

// call is one admitted request being answered. Handlers set the answer with
// ok or fail; route writes it once the handler has returned, so that no
// handler writes to the network while holding the server's lock.
type call struct {
	s      *Server
	w      http.ResponseWriter
	r      *http.Request
	body   []byte
	reqID  string
	status int
	v      any
}

func (c *call) fail(status int, code, msg string) {
	c.status = status
	c.v = wireError{Type: "error.list", RequestID: c.reqID, Errors: []wireErrorItem{{Code: code, Message: msg}}}
}

func (c *call) ok(v any) {
	c.status, c.v = http.StatusOK, v
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
