package twiliotest_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smsrelay/smsrelay/twiliosms"
	"github.com/smsrelay/smsrelay/twiliosms/twiliotest"
)

// get sends an authenticated GET to the fake and decodes the JSON answer.
func get(t *testing.T, s *twiliotest.Server, uri string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, s.URL+uri, nil)
	req.SetBasicAuth(s.AccountSID, s.AuthToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(res.Body).Decode(&body)
	return res.StatusCode, body
}

// TestHistoryListPagesMatchSpec walks a seeded log by next_page_uri, as
// twilio-go does, and checks every page and message against the spec.
func TestHistoryListPagesMatchSpec(t *testing.T) {
	spec := loadMessageSpec(t)
	s := twiliotest.NewServer()
	defer s.Close()
	base := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	var log []twiliotest.LogMessage
	for i := range 7 {
		m := twiliotest.LogMessage{From: "+14155550123", To: "+14155550100", Body: "in", Direction: twiliosms.DirectionInbound, DateSent: base.Add(time.Duration(i) * time.Hour)}
		if i%2 == 1 {
			m.From, m.To, m.Body, m.Direction = "+14155550100", "+14155550123", "out", twiliosms.DirectionOutboundReply
		}
		log = append(log, m)
	}
	sids := s.AddHistory(log...)
	schema := spec.operation(t, messagesPathSpec, "get").Responses["200"].Content["application/json"].Schema

	q := url.Values{"To": {"+14155550100"}, "DateSent>": {base.Add(time.Hour).Format(time.RFC3339)}, "PageSize": {"2"}}
	uri := "/2010-04-01/Accounts/" + s.AccountSID + "/Messages.json?" + q.Encode()
	var got []string
	for page := 0; uri != ""; page++ {
		status, body := get(t, s, uri)
		if status != 200 {
			t.Fatalf("page %d: %d %v", page, status, body)
		}
		for name := range schema.Properties {
			if _, ok := body[name]; !ok {
				t.Errorf("page %d lacks %s", page, name)
			}
		}
		if body["page"] != float64(page) || body["page_size"] != float64(2) {
			t.Errorf("page %d says page %v page_size %v", page, body["page"], body["page_size"])
		}
		for _, m := range body["messages"].([]any) {
			checkMessage(t, spec, m.(map[string]any))
			got = append(got, m.(map[string]any)["sid"].(string))
		}
		uri = ""
		if next, ok := body["next_page_uri"].(string); ok {
			nu, _ := url.Parse(next)
			if nu.Query().Get("PageToken") == "" || nu.Query().Get("To") != "+14155550100" || nu.Query().Get("DateSent>") == "" {
				t.Fatalf("next_page_uri %q lacks the token or the filters", next)
			}
			uri = next
		}
	}
	// Inbound texts (even i) from 1h on: 6h, 4h, 2h, newest first.
	if want := []string{sids[6], sids[4], sids[2]}; !slices.Equal(got, want) {
		t.Errorf("listed %v, want %v", got, want)
	}

	for _, bad := range []string{"DateSent%3E=yesterday", "PageToken=XX", "Page=2", "PageToken=PAnope"} {
		if status, _ := get(t, s, "/2010-04-01/Accounts/"+s.AccountSID+"/Messages.json?"+bad); status != 400 {
			t.Errorf("%s answered %d, want 400", bad, status)
		}
	}
	// A date filter is on whole days.
	if _, body := get(t, s, "/2010-04-01/Accounts/"+s.AccountSID+"/Messages.json?DateSent=2026-11-02"); len(body["messages"].([]any)) != 7 {
		t.Errorf("DateSent=2026-11-02 listed %d messages, want 7", len(body["messages"].([]any)))
	}
	if _, body := get(t, s, "/2010-04-01/Accounts/"+s.AccountSID+"/Messages.json?DateSent%3C=2026-11-01"); len(body["messages"].([]any)) != 0 {
		t.Errorf("DateSent<=2026-11-01 listed %d messages, want none", len(body["messages"].([]any)))
	}
}

