package twiliosms_test

import (
	"context"
	"errors"
	"testing"

	"github.com/smsrelay/smsrelay/twiliosms"
)

const templateSID = "HX0123456789abcdef0123456789abcdef"

func TestSendContentTemplate(t *testing.T) {
	srv, c := newFake(t)
	sent, err := c.Send(context.Background(), twiliosms.Message{
		To: "whatsapp:+14155550123", From: "whatsapp:+14155550100",
		ContentSID: templateSID, ContentVariables: map[string]string{"1": "Ada"},
	})
	if err != nil {
		t.Fatal(err)
	}
	m, ok := srv.Message(sent.SID)
	if !ok || m.ContentSID != templateSID || m.ContentVariables != `{"1":"Ada"}` || m.Body != "" {
		t.Errorf("fake got %+v", m)
	}
}

func TestContentSIDValidation(t *testing.T) {
	if err := twiliosms.ValidContentSID(templateSID); err != nil {
		t.Errorf("ValidContentSID(%q) = %v", templateSID, err)
	}
	for _, bad := range []string{"", "HX123", "MG0123456789abcdef0123456789abcdef", "HX0123456789abcdef0123456789abcdeg"} {
		if twiliosms.ValidContentSID(bad) == nil {
			t.Errorf("ValidContentSID(%q) = nil", bad)
		}
	}
	for _, m := range []twiliosms.Message{
		{To: "+14155550123", From: "+14155550100", ContentSID: "HX1"},
		{To: "+14155550123", From: "+14155550100", Body: "x", ContentVariables: map[string]string{"1": "a"}},
	} {
		if err := m.Validate(); !errors.Is(err, twiliosms.ErrInvalidMessage) {
			t.Errorf("Validate(%+v) = %v, want ErrInvalidMessage", m, err)
		}
	}
	ok := twiliosms.Message{To: "+14155550123", From: "+14155550100", ContentSID: templateSID}
	if err := ok.Validate(); err != nil {
		t.Errorf("a template without a body: %v", err)
	}
}
