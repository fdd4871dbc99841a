package intercomtest

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// receiver is a webhook endpoint that records what it gets.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	got    []received
	status int
}

type received struct {
	header http.Header
	body   []byte
	env    map[string]any
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{status: http.StatusOK}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var env map[string]any
		_ = json.Unmarshal(b, &env)
		rc.mu.Lock()
		rc.got = append(rc.got, received{header: r.Header.Clone(), body: b, env: env})
		st := rc.status
		rc.mu.Unlock()
		w.WriteHeader(st)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) all() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

func (rc *receiver) last(t *testing.T) received {
	t.Helper()
	all := rc.all()
	if len(all) == 0 {
		t.Fatal("nothing received")
	}
	return all[len(all)-1]
}

// verify recomputes the HMAC-SHA1 signature independently of Sign.
func verify(t *testing.T, r received, secret string) {
	t.Helper()
	m := hmac.New(sha1.New, []byte(secret))
	m.Write(r.body)
	want := "sha1=" + hex.EncodeToString(m.Sum(nil))
	if got := r.header.Get("X-Hub-Signature"); got != want {
		t.Errorf("X-Hub-Signature = %q, want %q", got, want)
	}
	if r.header.Get("Content-Type") != "application/json" || r.header.Get("User-Agent") != "intercom-parrot-service-client/1.0" {
		t.Errorf("headers = %v", r.header)
	}
}

// checkEnvelope checks the notification envelope and returns data.item.
func checkEnvelope(t *testing.T, r received, topic string, attempts int) map[string]any {
	t.Helper()
	e := r.env
	if e["type"] != "notification_event" || e["topic"] != topic || e["app_id"] != "app42" ||
		e["delivery_attempts"] != float64(attempts) || e["created_at"] == nil || e["first_sent_at"] == nil ||
		e["delivered_at"] == nil || dig(t, e, "data", "type") != "notification_event_data" {
		t.Errorf("envelope = %s", r.body)
	}
	if id, _ := e["id"].(string); len(id) < 10 || id[:6] != "notif_" {
		t.Errorf("notification id = %v", e["id"])
	}
	item, _ := dig(t, e, "data", "item").(map[string]any)
	return item
}

