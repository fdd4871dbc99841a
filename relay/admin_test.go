package relay_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smsrelay/smsrelay/intercom/intercomtest"
	"github.com/smsrelay/smsrelay/relay"
)

const adminToken = "operator-token-0123456789"

// adminHarness is a harness whose relay mounts its operator API under
// /admin/, with a text dead-lettered for good.
func adminHarness(t *testing.T) (*harness, *httptest.Server) {
	return adminHarnessLogging(t, nil)
}

func adminHarnessLogging(t *testing.T, logs io.Writer) (*harness, *httptest.Server) {
	t.Helper()
	h := newHarness(t, nil, func(c *relay.Config, _ *intercomtest.Server) {
		c.MaxAttempts = 2
		c.AdminToken = adminToken
		if logs != nil {
			c.Logger = slog.New(slog.NewTextHandler(logs, nil))
		}
	})
	mux := http.NewServeMux()
	mux.Handle("/admin/", http.StripPrefix("/admin", h.r.AdminHandler()))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	if err := h.ic.Fail("POST", "/contacts/search", intercomtest.Fault{Status: 500}); err != nil {
		t.Fatal(err)
	}
	h.text(customer, "Hello, my number is +1 415 555 0199 and my card is due")
	h.drain()
	return h, srv
}

func adminDo(t *testing.T, srv *httptest.Server, method, path, token, contentType, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

func TestAdminAPIRefusesWithoutTheToken(t *testing.T) {
	t.Parallel()
	_, srv := adminHarness(t)
	for _, tok := range []string{"", "wrong-token-0123456789", adminToken + "x"} {
		for _, p := range []struct{ method, path string }{
			{"GET", "/admin/api/queue"}, {"GET", "/admin/api/dead-letters"}, {"GET", "/admin/api/budget"},
			{"GET", "/admin/api/send-failures"}, {"POST", "/admin/api/dead-letters/1/replay"},
			{"POST", "/admin/api/kinds/" + relay.KindInbound + "/replay"},
		} {
			if status, _ := adminDo(t, srv, p.method, p.path, tok, "", ""); status != http.StatusUnauthorized {
				t.Errorf("%s %s with token %q answered %d, want 401", p.method, p.path, tok, status)
			}
		}
	}
	// The page without a session shows only the sign-in form.
	status, body := adminDo(t, srv, "GET", "/admin/", "", "", "")
	if status != http.StatusOK || !strings.Contains(string(body), `name="token"`) || strings.Contains(string(body), "dead-letters") {
		t.Errorf("page without a session: %d %s", status, body)
	}
}

func TestAdminAPIIsNotFoundWithoutAToken(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, nil)
	srv := httptest.NewServer(h.r.AdminHandler())
	t.Cleanup(srv.Close)
	if status, _ := adminDo(t, srv, "GET", "/api/queue", "anything-at-all-here", "", ""); status != http.StatusNotFound {
		t.Errorf("admin API without Config.AdminToken answered %d, want 404", status)
	}
}

func TestAdminTokenIsValidated(t *testing.T) {
	t.Parallel()
	_, err := relay.New(relay.Config{AdminToken: "short"})
	if err == nil || !strings.Contains(err.Error(), "AdminToken must be at least 16 characters") {
		t.Errorf("New with a short AdminToken: err = %v", err)
	}
}

