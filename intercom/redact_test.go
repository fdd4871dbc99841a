package intercom

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Intercom's error messages may echo what the request carried, such as a
// phone number: Error() masks numbers, ErrorItem.Message keeps them.
func TestErrorMasksNumbers(t *testing.T) {
	tests := []struct {
		msg    string
		leak   []string // must not appear in Error()
		keep   []string // must appear in Error()
		masked int      // how many numbers are masked
	}{
		{"Phone number +15551234567 is invalid", []string{"15551234567", "1234567"}, []string{"Phone number", "is invalid"}, 1},
		{"phone 15551234567 is taken", []string{"15551234567"}, nil, 1},
		{"+1 (555) 123-4567 and 0044 7700 900123 are not valid", []string{"555", "4567", "7700", "900123"}, []string{"are not valid"}, 2},
		{"number:447700900123.", []string{"447700900123"}, []string{"number:", "."}, 1},
		{"Exceeded rate limit of 83 in 10_seconds", nil, []string{"Exceeded rate limit of 83 in 10_seconds"}, 0},
		{"A contact matching those details already exists with id=6762f0dd1234567b2193bb83", nil, []string{"id=6762f0dd1234567b2193bb83"}, 0},
		{"code 12345 is short", nil, []string{"12345"}, 0},
		// Punctuation outside ASCII, or a URL-encoded '+', does not hide
		// a number.
		{"The phone number “+15551234567” is invalid", []string{"15551234567"}, []string{"The phone number “", "” is invalid"}, 1},
		{"numéro «15551234567» déjà pris", []string{"15551234567"}, []string{"numéro «", "» déjà pris"}, 1},
		{"电话号码15551234567。", []string{"15551234567"}, []string{"电话号码", "。"}, 1},
		{"GET /contacts?phone=%2B15551234567", []string{"15551234567"}, []string{"phone="}, 1},
	}
	for _, tt := range tests {
		e := &Error{StatusCode: 400, RequestID: "0f1e2d3c-aaaa-4bbb-8ccc-dddd11112222",
			Errors: []ErrorItem{{Code: "parameter_invalid", Message: tt.msg, Field: "phone"}}}
		got := e.Error()
		for _, l := range tt.leak {
			if strings.Contains(got, l) {
				t.Errorf("Error() = %q leaks %q", got, l)
			}
		}
		for _, k := range append(tt.keep, "parameter_invalid", "field phone", e.RequestID) {
			if !strings.Contains(got, k) {
				t.Errorf("Error() = %q lacks %q", got, k)
			}
		}
		if n := strings.Count(got, maskedNumber); n != tt.masked {
			t.Errorf("Error() = %q masks %d numbers, want %d", got, n, tt.masked)
		}
		if e.Errors[0].Message != tt.msg {
			t.Errorf("the raw message changed: %q", e.Errors[0].Message)
		}
	}
}

// Through the client: a 422 that echoes the phone number of a contact
// being created.
func TestClientErrorDoesNotCarryPhone(t *testing.T) {
	srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeRaw(w, 422, errorBody("data_invalid", "The phone number +15551234567 is not a valid number"))
	})
	c := newTestClient(t, srv)
	_, err := c.CreateContact(context.Background(), ContactCreate{Phone: "+15551234567"})
	if err == nil {
		t.Fatal("no error")
	}
	if strings.Contains(err.Error(), "5551234567") {
		t.Errorf("error %q carries the phone number", err)
	}
	var apiErr *Error
	if !asError(err, &apiErr) || !strings.Contains(apiErr.Errors[0].Message, "+15551234567") {
		t.Errorf("the raw message is gone: %+v", apiErr)
	}
}

// Decoding errors quote numbers from the answer: they are masked too, and
// the wire decoders never quote the values they reject.
func TestDecodeErrorsDoNotQuoteValues(t *testing.T) {
	const huge = "15551234567890123456789" // too large for an int: encoding/json quotes it
	srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeRaw(w, 200, `{"type":"conversation.list","conversations":[],"total_count":`+huge+`}`)
	})
	c := newTestClient(t, srv)
	_, err := c.SearchConversationsByContact(context.Background(), "c1", time.Unix(1e9, 0))
	if err == nil || strings.Contains(err.Error(), "5551234567") {
		t.Errorf("err = %v", err)
	}
	for _, raw := range []string{`{"secret body":"+15551234567"}`, `["+15551234567"]`, `true`} {
		var f flexString
		if err := json.Unmarshal([]byte(raw), &f); err == nil || strings.Contains(err.Error(), "5551234567") {
			t.Errorf("flexString(%s): err = %v", raw, err)
		}
	}
	for _, raw := range []string{`{"secret body":"+15551234567"}`, `"call +15551234567"`, `["+15551234567"]`, `1e400`} {
		var u unixTime
		if err := json.Unmarshal([]byte(raw), &u); err == nil || strings.Contains(err.Error(), "5551234567") || strings.Contains(err.Error(), "1e400") {
			t.Errorf("unixTime(%s): err = %v", raw, err)
		}
	}
	for _, body := range []string{
		`{"type":"notification_event","topic":"ping","delivery_attempts":` + huge + `}`,
		`{"topic":"conversation.user.created","data":{"item":{"type":"conversation","id":"1","admin_assignee_id":{"phone":"+15551234567"}}}}`,
	} {
		if _, err := ParseNotification([]byte(body)); err == nil || strings.Contains(err.Error(), "5551234567") {
			t.Errorf("ParseNotification: err = %v", err)
		}
	}
}

func asError(err error, target **Error) bool { return errors.As(err, target) }
