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
	"github.com/smsrelay/smsrelay/twiliosms/twiliotest"
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
	ic := intercomtest.NewServer()
	defer ic.Close()
	tw := twiliotest.NewServer()
	defer tw.Close()

	env := map[string]string{
		"SMSRELAY_ADDR":          "127.0.0.1:0",
		"INTERCOM_ACCESS_TOKEN":  ic.Token,
		"INTERCOM_CLIENT_SECRET": ic.ClientSecret,
		"INTERCOM_ADMIN_ID":      "991267999",
		"INTERCOM_BASE_URL":      ic.URL,
		"TWILIO_ACCOUNT_SID":     tw.AccountSID,
		"TWILIO_AUTH_TOKEN":      tw.AuthToken,
		"TWILIO_BASE_URL":        tw.URL,
		// Signatures are checked against the public URL, which a proxy
		// would serve; requests below are signed for it and sent to the
		// listening address.
		"SMSRELAY_PUBLIC_URL": "https://sms.example.com",
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, func(k string) string { return env[k] }, slog.New(slog.DiscardHandler), ready)
	}()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("server did not start: %v", err)
	}
	base := "http://" + addr

	resp, err := http.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.TrimSpace(string(b)) != "ok" {
		t.Fatalf("healthz = %d %q", resp.StatusCode, b)
	}

	// Customer → Intercom.
	form := twiliotest.InboundForm("+14155550123", "+14155550100", "Hello from the server test")
	req, err := twiliotest.NewRequest(ctx, tw.AuthToken, "https://sms.example.com/twilio/messages", form)
	if err != nil {
		t.Fatal(err)
	}
	req.URL.Scheme, req.URL.Host, req.Host = "http", addr, addr
	status, body, err := twiliotest.Do(http.DefaultClient, req)
	if err != nil || status != 200 || !strings.Contains(string(body), "<Response/>") {
		t.Fatalf("inbound webhook: %d %q %v", status, body, err)
	}
	conv := waitConversation(t, ic)

	// Agent → customer. Intercom posts to the public URL; here straight to
	// the listener.
	if _, status, err := ic.AdminReply(ctx, base+"/intercom/webhooks", conv, "991267001", "Hi from the agent"); err != nil || status != 200 {
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

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run returned %v after shutdown", err)
		}
	case <-time.After(40 * time.Second):
		t.Fatal("server did not shut down")
	}
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
