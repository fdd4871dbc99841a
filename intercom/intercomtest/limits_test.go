package intercomtest

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestBudget(t *testing.T) {
	const n = 5
	window := 400 * time.Millisecond
	s := NewServer(WithBudget(n, window))
	defer s.Close()
	start := time.Now()
	for i := range n {
		r := do(t, s, http.MethodGet, "/contacts/x", nil)
		mustStatus(t, r, 404) // admitted
		if got := r.header.Get("X-RateLimit-Remaining"); got != strconv.Itoa(n-1-i) {
			t.Errorf("request %d: X-RateLimit-Remaining = %q, want %d", i+1, got, n-1-i)
		}
	}
	r := do(t, s, http.MethodGet, "/contacts/x", nil)
	if time.Since(start) >= window {
		t.Skip("the machine is too slow to fit the requests in one window")
	}
	mustStatus(t, r, http.StatusTooManyRequests)
	want := `{"type":"error.list","request_id":"` + r.str("request_id") +
		`","errors":[{"code":"rate_limit_exceeded","message":"Exceeded rate limit of 5 in 400_milliseconds"}]}`
	if string(r.body) != want {
		t.Errorf("429 body = %s\nwant %s", r.body, want)
	}
	if r.header.Get("X-RateLimit-Limit") != "5" || r.header.Get("X-RateLimit-Remaining") != "0" {
		t.Errorf("429 headers: limit %q remaining %q", r.header.Get("X-RateLimit-Limit"), r.header.Get("X-RateLimit-Remaining"))
	}
	reset, err := strconv.ParseInt(r.header.Get("X-RateLimit-Reset"), 10, 64)
	if err != nil || reset < start.Unix() || reset > time.Now().Add(window).Unix()+1 {
		t.Errorf("X-RateLimit-Reset = %q (now %d)", r.header.Get("X-RateLimit-Reset"), time.Now().Unix())
	}
	// Date is on the reset's clock: the reset lies within a window of it,
	// give or take the second each rounds off (Date down, the reset up).
	if date, err := http.ParseTime(r.header.Get("Date")); err != nil {
		t.Errorf("Date %q: %v", r.header.Get("Date"), err)
	} else if d := time.Unix(reset, 0).Sub(date); d <= 0 || d > window+2*time.Second {
		t.Errorf("X-RateLimit-Reset is %v after Date, want within (0, %v]", d, window+2*time.Second)
	}
	if s.RateLimited() != 1 {
		t.Errorf("RateLimited = %d, want 1", s.RateLimited())
	}
	// A rejected request does not use the budget; once the window slid
	// past the first admissions, requests pass again.
	time.Sleep(time.Until(start.Add(window + 50*time.Millisecond)))
	mustStatus(t, do(t, s, http.MethodGet, "/contacts/x", nil), 404)
	// Unauthenticated requests neither count nor get 429.
	for range n + 1 {
		mustStatus(t, do(t, s, http.MethodGet, "/contacts/x", nil, "Authorization:"), 401)
	}
}

func TestDefaultBudgetMessage(t *testing.T) {
	s := NewServer(WithBudget(1, 10*time.Second))
	defer s.Close()
	do(t, s, http.MethodGet, "/contacts/x", nil)
	r := do(t, s, http.MethodGet, "/contacts/x", nil)
	mustStatus(t, r, 429)
	if r.errMessage() != "Exceeded rate limit of 1 in 10_seconds" {
		t.Errorf("message = %q", r.errMessage())
	}
	def := NewServer()
	defer def.Close()
	if def.cfg.budget != 83 || def.cfg.window != 10*time.Second {
		t.Error("default budget is not 83 per 10 s")
	}
}

func TestBudgetDisabled(t *testing.T) {
	s := newTestServer(t)
	for range 200 {
		r := do(t, s, http.MethodGet, "/contacts/x", nil)
		mustStatus(t, r, 404)
		if r.header.Get("X-RateLimit-Limit") != "" {
			t.Fatal("a disabled budget still sends X-RateLimit-Limit")
		}
	}
}

func TestOptionsValidation(t *testing.T) {
	for name, opt := range map[string]Option{
		"empty token":     WithToken(""),
		"empty secret":    WithClientSecret(""),
		"empty app id":    WithAppID(" "),
		"negative budget": WithBudget(-1, time.Second),
		"zero window":     WithBudget(3, 0),
		"negative lag":    WithSearchLag(-time.Second),
		"nil client":      WithWebhookClient(nil),
		"nil option":      nil,
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				r := recover()
				if r == nil || !strings.HasPrefix(r.(string), "intercomtest: ") {
					t.Errorf("panic = %v, want an intercomtest message", r)
				}
			}()
			s := NewServer(opt)
			s.Close()
		})
	}
}

