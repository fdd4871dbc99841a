package intercomtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/smsrelay/smsrelay/intercom"
)

// maxCanvasAnswerRead bounds what CanvasInitialize and CanvasSubmit read of
// the app's answer (Intercom caps a canvas at 64 KB).
const maxCanvasAnswerRead = 256 << 10

// CanvasInitialize plays the Inbox showing a Canvas Kit app in the details
// panel of conversationID, for the conversation's first contact and the
// teammate adminID: it posts a signed initialize request to target and
// returns the status and the canvas the app answered with.
func (s *Server) CanvasInitialize(ctx context.Context, target, conversationID, adminID string) (int, *intercom.Canvas, error) {
	return s.canvasRequest(ctx, "CanvasInitialize", target, conversationID, adminID, "", nil, nil)
}

// CanvasSubmit plays the teammate adminID clicking component componentID
// of current, the canvas the app showed in conversationID, with inputs
// typed into its inputs: it posts a signed submit request to target and
// returns the status and the app's new canvas.
func (s *Server) CanvasSubmit(ctx context.Context, target, conversationID, adminID, componentID string, inputs map[string]string, current *intercom.Canvas) (int, *intercom.Canvas, error) {
	if componentID == "" {
		return 0, nil, fmt.Errorf("intercomtest: CanvasSubmit: empty component id")
	}
	return s.canvasRequest(ctx, "CanvasSubmit", target, conversationID, adminID, componentID, inputs, current)
}

type wireCanvasContact struct {
	Type  string `json:"type"`
	ID    string `json:"id"`
	Role  string `json:"role"`
	Phone string `json:"phone,omitempty"`
	Name  string `json:"name,omitempty"`
}

type wireCanvasRequest struct {
	WorkspaceID     string            `json:"workspace_id"`
	WorkspaceRegion string            `json:"workspace_region"`
	Admin           map[string]string `json:"admin"`
	Context         map[string]string `json:"context"`
	Conversation    map[string]string `json:"conversation"`
	Contact         wireCanvasContact `json:"contact"`
	ComponentID     string            `json:"component_id,omitempty"`
	InputValues     map[string]string `json:"input_values,omitempty"`
	CurrentCanvas   *intercom.Canvas  `json:"current_canvas,omitempty"`
}

func (s *Server) canvasRequest(ctx context.Context, what, target, conversationID, adminID, componentID string, inputs map[string]string, current *intercom.Canvas) (int, *intercom.Canvas, error) {
	if err := checkTarget(target); err != nil {
		return 0, nil, fmt.Errorf("intercomtest: %s: %w", what, err)
	}
	s.mu.Lock()
	conv := s.conversations[conversationID]
	var ct *Contact
	if conv != nil && len(conv.ContactIDs) > 0 {
		ct = s.contacts[conv.ContactIDs[0]]
	}
	var contact wireCanvasContact
	if ct != nil {
		contact = wireCanvasContact{Type: "contact", ID: ct.ID, Role: ct.Role, Phone: ct.Phone, Name: ct.Name}
	}
	s.mu.Unlock()
	if conv == nil {
		return 0, nil, fmt.Errorf("intercomtest: %s: conversation %s not found", what, conversationID)
	}
	if ct == nil {
		return 0, nil, fmt.Errorf("intercomtest: %s: conversation %s has no contact", what, conversationID)
	}
	body, err := json.Marshal(wireCanvasRequest{
		WorkspaceID: s.AppID, WorkspaceRegion: "US",
		Admin:        map[string]string{"type": "admin", "id": adminID},
		Context:      map[string]string{"location": "inbox"},
		Conversation: map[string]string{"type": "conversation", "id": conversationID},
		Contact:      contact, ComponentID: componentID, InputValues: inputs, CurrentCanvas: current,
	})
	if err != nil {
		return 0, nil, fmt.Errorf("intercomtest: %s: %w", what, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return 0, nil, fmt.Errorf("intercomtest: %s: %w", what, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(intercom.CanvasSignatureHeader, intercom.SignCanvas(body, s.ClientSecret))
	resp, err := s.hook.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("intercomtest: %s: %w", what, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxCanvasAnswerRead))
	if err != nil {
		return resp.StatusCode, nil, fmt.Errorf("intercomtest: %s: reading the answer: %w", what, err)
	}
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, nil, nil
	}
	var out intercom.CanvasResponse
	if err := json.Unmarshal(raw, &out); err != nil {
		return resp.StatusCode, nil, fmt.Errorf("intercomtest: %s: the answer is not a canvas: %w", what, err)
	}
	return resp.StatusCode, &out.Canvas, nil
}
