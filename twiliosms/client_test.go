package twiliosms_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smsrelay/smsrelay/twiliosms"
	"github.com/smsrelay/smsrelay/twiliosms/twiliotest"
	"github.com/twilio/twilio-go/client"
)

const serviceSID = "MG0123456789abcdef0123456789abcdef"

func newFake(t *testing.T, opts ...twiliotest.Option) (*twiliotest.Server, *twiliosms.Client) {
	t.Helper()
	srv := twiliotest.NewServer(opts...)
	t.Cleanup(srv.Close)
	c, err := twiliosms.NewClient(srv.AccountSID, srv.AuthToken, twiliosms.WithBaseURL(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	return srv, c
}

func TestNewClientValidation(t *testing.T) {
	const sid, tok = twiliotest.DefaultAccountSID, twiliotest.DefaultAuthToken
	for _, tc := range []struct {
		name     string
		sid, tok string
		opts     []twiliosms.Option
		want     string // substring of the error; "" = success
	}{
		{"ok", sid, tok, nil, ""},
		{"empty sid", "", tok, nil, "account SID is empty"},
		{"sid prefix", "MG0123456789abcdef0123456789abcdef", tok, nil, `must start with "AC"`},
		{"sid short", "AC123", tok, nil, "32 hex digits"},
		{"sid not hex", "AC0123456789abcdef0123456789abcdeg", tok, nil, "32 hex digits"},
		{"empty token", sid, "", nil, "auth token is empty"},
		{"token symbols", sid, "abc-123", nil, "only letters and digits"},
		{"unparsable base URL", sid, tok, []twiliosms.Option{twiliosms.WithBaseURL("127.0.0.1:80")}, "base URL"},
		{"ftp base URL", sid, tok, []twiliosms.Option{twiliosms.WithBaseURL("ftp://127.0.0.1")}, "absolute http"},
		{"base URL query", sid, tok, []twiliosms.Option{twiliosms.WithBaseURL("http://127.0.0.1:1/?x=1")}, "must not carry"},
		{"nil http client", sid, tok, []twiliosms.Option{twiliosms.WithHTTPClient(nil)}, "nil *http.Client"},
		{"bad edge", sid, tok, []twiliosms.Option{twiliosms.WithEdge("Dublin.x")}, "edge"},
		{"empty region", sid, tok, []twiliosms.Option{twiliosms.WithRegion("")}, "region"},
		{"zero timeout", sid, tok, []twiliosms.Option{twiliosms.WithTimeout(0)}, "timeout"},
		{"nil option", sid, tok, []twiliosms.Option{nil}, "nil Option"},
		{"good options", sid, tok, []twiliosms.Option{twiliosms.WithEdge("sao-paulo"), twiliosms.WithRegion("br1"), twiliosms.WithTimeout(time.Second)}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := twiliosms.NewClient(tc.sid, tc.tok, tc.opts...)
			if tc.want == "" {
				if err != nil || c == nil {
					t.Fatalf("want client, got %v", err)
				}
				if c.AccountSID() != tc.sid {
					t.Fatalf("AccountSID = %q", c.AccountSID())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want error containing %q, got %v", tc.want, err)
			}
			if !strings.HasPrefix(err.Error(), "twiliosms: ") {
				t.Fatalf("error not prefixed: %v", err)
			}
		})
	}
}

func TestSend(t *testing.T) {
	srv, c := newFake(t)
	for _, tc := range []struct {
		name         string
		msg          twiliosms.Message
		status       string
		segments     int
		sidPrefix    string
		wantSegments int
	}{
		{"sms", twiliosms.Message{To: "+14155550100", From: "+14155550199", Body: "hello"}, "queued", 1, "SM", 1},
		{"long unicode", twiliosms.Message{To: "+14155550100", From: "+14155550199", Body: strings.Repeat("é😀", 40)}, "queued", 2, "SM", 2},
		{"service", twiliosms.Message{To: "+14155550100", MessagingServiceSID: serviceSID, Body: "hi", StatusCallback: "https://hooks.example.com/status"}, "accepted", 0, "SM", 0},
		{"mms", twiliosms.Message{To: "+14155550100", From: "+14155550199", MediaURLs: []string{"https://a.example/1.jpg", "https://a.example/2.png"}}, "queued", 1, "MM", 1},
		{"whatsapp", twiliosms.Message{To: "whatsapp:+447700900123", From: "whatsapp:+14155550199", Body: "hola"}, "queued", 1, "SM", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sent, err := c.Send(t.Context(), tc.msg)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(sent.SID, tc.sidPrefix) || len(sent.SID) != 34 {
				t.Errorf("SID %q", sent.SID)
			}
			if sent.Status != tc.status || sent.NumSegments != tc.wantSegments {
				t.Errorf("got status %q segments %d, want %q %d", sent.Status, sent.NumSegments, tc.status, tc.wantSegments)
			}
			got, ok := srv.Message(sent.SID)
			if !ok {
				t.Fatal("fake did not record the message")
			}
			if got.To != tc.msg.To || got.From != tc.msg.From || got.Body != tc.msg.Body ||
				got.MessagingServiceSID != tc.msg.MessagingServiceSID || got.StatusCallback != tc.msg.StatusCallback {
				t.Errorf("recorded %+v, sent %+v", got, tc.msg)
			}
			if strings.Join(got.MediaURLs, " ") != strings.Join(tc.msg.MediaURLs, " ") {
				t.Errorf("media %q, want %q", got.MediaURLs, tc.msg.MediaURLs)
			}
		})
	}
	if n := len(srv.Messages()); n != 5 {
		t.Fatalf("fake recorded %d messages, want 5", n)
	}
}

func TestSendRejectsInvalidMessages(t *testing.T) {
	srv, c := newFake(t)
	ok := twiliosms.Message{To: "+14155550100", From: "+14155550199", Body: "x"}
	with := func(f func(*twiliosms.Message)) twiliosms.Message { m := ok; f(&m); return m }
	eleven := make([]string, 11)
	for i := range eleven {
		eleven[i] = "https://a.example/x.jpg"
	}
	for _, tc := range []struct {
		name string
		msg  twiliosms.Message
		want string
	}{
		{"no To", with(func(m *twiliosms.Message) { m.To = "" }), "To is required"},
		{"To not E.164", with(func(m *twiliosms.Message) { m.To = "(415) 555-0100" }), "E.164"},
		{"no sender", with(func(m *twiliosms.Message) { m.From = "" }), "From or MessagingServiceSID"},
		{"bad From", with(func(m *twiliosms.Message) { m.From = "not a sender!" }), "From"},
		{"bad service", with(func(m *twiliosms.Message) { m.MessagingServiceSID = "MG123" }), "MessagingServiceSID"},
		{"no content", with(func(m *twiliosms.Message) { m.Body = "" }), "Body or MediaURLs"},
		{"too long", with(func(m *twiliosms.Message) { m.Body = strings.Repeat("😀", 801) }), "1600"},
		{"too much media", with(func(m *twiliosms.Message) { m.MediaURLs = eleven }), "limit of 10"},
		{"relative media", with(func(m *twiliosms.Message) { m.MediaURLs = []string{"/x.jpg"} }), "MediaURLs[0]"},
		{"bad callback", with(func(m *twiliosms.Message) { m.StatusCallback = "ftp://x/y" }), "StatusCallback"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Send(t.Context(), tc.msg)
			if !errors.Is(err, twiliosms.ErrInvalidMessage) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want ErrInvalidMessage mentioning %q, got %v", tc.want, err)
			}
			if !twiliosms.IsPermanent(err) || twiliosms.IsRetryable(err) {
				t.Fatal("an invalid message must be permanent")
			}
		})
	}
	if srv.Attempts() != 0 {
		t.Fatalf("invalid messages reached the API %d times", srv.Attempts())
	}
	var noCtx context.Context
	if _, err := c.Send(noCtx, ok); err == nil {
		t.Fatal("nil context: want error")
	}
}

