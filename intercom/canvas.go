package intercom

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
)

// This file holds Canvas Kit: the requests Intercom sends an Inbox app
// (initialize when the app is shown in a conversation's details panel,
// submit when a teammate clicks one of its buttons) and the canvases the
// app answers with.

// CanvasSignatureHeader carries a Canvas Kit request's signature: the hex
// HMAC-SHA256 of the raw body, keyed with the app's client secret.
const CanvasSignatureHeader = "X-Body-Signature"

// SignCanvas returns the X-Body-Signature of a Canvas Kit request body.
func SignCanvas(body []byte, secret string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// VerifyCanvasSignature checks header, an X-Body-Signature, against body
// with each secret (list two during a rotation). It returns nil on a match,
// ErrMissingSignature, ErrMalformedSignature or ErrInvalidSignature, or an
// error matching ErrNoSecret if no non-empty secret was given.
func VerifyCanvasSignature(body []byte, header string, secrets ...string) error {
	if len(secrets) == 0 {
		return ErrNoSecret
	}
	for i, s := range secrets {
		if s == "" {
			return fmt.Errorf("%w: secret %d is empty", ErrNoSecret, i)
		}
	}
	header = strings.TrimSpace(header)
	if header == "" {
		return ErrMissingSignature
	}
	got, err := hex.DecodeString(header)
	if err != nil || len(got) != sha256.Size {
		return ErrMalformedSignature
	}
	ok := false
	for _, s := range secrets {
		want, _ := hex.DecodeString(SignCanvas(body, s))
		ok = hmac.Equal(got, want) || ok
	}
	if !ok {
		return ErrInvalidSignature
	}
	return nil
}

// CanvasRequest is a Canvas Kit initialize or submit request from the
// Inbox, as far as an app needs it.
type CanvasRequest struct {
	WorkspaceID string `json:"workspace_id"`
	// Admin is the teammate using the app.
	Admin struct {
		ID string `json:"id"`
	} `json:"admin"`
	// Conversation is the conversation the app is shown in.
	Conversation struct {
		ID string `json:"id"`
	} `json:"conversation"`
	// Contact is the customer shown in the details panel.
	Contact struct {
		ID    string `json:"id"`
		Phone string `json:"phone"`
		Name  string `json:"name"`
	} `json:"contact"`
	// ComponentID is the component clicked (submit only).
	ComponentID string `json:"component_id"`
	// InputValues are what the teammate entered, by component id (submit
	// only).
	InputValues map[string]string `json:"input_values"`
	// CurrentCanvas is the canvas shown when the teammate clicked (submit
	// only); its StoredData is what the app stored in it.
	CurrentCanvas *Canvas `json:"current_canvas"`
}

// ParseCanvasRequest decodes a Canvas Kit request body.
func ParseCanvasRequest(body []byte) (*CanvasRequest, error) {
	var req CanvasRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, fmt.Errorf("intercom: Canvas Kit request: %w", err)
	}
	return &req, nil
}

// CanvasResponse is an app's answer to an initialize or submit request.
type CanvasResponse struct {
	Canvas Canvas `json:"canvas"`
}

// Canvas is what an app shows: its components, and data Intercom hands
// back with the next submit request.
type Canvas struct {
	Content    CanvasContent     `json:"content"`
	StoredData map[string]string `json:"stored_data,omitempty"`
}

// CanvasContent holds a canvas's components, top to bottom.
type CanvasContent struct {
	Components []Component `json:"components"`
}

// Component is one Canvas Kit component: text, textarea, button, divider
// or spacer. Only the fields of its Type are set.
type Component struct {
	Type        string        `json:"type"`
	ID          string        `json:"id,omitempty"`
	Text        string        `json:"text,omitempty"`        // text
	Style       string        `json:"style,omitempty"`       // text: header, paragraph, muted, error; button: primary, secondary, link
	Label       string        `json:"label,omitempty"`       // textarea, button
	Placeholder string        `json:"placeholder,omitempty"` // textarea
	Value       string        `json:"value,omitempty"`       // textarea
	Error       bool          `json:"error,omitempty"`       // textarea
	Action      *ButtonAction `json:"action,omitempty"`      // button
}

// ButtonAction is what a button does; "submit" sends a submit request.
type ButtonAction struct {
	Type string `json:"type"`
}

// TextComponent is a text component in style ("header", "paragraph",
// "muted" or "error").
func TextComponent(id, text, style string) Component {
	return Component{Type: "text", ID: id, Text: text, Style: style}
}

// TextAreaComponent is a multi-line input.
func TextAreaComponent(id, label, placeholder, value string) Component {
	return Component{Type: "textarea", ID: id, Label: label, Placeholder: placeholder, Value: value}
}

// SubmitButton is a button that sends a submit request with component id
// id.
func SubmitButton(id, label, style string) Component {
	return Component{Type: "button", ID: id, Label: label, Style: style, Action: &ButtonAction{Type: "submit"}}
}