func TestAgentHelpers(t *testing.T) {
	ctx := context.Background()
	s := newTestServer(t, WithClientSecret("shh"), WithAppID("app42"))
	rc := newReceiver(t)
	ct, _ := s.AddContact(Contact{Phone: "+15550000001"})
	conv, _ := s.StartConversation(ct.ID, "hello")

	t.Run("admin reply", func(t *testing.T) {
		partID, status, err := s.AdminReply(ctx, rc.URL, conv.ID, "77", "<p>Hi <b>there</b> &amp; welcome</p>",
			"https://files.example.com/a.pdf")
		if err != nil || status != 200 || partID == "" {
			t.Fatalf("AdminReply = %q, %d, %v", partID, status, err)
		}
		r := rc.last(t)
		verify(t, r, "shh")
		item := checkEnvelope(t, r, TopicAdminReplied, 1)
		if item["type"] != "conversation" || item["id"] != conv.ID || dig(t, item, "conversation_parts", "total_count") != float64(1) {
			t.Fatalf("item = %v", item)
		}
		part := dig(t, item, "conversation_parts", "conversation_parts", 0).(map[string]any)
		if part["id"] != partID || part["part_type"] != "comment" || part["body"] != "Hi there & welcome" ||
			dig(t, part, "author", "type") != "admin" || dig(t, part, "author", "id") != "77" ||
			dig(t, part, "attachments", 0, "url") != "https://files.example.com/a.pdf" || part["app_package_code"] != nil {
			t.Errorf("part = %v", part)
		}
		stored := mustConv(t, s, conv.ID)
		last := stored.Parts[len(stored.Parts)-1]
		if last.ID != partID || last.Body != "<p>Hi <b>there</b> &amp; welcome</p>" || last.Author.Type != "admin" {
			t.Errorf("stored part = %+v", last)
		}
	})
	t.Run("admin note", func(t *testing.T) {
		partID, status, err := s.AdminNote(ctx, rc.URL, conv.ID, "77", "internal only")
		if err != nil || status != 200 {
			t.Fatalf("AdminNote: %d %v", status, err)
		}
		r := rc.last(t)
		verify(t, r, "shh")
		item := checkEnvelope(t, r, TopicAdminNoted, 1)
		part := dig(t, item, "conversation_parts", "conversation_parts", 0).(map[string]any)
		if part["id"] != partID || part["part_type"] != "note" || part["body"] != "internal only" {
			t.Errorf("part = %v", part)
		}
	})
	t.Run("bot reply on two topics", func(t *testing.T) {
		before := len(rc.all())
		partID, status, err := s.BotReply(ctx, rc.URL, conv.ID, "I am Fin")
		if err != nil || status != 200 {
			t.Fatalf("BotReply: %d %v", status, err)
		}
		got := rc.all()[before:]
		if len(got) != 2 {
			t.Fatalf("%d deliveries, want 2", len(got))
		}
		topics := []string{TopicAdminReplied, TopicOperatorReplied}
		for i, r := range got {
			verify(t, r, "shh")
			item := checkEnvelope(t, r, topics[i], 1)
			part := dig(t, item, "conversation_parts", "conversation_parts", 0).(map[string]any)
			if part["id"] != partID || dig(t, part, "author", "type") != "bot" || part["body"] != "I am Fin" {
				t.Errorf("delivery %d part = %v", i, part)
			}
		}
		if got[0].env["id"] == got[1].env["id"] {
			t.Error("both bot deliveries share one notification id")
		}
	})
	t.Run("close", func(t *testing.T) {
		partID, status, err := s.CloseConversation(ctx, rc.URL, conv.ID, "77")
		if err != nil || status != 200 {
			t.Fatalf("CloseConversation: %d %v", status, err)
		}
		r := rc.last(t)
		verify(t, r, "shh")
		item := checkEnvelope(t, r, TopicAdminClosed, 1)
		if item["state"] != "closed" || item["open"] != false ||
			dig(t, item, "conversation_parts", "conversation_parts", 0, "part_type") != "close" ||
			dig(t, item, "conversation_parts", "conversation_parts", 0, "id") != partID {
			t.Errorf("item = %v", item)
		}
		if c := mustConv(t, s, conv.ID); c.State != StateClosed || c.Open() {
			t.Errorf("stored state = %q", c.State)
		}
	})
	t.Run("redeliver", func(t *testing.T) {
		first := rc.last(t)
		id := first.env["id"].(string)
		status, err := s.Redeliver(ctx, rc.URL, id)
		if err != nil || status != 200 {
			t.Fatalf("Redeliver: %d %v", status, err)
		}
		r := rc.last(t)
		verify(t, r, "shh")
		checkEnvelope(t, r, TopicAdminClosed, 2)
		if r.env["id"] != id || r.env["first_sent_at"] != first.env["first_sent_at"] ||
			!jsonEqual(t, dig(t, r.env, "data", "item"), dig(t, first.env, "data", "item")) {
			t.Errorf("redelivery differs: %s\nfirst: %s", r.body, first.body)
		}
		if _, err := s.Redeliver(ctx, rc.URL, "notif_nope"); err == nil {
			t.Error("redelivering an unknown id succeeded")
		}
	})
	t.Run("ping", func(t *testing.T) {
		status, err := s.Ping(ctx, rc.URL)
		if err != nil || status != 200 {
			t.Fatalf("Ping: %d %v", status, err)
		}
		r := rc.last(t)
		verify(t, r, "shh")
		item := checkEnvelope(t, r, TopicPing, 1)
		if item["type"] != "ping" {
			t.Errorf("ping item = %v", item)
		}
	})
	t.Run("send arbitrary", func(t *testing.T) {
		c := mustConv(t, s, conv.ID)
		c.Parts = c.Parts[:1]
		for _, item := range []any{c, &c, json.RawMessage(`{"type":"conversation","id":"1"}`), []byte(`{"type":"x"}`), map[string]int{"a": 1}} {
			id, status, err := s.SendNotification(ctx, rc.URL, "conversation.user.replied", item)
			if err != nil || status != 200 || id == "" {
				t.Fatalf("SendNotification(%T): %q %d %v", item, id, status, err)
			}
			r := rc.last(t)
			verify(t, r, "shh")
			checkEnvelope(t, r, "conversation.user.replied", 1)
		}
		r := rc.last(t)
		if dig(t, r.env, "data", "item", "a") != float64(1) {
			t.Errorf("item = %s", r.body)
		}
	})
	t.Run("receiver status is returned", func(t *testing.T) {
		rc.mu.Lock()
		rc.status = http.StatusInternalServerError
		rc.mu.Unlock()
		defer func() { rc.mu.Lock(); rc.status = 200; rc.mu.Unlock() }()
		_, status, err := s.AdminReply(ctx, rc.URL, conv.ID, "77", "again")
		if err != nil || status != 500 {
			t.Errorf("AdminReply = %d, %v; want 500, nil", status, err)
		}
		_, status, err = s.BotReply(ctx, rc.URL, conv.ID, "bot again")
		if err != nil || status != 500 {
			t.Errorf("BotReply = %d, %v; want 500, nil", status, err)
		}
	})
	t.Run("deliveries", func(t *testing.T) {
		ds := s.Deliveries()
		if len(ds) != len(rc.all()) {
			t.Fatalf("%d deliveries recorded, receiver got %d", len(ds), len(rc.all()))
		}
		for i, d := range ds {
			if d.Signature != Sign(d.Body, "shh") || string(d.Body) != string(rc.all()[i].body) || d.URL != rc.URL || d.Status == 0 {
				t.Errorf("delivery %d = %+v", i, d)
			}
		}
	})
	t.Run("errors", func(t *testing.T) {
		for name, f := range map[string]func() error{
			"bad url":            func() error { _, _, err := s.AdminReply(ctx, "not a url", conv.ID, "1", "x"); return err },
			"relative url":       func() error { _, _, err := s.AdminNote(ctx, "/hooks", conv.ID, "1", "x"); return err },
			"unknown conv":       func() error { _, _, err := s.AdminReply(ctx, rc.URL, "999", "1", "x"); return err },
			"admin not digits":   func() error { _, _, err := s.AdminReply(ctx, rc.URL, conv.ID, "bob", "x"); return err },
			"no admin":           func() error { _, _, err := s.CloseConversation(ctx, rc.URL, conv.ID, ""); return err },
			"empty body":         func() error { _, _, err := s.AdminReply(ctx, rc.URL, conv.ID, "1", " "); return err },
			"empty note":         func() error { _, _, err := s.AdminNote(ctx, rc.URL, conv.ID, "1", ""); return err },
			"empty bot":          func() error { _, _, err := s.BotReply(ctx, rc.URL, conv.ID, ""); return err },
			"empty topic":        func() error { _, _, err := s.SendNotification(ctx, rc.URL, "", map[string]int{}); return err },
			"nil item":           func() error { _, _, err := s.SendNotification(ctx, rc.URL, "x", nil); return err },
			"invalid raw item":   func() error { _, _, err := s.SendNotification(ctx, rc.URL, "x", []byte("{")); return err },
			"bad attachment":     func() error { _, _, err := s.AdminReply(ctx, rc.URL, conv.ID, "1", "x", "nope"); return err },
			"receiver down":      func() error { _, err := s.Ping(ctx, "http://127.0.0.1:1/hook"); return err },
			"ping bad url":       func() error { _, err := s.Ping(ctx, "ftp://x"); return err },
			"redeliver bad url":  func() error { _, err := s.Redeliver(ctx, "", "notif_x"); return err },
			"nil conversation *": func() error { _, _, err := s.SendNotification(ctx, rc.URL, "x", (*Conversation)(nil)); return err },
		} {
			if err := f(); err == nil {
				t.Errorf("%s: no error", name)
			}
		}
	})
}

func jsonEqual(t *testing.T, a, b any) bool {
	t.Helper()
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func TestSign(t *testing.T) {
	// RFC 2202 test case 2 for HMAC-SHA1.
	if got := Sign([]byte("what do ya want for nothing?"), "Jefe"); got != "sha1=effcdf6ae5eb2fa2d27416d5f184df9c259a7c79" {
		t.Errorf("Sign = %s", got)
	}
}
