package intercom_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/smsrelay/smsrelay/intercom"
)

func TestCanvasSignature(t *testing.T) {
	body := []byte(`{"conversation":{"id":"1"}}`)
	// Computed independently of SignCanvas: hex HMAC-SHA256 of the body.
	m := hmac.New(sha256.New, []byte("secret"))
	m.Write(body)
	want := hex.EncodeToString(m.Sum(nil))
	if got := intercom.SignCanvas(body, "secret"); got != want {
		t.Fatalf("SignCanvas = %s, want %s", got, want)
	}
	if err := intercom.VerifyCanvasSignature(body, want, "old", "secret"); err != nil {
		t.Errorf("a good signature with a rotated secret: %v", err)
	}
	for _, tc := range []struct {
		header string
		want   error
	}{
		{"", intercom.ErrMissingSignature},
		{"zz", intercom.ErrMalformedSignature},
		{"sha1=" + want, intercom.ErrMalformedSignature},
		{intercom.SignCanvas(body, "other"), intercom.ErrInvalidSignature},
		{intercom.SignCanvas(append(body, ' '), "secret"), intercom.ErrInvalidSignature},
	} {
		if err := intercom.VerifyCanvasSignature(body, tc.header, "secret"); !errors.Is(err, tc.want) {
			t.Errorf("VerifyCanvasSignature(%q) = %v, want %v", tc.header, err, tc.want)
		}
	}
	if err := intercom.VerifyCanvasSignature(body, want); !errors.Is(err, intercom.ErrNoSecret) {
		t.Errorf("no secret: %v", err)
	}
}

func TestParseCanvasRequest(t *testing.T) {
	req, err := intercom.ParseCanvasRequest([]byte(`{"workspace_id":"w1","admin":{"id":"7"},"conversation":{"id":"c1"},
		"contact":{"id":"u1","phone":"+14155550123"},"component_id":"send","input_values":{"message":"hi"},
		"current_canvas":{"content":{"components":[{"type":"text","id":"t","text":"x"}]},"stored_data":{"k":"v"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if req.Admin.ID != "7" || req.Conversation.ID != "c1" || req.Contact.Phone != "+14155550123" || req.ComponentID != "send" ||
		req.InputValues["message"] != "hi" || req.CurrentCanvas.StoredData["k"] != "v" || req.CurrentCanvas.Content.Components[0].Text != "x" {
		t.Errorf("parsed %+v", req)
	}
	if _, err := intercom.ParseCanvasRequest([]byte(`{`)); err == nil {
		t.Error("no error for a broken body")
	}
}
