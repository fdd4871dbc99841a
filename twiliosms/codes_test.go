package twiliosms_test

import (
	"encoding/json"
	"fmt"
	"os"
	"testing"

	"github.com/smsrelay/smsrelay/internal/specfiles"
	"github.com/smsrelay/smsrelay/twiliosms"
	"github.com/twilio/twilio-go/client"
)

// namedCodes are the exported code constants and the words of their title
// in Twilio's error dictionary.
var namedCodes = []struct {
	code  int
	title string // "" when the spec snapshot has no title
}{
	{twiliosms.CodeTooManyRequests, "Too Many Requests"},
	{twiliosms.CodeInvalidTo, "Invalid 'To' Phone Number"},
	{twiliosms.CodeRegionNotEnabled, "Permission to send an SMS has not been enabled for the region indicated by the 'To' number"},
	{twiliosms.CodeOptedOut, "Attempt to send to unsubscribed recipient"},
	{twiliosms.CodeQueueFull, "This 'From' number has exceeded the maximum number of queued messages"},
	{twiliosms.CodeToUnreachable, "The 'To' phone number is not currently reachable via SMS"},
	{twiliosms.CodeNotMobile, "'To' number is not a valid mobile number"},
	{twiliosms.CodeBodyTooLong, "The concatenated message body exceeds the 1600 character limit"},
	{twiliosms.CodeLandline, ""},
	{twiliosms.CodeUnknownHandset, "Unknown destination handset"},
	{twiliosms.CodeLandlineOrUnreachableCarrier, "Landline or unreachable carrier"},
	{twiliosms.CodeFiltered, "Message filtered"},
}

// TestCodesMatchSpec checks the code constants against the error list in
// shared/specs/twilio/error-codes-subset.json. CodeOutsideWindow (63016) is
// not in that list.
func TestCodesMatchSpec(t *testing.T) {
	raw, err := os.ReadFile(specfiles.Path(t, "twilio", "error-codes-subset.json"))
	if err != nil {
		t.Skipf("error codes unavailable: %v", err)
	}
	var file struct {
		Codes []struct {
			Code  int     `json:"code"`
			Title *string `json:"title"`
		} `json:"codes"`
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	titles := map[int]*string{}
	for _, c := range file.Codes {
		titles[c.Code] = c.Title
	}
	for _, nc := range namedCodes {
		title, ok := titles[nc.code]
		if !ok {
			t.Errorf("code %d is not in the spec's error list", nc.code)
			continue
		}
		got := ""
		if title != nil {
			got = *title
		}
		if got != nc.title {
			t.Errorf("code %d: spec title %q, want %q", nc.code, got, nc.title)
		}
	}
}

func TestCodesDescribed(t *testing.T) {
	for _, nc := range append(namedCodes, struct {
		code  int
		title string
	}{twiliosms.CodeOutsideWindow, ""}) {
		if twiliosms.Describe(nc.code) == "" {
			t.Errorf("Describe(%d) is empty", nc.code)
		}
	}
}

func TestRecipientUnreachable(t *testing.T) {
	want := map[int]bool{
		21610: true, 21211: true, 21614: true, 21635: true, 30005: true, 30006: true,
		21612: true, 21408: true, 63016: true,
		0: false, 20429: false, 21611: false, 21617: false, 30003: false, 30007: false, 30008: false, 20003: false, 21606: false,
	}
	for code, w := range want {
		if got := twiliosms.RecipientUnreachable(code); got != w {
			t.Errorf("RecipientUnreachable(%d) = %v, want %v", code, got, w)
		}
	}
}

func TestIsOptedOut(t *testing.T) {
	rest := func(code int) error {
		return fmt.Errorf("twiliosms: send: %w", &client.TwilioRestError{Code: code, Status: 400})
	}
	if !twiliosms.IsOptedOut(rest(twiliosms.CodeOptedOut)) {
		t.Error("IsOptedOut(21610) = false")
	}
	for _, err := range []error{nil, rest(21211), rest(0), fmt.Errorf("21610"), &twiliosms.HTTPError{StatusCode: 400, Body: "21610"}} {
		if twiliosms.IsOptedOut(err) {
			t.Errorf("IsOptedOut(%v) = true", err)
		}
	}
}
