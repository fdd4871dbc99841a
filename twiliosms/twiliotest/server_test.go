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

// messageSpec is what the tests read of
// shared/specs/twilio/twilio_api_v2010.messages-subset.json.
type messageSpec struct {
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Components struct {
		Schemas map[string]schemaJSON `json:"schemas"`
	} `json:"components"`
}

// operationJSON is one operation of a path.
type operationJSON struct {
	Parameters []struct {
		Name string `json:"name"`
		In   string `json:"in"`
	} `json:"parameters"`
	RequestBody struct {
		Content map[string]struct {
			Schema schemaJSON `json:"schema"`
		} `json:"content"`
	} `json:"requestBody"`
	Responses map[string]struct {
		Content map[string]struct {
			Schema schemaJSON `json:"schema"`
		} `json:"content"`
	} `json:"responses"`
}

// operation returns the spec's operation method ("get", "post") of path.
func (s messageSpec) operation(t *testing.T, path, method string) operationJSON {
	t.Helper()
	var op operationJSON
	if err := json.Unmarshal(s.Paths[path][method], &op); err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return op
}

type schemaJSON struct {
	Type       string                `json:"type"`
	Format     string                `json:"format"`
	Pattern    string                `json:"pattern"`
	Nullable   bool                  `json:"nullable"`
	Ref        string                `json:"$ref"`
	Enum       []string              `json:"enum"`
	Properties map[string]schemaJSON `json:"properties"`
	Items      *schemaJSON           `json:"items"`
}

const messagesPathSpec = "/2010-04-01/Accounts/{AccountSid}/Messages.json"

func loadMessageSpec(t *testing.T) messageSpec {
	t.Helper()
	raw, err := os.ReadFile(specfiles.Path(t, "twilio", "twilio_api_v2010.messages-subset.json"))
	if err != nil {
		t.Skipf("messages spec unavailable: %v", err)
	}
	var spec messageSpec
	if err := json.Unmarshal(raw, &spec); err != nil {
		t.Fatal(err)
	}
	if len(spec.Components.Schemas["api.v2010.account.message"].Properties) == 0 {
		t.Fatal("message schema not found in spec")
	}
	return spec
}

// checkMessage checks a Message resource as the fake wrote it against the
// spec's api.v2010.account.message schema.
func checkMessage(t *testing.T, spec messageSpec, body map[string]any) {
	t.Helper()
	schema := spec.Components.Schemas["api.v2010.account.message"]
	statuses := spec.Components.Schemas["message_enum_status"].Enum
	directions := spec.Components.Schemas["message_enum_direction"].Enum
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
}

