package intercomtest_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/smsrelay/smsrelay/intercom"
	"github.com/smsrelay/smsrelay/intercom/intercomtest"
)

// hookLog is a webhook receiver that verifies and parses what it gets, as
// the relay does.
type hookLog struct {
	*httptest.Server
	mu     sync.Mutex
	bodies [][]byte
	sigs   []string
	notifs []*intercom.Notification
	errs   []error
}

func newHookLog(t *testing.T, secret string) *hookLog {
	t.Helper()
	h := &hookLog{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		sig := r.Header.Get(intercom.SignatureHeader)
		err := intercom.VerifySignature(body, sig, secret)
		var n *intercom.Notification
		if err == nil {
			n, err = intercom.ParseNotification(body)
		}
		h.mu.Lock()
		h.bodies, h.sigs, h.notifs, h.errs = append(h.bodies, body), append(h.sigs, sig), append(h.notifs, n), append(h.errs, err)
		h.mu.Unlock()
	}))
	t.Cleanup(h.Close)
	return h
}

// last returns the latest notification, failing the test on a bad one.
func (h *hookLog) last(t *testing.T) *intercom.Notification {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.notifs) == 0 {
		t.Fatal("no notification received")
	}
	if err := h.errs[len(h.errs)-1]; err != nil {
		t.Fatalf("the last notification did not verify or parse: %v", err)
	}
	return h.notifs[len(h.notifs)-1]
}