func TestFaults(t *testing.T) {
	s := newTestServer(t)
	ct, _ := s.AddContact(Contact{Phone: "+15550000001"})
	conv, _ := s.StartConversation(ct.ID, "hi")
	reply := func() result {
		return do(t, s, http.MethodPost, "/conversations/"+conv.ID+"/reply",
			map[string]any{"message_type": "comment", "type": "user", "intercom_user_id": ct.ID, "body": "x"})
	}

	t.Run("status twice then normal", func(t *testing.T) {
		if err := s.Fail("POST", "/conversations/*/reply", Fault{Status: 503, Times: 2}); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			r := reply()
			mustStatus(t, r, 503)
			if r.str("type") != "error.list" || r.errCode() != "service_unavailable" {
				t.Errorf("fault body = %s", r.body)
			}
		}
		mustStatus(t, reply(), 200)
	})
	t.Run("custom body and header, other method untouched", func(t *testing.T) {
		defer s.ClearFaults()
		body := `{"type":"error.list","errors":[{"code":"rate_limit_exceeded","message":"slow down"}]}`
		if err := s.Fail("get", "/conversations/*", Fault{Status: 429, Body: body, Header: http.Header{"Retry-After": {"1"}}}); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			r := do(t, s, http.MethodGet, "/conversations/"+conv.ID, nil)
			mustStatus(t, r, 429)
			if string(r.body) != body || r.header.Get("Retry-After") != "1" {
				t.Errorf("got %s, Retry-After %q", r.body, r.header.Get("Retry-After"))
			}
		}
		mustStatus(t, reply(), 200)
		if s.RateLimited() != 0 {
			t.Errorf("injected 429s counted by RateLimited: %d", s.RateLimited())
		}
	})
	t.Run("latency", func(t *testing.T) {
		defer s.ClearFaults()
		if err := s.Fail("", "/conversations/*", Fault{Latency: 150 * time.Millisecond, Times: 1}); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		mustStatus(t, do(t, s, http.MethodGet, "/conversations/"+conv.ID, nil), 200)
		if d := time.Since(start); d < 150*time.Millisecond {
			t.Errorf("answer after %v, want >= 150ms", d)
		}
	})
	t.Run("latency honours the client's cancel", func(t *testing.T) {
		defer s.ClearFaults()
		if err := s.Fail("", "/conversations/*", Fault{Latency: 5 * time.Second}); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/conversations/"+conv.ID, nil)
		req.Header.Set("Authorization", "Bearer "+s.Token)
		start := time.Now()
		_, err := http.DefaultClient.Do(req)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want deadline exceeded", err)
		}
		if time.Since(start) > 2*time.Second {
			t.Error("cancel did not end the request promptly")
		}
	})
	t.Run("drop", func(t *testing.T) {
		defer s.ClearFaults()
		if err := s.Fail("POST", "/conversations/*/reply", Fault{Drop: true, Times: 1}); err != nil {
			t.Fatal(err)
		}
		before := len(mustConv(t, s, conv.ID).Parts)
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/conversations/"+conv.ID+"/reply",
			strings.NewReader(`{"message_type":"comment","type":"user","intercom_user_id":"`+ct.ID+`","body":"x"}`))
		req.Header.Set("Authorization", "Bearer "+s.Token)
		resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
		if err == nil {
			resp.Body.Close()
			t.Fatalf("dropped request got an answer: %d", resp.StatusCode)
		}
		if after := len(mustConv(t, s, conv.ID).Parts); after != before {
			t.Errorf("a dropped request without Commit changed the conversation: %d -> %d parts", before, after)
		}
		reqs := s.Requests()
		if last := reqs[len(reqs)-1]; last.Status != 0 || last.Path != "/conversations/"+conv.ID+"/reply" {
			t.Errorf("recorded %+v, want status 0", last)
		}
	})
	t.Run("commit then drop", func(t *testing.T) {
		defer s.ClearFaults()
		if err := s.Fail("POST", "/conversations", Fault{Drop: true, Commit: true, Times: 1}); err != nil {
			t.Fatal(err)
		}
		before := len(s.Conversations())
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/conversations",
			strings.NewReader(`{"from":{"type":"lead","id":"`+ct.ID+`"},"body":"lost answer"}`))
		req.Header.Set("Authorization", "Bearer "+s.Token)
		resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
		if err == nil {
			resp.Body.Close()
			t.Fatal("dropped request got an answer")
		}
		if after := len(s.Conversations()); after != before+1 {
			t.Errorf("Commit did not apply the request: %d -> %d conversations", before, after)
		}
	})
	t.Run("commit with status", func(t *testing.T) {
		defer s.ClearFaults()
		if err := s.Fail("POST", "/conversations/*/reply", Fault{Status: 500, Commit: true}); err != nil {
			t.Fatal(err)
		}
		before := len(mustConv(t, s, conv.ID).Parts)
		mustStatus(t, reply(), 500)
		if after := len(mustConv(t, s, conv.ID).Parts); after != before+1 {
			t.Errorf("Commit did not apply the reply: %d -> %d parts", before, after)
		}
	})
}