// TestResponseMatchesSpec checks the 201 answer against the Message schema
// in shared/specs/twilio/twilio_api_v2010.messages-subset.json.
func TestResponseMatchesSpec(t *testing.T) {
	spec := loadMessageSpec(t)
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
		checkMessage(t, spec, body)
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

// TestRequestsAndListMatchSpec checks that the parameters the fake reads
// are those of the spec's CreateMessage and ListMessage operations, and
// the list answer (what twiliosms.Client.Recent reads, also after an
// accepted-then-dropped request) against ListMessageResponse.
func TestRequestsAndListMatchSpec(t *testing.T) {
	spec := loadMessageSpec(t)
	list := spec.operation(t, messagesPathSpec, "get")
	create := spec.operation(t, messagesPathSpec, "post").RequestBody.Content["application/x-www-form-urlencoded"].Schema.Properties
	for _, name := range []string{"To", "From", "MessagingServiceSid", "Body", "MediaUrl", "StatusCallback"} {
		if _, ok := create[name]; !ok {
			t.Errorf("the fake reads %s, which CreateMessage does not have", name)
		}
	}
	var query []string
	for _, p := range list.Parameters {
		if p.In == "query" {
			query = append(query, p.Name)
		}
	}
	for _, name := range []string{"To", "From", "PageSize", "Page", "PageToken", "DateSent", "DateSent<", "DateSent>"} {
		if !slices.Contains(query, name) {
			t.Errorf("the fake filters by %s, which ListMessage does not have (%v)", name, query)
		}
	}

	s := twiliotest.NewServer()
	defer s.Close()
	if status, _ := post(t, s, s.AccountSID, s.AuthToken, url.Values{"To": {"+14155550100"}, "From": {"+14155550199"}, "Body": {"one"}}); status != 201 {
		t.Fatal(status)
	}
	s.Fail(twiliotest.Fault{Accept: true, Drop: true})
	if _, err := send(t.Context(), s, url.Values{"To": {"+14155550100"}, "MessagingServiceSid": {"MG0123456789abcdef0123456789abcdef"}, "Body": {"two"}}); err == nil {
		t.Fatal("dropped request answered")
	}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, s.URL+"/2010-04-01/Accounts/"+s.AccountSID+"/Messages.json?To=%2B14155550100&PageSize=20", nil)
	req.SetBasicAuth(s.AccountSID, s.AuthToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("list answered %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	var page map[string]any
	if err := json.NewDecoder(res.Body).Decode(&page); err != nil {
		t.Fatal(err)
	}
	schema := list.Responses["200"].Content["application/json"].Schema
	if len(schema.Properties) == 0 {
		t.Fatal("ListMessageResponse not found in spec")
	}
	for name, prop := range schema.Properties {
		v, ok := page[name]
		if !ok {
			t.Errorf("list field %s missing", name)
			continue
		}
		switch {
		case v == nil:
			if !prop.Nullable {
				t.Errorf("list field %s is null", name)
			}
		case prop.Type == "integer":
			if _, ok := v.(float64); !ok {
				t.Errorf("list field %s = %#v, want a number", name, v)
			}
		case prop.Type == "string":
			if _, ok := v.(string); !ok {
				t.Errorf("list field %s = %#v, want a string", name, v)
			}
		case prop.Type == "array":
			if _, ok := v.([]any); !ok {
				t.Errorf("list field %s = %#v, want an array", name, v)
			}
		}
	}
	msgs, _ := page["messages"].([]any)
	if len(msgs) != 2 || page["page_size"] != float64(20) {
		t.Fatalf("list %v, want both messages, page_size 20", page)
	}
	for i, m := range msgs {
		checkMessage(t, spec, m.(map[string]any))
		if want := []string{"two", "one"}[i]; m.(map[string]any)["body"] != want {
			t.Errorf("message %d body %v, want %s (newest first)", i, m.(map[string]any)["body"], want)
		}
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

// send posts a create-message request with ctx and returns the answer's
// status, or the error when there was none.
func send(ctx context.Context, s *twiliotest.Server, form url.Values) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/2010-04-01/Accounts/"+s.AccountSID+"/Messages.json", strings.NewReader(form.Encode()))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(s.AccountSID, s.AuthToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	return res.StatusCode, nil
}

// listed returns the bodies GET Messages.json shows for to.
func listed(t *testing.T, s *twiliotest.Server, to string) []string {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, s.URL+"/2010-04-01/Accounts/"+s.AccountSID+"/Messages.json?"+url.Values{"To": {to}}.Encode(), nil)
	req.SetBasicAuth(s.AccountSID, s.AuthToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var page struct {
		Messages []struct {
			Body string `json:"body"`
		} `json:"messages"`
	}
	if err := json.NewDecoder(res.Body).Decode(&page); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range page.Messages {
		out = append(out, m.Body)
	}
	return out
}

func TestFaultModes(t *testing.T) {
	form := func(body string) url.Values {
		return url.Values{"To": {"+14155550100"}, "From": {"+14155550199"}, "Body": {body}}
	}
	for _, tc := range []struct {
		name    string
		fault   twiliotest.Fault
		timeout time.Duration // the client's; 0: none
		form    url.Values
		status  int  // 0: no answer
		created bool // the fake holds the message
		minTime time.Duration
	}{
		{"accept and drop", twiliotest.Fault{Accept: true, Drop: true}, 0, form("a"), 0, true, 0},
		{"accept, wait, drop", twiliotest.Fault{Accept: true, Drop: true, Latency: 100 * time.Millisecond}, 0, form("a"), 0, true, 100 * time.Millisecond},
		{"accept and hang", twiliotest.Fault{Accept: true, Hang: true}, 150 * time.Millisecond, form("a"), 0, true, 150 * time.Millisecond},
		{"accept and answer late", twiliotest.Fault{Accept: true, Latency: 150 * time.Millisecond}, 0, form("a"), 201, true, 150 * time.Millisecond},
		{"accept, client gives up first", twiliotest.Fault{Accept: true, Latency: 10 * time.Second}, 100 * time.Millisecond, form("a"), 0, true, 100 * time.Millisecond},
		{"accept and answer 500", twiliotest.Fault{Accept: true, Code: 20500, Status: 500}, 0, form("a"), 500, true, 0},
		{"accept and answer a proxy's 502", twiliotest.Fault{Accept: true, Status: 502, RawBody: "<html>"}, 0, form("a"), 502, true, 0},
		{"accept an invalid message", twiliotest.Fault{Accept: true}, 0, url.Values{"To": {"+14155550100"}, "Body": {"a"}}, 400, false, 0},
		{"accept an invalid message, drop", twiliotest.Fault{Accept: true, Drop: true}, 0, url.Values{"To": {"+14155550100"}, "Body": {"a"}}, 0, false, 0},
		{"drop before creating", twiliotest.Fault{Drop: true}, 0, form("a"), 0, false, 0},
		{"hang before creating", twiliotest.Fault{Hang: true}, 100 * time.Millisecond, form("a"), 0, false, 100 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := twiliotest.NewServer()
			defer s.Close()
			s.Fail(tc.fault)
			ctx := t.Context()
			// The clock starts before the deadline is set, so that a
			// scheduler's delay between the two cannot make the
			// answer look early.
			start := time.Now()
			if tc.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.timeout)
				defer cancel()
			}
			status, err := send(ctx, s, tc.form)
			if d := time.Since(start); d < tc.minTime || d > tc.minTime+5*time.Second {
				t.Errorf("answered after %v, want %v", d, tc.minTime)
			}
			if tc.status == 0 {
				if err == nil {
					t.Fatalf("got an answer %d, want none", status)
				}
				if tc.timeout > 0 && !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("want the client's deadline, got %v", err)
				}
			} else if err != nil || status != tc.status {
				t.Fatalf("got %d, %v; want %d", status, err, tc.status)
			}
			want := 0
			if tc.created {
				want = 1
			}
			if got := len(s.Messages()); got != want {
				t.Fatalf("fake holds %d messages, want %d", got, want)
			}
			if got := listed(t, s, "+14155550100"); len(got) != want {
				t.Fatalf("GET Messages.json lists %q, want %d", got, want)
			}
			if s.Attempts() != 1 {
				t.Fatalf("attempts %d", s.Attempts())
			}
			// The fault was used up.
			if status, err := send(t.Context(), s, form("b")); err != nil || status != 201 {
				t.Fatalf("next request: %d %v", status, err)
			}
		})
	}
}