// Each change an agent makes stamps the conversation's updated_at later
// than the one before, even within one second, and the notification's
// created_at is the time of the change: a receiver can order state changes
// by them.
func TestNotificationsOrderStateChanges(t *testing.T) {
	ctx := context.Background()
	s := intercomtest.NewServer(intercomtest.WithBudget(0, 0))
	defer s.Close()
	hooks := newHookLog(t, s.ClientSecret)
	c, err := intercom.NewClient(s.Token, intercom.WithBaseURL(s.URL), intercom.WithLimiter(nil))
	if err != nil {
		t.Fatal(err)
	}
	ct, _ := s.AddContact(intercomtest.Contact{Phone: "+15551250001"})
	conv, _ := s.StartConversation(ct.ID, "hello")

	start := time.Now().Truncate(time.Second)
	var prev time.Time
	check := func(step, topic, state string) *intercom.Notification {
		t.Helper()
		n := hooks.last(t)
		cv := n.Conversation
		if n.Topic != topic || cv == nil || cv.ID != conv.ID || cv.State != state || cv.Open != (state != "closed") {
			t.Fatalf("%s: notification %+v, conversation %+v", step, n, cv)
		}
		if !cv.UpdatedAt.After(prev) {
			t.Errorf("%s: updated_at %v does not come after the previous change's %v", step, cv.UpdatedAt, prev)
		}
		if cv.UpdatedAt.Before(start) {
			t.Errorf("%s: updated_at %v before the test began (%v)", step, cv.UpdatedAt, start)
		}
		if !n.CreatedAt.Equal(cv.UpdatedAt) {
			t.Errorf("%s: notification created_at %v, want the change's time %v", step, n.CreatedAt, cv.UpdatedAt)
		}
		if len(cv.Parts) != 1 || !cv.Parts[0].CreatedAt.Equal(cv.UpdatedAt) {
			t.Errorf("%s: parts %+v, want one, created at %v", step, cv.Parts, cv.UpdatedAt)
		}
		if n.FirstSentAt.Before(n.CreatedAt) || n.DeliveryAttempts != 1 {
			t.Errorf("%s: first_sent_at %v before created_at %v, or %d attempts", step, n.FirstSentAt, n.CreatedAt, n.DeliveryAttempts)
		}
		prev = cv.UpdatedAt
		return n
	}

	if _, _, err := s.AdminReply(ctx, hooks.URL, conv.ID, "77", "On its way"); err != nil {
		t.Fatal(err)
	}
	check("reply", intercom.TopicAdminReplied, "open")
	if _, _, err := s.CloseConversation(ctx, hooks.URL, conv.ID, "77"); err != nil {
		t.Fatal(err)
	}
	check("close", intercom.TopicAdminClosed, "closed")
	// A change through the REST API stamps updated_at too.
	opened, err := c.Open(ctx, conv.ID, "77")
	if err != nil {
		t.Fatal(err)
	}
	if !opened.UpdatedAt.After(prev) {
		t.Errorf("REST open: updated_at %v does not come after %v", opened.UpdatedAt, prev)
	}
	prev = opened.UpdatedAt
	if _, _, err := s.CloseConversation(ctx, hooks.URL, conv.ID, "77"); err != nil {
		t.Fatal(err)
	}
	check("close again", intercom.TopicAdminClosed, "closed")
	got, err := c.Conversation(ctx, conv.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !got.UpdatedAt.Equal(prev) {
		t.Errorf("GET: updated_at %v, want the last change's %v", got.UpdatedAt, prev)
	}
}

// An old conversation.admin.closed replayed after the
// conversation.admin.opened that followed it arrives byte for byte as
// first sent; its times show that it is the older state.
func TestReplayOldCloseAfterOpen(t *testing.T) {
	ctx := context.Background()
	s := intercomtest.NewServer(intercomtest.WithBudget(0, 0))
	defer s.Close()
	hooks := newHookLog(t, s.ClientSecret)
	ct, _ := s.AddContact(intercomtest.Contact{Phone: "+15551250002"})
	conv, _ := s.StartConversation(ct.ID, "hello")

	if _, _, err := s.CloseConversation(ctx, hooks.URL, conv.ID, "77"); err != nil {
		t.Fatal(err)
	}
	closed := hooks.last(t)
	partID, status, err := s.OpenConversation(ctx, hooks.URL, conv.ID, "77")
	if err != nil || status != 200 {
		t.Fatalf("OpenConversation = %d, %v", status, err)
	}
	opened := hooks.last(t)
	if opened.Topic != intercom.TopicAdminOpened || opened.Conversation.State != "open" || !opened.Conversation.Open ||
		len(opened.Conversation.Parts) != 1 || opened.Conversation.Parts[0].ID != partID ||
		opened.Conversation.Parts[0].PartType != "open" || opened.Conversation.Parts[0].Author.Type != "admin" {
		t.Fatalf("opened: %+v %+v", opened, opened.Conversation)
	}
	if stored, _ := s.Conversation(conv.ID); stored.State != intercomtest.StateOpen {
		t.Fatalf("stored state %q", stored.State)
	}

	time.Sleep(10 * time.Millisecond) // "later"
	status, err = s.Replay(ctx, hooks.URL, closed.ID)
	if err != nil || status != 200 {
		t.Fatalf("Replay = %d, %v", status, err)
	}
	replayed := hooks.last(t)
	hooks.mu.Lock()
	first, again := hooks.bodies[0], hooks.bodies[len(hooks.bodies)-1]
	sameSig := hooks.sigs[0] == hooks.sigs[len(hooks.sigs)-1]
	hooks.mu.Unlock()
	if string(first) != string(again) || !sameSig {
		t.Errorf("the replay differs from the first delivery:\n%s\n%s", first, again)
	}
	if replayed.ID != closed.ID || replayed.Topic != intercom.TopicAdminClosed || replayed.DeliveryAttempts != 1 ||
		replayed.Conversation.State != "closed" {
		t.Errorf("replayed %+v", replayed)
	}
	// What a receiver orders on.
	if !replayed.Conversation.UpdatedAt.Before(opened.Conversation.UpdatedAt) || !replayed.CreatedAt.Before(opened.CreatedAt) {
		t.Errorf("the replayed close (updated_at %v, created_at %v) does not look older than the open (%v, %v)",
			replayed.Conversation.UpdatedAt, replayed.CreatedAt, opened.Conversation.UpdatedAt, opened.CreatedAt)
	}
	if stored, _ := s.Conversation(conv.ID); stored.State != intercomtest.StateOpen {
		t.Errorf("Replay changed the stored state to %q", stored.State)
	}
	ds := s.Deliveries()
	if len(ds) != 3 || ds[2].NotificationID != closed.ID || ds[2].Attempt != 1 || string(ds[2].Body) != string(ds[0].Body) ||
		ds[2].Signature != ds[0].Signature || ds[2].Status != 200 {
		t.Errorf("deliveries %+v", ds)
	}
	if _, err := s.Replay(ctx, hooks.URL, "notif_never"); err == nil {
		t.Error("replaying an unknown notification succeeded")
	}
	if _, err := s.Replay(ctx, "not a url", closed.ID); err == nil {
		t.Error("replaying to a bad URL succeeded")
	}
	if _, _, err := s.OpenConversation(ctx, hooks.URL, "999", "77"); err == nil {
		t.Error("opening an unknown conversation succeeded")
	}
}