// A committed request takes effect before a slow or missing answer, so a
// client that gives up while it waits has still changed the server.
func TestFaultCommitThenDelay(t *testing.T) {
	s := newTestServer(t)
	ct, _ := s.AddContact(Contact{Phone: "+15550000002"})
	create := func(ctx context.Context) (*http.Response, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/conversations",
			strings.NewReader(`{"from":{"type":"lead","id":"`+ct.ID+`"},"body":"slow answer"}`))
		req.Header.Set("Authorization", "Bearer "+s.Token)
		return http.DefaultClient.Do(req)
	}
	// waitFor polls until the server holds n conversations.
	waitFor := func(n int) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); len(s.Conversations()) < n; {
			if time.Now().After(deadline) {
				t.Fatalf("%d conversations, want %d", len(s.Conversations()), n)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	t.Run("latency: the real answer, late", func(t *testing.T) {
		defer s.ClearFaults()
		if err := s.Fail("POST", "/conversations", Fault{Commit: true, Latency: 150 * time.Millisecond, Times: 1}); err != nil {
			t.Fatal(err)
		}
		before := len(s.Conversations())
		start := time.Now()
		resp, err := create(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if d := time.Since(start); d < 150*time.Millisecond {
			t.Errorf("answer after %v, want >= 150ms", d)
		}
		convs := s.Conversations()
		if resp.StatusCode != 200 || len(convs) != before+1 ||
			!strings.Contains(string(body), `"conversation_id":"`+convs[len(convs)-1].ID+`"`) ||
			resp.Header.Get("X-Request-Id") == "" {
			t.Errorf("status %d, %d -> %d conversations, body %s", resp.StatusCode, before, len(convs), body)
		}
	})
	t.Run("latency: the client leaves, the work is done", func(t *testing.T) {
		defer s.ClearFaults()
		if err := s.Fail("POST", "/conversations", Fault{Commit: true, Latency: 10 * time.Second, Times: 1}); err != nil {
			t.Fatal(err)
		}
		before := len(s.Conversations())
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() {
			resp, err := create(ctx)
			if err == nil {
				resp.Body.Close()
			}
			errc <- err
		}()
		waitFor(before + 1) // applied while the answer is held back
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want canceled", err)
		}
		if got := len(s.Conversations()); got != before+1 {
			t.Errorf("%d -> %d conversations", before, got)
		}
		reqs := s.Requests()
		if last := reqs[len(reqs)-1]; last.Status != 0 {
			t.Errorf("recorded status %d for an answer never sent", last.Status)
		}
	})
	t.Run("hang: never answers", func(t *testing.T) {
		defer s.ClearFaults()
		if err := s.Fail("POST", "/conversations", Fault{Commit: true, Hang: true, Times: 1}); err != nil {
			t.Fatal(err)
		}
		before := len(s.Conversations())
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		_, err := create(ctx)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want deadline exceeded", err)
		}
		if got := len(s.Conversations()); got != before+1 {
			t.Errorf("Commit+Hang did not apply the request: %d -> %d", before, got)
		}
	})
	t.Run("hang without commit: nothing happens", func(t *testing.T) {
		defer s.ClearFaults()
		if err := s.Fail("POST", "/conversations", Fault{Hang: true, Times: 1}); err != nil {
			t.Fatal(err)
		}
		before := len(s.Conversations())
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		if _, err := create(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want deadline exceeded", err)
		}
		if got := len(s.Conversations()); got != before {
			t.Errorf("a hung request without Commit took effect: %d -> %d", before, got)
		}
	})
}