func TestSendErrorClasses(t *testing.T) {
	msg := twiliosms.Message{To: "+14155550100", From: "+14155550199", Body: "x"}
	for _, tc := range []struct {
		name       string
		fault      twiliotest.Fault
		code       int // 0: not a TwilioRestError
		status     int
		permanent  bool
		retryable  bool
		httpStatus int // for non-JSON bodies
	}{
		{"invalid To", twiliotest.Fault{Code: 21211}, 21211, 400, true, false, 0},
		{"geo permission", twiliotest.Fault{Code: 21408}, 21408, 400, true, false, 0},
		{"opted out", twiliotest.Fault{Code: 21610}, 21610, 400, true, false, 0},
		{"unreachable", twiliotest.Fault{Code: 21612}, 21612, 400, true, false, 0},
		{"not mobile", twiliotest.Fault{Code: 21614}, 21614, 400, true, false, 0},
		{"other 4xx", twiliotest.Fault{Code: 21606, Status: 400}, 21606, 400, true, false, 0},
		{"forbidden", twiliotest.Fault{Code: 20003, Status: 403}, 20003, 403, true, false, 0},
		{"queue full", twiliotest.Fault{Code: 21611}, 21611, 400, false, true, 0},
		{"rate limited", twiliotest.Fault{Code: 20429}, 20429, 429, false, true, 0},
		{"429 other code", twiliotest.Fault{Code: 12345, Status: 429}, 12345, 429, false, true, 0},
		{"server error", twiliotest.Fault{Code: 20500, Status: 500}, 20500, 500, false, true, 0},
		{"unavailable", twiliotest.Fault{Code: 20503}, 20503, 503, false, true, 0},
		{"html 502", twiliotest.Fault{Status: 502, RawBody: "<html>Bad Gateway</html>"}, 0, 0, false, true, 502},
		{"text 429", twiliotest.Fault{Status: 429, RawBody: "slow down"}, 0, 0, false, true, 429},
		{"html 404", twiliotest.Fault{Status: 404, RawBody: "<html>nope</html>"}, 0, 0, false, true, 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, c := newFake(t)
			srv.Fail(tc.fault)
			_, err := c.Send(t.Context(), msg)
			if err == nil {
				t.Fatal("want error")
			}
			if !strings.HasPrefix(err.Error(), "twiliosms: ") {
				t.Errorf("unprefixed error %v", err)
			}
			code, ok := twiliosms.ErrorCode(err)
			if tc.code != 0 {
				var te *client.TwilioRestError
				if !ok || code != tc.code || !errors.As(err, &te) || te.Status != tc.status {
					t.Fatalf("ErrorCode = %d,%v; want %d (status %d); err %v", code, ok, tc.code, tc.status, err)
				}
			} else {
				var he *twiliosms.HTTPError
				if ok || !errors.As(err, &he) || he.StatusCode != tc.httpStatus || he.Body != tc.fault.RawBody {
					t.Fatalf("want *HTTPError %d, got %v (code %d)", tc.httpStatus, err, code)
				}
			}
			if twiliosms.IsPermanent(err) != tc.permanent || twiliosms.IsRetryable(err) != tc.retryable {
				t.Fatalf("IsPermanent=%v IsRetryable=%v, want %v %v", twiliosms.IsPermanent(err), twiliosms.IsRetryable(err), tc.permanent, tc.retryable)
			}
			// The fault was used up: the next send goes through.
			if _, err := c.Send(t.Context(), msg); err != nil {
				t.Fatalf("second send: %v", err)
			}
		})
	}
}