// TestHistoryFailedMessagesCarryTheirErrorCode: as the spec describes
// error_code, a failed or undelivered message of the log carries Twilio's
// code (and error_message), and others carry null; AddHistory refuses a
// failed message without a code.
func TestHistoryFailedMessagesCarryTheirErrorCode(t *testing.T) {
	spec := loadMessageSpec(t)
	s := twiliotest.NewServer()
	defer s.Close()
	at := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	sids := s.AddHistory(
		twiliotest.LogMessage{From: "+14155550100", To: "+14155550123", Body: "lost", Direction: twiliosms.DirectionOutboundAPI, DateSent: at,
			Status: twiliosms.StatusUndelivered, ErrorCode: twiliosms.CodeUnknownHandset},
		twiliotest.LogMessage{From: "+14155550100", To: "+14155550123", Body: "arrived", Direction: twiliosms.DirectionOutboundAPI, DateSent: at.Add(time.Minute)},
	)
	_, body := get(t, s, "/2010-04-01/Accounts/"+s.AccountSID+"/Messages.json")
	byID := map[string]map[string]any{}
	for _, m := range body["messages"].([]any) {
		checkMessage(t, spec, m.(map[string]any))
		byID[m.(map[string]any)["sid"].(string)] = m.(map[string]any)
	}
	if m := byID[sids[0]]; m["error_code"] != float64(twiliosms.CodeUnknownHandset) || m["error_message"] == nil {
		t.Errorf("undelivered message: error_code %v, error_message %v; want %d and its description", m["error_code"], m["error_message"], twiliosms.CodeUnknownHandset)
	}
	if m := byID[sids[1]]; m["error_code"] != nil || m["error_message"] != nil {
		t.Errorf("delivered message: error_code %v, error_message %v; want null", m["error_code"], m["error_message"])
	}
	for _, m := range []twiliotest.LogMessage{
		{From: "+14155550100", To: "+14155550123", Direction: twiliosms.DirectionOutboundAPI, DateSent: at, Status: twiliosms.StatusFailed},
		{From: "+14155550100", To: "+14155550123", Direction: twiliosms.DirectionOutboundAPI, DateSent: at, ErrorCode: twiliosms.CodeFiltered},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("AddHistory took status %q with error code %d", m.Status, m.ErrorCode)
				}
			}()
			s.AddHistory(m)
		}()
	}
}

// TestMediaListMatchesSpec checks GET .../Messages/{sid}/Media.json
// against the spec, and what twiliosms.Client.MessageMedia makes of it.
func TestMediaListMatchesSpec(t *testing.T) {
	spec := loadMessageSpec(t)
	const mediaPath = "/2010-04-01/Accounts/{AccountSid}/Messages/{MessageSid}/Media.json"
	if _, ok := spec.Paths[mediaPath]; !ok {
		t.Fatalf("%s not in the spec", mediaPath)
	}
	op := spec.operation(t, mediaPath, "get")
	s := twiliotest.NewServer()
	defer s.Close()
	sids := s.AddHistory(twiliotest.LogMessage{From: "+14155550123", To: "+14155550100", Direction: twiliosms.DirectionInbound,
		DateSent: time.Now(), MediaURLs: []string{"https://m.example/a.jpg", "https://m.example/b.png"}})
	status, body := get(t, s, "/2010-04-01/Accounts/"+s.AccountSID+"/Messages/"+sids[0]+"/Media.json?PageSize=10")
	if status != 200 {
		t.Fatalf("media list answered %d", status)
	}
	for name := range op.Responses["200"].Content["application/json"].Schema.Properties {
		if _, ok := body[name]; !ok {
			t.Errorf("media list lacks %s", name)
		}
	}
	item := spec.Components.Schemas["api.v2010.account.message.media"]
	list := body["media_list"].([]any)
	if len(list) != 2 {
		t.Fatalf("media_list %v", list)
	}
	for _, m := range list {
		for name := range item.Properties {
			if _, ok := m.(map[string]any)[name]; !ok {
				t.Errorf("media lacks %s", name)
			}
		}
	}
	c, _ := twiliosms.NewClient(s.AccountSID, s.AuthToken, twiliosms.WithBaseURL(s.URL))
	media, err := c.MessageMedia(t.Context(), sids[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(media) != 2 || media[0].ContentType != "image/jpeg" || media[1].ContentType != "image/png" ||
		!strings.HasPrefix(media[0].URL, s.URL+"/2010-04-01/Accounts/"+s.AccountSID+"/Messages/"+sids[0]+"/Media/ME") || strings.HasSuffix(media[0].URL, ".json") {
		t.Errorf("MessageMedia = %+v", media)
	}
	if _, err := c.MessageMedia(t.Context(), "SM0123456789abcdef0123456789abcdef"); err == nil {
		t.Error("media of a message the log does not have")
	}
	if _, err := c.MessageMedia(t.Context(), "nope"); err == nil {
		t.Error("a bad SID was taken")
	}
}