// Close ends requests that a fault holds back instead of waiting for them.
func TestCloseEndsHungRequests(t *testing.T) {
	s := NewServer(WithBudget(0, 0))
	if err := s.Fail("", "/*", Fault{Hang: true}); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, s.URL+"/contacts", nil)
		req.Header.Set("Authorization", "Bearer "+s.Token)
		resp, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	for len(s.Requests()) == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	closed := make(chan struct{})
	go func() { s.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close waited for a hung request")
	}
	if err := <-errc; err == nil {
		t.Error("a hung request got an answer")
	}
}

func mustConv(t *testing.T, s *Server, id string) Conversation {
	t.Helper()
	c, ok := s.Conversation(id)
	if !ok {
		t.Fatalf("no conversation %s", id)
	}
	return c
}

func TestFailValidation(t *testing.T) {
	s := newTestServer(t)
	for _, tc := range []struct {
		name    string
		method  string
		pattern string
		f       Fault
	}{
		{"relative pattern", "GET", "contacts", Fault{Status: 500}},
		{"bad pattern", "GET", "/contacts/[", Fault{Status: 500}},
		{"bad method", "GE T", "/contacts", Fault{Status: 500}},
		{"bad status", "GET", "/contacts", Fault{Status: 42}},
		{"status and drop", "GET", "/contacts", Fault{Status: 500, Drop: true}},
		{"nothing", "GET", "/contacts", Fault{Times: 3}},
		{"commit alone", "GET", "/contacts", Fault{Commit: true}},
		{"hang and status", "GET", "/contacts", Fault{Hang: true, Status: 500}},
		{"hang and drop", "GET", "/contacts", Fault{Hang: true, Drop: true}},
		{"hang and latency", "GET", "/contacts", Fault{Hang: true, Latency: time.Second}},
		{"body without status", "GET", "/contacts", Fault{Body: "{}", Latency: time.Second}},
		{"body not json", "GET", "/contacts", Fault{Status: 500, Body: "oops"}},
		{"negative latency", "GET", "/contacts", Fault{Status: 500, Latency: -1}},
		{"negative times", "GET", "/contacts", Fault{Status: 500, Times: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.Fail(tc.method, tc.pattern, tc.f); err == nil || !strings.HasPrefix(err.Error(), "intercomtest: Fail: ") {
				t.Errorf("err = %v, want an intercomtest: Fail error", err)
			}
		})
	}
	// Nothing was injected.
	mustStatus(t, do(t, s, http.MethodGet, "/contacts/x", nil), 404)
}

func TestRequests(t *testing.T) {
	s := newTestServer(t)
	body := `{"query":{"field":"phone","operator":"=","value":"+1"}}`
	mustStatus(t, do(t, s, http.MethodPost, "/contacts/search?include_merge_history=true", body, "X-Trace: abc"), 200)
	mustStatus(t, do(t, s, http.MethodGet, "/contacts/x", nil, "Authorization:"), 401)
	reqs := s.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests recorded, want 2", len(reqs))
	}
	r := reqs[0]
	if r.Method != "POST" || r.Path != "/contacts/search" || r.Query.Get("include_merge_history") != "true" ||
		r.Header.Get("X-Trace") != "abc" || r.Header.Get("Intercom-Version") != "2.16" || string(r.Body) != body ||
		r.Status != 200 || r.Time.IsZero() {
		t.Errorf("recorded %+v", r)
	}
	if reqs[1].Status != 401 {
		t.Errorf("second status = %d", reqs[1].Status)
	}
	// Copies: changing them does not change the record.
	reqs[0].Body[0] = 'X'
	reqs[0].Header.Set("X-Trace", "changed")
	if again := s.Requests()[0]; string(again.Body) != body || again.Header.Get("X-Trace") != "abc" {
		t.Error("Requests returned shared slices or maps")
	}
	s.ResetRequests()
	if len(s.Requests()) != 0 {
		t.Error("ResetRequests kept requests")
	}
}

func TestLargeBody(t *testing.T) {
	s := newTestServer(t)
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/contacts", io.LimitReader(zeros{}, maxRequestBody+10))
	req.Header.Set("Authorization", "Bearer "+s.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("status = %d, want 413", resp.StatusCode)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	return len(p), nil
}
