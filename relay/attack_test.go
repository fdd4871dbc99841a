package relay_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/smsrelay/smsrelay/intercom"
	"github.com/smsrelay/smsrelay/twiliosms"
	"github.com/smsrelay/smsrelay/twiliosms/twiliotest"
)

// TestUnsignedRequestsWriteNothing tries, as an attacker would, every
// request shape SECURITY.md lists against the three handlers: no signature,
// a wrong one, one for another URL, another body or another secret, a
// tampered form or body, the wrong method or content type, oversized
// bodies, replays of genuine requests, and random corruptions of genuine
// ones. None may cause an Intercom write or an SMS; each must be refused
// with the status the package doc gives (or, for a replay, accepted as the
// duplicate it is).
func TestUnsignedRequestsWriteNothing(t *testing.T) {
	h := newHarness(t, nil, nil)
	// A customer and a conversation the relay carries, so that a forged
	// agent reply would have somewhere to go.
	genuineText := h.text(customer, "hello")
	h.drain()
	conv := h.onlyConversation()
	h.reply(conv.ID, "a genuine reply")
	h.drain()
	genuineNotification := h.ic.Deliveries()[len(h.ic.Deliveries())-1]
	sent := len(h.sent())
	h.ic.ResetRequests()
	attempts := h.tw.Attempts()

	ctx := context.Background()
	do := func(name string, req *http.Request, want ...int) {
		t.Helper()
		resp, err := h.srv.Client().Do(req)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		resp.Body.Close()
		for _, w := range want {
			if resp.StatusCode == w {
				return
			}
		}
		t.Errorf("%s: answered %d, want one of %v", name, resp.StatusCode, want)
	}
	form := func(name, path string, f url.Values, sig string, mutate func(*http.Request)) {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, h.srv.URL+path, strings.NewReader(f.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if sig != "" {
			req.Header.Set(twiliosms.SignatureHeader, sig)
		}
		if mutate != nil {
			mutate(req)
		}
		want := []int{http.StatusUnauthorized, http.StatusForbidden}
		if sig == "" {
			want = []int{http.StatusUnauthorized}
		}
		do(name, req, want...)
	}

	// Twilio endpoints: forged texts (would start conversations) and
	// status callbacks (would add notes).
	forged := twiliotest.InboundForm("+14155550999", ourNumber, "forged text")
	status := twiliotest.StatusForm(h.sent()[0].SID, "undelivered", 30007)
	for _, ep := range []struct {
		path string
		f    url.Values
	}{{"/twilio/messages", forged}, {"/twilio/status", status}} {
		good := h.srv.URL + ep.path
		form(ep.path+" without signature", ep.path, ep.f, "", nil)
		form(ep.path+" with an empty-looking signature", ep.path, ep.f, "AAAA", nil)
		form(ep.path+" signed with another auth token", ep.path, ep.f, twiliotest.Sign("0123456789abcdef0123456789abcdef", good, ep.f), nil)
		form(ep.path+" signed for another host", ep.path, ep.f, twiliotest.Sign(h.token, "https://attacker.example"+ep.path, ep.f), nil)
		form(ep.path+" signed for another path", ep.path, ep.f, twiliotest.Sign(h.token, h.srv.URL+"/other", ep.f), nil)
		form(ep.path+" signed for the Host header's URL", ep.path, ep.f, twiliotest.Sign(h.token, "http://relay.internal"+ep.path, ep.f), func(r *http.Request) { r.Host = "relay.internal" })
		form(ep.path+" signed without the query it carries", ep.path+"?to=+19005550100", ep.f, twiliotest.Sign(h.token, good, ep.f), nil)
		tampered := url.Values{}
		for k, v := range ep.f {
			tampered[k] = append([]string(nil), v...)
		}
		sig := twiliotest.Sign(h.token, good, ep.f)
		tampered.Set("Body", "changed after signing")
		tampered.Set("MessageStatus", "failed")
		form(ep.path+" with a form changed after signing", ep.path, tampered, sig, nil)
		extra := url.Values{}
		for k, v := range ep.f {
			extra[k] = append([]string(nil), v...)
		}
		extra.Set("To", "+19005550100")
		form(ep.path+" with a parameter added after signing", ep.path, extra, sig, nil)
		form(ep.path+" with a SHA-256 signature", ep.path, ep.f, hmacHex(h.token, good), nil)
		// Wrong method and content type, signed correctly.
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, good+"?"+ep.f.Encode(), nil)
		req.Header.Set(twiliosms.SignatureHeader, twiliotest.Sign(h.token, good+"?"+ep.f.Encode(), nil))
		do(ep.path+" as GET", req, http.StatusMethodNotAllowed)
		req, _ = http.NewRequestWithContext(ctx, http.MethodPost, good, strings.NewReader(`{"Body":"json"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(twiliosms.SignatureHeader, sig)
		do(ep.path+" as JSON", req, http.StatusUnsupportedMediaType)
		big := url.Values{"Body": {strings.Repeat("x", 2<<20)}}
		req, _ = http.NewRequestWithContext(ctx, http.MethodPost, good, strings.NewReader(big.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set(twiliosms.SignatureHeader, twiliotest.Sign(h.token, good, big))
		do(ep.path+" oversized", req, http.StatusRequestEntityTooLarge)
	}

	// Intercom endpoint: forged agent replies (would send SMS).
	forgedReply := forgedNotification(conv.ID, "9999001", "forged reply")
	jsonReq := func(name string, body []byte, sig string, want ...int) {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, h.webhookURL(), bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if sig != "" {
			req.Header.Set(intercom.SignatureHeader, sig)
		}
		do(name, req, want...)
	}
	rejected := []int{http.StatusUnauthorized, http.StatusForbidden}
	jsonReq("intercom without signature", forgedReply, "", http.StatusUnauthorized)
	jsonReq("intercom signed with another secret", forgedReply, intercom.Sign(forgedReply, "not-the-secret"), rejected...)
	jsonReq("intercom signed over another body", forgedReply, intercom.Sign([]byte(`{"type":"notification_event","topic":"ping"}`), h.ic.ClientSecret), rejected...)
	jsonReq("intercom with a bare hex signature", forgedReply, strings.TrimPrefix(intercom.Sign(forgedReply, h.ic.ClientSecret), "sha1="), rejected...)
	jsonReq("intercom with a SHA-256 signature", forgedReply, "sha256="+hmacHex(h.ic.ClientSecret, string(forgedReply)), rejected...)
	jsonReq("intercom with a truncated signature", forgedReply, intercom.Sign(forgedReply, h.ic.ClientSecret)[:20], rejected...)
	changed := bytes.Replace(genuineNotification.Body, []byte("a genuine reply"), []byte("a changed reply"), 1)
	jsonReq("intercom body changed after signing", changed, genuineNotification.Signature, rejected...)
	jsonReq("intercom with a genuine signature and whitespace added", append(bytes.Clone(genuineNotification.Body), ' '), genuineNotification.Signature, rejected...)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, h.webhookURL(), bytes.NewReader(forgedReply))
	req.Header.Set("Content-Type", "text/plain")
	req.Header.Set(intercom.SignatureHeader, intercom.Sign(forgedReply, "not-the-secret"))
	do("intercom as text/plain", req, http.StatusUnsupportedMediaType, http.StatusUnauthorized, http.StatusForbidden)

	// Replays of genuine requests: accepted as duplicates, nothing new.
	if st, err := h.ic.Replay(ctx, h.webhookURL(), genuineNotification.NotificationID); err != nil || st != http.StatusOK {
		t.Errorf("replayed notification: %d, %v", st, err)
	}
	h.textForm(genuineText)

	// Random corruptions of genuine requests: one byte of the body, the
	// signature or the URL.
	rng := mrand.New(mrand.NewPCG(1, 2))
	for i := range 300 {
		body := bytes.Clone(genuineNotification.Body)
		sig := genuineNotification.Signature
		switch i % 2 {
		case 0:
			body[rng.IntN(len(body))] ^= byte(1 + rng.IntN(255))
		case 1:
			b := []byte(sig)
			k := len("sha1=") + rng.IntN(len(b)-len("sha1="))
			b[k] = "0123456789abcdef"[(strings.IndexByte("0123456789abcdef", b[k])+1+rng.IntN(15))%16]
			sig = string(b)
		}
		if bytes.Equal(body, genuineNotification.Body) && sig == genuineNotification.Signature {
			continue
		}
		jsonReq("corrupted notification", body, sig, http.StatusUnauthorized, http.StatusForbidden, http.StatusUnsupportedMediaType)

		f := url.Values{}
		for k, v := range genuineText {
			f[k] = append([]string(nil), v...)
		}
		good := twiliotest.Sign(h.token, h.srv.URL+"/twilio/messages", f)
		switch i % 3 {
		case 0:
			f.Set("Body", f.Get("Body")+string(rune('a'+rng.IntN(26))))
			form("corrupted text", "/twilio/messages", f, good, nil)
		case 1:
			b := []byte(good)
			b[rng.IntN(len(b)-1)] ^= 0x01
			form("corrupted text signature", "/twilio/messages", f, string(b), nil)
		case 2:
			form("text signed for a near URL", "/twilio/messages", f, twiliotest.Sign(h.token, h.srv.URL+"/twilio/message", f), nil)
		}
	}

	h.drain()
	for _, r := range h.ic.Requests() {
		if r.Method != http.MethodGet && !strings.HasSuffix(r.Path, "/search") {
			t.Errorf("an Intercom write after forged requests: %s %s", r.Method, r.Path)
		}
	}
	if n := len(h.sent()); n != sent || h.tw.Attempts() != attempts {
		t.Errorf("SMS after forged requests: %d sent (was %d), %d attempts (was %d)", n, sent, h.tw.Attempts(), attempts)
	}
	if len(h.ic.Conversations()) != 1 || len(h.ic.Contacts()) != 1 {
		t.Errorf("forged requests made contacts or conversations: %d, %d", len(h.ic.Contacts()), len(h.ic.Conversations()))
	}
}

// hmacHex is an HMAC-SHA256 in hex: a signature scheme neither sender uses.
func hmacHex(key, msg string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(msg))
	return hex.EncodeToString(m.Sum(nil))
}

// forgedNotification is a well-formed conversation.admin.replied
// notification for conversationID carrying an admin comment.
func forgedNotification(conversationID, partID, body string) []byte {
	now := time.Now().Unix()
	b, _ := json.Marshal(map[string]any{
		"type": "notification_event", "id": "notif_forged", "topic": "conversation.admin.replied",
		"created_at": now, "delivery_attempts": 1, "first_sent_at": now,
		"data": map[string]any{"type": "notification_event_data", "item": map[string]any{
			"type": "conversation", "id": conversationID, "state": "open", "created_at": now, "updated_at": now,
			"conversation_parts": map[string]any{"type": "conversation_part.list", "conversation_parts": []any{map[string]any{
				"type": "conversation_part", "id": partID, "part_type": "comment", "body": body,
				"created_at": now, "author": map[string]any{"type": "admin", "id": adminID},
			}}},
		}},
	})
	return b
}
