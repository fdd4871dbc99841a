package twiliotest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smsrelay/smsrelay/internal/specfiles"

	"github.com/smsrelay/smsrelay/twiliosms"
	"github.com/smsrelay/smsrelay/twiliosms/twiliotest"
)

// post sends a raw create-message request to the fake.
func post(t *testing.T, s *twiliotest.Server, user, pass string, form url.Values) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, s.URL+"/2010-04-01/Accounts/"+s.AccountSID+"/Messages.json", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q", ct)
	}
	var body map[string]any
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, body
}

// TestResponseMatchesSpec checks the 201 answer against the Message schema
// in shared/specs/twilio/twilio_api_v2010.messages-subset.json.
func TestResponseMatchesSpec(t *testing.T) {
	raw, err := os.ReadFile(specfiles.Path(t, "twilio", "twilio_api_v2010.messages-subset.json"))
	if err != nil {
		t.Skipf("messages spec unavailable: %v", err)
	}
	var spec struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]struct {
					Type     string `json:"type"`
					Format   string `json:"format"`
					Pattern  string `json:"pattern"`
					Nullable bool   `json:"nullable"`
					Ref      string `json:"$ref"`
				} `json:"properties"`
				Enum []string `json:"enum"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(raw, &spec); err != nil {
		t.Fatal(err)
	}
	schema := spec.Components.Schemas["api.v2010.account.message"]
	if len(schema.Properties) == 0 {
		t.Fatal("message schema not found in spec")
	}
	statuses := spec.Components.Schemas["message_enum_status"].Enum
	directions := spec.Components.Schemas["message_enum_direction"].Enum

	s := twiliotest.NewServer()
	defer s.Close()
	for _, form := range []url.Values{
		{"To": {"+14155550100"}, "From": {"+14155550199"}, "Body": {"hello"}},
		{"To": {"+14155550100"}, "MessagingServiceSid": {"MG0123456789abcdef0123456789abcdef"}, "Body": {"hello"}},
		{"To": {"+14155550100"}, "From": {"+14155550199"}, "MediaUrl": {"https://a.example/1.jpg", "https://a.example/2.jpg"}},
	} {
		status, body := post(t, s, s.AccountSID, s.AuthToken, form)
		if status != http.StatusCreated {
			t.Fatalf("status %d: %v", status, body)
		}
		for name, prop := range schema.Properties {
			v, ok := body[name]
			if !ok {
				t.Errorf("field %s missing", name)
				continue
			}
			if v == nil {
				if !prop.Nullable {
					t.Errorf("field %s is null", name)
				}
				continue
			}
			switch {
			case name == "status":
				if !slices.Contains(statuses, v.(string)) {
					t.Errorf("status %q not in enum", v)
				}
			case name == "direction":
				if !slices.Contains(directions, v.(string)) {
					t.Errorf("direction %q not in enum", v)
				}
			case prop.Type == "string":
				s, ok := v.(string)
				if !ok {
					t.Errorf("field %s = %#v, want a string", name, v)
					continue
				}
				if prop.Pattern != "" && !regexp.MustCompile(prop.Pattern).MatchString(s) {
					t.Errorf("field %s = %q does not match %s", name, s, prop.Pattern)
				}
				if prop.Format == "date-time-rfc-2822" {
					if _, err := time.Parse(time.RFC1123Z, s); err != nil {
						t.Errorf("field %s = %q is not RFC 2822: %v", name, s, err)
					}
				}
			case prop.Type == "integer":
				if _, ok := v.(float64); !ok {
					t.Errorf("field %s = %#v, want a number", name, v)
				}
			case prop.Type == "object":
				if _, ok := v.(map[string]any); !ok {
					t.Errorf("field %s = %#v, want an object", name, v)
				}
			}
		}
		wantStatus := "queued"
		if form.Get("MessagingServiceSid") != "" {
			wantStatus = "accepted"
		}
		if body["status"] != wantStatus {
			t.Errorf("status %v, want %s", body["status"], wantStatus)
		}
		if n := len(form["MediaUrl"]); n > 0 && (body["num_media"] != "2" || !strings.HasPrefix(body["sid"].(string), "MM")) {
			t.Errorf("media message: num_media %v sid %v", body["num_media"], body["sid"])
		}
	}
	if got := s.Messages(); len(got) != 3 || !slices.Equal(got[2].MediaURLs, []string{"https://a.example/1.jpg", "https://a.example/2.jpg"}) {
		t.Fatalf("recorded %+v", got)
	}
}

func TestServerRejects(t *testing.T) {
	s := twiliotest.NewServer()
	defer s.Close()
	long := strings.Repeat("x", 1601)
	eleven := make([]string, 11)
	for i := range eleven {
		eleven[i] = "https://a.example/x.jpg"
	}
	for _, tc := range []struct {
		name       string
		user, pass string
		form       url.Values
		status     int
		code       int
	}{
		{"no auth", "", "", url.Values{"To": {"+14155550100"}}, 401, 20003},
		{"wrong token", s.AccountSID, "nope", url.Values{"To": {"+14155550100"}}, 401, 20003},
		{"wrong user", "ACffffffffffffffffffffffffffffffff", s.AuthToken, url.Values{"To": {"+14155550100"}}, 401, 20003},
		{"no To", s.AccountSID, s.AuthToken, url.Values{"From": {"+14155550199"}, "Body": {"x"}}, 400, 21604},
		{"bad To", s.AccountSID, s.AuthToken, url.Values{"To": {"hello"}, "From": {"+14155550199"}, "Body": {"x"}}, 400, 21211},
		{"no sender", s.AccountSID, s.AuthToken, url.Values{"To": {"+14155550100"}, "Body": {"x"}}, 400, 21603},
		{"no body", s.AccountSID, s.AuthToken, url.Values{"To": {"+14155550100"}, "From": {"+14155550199"}}, 400, 21602},
		{"too long", s.AccountSID, s.AuthToken, url.Values{"To": {"+14155550100"}, "From": {"+14155550199"}, "Body": {long}}, 400, 21617},
		{"too much media", s.AccountSID, s.AuthToken, url.Values{"To": {"+14155550100"}, "From": {"+14155550199"}, "MediaUrl": eleven}, 400, 21623},
		{"bad media", s.AccountSID, s.AuthToken, url.Values{"To": {"+14155550100"}, "From": {"+14155550199"}, "MediaUrl": {"nope"}}, 400, 21620},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := post(t, s, tc.user, tc.pass, tc.form)
			if status != tc.status || body["code"] != float64(tc.code) || body["status"] != float64(tc.status) {
				t.Fatalf("got %d %v", status, body)
			}
			if msg, _ := body["message"].(string); msg == "" {
				t.Errorf("no message: %v", body)
			}
			if mi, _ := body["more_info"].(string); mi != "https://www.twilio.com/docs/errors/"+strconv.Itoa(tc.code) {
				t.Errorf("more_info %q", mi)
			}
		})
	}
	if n := len(s.Messages()); n != 0 {
		t.Fatalf("recorded %d rejected messages", n)
	}

	for _, tc := range []struct {
		method, path, ct string
		status           int
	}{
		{http.MethodDelete, "/2010-04-01/Accounts/" + s.AccountSID + "/Messages.json", "", 405},
		{http.MethodPost, "/2010-04-01/Accounts/" + s.AccountSID + "/Calls.json", "application/x-www-form-urlencoded", 404},
		{http.MethodPost, "/2010-04-01/Accounts/ACffffffffffffffffffffffffffffffff/Messages.json", "application/x-www-form-urlencoded", 404},
		{http.MethodPost, "/2010-04-01/Accounts/" + s.AccountSID + "/Messages.json", "application/json", 400},
	} {
		req, _ := http.NewRequestWithContext(t.Context(), tc.method, s.URL+tc.path, strings.NewReader("To=%2B14155550100"))
		req.SetBasicAuth(s.AccountSID, s.AuthToken)
		if tc.ct != "" {
			req.Header.Set("Content-Type", tc.ct)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != tc.status {
			t.Errorf("%s %s (%s): %d, want %d", tc.method, tc.path, tc.ct, res.StatusCode, tc.status)
		}
	}
}

func TestFaults(t *testing.T) {
	s := twiliotest.NewServer()
	defer s.Close()
	ok := url.Values{"To": {"+14155550100"}, "From": {"+14155550199"}, "Body": {"x"}}
	s.FailNext(20429, 0)
	s.FailNext(21611, 0)
	s.Fail(twiliotest.Fault{Code: 20500, Status: 500, Message: "boom"})
	for _, want := range []struct{ status, code int }{{429, 20429}, {400, 21611}, {500, 20500}, {201, 0}} {
		status, body := post(t, s, s.AccountSID, s.AuthToken, ok)
		if status != want.status || (want.code != 0 && body["code"] != float64(want.code)) {
			t.Fatalf("got %d %v, want %d %d", status, body, want.status, want.code)
		}
	}
	if s.Attempts() != 4 || len(s.Messages()) != 1 {
		t.Fatalf("attempts %d messages %d", s.Attempts(), len(s.Messages()))
	}

	// A raw, non-JSON body.
	s.Fail(twiliotest.Fault{Status: 502, RawBody: "<html>bad gateway</html>"})
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, s.URL+"/2010-04-01/Accounts/"+s.AccountSID+"/Messages.json", strings.NewReader(ok.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(s.AccountSID, s.AuthToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 502 || string(b) != "<html>bad gateway</html>" {
		t.Fatalf("raw fault: %d %q", res.StatusCode, b)
	}

	// Faults wait for an authenticated request.
	s.FailNext(21610, 0)
	if status, _ := post(t, s, s.AccountSID, "wrong", ok); status != 401 {
		t.Fatalf("unauthenticated: %d", status)
	}
	if status, body := post(t, s, s.AccountSID, s.AuthToken, ok); status != 400 || body["code"] != float64(21610) {
		t.Fatalf("fault not kept for the authenticated request: %d %v", status, body)
	}
}

func TestLatency(t *testing.T) {
	s := twiliotest.NewServer(twiliotest.WithLatency(150 * time.Millisecond))
	defer s.Close()
	ok := url.Values{"To": {"+14155550100"}, "From": {"+14155550199"}, "Body": {"x"}}
	start := time.Now()
	if status, _ := post(t, s, s.AccountSID, s.AuthToken, ok); status != 201 {
		t.Fatal(status)
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Fatalf("answered after %v", d)
	}
	s.SetLatency(0)
	s.Fail(twiliotest.Fault{Code: 20429, Latency: 100 * time.Millisecond})
	start = time.Now()
	if status, _ := post(t, s, s.AccountSID, s.AuthToken, ok); status != 429 {
		t.Fatal(status)
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Fatalf("fault latency ignored: %v", d)
	}
}

func TestCredentialsAndClock(t *testing.T) {
	now := time.Date(2024, 2, 29, 13, 4, 5, 0, time.UTC)
	s := twiliotest.NewServer(
		twiliotest.WithCredentials("ACabcdefabcdefabcdefabcdefabcdefab", "secret123"),
		twiliotest.WithClock(func() time.Time { return now }))
	defer s.Close()
	status, body := post(t, s, "ACabcdefabcdefabcdefabcdefabcdefab", "secret123", url.Values{"To": {"+14155550100"}, "From": {"+14155550199"}, "Body": {"x"}})
	if status != 201 || body["date_created"] != "Thu, 29 Feb 2024 13:04:05 +0000" || body["account_sid"] != s.AccountSID {
		t.Fatalf("%d %v", status, body)
	}
	for _, tc := range []struct {
		name string
		opt  twiliotest.Option
		want string
	}{
		{"short SID", twiliotest.WithCredentials("AC1", "x"), "account SID"},
		{"token symbols", twiliotest.WithCredentials(twiliotest.DefaultAccountSID, "a-b"), "auth token"},
		{"nil clock", twiliotest.WithClock(nil), "WithClock"},
		{"negative latency", twiliotest.WithLatency(-time.Second), "WithLatency"},
		{"nil option", nil, "option 0 is nil"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				r := recover()
				msg, _ := r.(string)
				if !strings.HasPrefix(msg, "twiliotest: ") || !strings.Contains(msg, tc.want) {
					t.Errorf("NewServer panicked with %v, want a message mentioning %q", r, tc.want)
				}
			}()
			s := twiliotest.NewServer(tc.opt)
			s.Close()
		})
	}
}

func TestConcurrentUse(t *testing.T) {
	s := twiliotest.NewServer()
	defer s.Close()
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%4 == 0 {
				s.FailNext(20429, 0)
			}
			req, _ := http.NewRequest(http.MethodPost, s.URL+"/2010-04-01/Accounts/"+s.AccountSID+"/Messages.json",
				strings.NewReader(url.Values{"To": {"+14155550100"}, "From": {"+14155550199"}, "Body": {"x"}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(s.AccountSID, s.AuthToken)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			res.Body.Close()
			_ = s.Messages()
		}()
	}
	wg.Wait()
	if s.Attempts() != 16 || len(s.Messages()) != 12 {
		t.Fatalf("attempts %d, messages %d", s.Attempts(), len(s.Messages()))
	}
}

type sigVector struct {
	ID        string                     `json:"id"`
	URL       string                     `json:"url"`
	SignedURL string                     `json:"signed_url"`
	Params    map[string]json.RawMessage `json:"params"`
	Token     string                     `json:"auth_token"`
	Signature string                     `json:"expected_signature"`
	Valid     bool                       `json:"expect_valid"`
}

// TestSignVectors checks Sign against every valid vector, over the URL
// the signature was made for.
func TestSignVectors(t *testing.T) {
	raw, err := os.ReadFile(specfiles.Path(t, "twilio", "signature-vectors.json"))
	if err != nil {
		t.Skipf("signature vectors unavailable: %v", err)
	}
	var file struct{ Vectors []sigVector }
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, v := range file.Vectors {
		if !v.Valid {
			continue
		}
		form := url.Values{}
		for k, r := range v.Params {
			var one string
			if json.Unmarshal(r, &one) == nil {
				form.Set(k, one)
				continue
			}
			var many []string
			if err := json.Unmarshal(r, &many); err != nil {
				t.Fatal(err)
			}
			form[k] = many
		}
		u := v.URL
		if v.SignedURL != "" {
			u = v.SignedURL
		}
		if got := twiliotest.Sign(v.Token, u, form); got != v.Signature {
			t.Errorf("%s: Sign = %s, want %s", v.ID, got, v.Signature)
		}
		n++
	}
	if n == 0 {
		t.Fatal("no valid vectors")
	}
}

func TestWebhookRequests(t *testing.T) {
	const token = "hooktoken"
	v, _ := twiliosms.NewValidator(token)
	var (
		mu   sync.Mutex
		seen []url.Values
	)
	mux := http.NewServeMux()
	var public string
	mux.HandleFunc("POST /hook", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("User-Agent") != "TwilioProxy/1.1" || r.Header.Get("I-Twilio-Idempotency-Token") == "" {
			http.Error(w, "headers", http.StatusBadRequest)
			return
		}
		if err := v.ValidateRequest(r, public+"/hook"); err != nil {
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		mu.Lock()
		seen = append(seen, r.PostForm)
		mu.Unlock()
		w.Header().Set("Content-Type", "text/xml")
		_, _ = io.WriteString(w, "<Response/>")
	})
	app := newServer(t, mux)
	public = app

	in := twiliotest.InboundForm("+14155550100", "+14155550199", "héllo 😀",
		twiliosms.Media{URL: "https://m.example/0", ContentType: "image/png"},
		twiliosms.Media{URL: "https://m.example/1", ContentType: "image/gif"})
	status, body, err := twiliotest.Post(t.Context(), nil, token, public+"/hook", in)
	if err != nil || status != 200 || !bytes.Equal(body, []byte("<Response/>")) {
		t.Fatalf("%d %q %v", status, body, err)
	}
	got, err := twiliosms.ParseInbound(seen[0])
	if err != nil {
		t.Fatal(err)
	}
	if got.Body != "héllo 😀" || got.NumMedia != 2 || got.Media[1].ContentType != "image/gif" || !strings.HasPrefix(got.MessageSID, "MM") || got.NumSegments != 1 {
		t.Fatalf("%+v", got)
	}
	if seen[0].Get("SmsSid") != got.MessageSID || seen[0].Get("ApiVersion") != "2010-04-01" {
		t.Fatalf("legacy fields: %v", seen[0])
	}

	// Wrong token: refused.
	if status, _, _ := twiliotest.Post(t.Context(), nil, "other", public+"/hook", in); status != http.StatusForbidden {
		t.Fatalf("wrong token: %d", status)
	}
	if _, err := twiliotest.NewRequest(t.Context(), "", public, in); err == nil {
		t.Fatal("empty token: want error")
	}
	if _, err := twiliotest.NewRequest(t.Context(), token, "/relative", in); err == nil {
		t.Fatal("relative URL: want error")
	}
	if _, _, err := twiliotest.Do(nil, nil); err == nil {
		t.Fatal("nil request: want error")
	}

	// Status callbacks through the fake API.
	api := twiliotest.NewServer(twiliotest.WithCredentials("AC0000000000000000000000000000000a", "hooktoken"))
	defer api.Close()
	c, _ := twiliosms.NewClient(api.AccountSID, api.AuthToken, twiliosms.WithBaseURL(api.URL))
	sent, err := c.Send(t.Context(), twiliosms.Message{To: "+14155550100", MessagingServiceSID: "MG0123456789abcdef0123456789abcdef", Body: "hi", StatusCallback: public + "/hook"})
	if err != nil {
		t.Fatal(err)
	}
	code, err := api.SendStatus(t.Context(), sent.SID, "undelivered", 30003)
	if err != nil || code != 200 {
		t.Fatalf("SendStatus: %d %v", code, err)
	}
	st, err := twiliosms.ParseStatus(seen[1])
	if err != nil {
		t.Fatal(err)
	}
	if st.MessageSID != sent.SID || st.MessageStatus != "undelivered" || st.ErrorCode != 30003 || st.To != "+14155550100" ||
		st.AccountSID != api.AccountSID || st.MessagingServiceSID != "MG0123456789abcdef0123456789abcdef" {
		t.Fatalf("%+v", st)
	}
	if _, err := api.SendStatus(t.Context(), "SMffffffffffffffffffffffffffffffff", "sent", 0); err == nil {
		t.Fatal("unknown SID: want error")
	}
	noCB, _ := c.Send(t.Context(), twiliosms.Message{To: "+14155550100", From: "+14155550199", Body: "hi"})
	if _, err := api.SendStatus(t.Context(), noCB.SID, "sent", 0); err == nil {
		t.Fatal("no StatusCallback: want error")
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, _, err := twiliotest.Post(ctx, nil, token, public+"/hook", in); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}