// TestAcceptedListedWhileAnswerDelayed: the message is in the list before
// its answer leaves.
func TestAcceptedListedWhileAnswerDelayed(t *testing.T) {
	s := twiliotest.NewServer()
	defer s.Close()
	s.Fail(twiliotest.Fault{Accept: true, Latency: 2 * time.Second})
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() {
		_, err := send(ctx, s, url.Values{"To": {"+14155550100"}, "From": {"+14155550199"}, "Body": {"early"}})
		done <- err
	}()
	deadline := time.Now().Add(time.Second)
	for len(s.Messages()) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := listed(t, s, "+14155550100"); !slices.Equal(got, []string{"early"}) {
		t.Fatalf("listed %q while the answer is delayed", got)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled request: %v", err)
	}
	if len(s.Messages()) != 1 {
		t.Fatal("the message went away with the client")
	}
}

// TestCloseEndsHeldRequests: Close does not wait for a hanging fault's
// client.
func TestCloseEndsHeldRequests(t *testing.T) {
	s := twiliotest.NewServer(twiliotest.WithLatency(time.Hour))
	s.FailTo("+14155550101", twiliotest.Fault{Accept: true, Hang: true})
	errs := make(chan error, 2)
	for _, to := range []string{"+14155550100", "+14155550101"} {
		go func() {
			_, err := send(context.Background(), s, url.Values{"To": {to}, "From": {"+14155550199"}, "Body": {"x"}})
			errs <- err
		}()
	}
	deadline := time.Now().Add(2 * time.Second)
	for s.Attempts() < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	start := time.Now()
	s.Close()
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Close took %v", d)
	}
	for range 2 {
		if err := <-errs; err == nil {
			t.Error("a held request got an answer")
		}
	}
}

func TestFaultChecks(t *testing.T) {
	s := twiliotest.NewServer()
	defer s.Close()
	for _, f := range []twiliotest.Fault{{Hang: true, Drop: true}, {Latency: -time.Second}} {
		for name, call := range map[string]func(){
			"Fail":   func() { s.Fail(f) },
			"FailTo": func() { s.FailTo("+14155550100", f) },
		} {
			func() {
				defer func() {
					if r, _ := recover().(string); !strings.HasPrefix(r, "twiliotest: ") {
						t.Errorf("%s(%+v) did not panic with a message: %v", name, f, r)
					}
				}()
				call()
			}()
		}
	}
}