func TestSendForeignJSONError(t *testing.T) {
	// A JSON body that is not Twilio's error object still decodes as a
	// TwilioRestError (code 0); its status must come from the answer.
	srv, c := newFake(t)
	srv.Fail(twiliotest.Fault{Status: 502, RawBody: `{"error": "upstream unavailable"}`})
	_, err := c.Send(t.Context(), twiliosms.Message{To: "+14155550100", From: "+14155550199", Body: "x"})
	var te *client.TwilioRestError
	if !errors.As(err, &te) || te.Status != 502 || te.Code != 0 || !twiliosms.IsRetryable(err) {
		t.Fatalf("want retryable status 502, got %v", err)
	}
}

func TestSendFakeValidation(t *testing.T) {
	// Requests that bypass Message.Validate: the fake answers like Twilio.
	srv := twiliotest.NewServer()
	defer srv.Close()
	c, _ := twiliosms.NewClient(srv.AccountSID, "wrongtoken1", twiliosms.WithBaseURL(srv.URL))
	_, err := c.Send(t.Context(), twiliosms.Message{To: "+14155550100", From: "+14155550199", Body: "x"})
	if code, _ := twiliosms.ErrorCode(err); code != 20003 || !twiliosms.IsPermanent(err) {
		t.Fatalf("wrong token: want permanent 20003, got %v", err)
	}
	other, _ := twiliosms.NewClient("ACffffffffffffffffffffffffffffffff", srv.AuthToken, twiliosms.WithBaseURL(srv.URL))
	_, err = other.Send(t.Context(), twiliosms.Message{To: "+14155550100", From: "+14155550199", Body: "x"})
	if code, _ := twiliosms.ErrorCode(err); code != 20003 {
		t.Fatalf("wrong account: want 20003, got %v", err)
	}
}

