package main

import (
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/smsrelay/smsrelay/intercom/intercomtest"
)

// chromiumPath finds a Chromium or Chrome binary.
func chromiumPath() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// TestOperatorPageReplaysADeadLetterInABrowser signs in to the operator
// page in headless Chromium, replays a dead letter with its button and
// checks that the job ran: the customer's text reached Intercom. It takes a
// few seconds, most of them Chromium's start.
func TestOperatorPageReplaysADeadLetterInABrowser(t *testing.T) {
	t.Parallel()
	browser := chromiumPath()
	if browser == "" {
		t.Skip("no chromium binary on PATH: install Debian's chromium package (.ci/run installs it)")
	}
	const token = "browser-test-admin-token"
	s := startServer(t, map[string]string{"SMSRELAY_ADMIN_TOKEN": token, "SMSRELAY_MAX_ATTEMPTS": "1"})
	if err := s.ic.Fail("POST", "/contacts/search", intercomtest.Fault{Status: 500}); err != nil {
		t.Fatal(err)
	}
	s.text(t, "+14155550123", "Hello from the browser test")
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, body := get(t, s.base+"/admin/api/queue", token)
		var q struct{ Dead int }
		if json.Unmarshal([]byte(body), &q) == nil && q.Dead == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the text was not dead-lettered: %s", body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.ic.ClearFaults()

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser),
		chromedp.NoSandbox, // CI runs as root
		chromedp.Flag("disable-dev-shm-usage", true),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(t.Context(), opts...)
	defer cancelAlloc()
	ctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()

	var before, after string
	err := chromedp.Run(ctx,
		chromedp.Navigate(s.base+"/admin/"),
		chromedp.WaitVisible(`#token`, chromedp.ByID),
		chromedp.SendKeys(`#token`, token, chromedp.ByID),
		chromedp.Click(`#sign-in`, chromedp.ByID),
		chromedp.WaitVisible(`#dead-letters`, chromedp.ByID),
		chromedp.Text(`#dead-letters`, &before, chromedp.ByID),
		chromedp.Click(`button.replay`, chromedp.ByQuery),
		chromedp.WaitVisible(`#no-dead-letters`, chromedp.ByID),
		chromedp.Text(`body`, &after, chromedp.ByQuery),
	)
	if err != nil {
		t.Fatalf("driving the page: %v", err)
	}
	if !strings.Contains(before, "twilio.inbound") || strings.Contains(before, "+14155550123") {
		t.Errorf("dead letters as shown: %q, want the inbound text with its number masked", before)
	}
	if !strings.Contains(after, "put back in the queue") {
		t.Errorf("after the replay the page says %q", after)
	}
	conv := waitConversation(t, s.ic)
	c, _ := s.ic.Conversation(conv)
	if !strings.Contains(c.Source.Body, "Hello from the browser test") {
		t.Errorf("the replayed job put %q on Intercom", c.Source.Body)
	}
}
