package twiliosms_test

import (
	"errors"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/smsrelay/smsrelay/twiliosms"
	"github.com/smsrelay/smsrelay/twiliosms/twiliotest"
)

const (
	msgSID = "SM0123456789abcdef0123456789abcdef"
	accSID = "AC0123456789abcdef0123456789abcdef"
)

func inboundForm() url.Values {
	return url.Values{
		"MessageSid": {msgSID}, "SmsSid": {msgSID}, "AccountSid": {accSID},
		"From": {"+14155550100"}, "To": {"+14155550199"}, "Body": {"Hello"},
		"NumMedia": {"0"}, "NumSegments": {"1"}, "ApiVersion": {"2010-04-01"}, "FromCity": {"SAN FRANCISCO"},
	}
}

func TestParseInbound(t *testing.T) {
	edit := func(f func(url.Values)) url.Values { v := inboundForm(); f(v); return v }
	for _, tc := range []struct {
		name string
		form url.Values
		want *twiliosms.Inbound
		err  string
	}{
		{"plain", inboundForm(), &twiliosms.Inbound{MessageSID: msgSID, AccountSID: accSID, From: "+14155550100", To: "+14155550199", Body: "Hello", NumSegments: 1}, ""},
		{"media", edit(func(v url.Values) {
			v.Set("MessageSid", "MM0123456789abcdef0123456789abcdef")
			v.Set("NumMedia", "2")
			v.Set("MediaUrl0", "https://api.twilio.com/m/0")
			v.Set("MediaContentType0", "image/jpeg")
			v.Set("MediaUrl1", "https://api.twilio.com/m/1")
			v.Set("MediaContentType1", "video/mp4")
			v.Set("Body", "")
		}), &twiliosms.Inbound{MessageSID: "MM0123456789abcdef0123456789abcdef", AccountSID: accSID, From: "+14155550100", To: "+14155550199", NumMedia: 2, NumSegments: 1,
			Media: []twiliosms.Media{{URL: "https://api.twilio.com/m/0", ContentType: "image/jpeg"}, {URL: "https://api.twilio.com/m/1", ContentType: "video/mp4"}}}, ""},
		{"opt out via service", edit(func(v url.Values) {
			v.Set("OptOutType", "STOP")
			v.Set("MessagingServiceSid", serviceSID)
			v.Set("Body", "stop")
		}), &twiliosms.Inbound{MessageSID: msgSID, AccountSID: accSID, MessagingServiceSID: serviceSID, From: "+14155550100", To: "+14155550199", Body: "stop", OptOutType: "STOP", NumSegments: 1}, ""},
		{"whatsapp, no counts", edit(func(v url.Values) {
			v.Set("From", "whatsapp:+447700900123")
			v.Del("NumMedia")
			v.Del("NumSegments")
		}), &twiliosms.Inbound{MessageSID: msgSID, AccountSID: accSID, From: "whatsapp:+447700900123", To: "+14155550199", Body: "Hello"}, ""},
		{"nil", nil, nil, "no form"},
		{"no sid", edit(func(v url.Values) { v.Del("MessageSid") }), nil, "MessageSid is missing"},
		{"bad sid", edit(func(v url.Values) { v.Set("MessageSid", "SM12") }), nil, "MessageSid"},
		{"bad account", edit(func(v url.Values) { v.Set("AccountSid", "SK0123456789abcdef0123456789abcdef") }), nil, "AccountSid"},
		{"no account", edit(func(v url.Values) { v.Del("AccountSid") }), nil, "AccountSid is missing"},
		{"no from", edit(func(v url.Values) { v.Del("From") }), nil, "From is missing"},
		{"no to", edit(func(v url.Values) { v.Set("To", "") }), nil, "To is missing"},
		{"repeated from", edit(func(v url.Values) { v.Add("From", "+14155550101") }), nil, "From given 2 times"},
		{"bad service", edit(func(v url.Values) { v.Set("MessagingServiceSid", "MGxyz") }), nil, "MessagingServiceSid"},
		{"NumMedia words", edit(func(v url.Values) { v.Set("NumMedia", "two") }), nil, "NumMedia"},
		{"NumMedia negative", edit(func(v url.Values) { v.Set("NumMedia", "-1") }), nil, "NumMedia"},
		{"NumMedia 11", edit(func(v url.Values) { v.Set("NumMedia", "11") }), nil, "0 to 10"},
		{"media missing", edit(func(v url.Values) { v.Set("NumMedia", "1") }), nil, "MediaUrl0 is missing"},
		{"media not URL", edit(func(v url.Values) { v.Set("NumMedia", "1"); v.Set("MediaUrl0", "file:///etc/passwd") }), nil, "MediaUrl0"},
		{"media beyond count", edit(func(v url.Values) { v.Set("MediaUrl0", "https://x.example/a") }), nil, "NumMedia is 0"},
		{"NumSegments bad", edit(func(v url.Values) { v.Set("NumSegments", "1.5") }), nil, "NumSegments"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := twiliosms.ParseInbound(tc.form)
			if tc.err != "" {
				if !errors.Is(err, twiliosms.ErrInvalidWebhook) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("want ErrInvalidWebhook mentioning %q, got %v", tc.err, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestParseInboundTenMedia(t *testing.T) {
	var media []twiliosms.Media
	for i := range 10 {
		media = append(media, twiliosms.Media{URL: "https://m.example/" + strconv.Itoa(i), ContentType: "image/png"})
	}
	in, err := twiliosms.ParseInbound(twiliotest.InboundForm("+14155550100", "+14155550199", "", media...))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in.Media, media) || in.NumMedia != 10 {
		t.Fatalf("media %+v", in.Media)
	}
}

func TestParseStatus(t *testing.T) {
	base := func() url.Values {
		return url.Values{"MessageSid": {msgSID}, "SmsSid": {msgSID}, "MessageStatus": {"delivered"}, "SmsStatus": {"delivered"},
			"AccountSid": {accSID}, "From": {"+14155550199"}, "To": {"+14155550100"}, "ApiVersion": {"2010-04-01"}, "RawDlrDoneDate": {"2401011200"}}
	}
	edit := func(f func(url.Values)) url.Values { v := base(); f(v); return v }
	for _, tc := range []struct {
		name string
		form url.Values
		want *twiliosms.Status
		err  string
	}{
		{"delivered", base(), &twiliosms.Status{MessageSID: msgSID, AccountSID: accSID, MessageStatus: "delivered", From: "+14155550199", To: "+14155550100"}, ""},
		{"undelivered", edit(func(v url.Values) {
			v.Set("MessageStatus", "undelivered")
			v.Set("ErrorCode", "30007")
			v.Set("ErrorMessage", "Message filtered")
			v.Set("MessagingServiceSid", serviceSID)
		}), &twiliosms.Status{MessageSID: msgSID, AccountSID: accSID, MessagingServiceSID: serviceSID, MessageStatus: "undelivered", From: "+14155550199", To: "+14155550100", ErrorCode: 30007, ErrorMessage: "Message filtered"}, ""},
		{"minimal", twiliotest.StatusForm(msgSID, "sent", 0), &twiliosms.Status{MessageSID: msgSID, AccountSID: twiliotest.DefaultAccountSID, MessageStatus: "sent"}, ""},
		{"new status kept", edit(func(v url.Values) { v.Set("MessageStatus", "partially_delivered") }), &twiliosms.Status{MessageSID: msgSID, AccountSID: accSID, MessageStatus: "partially_delivered", From: "+14155550199", To: "+14155550100"}, ""},
		{"nil", nil, nil, "no form"},
		{"no status", edit(func(v url.Values) { v.Del("MessageStatus") }), nil, "MessageStatus is missing"},
		{"odd status", edit(func(v url.Values) { v.Set("MessageStatus", "<script>") }), nil, "MessageStatus"},
		{"no sid", edit(func(v url.Values) { v.Del("MessageSid") }), nil, "MessageSid is missing"},
		{"no account", edit(func(v url.Values) { v.Del("AccountSid") }), nil, "AccountSid is missing"},
		{"bad code", edit(func(v url.Values) { v.Set("ErrorCode", "abc") }), nil, "ErrorCode"},
		{"negative code", edit(func(v url.Values) { v.Set("ErrorCode", "-5") }), nil, "ErrorCode"},
		{"two statuses", edit(func(v url.Values) { v.Add("MessageStatus", "sent") }), nil, "given 2 times"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := twiliosms.ParseStatus(tc.form)
			if tc.err != "" {
				if !errors.Is(err, twiliosms.ErrInvalidWebhook) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("want ErrInvalidWebhook mentioning %q, got %v", tc.err, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}