func TestAdminListsMaskedDeadLettersAndReplaysOne(t *testing.T) {
	t.Parallel()
	h, srv := adminHarness(t)
	status, body := adminDo(t, srv, "GET", "/admin/api/dead-letters", adminToken, "", "")
	if status != http.StatusOK {
		t.Fatalf("listing: %d %s", status, body)
	}
	var list struct {
		DeadLetters []relay.DeadLetter `json:"dead_letters"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		t.Fatal(err)
	}
	if len(list.DeadLetters) != 1 {
		t.Fatalf("dead letters = %s, want one", body)
	}
	dl := list.DeadLetters[0]
	if dl.Kind != relay.KindInbound || dl.Attempts != 2 || dl.Reason == "" || dl.Age < 0 {
		t.Errorf("dead letter = %+v", dl)
	}
	// No phone number or whole body leaves the API.
	for _, secret := range []string{customer, strings.TrimPrefix(customer, "+"), "0199", "4155550199", "card is due"} {
		if bytes.Contains(body, []byte(secret)) {
			t.Errorf("listing shows %q: %s", secret, body)
		}
	}
	p, _ := dl.Payload.(map[string]any)
	if b, _ := p["body"].(string); !strings.HasPrefix(b, "Hello, my number is") || !strings.Contains(b, "characters)") {
		t.Errorf("payload body = %q, want its start and its length", b)
	}
	if from, _ := p["from"].(string); from == "" || from == customer {
		t.Errorf("payload from = %q, want it masked", from)
	}

	// Replaying an unknown one says so.
	if status, _ := adminDo(t, srv, "POST", "/admin/api/dead-letters/no-such-job/replay", adminToken, "", ""); status != http.StatusNotFound {
		t.Errorf("replaying an unknown job answered %d, want 404", status)
	}
	h.ic.ClearFaults()
	if status, body := adminDo(t, srv, "POST", "/admin/api/dead-letters/"+url.PathEscape(dl.ID)+"/replay", adminToken, "", ""); status != http.StatusOK {
		t.Fatalf("replay: %d %s", status, body)
	}
	h.drain()
	if c := h.onlyConversation(); !strings.Contains(c.Source.Body, "Hello") {
		t.Errorf("replayed text produced %q", c.Source.Body)
	}
	var q relay.QueueFigures
	_, body = adminDo(t, srv, "GET", "/admin/api/queue", adminToken, "", "")
	if err := json.Unmarshal(body, &q); err != nil || q.Dead != 0 || q.Ready != 0 {
		t.Errorf("queue after replay = %s (%v)", body, err)
	}
}

func TestAdminDiscardNeedsAReasonAndLogsIt(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	h, srv := adminHarnessLogging(t, &logs)
	dl, err := h.r.DeadLetters(context.Background(), 10)
	if err != nil || len(dl) != 1 {
		t.Fatalf("dead letters = %v, %v", dl, err)
	}
	path := "/admin/api/dead-letters/" + url.PathEscape(dl[0].ID) + "/discard"
	if status, _ := adminDo(t, srv, "POST", path, adminToken, "application/json", `{"reason": "  "}`); status != http.StatusBadRequest {
		t.Errorf("discard without a reason answered %d, want 400", status)
	}
	if status, _ := adminDo(t, srv, "POST", path, adminToken, "text/plain", `spam`); status != http.StatusUnsupportedMediaType {
		t.Errorf("discard as text/plain answered %d, want 415", status)
	}
	if status, body := adminDo(t, srv, "POST", path, adminToken, "application/json", `{"reason": "test text from QA"}`); status != http.StatusOK {
		t.Fatalf("discard: %d %s", status, body)
	}
	if status, _ := adminDo(t, srv, "POST", path, adminToken, "application/json", `{"reason": "again"}`); status != http.StatusNotFound {
		t.Errorf("discarding twice answered %d, want 404", status)
	}
	if dl, _ := h.r.DeadLetters(context.Background(), 10); len(dl) != 0 {
		t.Errorf("dead letters after discard = %v", dl)
	}
	if l := logs.String(); !strings.Contains(l, "dead letter discarded") || !strings.Contains(l, "test text from QA") || !strings.Contains(l, dl[0].ID) {
		t.Errorf("the discard and its reason are not in the log:\n%s", l)
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func TestAdminReplaysEveryDeadLetterOfAKind(t *testing.T) {
	t.Parallel()
	h, srv := adminHarness(t)
	h.text("+14155550177", "Second")
	h.drain()
	_, body := adminDo(t, srv, "GET", "/admin/api/queue", adminToken, "", "")
	var q relay.QueueFigures
	if err := json.Unmarshal(body, &q); err != nil || q.Dead != 2 || q.DeadByKind[relay.KindInbound] != 2 || q.OldestDeadAge <= 0 {
		t.Fatalf("queue = %s (%v), want two dead inbound texts", body, err)
	}
	if len(q.Kinds) != 1 || q.Kinds[0].Kind != relay.KindInbound || q.Kinds[0].Dead != 2 || q.Kinds[0].Ready != 0 {
		t.Errorf("queue kinds = %+v, want two dead inbound texts", q.Kinds)
	}
	if status, _ := adminDo(t, srv, "POST", "/admin/api/kinds/nonsense/replay", adminToken, "", ""); status != http.StatusNotFound {
		t.Errorf("replaying an unknown kind answered %d, want 404", status)
	}
	h.ic.ClearFaults()
	status, body := adminDo(t, srv, "POST", "/admin/api/kinds/"+relay.KindInbound+"/replay", adminToken, "", "")
	if status != http.StatusOK || !strings.Contains(string(body), "replayed 2") {
		t.Fatalf("replay kind: %d %s", status, body)
	}
	h.drain()
	if n := len(h.ic.Conversations()); n != 2 {
		t.Errorf("%d conversations after replaying both texts, want 2", n)
	}
}

func TestAdminBudgetAndSendFailures(t *testing.T) {
	t.Parallel()
	h, srv := adminHarness(t)
	h.ic.ClearFaults()
	h.text("+14155550177", "Hi")
	h.drain()
	c := h.onlyConversation()
	h.tw.FailNext(21610, 400)
	h.reply(c.ID, "Thanks")
	h.drain()
	var before relay.BudgetFigures
	_, body := adminDo(t, srv, "GET", "/admin/api/budget", adminToken, "", "")
	if err := json.Unmarshal(body, &before); err != nil || before.Admitted < 3 || len(before.Holds) != 0 {
		t.Errorf("budget after a conversation = %s (%v), want its calls admitted and no holds", body, err)
	}

	// A 429 that outlasts the client's own retries reaches the relay:
	// one run of the job, which then waits as Intercom asks.
	if err := h.ic.Fail("POST", "/contacts/search", intercomtest.Fault{Status: 429, Header: http.Header{"Retry-After": {"30"}}}); err != nil {
		t.Fatal(err)
	}
	h.text("+14155550188", "Hi")
	if ran, err := h.r.RunOnce(context.Background()); !ran || err != nil {
		t.Fatalf("RunOnce = %v, %v", ran, err)
	}

	_, body = adminDo(t, srv, "GET", "/admin/api/budget", adminToken, "", "")
	var b relay.BudgetFigures
	if err := json.Unmarshal(body, &b); err != nil {
		t.Fatal(err)
	}
	// The client waits out the first 429 itself (about 11 s against the
	// fake), so the window may be empty again by now.
	if b.Limit != 83 || b.Window != 10 || len(b.Holds) != 1 ||
		b.Holds[0].Endpoint != "contacts.search" || b.Holds[0].RetryAfter <= 0 || b.HeldUntil == nil {
		t.Errorf("budget = %s", body)
	}
	_, body = adminDo(t, srv, "GET", "/admin/api/send-failures", adminToken, "", "")
	var f struct {
		ByCode []relay.SendFailures `json:"by_code"`
	}
	if err := json.Unmarshal(body, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.ByCode) != 1 || f.ByCode[0].Code != 21610 || f.ByCode[0].Refused != 1 || f.ByCode[0].Meaning == "" {
		t.Errorf("send failures = %s", body)
	}
}

func TestAdminRefusesCrossOriginPosts(t *testing.T) {
	t.Parallel()
	_, srv := adminHarness(t)
	req, _ := http.NewRequest("POST", srv.URL+"/admin/api/kinds/"+relay.KindInbound+"/replay", nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site POST answered %d, want 403", res.StatusCode)
	}
}

func TestAdminQueueShowsTheOldestReadyJobPerKind(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, func(c *relay.Config, _ *intercomtest.Server) {
		c.AdminToken = adminToken
		c.RetryBase, c.RetryMax = time.Hour, time.Hour
	})
	srv := httptest.NewServer(http.StripPrefix("/admin", h.r.AdminHandler()))
	t.Cleanup(srv.Close)
	if err := h.ic.Fail("POST", "/contacts/search", intercomtest.Fault{Status: 500}); err != nil {
		t.Fatal(err)
	}
	h.text(customer, "Hello")
	if ran, err := h.r.RunOnce(context.Background()); !ran || err != nil {
		t.Fatalf("RunOnce = %v, %v", ran, err)
	}
	time.Sleep(20 * time.Millisecond)
	_, body := adminDo(t, srv, "GET", "/admin/api/queue", adminToken, "", "")
	var q relay.QueueFigures
	if err := json.Unmarshal(body, &q); err != nil {
		t.Fatal(err)
	}
	if q.Ready != 1 || len(q.Kinds) != 1 || q.Kinds[0].Ready != 1 || q.Kinds[0].OldestReadyAge < 0.02 {
		t.Errorf("queue = %s, want one inbound text waiting for its retry, at least 20ms old", body)
	}
}