func TestSendPerRecipientFault(t *testing.T) {
	srv, c := newFake(t)
	srv.FailTo("+14155550100", twiliotest.Fault{Code: 21610})
	for range 2 {
		_, err := c.Send(t.Context(), twiliosms.Message{To: "+14155550100", From: "+14155550199", Body: "x"})
		if code, _ := twiliosms.ErrorCode(err); code != 21610 {
			t.Fatalf("want 21610, got %v", err)
		}
		if !strings.Contains(twiliosms.Describe(21610), "opted out") {
			t.Fatal("Describe(21610) should explain the opt-out")
		}
	}
	if _, err := c.Send(t.Context(), twiliosms.Message{To: "+14155550101", From: "+14155550199", Body: "x"}); err != nil {
		t.Fatalf("other recipient: %v", err)
	}
	srv.ClearFaults()
	if _, err := c.Send(t.Context(), twiliosms.Message{To: "+14155550100", From: "+14155550199", Body: "x"}); err != nil {
		t.Fatalf("after ClearFaults: %v", err)
	}
}

// TestSendIgnoresEnvironment sets every variable twilio-go would read and
// checks none has an effect: the request goes to api.twilio.com (no
// edge/region) with the client's own credentials.
func TestSendIgnoresEnvironment(t *testing.T) {
	t.Setenv("TWILIO_ACCOUNT_SID", "ACeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee")
	t.Setenv("TWILIO_AUTH_TOKEN", "envtoken")
	t.Setenv("TWILIO_EDGE", "dublin")
	t.Setenv("TWILIO_REGION", "ie1")
	t.Setenv("TWILIO_API_KEY", "SKxxxxxxxx")
	t.Setenv("TWILIO_API_SECRET", "secret")

	srv := twiliotest.NewServer()
	defer srv.Close()
	for _, tc := range []struct {
		name     string
		opts     []twiliosms.Option
		wantHost string
	}{
		{"no options", nil, "api.twilio.com"},
		{"explicit edge", []twiliosms.Option{twiliosms.WithEdge("sydney")}, "api.sydney.us1.twilio.com"},
		{"explicit region", []twiliosms.Option{twiliosms.WithRegion("au1")}, "api.au1.twilio.com"},
		{"both", []twiliosms.Option{twiliosms.WithEdge("sydney"), twiliosms.WithRegion("au1")}, "api.sydney.au1.twilio.com"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{to: srv.URL}
			opts := append([]twiliosms.Option{twiliosms.WithHTTPClient(&http.Client{Transport: rec})}, tc.opts...)
			c, err := twiliosms.NewClient(srv.AccountSID, srv.AuthToken, opts...)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Send(t.Context(), twiliosms.Message{To: "+14155550100", From: "+14155550199", Body: "x"}); err != nil {
				t.Fatal(err)
			}
			if rec.host != tc.wantHost || rec.user != srv.AccountSID || rec.path != "/2010-04-01/Accounts/"+srv.AccountSID+"/Messages.json" {
				t.Fatalf("request went to %s%s as %s", rec.host, rec.path, rec.user)
			}
		})
	}
}

// recorder notes the URL twilio-go built, then delivers to the fake.
type recorder struct {
	to               string
	host, path, user string
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.host, r.path = req.URL.Host, req.URL.Path
	r.user, _, _ = req.BasicAuth()
	out := req.Clone(req.Context())
	out.URL.Scheme, out.URL.Host, out.Host = "http", strings.TrimPrefix(r.to, "http://"), ""
	return http.DefaultTransport.RoundTrip(out)
}

