package main

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/smsrelay/smsrelay/intercom/intercomtest"
	"github.com/smsrelay/smsrelay/twiliosms/twiliotest"
)

// baseEnv is a complete environment with placeholder credentials.
func baseEnv() map[string]string {
	return map[string]string{
		"SMSRELAY_ADDR": "127.0.0.1:0", "SMSRELAY_PUBLIC_URL": "https://sms.example.com",
		"INTERCOM_ACCESS_TOKEN": "t", "INTERCOM_CLIENT_SECRET": "s", "INTERCOM_ADMIN_ID": "1",
		"TWILIO_ACCOUNT_SID": "AC0123456789abcdef0123456789abcdef", "TWILIO_AUTH_TOKEN": "0123456789abcdef0123456789abcdef",
	}
}

func runEnv(t *testing.T, env map[string]string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	return run(ctx, func(k string) string { return env[k] }, slog.New(slog.DiscardHandler), nil)
}

func TestOptionsAreValidatedOneLinePerProblem(t *testing.T) {
	t.Parallel()
	env := baseEnv()
	bad := map[string]string{
		"SMSRELAY_ROUTES":         "nonsense",
		"SMSRELAY_DEFAULT_ROUTE":  `{"team": "1"}`,
		"SMSRELAY_REOPEN":         "maybe",
		"SMSRELAY_IDLE_TIMEOUT":   "-1s",
		"SMSRELAY_DEFAULT_REGION": "USA",
		"SMSRELAY_WORKERS":        "0",
		"SMSRELAY_MAX_ATTEMPTS":   "many",
		"SMSRELAY_LEASE":          "soon",
		"SMSRELAY_RETRY_BASE":     "0s",
		"SMSRELAY_RETRY_MAX":      "1",
		"SMSRELAY_DRAIN_TIMEOUT":  "0",
		"SMSRELAY_LOG_LEVEL":      "loud",
		"SMSRELAY_LOG_FORMAT":     "xml",
		"SMSRELAY_STORE_URL":      "postgres:/db.example.com/relay",
	}
	for k, v := range bad {
		env[k] = v
	}
	err := runEnv(t, env)
	if err == nil {
		t.Fatal("run started with a broken environment")
	}
	lines := strings.Split(err.Error(), "\n")
	for name := range bad {
		found := 0
		for _, l := range lines {
			if strings.Contains(l, name+" ") || strings.Contains(l, name+":") {
				found++
			}
		}
		if found != 1 {
			t.Errorf("%s appears on %d lines of\n%s", name, found, err)
		}
	}
	if !strings.Contains(err.Error(), "a slash is missing") {
		t.Errorf("postgres:/host is not reported as a missing slash:\n%s", err)
	}
}

func TestRelayConfigProblemsComeOneLineEach(t *testing.T) {
	t.Parallel()
	env := baseEnv()
	env["SMSRELAY_ROUTES"] = `{"not a number": {"team_id": "1"}, "+1 nope": {"admin_id": "2"}}`
	env["SMSRELAY_RETRY_BASE"] = "1h"
	env["SMSRELAY_RETRY_MAX"] = "1m"
	err := runEnv(t, env)
	if err == nil {
		t.Fatal("run started with bad routes")
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 4 || !strings.Contains(err.Error(), "not a number") || !strings.Contains(err.Error(), "RetryBase") {
		t.Errorf("want a heading and three problem lines, got:\n%s", err)
	}
}

func TestRefusedPostgresIsNotAMigrationFailure(t *testing.T) {
	t.Parallel()
	env := baseEnv()
	env["SMSRELAY_STORE_URL"] = "postgres://postgres@127.0.0.1:1/test?sslmode=disable&connect_timeout=5"
	err := runEnv(t, env)
	if err == nil || !strings.Contains(err.Error(), "reaching PostgreSQL") || strings.Contains(err.Error(), "migrat") {
		t.Errorf("err = %v, want it to say PostgreSQL could not be reached", err)
	}
}

func TestRedissAgainstAPlainServerSaysSo(t *testing.T) {
	t.Parallel()
	plain := os.Getenv("SMSRELAY_TEST_REDIS_URL")
	if plain == "" {
		t.Skip("SMSRELAY_TEST_REDIS_URL is not set")
	}
	env := baseEnv()
	env["SMSRELAY_STORE_URL"] = strings.Replace(plain, "redis://", "rediss://", 1)
	err := runEnv(t, env)
	if err == nil || !strings.Contains(err.Error(), "over TLS") {
		t.Errorf("err = %v, want it to say the server gave no TLS answer", err)
	}
}

func TestShutdownAbandoningJobsOfTheMemoryStoreFails(t *testing.T) {
	t.Parallel()
	fakes, env := fakeEnv(t)
	ic, tw := fakes.IC, fakes.TW
	if err := ic.Fail("POST", "/contacts/search", intercomtest.Fault{Status: 503}); err != nil {
		t.Fatal(err)
	}
	env["SMSRELAY_RETRY_BASE"], env["SMSRELAY_RETRY_MAX"] = "1h", "2h"
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, func(k string) string { return env[k] }, slog.New(slog.DiscardHandler), ready)
	}()
	s := &testServer{base: "http://" + <-ready, ic: ic, tw: tw}
	s.text(t, "+14155550123", "Hello")
	// Wait until the job has failed once and waits for its retry.
	deadline := time.Now().Add(10 * time.Second)
	for len(ic.Requests()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the job never reached Intercom")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	err := <-done
	if err == nil || !strings.Contains(err.Error(), "abandoning 1 jobs") {
		t.Errorf("run = %v, want it to say one job was abandoned", err)
	}
}

func TestRotationAcceptsEveryListedSecret(t *testing.T) {
	t.Parallel()
	const older = "fedcba9876543210fedcba9876543210"
	// A server whose Twilio token list has the fake's token second still
	// verifies what the fake signs.
	ts := startServerWith(t, func(env map[string]string) {
		env["TWILIO_AUTH_TOKEN"] = env["TWILIO_AUTH_TOKEN"] + "," + older
		env["INTERCOM_CLIENT_SECRET"] = "new-secret-not-yet-used," + env["INTERCOM_CLIENT_SECRET"]
	})
	form := twiliotest.InboundForm("+14155550123", "+14155550100", "signed with the older token")
	req, err := twiliotest.NewRequest(t.Context(), older, "https://sms.example.com/twilio/messages", form)
	if err != nil {
		t.Fatal(err)
	}
	host := strings.TrimPrefix(ts.base, "http://")
	req.URL.Scheme, req.URL.Host, req.Host = "http", host, host
	if status, body, err := twiliotest.Do(http.DefaultClient, req); err != nil || status != 200 {
		t.Fatalf("text signed with the second token: %d %q %v", status, body, err)
	}
	conv := waitConversation(t, ts.ic)
	if _, status, err := ts.ic.AdminReply(t.Context(), ts.base+"/intercom/webhooks", conv, "991267001", "Hi"); err != nil || status != 200 {
		t.Fatalf("reply signed with the second Intercom secret: %d %v", status, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(ts.tw.Messages()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the reply never reached Twilio")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
