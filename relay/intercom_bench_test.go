package relay_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/smsrelay/smsrelay/intercom"
	"github.com/smsrelay/smsrelay/intercom/intercomtest"
)

// BenchmarkIntercomHandler measures the Intercom webhook path: bounded
// read, signature check, parse, de-duplicated durable enqueue into
// memstore, answer. The notification is the fake's own
// conversation.admin.replied for a conversation the relay carries, with a
// new notification id each time.
func BenchmarkIntercomHandler(b *testing.B) {
	h := newHarness(b, nil, nil)
	h.text(customer, "Hi")
	h.drain()
	c := h.onlyConversation()
	h.reply(c.ID, "Hello there")
	h.drain()
	ds := h.ic.Deliveries()
	if len(ds) == 0 {
		b.Fatal("the fake delivered no notification")
	}
	var n map[string]any
	if err := json.Unmarshal(ds[len(ds)-1].Body, &n); err != nil {
		b.Fatal(err)
	}
	handler := h.r.IntercomHandler()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		n["id"] = fmt.Sprintf("notif_bench_%d", i)
		body, err := json.Marshal(n)
		if err != nil {
			b.Fatal(err)
		}
		req := httptest.NewRequest(http.MethodPost, h.webhookURL(), bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(intercom.SignatureHeader, intercomtest.Sign(body, h.ic.ClientSecret))
		rec := httptest.NewRecorder()
		b.StartTimer()
		handler.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}