func TestSendContext(t *testing.T) {
	msg := twiliosms.Message{To: "+14155550100", From: "+14155550199", Body: "x"}
	t.Run("already cancelled", func(t *testing.T) {
		srv, c := newFake(t)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := c.Send(ctx, msg)
		if !errors.Is(err, context.Canceled) || twiliosms.IsRetryable(err) || twiliosms.IsPermanent(err) {
			t.Fatalf("want context.Canceled, neither retryable nor permanent; got %v", err)
		}
		if srv.Attempts() != 0 {
			t.Fatal("request sent despite cancelled context")
		}
	})
	t.Run("cancelled in flight", func(t *testing.T) {
		_, c := newFake(t, twiliotest.WithLatency(10*time.Second))
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(50*time.Millisecond, cancel)
		start := time.Now()
		_, err := c.Send(ctx, msg)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("want context.Canceled, got %v", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("Send took %v after cancellation", d)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		srv := twiliotest.NewServer(twiliotest.WithLatency(10 * time.Second))
		defer srv.Close()
		c, _ := twiliosms.NewClient(srv.AccountSID, srv.AuthToken, twiliosms.WithBaseURL(srv.URL), twiliosms.WithTimeout(100*time.Millisecond))
		start := time.Now()
		_, err := c.Send(t.Context(), msg)
		if !errors.Is(err, context.DeadlineExceeded) || !twiliosms.IsRetryable(err) {
			t.Fatalf("want retryable DeadlineExceeded, got %v", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("timeout took %v", d)
		}
	})
	t.Run("http client timeout is the default", func(t *testing.T) {
		srv := twiliotest.NewServer(twiliotest.WithLatency(10 * time.Second))
		defer srv.Close()
		c, _ := twiliosms.NewClient(srv.AccountSID, srv.AuthToken, twiliosms.WithBaseURL(srv.URL),
			twiliosms.WithHTTPClient(&http.Client{Timeout: 100 * time.Millisecond}))
		if _, err := c.Send(t.Context(), msg); !twiliosms.IsRetryable(err) {
			t.Fatalf("want retryable timeout, got %v", err)
		}
	})
}

func TestSendNetworkError(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	url := dead.URL
	dead.Close()
	c, _ := twiliosms.NewClient(twiliotest.DefaultAccountSID, twiliotest.DefaultAuthToken, twiliosms.WithBaseURL(url))
	_, err := c.Send(t.Context(), twiliosms.Message{To: "+14155550100", From: "+14155550199", Body: "x"})
	if err == nil || !twiliosms.IsRetryable(err) || twiliosms.IsPermanent(err) {
		t.Fatalf("connection refused must be retryable, got %v", err)
	}
	if _, ok := twiliosms.ErrorCode(err); ok {
		t.Fatal("a network error has no Twilio code")
	}
}

func TestSendMalformedSuccess(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"sid": "nope", "status": "queued"}`))
	}))
	defer srv.Close()
	c, _ := twiliosms.NewClient(twiliotest.DefaultAccountSID, twiliotest.DefaultAuthToken, twiliosms.WithBaseURL(srv.URL))
	if _, err := c.Send(t.Context(), twiliosms.Message{To: "+14155550100", From: "+14155550199", Body: "x"}); err == nil || !strings.Contains(err.Error(), "SID") {
		t.Fatalf("want an error about the SID, got %v", err)
	}
}

func TestSendConcurrent(t *testing.T) {
	srv, c := newFake(t)
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Send(t.Context(), twiliosms.Message{To: "+14155550100", From: "+14155550199", Body: "x"}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := len(srv.Messages()); n != 20 {
		t.Fatalf("recorded %d, want 20", n)
	}
}

func TestValidMessagingServiceSID(t *testing.T) {
	for _, tc := range []struct {
		sid  string
		want string // "" = valid
	}{
		{"MG0123456789abcdef0123456789abcdef", ""},
		{"MG0123456789ABCDEF0123456789ABCDEF", ""},
		{"", "empty"},
		{"AC0123456789abcdef0123456789abcdef", `start with "MG"`},
		{"mg0123456789abcdef0123456789abcdef", `start with "MG"`},
		{"MG0123", "6 characters"},
		{"MG0123456789abcdef0123456789abcdef0", "35 characters"},
		{"MG0123456789abcdef0123456789abcdeg", "32 hex digits"},
		{"MG0123456789abcdef0123456789abcde ", "32 hex digits"},
	} {
		err := twiliosms.ValidMessagingServiceSID(tc.sid)
		if tc.want == "" {
			if err != nil {
				t.Errorf("ValidMessagingServiceSID(%q) = %v", tc.sid, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "twiliosms: ") {
			t.Errorf("ValidMessagingServiceSID(%q) = %v, want an error mentioning %q", tc.sid, err, tc.want)
		}
		if len(tc.sid) > 6 && err != nil && strings.Contains(err.Error(), tc.sid) {
			t.Errorf("error %q quotes the SID", err)
		}
		// Message.Validate says the same.
		m := twiliosms.Message{To: "+14155550100", MessagingServiceSID: tc.sid, Body: "x"}
		if tc.sid != "" {
			if verr := m.Validate(); verr == nil || !strings.Contains(verr.Error(), tc.want) {
				t.Errorf("Validate with MessagingServiceSID %q = %v", tc.sid, verr)
			}
		}
	}
}

// TestSendAnswerLost: Twilio created the message but the client never
// learned. Send fails, MaybeSent says so, and Recent finds the message.
func TestSendAnswerLost(t *testing.T) {
	const to = "+14155550123"
	for _, tc := range []struct {
		name    string
		fault   twiliotest.Fault
		cancel  time.Duration // cancel Send's context after this; 0: never
		timeout time.Duration // the Client's timeout; 0: the default
		created bool
		maybe   bool
	}{
		{"cancelled while the answer is delayed", twiliotest.Fault{Accept: true, Latency: 10 * time.Second}, 100 * time.Millisecond, 0, true, true},
		{"timeout while the answer is delayed", twiliotest.Fault{Accept: true, Latency: 10 * time.Second}, 0, 100 * time.Millisecond, true, true},
		{"hang until the timeout", twiliotest.Fault{Accept: true, Hang: true}, 0, 100 * time.Millisecond, true, true},
		{"connection dropped", twiliotest.Fault{Accept: true, Drop: true}, 0, 0, true, true},
		{"server error after creating", twiliotest.Fault{Accept: true, Code: 20500, Status: 500}, 0, 0, true, true},
		{"proxy page after creating", twiliotest.Fault{Accept: true, Status: 502, RawBody: "<html>Bad Gateway</html>"}, 0, 0, true, true},
		// The client cannot tell these from the ones above: MaybeSent is
		// true, and Recent shows that nothing was created.
		{"dropped before creating", twiliotest.Fault{Drop: true}, 0, 0, false, true},
		{"hang before creating", twiliotest.Fault{Hang: true}, 0, 100 * time.Millisecond, false, true},
		// Twilio's refusals: certainly not sent.
		{"opted out", twiliotest.Fault{Code: 21610}, 0, 0, false, false},
		{"rate limited", twiliotest.Fault{Code: 20429}, 0, 0, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := twiliotest.NewServer()
			defer srv.Close()
			opts := []twiliosms.Option{twiliosms.WithBaseURL(srv.URL)}
			if tc.timeout > 0 {
				opts = append(opts, twiliosms.WithTimeout(tc.timeout))
			}
			c, err := twiliosms.NewClient(srv.AccountSID, srv.AuthToken, opts...)
			if err != nil {
				t.Fatal(err)
			}
			srv.Fail(tc.fault)
			ctx := t.Context()
			if tc.cancel > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithCancel(ctx)
				time.AfterFunc(tc.cancel, cancel)
			}
			since := time.Now()
			start := time.Now()
			sent, err := c.Send(ctx, twiliosms.Message{To: to, From: "+14155550199", Body: "your code is 1234"})
			if err == nil {
				t.Fatalf("Send = %+v, want an error", sent)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("Send took %v", d)
			}
			if tc.cancel > 0 && !errors.Is(err, context.Canceled) {
				t.Errorf("want context.Canceled, got %v", err)
			}
			if got := twiliosms.MaybeSent(err); got != tc.maybe {
				t.Fatalf("MaybeSent(%v) = %v, want %v", err, got, tc.maybe)
			}
			if strings.Contains(err.Error(), "your code") || strings.Contains(err.Error(), "5550123") {
				t.Errorf("error %q shows the body or the number", err)
			}
			held := srv.Messages()
			if tc.created != (len(held) == 1) || len(held) > 1 {
				t.Fatalf("fake holds %d messages, want created=%v", len(held), tc.created)
			}
			recent, err := c.Recent(t.Context(), to, since)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.created {
				if len(recent) != 0 {
					t.Fatalf("Recent = %+v, want nothing", recent)
				}
				return
			}
			if len(recent) != 1 || recent[0].SID != held[0].SID || recent[0].Body != "your code is 1234" || recent[0].Direction != "outbound-api" {
				t.Fatalf("Recent = %+v, want the message the fake holds (%s)", recent, held[0].SID)
			}
		})
	}
}
