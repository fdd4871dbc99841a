package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/smsrelay/smsrelay/intercom/intercomtest"
)

func TestRefusesToStartWithOneLinePerProblem(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"SMSRELAY_ADDR":                "nonsense",
		"SMSRELAY_STORE_URL":           "mysql://x",
		"INTERCOM_RATE_LIMIT":          "lots",
		"INTERCOM_BASE_URL":            "ftp://example.com",
		"TWILIO_MESSAGING_SERVICE_SID": "zz",
		"SMSRELAY_ADMIN_TOKEN":         "short",
	}
	err := run(context.Background(), func(k string) string { return env[k] }, slog.New(slog.DiscardHandler), nil)
	if err == nil {
		t.Fatal("run started with a broken environment")
	}
	lines := strings.Split(err.Error(), "\n")
	for _, want := range []string{
		"SMSRELAY_PUBLIC_URL is required", "INTERCOM_ACCESS_TOKEN is required", "INTERCOM_CLIENT_SECRET is required",
		"INTERCOM_ADMIN_ID is required", "TWILIO_ACCOUNT_SID is required", "TWILIO_AUTH_TOKEN is required",
		"SMSRELAY_ADDR", "SMSRELAY_STORE_URL", "INTERCOM_RATE_LIMIT", "INTERCOM_BASE_URL", "TWILIO_MESSAGING_SERVICE_SID",
		"SMSRELAY_ADMIN_TOKEN",
	} {
		found := 0
		for _, l := range lines {
			if strings.Contains(l, want) {
				found++
			}
		}
		if found != 1 {
			t.Errorf("%q appears on %d lines of\n%s", want, found, err)
		}
	}
}

func TestMalformedTwilioCredentialsAreReportedWithTheRest(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"SMSRELAY_PUBLIC_URL": "https://sms.example.com", "INTERCOM_ACCESS_TOKEN": "t", "INTERCOM_CLIENT_SECRET": "s",
		"INTERCOM_ADMIN_ID": "1", "TWILIO_ACCOUNT_SID": "xx", "TWILIO_AUTH_TOKEN": "bad token!",
		"INTERCOM_RATE_LIMIT": "0",
	}
	err := run(context.Background(), func(k string) string { return env[k] }, slog.New(slog.DiscardHandler), nil)
	if err == nil || !strings.Contains(err.Error(), "TWILIO_ACCOUNT_SID") || !strings.Contains(err.Error(), "INTERCOM_RATE_LIMIT") {
		t.Fatalf("err = %v, want both the Twilio credentials and the rate limit reported", err)
	}
}

func TestServerRelaysBothWays(t *testing.T) {
	t.Parallel()
	// Signatures are checked against the public URL, which a proxy would
	// serve; requests below are signed for it and sent to the listening
	// address.
	s := startServer(t, nil)
	ic, tw := s.ic, s.tw

	resp, err := http.Get(s.base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.TrimSpace(string(b)) != "ok" {
		t.Fatalf("healthz = %d %q", resp.StatusCode, b)
	}

	// Customer → Intercom.
	s.text(t, "+14155550123", "Hello from the server test")
	conv := waitConversation(t, ic)

	// Agent → customer. Intercom posts to the public URL; here straight to
	// the listener.
	if _, status, err := ic.AdminReply(t.Context(), s.base+"/intercom/webhooks", conv, "991267001", "Hi from the agent"); err != nil || status != 200 {
		t.Fatalf("reply webhook: %d %v", status, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(tw.Messages()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the reply never reached Twilio")
		}
		time.Sleep(10 * time.Millisecond)
	}
	m := tw.Messages()[0]
	if m.To != "+14155550123" || m.From != "+14155550100" || m.Body != "Hi from the agent" {
		t.Errorf("sent %+v", m)
	}
	if m.StatusCallback != "https://sms.example.com/twilio/status" {
		t.Errorf("status callback = %q", m.StatusCallback)
	}
	// startServer's clean-up checks that the server shuts down cleanly.
}

func waitConversation(t *testing.T, ic *intercomtest.Server) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if cs := ic.Conversations(); len(cs) == 1 {
			return cs[0].ID
		}
		if time.Now().After(deadline) {
			t.Fatal("no conversation appeared in Intercom")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
