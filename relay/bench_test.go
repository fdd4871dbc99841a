package relay_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/smsrelay/smsrelay/relay"
	"github.com/smsrelay/smsrelay/twiliosms/twiliotest"
)

// BenchmarkTwilioHandler measures the inbound webhook path: bounded read,
// signature check, parse, normalise, de-duplicated durable enqueue into
// memstore, TwiML answer.
func BenchmarkTwilioHandler(b *testing.B) {
	h := newHarness(b, nil, nil)
	handler := h.r.TwilioHandler()
	url := h.srv.URL + "/twilio/messages"
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		form := twiliotest.InboundForm(fmt.Sprintf("+1415555%04d", i%10000), ourNumber, "Where is my order?")
		body := form.Encode()
		sig := twiliotest.Sign(h.token, url, form)
		req := httptest.NewRequest(http.MethodPost, url, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Twilio-Signature", sig)
		rec := httptest.NewRecorder()
		b.StartTimer()
		handler.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d", rec.Code)
		}
	}
}

func BenchmarkSMSText(b *testing.B) {
	body := `<p>Hi Ann,</p><p>Thanks for waiting. Your parcel <b>ships today</b>; track it <a href="https://example.com/t/1234">here</a>.</p><ul><li>Order 1234</li><li>2 items</li></ul><p>Best,<br>The team</p>`
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		relay.SMSText(body)
	}
}
