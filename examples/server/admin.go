package main

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"

	"github.com/smsrelay/smsrelay/relay"
)

// requireBearer lets through only requests carrying
// "Authorization: Bearer <token>", compared in constant time; others get
// 401 with a JSON error.
func requireBearer(token string, next http.Handler) http.Handler {
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		got := []byte(req.Header.Get("Authorization"))
		if token == "" || subtle.ConstantTimeCompare(got, want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="smsrelay"`)
			writeJSONError(w, http.StatusUnauthorized, "missing or wrong bearer token")
			return
		}
		next.ServeHTTP(w, req)
	})
}

// maxMessageRequest bounds the body of POST /admin/messages.
const maxMessageRequest = 64 << 10

// messageRequest is the body of POST /admin/messages.
type messageRequest struct {
	To             string `json:"to"`
	Body           string `json:"body"`
	From           string `json:"from,omitempty"`
	IdempotencyKey string `json:"idempotency_key,omitempty"`
}

// messageResponse is the answer of POST /admin/messages once Twilio
// accepted the text.
type messageResponse struct {
	SID      string `json:"sid"`
	Segments int    `json:"segments"`
	Encoding string `json:"encoding,omitempty"`
	Repeated bool   `json:"repeated,omitempty"`
}

// sendMessages serves POST /admin/messages: it texts a customer first
// through r.Send and answers 200 with what was sent, 400 for a number or
// body that cannot be sent, 409 when the customer opted out, 413, 415, and
// 503 when the text could not be sent for now (retry with the same
// idempotency_key).
func sendMessages(r *relay.Relay, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if mt, _, err := mime.ParseMediaType(req.Header.Get("Content-Type")); err != nil || mt != "application/json" {
			writeJSONError(w, http.StatusUnsupportedMediaType, "Content-Type must be application/json")
			return
		}
		var in messageRequest
		dec := json.NewDecoder(http.MaxBytesReader(w, req.Body, maxMessageRequest))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&in); err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				writeJSONError(w, http.StatusRequestEntityTooLarge, "body larger than 64 KiB")
				return
			}
			writeJSONError(w, http.StatusBadRequest, "body is not a JSON message: "+err.Error())
			return
		}
		if _, err := dec.Token(); err != io.EOF {
			writeJSONError(w, http.StatusBadRequest, "body holds more than one JSON object")
			return
		}
		if strings.TrimSpace(in.To) == "" {
			writeJSONError(w, http.StatusBadRequest, `"to" is required`)
			return
		}
		sent, err := r.Send(req.Context(), relay.Text{To: in.To, From: in.From, Body: in.Body, IdempotencyKey: in.IdempotencyKey})
		switch {
		case sent != nil:
			if err != nil {
				// Sent; only its record failed, and the log says so.
				log.Error("smsrelay: text sent, recording it failed", "sid", sent.SID, "err", err)
			}
			writeJSON(w, http.StatusOK, messageResponse{SID: sent.SID, Segments: sent.Segments, Encoding: string(sent.Encoding), Repeated: sent.Repeated})
		case errors.Is(err, relay.ErrOptedOut):
			writeJSONError(w, http.StatusConflict, err.Error())
		case errors.Is(err, relay.ErrInvalidText), errors.Is(err, relay.ErrOverSegmentCap), errors.Is(err, relay.ErrRefused):
			writeJSONError(w, http.StatusBadRequest, err.Error())
		default:
			log.Warn("smsrelay: text not sent for now", "err", err)
			w.Header().Set("Retry-After", "5")
			writeJSONError(w, http.StatusServiceUnavailable, "not sent for now; retry with the same idempotency_key")
		}
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeJSONError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
