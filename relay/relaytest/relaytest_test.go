package relaytest_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/smsrelay/smsrelay/intercom/intercomtest"
	"github.com/smsrelay/smsrelay/relay"
	"github.com/smsrelay/smsrelay/relay/relaytest"
)

// The package doc's example, as it stands there.
func TestTextsReachIntercom(t *testing.T) {
	env := relaytest.New(t, relaytest.WithConfig(func(c *relay.Config) {
		c.DefaultRoute = relay.Route{TeamID: "42"}
	}))
	env.Text("+14155550123", "Where is my order?")
	env.Drain()
	conv := env.Conversations()[0]
	env.Reply(conv.ID, "On its way!")
	env.Drain()
	if got := env.Sent(); len(got) != 1 || got[0].Body != "On its way!" {
		t.Errorf("sent %+v", got)
	}
	if !strings.Contains(conv.Source.Body, "Where is my order?") {
		t.Errorf("conversation started with %q", conv.Source.Body)
	}
	if c, _ := env.Intercom.Conversation(conv.ID); c.TeamAssigneeID != "42" {
		t.Errorf("conversation assigned to team %q, want the route's 42", c.TeamAssigneeID)
	}
}

func TestDrainSeesFailuresThroughToDeadLetters(t *testing.T) {
	env := relaytest.New(t, relaytest.WithConfig(func(c *relay.Config) { c.MaxAttempts = 3 }))
	if err := env.Intercom.Fail("POST", "/contacts/search", intercomtest.Fault{Status: 500}); err != nil {
		t.Fatal(err)
	}
	env.Text("+14155550123", "Hello")
	env.Drain()
	dl, err := env.Relay.DeadLetters(t.Context(), 10)
	if err != nil || len(dl) != 1 || dl[0].Kind != relay.KindInbound {
		t.Fatalf("dead letters = %+v, %v", dl, err)
	}
	// The operator API is mounted too.
	req, _ := http.NewRequest("GET", env.URL+"/admin/api/queue", nil)
	req.Header.Set("Authorization", "Bearer "+relaytest.AdminToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("/admin/api/queue answered %d", res.StatusCode)
	}
}

func TestNewFailsOnABadConfig(t *testing.T) {
	ft := &fatalRecorder{TB: t}
	func() {
		defer func() { recover() }() // fatalRecorder.Fatalf stops New with a panic
		relaytest.New(ft, relaytest.WithConfig(func(c *relay.Config) { c.Workers = -1 }))
	}()
	if !strings.Contains(ft.msg, "Workers must not be negative") {
		t.Errorf("New with Workers -1 reported %q", ft.msg)
	}
}

// fatalRecorder records the first Fatalf and stops the caller.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	panic("fatal")
}

func (f *fatalRecorder) Helper() {}
