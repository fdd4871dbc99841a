package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/smsrelay/smsrelay/intercom/intercomtest"
)

func TestAdminMessages(t *testing.T) {
	t.Parallel()
	s := startServer(t, map[string]string{"SMSRELAY_ADMIN_TOKEN": "s3cret-admin-token", "SMSRELAY_DEFAULT_FROM": "+14155550100"})
	base, tw := s.base, s.tw

	post := func(token, contentType, body string) (int, map[string]any) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, base+"/admin/messages", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		req.Header.Set("Content-Type", contentType)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		b, _ := io.ReadAll(resp.Body)
		if err := json.Unmarshal(b, &out); err != nil {
			t.Errorf("answer %d %q is not JSON", resp.StatusCode, b)
		}
		return resp.StatusCode, out
	}
	const js = "application/json"
	body := `{"to": "+14155550123", "body": "Your order has shipped.", "idempotency_key": "o-1"}`
	if status, out := post("", js, body); status != 401 || out["error"] == nil {
		t.Errorf("without a token: %d %v, want 401 with an error", status, out)
	}
	if status, _ := post("wrong", js, body); status != 401 {
		t.Errorf("with a wrong token: %d, want 401", status)
	}
	status, out := post("s3cret-admin-token", js, body)
	if status != 200 || !strings.HasPrefix(out["sid"].(string), "SM") || out["segments"] != 1.0 || out["encoding"] != "GSM-7" {
		t.Fatalf("send: %d %v", status, out)
	}
	if status, again := post("s3cret-admin-token", js, body); status != 200 || again["sid"] != out["sid"] || len(tw.Messages()) != 1 {
		t.Errorf("repeat: %d %v, %d texts; want the same sid, one text", status, again, len(tw.Messages()))
	}
	if m := tw.Messages()[0]; m.From != "+14155550100" || m.To != "+14155550123" {
		t.Errorf("sent %+v, want from SMSRELAY_DEFAULT_FROM", m)
	}
	for _, tc := range []struct {
		ct, body string
		want     int
	}{
		{js, `{"to": "12", "body": "x"}`, 400},
		{js, `{"to": "+14155550123", "body": " "}`, 400},
		{js, `{"to": "+14155550123"`, 400},
		{js, `{"to": "+14155550123", "body": "x", "extra": 1}`, 400},
		{"text/plain", body, 415},
		{js, `{"to": "+14155550123", "body": "` + strings.Repeat("x", 70<<10) + `"}`, 413},
	} {
		if status, out := post("s3cret-admin-token", tc.ct, tc.body); status != tc.want || out["error"] == nil {
			t.Errorf("%s %.60q: %d %v, want %d with an error", tc.ct, tc.body, status, out, tc.want)
		}
	}
	// A customer who opted out: 409.
	s.text(t, "+14155550123", "STOP")
	deadline := time.Now().Add(10 * time.Second)
	for {
		status, out := post("s3cret-admin-token", js, `{"to": "+14155550123", "body": "Sale!"}`)
		if status == 409 {
			break
		}
		if status != 200 || time.Now().After(deadline) {
			t.Fatalf("after STOP: %d %v, want 409", status, out)
		}
		time.Sleep(20 * time.Millisecond) // the STOP is still queued
	}
}

func TestAdminMessagesNotMountedWithoutToken(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	base, tw := s.base, s.tw
	resp, err := http.Post(base+"/admin/messages", "application/json", bytes.NewReader([]byte(`{"to":"+14155550123","body":"x"}`)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || len(tw.Messages()) != 0 {
		t.Errorf("POST /admin/messages without SMSRELAY_ADMIN_TOKEN: %d, want 404 and nothing sent", resp.StatusCode)
	}
}

func TestInboxAppIsMounted(t *testing.T) {
	t.Parallel()
	s := startServer(t, map[string]string{"SMSRELAY_DEFAULT_FROM": "+14155550100"})
	base, ic, tw := s.base, s.ic, s.tw
	ct, err := ic.AddContact(intercomtest.Contact{Role: "user", Phone: "+14155550123"})
	if err != nil {
		t.Fatal(err)
	}
	conv, err := ic.StartConversation(ct.ID, "Hi from the web")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	status, canvas, err := ic.CanvasInitialize(ctx, base+"/intercom/canvas/initialize", conv.ID, "991267001")
	if err != nil || status != 200 || len(canvas.Content.Components) == 0 {
		t.Fatalf("initialize: %d %v", status, err)
	}
	status, answer, err := ic.CanvasSubmit(ctx, base+"/intercom/canvas/submit", conv.ID, "991267001", "send", map[string]string{"message": "Hello by SMS"}, canvas)
	if err != nil || status != 200 || answer.Content.Components[0].Text != "Sending by SMS" {
		t.Fatalf("submit: %d %v", status, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(tw.Messages()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the text never reached Twilio")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if m := tw.Messages()[0]; m.Body != "Hello by SMS" || m.From != "+14155550100" {
		t.Errorf("sent %+v", m)
	}
}
