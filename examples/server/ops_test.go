package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/smsrelay/smsrelay/examples/internal/demo"
	"github.com/smsrelay/smsrelay/intercom/intercomtest"
	"github.com/smsrelay/smsrelay/twiliosms/twiliotest"
)

// testServer is examples/server running in this process against fake
// Intercom and Twilio APIs.
type testServer struct {
	base string
	ic   *intercomtest.Server
	tw   *twiliotest.Server
	env  map[string]string
}

// startServer runs the server with the fakes' settings plus extra, and
// stops it when the test ends.
func startServer(t *testing.T, extra map[string]string) *testServer {
	t.Helper()
	return startServerWith(t, func(env map[string]string) {
		for k, v := range extra {
			env[k] = v
		}
	})
}

// fakeEnv starts fake Intercom and Twilio APIs, closed when the test
// ends, and returns them with the environment that runs the server against
// them, at the public URL https://sms.example.com.
func fakeEnv(t *testing.T) (*demo.Fakes, map[string]string) {
	t.Helper()
	fakes, err := demo.Start(demo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fakes.Close)
	env := fakes.Env()
	env["SMSRELAY_ADDR"] = "127.0.0.1:0"
	env["SMSRELAY_PUBLIC_URL"] = "https://sms.example.com"
	env["INTERCOM_ADMIN_ID"] = "991267999"
	return fakes, env
}

// startServerWith runs the server with the fakes' settings as edit leaves
// them.
func startServerWith(t *testing.T, edit func(env map[string]string)) *testServer {
	t.Helper()
	fakes, env := fakeEnv(t)
	ic, tw := fakes.IC, fakes.TW
	edit(env)
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, func(k string) string { return env[k] }, slog.New(slog.DiscardHandler), ready)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run returned %v after shutdown", err)
			}
		case <-time.After(40 * time.Second):
			t.Error("server did not shut down")
		}
	})
	select {
	case addr := <-ready:
		return &testServer{base: "http://" + addr, ic: ic, tw: tw, env: env}
	case err := <-done:
		t.Fatalf("server did not start: %v", err)
	}
	return nil
}

// text posts a customer's text to the server, signed for its public URL.
func (s *testServer) text(t *testing.T, from, body string) {
	t.Helper()
	form := twiliotest.InboundForm(from, "+14155550100", body)
	req, err := twiliotest.NewRequest(t.Context(), s.tw.AuthToken, "https://sms.example.com/twilio/messages", form)
	if err != nil {
		t.Fatal(err)
	}
	host := strings.TrimPrefix(s.base, "http://")
	req.URL.Scheme, req.URL.Host, req.Host = "http", host, host
	status, answer, err := twiliotest.Do(http.DefaultClient, req)
	if err != nil || status != 200 {
		t.Fatalf("inbound webhook: %d %q %v", status, answer, err)
	}
}

func get(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), "GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// metricValue sums the samples of a Prometheus metric whose labels contain
// every one of labels.
func metricValue(t *testing.T, exposition, name string, labels ...string) float64 {
	t.Helper()
	line := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `(\{[^}]*\})? (\S+)$`)
	total := 0.0
	for _, m := range line.FindAllStringSubmatch(exposition, -1) {
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(m[1], l)
		}
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(m[2], 64)
		if err != nil {
			t.Fatalf("metric %s: %v", name, err)
		}
		total += v
	}
	return total
}

func TestMetricsMoveAfterARelayedText(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	status, before := get(t, s.base+"/metrics", "")
	if status != 200 {
		t.Fatalf("/metrics answered %d", status)
	}
	s.text(t, "+14155550123", "Hello from the metrics test")
	waitConversation(t, s.ic)

	deadline := time.Now().Add(10 * time.Second)
	for {
		_, after := get(t, s.base+"/metrics", "")
		accepted := metricValue(t, after, "smsrelay_webhook_requests_total", `result="accepted"`) -
			metricValue(t, before, "smsrelay_webhook_requests_total", `result="accepted"`)
		completed := metricValue(t, after, "smsrelay_jobs_total", `kind="twilio.inbound"`, `outcome="completed"`)
		calls := metricValue(t, after, "smsrelay_intercom_requests_total", `endpoint="conversations.create"`, `status="200"`)
		waits := metricValue(t, after, "smsrelay_intercom_budget_wait_seconds_count")
		if accepted == 1 && completed == 1 && calls == 1 && waits >= 2 {
			for _, gauge := range []string{"smsrelay_queue_jobs", "smsrelay_queue_oldest_ready_age_seconds"} {
				if !strings.Contains(after, gauge) {
					t.Errorf("/metrics lacks %s", gauge)
				}
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("counters did not move as expected (accepted %v, completed %v, conversations created %v, budget waits %v):\n%s",
				accepted, completed, calls, waits, after)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestLiveAndReady(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	for _, p := range []string{"/livez", "/readyz", "/healthz"} {
		if status, body := get(t, s.base+p, ""); status != 200 || strings.TrimSpace(body) != "ok" {
			t.Errorf("%s = %d %q", p, status, body)
		}
	}
}

func TestAdminIsMountedOnlyWithAToken(t *testing.T) {
	t.Parallel()
	const token = "server-admin-token-0123"
	with := startServer(t, map[string]string{"SMSRELAY_ADMIN_TOKEN": token})
	if status, _ := get(t, with.base+"/admin/api/queue", ""); status != http.StatusUnauthorized {
		t.Errorf("/admin/api/queue without the token answered %d, want 401", status)
	}
	if status, _ := get(t, with.base+"/admin/api/queue", "wrong-token-0123456789"); status != http.StatusUnauthorized {
		t.Errorf("/admin/api/queue with a wrong token answered %d, want 401", status)
	}
	if status, body := get(t, with.base+"/admin/api/queue", token); status != 200 || !strings.Contains(body, `"ready"`) {
		t.Errorf("/admin/api/queue with the token = %d %s", status, body)
	}
	without := startServer(t, nil)
	for _, tok := range []string{"", token} {
		if status, _ := get(t, without.base+"/admin/api/queue", tok); status != http.StatusNotFound {
			t.Errorf("without SMSRELAY_ADMIN_TOKEN, /admin/api/queue answered %d, want 404", status)
		}
	}
}
